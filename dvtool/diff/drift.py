"""How each column's distribution moved between two versions, from their profiles.

:mod:`dvtool.diff.profile` summarises a version per column (mergeable, cached
per chunk); this module compares two summaries: null rate, mean, std and
quantiles old → new, the population stability index (PSI) over fixed bins, the
top values of low-cardinality columns and the categories that are new. The
result is a frozen value with a JSON form; :mod:`dvtool.diff.policy` turns it
into pass/fail.

PSI, stated exactly: Σ (pᵢ − qᵢ)·ln(pᵢ/qᵢ) with q the old shares and p the new,
natural log, empty bins counted as 0.0001 of the rows. Numeric columns use ten
bins cut at the old version's deciles (open-ended outer bins, so values
outside the old range still count); the cuts fall on the quantile sketch's
bucket boundaries, so both versions' bin counts are exact. Categorical columns
use one bin per value (only while both versions are under the category cap).
"""

from __future__ import annotations

import bisect
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from dvtool.diff.profile import ColumnProfile, Profile

__all__ = [
    "PSI_BINS",
    "PSI_EPSILON",
    "QUANTILES",
    "ColumnDrift",
    "DistSummary",
    "Drift",
    "compare_profiles",
]

QUANTILES: tuple[tuple[str, float], ...] = (
    ("p1", 0.01),
    ("p25", 0.25),
    ("p50", 0.50),
    ("p75", 0.75),
    ("p99", 0.99),
)
PSI_BINS = 10
PSI_EPSILON = 1e-4
TOP_VALUES = 10


@dataclass(frozen=True, slots=True)
class DistSummary:
    """One column of one version, as a reviewer reads it."""

    rows: int
    nulls: int
    null_rate: float
    distinct: int
    distinct_exact: bool
    mean: float | None = None
    std: float | None = None
    min: float | None = None
    max: float | None = None
    quantiles: Mapping[str, float | None] = field(default_factory=lambda: MappingProxyType({}))
    top: tuple[tuple[Any, int], ...] | None = None  # most frequent values (low cardinality only)

    @classmethod
    def of(cls, p: ColumnProfile) -> DistSummary:
        distinct, exact = p.distinct()
        top = None
        if p.values is not None:
            top = tuple(sorted(p.values, key=lambda vc: (-vc[1], json.dumps(vc[0])))[:TOP_VALUES])
        numeric = p.numeric and p.n > 0
        return cls(
            rows=p.rows,
            nulls=p.nulls,
            null_rate=p.null_rate,
            distinct=distinct,
            distinct_exact=exact,
            mean=p.mean if numeric else None,
            std=p.std if numeric else None,
            min=p.min if numeric else None,
            max=p.max if numeric else None,
            quantiles=MappingProxyType(
                {name: p.quantile(q) for name, q in QUANTILES} if numeric else {}
            ),
            top=top,
        )

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "rows": self.rows,
            "nulls": self.nulls,
            "null_rate": self.null_rate,
            "distinct": self.distinct,
            "distinct_exact": self.distinct_exact,
        }
        if self.mean is not None:
            d.update(mean=self.mean, std=self.std, min=self.min, max=self.max)
            d.update(dict(self.quantiles))
        if self.top is not None:
            d["top"] = [{"value": v, "count": c} for v, c in self.top]
        return d


@dataclass(frozen=True, slots=True)
class ColumnDrift:
    """A column present in both versions: its summaries, PSI and new categories."""

    column: str
    old: DistSummary
    new: DistSummary
    psi: float | None  # None: not computable (high cardinality, or no values on a side)
    new_categories: tuple[Any, ...] | None  # None: high cardinality
    # Histogram for charts: (bin label or (lo, hi), old share, new share)
    bins: tuple[tuple[Any, float, float], ...] = ()

    @property
    def numeric(self) -> bool:
        return self.old.mean is not None or self.new.mean is not None

    def statistic(self, name: str) -> tuple[Any, Any, float | None]:
        """(old, new, measured change) of a policy statistic; change None when not computable."""
        o, n = self.old, self.new
        if name == "null_rate_increase":
            return o.null_rate, n.null_rate, n.null_rate - o.null_rate
        if name == "psi":
            return None, None, self.psi
        if name == "new_categories":
            cats = self.new_categories
            return (
                [],
                list(cats) if cats is not None else None,
                (float(len(cats)) if cats is not None else None),
            )
        if name in ("mean_rel_change", "mean_shift", "std_rel_change"):
            a, b = (o.std, n.std) if name.startswith("std") else (o.mean, n.mean)
            if a is None or b is None:
                return a, b, None
            if name == "mean_shift":
                return a, b, abs(b - a)
            return a, b, _rel(a, b)
        if name.endswith("_shift") and name[:-6] in dict(QUANTILES):
            qa, qb = o.quantiles.get(name[:-6]), n.quantiles.get(name[:-6])
            return qa, qb, abs(qb - qa) if qa is not None and qb is not None else None
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "old": self.old.to_dict(),
            "new": self.new.to_dict(),
            "psi": self.psi,
            "new_categories": list(self.new_categories)
            if self.new_categories is not None
            else None,
        }


