"""Objects, functions and layers as JSON configs, and back, through :mod:`minirnn.registry`.

This is the part of saving that layers themselves use (a Bidirectional or TimeDistributed
writes the layers it holds, a Lambda its function), so it sits below the layers and knows no
file format; the formats (:mod:`minirnn.saving`) sit above the models.

A layer is ``{"class_name", "registered_name", "module", "config"}`` (and ``build_config``,
the input shape it was built for): ``config`` is ``layer.get_config()``, ``module`` is
information only, nothing is imported from it.  A function (a ``Lambda``'s, a metric's) is its
registered name (``"numpy>tanh"``, ``"my_project>scaled_tanh"``), or, when it is not
registered, ``{"class_name": "__python_function__", "config": {"name", "module", "source"}}``
with its source text (best effort), which only ``safe_mode=False`` turns back into a function.

Loading runs no code from the file: classes and functions are found by exact name in the
registry or in the caller's ``custom_objects``, never by import and attribute look-up, and
every problem raises :class:`ModelFileError` naming the file and the field.
"""
import contextlib
import importlib
import inspect
import math
import re
import textwrap
import threading

import numpy as np

from . import registry
from .budget import OverBudget  # noqa: F401  (raised by loads that pass their budget)

PYTHON_FUNCTION = "__python_function__"
MAX_INPUT_ITEMS = 2**22              # elements of an input shape (unknown sizes as 3), in safe mode
LAYER_DTYPES = ("float32", "float64")
# an Input may also hold ids, flags or text
INPUT_DTYPES = LAYER_DTYPES + ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "bool",
                               "string")


class ModelFileError(ValueError):
    """A model or weights file that cannot be loaded (damaged, hostile, or naming something
    this process does not have).  ``path`` is the file, ``where`` the member or field."""

    def __init__(self, path, where, problem):
        self.path, self.where, self.problem = path, where, problem
        super().__init__(f"Cannot load {path!r}" + (f", {where}" if where else "") + f": {problem}")


# -- options while loading ---------------------------------------------------------------
class LoadOptions:
    """What deserialization needs to know about the load in progress."""

    def __init__(self, custom_objects=None, safe_mode=True, path="<config>"):
        self.custom_objects, self.safe_mode, self.path = dict(custom_objects or {}), safe_mode, path

    def error(self, where, problem):
        return ModelFileError(self.path, where, problem)


_state = threading.local()


def current_options():
    """The options of the load in progress (defaults outside one)."""
    return getattr(_state, "load", None) or LoadOptions()


@contextlib.contextmanager
def loading_options(custom_objects=None, safe_mode=None, path=None):
    """Within the block, deserialization uses these custom objects, safe mode and file name in
    its errors (unspecified ones are inherited from an enclosing block; defaults {}, True and
    ``"<config>"``)."""
    previous = getattr(_state, "load", None)
    outer = current_options()
    _state.load = LoadOptions({**outer.custom_objects, **dict(custom_objects or {})},
                              outer.safe_mode if safe_mode is None else bool(safe_mode),
                              outer.path if path is None else path)
    try:
        yield _state.load
    finally:
        _state.load = previous


def config_error(where, problem):
    """A ModelFileError naming the file being loaded (``"<config>"`` outside a load) and `where`,
    for ``from_config`` methods that find a field they cannot use."""
    return current_options().error(where, problem)


def short_repr(value, limit=200):
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


# -- functions ---------------------------------------------------------------------------
def _legacy_reference(fn):
    """``"module:qualname"`` of a module attribute (as format 1 files before the registry named
    functions), or None."""
    module = "numpy" if isinstance(fn, np.ufunc) else getattr(fn, "__module__", None)
    qualname = getattr(fn, "__name__" if isinstance(fn, np.ufunc) else "__qualname__", None)
    return f"{module}:{qualname}" if isinstance(module, str) and isinstance(qualname, str) else None


def registered_by_reference(reference):
    """The registered object an old ``"module:qualname"`` reference names, or None."""
    for key in registry.registered_names():
        obj = registry.get_registered_object(key)
        if _legacy_reference(obj) == reference:
            return obj
    return None


def _lambda_source(fn, text):
    """The ``lambda ...`` expression of `fn` out of the source lines around it, or None: the
    shortest text from a ``lambda`` keyword, ending before a delimiter, that compiles to a
    function with the same arguments, names and constants."""
    def signature(code):
        return code.co_argcount, code.co_varnames, code.co_names, code.co_consts

    found = set()
    for start in (m.start() for m in re.finditer(r"\blambda\b", text)):
        for end in [m.start() for m in re.finditer(r"[,)\]}\n]", text) if m.start() > start] + [len(text)]:
            segment = text[start:end].strip()
            try:
                code = compile(segment, "<lambda>", "eval").co_consts[0]
            except (SyntaxError, IndexError):
                continue
            if inspect.iscode(code) and signature(code) == signature(fn.__code__):
                found.add(segment)
            break
    return found.pop() if len(found) == 1 else None


