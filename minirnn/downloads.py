"""``get_file``: download once into Keras's cache folder, check the checksum, extract archives.

    path = get_file("imdb.npz", origin=URL, file_hash=SHA256)
    # -> ~/.keras/datasets/imdb.npz  ($KERAS_HOME instead of ~/.keras when set)

A cached file whose hash does not match is downloaded again; a download whose hash does not
match is deleted and refused.  Offline, the error says which file to put where.  Archives
(zip, tar, tar.gz) are extracted without following member paths out of the target folder
(no absolute paths, no ``..``, no links).  :func:`load_npz` reads ``.npz`` files without
running code: numeric members with pickling off, object arrays (ragged sequences) through an
unpickler that rebuilds NumPy arrays and nothing else.
"""
import hashlib
import io
import os
import pickle
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.parse
import zipfile

import numpy as np

from .datasets import download

MAX_NPZ_MEMBER_BYTES = 4 * 2**30        # a member's uncompressed size (the largest Keras data set is ~0.2 GB)


def keras_home():
    """``$KERAS_HOME``, else ``~/.keras`` (``/tmp/.keras`` when the home folder is not writable)."""
    if os.environ.get("KERAS_HOME"):
        return os.environ["KERAS_HOME"]
    home = os.path.expanduser("~")
    return os.path.join(home if os.access(home, os.W_OK) else "/tmp", ".keras")


def file_hash(path, algorithm="sha256", chunk_size=1 << 20):
    """The hex digest of the file's bytes."""
    hasher = hashlib.md5() if algorithm == "md5" else hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(chunk_size), b""):
            hasher.update(chunk)
    return hasher.hexdigest()


def _algorithm(algorithm, expected):
    if algorithm in ("sha256", "md5"):
        return algorithm
    if algorithm != "auto":
        raise ValueError(f"get_file: hash_algorithm must be 'auto', 'sha256' or 'md5', received {algorithm!r}")
    return "sha256" if len(expected) == 64 else "md5"           # Keras's rule for "auto"


def validate_file(path, expected, algorithm="auto"):
    """True if the file's hash is `expected` (sha256 or md5, by length for "auto")."""
    return file_hash(path, _algorithm(algorithm, expected)) == str(expected).lower()


def _inside(root, name):
    target = os.path.realpath(os.path.join(root, name))
    return target == os.path.realpath(root) or target.startswith(os.path.realpath(root) + os.sep)


def extract_archive(path, destination, archive_format="auto"):
    """Extract a zip or tar(.gz/.bz2/.xz) archive into `destination`; True if it was one.

    Members that would land outside `destination` (absolute paths, ``..``) and links are refused."""
    formats = ["tar", "zip"] if archive_format == "auto" else \
        [archive_format] if isinstance(archive_format, str) else list(archive_format)
    for kind in formats:
        if kind == "zip" and zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                for name in archive.namelist():
                    if not _inside(destination, name):
                        raise ValueError(f"{path}: archive member {name!r} would be written outside {destination}")
                _extract_to(destination, archive.extractall)
            return True
        if kind == "tar" and tarfile.is_tarfile(path):
            with tarfile.open(path) as archive:
                members = archive.getmembers()
                for member in members:
                    if not _inside(destination, member.name) or member.issym() or member.islnk() \
                            or not (member.isfile() or member.isdir()):
                        raise ValueError(f"{path}: archive member {member.name!r} is a link, a device or "
                                         f"would be written outside {destination}; refused")
                _extract_to(destination, lambda folder: archive.extractall(folder, members=members))
            return True
    return False


def _extract_to(destination, extract):
    """Extract into a temporary sibling folder, then move it in place (no half-extracted folder)."""
    parent = os.path.dirname(os.path.abspath(destination))
    os.makedirs(parent, exist_ok=True)
    partial = tempfile.mkdtemp(dir=parent, prefix=".extract-")
    try:
        extract(partial)
        if os.path.exists(destination):
            shutil.rmtree(destination)
        os.replace(partial, destination)
    finally:
        if os.path.exists(partial):
            shutil.rmtree(partial)


