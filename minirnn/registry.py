"""The names a saved file may use: every class and function minirnn can rebuild from a file.

A file never names a module to import or an attribute to follow; it names an entry of this
registry, and the loader looks that exact name up.  So what a file can reach is a closed set:
minirnn's own serializable objects (activations, losses, metrics, ops, initializers, layers,
cells…) and what the caller registered, with ``@register_serializable`` or per load with
``custom_objects``.

    @minirnn.registry.register_serializable(package="my_project")
    def scaled_tanh(x):
        return 2.0 * np.tanh(x)
    # saved as "my_project>scaled_tanh"; loads in any process that has run the decorator

Names are ``"package>name"`` (Keras's spelling).  minirnn's own layers, cells and ops use the
package ``"minirnn"`` (a Layer subclass defined elsewhere registers itself as ``"Custom>Name"``);
kinds whose class names clash have their own package (``"minirnn.losses>MeanSquaredError"``,
``"minirnn.metrics>MeanSquaredError"``, ``"minirnn.optimizers"``, ``"minirnn.initializers"``,
``"minirnn.activations"``); NumPy functions a ``Lambda`` may name are ``"numpy>tanh"`` and so on.
"""
import threading

_lock = threading.Lock()
_by_name = {}       # "package>name" -> object
_by_id = {}         # id(object) -> "package>name"; objects may be unhashable (a configured instance)
_bases = {}         # kind ("layer") -> the base class every class of that kind derives from


def registered_key(package, name):
    """The registry key ``"package>name"``; both parts are plain names."""
    for part, what in ((package, "package"), (name, "name")):
        if not isinstance(part, str) or not part or ">" in part:
            raise ValueError(f"register_serializable: {what} must be a non-empty string without '>', "
                             f"received {part!r}")
    return f"{package}>{name}"


def register(obj, name, package="minirnn"):
    """Register `obj` as ``"package>name"`` and return it (a later registration of the same name
    replaces the earlier one, so re-running a cell in a notebook works)."""
    key = registered_key(package, name)
    with _lock:
        previous = _by_name.get(key)
        if previous is not None:
            _by_id.pop(id(previous), None)
        _by_name[key] = obj
        _by_id[id(obj)] = key
    return obj


def register_serializable(package="Custom", name=None):
    """Decorator: make a class or function nameable in a saved file, as ``"package>name"``
    (``name`` defaults to the object's ``__name__``), like ``keras.saving.register_keras_serializable``."""
    def decorate(obj):
        own = name if name is not None else getattr(obj, "__name__", None)
        if own is None or own == "<lambda>":
            raise ValueError("register_serializable: a lambda has no name to be found by; pass name=... "
                             "or define the function with def")
        return register(obj, own, package)
    return decorate


def register_class(cls):
    """Register a subclass of one of minirnn's bases (Layer, Cell) by its class name, under the
    package ``"minirnn"`` for minirnn's own classes and ``"Custom"`` for everyone else's."""
    package = "minirnn" if cls.__module__.split(".")[0] == "minirnn" else "Custom"
    return register(cls, cls.__name__, package)


def register_base(kind, base):
    """Declare `base` the class every class of `kind` (``"layer"``) derives from, so that code
    below it (:mod:`minirnn.serialization`) can ask for "a layer class" without importing it."""
    _bases[kind] = base
    return base


def get_registered_class(class_name, kind, custom_objects=None):
    """The class of `kind` a file may name as `class_name`: from `custom_objects`, else the
    registered ``"minirnn>class_name"`` or ``"Custom>class_name"`` (or the full registered
    name); None when there is none, or it does not derive from the kind's base class."""
    base = _bases.get(kind)
    if base is None or not isinstance(class_name, str):
        return None
    keys = [class_name] if ">" in class_name else [f"minirnn>{class_name}", f"Custom>{class_name}"]
    for key in keys:
        cls = get_registered_object(key, custom_objects)
        if isinstance(cls, type) and issubclass(cls, base):
            return cls
    return None


def registered_name(obj):
    """The registered ``"package>name"`` of `obj`, or None."""
    key = _by_id.get(id(obj))
    return key if key is not None and _by_name.get(key) is obj else None


def get_registered_object(name, custom_objects=None):
    """The object registered as `name`, or None.  ``custom_objects`` ({name: object}) come first,
    matched by the full ``"package>name"`` or by the part after ``>``."""
    if not isinstance(name, str):
        return None
    if custom_objects:
        for key in (name, name.rpartition(">")[2]):
            if key in custom_objects:
                return custom_objects[key]
    return _by_name.get(name)


def registered_names(package=None):
    """Every registered name (of one package if given), sorted."""
    return sorted(k for k in _by_name if package is None or k.partition(">")[0] == package)


def keras_object_config(obj, module):
    """Keras's serialized form of a built-in object whose config holds plain values (None stays None)."""
    return None if obj is None else {"module": module, "class_name": type(obj).__name__,
                                     "config": obj.get_config(), "registered_name": None}


def numeric_object(identifier, what, base, classes, names, values=(int, float)):
    """`identifier` as a `base` object: None or an instance as it is, a name in `names`, or a config
    ``{"class_name", "config"}`` of one of `classes` whose values are all `values`; NotImplemented
    when it is none of these (the caller decides what else it accepts)."""
    if identifier is None or isinstance(identifier, base):
        return identifier
    if isinstance(identifier, str) and identifier in names:
        return names[identifier]()
    if isinstance(identifier, dict) and identifier.get("class_name") in classes:
        config = identifier.get("config") or {}
        if not isinstance(config, dict) or not all(isinstance(v, values) for v in config.values()):
            raise ValueError(f"{what} config must hold numbers, received {config!r}")
        return classes[identifier["class_name"]](**config)
    return NotImplemented
