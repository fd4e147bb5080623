r"""GroupNormalization, RMSNormalization and UnitNormalization: each sample normalized on its own
(no batch statistics, nothing moves in training), Keras 3's arguments and defaults.

GroupNormalization(groups=G, axis=a): the C channels on axis a split into G groups of C/G
consecutive channels; each sample's group is normalized over its channels and every other
non-batch axis (the set R), then scaled and shifted per channel:

    G1  mu = mean_R(x),  var = mean_R((x - mu)^2)              (per sample and group)
    G2  y  = gamma (x - mu) / sqrt(var + eps) + beta          (epsilon 1e-3)

and the backward pass is that of LayerNormalization (normalization.py, B1-B4) on the grouped
view.  ``groups=-1`` is one channel a group (instance normalization), ``groups=1`` is
LayerNormalization over every non-batch axis.  A mask passes through, unused, as in Keras.

RMSNormalization(axis): no centring, one weight ``scale`` of the axes' sizes (ones), R = axis:

    R1  r  = 1 / sqrt(mean_R(x^2) + eps)                      (epsilon 1e-6)
    R2  y  = scale * x * r
    R3  dscale = sum(dy x r) over the other axes,  dx = g r - r^3 x sum_R(g x) / n,  g = dy scale

UnitNormalization(axis): each sample scaled to unit L2 norm over R = axis, no weights:

    U1  s = 1 / sqrt(sum_R(x^2)),  c = min(s, 1e12)            (Keras's epsilon 1e-12 bounds it)
    U2  y = x c
    U3  dx = dy s - s^3 x sum_R(dy x)      where s < 1e12 (else c is a constant: dx = dy 1e12)
"""
import numpy as np

from .. import initializers
from .base import Layer, format_shape
from .normalization import _float, _initializer, _moments_backward, _Normalization, feature_axes

UNIT_EPSILON = 1e-12        # Keras's UnitNormalization: ops.normalize(..., epsilon=1e-12)


