"""Small helpers shared by the convolution, pooling, embedding and reshaping layers."""
import numpy as np

from .. import initializers
from ..convolution import window_padding  # noqa: F401  (the layers' padding rule)
from ..utils import is_positive_int

DATA_FORMATS = ("channels_last", "channels_first")


def serialize_initializer(initializer, layer, argument):
    """A JSON-friendly initializer config (``initializers.serialize``), or a clear error."""
    if isinstance(initializer, initializers.Initializer):
        return initializers.serialize(initializer)
    raise ValueError(f"Layer '{layer.name}' ({type(layer).__name__}): {argument}={initializer!r} is a plain "
                     f"callable and cannot be serialized; use a minirnn.initializers.Initializer")


def positive_int(value, argument, layer, allow_tuple=True):
    """An int >= 1 from an int or a 1-tuple (Keras's standardize_tuple for rank 1)."""
    if allow_tuple and isinstance(value, (tuple, list)):
        if len(value) != 1:
            raise ValueError(f"Layer '{layer.name}' ({type(layer).__name__}): {argument} must be an integer "
                             f"or a tuple of 1 integer, received {value!r}")
        value = value[0]
    if not is_positive_int(value):
        raise ValueError(f"Layer '{layer.name}' ({type(layer).__name__}): {argument} must be a positive "
                         f"integer, received {value!r}")
    return int(value)


def rate(value, argument, layer, allow_one=False):
    """A float in [0, 1) ([0, 1] with ``allow_one``): a dropout rate."""
    number = not isinstance(value, (bool, np.bool_)) and isinstance(value, (int, float, np.integer, np.floating))
    if not number or not (0 <= value <= 1 if allow_one else 0 <= value < 1):
        raise ValueError(f"Layer '{layer.name}' ({type(layer).__name__}): {argument} must be a number in "
                         f"[0, 1{']' if allow_one else ')'}, received {argument}={value!r}")
    return float(value)


def check_choice(value, choices, argument, layer):
    if isinstance(value, str) and value.lower() in choices:
        return value.lower()
    raise ValueError(f"Layer '{layer.name}' ({type(layer).__name__}): {argument} must be one of "
                     f"{choices}, received {value!r}")


def data_format(value, layer):
    return "channels_last" if value is None else check_choice(value, DATA_FORMATS, "data_format", layer)


def output_length(length, window, stride, padding, dilation=1):
    """The output length for an input length that may be None."""
    if length is None:
        return None
    return window_padding(length, window, stride, padding, dilation)[2]


def windows(xp, window, stride, dilation, out_len):
    """A read-only strided view ``v[b, t, j, c] = xp[b, t * stride + j * dilation, c]``."""
    sb, st, sc = xp.strides
    return np.lib.stride_tricks.as_strided(
        xp, shape=(xp.shape[0], out_len, window, xp.shape[2]),
        strides=(sb, st * stride, st * dilation, sc), writeable=False)


def scatter_windows(dwin, padded_length, stride, dilation):
    """The adjoint of :func:`windows`: dxp[b, t s + j d, c] += dwin[b, t, j, c] (one slice per tap j)."""
    batch, out_len, window, channels = dwin.shape
    dxp = np.zeros((batch, padded_length, channels), dwin.dtype)
    for j in range(window):
        start = j * dilation
        dxp[:, start:start + stride * (out_len - 1) + 1:stride] += dwin[:, :, j]
    return dxp


def to_channels_last(x, data_format):
    """(batch, steps, channels) from either layout (3-D inputs)."""
    return x if data_format == "channels_last" else np.ascontiguousarray(np.swapaxes(x, 1, 2))


def from_channels_last(y, data_format):
    return y if data_format == "channels_last" else np.ascontiguousarray(np.swapaxes(y, 1, 2))


def int_tuple(value, rank, argument, layer):
    """Keras's standardize_tuple: an int for every axis, or a tuple of `rank` positive ints."""
    values = tuple(value) if isinstance(value, (list, tuple)) else (value,) * rank
    if len(values) != rank:
        raise ValueError(f"Layer '{layer.name}' ({type(layer).__name__}): {argument} must be an integer or a "
                         f"tuple of {rank} integers, received {value!r}")
    return tuple(positive_int(v, argument, layer, allow_tuple=False) for v in values)


def spatial_layout(x, data_format):
    """(batch, S..., channels) from either layout."""
    return x if data_format == "channels_last" else np.ascontiguousarray(np.moveaxis(x, 1, -1))


def from_spatial_layout(y, data_format):
    return y if data_format == "channels_last" else np.ascontiguousarray(np.moveaxis(y, -1, 1))
