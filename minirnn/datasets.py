"""Real weather series for the forecasting examples.

* :func:`load_jena_climate`: the Max Planck Institute's Jena climate record 2009-2016
  (a reading every 10 minutes, 14 quantities), the data set of Deep Learning with
  Python ch. 10.  Downloaded once from the URL the Keras examples use into a cache
  folder, checked (zip integrity, size, header), then parsed with NumPy.
* :func:`load_tmy3`: a year of hourly weather at one station in NREL's TMY3 format (14
  quantities: pressure, temperature, dew point, humidity, wind, cloud, visibility, water vapour,
  sunshine).  By default the Greensboro, North Carolina file that the ``pvlib`` package ships,
  so it works offline: twelve real months, each a measured month of one year from 1980-2003.
"""
import csv
import importlib.util
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
            f"'.../{JENA_CSV}').  Offline, examples/jena_forecast.py uses "
            f"a year of hourly weather shipped by the pvlib package instead (load_tmy3, --data tmy3).")


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


# The quantities taken from a TMY3 file, in this order (its own column names).  Irradiances
# are hourly sums (Wh/m^2, labelled W/m^2 in the file); CeilHgt 77777 means "no ceiling".
TMY3_COLUMNS = (
    "Pressure (mbar)", "Dry-bulb (C)", "Dew-point (C)", "RHum (%)", "Wspd (m/s)", "Wdir (degrees)",
    "TotCld (tenths)", "OpqCld (tenths)", "Hvis (m)", "CeilHgt (m)", "Pwat (cm)", "GHI (W/m^2)",
    "DNI (W/m^2)", "DHI (W/m^2)",
)
TMY3_FILE = "723170TYA.CSV"            # Greensboro Piedmont Triad International, NC, in pvlib/data
_TMY3_MISSING = -9900.0                # the format's mark of a missing value
_TMY3_MAX_BYTES = 16_000_000           # a year of hours is ~1.7 MB


def tmy3_path():
    """The Greensboro TMY3 file inside the installed ``pvlib`` package (pvlib is not imported)."""
    spec = importlib.util.find_spec("pvlib")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("the offline weather data ships with the pvlib package: pip install pvlib  "
                          "(or pip install 'minirnn[weather]')")
    path = os.path.join(list(spec.submodule_search_locations)[0], "data", TMY3_FILE)
    if not os.path.exists(path):
        raise FileNotFoundError(f"pvlib is installed but has no {TMY3_FILE} in its data folder ({path})")
    return path


def load_tmy3(path=None):
    """A TMY3 file (NREL's typical meteorological year) as ``(timestamps, values, columns)``.

    values: float32 (8760, 14), the quantities of :data:`TMY3_COLUMNS`; timestamps: the end of
    each hour in local standard time, each month keeping the year it was measured in (a TMY3
    year is twelve real months from different years, joined with six hours smoothed at each
    seam).  ``path`` defaults to :func:`tmy3_path` (pvlib's Greensboro file).  A missing value
    (-9900) in these columns is an error naming the column.
    """
    path = tmy3_path() if path is None else os.fspath(path)
    size = os.path.getsize(path)
    if size > _TMY3_MAX_BYTES:
        raise ValueError(f"{path}: {size} bytes is more than a TMY3 file holds (at most {_TMY3_MAX_BYTES})")
    with open(path, encoding="latin-1", newline="") as f:
        rows = list(csv.reader(f))
    if len(rows) < 3:
        raise ValueError(f"{path}: not a TMY3 file (fewer than 3 lines)")
    header = [c.strip() for c in rows[1]]
    absent = [c for c in ("Date (MM/DD/YYYY)", "Time (HH:MM)", *TMY3_COLUMNS) if c not in header]
    if absent:
        raise ValueError(f"{path}: not a TMY3 file; its second line lacks the columns {absent}")
    body = [r for r in rows[2:] if any(v.strip() for v in r)]
    where = [header.index(c) for c in TMY3_COLUMNS]
    try:
        values = np.array([[float(r[k]) for k in where] for r in body], dtype=np.float64)
        dates = np.array([f"{r[0][6:10]}-{r[0][0:2]}-{r[0][3:5]}" for r in body], dtype="datetime64[D]")
        hours = np.array([int(r[1].split(":")[0]) for r in body], dtype="timedelta64[h]")
    except (ValueError, IndexError) as error:
        raise ValueError(f"{path}: could not read the dates, times or numbers: {error}") from None
    if not np.isfinite(values).all():
        raise ValueError(f"{path}: the columns hold NaN or inf")
    missing = (values == _TMY3_MISSING).sum(axis=0)
    if missing.any():
        named = {TMY3_COLUMNS[k]: int(n) for k, n in enumerate(missing) if n}
        raise ValueError(f"{path}: missing values (-9900) in {named}")
    timestamps = (dates.astype("datetime64[s]") + hours).astype("datetime64[s]")   # "24:00" = next day 00:00
    return TimeSeries(timestamps, values.astype(np.float32), list(TMY3_COLUMNS))