def function_source(fn):
    """The source text of a Python function (a ``lambda`` expression or a ``def``), best
    effort: None when Python does not have it."""
    try:
        text = textwrap.dedent(inspect.getsource(fn))
    except (OSError, TypeError):
        return None
    return _lambda_source(fn, text) if fn.__name__ == "<lambda>" else text


def serialize_function(fn, where="function"):
    """A function as a file stores it: its registered name, else its source (see the module
    docstring); anything that is not a Python function raises a ValueError naming `where`."""
    name = registry.registered_name(fn)
    if name is not None:
        return name
    if not inspect.isfunction(fn):
        raise ValueError(f"{where} is {fn!r}, which is neither a registered function nor a Python "
                         f"function, so it cannot be saved; register it with "
                         f"@minirnn.registry.register_serializable()")
    return {"class_name": PYTHON_FUNCTION,
            "config": {"name": fn.__qualname__, "module": fn.__module__, "source": function_source(fn)}}


def _how_to_register(short):
    return (f"pass custom_objects={{{short!r}: your_function}} or register the function with "
            f"@minirnn.registry.register_serializable() before loading")


def deserialize_function(entry, where="function"):
    """The function a file names: a registered name (or an old ``"module:qualname"`` reference
    to a registered object), ``custom_objects`` first; a function saved as source only with
    ``safe_mode=False``.  Nothing is imported or looked up by attribute in safe mode."""
    load = current_options()
    if isinstance(entry, str):
        short = re.split("[>:.]", entry)[-1]
        fn = registry.get_registered_object(entry, load.custom_objects) if ">" in entry else None
        if fn is None and ":" in entry:
            fn = load.custom_objects.get(entry) or load.custom_objects.get(short)
            if fn is None:
                fn = registered_by_reference(entry)
        if fn is None:
            fn = load.custom_objects.get(entry)
        if fn is None or not callable(fn) or isinstance(fn, type):
            raise load.error(where, f"{entry!r} is not a registered function: a file can only name "
                                    f"functions registered in minirnn.registry; {_how_to_register(short)}")
        return fn
    config = entry.get("config") if isinstance(entry, dict) and entry.get("class_name") == PYTHON_FUNCTION else None
    if not isinstance(config, dict) or not isinstance(config.get("name"), str):
        raise load.error(where, f"expected a registered function name or a saved Python function, "
                                f"received {short_repr(entry)}")
    name = config["name"]
    short = name.rpartition(".")[2]
    if short in load.custom_objects or name in load.custom_objects:
        return load.custom_objects.get(name, load.custom_objects.get(short))
    if load.safe_mode:
        raise load.error(where, f"the Python function {name!r} was saved as source code; making it "
                                f"again would run code from the file, which safe_mode=True refuses. "
                                f"Substitute it: {_how_to_register(short)}; or, if you trust the "
                                f"file, load it with safe_mode=False")
    return _function_from_source(config, load, where)


def _function_from_source(config, load, where):
    """Run the saved source (safe_mode=False only) in a copy of its module's namespace when
    that module can be imported, else with NumPy as ``np``."""
    name, source = config["name"], config.get("source")
    if not isinstance(source, str):
        raise load.error(where, f"the Python function {name!r} was saved without its source "
                                f"(Python could not find it); {_how_to_register(name.rpartition('.')[2])}")
    namespace = {"np": np, "numpy": np, "math": math}
    with contextlib.suppress(Exception):
        namespace = dict(vars(importlib.import_module(str(config.get("module")))))
    try:
        if name.rpartition(".")[2] == "<lambda>":
            return eval(compile(source, f"<{load.path}: {where}>", "eval"), namespace)
        exec(compile(source, f"<{load.path}: {where}>", "exec"), namespace)
        return namespace[name.rpartition(".")[2]]
    except Exception as e:
        raise load.error(where, f"cannot make the Python function {name!r} from its saved source "
                                f"({type(e).__name__}: {e})") from None


# -- layers ------------------------------------------------------------------------------
def serialize_layer(layer, build_config=False):
    """``{"class_name", "registered_name", "module", "config"}`` (and ``build_config`` with the
    input shape the layer was built for, if asked and known)."""
    cls = type(layer)
    entry = {"class_name": cls.__name__, "registered_name": registry.registered_name(cls),
             "module": cls.__module__, "config": layer.get_config()}
    shape = getattr(layer, "build_input_shape", None)
    if build_config and layer.built and shape is not None:
        entry["build_config"] = {"input_shape": list(shape)}
    return entry


