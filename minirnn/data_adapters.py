"""What ``fit`` / ``evaluate`` / ``predict`` accept as data, as one iterable of ``(x, y)`` batches.

    adapter = get_data_adapter(x, y, batch_size=32, shuffle=True, what="fit")
    for epoch in range(epochs):
        if epoch and adapter.exhausted:          # a generator that has ended
            adapter.warn_ran_out()
            break
        for x_batch, y_batch in adapter:         # one epoch
            ...

Sources, as Keras takes them:

==================================  =========================================================
arrays (``x``, ``y``)               batches of ``batch_size`` (32), reshuffled every epoch
lists / tuples / dicts of arrays    several inputs or outputs, batched alike
a dataset of batches                minirnn's datasets (``windowed_dataset``,
                                    ``timeseries_dataset_from_array``), anything re-iterable,
                                    ``tf.data`` datasets (tensors become arrays); ``len()`` may
                                    be unknown (``TypeError``): the epoch lasts until it ends
``PyDataset`` (or Keras's)          ``dataset[i]`` for i < ``len(dataset)`` (shuffled order with
                                    ``shuffle``), ``on_epoch_begin`` / ``on_epoch_end`` around it
a generator or iterator             single pass: with ``steps_per_epoch`` one iterator runs
                                    across epochs; without it the first epoch uses it up
==================================  =========================================================

A dataset element is ``(x, y)``, ``(x,)`` or ``x`` (Keras's unpacking; lists count as tuples);
``x`` alone is fine for ``predict`` and an error for ``fit`` / ``evaluate``.  Every batch is
checked at this boundary: numbers only (strings and objects are refused, not parsed), no NaN
or inf, inputs and targets with the same number of samples.  Same as Keras, except: sample
weights (a third element) are refused, and the ``steps_per_epoch`` "ran out of data" case of a
re-iterable source warns and starts a fresh pass at the next epoch, as Keras does.
"""
import itertools
import math
import numbers
import warnings

import numpy as np

from .utils import PyDataset, get_rng, is_positive_int

RAN_OUT = ("Your input ran out of data; interrupting training. Make sure that your dataset or generator "
           "can generate at least `steps_per_epoch * epochs` batches. You may need to use the `.repeat()` "
           "function when building your dataset.")
WHATS = ("fit", "evaluate", "predict")


# -- argument checks (Keras's fit/evaluate/predict arguments) ----------------------------------
def _label(what, owner=None):
    return f"Model '{owner}' {what}()" if owner else f"{what}()"


def check_positive_int(value, argument, what="fit", owner=None, allow_none=True):
    """``value`` as an int >= 1 (or None when allowed), else an error naming ``argument``."""
    if value is None and allow_none:
        return None
    if not is_positive_int(value):
        raise ValueError(f"{_label(what, owner)}: {argument} must be a positive integer, "
                         f"received {argument}={value!r}")
    return int(value)


def check_epochs(epochs, initial_epoch=0, what="fit", owner=None):
    """``(epochs, initial_epoch)`` as ints, 0 <= initial_epoch."""
    epochs = check_positive_int(epochs, "epochs", what, owner, allow_none=False)
    if isinstance(initial_epoch, bool) or not isinstance(initial_epoch, numbers.Integral) or initial_epoch < 0:
        raise ValueError(f"{_label(what, owner)}: initial_epoch must be an integer >= 0, "
                         f"received initial_epoch={initial_epoch!r}")
    return epochs, int(initial_epoch)


def check_verbose(verbose, what="fit", owner=None):
    """Keras's ``verbose``: "auto" (= 1), 0 (silent), 1 (progress bar) or 2 (one line per epoch)."""
    if verbose == "auto":
        return 1
    if isinstance(verbose, (numbers.Integral, np.bool_)) and int(verbose) in (0, 1, 2):
        return int(verbose)
    raise ValueError(f"{_label(what, owner)}: verbose must be 'auto', 0, 1 or 2, received verbose={verbose!r}")


