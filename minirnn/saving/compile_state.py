"""Compile settings and optimizer state: what ``model.compile`` was given, as JSON, and the
optimizer's step count and slots (Adam's ``m`` and ``v``...), as arrays.

    compile_config: {"optimizer": {"class_name": "Adam", "config": {"learning_rate": 0.001, ...}},
                     "loss": {"class_name": "MeanSquaredError", "config": {...}},
                     "metrics": [{"name": "mae", "function": "mae", "kwargs": {}},
                                 {"name": "acc", "class_name": "Accuracy",
                                  "config": {"name": "acc", "kind": "binary"}}]}

A model of several outputs has a list of losses (``null`` for an output without one),
``loss_weights`` and one list of metrics per output.  A custom optimizer, loss or metric
class adds its ``registered_name``; classes are found only in :mod:`minirnn.registry` and
``custom_objects``.  The optimizer state is ``{"class_name", "iterations", "slots": {"<k>":
[slot names]}}`` beside arrays ``optimizer/<k>/<slot>`` for the model's ``k``-th weight.
"""
import warnings

import numpy as np

from .. import losses, metrics as metrics_module, optimizers, registry
from ..layers.base import constructor_arguments
from ..serialization import (ModelFileError, current_options, deserialize_function, json_ready,
                             registered_by_reference, serialize_function, short_repr)


def serialize_object(obj, module, what):
    """A built-in optimizer / loss by class name; a custom one adds its registered name."""
    entry = module.serialize(obj)
    if module._REGISTRY.by_name.get(entry["class_name"]) is not type(obj):
        entry["registered_name"] = registry.registered_name(type(obj))
        entry["module"] = type(obj).__module__
    return json_ready(entry, f"The {what} config")


def deserialize_object(entry, module, base, what):
    load = current_options()
    where = f"compile_config field {what!r}"
    if not isinstance(entry, dict) or not isinstance(entry.get("class_name"), str):
        raise load.error(where, f"expected {{'class_name': ..., 'config': {{...}}}}, received {short_repr(entry)}")
    name = entry["class_name"]
    candidates = [load.custom_objects.get(name)]
    if isinstance(entry.get("registered_name"), str):
        candidates.append(registry.get_registered_object(entry["registered_name"], load.custom_objects))
    if isinstance(entry.get("ref"), str):                 # files written before the registry
        candidates.append(registered_by_reference(entry["ref"]))
    candidates.append(module._REGISTRY.by_name.get(name))
    cls = next((c for c in candidates if isinstance(c, type) and issubclass(c, base)), None)
    if cls is None:
        raise load.error(where, f"unknown {what} class {name!r}; pass custom_objects={{{name!r}: {name}}} "
                                f"or register the class with @minirnn.registry.register_serializable()")
    try:
        return cls.from_config(dict(entry.get("config") or {}))
    except (TypeError, ValueError, KeyError, AttributeError) as e:
        raise load.error(where, f"its config cannot make the {what} ({type(e).__name__}: {e})") from None


def serialize_metric(metric):
    """A built-in metric class with its constructor arguments, or a wrapped function (a
    built-in by name, another as :func:`serialize_function` stores it) with its keyword
    arguments."""
    cls = type(metric)
    if metrics_module._CLASSES.get(cls.__name__) is cls:
        fn_kwargs = getattr(metric, "fn_kwargs", {})
        config = {}
        for arg in constructor_arguments(cls):
            if hasattr(metric, arg):
                config[arg] = getattr(metric, arg)
            elif arg in fn_kwargs:
                config[arg] = fn_kwargs[arg]
            else:
                raise ValueError(f"The metric {metric.name!r} ({cls.__name__}) cannot be saved: its "
                                 f"constructor argument {arg!r} is not stored")
        entry = {"name": metric.name, "class_name": cls.__name__, "config": config}
    elif cls is metrics_module.MeanMetricWrapper:
        named = [k for k, f in metrics_module._FUNCTIONS.items() if f is metric.fn]
        function = ((metric.name if metric.name in named else named[0]) if named
                    else serialize_function(metric.fn, f"The metric {metric.name!r}"))
        entry = {"name": metric.name, "function": function, "kwargs": dict(metric.fn_kwargs)}
    else:
        raise ValueError(f"The metric {metric.name!r} ({cls.__qualname__}) is not a built-in metric, so it "
                         f"cannot be saved; save with include_optimizer=False and compile after loading")
    return json_ready(entry, f"The metric {metric.name!r}")


def deserialize_metric(entry):
    load = current_options()
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
        raise load.error("compile_config field 'metrics'", f"expected {{'name': ..., ...}}, "
                                                           f"received {short_repr(entry)}")
    name = entry["name"]
    where = f"compile_config metric {name!r}"
    try:
        if "class_name" in entry:
            cls = load.custom_objects.get(entry["class_name"]) or metrics_module._CLASSES.get(entry["class_name"])
            if not (isinstance(cls, type) and issubclass(cls, metrics_module.Mean)):
                raise load.error(where, f"unknown metric class {short_repr(entry['class_name'])}")
            metric = cls(**dict(entry.get("config") or {}))
        else:
            function = entry.get("function")
            if isinstance(function, str) and function in metrics_module._FUNCTIONS:
                fn = metrics_module._FUNCTIONS[function]
            else:
                fn = deserialize_function(function, where)
            metric = metrics_module.MeanMetricWrapper(fn, name, **dict(entry.get("kwargs") or {}))
    except ModelFileError:
        raise
    except (TypeError, ValueError, KeyError, AttributeError) as e:
        raise load.error(where, f"its config cannot make the metric ({type(e).__name__}: {e})") from None
    metric.name = name
    return metric


