"""Short runs of the examples, plots in a tmp folder.

The course demo, the char LM and the classifier train just long enough to beat a baseline the
test computes itself (any constant forecast, the labels' unigram entropy, the majority class);
the Jena run trains every model for two batches only, so its numbers are checked elsewhere
(the naive baseline recomputed, parameter counts against Keras, a stacked GRU against the
best constant forecast on the offline TMY3 year)."""
import importlib.util
import json
import math
import os
import sys

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

import minirnn as mr
from jena_format import write_jena_csv

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")


def load_example(name):
    spec = importlib.util.spec_from_file_location(f"example_{name}", os.path.join(EXAMPLES, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(autouse=True)
def one_blas_thread():
    # Small matrices: threads only add contention (badly so on a loaded machine).
    with threadpool_limits(limits=1):
        yield


@pytest.fixture(scope="module")
def jena_csv(tmp_path_factory):
    # 8,000 rows: enough for 120-step windows every 6 rows with targets 858 rows later in each split.
    path = tmp_path_factory.mktemp("jena") / "jena_small.csv"
    write_jena_csv(path, n_rows=8000, seed=0)
    return str(path)


def test_jena_forecast_smoke_all_models(jena_csv, tmp_path, capsys):
    jena = load_example("jena_forecast")
    results = jena.main(["--data", jena_csv, "--epochs", "1", "--max-batches", "2", "--verbose", "0",
                         "--output-dir", str(tmp_path)])
    assert list(results) == jena.ALL_MODELS
    for kind, r in results.items():
        assert math.isfinite(r["val_mae"]) and math.isfinite(r["test_mae"]), kind
    out = capsys.readouterr().out
    assert "Mean absolute error in degrees (minirnn" in out
    for kind in jena.ALL_MODELS:
        assert f"\n{kind} " in out
    assert os.path.exists(tmp_path / "forecast_jena_small_minirnn_curves.png")
    saved = json.loads((tmp_path / "forecast_jena_small_minirnn.json").read_text())
    assert saved["histories"]["lstm"]["val_mae"] and saved["results"]["naive"]["params"] is None


def jena_validation_windows(path):
    """(last temperature of each validation window, its target), straight from the CSV: the
    book's split (half train, a quarter validation), windows of 120 steps of 6 rows, target 24
    steps after the window's last one."""
    from minirnn.datasets import load_jena_climate
    _, values, columns = load_jena_climate(path=path)
    t = values[:, columns.index("T (degC)")].astype(np.float64)
    n, rate, length = len(values), 6, 120
    delay = rate * (length + 24 - 1)
    num_train, num_val = n // 2, n // 4
    starts = np.arange(num_train, num_train + num_val - (length - 1) * rate)
    return t[starts + (length - 1) * rate], t[starts + delay]


def test_jena_naive_baseline_is_the_last_temperature_of_the_window(jena_csv, tmp_path):
    """The baseline over the whole validation split, recomputed here straight from the arrays."""
    jena = load_example("jena_forecast")
    results = jena.main(["--data", jena_csv, "--models", "naive", "--verbose", "0",
                         "--output-dir", str(tmp_path)])
    last, target = jena_validation_windows(jena_csv)
    np.testing.assert_allclose(results["naive"]["val_mae"], np.mean(np.abs(last - target)), rtol=1e-4)


def test_jena_trained_models_beat_every_constant_forecast(jena_csv, tmp_path):
    """A few epochs on the whole training split: the dense and the stacked GRU model must forecast
    the validation split better than the best constant (the targets' median), computed here."""
    jena = load_example("jena_forecast")
    results = jena.main(["--data", jena_csv, "--models", "dense,gru_stacked", "--epochs", "3",
                         "--verbose", "0", "--output-dir", str(tmp_path)])
    _, target = jena_validation_windows(jena_csv)
    best_constant = np.mean(np.abs(target - np.median(target)))
    for kind in ("dense", "gru_stacked"):
        assert results[kind]["val_mae"] < 0.8 * best_constant, (kind, results[kind]["val_mae"], best_constant)


def test_jena_models_have_the_same_parameter_counts_in_keras():
    import keras
    jena = load_example("jena_forecast")
    for kind in jena.MODELS:
        ours, theirs = jena.build(kind, (120, 14), "minirnn"), jena.build(kind, (120, 14), "keras")
        assert ours.count_params() == theirs.count_params(), kind
        assert [type(layer).__name__ for layer in ours.layers] == \
            [type(layer).__name__ for layer in theirs.layers], kind
    keras.backend.clear_session()


def test_jena_forecast_keras_mode(jena_csv, tmp_path, capsys):
    jena = load_example("jena_forecast")
    argv = ["--data", jena_csv, "--models", "naive,dense", "--epochs", "1", "--max-batches", "1",
            "--verbose", "0", "--output-dir", str(tmp_path)]
    mine = jena.main(argv)
    theirs = jena.main(argv + ["--keras"])
    assert list(theirs) == ["naive", "dense"] and math.isfinite(theirs["dense"]["test_mae"])
    assert theirs["naive"]["val_mae"] == mine["naive"]["val_mae"]
    out = capsys.readouterr().out
    assert "Mean absolute error in degrees (keras" in out and "side by side" in out


def test_jena_forecast_reports_missing_data(tmp_path, capsys, monkeypatch):
    jena = load_example("jena_forecast")
    assert jena.main(["--data", str(tmp_path / "nope.csv"), "--output-dir", str(tmp_path)]) == 2
    assert "nope.csv" in capsys.readouterr().err


def offline(monkeypatch, tmp_path):
    """No cached Jena copy and no network: the download fails as urllib fails offline."""
    import urllib.error

    from minirnn import datasets
    monkeypatch.setenv("MINIRNN_CACHE", str(tmp_path / "empty-cache"))

    def no_network(url, destination):
        raise urllib.error.URLError("[Errno -2] Name or service not known")
    monkeypatch.setattr(datasets, "_download", no_network)


def tmy3_validation_windows():
    """(last temperature of each validation window, its target), from pvlib's own TMY3 reader: the
    validation months (March, July, November), windows of 120 hourly rows inside each month,
    target 24 hours after the window's last one."""
    from pvlib.iotools import read_tmy3

    from minirnn.datasets import tmy3_path
    frame, _ = read_tmy3(tmy3_path(), map_variables=False)
    t = frame["Dry-bulb (C)"].to_numpy(np.float64)
    month = frame["Date (MM/DD/YYYY)"].str[:2].astype(int).to_numpy()    # 24:00 rows keep their date's month
    length, delay = 120, 120 + 24 - 1
    last, target = [], []
    for m in (3, 7, 11):
        rows = np.nonzero(month == m)[0]
        starts = np.arange(rows[0], rows[-1] + 1 - delay)
        last.append(t[starts + length - 1])
        target.append(t[starts + delay])
    return np.concatenate(last), np.concatenate(target)


def test_jena_offline_uses_the_tmy3_year_and_says_so(tmp_path, monkeypatch, capsys):
    """No --data, no network: the real weather pvlib ships, the naive MAE recomputed here from
    pvlib's reader, and the --json file."""
    offline(monkeypatch, tmp_path)
    jena = load_example("jena_forecast")
    out_json = tmp_path / "r.json"
    results = jena.main(["--models", "naive", "--verbose", "0", "--output-dir", str(tmp_path),
                         "--json", str(out_json)])
    captured = capsys.readouterr()
    assert "offline" in captured.out and "TMY3" in captured.out and "Greensboro" in captured.out
    assert "Could not download the Jena climate data" in captured.err
    last, target = tmy3_validation_windows()
    np.testing.assert_allclose(results["naive"]["val_mae"], np.mean(np.abs(last - target)), rtol=1e-5)
    assert json.loads(out_json.read_text()) == {"naive": {"val_mae": results["naive"]["val_mae"],
                                                          "test_mae": results["naive"]["test_mae"]}}


def test_jena_explicit_download_offline_fails_with_the_message(tmp_path, monkeypatch, capsys):
    offline(monkeypatch, tmp_path)
    jena = load_example("jena_forecast")
    assert jena.main(["--data", "jena", "--models", "naive", "--output-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "Could not download the Jena climate data" in err and "tmy3" in err


def test_jena_tmy3_gru_beats_every_constant_forecast(tmp_path):
    """One epoch of the stacked GRU on the TMY3 year forecasts the validation months far better
    than the best constant forecast (the targets' median, computed here: ~8.0 degrees; one
    epoch gives ~3.1)."""
    jena = load_example("jena_forecast")
    results = jena.main(["--data", "tmy3", "--models", "gru_stacked", "--epochs", "1", "--verbose", "0",
                         "--output-dir", str(tmp_path)])
    _, target = tmy3_validation_windows()
    best_constant = np.mean(np.abs(target - np.median(target)))
    assert results["gru_stacked"]["val_mae"] < 0.6 * best_constant, (results["gru_stacked"], best_constant)
    assert os.path.exists(tmp_path / "forecast_tmy3_minirnn_curves.png")


def test_course_week3_smoke(tmp_path, monkeypatch):
    """A short run on 3 seeds: the rate comes from the sweep, and after 20 epochs the median
    forecast is already far better than any constant forecast can be (the best being the
    validation split's median, MAE 11.5; measured on both backends and another BLAS kernel:
    medians 6.7-6.9, single seeds 6.6-7.4); an untrained or wrongly trained model is not."""
    course = load_example("course_week3")
    monkeypatch.setattr(sys, "argv", ["course_week3.py", "--epochs", "20", "--models", "simple_rnn",
                                      "--output-dir", str(tmp_path)])
    results = course.main()["simple_rnn"]
    _, series = mr.data.synthetic_series(seed=course.SEED)
    valid = series[course.SPLIT_TIME:]
    best_constant = np.mean(np.abs(valid - np.median(valid)))
    assert len(results["maes"]) == 3 and results["median"] == np.median(results["maes"])
    assert results["median"] < 0.75 * best_constant, (results, best_constant)
    assert {"simple_rnn_lr_sweep.png", "simple_rnn_training.png", "simple_rnn_forecast.png"} <= \
        set(os.listdir(tmp_path))


def valley_sweep(rng, noise):
    """A sweep's loss by construction: the course's rates, a valley in log-rate whose bottom is at
    1e-5 (a parabola in log-loss, symmetric), times lognormal noise of `noise` (std of log-loss)."""
    rates = 1e-8 * 10 ** (np.arange(100) / 20)
    log_loss = np.log(5.0) + 0.5 * (np.log10(rates) + 5) ** 2
    return rates, np.exp(log_loss + noise * rng.standard_normal(100))


def test_course_week3_rate_is_the_centre_of_the_valley():
    course = load_example("course_week3")
    rates, losses = valley_sweep(np.random.default_rng(0), noise=0.0)
    rate, smoothed, weights = course.pick_rate(rates, losses)
    assert rate == pytest.approx(1e-5, rel=0.05)          # symmetric valley: its centre is its bottom
    assert smoothed.shape == weights.shape == rates.shape and weights.max() > 0
    # A divergence (inf, then NaN) ends the curve: the part before it decides.
    diverged = losses.copy()
    diverged[80], diverged[81:] = np.inf, np.nan
    assert course.pick_rate(rates, diverged)[0] == pytest.approx(course.pick_rate(rates[:80], losses[:80])[0])


def test_course_week3_rate_holds_under_noise_that_moves_the_lowest_point():
    """The sweep's loss past a few 1e-6 is chaotic (round-off decides it): modelled as independent
    noise of 20 % per epoch (log std 0.2; the course's sweeps show 0.06-0.16), the lowest epoch
    wanders over most of a decade, but the picked rate stays within a factor 1.5 across 20 draws
    (1.2-1.35 for other draws of the noise)."""
    course = load_example("course_week3")
    rng = np.random.default_rng(1)
    picks, lowest = [], []
    for _ in range(20):
        rates, losses = valley_sweep(rng, noise=0.2)
        picks.append(course.pick_rate(rates, losses)[0])
        lowest.append(rates[np.argmin(losses)])
    assert max(lowest) / min(lowest) > 4
    assert max(picks) / min(picks) < 1.5, picks


def test_char_rnn_smoke(tmp_path, capsys):
    char_rnn = load_example("char_rnn")
    assert char_rnn.zen_of_python().startswith("The Zen of Python")
    assert capsys.readouterr().out == ""               # decoded without `import this` printing it
    results = char_rnn.main(["--cell", "gru", "--epochs", "5", "--sample-length", "8",
                             "--output-dir", str(tmp_path)])
    # Below the unigram entropy of the labels (the next characters): the model uses the context,
    # which no per-character frequency table can.
    text = char_rnn.zen_of_python()
    labels = np.unique(list(text[char_rnn.SEQUENCE_LENGTH:len(text) - char_rnn.SEQUENCE_LENGTH + 1]),
                       return_counts=True)[1]
    p = labels / labels.sum()
    assert results["loss"] < -np.sum(p * np.log(p)) - 0.1
    assert len(results["samples"]) == len(char_rnn.TEMPERATURES)
    assert os.path.exists(tmp_path / "char_rnn_gru_training.png")
    assert os.path.exists(tmp_path / "char_rnn_gru_samples.txt")


def test_sequence_classification_smoke(tmp_path):
    seq = load_example("sequence_classification")
    rng = np.random.default_rng(0)
    x, y = seq.make_sequences(40, rng)
    assert x.shape == (40, seq.MAX_LENGTH) and y.mean() == 0.5
    for row, label in zip(x, y):
        tokens = list(row[row != 0])
        assert (row[len(tokens):] == 0).all()            # padded at the end
        assert seq.contains(tokens) == bool(label)
    results = seq.main(["--epochs", "2", "--num-train", "512", "--output-dir", str(tmp_path)])
    # The test split as the example draws it: better than always answering its majority class,
    # by more than three standard deviations of a coin-flip classifier's accuracy.
    rng = np.random.default_rng(seq.SEED)
    for n in (512, seq.NUM_VAL, seq.NUM_TEST):                # drawn in order: training, validation, test
        _, y_test = seq.make_sequences(n, rng)
    majority = max(y_test.mean(), 1 - y_test.mean())
    assert results["masked"] > majority + 3 * np.sqrt(0.25 / len(y_test))
    assert os.path.exists(tmp_path / "sequence_classification_training.png")
