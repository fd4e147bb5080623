"""Real weather series for the forecasting examples.

* :func:`load_jena_climate`: the Max Planck Institute's Jena climate record 2009-2016
  (a reading every 10 minutes, 14 quantities), the data set of Deep Learning with
  Python ch. 10.  Downloaded once from the URL the Keras examples use into a cache
  folder, checked (zip integrity, size, header), then parsed with NumPy.
* :func:`load_seattle_temps`: hourly Seattle temperatures of 2010 (8,759 readings),
  shipped inside the ``vega_datasets`` package, so it works offline.
"""
import io
import os
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections import namedtuple

import numpy as np

JENA_URL = "https://s3.amazonaws.com/keras-datasets/jena_climate_2009_2016.csv.zip"
JENA_ZIP = "jena_climate_2009_2016.csv.zip"
JENA_CSV = "jena_climate_2009_2016.csv"
JENA_COLUMNS = (
    "p (mbar)", "T (degC)", "Tpot (K)", "Tdew (degC)", "rh (%)", "VPmax (mbar)", "VPact (mbar)",
    "VPdef (mbar)", "sh (g/kg)", "H2OC (mmol/mol)", "rho (g/m**3)", "wv (m/s)", "max. wv (m/s)",
    "wd (deg)",
)
# The real CSV is ~43 MB (420,451 rows) and the zip ~13 MB; anything far smaller is not it.
_MIN_ZIP_BYTES = 1_000_000

TimeSeries = namedtuple("TimeSeries", ["timestamps", "values", "columns"])
TimeSeries.__doc__ = """(timestamps datetime64[s] (N,), values float32 (N, C), column names (C,))."""


def cache_dir(path=None):
    """Where downloads go: ``path``, else ``$MINIRNN_CACHE``, else ``$XDG_CACHE_HOME/minirnn``
    (``~/.cache/minirnn``)."""
    if path is not None:
        return os.fspath(path)
    if os.environ.get("MINIRNN_CACHE"):
        return os.environ["MINIRNN_CACHE"]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "minirnn")


def download(url, destination, timeout=60):
    """Fetch ``url`` to ``destination`` through a temporary file; checks Content-Length."""
    folder = os.path.dirname(os.path.abspath(destination))
    os.makedirs(folder, exist_ok=True)
    fd, partial = tempfile.mkstemp(dir=folder, prefix=".download-")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            headers = getattr(response, "headers", None)
            expected = headers.get("Content-Length") if headers is not None else None
            shutil.copyfileobj(response, out, length=1 << 20)
            written = out.tell()
        if expected is not None and int(expected) != written:
            raise OSError(f"incomplete download of {url}: {written} of {expected} bytes")
        os.replace(partial, destination)
    finally:
        if os.path.exists(partial):
            os.remove(partial)
    return destination


def _offline_message(cache_path, reason):
    return (f"Could not download the Jena climate data ({reason}).\n"
            f"  URL:   {JENA_URL}\n"
            f"  cache: {cache_path}\n"
            f"Download the zip by other means and either put it at that cache path (or set "
            f"$MINIRNN_CACHE / cache_dir=), or pass load_jena_climate(path='.../{JENA_ZIP}' or "
            f"'.../{JENA_CSV}').  Offline, `--data seattle` in examples/jena_forecast.py uses "
            f"the hourly Seattle temperatures shipped by the vega_datasets package instead.")


def _csv_member(archive, where):
    names = [n for n in archive.namelist()
             if n.lower().endswith(".csv") and not n.startswith("__MACOSX/")
             and not os.path.basename(n).startswith("._")]
    exact = [n for n in names if os.path.basename(n) == JENA_CSV]
    if exact:
        return exact[0]
    if len(names) == 1:
        return names[0]
    raise ValueError(f"{where}: expected one CSV file ({JENA_CSV}) in the zip, found {names or 'none'}")


def _check_zip(zip_path):
    size = os.path.getsize(zip_path)
    if not zipfile.is_zipfile(zip_path):
        raise ValueError(f"{zip_path} ({size} bytes) is not a zip archive")
    with zipfile.ZipFile(zip_path) as archive:
        bad = archive.testzip()
        if bad is not None:
            raise ValueError(f"{zip_path}: member {bad!r} is corrupt (CRC mismatch)")
        member = _csv_member(archive, zip_path)
        with archive.open(member) as f:
            _check_header(io.TextIOWrapper(f, encoding="utf-8").readline(), f"{zip_path}:{member}")
    return member


def _split_header(line):
    return [c.strip().strip('"') for c in line.strip().split(",")]


def _check_header(line, where):
    names = _split_header(line)
    if not names or names[0] != "Date Time" or tuple(names[1:]) != JENA_COLUMNS:
        raise ValueError(f"{where}: not the Jena climate format; its header is {names}, expected "
                         f"['Date Time', {', '.join(repr(c) for c in JENA_COLUMNS)}]")
    return names


