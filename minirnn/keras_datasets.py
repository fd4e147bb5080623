"""The data sets of ``keras.datasets``, loaded as Keras loads them (same files, URLs, checksums,
shuffles and index conventions), cached by :func:`minirnn.downloads.get_file` in
``~/.keras/datasets`` (``$KERAS_HOME/datasets``).

imdb, reuters: word-index sequences (object arrays of lists); with ``start_char`` first, word
ids shifted by ``index_from``, ids beyond ``num_words`` (or below ``skip_top``) replaced by
``oov_char``; sequences of ``maxlen`` words or more dropped.  mnist, fashion_mnist: uint8
images (N, 28, 28) and labels.  boston_housing: (N, 13) features and prices.
"""
import gzip
import json
import os

import numpy as np

from .downloads import get_file, load_npz

ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
#: file name -> sha256 (64 hex digits) or md5 (32), as Keras checks them
HASHES = {
    "imdb.npz": "69664113be75683a8fe16e3ed0ab59fda8886cb3cd7ada244f7d9544e4676b9f",
    "imdb_word_index.json": "bfafd718b763782e994055a2d397834f",
    "reuters.npz": "d6586e694ee56d7a4e65172e12b3e987c03096cb01eab99753921ef915959916",
    "reuters_word_index.json": "4d44cc38712099c9e383dc6e5f11a921",
    "mnist.npz": "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1",
    "boston_housing.npz": "f553886a1f8d56431e820c5b82552d9d95cfcb96d1e678153f8839538947dff5",
}
FASHION_FILES = ("train-labels-idx1-ubyte.gz", "train-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz",
                 "t10k-images-idx3-ubyte.gz")
REUTERS_LABELS = (
    "cocoa", "grain", "veg-oil", "earn", "acq", "wheat", "copper", "housing", "money-supply", "coffee", "sugar",
    "trade", "reserves", "ship", "cotton", "carcass", "crude", "nat-gas", "cpi", "money-fx", "interest", "gnp",
    "meal-feed", "alum", "oilseed", "gold", "tin", "strategic-metal", "livestock", "retail", "ipi", "iron-steel",
    "rubber", "heat", "jobs", "lei", "bop", "zinc", "orange", "pet-chem", "dlr", "gas", "silver", "wpi", "hog",
    "lead")


def _fetch(path, name, **kwargs):
    """The cached copy of Keras's file `name` (saved as `path`), downloaded if needed."""
    return get_file(fname=path, origin=ORIGIN + name, file_hash=HASHES.get(name), **kwargs)


def _members(arrays, path, names):
    missing = [n for n in names if n not in arrays]
    if missing:
        raise ValueError(f"{path} lacks the arrays {missing} (it holds {sorted(arrays)})")
    return [arrays[n] for n in names]


def _words(xs, labels, maxlen, start_char, index_from):
    """``start_char`` first, ids shifted by ``index_from``, sequences of ``maxlen`` or more dropped."""
    if start_char is not None:
        xs = [[start_char] + [w + index_from for w in x] for x in xs]
    else:
        xs = [[w + index_from for w in x] for x in xs]
    if maxlen:
        kept = [k for k, x in enumerate(xs) if len(x) < maxlen]
        xs, labels = [xs[k] for k in kept], [labels[k] for k in kept]
    return xs, labels


def _vocabulary(xs, num_words, skip_top, oov_char):
    """Ids outside [skip_top, num_words) become ``oov_char`` (or are dropped when it is None)."""
    if not num_words:
        num_words = max(max(x) for x in xs)
    if oov_char is not None:
        return [[w if skip_top <= w < num_words else oov_char for w in x] for x in xs]
    return [[w for w in x if skip_top <= w < num_words] for x in xs]


def _objects(lists):
    out = np.empty(len(lists), dtype=object)
    out[:] = lists
    return out


def load_imdb(path="imdb.npz", num_words=None, skip_top=0, maxlen=None, seed=113, start_char=1, oov_char=2,
              index_from=3, **kwargs):
    """``((x_train, y_train), (x_test, y_test))`` of the IMDB reviews (25,000 each)."""
    if kwargs:
        raise TypeError(f"imdb.load_data: unrecognized arguments {sorted(kwargs)}")
    file = _fetch(path, "imdb.npz")
    x_train, y_train, x_test, y_test = _members(load_npz(file), file, ["x_train", "y_train", "x_test", "y_test"])
    rng = np.random.RandomState(seed)
    order = np.arange(len(x_train))
    rng.shuffle(order)
    x_train, y_train = x_train[order], y_train[order]
    order = np.arange(len(x_test))
    rng.shuffle(order)
    x_test, y_test = x_test[order], y_test[order]
    train, train_labels = _words(list(x_train), list(y_train), maxlen, start_char, index_from)
    test, test_labels = _words(list(x_test), list(y_test), maxlen, start_char, index_from)
    if maxlen and (not train or not test):
        raise ValueError(f"After filtering for sequences shorter than maxlen={maxlen}, no sequence was kept. "
                         f"Increase maxlen.")
    xs = _vocabulary(train + test, num_words, skip_top, oov_char)
    labels = np.concatenate([np.asarray(train_labels, y_train.dtype), np.asarray(test_labels, y_test.dtype)])
    n = len(train)
    return (_objects(xs[:n]), labels[:n]), (_objects(xs[n:]), labels[n:])


