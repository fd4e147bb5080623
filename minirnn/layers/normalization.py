r"""BatchNormalization and LayerNormalization, Keras 3's defaults (epsilon 1e-3, axis -1).

Both normalize x over a set of axes R and scale and shift the result per feature:

    F1  mu    = mean_R(x)                         (a mask w: sum_R(w x) / n, n = sum_R w + 1e-7)
    F2  var   = mean_R((x - mu)^2)                (biased, as Keras; with a mask, weighted by w)
    F3  xhat  = (x - mu) / sqrt(var + eps)
    F4  y     = gamma * xhat + beta

Backward, with g = dy * gamma and inv = 1 / sqrt(var + eps), sums over R:

    B1  dgamma = sum(dy * xhat),   dbeta = sum(dy)        (over every axis but the features')
    B2  dvar   = -1/2 inv^3 sum(g (x - mu))
    B3  dmu    = -inv sum(g) - 2 dvar sum(w (x - mu)) / n
    B4  dx     = g inv + (2 dvar (x - mu) + dmu) w / n

Without a mask (w = 1, n = |R|) B2-B4 fold into the usual
dx = inv (g - mean(g) - xhat mean(g xhat)).

BatchNormalization: R is every axis but ``axis`` (the batch and time axes).  In
training (``training=True`` and ``trainable``) it uses the batch's mu and var and
moves its non-trainable statistics towards them:

    F5  moving_mean <- momentum moving_mean + (1 - momentum) mu       (var alike)

In inference (``training=False``, or ``trainable=False``, as Keras 3 does) it uses
the moving statistics instead: y = gamma (x - moving_mean) inv_m + beta, so
dx = g inv_m and the statistics get the gradients of constants (B2 and B3 without
the dependence of mu on x).  A mask (batch, time) keeps padded steps out of
mu and var only; every step is normalized and the mask passes on.

Batch renormalization (``renorm=True``): in training the batch-normalized values are
corrected towards the renorm statistics (renorm_mean, renorm_stddev) they move to:

    F6  r = clip(sqrt(var + eps) / max(renorm_stddev, sqrt(eps)), rmin, rmax)
        d = clip((mu - renorm_mean) / max(renorm_stddev, sqrt(eps)), -dmax, dmax)
    F7  y = gamma (r xhat + d) + beta                         (r, d constants of x, as Keras)
    F8  renorm_mean <- rm renorm_mean + (1 - rm) mu,  renorm_stddev alike with sqrt(var + eps)
        moving_mean as F5, moving_stddev alike with sqrt(var + eps),
        moving_variance = max(moving_stddev^2 - eps, 0)

so B1 becomes dgamma = sum(dy (r xhat + d)) and B2-B4 take g = dy gamma r.  Inference is
unchanged (the moving mean and variance).

LayerNormalization: R is ``axis`` (the features), per sample and step; gamma and
beta have the shape of those axes.  It has no statistics to keep and no mask of
its own (the mask passes on).
"""
import numpy as np

from .. import initializers
from .base import Layer, format_shape

KERAS_EPSILON = 1e-7        # keras.backend.epsilon(): Keras adds it to a masked count


def _initializer(value, argument, layer):
    try:
        return initializers.get(value)
    except ValueError as e:
        raise ValueError(f"Layer '{layer.name}' ({type(layer).__name__}): {argument}: {e}") from None


def _float(value, argument, layer, low=0.0, high=None):
    number = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))
    if not number or not (value >= low and (high is None or value <= high)):
        bounds = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise ValueError(f"Layer '{layer.name}' ({type(layer).__name__}): {argument} must be a number "
                         f"{bounds}, received {value!r}")
    return float(value)


def feature_axes(axis, layer):
    """(axis as the config keeps it, the axes as a tuple of ints) from an int or a list/tuple of ints."""
    axes = list(axis) if isinstance(axis, (list, tuple)) else [axis]
    if not axes or not all(isinstance(a, (int, np.integer)) and not isinstance(a, (bool, np.bool_)) for a in axes):
        raise TypeError(f"Layer '{layer.name}' ({type(layer).__name__}): Expected an int or a list/tuple of ints "
                        f"for the argument 'axis', received {axis!r}")
    return ([int(a) for a in axis] if isinstance(axis, (list, tuple)) else int(axis)), tuple(int(a) for a in axes)