class GroupNormalization(_Normalization):
    """``GroupNormalization(groups=32, axis=-1, epsilon=1e-3, center=True, scale=True,
    beta_initializer="zeros", gamma_initializer="ones")``, with ``gamma_/beta_regularizer`` and
    ``_constraint`` as every layer takes them.  Weights (Keras's order): gamma, beta, each (C,).
    ``groups=-1`` becomes C when the layer is built (as Keras, its config then says C)."""

    def __init__(self, groups=32, axis=-1, epsilon=1e-3, center=True, scale=True, beta_initializer="zeros",
                 gamma_initializer="ones", **kwargs):
        super().__init__(**kwargs)
        if (not isinstance(groups, (int, np.integer)) or isinstance(groups, (bool, np.bool_))
                or (groups <= 0 and groups != -1)):
            raise ValueError(f"Layer '{self.name}' (GroupNormalization): Received an invalid value for argument "
                             f"`groups`, expected a positive integer (or `-1` for instance normalization). "
                             f"Received: groups={groups!r}")
        if isinstance(axis, (list, tuple)) and len(axis) == 1:
            axis = axis[0]
        if not isinstance(axis, (int, np.integer)) or isinstance(axis, (bool, np.bool_)):
            raise TypeError(f"Layer '{self.name}' (GroupNormalization): axis must be one integer (the channels' "
                            f"axis), received {axis!r}")
        self.groups, self.axis, self.axes = int(groups), int(axis), (int(axis),)
        self.epsilon = _float(epsilon, "epsilon", self)
        self.center, self.scale = bool(center), bool(scale)
        self.beta_initializer = _initializer(beta_initializer, "beta_initializer", self)
        self.gamma_initializer = _initializer(gamma_initializer, "gamma_initializer", self)

    def _channels(self, input_shape):
        """(channel axis as a non-negative int, its size), checked as Keras checks them."""
        k = self._check_axes(len(input_shape))[0]
        what = f"Layer '{self.name}' (GroupNormalization)"
        if k == 0:
            raise ValueError(f"{what}: axis={self.axis} is the batch axis of input of shape "
                             f"{format_shape(input_shape)}; the channels' axis must be another")
        dim = input_shape[k]
        if dim is None:
            raise ValueError(f"{what}: Axis {self.axis} of input tensor should have a defined dimension but the "
                             f"layer received an input with shape {format_shape(input_shape)}.")
        groups = dim if self.groups == -1 else self.groups
        if dim < groups:
            raise ValueError(f"{what}: Number of groups ({groups}) cannot be more than the number of channels "
                             f"({dim}).")
        if dim % groups:
            raise ValueError(f"{what}: Number of groups ({groups}) must be a multiple of the number of channels "
                             f"({dim}): the {dim} channels do not split into {groups} equal groups.")
        return k, dim, groups

    def build(self, input_shape):
        k, _, self.groups = self._channels(input_shape)
        self._build_params(input_shape, [k])
        # the grouped view (..., G, C/G, ...) has one more axis; R is every axis but the batch and G
        self.group_axes = tuple(a for a in range(1, len(input_shape) + 1) if a != k)
        self.built = True

    @property
    def weights(self):
        return [w for w in (self.gamma, self.beta) if w is not None] if self.built else []

    def weight_shapes(self, input_shape):
        _, dim, _ = self._channels(input_shape)
        return [(dim,)] * (int(self.scale) + int(self.center))

    def _grouped(self, a):
        """(..., C, ...) -> (..., G, C/G, ...)."""
        k = self.param_axes[0]
        return a.reshape(a.shape[:k] + (self.groups, a.shape[k] // self.groups) + a.shape[k + 1:])

    def call(self, x, training=False, mask=None):
        xg = self._grouped(x)
        mu = xg.mean(axis=self.group_axes, keepdims=True)                              # G1
        d = xg - mu
        var = np.mean(d * d, axis=self.group_axes, keepdims=True)
        inv = 1 / np.sqrt(var + np.dtype(self.dtype).type(self.epsilon))
        xhat = (d * inv).reshape(x.shape)
        self._cache = (d, inv, xhat) if training else None
        return self._affine(xhat)                                                      # G2

    def backward(self, dy):
        d, inv, xhat = self.saved()
        dy = self.check_gradient(dy, xhat.shape)
        self.grads = self._affine_grads(dy, xhat, self.reduce_axes)                   # B1
        dx = _moments_backward(self._grouped(self._g(dy)), d, inv, self.group_axes)     # B2-B4 per group
        return dx.reshape(dy.shape)

    def get_config(self):
        return self._config("groups", "axis", "epsilon", "center", "scale", "beta_initializer",
                            "gamma_initializer")


class RMSNormalization(_Normalization):
    """``RMSNormalization(axis=-1, epsilon=1e-6)``: one weight, ``scale`` (the sizes of ``axis``,
    an int or a list of ints; ones).  Same as Keras, except that ``scale`` multiplies along the
    named axes (Keras multiplies it aligned to the last axes, which is the same for trailing axes
    and fails or mixes axes for others)."""

    supports_masking = False          # as Keras's
    follows_rank = True

    def __init__(self, axis=-1, epsilon=1e-6, **kwargs):
        super().__init__(**kwargs)
        self.axis, self.axes = feature_axes(axis, self)
        self.epsilon = _float(epsilon, "epsilon", self)
        self.gamma_initializer = initializers.get("ones")

    _has_gamma = True                 # the weight is gamma of _Normalization, named scale as in Keras
    _has_beta = False

    @property
    def scale(self):
        """The weight (Keras's name), None until built."""
        return self.gamma if self.built else None

    def build(self, input_shape):
        self._build_params(input_shape, self._check_axes(len(input_shape)))
        self.built = True

    @property
    def weights(self):
        return [self.gamma] if self.built else []

    def weight_shapes(self, input_shape):
        return [tuple(input_shape[a] for a in self._check_axes(len(input_shape)))]

    def call(self, x, training=False, mask=None):
        axes = self.param_axes
        r = 1 / np.sqrt(np.mean(x * x, axis=axes, keepdims=True) + np.dtype(self.dtype).type(self.epsilon))  # R1
        xhat = x * r
        self._cache = (x, r, xhat) if training else None
        return self._affine(xhat)                                                       # R2

    def backward(self, dy):
        x, r, xhat = self.saved()
        dy = self.check_gradient(dy, x.shape)
        self.grads = self._affine_grads(dy, xhat, self.reduce_axes)                    # R3
        g, axes = self._g(dy), self.param_axes
        n = int(np.prod([x.shape[a] for a in axes]))
        return g * r - r ** 3 * x * np.sum(g * x, axis=axes, keepdims=True) / n

    def get_config(self):
        return self._config("axis", "epsilon")


class UnitNormalization(Layer):
    """``UnitNormalization(axis=-1)``: each sample divided by its L2 norm over ``axis`` (an int or
    a list/tuple of ints); no weights, any rank, masks pass through."""

    supports_masking = True

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        items = list(axis) if isinstance(axis, (list, tuple)) else [axis]
        if not items or not all(isinstance(a, (int, np.integer)) and not isinstance(a, (bool, np.bool_))
                                for a in items):
            raise TypeError(f"Layer '{self.name}' (UnitNormalization): Invalid value for `axis` argument: "
                            f"expected an int or a list/tuple of ints. Received: axis={axis!r}")
        self.axis = [int(a) for a in items] if isinstance(axis, (list, tuple)) else int(axis)
        self.built = True                       # nothing to build, as Keras's (built at construction)

    def _axes(self, ndim):
        axes = self.axis if isinstance(self.axis, list) else [self.axis]
        if not all(-ndim <= a < ndim for a in axes):
            raise ValueError(f"Layer '{self.name}' (UnitNormalization): Axis {self.axis} is out of bounds for "
                             f"input of rank {ndim}")
        return tuple(sorted({a % ndim for a in axes}))

    def compute_output_shape(self, input_shape):
        self._axes(len(input_shape))
        return tuple(input_shape)

    def __call__(self, inputs, training=False, mask=None):
        x = self.check_input(inputs, min_ndim=1)
        self.ensure_built(x.shape)                  # records the first shape, for saving
        return self.call(x, training=training)

    def call(self, x, training=False):
        axes = self._axes(x.ndim)
        with np.errstate(divide="ignore"):                     # a zero sample: s = inf, clipped (U1)
            s = 1 / np.sqrt(np.sum(x * x, axis=axes, keepdims=True))
        bound = np.dtype(self.dtype).type(1 / UNIT_EPSILON)
        c = np.minimum(s, bound)
        self._cache = (x, s, c < s, axes) if training else None
        return x * c                                                                     # U2

    def backward(self, dy):
        x, s, clipped, axes = self.saved()
        dy = self.check_gradient(dy, x.shape)
        self.grads = []
        s_free = np.where(clipped, 0, s)                   # where clipped, c is a constant
        dx = dy * np.where(clipped, np.dtype(self.dtype).type(1 / UNIT_EPSILON), s_free)
        return dx - s_free ** 3 * x * np.sum(dy * x, axis=axes, keepdims=True)          # U3

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}
