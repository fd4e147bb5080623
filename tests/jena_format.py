"""A small CSV in the Jena climate format (same header, dates and 14 columns), for offline tests."""
import numpy as np

from minirnn.datasets import JENA_COLUMNS


def jena_like_rows(n_rows=3000, seed=0):
    """(date strings, float array (n_rows, 14)): 10-minute readings from 01.01.2009 00:10:00."""
    rng = np.random.default_rng(seed)
    t = np.arange(1, n_rows + 1)
    minutes = 10 * t
    day = minutes / (24 * 60)
    temperature = 8 - 10 * np.cos(2 * np.pi * day / 365) - 4 * np.cos(2 * np.pi * day) \
        + np.cumsum(rng.normal(0, 0.05, n_rows))
    values = np.empty((n_rows, len(JENA_COLUMNS)))
    values[:, 0] = 990 + 5 * np.sin(2 * np.pi * day / 3) + rng.normal(0, 0.3, n_rows)
    values[:, 1] = temperature
    values[:, 2] = temperature + 273.15 + 8
    values[:, 3] = temperature - 3 + rng.normal(0, 0.5, n_rows)
    values[:, 4] = np.clip(80 + 10 * np.cos(2 * np.pi * day) + rng.normal(0, 3, n_rows), 10, 100)
    for k in range(5, len(JENA_COLUMNS)):
        values[:, k] = rng.gamma(2.0, 1.0 + k, n_rows)
    dates = (np.datetime64("2009-01-01T00:00:00") + minutes.astype("timedelta64[m]")).astype(str)
    strings = [f"{d[8:10]}.{d[5:7]}.{d[0:4]} {d[11:19]}" for d in dates]
    return strings, values.round(2)


def write_jena_csv(path, n_rows=3000, seed=0):
    dates, values = jena_like_rows(n_rows, seed)
    header = ",".join(f'"{c}"' for c in ("Date Time", *JENA_COLUMNS))
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(header + "\n")
        for d, row in zip(dates, values):
            f.write(d + "," + ",".join(f"{v:.2f}" for v in row) + "\n")
    return dates, values.astype(np.float32)