def _rel(a: float, b: float) -> float:
    if a == b:
        return 0.0
    return abs(b - a) / abs(a) if a else math.inf


@dataclass(frozen=True, slots=True)
class Drift:
    """Distribution changes of every column in both versions, plus the row counts."""

    rows: tuple[int, int]
    columns: Mapping[str, ColumnDrift]

    @property
    def row_count_rel_change(self) -> float:
        return _rel(float(self.rows[0]), float(self.rows[1]))

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": {"old": self.rows[0], "new": self.rows[1]},
            "columns": {c: d.to_dict() for c, d in self.columns.items()},
        }


def compare_profiles(old: Profile, new: Profile) -> Drift:
    """Column by column, for the columns present in both profiles (old order)."""
    out: dict[str, ColumnDrift] = {}
    for name, po in old.columns.items():
        pn = new.columns.get(name)
        if pn is None:
            continue
        psi, bins = _numeric_psi(po, pn) if (po.numeric and pn.numeric) else _category_psi(po, pn)
        new_cats = None
        if po.values is not None and pn.values is not None:
            seen = {json.dumps(v) for v, _ in po.values}
            new_cats = tuple(v for v, _ in pn.values if json.dumps(v) not in seen)
        out[name] = ColumnDrift(
            name, DistSummary.of(po), DistSummary.of(pn), psi, new_cats, tuple(bins)
        )
    return Drift((old.rows, new.rows), MappingProxyType(out))


def psi(old_counts: list[int], new_counts: list[int]) -> float:
    """Population stability index of two count vectors over the same bins."""
    to, tn = sum(old_counts), sum(new_counts)
    total = 0.0
    for a, b in zip(old_counts, new_counts, strict=True):
        q = max(a / to, PSI_EPSILON)
        p = max(b / tn, PSI_EPSILON)
        total += (p - q) * math.log(p / q)
    return total


def _numeric_psi(
    po: ColumnProfile, pn: ColumnProfile
) -> tuple[float | None, list[tuple[Any, float, float]]]:
    if not po.n or not pn.n:
        return None, []
    # Cuts at the old deciles, as bucket representatives (each bucket falls wholly in one bin).
    cuts = sorted(
        {c for c in (po.quantile(k / PSI_BINS) for k in range(1, PSI_BINS)) if c is not None}
    )
    counts_o = _binned(po, cuts)
    counts_n = _binned(pn, cuts)
    value = psi(counts_o, counts_n)
    # Chart bins: equal width over the joint range, from the same buckets.
    return value, _chart_bins(po, pn)


def _binned(p: ColumnProfile, cuts: list[float]) -> list[int]:
    counts = [0] * (len(cuts) + 1)
    for value, count in p._ordered():
        counts[bisect.bisect_left(cuts, value)] += count
    return counts


def _chart_bins(
    po: ColumnProfile, pn: ColumnProfile, n: int = 20
) -> list[tuple[Any, float, float]]:
    lo = min(x for x in (po.min, pn.min) if x is not None)
    hi = max(x for x in (po.max, pn.max) if x is not None)
    width = (hi - lo) / n if hi > lo else 1.0
    out = []
    shares = []
    for p in (po, pn):
        counts = [0] * n
        for value, count in p._ordered():
            k = min(max(int((value - lo) / width), 0), n - 1)
            counts[k] += count
        shares.append([c / p.n for c in counts])
    for k in range(n):
        out.append(((lo + k * width, lo + (k + 1) * width), shares[0][k], shares[1][k]))
    return out


def _category_psi(
    po: ColumnProfile, pn: ColumnProfile
) -> tuple[float | None, list[tuple[Any, float, float]]]:
    if po.values is None or pn.values is None:
        return None, []
    a = {json.dumps(v): (v, c) for v, c in po.values}
    b = {json.dumps(v): (v, c) for v, c in pn.values}
    keys = sorted(set(a) | set(b))
    if not keys or not sum(c for _, c in a.values()) or not sum(c for _, c in b.values()):
        return None, []
    co = [a[k][1] if k in a else 0 for k in keys]
    cn = [b[k][1] if k in b else 0 for k in keys]
    # Chart: shares of all rows (nulls as their own bar), the most frequent values first.
    ro, rn = max(po.rows, 1), max(pn.rows, 1)
    order = sorted(range(len(keys)), key=lambda i: -(co[i] / ro + cn[i] / rn))[:TOP_VALUES_CHART]
    bins: list[tuple[Any, float, float]] = [
        ((a.get(keys[i]) or b[keys[i]])[0], co[i] / ro, cn[i] / rn) for i in order
    ]
    if po.nulls or pn.nulls:
        bins.insert(0, (NULL_LABEL, po.nulls / ro, pn.nulls / rn))
    return psi(co, cn), bins


NULL_LABEL = "(null)"
TOP_VALUES_CHART = 15
