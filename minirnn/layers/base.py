"""The Layer base class: naming, building, weights, gradients, input checks.

Every layer is callable on NumPy arrays like a Keras layer.  Called with
``training=True`` it keeps what its backward pass needs; ``layer.backward(dy)``
then returns dL/dx and leaves dL/dweights in ``layer.grads``, aligned with
``layer.weights`` and ``layer.get_weights()``.
"""
import functools
import inspect
import re
import threading
from collections import defaultdict

import numpy as np

from .. import activations, backend, budget, constraints, initializers, parallel, registry, regularizers
from ..symbolic import call_symbolic, with_mask
from . import tracing
from ..utils import format_shape  # noqa: F401  (layers import it from here)

_name_counts = defaultdict(int)
_checks = threading.local()      # .trusted: inputs come from a model that checked its own inputs
_penalized = [False]             # a weight penalty or constraint was ever given (Layer.penalties_anywhere)


class trusted_inputs:
    """Within the block, layers skip the NaN/inf check of their inputs: a model checks its inputs
    once at its boundary, and a NaN the model computes itself must reach the loss (where
    TerminateOnNaN or fit's own check names the epoch and batch), not look like bad input.
    (A class, not a generator: it runs on every batch.)"""

    __slots__ = ("previous",)

    def __enter__(self):
        self.previous = getattr(_checks, "trusted", False)
        _checks.trusted = True

    def __exit__(self, *exc):
        _checks.trusted = self.previous


def _is_symbolic(x):
    """True for a symbolic tensor (functional API) or a list/tuple/dict holding one."""
    if isinstance(x, (list, tuple)):
        return any(getattr(t, "is_symbolic", False) for t in x)
    if isinstance(x, dict):
        return any(getattr(t, "is_symbolic", False) for t in x.values())
    return getattr(x, "is_symbolic", False)


def symbolic_aware(call):
    """Wrap a layer's ``__call__``: on symbolic tensors it records a node of the functional graph
    (see minirnn/symbolic.py) instead of computing; on arrays it is `call` itself."""
    if getattr(call, "symbolic_aware", False):
        return call

    @functools.wraps(call)
    def __call__(self, inputs, *args, **kwargs):
        if type(inputs) is not np.ndarray and _is_symbolic(inputs):
            return call_symbolic(self, inputs, args, kwargs)
        tape = tracing.active_tape()
        if tape is not None and not self.traces_call():
            return tracing.call_hand_written(self, call, inputs, args, kwargs, tape)
        if getattr(_checks, "trusted", False):           # inside a model: masks travel beside the values
            return call(self, inputs, *args, **kwargs)
        mask = kwargs.get("mask")
        if mask is None and getattr(inputs, "_keras_mask", None) is not None and _takes_mask(type(self)):
            kwargs["mask"] = mask = inputs._keras_mask            # Keras's eager masks ride on the values
        y = call(self, inputs, *args, **kwargs)
        if self.__dict__.get("activity_regularizer") is not None and isinstance(y, np.ndarray):
            self._activity_loss = self.activity_regularizer(y) / max(len(y), 1)
        if isinstance(y, np.ndarray) and (mask is not None or type(self).compute_mask is not Layer.compute_mask):
            out_mask = self.compute_mask(inputs, mask)
            if isinstance(out_mask, np.ndarray):
                y = with_mask(y, out_mask)
        return y
    __call__.symbolic_aware = True
    return __call__


@functools.lru_cache(maxsize=None)
def _takes_mask(layer_class):
    return "mask" in inspect.signature(layer_class.__call__).parameters


@functools.lru_cache(maxsize=None)
def call_arguments(layer_class):
    """(takes training, takes mask) of ``layer_class.call``, as Keras reads them."""
    params = inspect.signature(layer_class.call).parameters
    return "training" in params, "mask" in params


def register_layer_class(cls):
    """Put `cls` in :mod:`minirnn.registry` as ``"minirnn>Name"`` (minirnn's own classes) or
    ``"Custom>Name"`` (done for every Layer subclass by ``Layer.__init_subclass__``)."""
    return registry.register_class(cls)


