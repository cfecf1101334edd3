"""The parity suite's data: a few tables with planted faults spread over all rows.

Faults sit at row positions given by ``i % m`` so that, at the large size, they
fall in several chunks and several validation groups; at the small size some
of them are absent, and both verdicts (pass and fail) are compared.
"""

from __future__ import annotations

import datetime as dt
import decimal
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

SMALL = 40  # one chunk, one validation group
LARGE = 1500  # several chunks and several validation groups (see GROUP_ROWS in the tests)


def base(n: int) -> pa.Table:
    i = np.arange(n)
    half = n // 2
    s = np.array(["x", "y", "z"])[i % 3].astype(object)
    s[i % 97 == 50] = "w"
    name = np.array([f"user_{k:04d}" for k in i], dtype=object)
    name[i % 113 == 7] = "bad name!"
    x = (i % 17) * 1.5
    x_mask = i % 41 == 40
    ni_mask = i % 53 == 52
    var_3 = (i % 10).astype(float)
    var_3[i % 61 == 60] = -1.0
    dup = i.copy()
    dup[i % 89 == 88] -= 1  # duplicates of the previous row
    day0 = dt.date(2020, 1, 1)
    return pa.table(
        {
            "id": pa.array(i, pa.int64()),
            "a": pa.array(i % 100, pa.int64()),
            "x": pa.array(x, pa.float64(), mask=x_mask),
            "ni": pa.array(i % 1000, pa.int64(), mask=ni_mask),
            "s": pa.array(s, pa.string()),
            "name": pa.array(name, pa.string()),
            "g": pa.array(np.where(i < half, "g1", "g2"), pa.string()),
            "v": pa.array(i.astype(float), pa.float64()),
            "d": pa.array([day0 + dt.timedelta(days=int(k % 365)) for k in i], pa.date32()),
            "ts": pa.array(
                [dt.datetime(2021, 1, 1) + dt.timedelta(hours=int(k)) for k in i],
                pa.timestamp("us"),
            ),
            "dec": pa.array(
                [decimal.Decimal(int(k % 1000)) / 100 for k in i], pa.decimal128(10, 2)
            ),
            "flag": pa.array(i % 5 == 0, pa.bool_()),
            "dup": pa.array(dup, pa.int64()),
            "p": pa.array(i % 7, pa.int64()),
            "q": pa.array(i % 11, pa.int64()),
            "var_1": pa.array((i % 10).astype(float), pa.float64()),
            "var_2": pa.array((i % 3).astype(float), pa.float64()),
            "var_3": pa.array(var_3, pa.float64()),
            "cat": pa.array(s, pa.string()).dictionary_encode(),
        }
    )


def enum(n: int) -> pl.DataFrame:
    """Written by polars: an Enum and a Categorical column."""
    i = np.arange(n)
    levels = ["lo", "mid", "hi"]
    return pl.DataFrame(
        {
            "level": pl.Series([levels[k % 3] for k in i], dtype=pl.Enum(levels)),
            "kind": pl.Series(["a" if k % 4 else "b" for k in i], dtype=pl.Categorical),
            "n": pl.Series(i, dtype=pl.Int64),
        }
    )


DATASETS = ("base", "enum")


def write(dataset: str, n: int, folder: Path) -> Path:
    path = folder / f"{dataset}-{n}.parquet"
    if not path.exists():
        if dataset == "base":
            pq.write_table(base(n), path)
        else:
            enum(n).write_parquet(path)
    return path