def _moments_backward(g, d, inv, axes, w=None, n=None):
    """dx through F1-F3 (B2-B4) from g = dy * gamma, d = x - mu and inv, the moments taken
    over `axes` (weighted by the mask w with count n, if given)."""
    dvar = -0.5 * inv ** 3 * np.sum(g * d, axis=axes, keepdims=True)                       # B2
    if w is None:
        n = int(np.prod([d.shape[a] for a in axes]))
        dmu = -inv * np.sum(g, axis=axes, keepdims=True)                                     # B3 (sum d = 0)
        return g * inv + (2 * dvar * d + dmu) / n                                             # B4
    dmu = -inv * np.sum(g, axis=axes, keepdims=True) - 2 * dvar * np.sum(w * d, axis=axes, keepdims=True) / n
    return g * inv + (2 * dvar * d + dmu) * w / n


class _Normalization(Layer):
    """What the normalization layers share: gamma/beta by ``scale``/``center``, the parameter shape."""

    supports_masking = True
    follows_rank = False          # True: a built layer takes inputs of another rank with the same axis sizes

    def _check_axes(self, ndim):
        """The feature axes as non-negative, sorted ints for input of rank `ndim`."""
        if not all(-ndim <= a < ndim for a in self.axes):
            raise ValueError(f"Layer '{self.name}' ({type(self).__name__}): axis={self.axis!r} is out of "
                             f"bounds for input of rank {ndim}")
        return sorted({a % ndim for a in self.axes})

    @property
    def _has_gamma(self):
        return self.scale

    @property
    def _has_beta(self):
        return self.center

    def _param(self, initializer, shape):
        return np.asarray(initializer(shape, dtype=self.dtype), self.dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def __call__(self, inputs, training=False, mask=None):
        x = self.check_input(inputs, min_ndim=1)
        if self.built and x.ndim != self.input_rank:
            if not self.follows_rank:
                raise ValueError(f"Layer '{self.name}' ({type(self).__name__}) expects input of rank "
                                 f"{self.input_rank}, received shape {x.shape}")
            self._follow_rank(x)
        self.ensure_built(x.shape)
        for a, size in zip(self.param_axes, self.param_shape):
            if x.shape[a] != size:
                raise ValueError(f"Layer '{self.name}' ({type(self).__name__}) expects {size} features on "
                                 f"axis {a}, received shape {x.shape}")
        return self.call(x, training=training, mask=mask)

    def _follow_rank(self, x):
        """Re-aim a built layer at input `x` of another rank: the axes as given, the same sizes."""
        axes = self._check_axes(x.ndim)
        shape = tuple(x.shape[a] for a in axes)
        if shape != self.param_shape:
            raise ValueError(f"Layer '{self.name}' ({type(self).__name__}) expects sizes {self.param_shape} on "
                             f"axis {self.axis!r}, received shape {x.shape}")
        self.input_rank, self.param_axes = x.ndim, tuple(axes)
        self.reduce_axes = tuple(a for a in range(x.ndim) if a not in axes)

    def _build_params(self, input_shape, param_axes):
        shape = tuple(input_shape[a] for a in param_axes)
        if any(s is None for s in shape):
            raise ValueError(f"Layer '{self.name}' ({type(self).__name__}) needs known sizes on axis "
                             f"{self.axis!r}, received input shape {format_shape(input_shape)}")
        self.input_rank = len(input_shape)
        self.param_axes, self.param_shape = tuple(param_axes), shape
        self.reduce_axes = tuple(a for a in range(len(input_shape)) if a not in param_axes)
        self.gamma = self._param(self.gamma_initializer, shape) if self._has_gamma else None
        self.beta = self._param(self.beta_initializer, shape) if self._has_beta else None

    def broadcast(self, p):
        """A (features...) parameter shaped to broadcast against the input."""
        shape = [1] * self.input_rank
        for a, size in zip(self.param_axes, self.param_shape):
            shape[a] = size
        return p.reshape(shape)

    def _affine(self, xhat):
        y = xhat * self.broadcast(self.gamma) if self._has_gamma else xhat.copy()
        if self._has_beta:
            y += self.broadcast(self.beta)
        return y

    def _affine_grads(self, dy, xhat, axes):
        """[dgamma, dbeta] (B1) for the parameters the layer has."""
        grads = []
        if self._has_gamma:
            grads.append(np.sum(dy * xhat, axis=axes).reshape(self.param_shape))
        if self._has_beta:
            grads.append(np.sum(dy, axis=axes).reshape(self.param_shape))
        return grads

    def _g(self, dy):
        return dy * self.broadcast(self.gamma) if self._has_gamma else dy

    def _config(self, *names):
        config = super().get_config()
        for name in names:
            value = getattr(self, name)
            config[name] = initializers.serialize(value) if name.endswith("_initializer") else value
        return config


class BatchNormalization(_Normalization):
    """``BatchNormalization(axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True,
    beta_initializer="zeros", gamma_initializer="ones", moving_mean_initializer="zeros",
    moving_variance_initializer="ones")``.

    Weights (Keras's order): gamma, beta (trainable), moving_mean, moving_variance (not
    trainable).  Batch statistics when called with ``training=True`` on a trainable layer,
    moving statistics otherwise; ``mask=`` (the input's shape without its last axis) leaves
    masked positions out of the batch statistics."""

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones", moving_mean_initializer="zeros",
                 moving_variance_initializer="ones", synchronized=False, renorm=False, renorm_clipping=None,
                 renorm_momentum=0.99, **kwargs):
        super().__init__(**kwargs)
        self.renorm = bool(renorm)
        if self.renorm:
            renorm_clipping = dict(renorm_clipping or {})
            bad = set(renorm_clipping) - {"rmax", "rmin", "dmax"}
            if bad:
                raise ValueError(f"Layer '{self.name}' (BatchNormalization): Received invalid keys for "
                                 f"`renorm_clipping` argument: {sorted(bad)}; supported: rmax, rmin, dmax")
            for key, value in renorm_clipping.items():
                if value is not None:
                    renorm_clipping[key] = _float(value, f"renorm_clipping[{key!r}]", self, low=-np.inf)
            rmax, rmin, dmax = (renorm_clipping.get(k) for k in ("rmax", "rmin", "dmax"))
            if rmax is not None and rmin is not None and rmax < rmin:
                raise ValueError(f"Layer '{self.name}' (BatchNormalization): rmax should be greater than rmin in "
                                 f"renorm_clipping, received rmax={rmax}, rmin={rmin}")
            if dmax is not None and dmax < 0:
                raise ValueError(f"Layer '{self.name}' (BatchNormalization): dmax should be non-negative in "
                                 f"renorm_clipping, received dmax={dmax}")
        self.renorm_clipping = renorm_clipping
        self.renorm_momentum = _float(renorm_momentum, "renorm_momentum", self, 0.0, 1.0)
        self.synchronized = bool(synchronized)         # across devices in Keras: one process has one
        if isinstance(axis, (list, tuple)) and len(axis) == 1:
            axis = axis[0]
        if not isinstance(axis, (int, np.integer)) or isinstance(axis, bool):
            raise ValueError(f"Layer '{self.name}' (BatchNormalization): axis must be an integer, "
                             f"received {axis!r}")
        self.axis = int(axis)
        self.axes = (self.axis,)
        self.momentum = _float(momentum, "momentum", self, 0.0, 1.0)
        self.epsilon = _float(epsilon, "epsilon", self)
        self.center, self.scale = bool(center), bool(scale)
        self.beta_initializer = _initializer(beta_initializer, "beta_initializer", self)
        self.gamma_initializer = _initializer(gamma_initializer, "gamma_initializer", self)
        self.moving_mean_initializer = _initializer(moving_mean_initializer, "moving_mean_initializer", self)
        self.moving_variance_initializer = _initializer(moving_variance_initializer,
                                                        "moving_variance_initializer", self)

    def build(self, input_shape):
        self._build_params(input_shape, self._check_axes(len(input_shape)))
        self.moving_mean = self._param(self.moving_mean_initializer, self.param_shape)
        self.moving_variance = self._param(self.moving_variance_initializer, self.param_shape)
        if self.renorm:                   # Keras's order; the stddevs start at sqrt(moving_variance_initializer)
            self.moving_stddev = np.sqrt(self._param(self.moving_variance_initializer, self.param_shape))
            self.renorm_mean = self._param(self.moving_mean_initializer, self.param_shape)
            self.renorm_stddev = np.sqrt(self._param(self.moving_variance_initializer, self.param_shape))
        self.built = True

    @property
    def _statistics(self):
        extra = [self.moving_stddev, self.renorm_mean, self.renorm_stddev] if self.renorm else []
        return [self.moving_mean, self.moving_variance] + extra

    @property
    def weights(self):
        if not self.built:
            return []
        return [w for w in (self.gamma, self.beta) if w is not None] + self._statistics

    @property
    def trainable_weights(self):
        return self.weights[:-len(self._statistics)] if self.trainable else []

    @property
    def non_trainable_weights(self):
        return self.weights[-len(self._statistics):] if self.trainable else self.weights

    def weight_shapes(self, input_shape):
        """The shapes of :attr:`weights` for `input_shape`, without building."""
        size = input_shape[self._check_axes(len(input_shape))[0]]
        return [(size,)] * (int(self.scale) + int(self.center) + (5 if self.renorm else 2))

    def _mask_weights(self, mask, x):
        mask = np.asarray(mask)
        if mask.ndim != x.ndim - 1 or any(m not in (1, n) for m, n in zip(mask.shape, x.shape)):
            raise ValueError(f"Layer '{self.name}' (BatchNormalization) expects a mask of shape "
                             f"{x.shape[:-1]} (the input's without its last axis; sizes of 1 broadcast), "
                             f"received {mask.shape}")
        if mask.dtype.kind not in "biuf":
            raise ValueError(f"Layer '{self.name}' (BatchNormalization) expects a numeric or boolean mask, "
                             f"received dtype {mask.dtype}")
        return np.broadcast_to(mask.astype(bool)[..., None], x.shape).astype(self.dtype)

    def call(self, x, training=False, mask=None):
        axes = self.reduce_axes
        if training and self.trainable:
            if mask is None:
                w = n = None
                mu = x.mean(axis=axes, keepdims=True)                                  # F1
                d = x - mu
                var = np.mean(d * d, axis=axes, keepdims=True)                         # F2
            else:
                w = self._mask_weights(mask, x)
                n = np.sum(w, axis=axes, keepdims=True) + KERAS_EPSILON
                mu = np.sum(w * x, axis=axes, keepdims=True) / n                       # F1
                d = x - mu
                var = np.sum(w * d * d, axis=axes, keepdims=True) / n                 # F2
            correction = self._renorm(mu, var) if self.renorm else None                # F6, F8
            if not self.renorm:
                m = np.dtype(self.dtype).type(self.momentum)
                self.moving_mean *= m                                                  # F5
                self.moving_mean += (1 - m) * mu.reshape(self.param_shape)
                self.moving_variance *= m
                self.moving_variance += (1 - m) * var.reshape(self.param_shape)
            batch_stats = True
        else:
            d = x - self.broadcast(self.moving_mean)
            var, w, n, batch_stats = self.broadcast(self.moving_variance), None, None, False
            correction = None
        inv = 1 / np.sqrt(var + np.dtype(self.dtype).type(self.epsilon))
        xhat = d * inv                                                                  # F3
        z = xhat if correction is None else correction[0] * xhat + correction[1]       # F7
        y = self._affine(z)                                                             # F4
        self._cache = (d, inv, z, w, n, batch_stats, correction) if training else None
        return y

    def _renorm(self, mu, var):
        """r and d (F6) from the renorm statistics before this batch; then every statistic moves (F8)."""
        f = np.dtype(self.dtype).type
        eps, clip = f(self.epsilon), self.renorm_clipping
        std = np.sqrt(var + eps)
        renorm_std = np.maximum(self.broadcast(self.renorm_stddev), np.sqrt(eps))
        r = std / renorm_std
        d = (mu - self.broadcast(self.renorm_mean)) / renorm_std
        if clip.get("rmin") is not None:
            r = np.maximum(r, f(clip["rmin"]))
        if clip.get("rmax") is not None:
            r = np.minimum(r, f(clip["rmax"]))
        if clip.get("dmax") is not None:
            d = np.clip(d, -f(clip["dmax"]), f(clip["dmax"]))
        rm, m = f(self.renorm_momentum), f(self.momentum)
        for stat, value, momentum in ((self.renorm_mean, mu, rm), (self.renorm_stddev, std, rm),
                                      (self.moving_mean, mu, m), (self.moving_stddev, std, m)):
            stat *= momentum
            stat += (1 - momentum) * value.reshape(self.param_shape)
        self.moving_variance[...] = np.maximum(self.moving_stddev ** 2 - eps, 0)
        return r, d

    def backward(self, dy):
        d, inv, z, w, n, batch_stats, correction = self.saved()
        dy = self.check_gradient(dy, d.shape)
        axes = self.reduce_axes
        g = self._g(dy)
        grads = self._affine_grads(dy, z, axes)                                        # B1
        zeros = [np.zeros(self.param_shape, self.dtype) for _ in self._statistics[2:]]
        if batch_stats:
            stats = [np.zeros(self.param_shape, self.dtype) for _ in range(2)]
            self.grads = grads + stats + zeros             # the output does not depend on them
            if correction is not None:
                g = g * correction[0]                      # r is a constant of x
            return _moments_backward(g, d, inv, axes, w, n)                       # B2-B4
        dmean = -np.sum(g * inv, axis=axes)               # the moving statistics are constants of x
        dvar = -0.5 * np.sum(g * d * inv ** 3, axis=axes)
        self.grads = grads + [dmean.reshape(self.param_shape), dvar.reshape(self.param_shape)] + zeros
        return g * inv

    def get_config(self):
        return self._config("axis", "momentum", "epsilon", "center", "scale", "beta_initializer",
                            "gamma_initializer", "moving_mean_initializer", "moving_variance_initializer",
                            "synchronized", "renorm", "renorm_clipping", "renorm_momentum")