def get_layer_class(class_name, custom_objects=None):
    """The Layer subclass a file may name as `class_name`: from `custom_objects`, else the
    registered ``"minirnn>class_name"`` or ``"Custom>class_name"`` (or the full registered
    name), else None."""
    return registry.get_registered_class(class_name, "layer", custom_objects)


def registered_layer_classes():
    """{class name: class} of every registered layer class (minirnn's own win a clash of names)."""
    found = {}
    for key in registry.registered_names():
        package, _, name = key.partition(">")
        cls = registry.get_registered_object(key)
        if isinstance(cls, type) and issubclass(cls, Layer) and (package == "minirnn" or name not in found):
            found[name] = cls
    return found


@functools.lru_cache(maxsize=None)
def constructor_arguments(cls):
    """Names of the arguments of ``cls.__init__``, followed through ``**kwargs`` to the parents'
    ``__init__`` (there only arguments with defaults: required ones the subclass passes itself);
    a tuple, computed once per class (a file of 20,000 layers asks 20,000 times)."""
    names, first = [], True
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None or klass is object:
            continue
        forwards = False
        for p in inspect.signature(init).parameters.values():
            if p.kind == p.VAR_KEYWORD:
                forwards = True
            elif p.name != "self" and p.kind != p.VAR_POSITIONAL and p.name not in names:
                if first or p.default is not p.empty:
                    names.append(p.name)
        first = False
        if not forwards:
            break
    return tuple(names)


def config_value(name, value):
    """A constructor argument as get_config returns it: activations by name, initializers
    serialized (``{"class_name", "config"}``), NumPy scalars and dtypes as Python values."""
    if isinstance(value, initializers.Initializer):
        return initializers.serialize(value)
    if name.endswith("activation") and isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return activations.name(int(value))
    if isinstance(value, np.dtype):
        return value.name
    if isinstance(value, np.generic):
        return value.item()
    return value


def init_arguments(obj, sources=None, skip=()):
    """``{argument: value}`` for every constructor argument of ``type(obj)`` not in `skip`, each
    read from the first of `sources` (default: obj) that has an attribute of that name.

    An argument found nowhere raises a ValueError: get_config must return them all."""
    config = {}
    for name in constructor_arguments(type(obj)):
        if name in skip:
            continue
        for source in sources or (obj,):
            if hasattr(source, name):
                config[name] = config_value(name, getattr(source, name))
                break
        else:
            what = f"Layer '{obj.name}'" if isinstance(obj, Layer) else type(obj).__name__
            raise ValueError(f"{what} ({type(obj).__name__}): get_config cannot find the constructor "
                             f"argument {name!r} as an attribute; store it under that name or "
                             f"override get_config")
    return config


def clear_session():
    """Forget the names handed out so far: the next ``LSTM()`` is ``lstm`` again, as after
    ``keras.backend.clear_session()``.  Existing layers and models keep their names."""
    _name_counts.clear()


def unique_name(base):
    """Keras-style names: ``lstm``, ``lstm_1``, ``lstm_2``..."""
    count = _name_counts[base]
    _name_counts[base] += 1
    return base if count == 0 else f"{base}_{count}"


def snake_case(name):
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


