"""keras.utils.get_file and keras.datasets on small files made here (no network: the download
function is replaced by a copy from a local folder).  The loaders' conventions are compared with
Keras's own loaders run on the same small files."""
import gzip
import hashlib
import io
import json
import os
import shutil
import tarfile
import zipfile

import numpy as np
import pytest

import minirnn.keras as mk
from minirnn import downloads, keras_datasets


@pytest.fixture
def server(tmp_path, monkeypatch):
    """A folder standing for the web: get_file 'downloads' a URL's base name from it."""
    folder = tmp_path / "server"
    folder.mkdir()
    home = tmp_path / "home"
    monkeypatch.setenv("KERAS_HOME", str(home))
    fetched = []

    def fake_download(url, destination):
        source = folder / url.rsplit("/", 1)[-1]
        if not source.exists():
            raise OSError(f"no route to {url}")
        fetched.append(url)
        shutil.copyfile(source, destination)
        return destination
    monkeypatch.setattr(downloads, "_download", fake_download)
    return folder, home, fetched


def sha256(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def test_get_file_downloads_once_into_keras_home(server):
    folder, home, fetched = server
    (folder / "data.txt").write_text("hello")
    digest = sha256(folder / "data.txt")
    path = mk.utils.get_file("data.txt", origin="https://example.org/files/data.txt", file_hash=digest)
    assert path == str(home / "datasets" / "data.txt") and open(path).read() == "hello"
    assert mk.utils.get_file("data.txt", origin="https://example.org/files/data.txt", file_hash=digest) == path
    assert len(fetched) == 1                                       # the cached copy is used
    (home / "datasets" / "data.txt").write_text("stale")           # a changed copy is fetched again
    mk.utils.get_file("data.txt", origin="https://example.org/files/data.txt", file_hash=digest)
    assert len(fetched) == 2 and open(path).read() == "hello"
    md5 = hashlib.md5(b"hello").hexdigest()
    assert mk.utils.get_file(origin="https://example.org/files/data.txt", md5_hash=md5, cache_subdir="x",
                             cache_dir=str(home / "other")).endswith(os.path.join("other", "x", "data.txt"))


def test_get_file_refuses_a_corrupt_download_and_says_where_to_put_the_file(server):
    folder, home, _ = server
    (folder / "data.txt").write_text("tampered")
    with pytest.raises(ValueError, match="incomplete or corrupted"):
        mk.utils.get_file("data.txt", origin="https://example.org/data.txt", file_hash="0" * 64)
    assert not (home / "datasets" / "data.txt").exists()
    with pytest.raises(ConnectionError, match=r"put it at .*datasets/missing.bin \(sha256 1{64}\)"):
        mk.utils.get_file("missing.bin", origin="https://example.org/missing.bin", file_hash="1" * 64)
    with pytest.raises(ValueError, match="not a path"):
        mk.utils.get_file("a/b.txt", origin="https://example.org/b.txt")


@pytest.mark.parametrize("kind", ["tar.gz", "zip"])
def test_get_file_extracts_archives(server, kind):
    folder, home, _ = server
    archive = folder / f"bundle.{kind}"
    if kind == "zip":
        with zipfile.ZipFile(archive, "w") as z:
            z.writestr("bundle/a.txt", "A")
    else:
        with tarfile.open(archive, "w:gz") as t:
            data = b"A"
            info = tarfile.TarInfo("bundle/a.txt")
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    path = mk.utils.get_file(f"bundle.{kind}", origin=f"https://example.org/bundle.{kind}", extract=True)
    assert path == str(home / "datasets" / "bundle_extracted")
    assert open(os.path.join(path, "bundle", "a.txt")).read() == "A"


def test_extraction_refuses_paths_out_of_the_folder(tmp_path):
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(bad, "w") as z:
        z.writestr("../escape.txt", "x")
    with pytest.raises(ValueError, match="outside"):
        downloads.extract_archive(str(bad), str(tmp_path / "out"))
    assert not (tmp_path / "escape.txt").exists()


def ragged(lists):
    out = np.empty(len(lists), dtype=object)
    out[:] = lists
    return out


def imdb_like(path, n=12, seed=0):
    rng = np.random.default_rng(seed)
    docs = [[int(w) for w in rng.integers(1, 30, size=rng.integers(3, 9))] for _ in range(2 * n)]    # plain ints
    np.savez(path, x_train=ragged(docs[:n]), y_train=rng.integers(0, 2, n),
             x_test=ragged(docs[n:]), y_test=rng.integers(0, 2, n))


@pytest.mark.parametrize("kwargs", [{}, {"num_words": 20}, {"maxlen": 8, "skip_top": 2},
                                    {"start_char": None, "index_from": 0, "oov_char": None, "num_words": 15}])
def test_imdb_matches_keras_on_the_same_file(server, monkeypatch, kwargs):
    folder, _, _ = server
    imdb_like(folder / "imdb.npz")
    monkeypatch.setitem(keras_datasets.HASHES, "imdb.npz", sha256(folder / "imdb.npz"))
    (x_train, y_train), (x_test, y_test) = mk.datasets.imdb.load_data(**kwargs)
    import keras.src.datasets.imdb as keras_imdb

    monkeypatch.setattr(keras_imdb, "get_file", lambda **_: str(folder / "imdb.npz"))
    (kx_train, ky_train), (kx_test, ky_test) = keras_imdb.load_data(**kwargs)
    assert [list(map(int, x)) for x in x_train] == [list(map(int, x)) for x in kx_train]
    assert [list(map(int, x)) for x in x_test] == [list(map(int, x)) for x in kx_test]
    np.testing.assert_array_equal(y_train, ky_train)
    np.testing.assert_array_equal(y_test, ky_test)
    assert x_train.dtype == object


def test_reuters_mnist_fashion_boston_match_keras(server, monkeypatch):
    folder, _, _ = server
    rng = np.random.default_rng(1)
    docs = [[int(w) for w in rng.integers(1, 40, size=rng.integers(2, 7))] for _ in range(10)]
    np.savez(folder / "reuters.npz", x=ragged(docs), y=rng.integers(0, 46, 10))
    np.savez(folder / "mnist.npz", x_train=rng.integers(0, 255, (5, 28, 28), dtype=np.uint8),
             y_train=np.arange(5, dtype=np.uint8), x_test=rng.integers(0, 255, (3, 28, 28), dtype=np.uint8),
             y_test=np.arange(3, dtype=np.uint8))
    np.savez(folder / "boston_housing.npz", x=rng.random((20, 13)), y=rng.random(20))
    for name in ("reuters.npz", "mnist.npz", "boston_housing.npz"):
        monkeypatch.setitem(keras_datasets.HASHES, name, sha256(folder / name))
    for split, count in (("train", 4), ("t10k", 2)):
        with gzip.open(folder / f"{split}-labels-idx1-ubyte.gz", "wb") as f:
            f.write(b"\0" * 8 + bytes(range(count)))
        with gzip.open(folder / f"{split}-images-idx3-ubyte.gz", "wb") as f:
            f.write(b"\0" * 16 + rng.integers(0, 255, count * 784, dtype=np.uint8).tobytes())
    import keras.src.datasets.boston_housing as k_boston
    import keras.src.datasets.fashion_mnist as k_fashion
    import keras.src.datasets.mnist as k_mnist
    import keras.src.datasets.reuters as k_reuters

    for module in (k_boston, k_mnist, k_reuters):
        monkeypatch.setattr(module, "get_file", lambda fname=None, origin=None, **_: str(folder / origin.rsplit("/")[-1]))
    monkeypatch.setattr(k_fashion, "get_file", lambda fname, origin=None, **_: str(folder / fname))
    pairs = [(mk.datasets.reuters.load_data(num_words=30, test_split=0.3), k_reuters.load_data(num_words=30,
                                                                                               test_split=0.3)),
             (mk.datasets.mnist.load_data(), k_mnist.load_data()),
             (mk.datasets.fashion_mnist.load_data(), k_fashion.load_data()),
             (mk.datasets.boston_housing.load_data(test_split=0.25), k_boston.load_data(test_split=0.25))]
    for mine, theirs in pairs:
        for (a, b), (c, d) in zip(mine, theirs):
            if a.dtype == object:
                assert [list(map(int, x)) for x in a] == [list(map(int, x)) for x in c]
            else:
                np.testing.assert_array_equal(a, c)
                assert a.dtype == c.dtype
            np.testing.assert_array_equal(b, d)
    assert mk.datasets.reuters.get_label_names()[3] == "earn"


def test_word_index(server, monkeypatch):
    folder, _, _ = server
    (folder / "imdb_word_index.json").write_text(json.dumps({"the": 1, "movie": 17}))
    monkeypatch.setitem(keras_datasets.HASHES, "imdb_word_index.json",
                        hashlib.md5((folder / "imdb_word_index.json").read_bytes()).hexdigest())
    assert mk.datasets.imdb.get_word_index() == {"the": 1, "movie": 17}


class Exploit:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def test_npz_loading_runs_no_code(tmp_path):
    arr = np.empty(1, dtype=object)
    arr[0] = Exploit()
    np.savez(tmp_path / "evil.npz", x=arr)
    with pytest.raises(ValueError, match=r"refused to load posix.system|not a plain object array"):
        downloads.load_npz(tmp_path / "evil.npz")
    good = ragged([[1, 2], [3]])
    np.savez(tmp_path / "good.npz", x=good, y=np.arange(3))
    loaded = downloads.load_npz(tmp_path / "good.npz")
    assert [list(v) for v in loaded["x"]] == [[1, 2], [3]] and loaded["y"].tolist() == [0, 1, 2]