def get_file(fname=None, origin=None, untar=False, md5_hash=None, file_hash=None, cache_subdir="datasets",
             hash_algorithm="auto", extract=False, archive_format="auto", cache_dir=None, force_download=False):
    """The path of `fname` in ``<cache_dir or keras_home()>/<cache_subdir>/``, downloaded from
    `origin` if it is not there or its hash differs from `file_hash`; with ``extract`` (or
    ``untar``) the folder it was extracted to (``<name>_extracted``), as Keras 3 names it."""
    if origin is None:
        raise ValueError('get_file: specify the "origin" argument (the URL of the file to download)')
    if md5_hash is not None and file_hash is None:
        file_hash, hash_algorithm = md5_hash, "md5"
    base = os.path.expanduser(os.fspath(cache_dir) if cache_dir is not None else keras_home())
    if os.path.isdir(base) and not os.access(base, os.W_OK):
        base = os.path.join(tempfile.gettempdir(), ".keras")
    folder = os.path.join(base, cache_subdir)
    os.makedirs(folder, exist_ok=True)
    name = os.fspath(fname) if fname else os.path.basename(urllib.parse.urlsplit(origin).path)
    if not name:
        raise ValueError(f"get_file: cannot take a file name from the origin {origin!r}; pass fname=")
    if os.sep in name or (os.altsep and os.altsep in name):
        raise ValueError(f"get_file: fname must be a file name, not a path (put the folder in cache_dir=); "
                         f"received fname={name!r}")
    extracting = extract or untar
    if extracting and fname and "." in name:
        target, extraction = os.path.join(folder, name), os.path.join(folder, name[:name.find(".")] + "_extracted")
    elif extracting:
        target, extraction = os.path.join(folder, name + "_archive"), os.path.join(folder, name)
    else:
        target, extraction = os.path.join(folder, name), None
    fetch = force_download or not os.path.exists(target)
    if not fetch and file_hash is not None and not validate_file(target, file_hash, hash_algorithm):
        print(f"A local file was found at {target}, but its {_algorithm(hash_algorithm, file_hash)} hash does not "
              f"match {file_hash}: downloading it again.")
        fetch = True
    if fetch:
        _fetch(origin, target, file_hash, hash_algorithm)
    if extracting:
        if not os.path.isdir(extraction) or fetch:
            if not extract_archive(target, extraction, "tar" if untar else archive_format):
                raise ValueError(f"get_file: {target} is not a {archive_format} archive, so it cannot be extracted")
        return extraction
    return target


def _fetch(origin, target, expected, algorithm):
    print(f"Downloading data from {origin}")
    try:
        _download(origin, target)
    except (urllib.error.URLError, OSError) as error:
        hashed = "" if expected is None else f" ({_algorithm(algorithm, expected)} {expected})"
        raise ConnectionError(f"Could not download {origin} ({type(error).__name__}: {error}).\n"
                              f"Download it by other means and put it at {target}{hashed}; it is used "
                              f"from there without a download.") from error
    if expected is not None and not validate_file(target, expected, algorithm):
        os.remove(target)
        raise ValueError(f"The file downloaded from {origin} is incomplete or corrupted: its "
                         f"{_algorithm(algorithm, expected)} hash is not {expected}; it was deleted")


def _download(url, destination):
    # A module-level seam: tests replace it (no network in tests).
    return download(url, destination)


# -- .npz files without running code -----------------------------------------------------------
_ARRAY_GLOBALS = frozenset({("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "_reconstruct"),
                            ("numpy._core.multiarray", "_reconstruct")})


class ArrayUnpickler(pickle.Unpickler):
    """Rebuilds NumPy arrays (of Python lists and numbers) and refuses every other global."""

    def find_class(self, module, name):
        if (module, name) in _ARRAY_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refused to load {module}.{name}: a data file may hold NumPy arrays only")


def _read_npy(f, where):
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
    else:
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)      # 3.0 differs in the encoding only
    if not dtype.hasobject:
        f.seek(0)
        return np.lib.format.read_array(f, allow_pickle=False)
    try:
        array = ArrayUnpickler(f).load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as error:
        raise ValueError(f"{where}: not a plain object array ({error})") from None
    if not isinstance(array, np.ndarray) or array.shape != tuple(shape):
        raise ValueError(f"{where}: the stored array does not match its header {shape}")
    return array


def load_npz(path, max_member_bytes=MAX_NPZ_MEMBER_BYTES):
    """``{name: array}`` of an ``.npz`` file; object arrays (ragged sequences) included, read
    without running any code from the file."""
    arrays = {}
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            if not info.filename.endswith(".npy"):
                continue
            if info.file_size > max_member_bytes:
                raise ValueError(f"{path}: member {info.filename!r} is {info.file_size:,} bytes uncompressed, "
                                 f"more than the limit of {max_member_bytes:,}")
            with archive.open(info) as raw:
                buffer = io.BytesIO(raw.read(max_member_bytes + 1))
            arrays[info.filename[:-4]] = _read_npy(buffer, f"{path}: member {info.filename!r}")
    return arrays
