"""The weights inside Keras files: where each layer's arrays live in a Keras 3 weights HDF5
(``model.weights.h5``, ``.weights.h5``) and in a legacy ``.h5``, their shapes computed from
the layers alone so that a file is checked before anything is allocated, and the optimizer's
state (``optimizer/vars``).  The layout is described in :mod:`minirnn.saving.keras_files`."""
import numpy as np

from .. import optimizers
from ..layers import Bidirectional, Conv1D, Dense, Embedding, SpectralNormalization, TimeDistributed
from ..layers.base import snake_case
from ..layers.rnn import RNN
from ..models import Sequential
from ..serialization import ModelFileError
from .readers import require_h5py


def weight_groups(layer, input_shape):
    """[(group path inside the layer's entry, [weight shapes])] of `layer` on `input_shape`,
    computed without building it (so a file is checked before anything is allocated)."""

    if isinstance(layer, Sequential):
        inner = layer_shapes(layer.layers, input_shape)
        return [(f"{entry}/{group}", shapes) for (inner_layer, shape), entry in zip(inner, keras_paths(layer.layers))
                for group, shapes in weight_groups(inner_layer, shape)]
    if hasattr(layer, "weight_shapes"):         # BatchNormalization, LayerNormalization, Conv2D/3D, ConvLSTM
        return [("cell/vars" if isinstance(layer, RNN) else "vars", layer.weight_shapes(input_shape))]
    if isinstance(layer, Bidirectional):
        return [(f"{half}/cell/vars", list(getattr(layer, half).cell.weight_shapes(input_shape[-1]).values()))
                for half in ("forward_layer", "backward_layer")]
    if isinstance(layer, RNN):
        return [("cell/vars", list(layer.cell.weight_shapes(input_shape[-1]).values()))]
    if isinstance(layer, TimeDistributed):
        inner = (input_shape[0],) + tuple(input_shape[2:])
        return [(f"layer/{group}", shapes) for group, shapes in weight_groups(layer.layer, inner)]
    if isinstance(layer, SpectralNormalization):     # Keras keeps the kernel twice: its own and the layer's
        inner = weight_groups(layer.layer, input_shape)
        kernel = inner[0][1][0] if inner and inner[0][1] else ()
        return [("vars", [kernel, (1,) + tuple(kernel[-1:])])] + [(f"layer/{g}", shapes) for g, shapes in inner]
    if isinstance(layer, Dense):
        return [("vars", [(input_shape[-1], layer.units)] + ([(layer.units,)] if layer.use_bias else []))]
    if isinstance(layer, Conv1D):
        channels = input_shape[-1] if layer.data_format == "channels_last" else input_shape[1]
        return [("vars", [(layer.kernel_size, channels, layer.filters)]
                 + ([(layer.filters,)] if layer.use_bias else []))]
    if isinstance(layer, Embedding):
        return [("vars", [(layer.input_dim, layer.output_dim)])]
    if not layer.weights:
        return [("vars", [])]
    return [("vars", [w.shape for w in layer.weights])]


def file_weights(layer):
    """The arrays of `layer` in the order of :func:`weight_groups` (its ``weights``, except that a
    SpectralNormalization's kernel is there twice, as in Keras's files)."""
    if isinstance(layer, SpectralNormalization) and layer.built:
        return [layer.kernel, layer.vector_u] + file_weights(layer.layer)
    if isinstance(layer, TimeDistributed):
        return file_weights(layer.layer)
    if isinstance(layer, Sequential):
        return [w for inner in layer.layers for w in file_weights(inner)]
    return layer.weights


def layer_shapes(layers, shape):
    """[(layer, input shape)] along a stack of layers, from the shapes alone (nothing built); a
    stack of weightless layers with no input shape yet (lookups) has None for each."""
    if shape is None:
        return [(layer, None) for layer in layers]
    out = []
    for layer in layers:
        out.append((layer, tuple(shape)))
        shape = layer.compute_output_shape(tuple(shape))
        if isinstance(shape, list):
            shape = shape[0]
    return out


