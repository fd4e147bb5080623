"""StringLookup, IntegerLookup and TextVectorization in NumPy, with Keras 3's defaults and numbering.

A lookup layer maps tokens to indices in a fixed layout:

    index 0                       the mask token (if ``mask_token`` is set and output_mode="int")
    next num_oov_indices          out-of-vocabulary tokens (one by default: "[UNK]" / -1)
    then                          the vocabulary, most frequent first

``adapt(data)`` counts the tokens of arrays, lists, datasets or any iterable of batches
and keeps the ``max_tokens`` most frequent (ties: the larger token first, as Keras sorts).
Outputs: "int" (int64 indices, the input's shape), "one_hot", "multi_hot", "count" and
"tf_idf" (floatx, a last axis of vocabulary_size(), or max_tokens with
``pad_to_max_tokens``).  ``invert=True`` maps indices back to tokens.

TextVectorization standardizes ("lower_and_strip_punctuation": ASCII letters lowered and
``!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~'`` removed, as tf.strings.lower and Keras's regex do),
splits ("whitespace" or "character"), forms ``ngrams`` and looks the tokens up in a
StringLookup whose mask token is "" (index 0, the padding of ``output_sequence_length``).

These layers have no weights and pass no gradient (their inputs are tokens).  The
vocabulary is part of the config (``get_config``), so a saved model keeps it; Keras
files hold it as Keras writes it (the ``assets/.../vocabulary.txt`` of the layer).  A
vocabulary given as the path of a file (one token a line) is kept as Keras keeps it: out of
the config, as the layer's ``vocabulary.txt`` asset in ``.keras`` and ``.minirnn`` files; a
file's config never names a path to read.
"""
import collections
import math
import os
import re
import string

import numpy as np

from .. import backend
from .base import Layer

PUNCTUATION = re.compile(r'[!"#$%&()\*\+,-\./:;<=>?@\[\\\]^_`{|}~\']')
ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
OUTPUT_MODES = ("int", "one_hot", "multi_hot", "count", "tf_idf")
MAX_VOCABULARY_FILE_BYTES = 256 * 2**20


def _as_numpy(data):
    """A tf.Tensor, a list or an array as a NumPy array (strings as Python str)."""
    if hasattr(data, "numpy") and not isinstance(data, np.ndarray):
        data = data.numpy()
    arr = np.asarray(data, dtype=object) if isinstance(data, (list, tuple)) else np.asarray(data)
    return arr


def _batches(data, steps):
    """The batches of `data`: one for an array or a list, else each item of an iterable."""
    if isinstance(data, (list, tuple, np.ndarray, str, bytes)) or hasattr(data, "numpy"):
        yield data
        return
    if not hasattr(data, "__iter__"):
        raise ValueError(f"adapt() expects an array, a list, a dataset or an iterable of batches, "
                         f"received {type(data).__name__}")
    for k, batch in enumerate(data):
        if steps is not None and k >= steps:
            break
        yield batch


