"""One check of a file's config before anything is built from it: the type of every field the
loaders read, the fields they need, and their ranges, for minirnn's configs (``config.json``,
the weights manifest) and Keras's (``config.json`` of a ``.keras`` file, ``model_config`` and
``training_config`` of a legacy ``.h5``).  A config that passes may still describe a model
minirnn cannot make (an unknown class, a wrong weight shape); those errors come later, from the
loaders, but never as a TypeError or KeyError from a field of the wrong kind.

    check_minirnn(config, path)            config.json of a .minirnn file
    check_manifest(manifest, path, where)  the manifest of a .weights.npz file
    check_keras(config, path, where)       a Keras model config (and its compile config)
    check_keras_training(config, path, where)  a legacy .h5 file's training_config

Shapes hold sizes >= 1 or null (a weight's shape in a manifest may hold 0); a graph's calls name
layers the config has, with a node index that layer has; ``inbound_states`` (minirnn) gives one
count per call, each smaller than the call's number of inputs.  Nested layer entries
(Bidirectional, TimeDistributed, a Sequential inside a model) are walked with a stack, not by
recursion.  Every problem is a :class:`ModelFileError` naming the file, the member or attribute,
the field and the layer.
"""
from ..serialization import ModelFileError, short_repr

MAX_RANK = 8
KERAS_DTYPE_POLICIES = ("DTypePolicy", "FloatDTypePolicy")


