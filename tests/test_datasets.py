"""Jena climate loader (offline: generated files, a fake downloader) and the TMY3 loader."""
import os
import urllib.error
import urllib.request
import zipfile

import numpy as np
import pytest

from jena_format import write_jena_csv
from minirnn import datasets
from minirnn.datasets import JENA_COLUMNS, JENA_CSV, JENA_URL, JENA_ZIP, load_jena_climate


@pytest.fixture
def jena_csv(tmp_path):
    path = tmp_path / "small.csv"
    dates, values = write_jena_csv(path, n_rows=500, seed=1)
    return path, dates, values


def make_zip(csv_path, zip_path, member=JENA_CSV, extra=()):
    with zipfile.ZipFile(zip_path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.write(csv_path, member)
        for name, text in extra:
            archive.writestr(name, text)
    return zip_path


def check(result, dates, values):
    timestamps, loaded, columns = result
    assert columns == list(JENA_COLUMNS) and len(columns) == 14
    assert loaded.dtype == np.float32 and loaded.shape == (len(dates), 14)
    np.testing.assert_array_equal(loaded, values)
    assert timestamps.dtype == np.dtype("datetime64[s]")
    assert str(timestamps[0]) == "2009-01-01T00:10:00"
    assert dates[0] == "01.01.2009 00:10:00"
    assert (np.diff(timestamps) == np.timedelta64(600, "s")).all()


def test_reads_a_local_csv(jena_csv):
    path, dates, values = jena_csv
    check(load_jena_climate(path=path), dates, values)
    check(load_jena_climate(path=str(path)), dates, values)


def test_reads_a_local_zip_even_with_macos_metadata(jena_csv, tmp_path):
    path, dates, values = jena_csv
    zipped = make_zip(path, tmp_path / "j.zip", extra=[("__MACOSX/._jena_climate_2009_2016.csv", "x")])
    check(load_jena_climate(path=zipped), dates, values)


def test_cache_hit_does_not_download(jena_csv, tmp_path, monkeypatch):
    path, dates, values = jena_csv
    cache = tmp_path / "cache"
    cache.mkdir()
    make_zip(path, cache / JENA_ZIP)

    def no_download(url, destination):
        raise AssertionError("downloaded although the zip was cached")

    monkeypatch.setattr(datasets, "_download", no_download)
    check(load_jena_climate(cache_dir=cache), dates, values)
    assert (cache / JENA_CSV).exists()                 # extracted once,
    os.remove(cache / JENA_ZIP)                        # then the CSV alone is enough
    check(load_jena_climate(cache_dir=cache), dates, values)
    monkeypatch.setenv("MINIRNN_CACHE", str(cache))   # the environment variable names the same folder
    check(load_jena_climate(), dates, values)


def test_download_goes_to_the_cache_and_is_verified(jena_csv, tmp_path, monkeypatch):
    path, dates, values = jena_csv
    source = make_zip(path, tmp_path / "served.zip")
    calls = []

    def fake_urlopen(url, timeout=None):
        calls.append(url)
        return open(source, "rb")

    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen)
    monkeypatch.setattr(datasets, "_MIN_ZIP_BYTES", 100)
    cache = tmp_path / "c"
    check(load_jena_climate(cache_dir=cache), dates, values)
    check(load_jena_climate(cache_dir=cache), dates, values)
    assert calls == [JENA_URL]
    assert sorted(os.listdir(cache)) == [JENA_CSV, JENA_ZIP]


def test_a_download_that_is_not_the_data_is_rejected(tmp_path, monkeypatch):
    bogus = tmp_path / "page.html"
    bogus.write_text("<html>Access denied</html>")
    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout=None: open(bogus, "rb"))
    with pytest.raises(ValueError, match="bytes"):
        load_jena_climate(cache_dir=tmp_path / "c")
    assert not (tmp_path / "c" / JENA_ZIP).exists()


def test_wrong_header_is_rejected(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text('"Date Time","p (mbar)"\n01.01.2009 00:10:00,996.5\n')
    with pytest.raises(ValueError, match="Jena climate format"):
        load_jena_climate(path=bad)
    cache = tmp_path / "cache"
    cache.mkdir()
    make_zip(bad, cache / JENA_ZIP)
    with pytest.raises(ValueError, match="Delete"):
        load_jena_climate(cache_dir=cache)


def test_offline_error_names_url_cache_and_path_option(tmp_path, monkeypatch):
    def offline(url, timeout=None):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(ConnectionError) as info:
        load_jena_climate(cache_dir=tmp_path / "offline")
    message = str(info.value)
    assert JENA_URL in message
    assert str(tmp_path / "offline" / JENA_ZIP) in message
    assert "path=" in message
    assert not list((tmp_path / "offline").iterdir())    # no partial file left behind
    with pytest.raises(FileNotFoundError, match="path="):
        load_jena_climate(cache_dir=tmp_path / "offline", download=False)


def test_default_cache_folder(monkeypatch, tmp_path):
    monkeypatch.delenv("MINIRNN_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert datasets.cache_dir() == os.path.join(str(tmp_path), "minirnn")
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert datasets.cache_dir() == os.path.join(os.path.expanduser("~"), ".cache", "minirnn")


def test_tmy3_matches_pvlibs_own_reader():
    """pvlib's shipped Greensboro year, read by us and by pvlib.iotools.read_tmy3 (pandas)."""
    from pvlib.iotools import read_tmy3      # in the test extra: a missing install fails here, loudly
    timestamps, values, columns = datasets.load_tmy3()
    theirs, meta = read_tmy3(datasets.tmy3_path(), map_variables=False)
    assert meta["USAF"] == 723170 and values.shape == (8760, 14) and values.dtype == np.float32
    assert columns == list(datasets.TMY3_COLUMNS)
    np.testing.assert_array_equal(values, theirs[columns].to_numpy(np.float32))
    local = theirs.index.tz_localize(None).to_numpy().astype("datetime64[s]")
    # One hour differs: "02/28/1996 24:00" (February of a leap year) is 29 February 00:00;
    # pvlib's index puts it on 1 March.
    differ = np.nonzero(timestamps != local)[0]
    assert [str(timestamps[k]) for k in differ] == ["1996-02-29T00:00:00"]
    assert theirs["Date (MM/DD/YYYY)"].iloc[differ[0]] == "02/28/1996" and theirs["Time (HH:MM)"].iloc[differ[0]] == "24:00"
    assert str(timestamps[0]) == "1988-01-01T01:00:00"        # January is a measured January of 1988


def test_tmy3_refuses_missing_values_and_other_files(tmp_path):
    lines = open(datasets.tmy3_path(), encoding="latin-1").read().splitlines()
    header = lines[1].split(",")
    k = header.index("Dew-point (C)")
    row = lines[5].split(",")
    row[k] = "-9900"
    broken = tmp_path / "broken.csv"
    broken.write_text("\n".join(lines[:5] + [",".join(row)] + lines[6:]) + "\n", encoding="latin-1")
    with pytest.raises(ValueError, match=r"missing values \(-9900\) in \{'Dew-point \(C\)': 1\}"):
        datasets.load_tmy3(broken)
    other = tmp_path / "other.csv"
    other.write_text("a,b\nDate,Time\n1,2\n")
    with pytest.raises(ValueError, match="not a TMY3 file; its second line lacks the columns"):
        datasets.load_tmy3(other)

