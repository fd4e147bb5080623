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

from .. import activations, backend, budget, initializers, parallel, registry
from ..symbolic import call_symbolic
from ..utils import format_shape  # noqa: F401  (layers import it from here)

_name_counts = defaultdict(int)
_checks = threading.local()      # .trusted: inputs come from a model that checked its own inputs


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
        return call(self, inputs, *args, **kwargs)
    __call__.symbolic_aware = True
    return __call__


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

    def __init__(self, name=None, dtype=None, input_shape=None, trainable=True):
        self.name = name or unique_name(snake_case(type(self).__name__))
        self.dtype = np.dtype(dtype or backend.floatx()).name
        self.trainable = trainable
        self.built = False
        self.input_shape_hint = None if input_shape is None else (None,) + tuple(input_shape)
        self.grads = None
        self._cache = None
        self._inbound_nodes = []      # the calls on symbolic tensors (functional graph nodes)
        budget.charge(budget.LAYER_BYTES, f"Layer '{self.name}' ({type(self).__name__})")   # while loading

    # -- building and shapes -------------------------------------------------
    def build(self, input_shape):
        """Create the weights for inputs of `input_shape` (batch axis first)."""
        self.built = True

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

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

    # -- weights -------------------------------------------------------------
    @property
    def weights(self):
        """The weight arrays themselves (updated in place by optimizers)."""
        return []

    @property
    def trainable_weights(self):
        return self.weights if self.trainable else []

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
    @symbolic_aware
    def __call__(self, inputs, training=False, **kwargs):
        inputs = self.check_input(inputs)
        self.ensure_built(inputs.shape)
        return self.call(inputs, training=training, **kwargs)

    def call(self, inputs, training=False):
        raise NotImplementedError

    def backward(self, dy):
        """dL/dx from dL/dy; weight gradients go to ``self.grads``."""
        raise NotImplementedError(f"Layer '{self.name}' ({type(self).__name__}) has no backward pass")

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
    def check_input(self, x, min_ndim=None, ndim=None, last_dim=None, allow_non_finite=False):
        """`x` as an array of the layer's dtype, or a ValueError that says why not."""
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
        arr = np.ascontiguousarray(arr, dtype=self.dtype)
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
        the layer (without its weights).  Subclasses add their own arguments."""
        hint = self.input_shape_hint
        return {"name": self.name, "dtype": self.dtype, "trainable": self.trainable,
                "input_shape": None if hint is None else list(hint[1:])}

    @classmethod
    def from_config(cls, config):
        """A new, unbuilt layer from :meth:`get_config`'s output."""
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"


registry.register_base("layer", Layer)


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