class LayerNormalization(_Normalization):
    """``LayerNormalization(axis=-1, epsilon=1e-3, center=True, scale=True, rms_scaling=False,
    beta_initializer="zeros", gamma_initializer="ones")``: each sample (and step) normalized
    over ``axis`` (an int or a list of ints); gamma and beta have those axes' shape.  The axes
    are kept as given, so a layer built on one rank takes inputs of another (as Keras).

    ``rms_scaling=True`` (Keras's deprecated variant, kept for its files) scales x itself by
    the inverse standard deviation, with gamma and no beta:

        F3r y = gamma * x * inv
        B4r dx = g inv - inv^3 (x - mu) sum_R(g x) / n        (dvar = -1/2 inv^3 sum_R(g x))"""

    follows_rank = True

    def __init__(self, axis=-1, epsilon=1e-3, center=True, scale=True, rms_scaling=False,
                 beta_initializer="zeros", gamma_initializer="ones", **kwargs):
        super().__init__(**kwargs)
        self.axis, self.axes = feature_axes(axis, self)
        self.epsilon = _float(epsilon, "epsilon", self)
        self.center, self.scale, self.rms_scaling = bool(center), bool(scale), bool(rms_scaling)
        self.beta_initializer = _initializer(beta_initializer, "beta_initializer", self)
        self.gamma_initializer = _initializer(gamma_initializer, "gamma_initializer", self)

    @property
    def _has_gamma(self):
        return self.scale or self.rms_scaling

    @property
    def _has_beta(self):
        return self.center and not self.rms_scaling

    def build(self, input_shape):
        self._build_params(input_shape, self._check_axes(len(input_shape)))
        self.built = True

    @property
    def weights(self):
        return [w for w in (self.gamma, self.beta) if w is not None] if self.built else []

    def weight_shapes(self, input_shape):
        shape = tuple(input_shape[a] for a in self._check_axes(len(input_shape)))
        return [shape] * (int(self._has_gamma) + int(self._has_beta))

    def call(self, x, training=False, mask=None):
        axes = self.param_axes                           # normalized over the feature axes
        mu = x.mean(axis=axes, keepdims=True)                                           # F1
        d = x - mu
        var = np.mean(d * d, axis=axes, keepdims=True)                                  # F2
        inv = 1 / np.sqrt(var + np.dtype(self.dtype).type(self.epsilon))
        xhat = (x if self.rms_scaling else d) * inv                                     # F3 (F3r)
        self._cache = (x, d, inv, xhat) if training else None
        return self._affine(xhat)                                                       # F4

    def backward(self, dy):
        x, d, inv, xhat = self.saved()
        dy = self.check_gradient(dy, d.shape)
        self.grads = self._affine_grads(dy, xhat, self.reduce_axes)                    # B1
        g, axes = self._g(dy), self.param_axes
        if self.rms_scaling:
            n = int(np.prod([d.shape[a] for a in axes]))
            return g * inv - inv ** 3 * d * np.sum(g * x, axis=axes, keepdims=True) / n    # B4r
        return _moments_backward(g, d, inv, axes)                                 # B2-B4

    def get_config(self):
        return self._config("axis", "epsilon", "center", "scale", "rms_scaling", "beta_initializer",
                            "gamma_initializer")
