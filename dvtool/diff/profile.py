"""Distribution statistics of a version, computed once per chunk and merged.

A :class:`ChunkProfile` is what one chunk's rows say about each column: counts,
nulls, exact moments (n, mean, M2), min and max, a relative-error quantile
sketch (DDSketch-style buckets on a fixed logarithmic grid, so sketches of
different chunks and versions line up and add up exactly), the values and
their counts for low-cardinality columns, and HyperLogLog registers for the
distinct count. Every part merges exactly, so a version's profile is the merge
of its chunks' profiles and a new version reads only its new chunks: profiles
are cached per chunk fingerprint under ``stats/<engine hex>/<chunk hex>.json``
(create-only, like validation verdicts).

What is exact and what is not (docs/diff.md says the same):

* row count, nulls, NaN/infinite count, mean, std, min, max: exact
  (mean and std over finite values, computed in double precision);
* quantiles p1…p99: within 1% relative error of a true value at that rank
  (the bucket grid has ratio (1+α)/(1−α) with α = 0.01);
* top values and new categories: exact while the column has at most
  ``CATEGORY_CAP`` distinct values in the version, else not reported;
* distinct count: exact under the cap, else HyperLogLog (p=12, ≈1.6% error).

Numeric moments and sketches are computed in numpy from the Arrow buffers; nulls,
HyperLogLog registers and value counts in DuckDB (through sql.py), identifiers quoted.
"""

from __future__ import annotations

import base64
import json
import math
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import duckdb
import pyarrow as pa

from dvtool import sql

__all__ = [
    "ALPHA",
    "CATEGORY_CAP",
    "ENGINE",
    "ColumnProfile",
    "Profile",
    "profile_key",
    "profile_table",
]

# Bump when a cached chunk profile would change meaning; part of the cache key.
ENGINE = f"dvtool-stats-2/duckdb-{'.'.join(duckdb.__version__.split('.')[:2])}"
ALPHA = 0.01  # relative accuracy of quantiles
_GAMMA = (1 + ALPHA) / (1 - ALPHA)
_LN_GAMMA = math.log(_GAMMA)
_TINY = 1e-12  # |x| below this counts in the zero bucket
CATEGORY_CAP = 100  # distinct values kept per column (per chunk and per version)
_HLL_P = 12
_HLL_M = 1 << _HLL_P

Kind = Literal["numeric", "categorical", "other"]


def column_kind(t: pa.DataType) -> tuple[bool, bool]:
    """(numeric sketch?, value counts?) for an Arrow type."""
    pt = pa.types
    if pt.is_dictionary(t):
        return column_kind(t.value_type)
    if pt.is_floating(t) or pt.is_decimal(t):
        return True, False
    if pt.is_integer(t):
        return True, True
    if pt.is_string(t) or pt.is_large_string(t) or pt.is_string_view(t) or pt.is_boolean(t):
        return False, True
    if pt.is_date(t):
        return False, True
    return False, False