class _IndexLookup(Layer):
    """What StringLookup and IntegerLookup share (see the module docstring)."""

    vocabulary_dtype = None

    def __init__(self, max_tokens=None, num_oov_indices=1, mask_token=None, oov_token=None, vocabulary=None,
                 idf_weights=None, invert=False, output_mode="int", pad_to_max_tokens=False, sparse=False,
                 has_input_vocabulary=None, vocabulary_size=None, oov_method="floormod", salt=None, **kwargs):
        super().__init__(**kwargs)
        what = f"Layer '{self.name}' ({type(self).__name__})"
        if max_tokens is not None and (not isinstance(max_tokens, (int, np.integer)) or max_tokens <= 1):
            raise ValueError(f"{what}: if set, max_tokens must be an integer greater than 1, "
                             f"received max_tokens={max_tokens!r}")
        if not isinstance(num_oov_indices, (int, np.integer)) or num_oov_indices < 0:
            raise ValueError(f"{what}: num_oov_indices must be an integer >= 0, received {num_oov_indices!r}")
        output_mode = {"binary": "multi_hot", "tf-idf": "tf_idf"}.get(output_mode, output_mode)
        if output_mode not in OUTPUT_MODES:
            raise ValueError(f"{what}: output_mode must be one of {OUTPUT_MODES}, received {output_mode!r}")
        if pad_to_max_tokens and max_tokens is None:
            raise ValueError(f"{what}: pad_to_max_tokens=True needs max_tokens")
        if invert and output_mode != "int":
            raise ValueError(f"{what}: output_mode must be 'int' when invert is true, received {output_mode!r}")
        if sparse:
            raise ValueError(f"{what}: sparse=True is not supported (outputs are dense NumPy arrays)")
        if idf_weights is not None and output_mode != "tf_idf":
            raise ValueError(f"{what}: idf_weights should only be set if output_mode is 'tf_idf'")
        if oov_method not in ("floormod", "farmhash"):
            raise ValueError(f"{what}: oov_method must be 'floormod' or 'farmhash', received {oov_method!r}")
        if salt is not None:
            if self.vocabulary_dtype != "string" and oov_method != "farmhash":
                raise ValueError(f"{what}: salt can only be used when oov_method='farmhash', received "
                                 f"oov_method={oov_method!r}")
            from .string_hash import salt_key     # on first use: `import minirnn` stays light
            salt = salt_key(salt, what)
        self.max_tokens = None if max_tokens is None else int(max_tokens)
        self.num_oov_indices = int(num_oov_indices)
        self.mask_token, self.oov_token = mask_token, oov_token
        self.invert, self.output_mode = bool(invert), output_mode
        self.pad_to_max_tokens, self.sparse = bool(pad_to_max_tokens), False
        self.oov_method, self.salt = oov_method, salt
        self.has_input_vocabulary = vocabulary is not None if has_input_vocabulary is None \
            else bool(has_input_vocabulary)
        # A vocabulary file is kept as a file asset of a saved model, not in the config (as Keras);
        # a config with an input vocabulary but none listed is such a layer, its asset read after.
        self.vocabulary_in_asset = isinstance(vocabulary, str) or (self.has_input_vocabulary and vocabulary is None)
        self.input_vocabulary = None if isinstance(vocabulary, str) or vocabulary is None \
            or not self.has_input_vocabulary else self._token_list(vocabulary)
        self.input_idf_weights = None if idf_weights is None else [float(w) for w in np.ravel(idf_weights)]
        self.tokens, self.idf = [], None
        self._index = {}
        self._counts, self._document_counts, self._documents = collections.Counter(), collections.Counter(), 0
        if output_mode == "tf_idf" and self.has_input_vocabulary and vocabulary is not None and idf_weights is None:
            raise ValueError(f"{what}: with a vocabulary in tf_idf mode, idf_weights must be given too")
        if vocabulary is not None:
            self.set_vocabulary(vocabulary, idf_weights)
        self.built = True

    # -- the vocabulary -------------------------------------------------------------------------
    def _what(self):
        return f"Layer '{self.name}' ({type(self).__name__})"

    def _token(self, value):
        """One token as a hashable Python value of the vocabulary's type."""
        raise NotImplementedError

    def _token_list(self, values):
        if isinstance(values, str):
            return values
        return [self._token(v) for v in np.ravel(_as_numpy(values))]

    @property
    def _oov_start(self):
        return 1 if self.mask_token is not None and self.output_mode == "int" else 0

    @property
    def _token_start(self):
        return self._oov_start + self.num_oov_indices

    def vocabulary_size(self):
        """The size of the vocabulary, the mask and OOV indices included."""
        return self._token_start + len(self.tokens)

    def get_vocabulary(self, include_special_tokens=True):
        """The tokens by index (with the mask and OOV tokens first unless told otherwise)."""
        special = [self.mask_token] * self._oov_start + [self.oov_token] * self.num_oov_indices
        return (special if include_special_tokens else []) + list(self.tokens)

    def set_vocabulary(self, vocabulary, idf_weights=None):
        """Set the vocabulary (a list, an array or the path of a text file of one token a line),
        and with output_mode="tf_idf" the idf weights (one per token)."""
        what = self._what()
        if self.output_mode == "tf_idf" and idf_weights is None:
            raise ValueError(f"{what}: idf_weights must be set if output_mode is 'tf_idf'")
        if self.output_mode != "tf_idf" and idf_weights is not None:
            raise ValueError(f"{what}: idf_weights should only be set if output_mode is 'tf_idf'")
        if isinstance(vocabulary, str):
            if self.output_mode == "tf_idf":
                raise ValueError(f"{what}: output_mode 'tf_idf' does not support loading a vocabulary from a file")
            vocabulary = self.vocabulary_from_lines(self._read_vocabulary_file(vocabulary))
            self.vocabulary_in_asset = True
        tokens = self._token_list(vocabulary)
        if not tokens:
            raise ValueError(f"{what}: cannot set an empty vocabulary")
        special = [self.mask_token] * self._oov_start + [self.oov_token] * self.num_oov_indices
        found_special = tokens[:len(special)] == special
        if found_special:
            tokens = tokens[len(special):]
        repeated = sorted({t for t, n in collections.Counter(tokens).items() if n > 1}, key=str)
        if repeated:
            raise ValueError(f"{what}: the vocabulary has repeated terms {repeated[:10]}; make it unique")
        for token, name in ((self.mask_token, "mask_token"), (self.oov_token, "oov_token")):
            # the OOV token is only looked up by invert=True, so only then may it not be a term (as Keras)
            if token is not None and token in tokens and (name == "mask_token" or self.invert):
                raise ValueError(f"{what}: found the reserved {name} {token!r} inside the vocabulary; leave "
                                 f"special tokens out, or put them only at the start in this order: {special}")
        if self.max_tokens is not None and self._token_start + len(tokens) > self.max_tokens:
            raise ValueError(f"{what}: a vocabulary of {self._token_start + len(tokens)} entries is larger "
                             f"than max_tokens={self.max_tokens}")
        self._set_tokens(tokens)
        if self.output_mode == "tf_idf":
            weights = np.asarray(idf_weights, np.float64).ravel()
            if len(weights) != len(vocabulary if not isinstance(vocabulary, str) else tokens):
                raise ValueError(f"{what}: idf_weights must be as long as the vocabulary ({len(weights)} "
                                 f"weights for {len(tokens)} tokens)")
            front = [] if found_special else [weights.mean()] * self._token_start
            self.idf = np.concatenate([front, weights])

    def vocabulary_asset(self):
        """The text of the ``vocabulary.txt`` asset a saved model keeps for this layer (one token a
        line, the special tokens first, as Keras's save_assets), or None when the config holds it."""
        if not self.vocabulary_in_asset or not self.tokens:
            return None
        return "\n".join(str(t) for t in self.get_vocabulary())

    def load_vocabulary_asset(self, text):
        """Set the vocabulary from the text of a Keras ``vocabulary.txt`` asset (one token a line,
        the special tokens first), as Keras's load_assets does for a layer saved after adapt()."""
        lines = text.splitlines()
        while lines and lines[-1] == "":
            lines.pop()
        if lines:
            self.set_vocabulary(self.vocabulary_from_lines(lines), idf_weights=self.idf if self.idf is not None
                                else None)

    def _read_vocabulary_file(self, path):
        if not os.path.isfile(path):
            raise ValueError(f"{self._what()}: the vocabulary file {path!r} does not exist")
        if os.path.getsize(path) > MAX_VOCABULARY_FILE_BYTES:
            raise ValueError(f"{self._what()}: the vocabulary file {path!r} is larger than "
                             f"{MAX_VOCABULARY_FILE_BYTES} bytes")
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
        while lines and lines[-1] == "":
            lines.pop()
        return lines

    def _set_tokens(self, tokens):
        self.tokens = list(tokens)
        self._index = {t: self._token_start + k for k, t in enumerate(self.tokens)}

    # -- adapt ------------------------------------------------------------------------------------
    def reset_state(self):
        self._counts, self._document_counts, self._documents = collections.Counter(), collections.Counter(), 0

    def update_state(self, data):
        """Count the tokens of one batch: each row of a 2-D batch is a document, each token of a 1-D
        batch is one (as Keras, which gives a 1-D batch a last axis of 1)."""
        if self.has_input_vocabulary:
            raise ValueError(f"Cannot adapt layer '{self.name}' after setting a static vocabulary via the "
                             f"vocabulary argument or set_vocabulary()")
        documents = self._documents_of(data)
        for doc in documents:
            self._counts.update(doc)
            if self.output_mode == "tf_idf":
                self._document_counts.update(set(doc))
        self._documents += len(documents)

    def _documents_of(self, data):
        arr = _as_numpy(data)
        if arr.ndim <= 1:
            return [[self._token(v)] for v in arr.ravel()]
        return [[self._token(v) for v in row.ravel()] for row in arr]

    def finalize_state(self):
        if self.has_input_vocabulary or not self._counts:
            return
        counts = dict(self._counts)
        for special in (self.mask_token, self.oov_token):
            counts.pop(special, None)
        # Most frequent first; ties: the larger token first (Keras's reversed lexsort).
        ranked = sorted(counts, key=lambda t: (counts[t], self._sort_key(t)), reverse=True)
        if self.max_tokens:
            ranked = ranked[:self.max_tokens - self._token_start]
        self._set_tokens(ranked)
        self.vocabulary_in_asset = False
        if self.output_mode == "tf_idf":
            idf = np.array([math.log(1 + self._documents / (1 + self._document_counts[t])) for t in ranked])
            self.idf = np.concatenate([[idf.mean() if idf.size else 0.0] * self._token_start, idf])
        self.reset_state()

    def _sort_key(self, token):
        return token

    def adapt(self, data, steps=None):
        """Learn the vocabulary from `data` (an array or list: one batch; a dataset or any
        iterable: its batches, at most `steps` of them)."""
        self.reset_state()
        for batch in _batches(data, steps):
            self.update_state(batch)
        self.finalize_state()

    # -- calling ----------------------------------------------------------------------------------
    def _depth(self):
        return self.max_tokens if self.pad_to_max_tokens else self.vocabulary_size()

    def _lookup(self, tokens):
        """int64 indices of an object array of tokens."""
        out = np.empty(tokens.shape, np.int64)
        flat, result = tokens.ravel(), out.reshape(-1)
        oov = []
        for k, t in enumerate(flat):
            if self.mask_token is not None and t == self.mask_token:
                result[k] = 0 if self.output_mode == "int" else -1      # dropped by the encodings
                continue
            index = self._index.get(t)
            if index is None:
                oov.append(k)
                index = self._oov_start if self.num_oov_indices == 1 else -1
            result[k] = index
        if oov and self.num_oov_indices == 0:
            raise ValueError(f"{self._what()}: when num_oov_indices=0 all inputs should be in the vocabulary, "
                             f"found OOV values {[flat[k] for k in oov[:10]]}; consider setting num_oov_indices=1")
        if oov and self.num_oov_indices > 1:
            result[oov] = self._oov_start + self._oov_buckets([flat[k] for k in oov])
        return out

    def _oov_buckets(self, tokens):
        """The OOV bucket of each unknown token, as Keras: strings (and integers with
        oov_method="farmhash", as their decimal text) hashed with FarmHash Fingerprint64, or with a
        salt SipHash-2-4, modulo num_oov_indices; other integers floormod num_oov_indices."""
        if self.vocabulary_dtype != "string" and self.oov_method != "farmhash":
            return np.asarray(tokens, np.int64) % self.num_oov_indices
        from .string_hash import hash_buckets
        return hash_buckets(tokens, self.num_oov_indices, self.salt)

    def _invert(self, indices):
        vocabulary = self.get_vocabulary()
        tokens = [vocabulary[int(i)] if 0 <= i < len(vocabulary) else self.oov_token for i in indices.ravel()]
        out = np.empty(indices.shape, object if self.vocabulary_dtype == "string" else np.int64)
        out.reshape(-1)[:] = tokens
        return out

    def _encode(self, indices):
        """one_hot / multi_hot / count / tf_idf of int indices (invalid ones, -1, dropped)."""
        depth = self._depth()
        dtype = backend.floatx() if self.output_mode == "tf_idf" else np.int64      # Keras's dtypes
        if self.output_mode == "one_hot":
            if indices.ndim > 1 and indices.shape[-1] == 1:
                indices = indices[..., 0]
            out = np.zeros(indices.shape + (depth,), dtype)
            valid = (indices >= 0) & (indices < depth)
            out.reshape(-1, depth)[np.flatnonzero(valid), indices.ravel()[valid.ravel()]] = 1
            return out
        rows = indices.reshape(1, -1) if indices.ndim <= 1 else indices.reshape(indices.shape[0], -1)
        out = np.zeros((rows.shape[0], depth), dtype)
        for r, row in enumerate(rows):
            row = row[(row >= 0) & (row < depth)]
            np.add.at(out[r], row, 1)
        if self.output_mode == "multi_hot":
            out = np.minimum(out, 1)
        elif self.output_mode == "tf_idf":
            if self.idf is None:
                raise ValueError(f"{self._what()}: tf_idf needs idf weights: adapt the layer or set them")
            idf = np.zeros(depth)
            idf[:min(depth, len(self.idf))] = self.idf[:depth]
            out = (out * idf).astype(dtype)
        return out[0] if indices.ndim <= 1 else out

    def __call__(self, inputs, training=False):
        self._cache = None
        arr = _as_numpy(inputs)
        if self.invert:
            if arr.dtype == object and isinstance(inputs, (list, tuple)):
                arr = np.asarray(inputs)            # a list of indices
            if arr.dtype.kind not in "iuf":
                raise ValueError(f"{self._what()} with invert=True expects integer indices, received dtype "
                                 f"{arr.dtype}")
            return self._invert(arr)
        if not self.tokens and not self.num_oov_indices:
            raise ValueError(f"{self._what()} has no vocabulary: adapt() it or pass vocabulary=...")
        tokens = self._tokens_array(arr)
        indices = self._lookup(tokens)
        return indices if self.output_mode == "int" else self._encode(indices)

    def _tokens_array(self, arr):
        out = np.empty(arr.shape, object)
        out.reshape(-1)[:] = [self._token(v) for v in arr.ravel()]
        return out

    def backward(self, dy):
        self.grads = []
        return None              # tokens: no gradient to pass on

    def compute_output_shape(self, input_shape):
        if self.output_mode == "int":
            return tuple(input_shape)
        depth = self._depth()
        if self.output_mode == "one_hot":
            shape = tuple(input_shape)
            return (shape[:-1] if len(shape) > 1 and shape[-1] == 1 else shape) + (depth,)
        return tuple(input_shape)[:-1] + (depth,)

    def get_config(self):
        """Keras's config; the vocabulary (learned or given) is in ``vocabulary``, with
        ``has_input_vocabulary`` telling which (a learned one may be adapted again)."""
        config = super().get_config()
        config.update(invert=self.invert, max_tokens=self.max_tokens, num_oov_indices=self.num_oov_indices,
                      oov_token=self.oov_token, mask_token=self.mask_token, output_mode=self.output_mode,
                      sparse=False, pad_to_max_tokens=self.pad_to_max_tokens,
                      vocabulary=list(self.tokens) if self.tokens and not self.vocabulary_in_asset else None,
                      idf_weights=None if self.idf is None else [float(w) for w in self.idf[self._token_start:]],
                      has_input_vocabulary=self.has_input_vocabulary,
                      vocabulary_size=self.vocabulary_size(), oov_method=self.oov_method, salt=self.salt)
        if config["idf_weights"] is not None and self.tokens:
            config["vocabulary"] = self.get_vocabulary()        # with the front weights' tokens
            config["idf_weights"] = [float(w) for w in self.idf]
        return config