def load_reuters(path="reuters.npz", num_words=None, skip_top=0, maxlen=None, test_split=0.2, seed=113,
                 start_char=1, oov_char=2, index_from=3):
    """``((x_train, y_train), (x_test, y_test))`` of the Reuters newswires (46 topics)."""
    file = _fetch(path, "reuters.npz")
    xs, labels = _members(load_npz(file), file, ["x", "y"])
    rng = np.random.RandomState(seed)
    order = np.arange(len(xs))
    rng.shuffle(order)
    xs, labels = _words(list(xs[order]), list(labels[order]), maxlen, start_char, index_from)
    xs = _vocabulary(xs, num_words, skip_top, oov_char)
    n = int(len(xs) * (1 - test_split))
    return (_objects(xs[:n]), np.array(labels[:n])), (_objects(xs[n:]), np.array(labels[n:]))


def _word_index(path, name):
    with open(_fetch(path, name), encoding="utf-8") as f:
        return json.load(f)


def imdb_word_index(path="imdb_word_index.json"):
    """{word: index} of the IMDB data (before ``index_from``)."""
    return _word_index(path, "imdb_word_index.json")


def reuters_word_index(path="reuters_word_index.json"):
    """{word: index} of the Reuters data (before ``index_from``)."""
    return _word_index(path, "reuters_word_index.json")


def load_mnist(path="mnist.npz"):
    """``((x_train, y_train), (x_test, y_test))``: uint8 digits (60,000 / 10,000, 28x28) and labels."""
    file = _fetch(path, "mnist.npz")
    with np.load(file, allow_pickle=False) as f:
        x_train, y_train, x_test, y_test = (f[k] for k in ("x_train", "y_train", "x_test", "y_test"))
    return (x_train, y_train), (x_test, y_test)


def _idx(path, offset, shape_rest=()):
    """The uint8 body of a gzipped IDX file (labels: offset 8, images: offset 16)."""
    with gzip.open(path, "rb") as f:
        data = np.frombuffer(f.read(), np.uint8, offset=offset)
    if shape_rest:
        size = int(np.prod(shape_rest))
        if data.size % size:
            raise ValueError(f"{path}: {data.size} bytes of images is not a whole number of {shape_rest} images")
        return data.reshape((-1,) + shape_rest)
    return data


def load_fashion_mnist():
    """``((x_train, y_train), (x_test, y_test))``: uint8 clothing images (28x28) and labels."""
    paths = [get_file(name, origin=ORIGIN + name, cache_subdir=os.path.join("datasets", "fashion-mnist"))
             for name in FASHION_FILES]
    y_train, y_test = _idx(paths[0], 8), _idx(paths[2], 8)
    x_train, x_test = _idx(paths[1], 16, (28, 28)), _idx(paths[3], 16, (28, 28))
    if len(x_train) != len(y_train) or len(x_test) != len(y_test):
        raise ValueError(f"fashion_mnist: {len(x_train)} training images for {len(y_train)} labels, "
                         f"{len(x_test)} test images for {len(y_test)} labels")
    return (x_train, y_train), (x_test, y_test)


def load_boston_housing(path="boston_housing.npz", test_split=0.2, seed=113):
    """``((x_train, y_train), (x_test, y_test))``: 13 features and the median price per town."""
    if not 0 <= test_split < 1:
        raise ValueError(f"Invalid test_split={test_split}: it must be in [0, 1)")
    file = _fetch(path, "boston_housing.npz")
    with np.load(file, allow_pickle=False) as f:
        x, y = f["x"], f["y"]
    rng = np.random.RandomState(seed)
    order = np.arange(len(x))
    rng.shuffle(order)
    x, y = x[order], y[order]
    n = int(len(x) * (1 - test_split))
    return (np.array(x[:n]), np.array(y[:n])), (np.array(x[n:]), np.array(y[n:]))