class _Checker:
    def __init__(self, path, where):
        self.path, self.where = path, where

    def fail(self, at, problem, layer=None):
        field = f"{self.where} field {at!r}" if at else self.where
        if layer is not None:
            field += f" (layer {short_repr(layer, 80)})"
        raise ModelFileError(self.path, field, problem)

    # -- kinds of values ------------------------------------------------------------------
    def kind(self, value, types, at, what, layer=None, optional=True):
        if value is None and optional:
            return value
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in _tuple(types)):
            self.fail(at, f"expected {what}, received {short_repr(value)}", layer)
        return value

    def integer(self, value, at, low, layer=None, optional=True):
        if value is None and optional:
            return value
        if type(value) is not int or value < low:
            self.fail(at, f"expected an integer >= {low}, received {short_repr(value)}", layer)
        return value

    def shape(self, value, at, layer=None, smallest=1, several=False):
        """A shape: a list of up to MAX_RANK sizes >= `smallest` or null (or, `several`, a
        list of such shapes, for a layer of several inputs)."""
        if value is None:
            return
        if several and isinstance(value, list) and value and all(isinstance(s, list) for s in value):
            for k, s in enumerate(value):
                self.shape(s, f"{at}[{k}]", layer, smallest)
            return
        if not isinstance(value, list) or len(value) > MAX_RANK or not all(
                d is None or (type(d) is int and d >= smallest) for d in value):
            self.fail(at, f"expected a shape (a list of up to {MAX_RANK} sizes >= {smallest} or null), "
                          f"received {short_repr(value)}", layer)

    def ref(self, value, at, layer=None):
        """``[layer name, node index, tensor index]`` (Keras 2 adds a dict of call arguments)."""
        if not (isinstance(value, list) and len(value) in (3, 4) and isinstance(value[0], str)
                and type(value[1]) is int and value[1] >= 0 and type(value[2]) is int and value[2] >= 0
                and (len(value) == 3 or isinstance(value[3], dict))):
            self.fail(at, f"expected [layer name, node index >= 0, tensor index >= 0], received "
                          f"{short_repr(value)}", layer)
        return value

    def object_entry(self, value, at, layer=None, optional=True):
        """``{"class_name": str, "config": dict or null, ...}`` or a name (str)."""
        if value is None and optional or isinstance(value, str):
            return
        self.kind(value, dict, at, "a name or {'class_name', 'config'}", layer, optional=False)
        self.kind(value.get("class_name"), str, f"{at}.class_name", "a class name", layer, optional=False)
        self.kind(value.get("config"), dict, f"{at}.config", "an object", layer)
        self.kind(value.get("registered_name"), str, f"{at}.registered_name", "a registered name", layer)
        self.kind(value.get("module"), str, f"{at}.module", "a module name", layer)

    # -- layer entries --------------------------------------------------------------------
    def layers(self, entries, at, keras):
        """Check a list of layer entries and every entry nested in them (explicit stack)."""
        self.kind(entries, list, at, "a list of layer entries", optional=False)
        stack = [(entry, f"{at}[{k}]") for k, entry in enumerate(entries)]
        while stack:
            entry, here = stack.pop()
            stack.extend(self.layer(entry, here, keras))

    def layer(self, entry, at, keras):
        """Check one layer entry; the entries nested in it, to be checked next."""
        self.kind(entry, dict, at, "a layer entry {'class_name', 'config', ...}", optional=False)
        config = self.kind(entry.get("config"), dict, f"{at}.config", "an object")
        name = (config or {}).get("name", entry.get("name"))
        name = name if isinstance(name, str) else None
        self.kind(entry.get("class_name"), str, f"{at}.class_name", "a class name", name, optional=False)
        for key in ("registered_name", "module", "name"):
            self.kind(entry.get(key), str, f"{at}.{key}", "a string", name)
        build = self.kind(entry.get("build_config"), dict, f"{at}.build_config", "an object", name)
        if build is not None:
            self.shape(build.get("input_shape"), f"{at}.build_config.input_shape", name, several=True)
        nested = []
        if config is not None:
            nested = self.layer_config(config, f"{at}.config", name, keras)
        return nested

    def layer_config(self, config, at, name, keras):
        self.kind(config.get("name"), str, f"{at}.name", "a string", name)
        self.kind(config.get("trainable"), bool, f"{at}.trainable", "true or false", name)
        dtype = config.get("dtype")
        if keras and isinstance(dtype, dict):
            self.dtype_policy(dtype, f"{at}.dtype", name)
        else:
            self.kind(dtype, str, f"{at}.dtype", "a dtype name", name)
        for key in ("batch_shape", "batch_input_shape", "input_shape"):
            self.shape(config.get(key), f"{at}.{key}", name)
        if not keras:
            self.shape(config.get("shape"), f"{at}.shape", name)
        self.integer(config.get("batch_size"), f"{at}.batch_size", 1, name)
        # a lookup's terms; never a path: a vocabulary file is read only from the model file's assets
        self.kind(config.get("vocabulary"), list, f"{at}.vocabulary", "a list of terms or null", name)
        for key, value in config.items():
            if key.endswith("_initializer") or key in ("activation", "recurrent_activation"):
                self.object_entry(value, f"{at}.{key}", name)
        nested = [(config[key], f"{at}.{key}") for key in ("layer", "backward_layer") if config.get(key) is not None]
        if isinstance(config.get("layers"), list):           # a Sequential (or model) inside
            nested += [(entry, f"{at}.layers[{k}]") for k, entry in enumerate(config["layers"])]
        return nested

    def dtype_policy(self, value, at, name):
        """Keras's ``{"module": "keras", "class_name": "DTypePolicy", "config": {"name": ...}}``:
        only the name is used, and only these classes may be named."""
        module = value.get("module")
        if value.get("class_name") not in KERAS_DTYPE_POLICIES or not (
                module is None or isinstance(module, str) and module.split(".")[0] == "keras"):
            self.fail(at, f"a dtype policy must be one of Keras's {list(KERAS_DTYPE_POLICIES)}, received "
                          f"class {short_repr(value.get('class_name'), 60)} of module {short_repr(module, 60)}", name)
        config = self.kind(value.get("config"), dict, f"{at}.config", "an object", name, optional=False)
        self.kind(config.get("name"), str, f"{at}.config.name", "a dtype name", name, optional=False)

    # -- graphs ---------------------------------------------------------------------------
    def graph(self, body, at, keras):
        """A functional model's ``layers`` (with their calls), ``input_layers`` and ``output_layers``."""
        entries = body.get("layers")
        calls = {}
        for k, entry in enumerate(entries):
            here = f"{at}.layers[{k}]"
            layer_name = entry.get("name", (entry.get("config") or {}).get("name"))
            if not isinstance(layer_name, str):
                self.fail(f"{here}.name", f"a layer of a functional model needs a name, received "
                                          f"{short_repr(layer_name)}")
            if layer_name in calls:
                self.fail(f"{here}.name", f"the name {short_repr(layer_name, 80)} is used by two layers")
            nodes = self.kind(entry.get("inbound_nodes"), list, f"{here}.inbound_nodes", "a list of calls",
                              layer_name)
            calls[layer_name] = len(nodes or [])
        for k, entry in enumerate(entries):
            here = f"{at}.layers[{k}]"
            layer_name = entry.get("name", (entry.get("config") or {}).get("name"))
            inputs = [self.call(node, f"{here}.inbound_nodes[{j}]", layer_name, keras, calls)
                      for j, node in enumerate(entry.get("inbound_nodes") or [])]
            states = entry.get("inbound_states")
            if states is not None:
                if not (isinstance(states, list) and len(states) == len(inputs)
                        and all(type(n) is int and 0 <= n < count for n, count in zip(states, inputs))):
                    self.fail(f"{here}.inbound_states", f"expected one count of initial states per call, each "
                                                        f"smaller than that call's {inputs} inputs, received "
                                                        f"{short_repr(states)}", layer_name)
        for key in ("input_layers", "output_layers"):
            refs = body.get(key)
            if isinstance(refs, list) and refs and not isinstance(refs[0], list):
                refs = [refs]                                     # one reference (Keras)
            self.kind(refs, list, f"{at}.{key}", "a list of [layer name, node index, tensor index]",
                      optional=False)
            for j, ref in enumerate(refs):
                self.named(self.ref(ref, f"{at}.{key}[{j}]"), f"{at}.{key}[{j}]", None, calls)

    def call(self, node, at, layer_name, keras, calls):
        """One call of a layer: the number of tensors it takes, each reference checked."""
        if isinstance(node, dict):                                 # Keras 3 {"args", "kwargs"}
            self.kind(node.get("args"), list, f"{at}.args", "a list", layer_name)
            self.kind(node.get("kwargs"), dict, f"{at}.kwargs", "an object", layer_name)
            refs, stack = [], [(node.get("args") or [], f"{at}.args")]
            while stack:
                value, here = stack.pop()
                if isinstance(value, list):
                    stack.extend((v, f"{here}[{k}]") for k, v in reversed(list(enumerate(value))))
                elif isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
                    config = self.kind(value.get("config"), dict, f"{here}.config", "an object", layer_name,
                                       optional=False)
                    refs.append((self.ref(config.get("keras_history"), f"{here}.config.keras_history",
                                          layer_name), f"{here}.config.keras_history"))
            if not keras:
                self.fail(at, "expected a list of [layer name, node index, tensor index]", layer_name)
        else:
            self.kind(node, list, at, "a call: a list of [layer name, node index, tensor index]", layer_name,
                      optional=False)
            refs = [(self.ref(ref, f"{at}[{k}]", layer_name), f"{at}[{k}]") for k, ref in enumerate(node)]
        if not refs:
            self.fail(at, "a call of a layer on no tensor", layer_name)
        for ref, here in refs:
            self.named(ref, here, layer_name, calls)
        return len(refs)

    def named(self, ref, at, layer_name, calls):
        """`ref` names a layer of the graph and one of its calls (an Input's one output: node 0)."""
        if ref[0] not in calls:
            self.fail(at, f"names the layer {short_repr(ref[0], 80)}, which the model does not have", layer_name)
        count = calls[ref[0]]
        if ref[1] >= max(count, 1):                 # an Input has no call and one output, node 0
            self.fail(at, f"names call {ref[1]} of layer {short_repr(ref[0], 80)}, which has {count}", layer_name)

    # -- compile settings -----------------------------------------------------------------
    def compile_config(self, config, at):
        """Optimizer, loss(es), metrics (a list, or one list per output) and loss weights."""
        if config is None:
            return
        self.kind(config, dict, at, "an object", optional=False)

        def field(key):
            return f"{at}.{key}" if at else key
        for key in ("optimizer", "optimizer_config"):
            self.object_entry(config.get(key), field(key))
        loss = config.get("loss")
        for k, entry in enumerate(loss if isinstance(loss, list) else [loss]):
            self.object_entry(entry, field("loss") + (f"[{k}]" if isinstance(loss, list) else ""))
        for key in ("metrics", "weighted_metrics"):
            metrics = self.kind(config.get(key), list, field(key), "a list")
            for k, entry in enumerate(metrics or []):
                for j, metric in enumerate(entry if isinstance(entry, list) else [entry]):
                    here = f"{field(key)}[{k}]" + (f"[{j}]" if isinstance(entry, list) else "")
                    if not (metric is None or isinstance(metric, str)):
                        self.kind(metric, dict, here, "a metric name or object", optional=False)
        weights = config.get("loss_weights")
        if weights is not None and not (isinstance(weights, list) and all(
                isinstance(w, (int, float)) and not isinstance(w, bool) for w in weights)):
            self.fail(field("loss_weights"), f"expected a list of numbers, received {short_repr(weights)}")


