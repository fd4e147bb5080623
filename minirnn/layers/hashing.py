"""``Hashing``: categorical values (strings or integers) to one of ``num_bins`` bins, as Keras.

    bin(x) = H(x) mod num_bins                       H = FarmHash Fingerprint64, or SipHash-2-4
                                                     keyed by ``salt`` (minirnn.layers.string_hash)
    with mask_value:  bin(mask_value) = 0,  bin(x) = 1 + H(x) mod (num_bins - 1)

An integer is hashed as its decimal text, a float as the decimal text of its integer part, as
Keras (which runs ``tf.strings.as_string``).  The bins come out as ``int`` (int64, the input's
shape) or encoded over ``num_bins``: ``one_hot`` (a last axis of 1 replaced by the bins),
``multi_hot`` and ``count`` (the last axis summed into the bins), in floatx.  No weights, no
gradient.
"""
import numpy as np

from .. import backend
from .base import Layer

OUTPUT_MODES = ("int", "one_hot", "multi_hot", "count")


class Hashing(Layer):
    """``Hashing(num_bins, mask_value=None, salt=None, output_mode="int", sparse=False)``
    (see the module docstring)."""

    reads_strings = True          # may be called on an Input(dtype="string")
    config_dtypes = ("int32", "int64", "float32", "float64")     # int bins, or floatx encodings

    def __init__(self, num_bins, mask_value=None, salt=None, output_mode="int", sparse=False, **kwargs):
        if kwargs.get("dtype") is None:
            kwargs["dtype"] = "int64" if output_mode == "int" else backend.floatx()
        super().__init__(**kwargs)
        what = f"Layer '{self.name}' (Hashing)"
        # Keras's wording, after the layer's name
        if isinstance(num_bins, bool) or not isinstance(num_bins, (int, np.integer)) or num_bins <= 0:
            raise ValueError(f"{what}: The `num_bins` for `Hashing` cannot be `None` or non-positive values "
                             f"(a positive integer). Received: num_bins={num_bins!r}")
        if output_mode not in OUTPUT_MODES:
            raise ValueError(f"{what}: Invalid value for argument `output_mode`. Expected one of {OUTPUT_MODES}. "
                             f"Received: output_mode={output_mode!r}")
        if output_mode == "int" and self.dtype not in ("int32", "int64"):
            raise ValueError(f"{what}: When `output_mode=\"int\"`, `dtype` should be an integer type, 'int32' "
                             f"or 'int64'. Received: dtype={self.dtype!r}")
        if sparse and output_mode == "int":
            raise ValueError(f"{what}: `sparse` may only be true if `output_mode` is \"one_hot\", \"multi_hot\" "
                             f"or \"count\". Received: sparse={sparse} and output_mode={output_mode!r}")
        if sparse:
            raise ValueError(f"{what}: sparse=True is not supported (outputs are dense NumPy arrays)")
        if salt is not None:
            from .string_hash import salt_key     # on first use: `import minirnn` stays light
            salt = salt_key(salt, what)
        self.num_bins, self.mask_value, self.salt = int(num_bins), mask_value, salt
        self.output_mode, self.sparse = output_mode, False
        self.built = True

    def _values(self, inputs):
        """The input as an array of Python values (str, or int/float), checked."""
        if hasattr(inputs, "numpy") and not isinstance(inputs, np.ndarray):
            inputs = inputs.numpy()
        arr = np.asarray(inputs, dtype=object) if isinstance(inputs, (list, tuple)) else np.asarray(inputs)
        if arr.dtype.kind == "S":
            arr = arr.astype(object)
        if arr.dtype.kind not in "biufUSO":
            raise ValueError(f"Layer '{self.name}' (Hashing) expects strings or numbers, received dtype {arr.dtype}")
        values = np.empty(arr.shape, object)
        flat = values.reshape(-1)
        for k, v in enumerate(arr.ravel()):
            if isinstance(v, bytes):
                v = v.decode("utf-8")
            elif isinstance(v, np.generic):
                v = v.item()
            if not isinstance(v, (str, int, float)):
                raise ValueError(f"Layer '{self.name}' (Hashing) expects strings or numbers, received {v!r} "
                                 f"({type(v).__name__})")
            flat[k] = v
        return values

    def __call__(self, inputs, training=False):
        self._cache = None
        values = self._values(inputs)
        if self.output_mode == "one_hot" and values.ndim and values.shape[-1] == 1:
            values = values[..., 0]
        bins = self.num_bins
        mask = None
        if self.mask_value is not None and bins > 1:        # bin 0 is the mask's
            bins -= 1
            mask = np.array([v == self.mask_value for v in values.ravel()], bool).reshape(values.shape)
        from .string_hash import hash_buckets
        indices = hash_buckets(values.ravel(), bins, self.salt).reshape(values.shape)
        if mask is not None:
            indices = np.where(mask, 0, indices + 1)
        return self._encode(indices)

    def _encode(self, indices):
        """Keras's encode_categorical_inputs of bin indices (all within [0, num_bins))."""
        if self.output_mode == "int":
            return indices.astype(self.dtype)
        if indices.ndim == 0:
            indices = indices[None]
        if self.output_mode == "one_hot":
            if indices.ndim > 1 and indices.shape[-1] == 1:
                indices = indices[..., 0]
            return np.eye(self.num_bins, dtype=self.dtype)[indices]
        one_hot = np.eye(self.num_bins, dtype=self.dtype)[indices]
        # rank 1 or 2: over the last axis (a bincount); higher ranks reduce axis 1, as Keras does
        axis = indices.ndim - 1 if indices.ndim <= 2 else 1
        return one_hot.max(axis=axis) if self.output_mode == "multi_hot" else one_hot.sum(axis=axis)

    def backward(self, dy):
        self.grads = []
        return None              # categorical inputs: no gradient to pass on

    def compute_output_shape(self, input_shape):
        if self.output_mode == "int":
            return tuple(input_shape)
        if len(input_shape) == 0:
            return (self.num_bins,)
        return tuple(input_shape)[:-1] + (self.num_bins,)

    def get_config(self):
        config = super().get_config()
        config.update(num_bins=self.num_bins, salt=self.salt, mask_value=self.mask_value,
                      output_mode=self.output_mode, sparse=False)
        return config