class StringLookup(_IndexLookup):
    """``StringLookup(max_tokens=None, num_oov_indices=1, mask_token=None, oov_token="[UNK]",
    vocabulary=None, idf_weights=None, invert=False, output_mode="int", pad_to_max_tokens=False,
    sparse=False, encoding="utf-8", salt=None)``: strings to indices (see the module docstring);
    with num_oov_indices > 1 an unknown string goes to the OOV index of its FarmHash
    Fingerprint64 (with a salt: its SipHash-2-4) modulo num_oov_indices, as Keras."""

    vocabulary_dtype = "string"
    reads_strings = True          # may be called on an Input(dtype="string")

    def __init__(self, max_tokens=None, num_oov_indices=1, mask_token=None, oov_token="[UNK]", vocabulary=None,
                 idf_weights=None, invert=False, output_mode="int", pad_to_max_tokens=False, sparse=False,
                 encoding="utf-8", vocabulary_dtype="string", salt=None, **kwargs):
        if vocabulary_dtype != "string":
            raise ValueError(f"StringLookup: vocabulary_dtype must be 'string', received {vocabulary_dtype!r}")
        self.encoding = encoding
        super().__init__(max_tokens, num_oov_indices, mask_token, oov_token, vocabulary, idf_weights, invert,
                         output_mode, pad_to_max_tokens, sparse, salt=salt, **kwargs)

    def _token(self, value):
        if isinstance(value, bytes):
            return value.decode(self.encoding)
        if isinstance(value, (str, np.str_)):
            return str(value)
        raise ValueError(f"{self._what()} expects strings, received {value!r} ({type(value).__name__})")

    def _sort_key(self, token):
        return token.encode("utf-8")

    def vocabulary_from_lines(self, lines):
        return lines

    def get_config(self):
        config = super().get_config()
        config.update(encoding=self.encoding)       # Keras leaves the one possible vocabulary_dtype out
        return config