# -- one leaf: a numeric array ------------------------------------------------------------------
def _numeric(value, role, label):
    """``value`` as a numeric ndarray, or an error naming ``role`` ("inputs", "targets")."""
    arr = value if isinstance(value, np.ndarray) else np.asarray(value)
    if role == "inputs" and arr.ndim and (arr.dtype.kind in "SU" or (
            arr.dtype.kind == "O" and arr.size and all(isinstance(v, (str, bytes)) for v in arr.ravel()))):
        return arr                # text (str, or bytes as tf.string holds it) for Input(dtype="string")
    if arr.dtype.kind not in "biuf":
        hint = (" Strings are not parsed: turn them into numbers first (e.g. a vocabulary lookup)."
                if arr.dtype.kind in "SUO" else "")
        raise ValueError(f"{label}: {role} must be numbers (bool, int or float), received dtype "
                         f"{arr.dtype}.{hint}")
    if arr.ndim == 0:
        raise ValueError(f"{label}: {role} must be an array with samples on axis 0, received a scalar {value!r}")
    if arr.dtype.kind == "f":
        finite = np.isfinite(arr)
        if not finite.all():
            raise ValueError(f"{label}: {role} contain NaN or inf ({arr.size - int(finite.sum())} of "
                             f"{arr.size} elements); remove or impute them first")
    return arr


def _is_array(value):
    return isinstance(value, np.ndarray) or (hasattr(value, "__array__") and hasattr(value, "shape"))


def _is_structure(value):
    """A dict, or a list/tuple of arrays: several inputs (or outputs).  A list of numbers or of
    lists is one array, as NumPy reads it."""
    if isinstance(value, dict):
        return True
    return (isinstance(value, (list, tuple)) and len(value) > 0
            and all(_is_array(v) and len(v.shape) >= 1 for v in value))


def _map(fn, value):
    if isinstance(value, dict):
        return {k: fn(v) for k, v in value.items()}
    if _is_structure(value):
        return type(value)(fn(v) for v in value) if isinstance(value, list) else tuple(fn(v) for v in value)
    return fn(value)


def _leaves(value):
    if isinstance(value, dict):
        return list(value.values())
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _convert(value, role, label):
    """A leaf or a structure of leaves, every leaf numeric, all with one number of samples."""
    if isinstance(value, dict) and not value:
        raise ValueError(f"{label}: {role} is an empty dict")
    out = _map(lambda v: _numeric(v, role, label), value)
    sizes = {len(leaf) for leaf in _leaves(out)}
    if len(sizes) > 1:
        raise ValueError(f"{label}: all {role} must have the same number of samples, received {sorted(sizes)}")
    return out


def _num_samples(value):
    return len(_leaves(value)[0])


def _same_samples(x, y, label):
    """The number of samples of x, which y must share."""
    n, m = _num_samples(x), _num_samples(y)
    if n != m:
        raise ValueError(f"{label}: x and y must have the same number of samples, received {n} and {m}")
    return n


def _take(value, index):
    return _map(lambda leaf: leaf[index], value)