class Layer:
    """Base class of all layers.

    Masks (one bool per sample and time step, ``(batch, time)``) travel beside the
    data: a layer whose ``__call__`` takes ``mask=`` consumes it, and
    :meth:`compute_mask` gives the mask of the layer's output.
    """

    supports_masking = False      # True: an incoming mask passes through unchanged

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        register_layer_class(cls)
        if "__call__" in cls.__dict__:
            cls.__call__ = symbolic_aware(cls.__dict__["__call__"])

    #: The rank (batch axis included) of the inputs the layer takes, when it takes one rank only:
    #: a call on symbolic tensors is checked against it, as a call on arrays is.
    input_ndim = None

    def __new__(cls, *args, **kwargs):
        # Keras 3 records the constructor's arguments: the config of a layer that does not write
        # get_config (kept only when they are plain data).
        self = super().__new__(cls)
        if not cls.__module__.startswith("minirnn."):
            try:
                bound = inspect.signature(cls.__init__).bind(None, *args, **kwargs).arguments
            except TypeError:
                bound = None
            if bound is not None:
                bound = {k: v for k, v in list(bound.items())[1:]}
                extra = bound.pop(next((p.name for p in inspect.signature(cls.__init__).parameters.values()
                                        if p.kind == p.VAR_KEYWORD), ""), {})
                bound.update(extra)
                plain = all(isinstance(v, (int, float, str, bool, type(None), list, tuple, dict))
                            for v in bound.values())
            self._auto_config = bound if bound is not None and plain else None
        return self

    def __init__(self, name=None, dtype=None, input_shape=None, trainable=True, **kwargs):
        activity_regularizer = kwargs.pop("activity_regularizer", None)
        # Keras's weight penalties and constraints, by weight: kernel_regularizer -> "kernel"...
        self._regularizers, self._constraints = {}, {}
        for key in [k for k in kwargs if k.endswith(("_regularizer", "_constraint"))]:
            weight, _, kind = key.rpartition("_")
            value = kwargs.pop(key)
            try:
                value = regularizers.get(value) if kind == "regularizer" else constraints.get(value)
            except ValueError as e:
                raise ValueError(f"{type(self).__name__} argument {key}: {e}") from None
            if value is not None:
                (self._regularizers if kind == "regularizer" else self._constraints)[weight] = value
                _penalized[0] = True
        for key in ("implementation", "use_cudnn"):     # Keras's GPU switches: nothing to switch on a CPU
            kwargs.pop(key, None)
        unknown = set(kwargs) - {"autocast", "input_dim", "batch_size", "batch_input_shape", "weights"}
        if unknown:
            raise TypeError(f"{type(self).__name__}.__init__ received unexpected keyword argument(s) "
                            f"{sorted(unknown)}")
        if input_shape is None and kwargs.get("input_dim") is not None:
            input_shape = (kwargs["input_dim"],)
        if input_shape is None and kwargs.get("batch_input_shape") is not None:
            input_shape = tuple(kwargs["batch_input_shape"])[1:]
        self._own_weights = []        # (array, trainable) from add_weight, in creation order
        self.activity_regularizer = regularizers.get(activity_regularizer)
        self.name = name or unique_name(snake_case(type(self).__name__))
        if isinstance(dtype, dict):                   # Keras 3's DTypePolicy config, as files hold it
            dtype = (dtype.get("config") or {}).get("name")
        self.dtype = np.dtype(dtype or backend.floatx()).name
        self.trainable = trainable
        self.built = False
        self.input_shape_hint = None if input_shape is None else (None,) + tuple(input_shape)
        self.grads = None
        self._cache = None
        self._inbound_nodes = []      # the calls on symbolic tensors (functional graph nodes)
        budget.charge(budget.LAYER_BYTES, f"Layer '{self.name}' ({type(self).__name__})")   # while loading

    # -- symbolic attributes (the tensors of the layer's first call in a graph) ----------------
    def _first_node(self, what):
        if not self._inbound_nodes:
            raise AttributeError(f"Layer '{self.name}' ({type(self).__name__}) has never been called on "
                                 f"symbolic tensors and thus has no defined {what}")
        return self._inbound_nodes[0]

    @property
    def input(self):
        """The symbolic input of the layer's first call (a list for several)."""
        node = self._first_node("input")
        inputs = node.inputs[:len(node.inputs) - node.n_states - node.n_masks]
        return inputs[0] if node.single else list(inputs)

    @property
    def output(self):
        """The symbolic output(s) of the layer's first call."""
        if "_output" in self.__dict__:
            return self.__dict__["_output"]
        return self._first_node("output").output_structure()

    @output.setter
    def output(self, value):
        self.__dict__["_output"] = value

    # -- building and shapes -------------------------------------------------
    def build(self, input_shape):
        """Create the weights for inputs of `input_shape` (batch axis first)."""
        self.built = True

    def compute_output_shape(self, input_shape):
        if not self.traces_call():
            return tuple(input_shape)
        # Keras runs call symbolically; here two probes with different sizes for the unknown
        # axes tell which output axes follow them.
        probes = []
        for n in (2, 3):
            x = _probe(input_shape, n, self.__dict__.get("_input_dtype") or self.dtype)
            probes.append(self.call(x, **({"training": False} if call_arguments(type(self))[0] else {})))

        def shape_of(a, b):
            if isinstance(a, (list, tuple)):
                return [shape_of(p, q) for p, q in zip(a, b)]
            return tuple(p if p == q else None for p, q in zip(np.shape(a), np.shape(b)))
        return shape_of(*probes)

    def compute_mask(self, inputs, mask=None):
        """The mask of this layer's output, given its input and input mask."""
        return mask if self.supports_masking else None

    def ensure_built(self, input_shape):
        if not self.built:
            # A merge layer's input_shape is a list of shapes: tuples all the way down.
            shape = tuple(tuple(s) if isinstance(s, (list, tuple)) else s for s in input_shape)
            try:
                self.build(shape)
            except budget.OverBudget as e:         # a load's budget: say whose weight it was
                if str(e).startswith("Layer '"):
                    raise
                raise budget.OverBudget(f"Layer '{self.name}' ({type(self).__name__}): {e}") from None
            except MemoryError:
                raise MemoryError(f"Layer '{self.name}' ({type(self).__name__}): not enough memory for its "
                                  f"weights at input shape {shape}; check its size arguments (units, "
                                  f"filters, output_dim...)") from None
            self.built = True
            self.build_input_shape = shape   # recorded for saving (build_config)
        elif getattr(self, "build_input_shape", None) is None and input_shape is not None:
            # built when made (a lookup given its vocabulary): its first call's shape, for saving
            self.build_input_shape = tuple(tuple(s) if isinstance(s, (list, tuple)) else s for s in input_shape)

    # -- weights -------------------------------------------------------------
    def add_weight(self, shape=None, initializer=None, dtype=None, trainable=True, regularizer=None,
                   constraint=None, name=None, **kwargs):
        """A new weight of the layer, as Keras's ``add_weight``: initialized (default
        ``glorot_uniform`` for floats, else zeros), listed in :attr:`weights` (trainable ones
        first), trained unless ``trainable=False``."""
        dtype = np.dtype(dtype or self.dtype)
        shape = () if shape is None else tuple(int(d) for d in shape)
        if initializer is None:
            initializer = "glorot_uniform" if dtype.kind == "f" else "zeros"
        try:
            init = initializers.get(initializer)
        except ValueError as e:
            raise ValueError(f"Layer '{self.name}' add_weight({name!r}): {e}") from None
        w = Variable.of(np.asarray(init(shape, dtype=dtype), dtype), name or f"variable_{len(self._own_weights)}",
                        trainable)
        w.regularizer, w.constraint = regularizer, constraint
        self.__dict__.setdefault("_own_weights", []).append((w, bool(trainable)))
        return w

    def _named_weight(self, name):
        name = "recurrent_kernel" if name == "recurrent" else name
        for source in (self, getattr(self, "cell", None)):
            w = getattr(source, name, None) if source is not None else None
            if isinstance(w, np.ndarray):
                return w
        return None

    @staticmethod
    def penalties_anywhere():
        """False while no layer or weight of this process has been given a weight penalty or a
        constraint (then a training step need not walk every layer looking for them)."""
        return _penalized[0]

    def weight_penalties(self):
        """[(weight, regularizer)] of this layer (its own, not its sublayers')."""
        found = [(w, w.regularizer) for w in self.own_weights() if getattr(w, "regularizer", None) is not None]
        if self.built:
            found += [(w, reg) for w, reg in ((self._named_weight(n), r) for n, r in self._regularizers.items())
                      if w is not None]
        return found

    def weight_constraints(self):
        """[(weight, constraint)] of this layer, applied after each optimizer update."""
        found = [(w, w.constraint) for w in self.own_weights() if getattr(w, "constraint", None) is not None]
        if self.built:
            found += [(w, c) for w, c in ((self._named_weight(n), c) for n, c in self._constraints.items())
                      if w is not None]
        return found

    def own_weights(self):
        """The weights this layer made with add_weight (not its sublayers')."""
        return [w for w, _ in self.__dict__.get("_own_weights", ())]

    def sublayers(self):
        """The layers held in attributes (or lists / dicts of them), as Keras tracks them."""
        found = []
        for value in vars(self).values():
            items = value if isinstance(value, (list, tuple)) else value.values() if isinstance(value, dict) else [value]
            for item in items:
                if isinstance(item, Layer) and item is not self and item not in found:
                    found.append(item)
        return found

    def _hand_weighted(self):
        return type(self).weights is not Layer.weights

    @property
    def weights(self):
        """The weight arrays themselves (updated in place by optimizers): own trainable, own
        non-trainable, then each sublayer's, as in Keras."""
        own = self.__dict__.get("_own_weights", ())
        found = [w for w, t in own if t] + [w for w, t in own if not t]
        for layer in self.sublayers():
            found += [w for w in layer.weights if not any(w is f for f in found)]
        return found

    @property
    def trainable_weights(self):
        if not self.trainable:
            return []
        if self._hand_weighted():
            return self.weights
        found = [w for w, t in self.__dict__.get("_own_weights", ()) if t]
        for layer in self.sublayers():
            found += layer.trainable_weights
        return found

    @property
    def non_trainable_weights(self):
        keep = {id(w) for w in self.trainable_weights}
        return [w for w in self.weights if id(w) not in keep]

    @property
    def losses(self):
        """The regularization losses of this layer and the layers inside it: weight penalties,
        then the activity penalty of its last call."""
        found = []
        for holder in self.cache_holders():
            found += [reg(w) for w, reg in holder.weight_penalties()]
        activity = self.__dict__.get("_activity_loss")
        return found + ([activity] if activity is not None else [])

    @property
    def trainable_variables(self):
        return self.trainable_weights

    @property
    def non_trainable_variables(self):
        return self.non_trainable_weights

    @property
    def variables(self):
        return self.weights

    def get_weights(self):
        return [w.copy() for w in self.weights]

    def set_weights(self, weights):
        """Load `weights` (Keras's order and shapes) in place."""
        own = self.weights
        if not self.built and not own:
            raise ValueError(f"Layer '{self.name}' has no weights yet: build it (call it on data) "
                             f"before set_weights")
        weights = list(weights)
        if len(weights) != len(own):
            raise ValueError(f"Layer '{self.name}' expects {len(own)} weight arrays, received {len(weights)}")
        weights = [np.asarray(new) for new in weights]
        for k, (w, new) in enumerate(zip(own, weights)):      # check all before changing any
            if new.shape != w.shape:
                raise ValueError(f"Layer '{self.name}' weight {k} expects shape {w.shape}, "
                                 f"received {new.shape}")
        for w, new in zip(own, weights):
            w[...] = new

    def count_params(self):
        return int(sum(w.size for w in self.weights))

    # -- calling ---------------------------------------------------------------
    def traces_call(self):
        """True for a layer written Keras's way (no ``backward`` of its own): its gradients come
        from tracing ``call`` (see :mod:`minirnn.layers.tracing`)."""
        return type(self).backward is Layer.backward

    @symbolic_aware
    def __call__(self, inputs, training=False, mask=None, **kwargs):
        takes_training, takes_mask = call_arguments(type(self))
        if takes_mask and mask is not None:
            kwargs["mask"] = tracing.value(mask)
        if not self.traces_call():
            inputs = self.check_input(inputs)
            self.ensure_built(inputs.shape)
            return self.call(inputs, training=training, **kwargs)
        if takes_training:
            kwargs["training"] = training
        tape = tracing.active_tape()
        x = inputs if tape is not None and tracing.has_traced(inputs) else self._call_inputs(inputs)
        if not self.built:
            self.ensure_built(_shapes(tracing.value(x)))
        if tape is not None:
            return tracing.run_call(self, x, kwargs, tape)
        if training:
            y, self._cache = tracing.traced_forward(self, x, kwargs)
            return y
        self._cache = None
        return tracing.value(self.call(x, **kwargs))

    def _call_inputs(self, inputs):
        """Inputs as Keras hands them to ``call``: arrays (floats in the layer's dtype), lists and
        dicts kept."""
        if isinstance(inputs, (list, tuple)):
            return [self._call_inputs(x) for x in inputs]
        if isinstance(inputs, dict):
            return {k: self._call_inputs(x) for k, x in inputs.items()}
        arr = np.asarray(inputs)
        if arr.dtype.kind == "f" and arr.dtype != self.dtype:
            arr = arr.astype(self.dtype)
        return arr

    def call(self, inputs, training=False):
        raise NotImplementedError(f"Layer '{self.name}' ({type(self).__name__}) has no call() method")

    def backward(self, dy):
        """dL/dx from dL/dy; weight gradients go to ``self.grads``.  A layer without its own
        backward differentiates its traced ``call``."""
        if self._cache is None:
            raise RuntimeError(f"Layer '{self.name}': call it with training=True before backward()")
        dx, self.grads = tracing.traced_backward(self, self._cache, dy)
        return dx

    def check_gradient(self, dy, shape):
        """`dy` as an array of the layer's dtype, if it has `shape` (that of what it differentiates)."""
        dy = np.asarray(dy, self.dtype)
        if dy.shape != tuple(shape):
            raise ValueError(f"Layer '{self.name}' backward expects a gradient of shape {tuple(shape)}, "
                             f"received {dy.shape}")
        return dy

    def cache_holders(self):
        """This layer and every layer inside it (a wrapper's, a model's): the objects whose
        ``_cache`` one training call fills, saved and restored per call of a shared layer."""
        holders = [self]
        for value in vars(self).values():
            items = value if isinstance(value, list) else [value]
            for item in items:
                if isinstance(item, Layer) and item is not self:
                    holders += [h for h in item.cache_holders() if h not in holders]
        return holders

    def saved(self):
        """The cache of the last ``training=True`` call, for backward."""
        if self._cache is None:
            raise RuntimeError(f"Layer '{self.name}': call it with training=True before backward()")
        return self._cache

    # -- input checks ----------------------------------------------------------
    def check_input(self, x, min_ndim=None, ndim=None, last_dim=None, allow_non_finite=False,
                    any_layout=False):
        """`x` as a C-contiguous array of the layer's dtype (`any_layout`: in the layout it came
        in, for a layer that reorders it anyway), or a ValueError that says why not."""
        what = f"Layer '{self.name}' ({type(self).__name__})"
        arr = np.asarray(x)
        if arr.dtype.kind not in "biuf":
            raise ValueError(f"{what} expects numeric input, received dtype {arr.dtype}")
        if ndim is not None and arr.ndim != ndim:
            raise ValueError(f"{what} expects input of rank {ndim}{self.rank_meaning(ndim)}, "
                             f"received shape {arr.shape}")
        if min_ndim is not None and arr.ndim < min_ndim:
            raise ValueError(f"{what} expects input of rank >= {min_ndim}, received shape {arr.shape}")
        if last_dim is not None and arr.shape[-1] != last_dim:
            raise ValueError(f"{what} expects {last_dim} features on the last axis, "
                             f"received shape {arr.shape}")
        arr = arr.astype(self.dtype, copy=False) if any_layout else np.ascontiguousarray(arr, dtype=self.dtype)
        # A parallel worker runs inside a layer whose own input was checked already.
        trusted = getattr(_checks, "trusted", False) or parallel.in_parallel_worker()
        if not (allow_non_finite or trusted) and not np.isfinite(arr).all():
            bad = int(arr.size - np.isfinite(arr).sum())
            raise ValueError(f"{what} received input with NaN or inf values "
                             f"({bad} of {arr.size} elements)")
        return arr

    def check_mask(self, mask, shape):
        """A (batch, time) mask as bools: any non-zero value keeps the step, as Keras casts masks."""
        arr = np.asarray(mask)
        if arr.dtype.kind not in "biuf":
            raise ValueError(f"Layer '{self.name}' ({type(self).__name__}) expects a numeric or boolean mask, "
                             f"received dtype {arr.dtype}")
        if arr.shape != tuple(shape):
            raise ValueError(f"Layer '{self.name}' ({type(self).__name__}) expects a mask of shape "
                             f"{tuple(shape)}, received {arr.shape}")
        return arr.astype(bool, copy=False)

    @staticmethod
    def rank_meaning(ndim):
        return {2: " (batch, features)", 3: " (batch, time, features)"}.get(ndim, "")

    def get_config(self):
        """The constructor arguments, JSON-friendly; ``type(self).from_config(config)`` rebuilds
        the layer (without its weights).  Subclasses add their own arguments; a layer defined
        outside minirnn that writes no get_config gets the arguments it was constructed with."""
        hint = self.input_shape_hint
        config = {"name": self.name, "dtype": self.dtype, "trainable": self.trainable}
        if hint is not None or type(self).__module__.startswith("minirnn."):
            config["input_shape"] = None if hint is None else list(hint[1:])
        for name, reg in self.__dict__.get("_regularizers", {}).items():
            config[f"{name}_regularizer"] = regularizers.serialize(reg)
        for name, con in self.__dict__.get("_constraints", {}).items():
            config[f"{name}_constraint"] = constraints.serialize(con)
        if self.__dict__.get("activity_regularizer") is not None:
            config["activity_regularizer"] = regularizers.serialize(self.activity_regularizer)
        auto = self.__dict__.get("_auto_config", {})
        if auto is None and type(self).get_config is Layer.get_config:
            raise NotImplementedError(f"Layer '{self.name}' ({type(self).__name__}) was constructed with "
                                      f"arguments that are not plain data: write its get_config()")
        return {**config, **(auto or {})}

    @classmethod
    def from_config(cls, config):
        """A new, unbuilt layer from :meth:`get_config`'s output."""
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"