def compile_config(model):
    """The JSON compile config of a compiled model (optimizer, loss, metrics), else None."""
    if not getattr(model, "compiled", False):
        return None
    if callable(getattr(model.optimizer, "_learning_rate", None)):
        raise ValueError(f"Model '{model.name}': the optimizer's learning_rate is a schedule (a callable), "
                         f"which cannot be saved; save with include_optimizer=False")
    if isinstance(model.loss, list):               # several outputs: one loss and metric list each
        return {"optimizer": serialize_object(model.optimizer, optimizers, "optimizer"),
                "loss": [None if fn is None else serialize_object(fn, losses, "loss") for fn in model.loss],
                "loss_weights": list(model.loss_weights),
                "metrics": [[serialize_metric(m) for m in group] for group in model.metrics_per_output()]}
    return {"optimizer": serialize_object(model.optimizer, optimizers, "optimizer"),
            "loss": serialize_object(model.loss, losses, "loss"),
            "metrics": [serialize_metric(m) for m in model.metrics]}


def compile_from_config(model, config):
    """``model.compile`` with the optimizer, loss and metrics of :func:`compile_config`."""
    load = current_options()
    if not isinstance(config, dict) or not isinstance(config.get("metrics") or [], list):
        raise load.error("compile_config", f"expected {{'optimizer', 'loss', 'metrics'}}, "
                                           f"received {short_repr(config)}")
    optimizer = deserialize_object(config.get("optimizer"), optimizers, optimizers.Optimizer, "optimizer")
    loss, metrics = config.get("loss"), config.get("metrics") or []
    if isinstance(loss, list):                     # several outputs: one loss and metric list each
        loss = [None if entry is None else deserialize_object(entry, losses, losses.Loss, "loss") for entry in loss]
        metrics = [[deserialize_metric(entry) for entry in group] if isinstance(group, list) else
                   deserialize_metric(group) for group in metrics]
    else:
        loss = deserialize_object(loss, losses, losses.Loss, "loss")
        metrics = [deserialize_metric(entry) for entry in metrics]
    try:
        model.compile(optimizer=optimizer, loss=loss, metrics=metrics, loss_weights=config.get("loss_weights"))
    except (TypeError, ValueError) as e:
        raise load.error("compile_config", f"cannot compile the model ({e})") from None


# -- optimizer state ---------------------------------------------------------------------
def optimizer_state(model):
    """(manifest entry, arrays) of the optimizer's iteration count and slots."""
    optimizer = model.optimizer
    slots, arrays = {}, {}
    # Optimizer slots are kept per parameter array (see optimizers.Optimizer._slots_for).
    kept = getattr(optimizer, "_slots", {})
    for k, weight in enumerate(model.weights):
        entry = kept.get(id(weight))
        if entry is None or entry[0] is not weight:
            continue
        slots[str(k)] = list(entry[1])
        for name, value in entry[1].items():
            arrays[f"optimizer/{k}/{name}"] = np.ascontiguousarray(value)
    manifest = {"class_name": type(optimizer).__name__, "iterations": int(optimizer.iterations),
                "slots": slots}
    return manifest, arrays


def restore_optimizer(model, saved, weights, path):
    optimizer = model.optimizer
    where = "manifest field 'optimizer'"
    if not isinstance(saved, dict) or not isinstance(saved.get("slots", {}), dict):
        raise ModelFileError(path, where, f"expected {{'class_name', 'iterations', 'slots'}}, "
                                          f"received {short_repr(saved)}")
    if type(optimizer).__name__ != saved.get("class_name"):
        warnings.warn(f"{path!r} holds {saved.get('class_name')} state but model '{model.name}' is "
                      f"compiled with {type(optimizer).__name__}; the optimizer state is not loaded")
        return
    params = model.weights
    expected = set(getattr(optimizer, "_slot_names", ()))
    plan = []
    for k, names in saved.get("slots", {}).items():
        k = int(k) if isinstance(k, str) and k.isdigit() else -1
        if not 0 <= k < len(params) or not isinstance(names, list) or set(names) != expected:
            warnings.warn(f"{path!r}: the optimizer state does not match model '{model.name}''s "
                          f"weights or optimizer configuration; it is not loaded")
            return
        plan.append((k, names))
    iterations = saved.get("iterations", 0)
    if type(iterations) is not int or iterations < 0:
        raise ModelFileError(path, f"{where}.iterations", f"expected a count >= 0, received {short_repr(iterations)}")
    restored = {k: {name: np.array(weights.read(f"optimizer/{k}/{name}", params[k].shape), dtype=params[k].dtype)
                    for name in names} for k, names in plan}
    for k, slots in restored.items():
        optimizer._slots[id(params[k])] = (params[k], slots)
    optimizer.iterations = iterations