class IntegerLookup(_IndexLookup):
    """``IntegerLookup(max_tokens=None, num_oov_indices=1, mask_token=None, oov_token=-1,
    vocabulary=None, vocabulary_dtype="int64", idf_weights=None, invert=False, output_mode="int",
    sparse=False, pad_to_max_tokens=False, oov_method="floormod", salt=None)``: integers to
    indices; with num_oov_indices > 1 an unknown x goes to OOV index floormod(x, num_oov_indices),
    or with oov_method="farmhash" to the FarmHash (with a salt: SipHash) of its decimal text
    modulo num_oov_indices, as Keras."""

    vocabulary_dtype = "int64"

    def __init__(self, max_tokens=None, num_oov_indices=1, mask_token=None, oov_token=-1, vocabulary=None,
                 vocabulary_dtype="int64", idf_weights=None, invert=False, output_mode="int", sparse=False,
                 pad_to_max_tokens=False, oov_method="floormod", salt=None, **kwargs):
        if vocabulary_dtype != "int64":           # as Keras: int64 only
            raise ValueError(f"IntegerLookup: vocabulary_dtype must be 'int64', received {vocabulary_dtype!r}")
        self.vocabulary_dtype = vocabulary_dtype
        super().__init__(max_tokens, num_oov_indices, mask_token, oov_token, vocabulary, idf_weights, invert,
                         output_mode, pad_to_max_tokens, sparse, oov_method=oov_method, salt=salt, **kwargs)

    def _token(self, value):
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)) \
                or value != int(value):
            shown = value.item() if isinstance(value, np.generic) else value
            raise ValueError(f"{self._what()} expects integers, received {shown!r}")
        return int(value)

    def vocabulary_from_lines(self, lines):
        try:
            return [int(line) for line in lines]
        except ValueError:
            raise ValueError(f"{self._what()}: a vocabulary file line is not an integer") from None

    def get_config(self):
        config = super().get_config()
        config["vocabulary_dtype"] = self.vocabulary_dtype
        return config