def keras_paths(layers):
    """Each layer's entry in a Keras 3 weights file: ``layers/<class in snake case>``, then
    ``_1``, ``_2``... for later layers of the same class (the layer's own name is not used)."""
    counts, out = {}, []
    for layer in layers:
        base = snake_case(type(layer).__name__)
        out.append(f"layers/{base}" + (f"_{counts[base]}" if counts.get(base) else ""))
        counts[base] = counts.get(base, 0) + 1
    return out


def read_keras_weights(shaped, reader, dtype):
    """[[arrays] per layer] for ``[(layer, input shape)]`` (the model's layers in Keras's order)
    from a Keras 3 weights file, every dataset checked before anything is read."""
    plan = []
    for (layer, shape), entry in zip(shaped, keras_paths([layer for layer, _ in shaped])):
        items = []
        for group, shapes in weight_groups(layer, shape):
            where = f"{entry}/{group}"
            keys = sorted(reader.group_keys(where) or []) if shapes else []
            if shapes and keys != sorted(str(i) for i in range(len(shapes))):
                raise reader.error(where, f"layer '{layer.name}' ({type(layer).__name__}) has "
                                          f"{len(shapes)} weights, the file holds {keys[:10]}")
            items += [(f"{where}/{i}", s) for i, s in enumerate(shapes)]
        plan.append(items)
    return _read_planned(plan, reader, dtype)


def read_legacy_weights(shaped, reader, dtype):
    """[[arrays] per layer] for ``[(layer, input shape)]`` from a legacy file, matched as Keras
    matches them: the file's layers that have weights (``layer_names``, each with
    ``weight_names``), in order, to the model's layers that have weights; every dataset
    checked before anything is read."""
    root = "model_weights" if reader.get("model_weights") is not None else ""
    saved = []
    for name in reader.attribute(root, "layer_names") or []:
        names = reader.attribute(f"{root}/{name}".strip("/"), "weight_names") or []
        names = [names] if isinstance(names, str) else names
        if names:
            saved.append((f"{root}/{name}".strip("/"), names))
    ours = [(layer, [s for _, group in weight_groups(layer, shape) for s in group]) for layer, shape in shaped]
    with_weights = [(layer, shapes) for layer, shapes in ours if shapes]
    if len(with_weights) != len(saved):
        raise reader.error(root or "/", f"the model has {len(with_weights)} layers with weights "
                                        f"{[layer.name for layer, _ in with_weights]}, the file {len(saved)} "
                                        f"{[where for where, _ in saved]}")
    found = iter(saved)
    plan = []
    for layer, shapes in ours:
        where, names = next(found) if shapes else (None, [])
        if len(names) != len(shapes):
            raise reader.error(where, f"layer '{layer.name}' ({type(layer).__name__}) has {len(shapes)} "
                                      f"weights, the file {len(names)}: {names[:6]}")
        plan.append([(f"{where}/{name}", s) for name, s in zip(names, shapes)])
    return _read_planned(plan, reader, dtype)


def _read_planned(plan, reader, dtype):
    for items in plan:                       # check every dataset before reading any
        for where, s in items:
            reader.check_dataset(where, s)
    reader.read_bytes = 0
    return [[reader.array(where, s, dtype) for where, s in items] for items in plan]


def model_dtype(model):
    """The dtype of the model's weights: that of its first layer with weights (an Input may hold
    ids or text)."""
    for layer in model.layers:
        if layer.weights:
            return np.dtype(layer.dtype)
    return np.dtype("float32")


def built_shapes(model):
    """[(layer, input shape)] of a built model's layers (Keras's order: the model's)."""

    if isinstance(model, Sequential):
        return layer_shapes(model.layers, model.input_shape)
    return [(layer, layer.build_input_shape) for layer in model.layers]