def parse_jena_csv(text, where="<text>"):
    """Parse the Jena CSV text: dates ``dd.mm.yyyy HH:MM:SS`` then 14 numbers per line."""
    lines = text.splitlines()
    if not lines:
        raise ValueError(f"{where} is empty")
    columns = _check_header(lines[0], where)[1:]
    body = [line for line in lines[1:] if line.strip()]
    if not body:
        raise ValueError(f"{where} has a header but no rows")
    dates = [line.split(",", 1)[0].strip().strip('"') for line in body]
    try:
        iso = [f"{d[6:10]}-{d[3:5]}-{d[0:2]}T{d[11:19]}" for d in dates]
        timestamps = np.array(iso, dtype="datetime64[s]")
    except ValueError:
        bad = next(d for d in dates if not _is_jena_date(d))
        raise ValueError(f"{where}: timestamp {bad!r} is not in the form 'dd.mm.yyyy HH:MM:SS'") from None
    try:
        values = np.loadtxt(body, delimiter=",", usecols=range(1, len(columns) + 1), dtype=np.float32,
                            ndmin=2)
    except ValueError as error:
        raise ValueError(f"{where}: could not read the numeric columns: {error}") from None
    return TimeSeries(timestamps, values, list(columns))


def _is_jena_date(d):
    try:
        np.datetime64(f"{d[6:10]}-{d[3:5]}-{d[0:2]}T{d[11:19]}", "s")
        return len(d) == 19 and d[2] == d[5] == "." and d[10] == " "
    except ValueError:
        return False


def _read_jena(path):
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            member = _csv_member(archive, path)
            text = archive.read(member).decode("utf-8")
        return parse_jena_csv(text, f"{path}:{member}")
    with open(path, encoding="utf-8") as f:
        return parse_jena_csv(f.read(), path)


def load_jena_climate(path=None, cache_dir=None, download=True):
    """The Jena climate record as ``(timestamps, values, columns)``.

    timestamps: datetime64[s] (N,); values: float32 (N, 14) in the column order of
    the CSV (``"p (mbar)", "T (degC)", ...``); columns: the 14 names.

    ``path``: a local ``.csv`` or ``.zip`` in the Jena format, read as is.  Otherwise
    the zip is taken from the cache folder (see :func:`cache_dir`), downloaded from
    :data:`JENA_URL` first if absent and ``download`` is true; a download is checked
    (a zip, not truncated, CRCs, the expected header) before it is kept.
    """
    if path is not None:
        path = os.fspath(path)
        if not os.path.exists(path):
            raise FileNotFoundError(f"no Jena climate file at {path}")
        return _read_jena(path)
    folder = _resolve_cache(cache_dir)
    csv_path, zip_path = os.path.join(folder, JENA_CSV), os.path.join(folder, JENA_ZIP)
    if os.path.exists(csv_path):
        return _read_jena(csv_path)
    if not os.path.exists(zip_path):
        if not download:
            raise FileNotFoundError(_offline_message(zip_path, "download=False and no cached copy"))
        try:
            _download(JENA_URL, zip_path)
        except (urllib.error.URLError, OSError) as error:
            raise ConnectionError(_offline_message(zip_path, f"{type(error).__name__}: {error}")) from error
        if os.path.getsize(zip_path) < _MIN_ZIP_BYTES:
            size = os.path.getsize(zip_path)
            os.remove(zip_path)
            raise ValueError(f"the download from {JENA_URL} is only {size} bytes, not the Jena data; removed")
    try:
        member = _check_zip(zip_path)
    except ValueError as error:
        raise ValueError(f"{error}\nDelete {zip_path} to download it again.") from None
    with zipfile.ZipFile(zip_path) as archive, archive.open(member) as src, \
            open(csv_path + ".part", "wb") as dst:
        shutil.copyfileobj(src, dst, length=1 << 20)
    os.replace(csv_path + ".part", csv_path)
    return _read_jena(csv_path)


def _resolve_cache(path):
    return cache_dir(path)


def _download(url, destination):
    # A module-level seam: tests replace it to check that a cache hit downloads nothing.
    return download(url, destination)


def _seattle_csv():
    try:
        from importlib import resources
        import vega_datasets  # noqa: F401
    except ImportError:
        raise ImportError("the Seattle temperatures ship with the vega_datasets package: "
                          "pip install vega_datasets  (or pip install 'minirnn[weather]')") from None
    return resources.files("vega_datasets") / "_data" / "seattle-temps.csv"


def load_seattle_temps(unit="C"):
    """Hourly Seattle temperatures of 2010 from ``vega_datasets`` (offline): ``(timestamps, values,
    columns)`` with values float32 (8759, 1) in degrees ``unit`` ("C" or "F", the source's)."""
    if unit not in ("C", "F"):
        raise ValueError(f"unit must be 'C' or 'F', received {unit!r}")
    source = _seattle_csv()
    lines = source.read_text(encoding="utf-8").splitlines()
    if _split_header(lines[0]) != ["date", "temp"]:
        raise ValueError(f"{source}: unexpected header {lines[0]!r}, expected 'date,temp'")
    rows = [line.split(",") for line in lines[1:] if line.strip()]
    timestamps = np.array([d.replace("/", "-").replace(" ", "T") for d, _ in rows], dtype="datetime64[s]")
    fahrenheit = np.array([t for _, t in rows], dtype=np.float64)
    values = fahrenheit if unit == "F" else (fahrenheit - 32.0) * 5.0 / 9.0
    return TimeSeries(timestamps, values.astype(np.float32)[:, None], [f"temp (deg{unit})"])