registry.register_base("layer", Layer)


def _shapes(x):
    if isinstance(x, (list, tuple)):
        return [_shapes(v) for v in x]
    if isinstance(x, dict):
        return {k: _shapes(v) for k, v in x.items()}
    return tuple(np.shape(x))


def _probe(shape, n, dtype):
    """Zeros of `shape` with every unknown axis `n` long (a list of shapes: a list of arrays)."""
    if isinstance(shape, list) or (isinstance(shape, tuple) and shape and isinstance(shape[0], (tuple, list))):
        return [_probe(s, n, dtype) for s in shape]
    if dtype == "string":
        return np.full([n if d is None else d for d in shape], "a", dtype=object)
    return np.zeros([n if d is None else d for d in shape], dtype)


class Variable(np.ndarray):
    """A weight made by ``add_weight``: a NumPy array with Keras's ``numpy()``, ``assign()``,
    ``value``, ``name`` and ``trainable``."""

    @classmethod
    def of(cls, array, name, trainable):
        w = np.array(array, order="C").view(cls)
        w.name, w.trainable = name, trainable
        return w

    def __array_finalize__(self, obj):
        # every view and result of a Variable passes here: straight into __dict__, past __setattr__
        self.__dict__.update(name=getattr(obj, "name", None), trainable=getattr(obj, "trainable", True),
                             regularizer=None, constraint=None)

    def __setattr__(self, name, value):
        if value is not None and name in ("regularizer", "constraint"):
            _penalized[0] = True
        super().__setattr__(name, value)

    def numpy(self):
        return np.asarray(self).copy()

    @property
    def value(self):
        return np.asarray(self)

    @property
    def path(self):
        return self.name

    def assign(self, value):
        self[...] = np.asarray(value)
        return self


class KernelAndBias:
    """Mixin for a Layer whose weights are a kernel and, with ``use_bias``, a bias as long as
    the kernel's last axis (Dense, Conv1D); the layer sets kernel/bias_initializer and use_bias."""

    def build_kernel_and_bias(self, kernel_shape):
        self.kernel = np.asarray(self.kernel_initializer(kernel_shape, dtype=self.dtype), self.dtype)
        if self.use_bias:
            self.bias = np.asarray(self.bias_initializer((kernel_shape[-1],), dtype=self.dtype), self.dtype)
        self.built = True

    @property
    def weights(self):
        if not self.built:
            return []
        return [self.kernel, self.bias] if self.use_bias else [self.kernel]