class TextVectorization(Layer):
    """``TextVectorization(max_tokens=None, standardize="lower_and_strip_punctuation",
    split="whitespace", ngrams=None, output_mode="int", output_sequence_length=None,
    pad_to_max_tokens=False, vocabulary=None, idf_weights=None, sparse=False, ragged=False,
    encoding="utf-8")``: strings (batch,) or (batch, 1) to token indices (batch, length) —
    padded with 0 to the longest text of the batch, or cut/padded to output_sequence_length —
    or to (batch, vocabulary_size) encodings."""

    reads_strings = True          # may be called on an Input(dtype="string")

    def __init__(self, max_tokens=None, standardize="lower_and_strip_punctuation", split="whitespace",
                 ngrams=None, output_mode="int", output_sequence_length=None, pad_to_max_tokens=False,
                 vocabulary=None, idf_weights=None, sparse=False, ragged=False, encoding="utf-8",
                 has_input_vocabulary=None, vocabulary_size=None, **kwargs):
        super().__init__(**kwargs)
        what = f"Layer '{self.name}' (TextVectorization)"
        if not (standardize in (None, "lower_and_strip_punctuation", "lower", "strip_punctuation")
                or callable(standardize)):
            raise ValueError(f"{what}: standardize must be None, 'lower_and_strip_punctuation', 'lower', "
                             f"'strip_punctuation' or a function, received {standardize!r}")
        if not (split in (None, "whitespace", "character") or callable(split)):
            raise ValueError(f"{what}: split must be None, 'whitespace', 'character' or a function, "
                             f"received {split!r}")
        if isinstance(ngrams, list):
            ngrams = tuple(ngrams)
        if not (ngrams is None or isinstance(ngrams, int) and ngrams >= 1
                or isinstance(ngrams, tuple) and all(isinstance(n, int) and n >= 1 for n in ngrams)):
            raise ValueError(f"{what}: ngrams must be None, an integer or a tuple of integers, received {ngrams!r}")
        output_mode = {"binary": "multi_hot", "tf-idf": "tf_idf"}.get(output_mode, output_mode)
        if output_sequence_length is not None and (output_mode != "int" or not isinstance(
                output_sequence_length, (int, np.integer)) or output_sequence_length < 1):
            raise ValueError(f"{what}: `output_sequence_length` must not be set if `output_mode` is not 'int', "
                             f"and must be a positive integer; received output_sequence_length="
                             f"{output_sequence_length!r} with output_mode={output_mode!r}")
        if ragged:
            raise ValueError(f"{what}: ragged=True is not supported (NumPy has no ragged arrays); use "
                             f"output_sequence_length or the batch's padding")
        self.standardize, self.split, self.ngrams = standardize, split, ngrams
        self._widths = tuple(range(1, ngrams + 1)) if isinstance(ngrams, int) else ngrams
        self.output_mode, self.output_sequence_length = output_mode, output_sequence_length
        self.encoding, self.ragged = encoding, False
        self.lookup = StringLookup(max_tokens=max_tokens, vocabulary=vocabulary, idf_weights=idf_weights,
                                   pad_to_max_tokens=pad_to_max_tokens, mask_token="", output_mode=output_mode,
                                   sparse=sparse, encoding=encoding, has_input_vocabulary=has_input_vocabulary,
                                   name=f"{self.name}_lookup")
        self.built = True

    # -- text to tokens ---------------------------------------------------------------------------
    def _texts(self, inputs):
        """The input as an array of Python strings: (batch,) from (batch,) or (batch, 1)."""
        arr = _as_numpy(inputs)
        if arr.dtype.kind not in "USO":
            raise ValueError(f"Layer '{self.name}' (TextVectorization) expects strings, received dtype {arr.dtype}")
        if arr.ndim > 1 and (self.split is not None or arr.shape[-1] == 1):
            if arr.shape[-1] != 1:
                raise ValueError(f"Layer '{self.name}' (TextVectorization): to split strings the input must be "
                                 f"of rank 1 or have a last axis of 1, received shape {arr.shape}")
            arr = arr[..., 0]
        out = np.empty(arr.shape, object)
        out.reshape(-1)[:] = self._strings(arr)
        return out

    def _strings(self, values):
        """Python strings from what a user function returned: a list, an array, a tensor of bytes
        (TensorFlow's strings), nested or ragged."""
        if hasattr(values, "numpy") and not isinstance(values, np.ndarray):
            values = values.numpy()
        if isinstance(values, (str, bytes)):
            return [values.decode(self.encoding) if isinstance(values, bytes) else values]
        if isinstance(values, np.generic):
            return self._strings(values.item())
        return [s for v in (values.ravel() if isinstance(values, np.ndarray) else values)
                for s in self._strings(v)]

    def _standardize(self, text):
        if self.standardize in ("lower", "lower_and_strip_punctuation"):
            text = text.translate(ASCII_LOWER)            # tf.strings.lower: ASCII letters only
        if self.standardize in ("strip_punctuation", "lower_and_strip_punctuation"):
            text = PUNCTUATION.sub("", text)
        return text

    def _tokens(self, text):
        """One text's tokens: standardized, split, with its n-grams."""
        if callable(self.standardize):
            text = self._strings(self.standardize(np.asarray([text])))[0]
        else:
            text = self._standardize(text)
        if self.split == "whitespace":
            words = text.split()
        elif self.split == "character":
            words = list(text)
        elif callable(self.split):
            words = self._strings(self.split(np.asarray([text])))
        else:
            return [text]
        if self._widths is None:
            return words
        return [" ".join(words[k:k + n]) for n in self._widths for k in range(len(words) - n + 1)]

    def _preprocess(self, inputs):
        texts = self._texts(inputs)
        return texts.shape, [self._tokens(t) for t in texts.ravel()]

    # -- adapt ------------------------------------------------------------------------------------
    def adapt(self, data, batch_size=None, steps=None):
        """Learn the vocabulary from texts (an array or list, a dataset or an iterable of batches)."""
        self.lookup.reset_state()
        for batch in _batches(data, steps):
            self.update_state(batch)
        self.lookup.finalize_state()

    def update_state(self, data):
        if self.lookup.has_input_vocabulary:
            raise ValueError(f"Cannot adapt layer '{self.name}' after setting a static vocabulary via the "
                             f"vocabulary argument or set_vocabulary()")
        _, documents = self._preprocess(data)
        for doc in documents:
            self.lookup._counts.update(doc)
            if self.output_mode == "tf_idf":
                self.lookup._document_counts.update(set(doc))
        self.lookup._documents += len(documents)

    def finalize_state(self):
        self.lookup.finalize_state()

    def reset_state(self):
        self.lookup.reset_state()

    def get_vocabulary(self, include_special_tokens=True):
        return self.lookup.get_vocabulary(include_special_tokens)

    def vocabulary_size(self):
        return self.lookup.vocabulary_size()

    def set_vocabulary(self, vocabulary, idf_weights=None):
        self.lookup.set_vocabulary(vocabulary, idf_weights)

    @property
    def vocabulary_in_asset(self):
        return self.lookup.vocabulary_in_asset

    def vocabulary_asset(self):
        return self.lookup.vocabulary_asset()

    def load_vocabulary_asset(self, text):
        self.lookup.load_vocabulary_asset(text)

    # -- calling ----------------------------------------------------------------------------------
    def __call__(self, inputs, training=False):
        self._cache = None
        shape, documents = self._preprocess(inputs)
        if self.output_mode != "int":
            rows = [self.lookup._lookup(np.array(doc, dtype=object)) for doc in documents]
            width = max((len(r) for r in rows), default=0)
            indices = np.full((len(rows), width), -1, np.int64)          # -1: no token, dropped
            for k, r in enumerate(rows):
                indices[k, :len(r)] = r
            encoded = self.lookup._encode(indices if shape else indices[0])
            return encoded
        rows = [self.lookup._lookup(np.array(doc, dtype=object)) for doc in documents]
        length = self.output_sequence_length or max((len(r) for r in rows), default=0)
        out = np.zeros((len(rows), length), np.int64)
        for k, r in enumerate(rows):
            out[k, :min(length, len(r))] = r[:length]
        return out.reshape(shape + (length,)) if shape else out[0]

    def backward(self, dy):
        self.grads = []
        return None

    def compute_output_shape(self, input_shape):
        if self.output_mode == "int":
            return (input_shape[0], self.output_sequence_length)
        return (input_shape[0], self.lookup._depth())

    def get_config(self):
        if callable(self.standardize) or callable(self.split):
            raise ValueError(f"Layer '{self.name}' (TextVectorization): a standardize or split function cannot "
                             f"be saved in a config; save the model without it")
        config = super().get_config()
        lookup = self.lookup.get_config()
        config.update(max_tokens=self.lookup.max_tokens, standardize=self.standardize, split=self.split,
                      ngrams=list(self.ngrams) if isinstance(self.ngrams, tuple) else self.ngrams,
                      output_mode=self.output_mode, output_sequence_length=self.output_sequence_length,
                      pad_to_max_tokens=self.lookup.pad_to_max_tokens, sparse=False, ragged=False,
                      vocabulary=lookup["vocabulary"], idf_weights=lookup["idf_weights"], encoding=self.encoding,
                      has_input_vocabulary=self.lookup.has_input_vocabulary,
                      vocabulary_size=self.vocabulary_size())
        return config