def assign_weights(layers, values, path):
    """Copy each layer's arrays into its (built) weights, every shape checked first."""
    for layer, arrays in zip(layers, values, strict=True):
        own = file_weights(layer)
        shapes = [w.shape for w in own]
        if shapes != [v.shape for v in arrays]:
            raise ModelFileError(path, f"layer '{layer.name}'", f"weights of shapes {shapes}, the file "
                                                                f"{[v.shape for v in arrays]}")
    for layer, arrays in zip(layers, values):
        for w, v in zip(file_weights(layer), arrays):
            w[...] = v


def trainable_weights(layers):
    """The weights the optimizer updates, in Keras's order (BatchNormalization's statistics left out)."""
    return [w for layer in layers if layer.trainable for w in layer.trainable_weights]


# -- optimizer state ---------------------------------------------------------------------
def slot_order(optimizer, count):
    """[(k, slot name)] of optimizer/vars/2... for `count` trainable weights (Keras's order)."""
    if isinstance(optimizer, optimizers.Adam):
        return [(k, s) for k in range(count) for s in ("m", "v")]
    return [(k, s) for s in optimizer._slot_names for k in range(count)]


def read_optimizer_state(model, layers, reader):
    """Restore iterations, learning rate and slots from ``optimizer/vars`` (slots in the order
    of `layers`' trainable weights) when the model's optimizer has as many (else leave it fresh)."""
    keys = reader.group_keys("optimizer/vars")
    count = 2 + len(slot_order(model.optimizer, len(trainable_weights(layers))))
    if keys is None or sorted(keys) != sorted(str(i) for i in range(count)):
        return False
    return restore_optimizer_state(model, layers, reader, [f"optimizer/vars/{i}" for i in range(count)])


def restore_optimizer_state(model, layers, reader, paths):
    """Set the optimizer's iteration count, learning rate and slots from the datasets at `paths`
    (in Keras's order of optimizer.variables); True when done."""
    weights = trainable_weights(layers)
    order = slot_order(model.optimizer, len(weights))
    if len(paths) != 2 + len(order):
        return False
    iterations = int(reader.array(paths[0], (), np.int64))
    learning_rate = float(reader.array(paths[1], (), np.float64))
    slots = {}
    for where, (k, name) in zip(paths[2:], order):
        w = weights[k]
        slots.setdefault(k, {})[name] = reader.array(where, w.shape, w.dtype)
    optimizer = model.optimizer
    for k, named in slots.items():
        optimizer._slots[id(weights[k])] = (weights[k], named)
    optimizer.iterations = iterations
    if not callable(optimizer._learning_rate):
        optimizer.learning_rate = learning_rate
    return True


# -- writing -----------------------------------------------------------------------------
def write_keras_weights(model, file, include_optimizer=True):
    """Write the Keras 3 weights HDF5 (``model.weights.h5`` / ``.weights.h5``) to `file`."""
    h5py = require_h5py()
    with h5py.File(file, "w") as f:
        f.create_group("vars").attrs["name"] = model.name
        for (layer, shape), entry in zip(built_shapes(model), keras_paths(model.layers)):
            weights = iter(file_weights(layer))
            base = f.create_group(entry)
            base.create_group("vars").attrs["name"] = layer.name
            for group, shapes in weight_groups(layer, shape):
                g = base.require_group(group)
                for i, _ in enumerate(shapes):
                    g.create_dataset(str(i), data=next(weights))
        if include_optimizer and getattr(model, "compiled", False):
            optimizer = model.optimizer
            g = f.create_group("optimizer/vars")
            g.attrs["name"] = optimizer.name
            g.create_dataset("0", data=np.int64(optimizer.iterations))
            g.create_dataset("1", data=np.float32(optimizer.learning_rate))
            weights = trainable_weights(model.layers)
            for i, (k, name) in enumerate(slot_order(optimizer, len(weights))):
                entry = optimizer._slots.get(id(weights[k]))
                value = entry[1][name] if entry is not None and entry[0] is weights[k] else np.zeros_like(weights[k])
                g.create_dataset(str(2 + i), data=value)