# -- the adapter --------------------------------------------------------------------------------
class DataAdapter:
    """Iterated once per epoch, yields ``(x_batch, y_batch)`` (``y_batch`` None for predict).

    ``num_batches``: batches per epoch (``steps_per_epoch`` if given), or None when unknown.
    ``exhausted``: True once a single-pass source (generator, iterator) has ended; a further
    epoch would get no batch, so the caller stops (``warn_ran_out()`` gives Keras's warning).
    """

    def __init__(self, elements, size, *, single_pass, steps, what, owner, standardize=True,
                 on_epoch_begin=None, on_epoch_end=None):
        self._elements = elements          # () -> iterator over one pass of raw elements
        self._size = size                  # batches in one pass, or None
        self.single_pass = single_pass
        self.steps = steps
        self.what, self.owner = what, owner
        self._standardize_elements = standardize
        self._on_epoch_begin, self._on_epoch_end = on_epoch_begin, on_epoch_end
        self._iterator = None
        self._seen = 0                     # batches taken from the current pass
        self._batches = 0                  # batches yielded so far, all epochs
        self._warned = False
        self.exhausted = False

    @property
    def num_batches(self):
        return self.steps if self.steps is not None else self._size

    def warn_ran_out(self):
        """Keras's "Your input ran out of data" warning, once."""
        if not self._warned:
            warnings.warn(RAN_OUT, stacklevel=3)
            self._warned = True

    def __iter__(self):
        if self.exhausted:
            return
        if self._on_epoch_begin is not None:
            self._on_epoch_begin()
        if self._iterator is None or self.steps is None:
            self._iterator, self._seen = iter(self._elements()), 0
        limit = self.num_batches
        count = 0
        while limit is None or count < limit:
            known_end = self._size is not None and self._seen >= self._size
            element = _END if known_end else next(self._iterator, _END)
            if element is _END:
                self._pass_ended(count)
                break
            count += 1
            self._seen += 1
            self._batches += 1
            yield self._standardize(element) if self._standardize_elements else element
        else:
            if self._size is not None and self._seen >= self._size:
                self._iterator = None                  # the next epoch starts a new pass
        if self._on_epoch_end is not None:
            self._on_epoch_end()

    def _pass_ended(self, count):
        if self._batches == 0:
            raise ValueError(f"{_label(self.what, self.owner)}: the data yielded no batches (0 samples)")
        self._iterator = None
        if self.single_pass:
            self.exhausted = True
        if self.steps is not None and count < self.steps:
            self.warn_ran_out()

    def _standardize(self, element):
        """``(x, y)`` from a dataset element, by Keras's rules (a list counts as a tuple)."""
        label = _label(self.what, self.owner)
        if isinstance(element, list):
            element = tuple(element)
        if isinstance(element, tuple):
            if len(element) == 3:
                raise ValueError(f"{label}: the data yields (x, y, sample_weight); sample weights are "
                                 f"not supported")
            if len(element) not in (1, 2):
                raise ValueError(f"{label}: a batch must be x, (x,) or (x, y), received a tuple of "
                                 f"{len(element)} items")
            x, y = element[0], (element[1] if len(element) == 2 else None)
        else:
            x, y = element, None
        x = _convert(x, "inputs", label)
        if self.what == "predict":
            return x, None
        if y is None:
            raise ValueError(f"{label}: the data yields inputs only (no targets); {self.what} needs "
                             f"batches of (x, y)")
        y = _convert(y, "targets", label)
        if _num_samples(x) != _num_samples(y):
            raise ValueError(f"{label}: a batch holds {_num_samples(x)} input samples and "
                             f"{_num_samples(y)} target samples")
        return x, y


_END = object()


def _array_batches(x, y, batch_size, shuffle):
    """() -> one pass of (x, y) batches; a new permutation from the library generator each pass."""
    n = _num_samples(x)

    def one_pass():
        order = get_rng().permutation(n) if shuffle else None
        for start in range(0, n, batch_size):
            index = slice(start, start + batch_size) if order is None else order[start:start + batch_size]
            yield _take(x, index), (None if y is None else _take(y, index))
    return one_pass, math.ceil(n / batch_size)


def _known_length(data):
    """``len(data)`` or None when the length is unknown (``TypeError``, as tf.data raises)."""
    try:
        return len(data)
    except TypeError:
        return None


def _numpy_elements(dataset):
    """tf.data datasets iterate as NumPy (``as_numpy_iterator``); anything else as it is."""
    as_numpy = getattr(dataset, "as_numpy_iterator", None)
    return (lambda: as_numpy()) if callable(as_numpy) else (lambda: iter(dataset))


def get_data_adapter(x, y=None, *, batch_size=None, shuffle=False, steps_per_epoch=None, what="fit",
                     owner=None):
    """A :class:`DataAdapter` over ``x`` (and ``y``) for ``what`` in fit / evaluate / predict.

    ``owner`` (a model name) is put in front of error messages.
    """
    if what not in WHATS:
        raise ValueError(f"what must be one of {WHATS}, received {what!r}")
    label = _label(what, owner)
    steps = check_positive_int(steps_per_epoch, "steps_per_epoch" if what == "fit" else "steps", what, owner)
    batch_size = check_positive_int(batch_size, "batch_size", what, owner)
    common = dict(steps=steps, what=what, owner=owner)
    if x is None:
        raise ValueError(f"{label}: x is None; pass the inputs (arrays or a dataset)")
    if _is_array(x) or isinstance(x, (list, tuple, dict, numbers.Number)):
        return _arrays_adapter(x, y, batch_size, shuffle, label, common)
    if y is not None:
        raise ValueError(f"{label}: y must not be given when x is a dataset, generator or PyDataset "
                         f"({type(x).__name__}): the data yields (x, y) itself")
    if _is_py_dataset(x):
        return _py_dataset_adapter(x, shuffle, common)
    if not hasattr(x, "__iter__"):
        raise ValueError(f"{label}: x must be arrays, a dataset, a PyDataset or a generator, "
                         f"received {type(x).__name__}")
    if iter(x) is x:                                   # generator or iterator: one pass only
        return DataAdapter(lambda: x, None, single_pass=True, **common)
    size = _known_length(x)
    if size == 0:
        raise ValueError(f"{label}: the dataset is empty (len() == 0)")
    return DataAdapter(_numpy_elements(x), size, single_pass=False, **common)