def checked_shape(shape, load, where):
    """A file's input shape as a tuple of ints >= 0 and Nones; in safe mode with at most
    MAX_INPUT_ITEMS elements (unknown sizes counted as 3), since layers probe their output
    shapes by calling themselves on zeros of that shape.  A layer of several inputs (a merge
    layer, a model) has a list of such shapes, each checked."""
    if isinstance(shape, list) and 1 < len(shape) <= 64 and all(isinstance(s, list) for s in shape):
        return tuple(checked_shape(s, load, f"{where}[{k}]") for k, s in enumerate(shape))
    if not isinstance(shape, list) or len(shape) > 8 or not all(
            d is None or (type(d) is int and 0 <= d) for d in shape):
        raise load.error(where, f"expected a shape (a list of up to 8 sizes >= 0 or null), "
                                f"received {short_repr(shape)}")
    if load.safe_mode and math.prod(3 if d is None else d for d in shape) > MAX_INPUT_ITEMS:
        raise load.error(where, f"the shape {shape} has more than {MAX_INPUT_ITEMS:,} elements (unknown "
                                f"sizes counted as 3); if you trust the file, load it with safe_mode=False")
    return tuple(shape)


def deserialize_layer(entry, custom_objects=None, safe_mode=None):
    """A new layer from :func:`serialize_layer`'s output; the class comes from
    ``custom_objects`` or :mod:`minirnn.registry`, never from code in the file.  Every problem
    with the entry is a :class:`ModelFileError`."""
    with loading_options(custom_objects, safe_mode) as load:
        if not isinstance(entry, dict) or not isinstance(entry.get("class_name"), str) \
                or not isinstance(entry.get("config", {}), dict):
            raise load.error("a layer entry", f"expected {{'class_name': ..., 'config': {{...}}}}, "
                                              f"received {short_repr(entry)}")
        class_name, config = entry["class_name"], dict(entry.get("config") or {})
        where = f"layer {short_repr(config.get('name'), 80)} ({class_name[:80]})"
        cls = None                  # the registered name first: a custom class may share a built-in's name
        if isinstance(entry.get("registered_name"), str):
            cls = registry.get_registered_class(entry["registered_name"], "layer", load.custom_objects)
        if cls is None:
            cls = registry.get_registered_class(class_name, "layer", load.custom_objects)
        if cls is None:
            raise load.error(where, f"unknown layer class {class_name!r}. A custom layer class must be "
                                    f"defined (its module imported) before loading, or passed as "
                                    f"custom_objects={{{class_name!r}: {class_name}}}")
        allowed = INPUT_DTYPES if getattr(cls, "is_input_layer", False) else getattr(cls, "config_dtypes", LAYER_DTYPES)
        if "dtype" in config and config["dtype"] is not None and config["dtype"] not in allowed:
            raise load.error(f"{where} field 'dtype'", f"expected one of {list(allowed)}, "
                                                       f"received {short_repr(config['dtype'])}")
        for key in ("shape", "input_shape", "batch_shape"):     # shapes a layer may probe with
            shape = config.get(key)
            field = f"{where} field {key!r}"
            if key == "shape" and isinstance(shape, list):       # an Input's, after its batch size
                shape, field = [config.get("batch_size")] + shape, f"{where} fields 'batch_size' and 'shape'"
            if shape is not None:
                checked_shape(shape, load, field)
        build = entry.get("build_config") or {}
        shape = None
        if isinstance(build, dict) and build.get("input_shape") is not None:
            shape = checked_shape(build["input_shape"], load, f"{where} field 'build_config'")
        try:
            layer = cls.from_config(config)
            if shape is not None and not layer.built:
                layer.ensure_built(shape)
        except ModelFileError:
            raise
        except OverBudget as e:
            raise load.error(where, str(e)) from None
        except (TypeError, ValueError, KeyError, AttributeError, IndexError, OverflowError,
                MemoryError, RecursionError) as e:
            raise load.error(where, f"its config cannot make the layer ({type(e).__name__}: {e})") from None
        return layer


# -- JSON --------------------------------------------------------------------------------
def json_ready(value, where):
    """`value` with tuples as lists and NumPy scalars as Python ones, or a ValueError
    saying which entry cannot be stored and why."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        if not np.isfinite(value):
            raise ValueError(f"{where} is {value}, which JSON cannot store")
        return float(value)
    if isinstance(value, (list, tuple)):
        return [json_ready(v, f"{where}[{k}]") for k, v in enumerate(value)]
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise ValueError(f"{where} has the non-string key {k!r}, which JSON cannot store")
            out[k] = json_ready(v, f"{where}.{k}")
        return out
    if callable(value):
        raise ValueError(f"{where} is the callable {value!r}, which cannot be stored as data; only "
                         f"a layer's function arguments (a Lambda's function and backward) are saved "
                         f"as functions")
    raise ValueError(f"{where} is {type(value).__name__} {value!r}, which cannot be stored in JSON")


def checked_layer_entry(layer):
    where = f"Layer '{layer.name}' ({type(layer).__name__}): config entry"
    entry = serialize_layer(layer, build_config=True)
    entry["config"] = {k: json_ready(v, f"{where} {k!r}") for k, v in entry["config"].items()}
    return json_ready(entry, where)
