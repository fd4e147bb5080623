"""Input and Dense."""
import numpy as np

from .. import activations, initializers
from ..symbolic import Node
from ._utils import positive_int
from .base import KernelAndBias, Layer, format_shape, init_arguments


class InputLayer(Layer):
    """Declares the shape of a model's input; checks it and passes it on.  ``output`` is the
    symbolic tensor that functional models start from."""

    is_input_layer = True         # not callable on symbolic tensors: it makes one

    def __init__(self, shape=None, batch_size=None, dtype=None, name=None, batch_shape=None):
        text = dtype in ("string", "str")                  # text enters as NumPy strings
        super().__init__(name=name, dtype=None if text else dtype)
        if text:
            self.dtype = "string"
        if batch_shape is not None:
            if shape is not None or batch_size is not None:
                raise ValueError(f"Layer '{self.name}' (InputLayer): pass shape (and batch_size) or "
                                 f"batch_shape, not both")
            batch_size, shape = batch_shape[0], batch_shape[1:]
        if shape is None or isinstance(shape, (str, bytes)) or not hasattr(shape, "__iter__"):
            raise ValueError(f"Layer '{self.name}' (InputLayer): shape must be a tuple such as (None, 1) "
                             f"(the batch axis left out), received {shape!r}")
        self.shape = (batch_size,) + tuple(None if d is None else int(d) for d in shape)
        self.built = True
        self.build_input_shape = self.shape
        self.output = Node(self, [], True, self.shape).outputs[0]

    def compute_output_shape(self, input_shape=None):
        return self.shape

    def adjust_rank(self, x):
        """As Keras's functional models: one axis of size 1 more or less than the Input's shape
        is squeezed or added at the end ((batch,) ids for an Input of shape (1,), say)."""
        shape = np.shape(x)
        if len(shape) == len(self.shape) - 1 and self.shape[-1] == 1:
            return np.expand_dims(x, -1)
        if len(shape) == len(self.shape) + 1 and shape[-1] == 1:
            return np.squeeze(x, -1)
        return x

    def check_input(self, x, **_):
        if self.dtype == "string":
            arr = self.adjust_rank(np.asarray(x, dtype=object))
            if arr.ndim != len(self.shape):
                raise ValueError(f"Layer '{self.name}' (InputLayer) expects strings of shape "
                                 f"{format_shape(self.shape)}, received {arr.shape}")
            return arr
        arr = super().check_input(self.adjust_rank(x), ndim=len(self.shape))
        for k, (got, want) in enumerate(zip(arr.shape, self.shape)):
            if want is not None and got != want:
                fixed = f" (a fixed batch size of {want})" if k == 0 else ""
                raise ValueError(f"Layer '{self.name}' (InputLayer) expects shape {format_shape(self.shape)}"
                                 f"{fixed}, received {arr.shape}")
        return arr

    def call(self, x, training=False):
        return x

    def backward(self, dy):
        return dy

    def get_config(self):
        return {"shape": list(self.shape[1:]), "batch_size": self.shape[0], "dtype": self.dtype,
                "name": self.name, "batch_shape": None}


def Input(shape=None, batch_size=None, dtype=None, name=None, batch_shape=None):
    """The input of a model, a symbolic tensor: ``Input(shape=(None, 1))`` for sequences of any
    length (the batch axis left out).  Start a functional model from it, or a Sequential."""
    return InputLayer(shape, batch_size=batch_size, dtype=dtype, name=name, batch_shape=batch_shape).output


class Dense(KernelAndBias, Layer):
    """y = activation(x W + b) on the last axis, so also per time step on 3-D input.

    Backward: da = dy * activation'(y) (softmax: da = y * (dy - sum(dy * y, -1)));
    dW = x^T da;  db = sum da;  dx = da W^T.
    """

    supports_masking = True       # per-step on 3-D input, so a sequence mask still applies

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        self.units = positive_int(units, "units", self, allow_tuple=False)
        self.use_bias = bool(use_bias)
        try:
            self.activation = activations.get(activation, allow_softmax=True)
            self.kernel_initializer = initializers.get(kernel_initializer)
            self.bias_initializer = initializers.get(bias_initializer)
        except ValueError as e:
            raise ValueError(f"Layer '{self.name}' (Dense): {e}") from None

    def build(self, input_shape):
        if len(input_shape) < 2 or input_shape[-1] is None:
            raise ValueError(f"Layer '{self.name}' (Dense) expects input with a known last axis, "
                             f"received {format_shape(input_shape)}")
        self.build_kernel_and_bias((input_shape[-1], self.units))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def __call__(self, inputs, training=False):
        x = self.check_input(inputs, min_ndim=2, last_dim=self.kernel.shape[0] if self.built else None)
        self.ensure_built(x.shape)
        return self.call(x, training=training)

    def call(self, x, training=False):
        a = x @ self.kernel
        if self.use_bias:
            a += self.bias
        y = activations.apply(a, self.activation)
        self._cache = (x, y) if training else None
        return y

    def backward(self, dy):
        x, y = self.saved()
        dy = self.check_gradient(dy, y.shape)
        da = activations.backprop(y, dy, self.activation)
        da2 = da.reshape(-1, self.units)
        dW = x.reshape(-1, x.shape[-1]).T @ da2
        self.grads = [dW, da2.sum(axis=0)] if self.use_bias else [dW]
        return da @ self.kernel.T

    def get_config(self):
        config = super().get_config()
        config.update(init_arguments(self, skip=config))   # units, activation, use_bias, initializers
        return config