def _json_key(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


@dataclass(frozen=True, slots=True)
class ColumnProfile:
    """Mergeable statistics of one column over some rows."""

    rows: int = 0
    nulls: int = 0
    nonfinite: int = 0  # NaN and ±inf (numeric only)
    n: int = 0  # finite numeric values
    mean: float = 0.0
    m2: float = 0.0
    min: float | None = None
    max: float | None = None
    pos: tuple[tuple[int, int], ...] = ()  # sketch buckets for x > 0: (index, count)
    neg: tuple[tuple[int, int], ...] = ()  # for x < 0, by |x|
    zeros: int = 0
    numeric: bool = False
    # (value, count) sorted by value's JSON text; None when over CATEGORY_CAP or not kept
    values: tuple[tuple[Any, int], ...] | None = None
    hll: bytes = b""  # _HLL_M registers, or b"" when no value was seen

    # -- derived ---------------------------------------------------------------

    @property
    def null_rate(self) -> float:
        return self.nulls / self.rows if self.rows else 0.0

    @property
    def std(self) -> float | None:
        return math.sqrt(self.m2 / self.n) if self.n else None

    def distinct(self) -> tuple[int, bool]:
        """(distinct non-null values, exact?)."""
        if self.values is not None:
            return len(self.values), True
        return _hll_estimate(self.hll), False

    def quantile(self, q: float) -> float | None:
        """The value at rank q·(n−1) of the finite values, within ALPHA relative error."""
        if not self.n:
            return None
        rank = q * (self.n - 1)
        seen = 0
        for value, count in self._ordered():
            seen += count
            if seen > rank:
                lo = self.min if self.min is not None else value
                hi = self.max if self.max is not None else value
                return min(max(value, lo), hi)
        return self.max

    def _ordered(self) -> list[tuple[float, int]]:
        """Bucket representatives in ascending order with their counts."""
        out = [(-_rep(i), c) for i, c in sorted(self.neg, reverse=True)]
        if self.zeros:
            out.append((0.0, self.zeros))
        out += [(_rep(i), c) for i, c in sorted(self.pos)]
        return out

    # -- merging ---------------------------------------------------------------

    def merge(self, other: ColumnProfile) -> ColumnProfile:
        n = self.n + other.n
        if n:
            delta = other.mean - self.mean
            mean = self.mean + delta * other.n / n
            m2 = self.m2 + other.m2 + delta * delta * self.n * other.n / n
        else:
            mean, m2 = 0.0, 0.0
        values: tuple[tuple[Any, int], ...] | None = None
        if self.values is not None and other.values is not None:
            merged: dict[str, tuple[Any, int]] = {}
            for v, c in (*self.values, *other.values):
                k = json.dumps(v)
                merged[k] = (v, merged[k][1] + c if k in merged else c)
            values = (
                tuple(merged[k] for k in sorted(merged)) if len(merged) <= CATEGORY_CAP else None
            )
        return ColumnProfile(
            rows=self.rows + other.rows,
            nulls=self.nulls + other.nulls,
            nonfinite=self.nonfinite + other.nonfinite,
            n=n,
            mean=mean,
            m2=m2,
            min=_pick(min, self.min, other.min),
            max=_pick(max, self.max, other.max),
            pos=_add(self.pos, other.pos),
            neg=_add(self.neg, other.neg),
            zeros=self.zeros + other.zeros,
            numeric=self.numeric or other.numeric,
            values=values,
            hll=_hll_merge(self.hll, other.hll),
        )

    # -- serialisation ----------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "nulls": self.nulls,
            "nonfinite": self.nonfinite,
            "n": self.n,
            "mean": self.mean,
            "m2": self.m2,
            "min": self.min,
            "max": self.max,
            "pos": [list(p) for p in self.pos],
            "neg": [list(p) for p in self.neg],
            "zeros": self.zeros,
            "numeric": self.numeric,
            "values": [list(p) for p in self.values] if self.values is not None else None,
            "hll": base64.b64encode(zlib.compress(self.hll)).decode("ascii") if self.hll else "",
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ColumnProfile:
        hll = zlib.decompress(base64.b64decode(d["hll"])) if d["hll"] else b""
        if hll and len(hll) != _HLL_M:
            raise ValueError("bad HyperLogLog registers")
        return cls(
            rows=int(d["rows"]),
            nulls=int(d["nulls"]),
            nonfinite=int(d["nonfinite"]),
            n=int(d["n"]),
            mean=float(d["mean"]),
            m2=float(d["m2"]),
            min=None if d["min"] is None else float(d["min"]),
            max=None if d["max"] is None else float(d["max"]),
            pos=tuple((int(i), int(c)) for i, c in d["pos"]),
            neg=tuple((int(i), int(c)) for i, c in d["neg"]),
            zeros=int(d["zeros"]),
            numeric=bool(d["numeric"]),
            values=None if d["values"] is None else tuple((v, int(c)) for v, c in d["values"]),
            hll=hll,
        )


def _rep(i: int) -> float:
    """The representative of sketch bucket i: within ALPHA of every value in (γ^(i−1), γ^i]."""
    return 2 * _GAMMA**i / (_GAMMA + 1)


def _pick(f: Callable[[float, float], float], a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    if b is None:
        return a
    return f(a, b)


def _add(a: Sequence[tuple[int, int]], b: Sequence[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    out: dict[int, int] = dict(a)
    for i, c in b:
        out[i] = out.get(i, 0) + c
    return tuple(sorted(out.items()))


def _hll_merge(a: bytes, b: bytes) -> bytes:
    if not a:
        return b
    if not b:
        return a
    import numpy as np

    return np.maximum(np.frombuffer(a, np.uint8), np.frombuffer(b, np.uint8)).tobytes()  # type: ignore[no-any-return]


def _hll_estimate(registers: bytes) -> int:
    if not registers:
        return 0
    m = _HLL_M
    alpha = 0.7213 / (1 + 1.079 / m)
    import numpy as np

    regs = np.frombuffer(registers, np.uint8)
    estimate = alpha * m * m / float(np.ldexp(1.0, -regs.astype(np.int32)).sum())
    zeros = int((regs == 0).sum())
    if estimate <= 2.5 * m and zeros:
        estimate = m * math.log(m / zeros)
    return round(estimate)


@dataclass(frozen=True, slots=True)
class Profile:
    """Per-column profiles of some rows (a chunk, or a whole version after merging)."""

    rows: int
    columns: Mapping[str, ColumnProfile] = field(default_factory=dict)

    def merge(self, other: Profile) -> Profile:
        names = list(self.columns) + [c for c in other.columns if c not in self.columns]
        empty = ColumnProfile()
        return Profile(
            self.rows + other.rows,
            {
                c: self.columns.get(c, replace(empty, rows=self.rows, nulls=self.rows)).merge(
                    other.columns.get(c, replace(empty, rows=other.rows, nulls=other.rows))
                )
                for c in names
            },
        )

    def encode(self) -> bytes:
        d = {
            "format": 1,
            "kind": "chunk-profile",
            "engine": ENGINE,
            "rows": self.rows,
            "columns": {c: p.to_dict() for c, p in self.columns.items()},
        }
        return json.dumps(d, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()

    @classmethod
    def decode(cls, data: bytes) -> Profile | None:
        try:
            d = json.loads(data)
            if d.get("kind") != "chunk-profile" or d.get("engine") != ENGINE:
                return None
            return cls(
                int(d["rows"]),
                {c: ColumnProfile.from_dict(p) for c, p in d["columns"].items()},
            )
        except (ValueError, KeyError, TypeError, AttributeError, zlib.error):
            return None  # an unreadable cache entry is a miss, not an error


def profile_key(engine_hex: str, chunk_hex: str) -> str:
    return f"stats/{engine_hex}/{chunk_hex}.json"


def profile_table(
    con: duckdb.DuckDBPyConnection, relation: str, schema: pa.Schema, table: pa.Table
) -> Profile:
    """Profile the rows of ``relation`` (a registered table or a Parquet scan).

    ``table`` holds (at least) the numeric columns of the same rows: their
    moments and sketch buckets are computed in numpy from the Arrow buffers.
    DuckDB counts the nulls, builds the HyperLogLog registers of every column
    in one scan, and counts values only for the columns whose distinct
    estimate says they can be under the cap.
    """
    q = sql.quote_ident
    kinds = {f.name: column_kind(f.type) for f in schema}
    names = list(kinds)
    head = con.execute(
        "SELECT count(*), " + ", ".join(f"count({q(n)})" for n in names) + f" FROM {relation}"
    ).fetchone()
    assert head is not None
    rows = int(head[0])
    hlls = _hll(con, relation, names) if rows else {}
    out: dict[str, ColumnProfile] = {}
    for i, (name, (numeric, counted)) in enumerate(kinds.items()):
        nonnull = int(head[i + 1])
        prof = ColumnProfile(rows=rows, nulls=rows - nonnull, numeric=numeric)
        if numeric:
            prof = replace(prof, **_numeric(table.column(name)))
        registers = hlls.get(i, b"")
        if nonnull:
            prof = replace(prof, hll=registers)
        if counted:
            # HyperLogLog at this size errs by a few percent: twice the cap is safely over it.
            small = _hll_estimate(registers) <= 2 * CATEGORY_CAP
            values = (
                _values(con, relation, name) if nonnull and small else (() if not nonnull else None)
            )
            prof = replace(prof, values=values)
        out[name] = prof
    return Profile(rows, out)


def _numeric(column: pa.ChunkedArray) -> dict[str, Any]:
    """Moments, min/max, zeros and sketch buckets of the finite values of a numeric column."""
    import numpy as np
    import pyarrow.compute as pc

    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    values = pc.drop_null(column.cast(pa.float64())).to_numpy()
    finite = values[np.isfinite(values)]
    n = int(finite.size)
    if not n:
        return {"nonfinite": int(values.size)}
    magnitude = np.abs(finite)
    big = magnitude >= _TINY
    index = np.ceil(np.log(magnitude[big]) / _LN_GAMMA).astype(np.int64)
    positive = finite[big] > 0
    buckets: list[tuple[tuple[int, int], ...]] = []
    for side in (index[positive], index[~positive]):
        if not side.size:
            buckets.append(())
            continue
        low = int(side.min())
        counts = np.bincount(side - low)  # the indices span a few thousand at most
        keys = np.flatnonzero(counts)
        buckets.append(tuple(zip((keys + low).tolist(), counts[keys].tolist(), strict=True)))
    mean = float(finite.mean())
    return {
        "nonfinite": int(values.size - n),
        "n": n,
        "mean": mean,
        "m2": float(np.square(finite - mean).sum()),
        "min": float(finite.min()),
        "max": float(finite.max()),
        "zeros": int(n - big.sum()),
        "pos": buckets[0],
        "neg": buckets[1],
    }


def _values(
    con: duckdb.DuckDBPyConnection, relation: str, name: str
) -> tuple[tuple[Any, int], ...] | None:
    c = sql.quote_ident(name)
    got = con.execute(
        f"SELECT {c}, count(*) FROM {relation} WHERE {c} IS NOT NULL GROUP BY ALL LIMIT ?",
        [CATEGORY_CAP + 1],
    ).fetchall()
    if len(got) > CATEGORY_CAP:
        return None
    pairs = [(_json_key(v), int(n)) for v, n in got]
    return tuple(sorted(pairs, key=lambda p: json.dumps(p[0])))


def _hll(con: duckdb.DuckDBPyConnection, relation: str, names: Sequence[str]) -> dict[int, bytes]:
    """HyperLogLog registers of every column (by position).

    A register keeps the largest "position of the first 1-bit" of the hash bits
    below the register index; that position only falls as those bits grow, so
    DuckDB returns their minimum per register and numpy turns it into the rank.
    """
    import numpy as np

    bits = 64 - _HLL_P
    mask = (1 << bits) - 1
    hashes = " UNION ALL ".join(
        f"SELECT {i} AS c, hash({sql.quote_ident(n)}) AS h FROM {relation} "
        f"WHERE {sql.quote_ident(n)} IS NOT NULL"
        for i, n in enumerate(names)
    )
    got = con.execute(
        f"SELECT c, CAST(h >> {bits} AS INTEGER) AS j, min(h & CAST({mask} AS UBIGINT)) AS w "
        f"FROM ({hashes}) GROUP BY c, j"
    ).fetchnumpy()
    column, index, low = (np.asarray(got[k]) for k in ("c", "j", "w"))
    low = low.astype(np.uint64)
    # rank = bits - floor(log2(low)), and bits + 1 when the low bits are all zero
    top = np.floor(np.log2(np.maximum(low, 1).astype(np.float64))).astype(np.int64)
    rank = np.where(low == 0, bits + 1, np.maximum(1, bits - top)).astype(np.uint8)
    out: dict[int, bytes] = {}
    for i in np.unique(column).tolist():
        registers = np.zeros(_HLL_M, np.uint8)
        sel = column == i
        registers[index[sel].astype(np.int64)] = rank[sel]
        out[int(i)] = registers.tobytes()
    return out


def merge_all(profiles: Iterable[Profile]) -> Profile | None:
    out: Profile | None = None
    for p in profiles:
        out = p if out is None else out.merge(p)
    return out