def checked_arrays(x, y, what, owner=None):
    """``(x, y)`` as checked numeric arrays (or structures of them) with one number of samples,
    more than zero: what one batch of ``train_on_batch`` / ``predict_on_batch`` needs."""
    label = _label(what, owner)
    if x is None:
        raise ValueError(f"{label}: x is None; pass the inputs (arrays)")
    return _checked_arrays(x, y, what, label)


def _checked_arrays(x, y, what, label):
    x = _convert(x, "inputs", label)
    if what in ("predict", "predict_on_batch"):
        y = None
    elif y is None:
        raise ValueError(f"{label}: y is None; {what} on arrays needs targets y (or pass a dataset of "
                         f"(x, y) batches as x)")
    else:
        y = _convert(y, "targets", label)
    n = _num_samples(x)
    if n == 0:
        raise ValueError(f"{label}: received 0 samples")
    if y is not None:
        _same_samples(x, y, label)
    return x, y


def _arrays_adapter(x, y, batch_size, shuffle, label, common):
    x, y = _checked_arrays(x, y, common["what"], label)
    one_pass, size = _array_batches(x, y, batch_size or 32, shuffle)
    return DataAdapter(one_pass, size, single_pass=False, standardize=False, **common)


def _is_py_dataset(x):
    """minirnn's PyDataset, or one like it (Keras's own): indexed batches and epoch hooks."""
    return isinstance(x, PyDataset) or (hasattr(x, "__getitem__") and callable(getattr(x, "on_epoch_end", None))
                                        and (hasattr(x, "num_batches") or hasattr(x, "__len__")))


def _py_dataset_adapter(dataset, shuffle, common):
    size = dataset.num_batches if hasattr(dataset, "num_batches") else len(dataset)
    if size is not None:
        size = check_positive_int(size, "len(PyDataset)", common["what"], common["owner"])

    def one_pass():
        order = itertools.count() if size is None else range(size)
        if shuffle and size is not None:
            order = get_rng().permutation(size)
        return (dataset[int(i)] for i in order)
    return DataAdapter(one_pass, size, single_pass=False, on_epoch_begin=getattr(dataset, "on_epoch_begin", None),
                       on_epoch_end=dataset.on_epoch_end, **common)


def train_validation_split(x, y, validation_split):
    """``((x_train, y_train), (x_val, y_val))``: the last ``validation_split`` fraction of the samples,
    before any shuffling, as Keras's ``fit(validation_split=...)``.  Arrays (or lists/dicts of
    arrays) only."""
    if isinstance(validation_split, bool) or not isinstance(validation_split, numbers.Real) \
            or not 0 < validation_split < 1:
        raise ValueError(f"fit(): validation_split must be a number between 0 and 1 (exclusive), "
                         f"received validation_split={validation_split!r}")
    for value, role in ((x, "x"), (y, "y")):
        if value is None or not (_is_array(value) or isinstance(value, (list, tuple, dict))):
            raise ValueError(f"fit(): validation_split is only supported for arrays (or lists/dicts of "
                             f"arrays), received {role} of type {type(value).__name__}; pass "
                             f"validation_data=... instead")
    x, y = _convert(x, "inputs", "fit()"), _convert(y, "targets", "fit()")
    n = _same_samples(x, y, "fit()")
    split_at = int(math.floor(n * (1.0 - validation_split)))
    if split_at == 0 or split_at == n:
        raise ValueError(f"Training data contains {n} samples, which is not sufficient to split it into a "
                         f"validation and training set as specified by `validation_split={validation_split}`. "
                         f"Either provide more data, or a different value for the `validation_split` argument.")
    train, val = slice(0, split_at), slice(split_at, n)
    return (_take(x, train), _take(y, train)), (_take(x, val), _take(y, val))