def _tuple(types):
    return types if isinstance(types, tuple) else (types,)


def check_minirnn(config, path, where="member 'config.json'"):
    """The config.json of a ``.minirnn`` file (its format fields already checked)."""
    c = _Checker(path, where)
    model = c.kind(config.get("model"), dict, "model", "{'class_name', 'config'}", optional=False)
    c.kind(model.get("class_name"), str, "model.class_name", "a class name", optional=False)
    body = c.kind(model.get("config"), dict, "model.config", "an object", optional=False)
    c.kind(body.get("name"), str, "model.config.name", "a string")
    c.kind(body.get("trainable"), bool, "model.config.trainable", "true or false")
    c.layers(body.get("layers", []), "model.config.layers", keras=False)
    if "input_layers" in body or "output_layers" in body:
        c.graph(body, "model.config", keras=False)
        for key in ("input_keys", "output_keys"):
            keys = c.kind(body.get(key), list, f"model.config.{key}", "a list of strings")
            if keys is not None and not all(isinstance(k, str) for k in keys):
                c.fail(f"model.config.{key}", f"expected a list of strings, received {short_repr(keys)}")
    c.compile_config(config.get("compile_config"), "compile_config")


def check_manifest(manifest, path, where="manifest"):
    """The manifest of a ``.weights.npz`` file (its format fields already checked)."""
    c = _Checker(path, where)
    c.shape(manifest.get("input_shape"), "input_shape", smallest=0, several=True)
    layers = c.kind(manifest.get("layers"), list, "layers", "a list of layer entries", optional=False)
    for k, entry in enumerate(layers):
        at = f"layers[{k}]"
        c.kind(entry, dict, at, "{'name', 'class_name', 'input_shape', 'shapes', 'dtypes'}", optional=False)
        c.kind(entry.get("name"), str, f"{at}.name", "a string")
        c.kind(entry.get("class_name"), str, f"{at}.class_name", "a class name", optional=False)
        c.shape(entry.get("input_shape"), f"{at}.input_shape", smallest=0, several=True)
        shapes = c.kind(entry.get("shapes", []), list, f"{at}.shapes", "a list of shapes", optional=False)
        for j, shape in enumerate(shapes):
            c.kind(shape, list, f"{at}.shapes[{j}]", "a shape", optional=False)
            c.shape(shape, f"{at}.shapes[{j}]", smallest=0)
        dtypes = c.kind(entry.get("dtypes"), list, f"{at}.dtypes", "a list of dtype names")
        if dtypes is not None and not all(isinstance(d, str) for d in dtypes):
            c.fail(f"{at}.dtypes", f"expected a list of dtype names, received {short_repr(dtypes)}")
    optimizer = c.kind(manifest.get("optimizer"), dict, "optimizer", "{'class_name', 'iterations', 'slots'}")
    if optimizer is not None:
        c.kind(optimizer.get("class_name"), str, "optimizer.class_name", "a class name", optional=False)
        c.integer(optimizer.get("iterations", 0), "optimizer.iterations", 0, optional=False)
        slots = c.kind(optimizer.get("slots", {}), dict, "optimizer.slots", "an object", optional=False)
        for key, names in slots.items():
            if not (isinstance(names, list) and all(isinstance(n, str) for n in names)):
                c.fail(f"optimizer.slots.{key}", f"expected a list of slot names, received {short_repr(names)}")


def check_keras(config, path, where="member 'config.json'"):
    """A Keras model config (Sequential or functional, Keras 3 or 2) with its compile config."""
    c = _Checker(path, where)
    c.kind(config, dict, None, "a model config {'class_name', 'config'}", optional=False)
    c.kind(config.get("class_name"), str, "class_name", "a class name", optional=False)
    body = c.kind(config.get("config"), dict, "config", "an object", optional=False)
    c.kind(body.get("name"), str, "config.name", "a string")
    build = c.kind(config.get("build_config"), dict, "build_config", "an object")
    if build is not None:
        c.shape(build.get("input_shape"), "build_config.input_shape", several=True)
    c.shape(body.get("build_input_shape"), "config.build_input_shape", several=True)
    c.layers(body.get("layers", []), "config.layers", keras=True)
    if config["class_name"] in ("Functional", "Model"):
        c.graph(body, "config", keras=True)
    c.compile_config(config.get("compile_config"), "compile_config")


def check_keras_training(config, path, where="attribute 'training_config'"):
    """A legacy ``.h5`` file's training config (Keras 2's compile settings)."""
    c = _Checker(path, where)
    c.kind(config, dict, None, "an object", optional=False)
    c.compile_config(config, None)
