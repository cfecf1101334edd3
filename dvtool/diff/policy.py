"""Drift policies: thresholds on how far a version may move, loaded strictly, checked as a gate.

A policy file (YAML or JSON) looks like::

    table:
      row_count_rel_change: 0.10      # |new − old| / old rows
    columns:
      "*":                            # every column present in both versions
        null_rate_increase: 0.01      # new null rate − old null rate
        psi: 0.2
      amount:
        mean_rel_change: 0.05         # |new − old| / |old| of the mean
        p50_shift: 10                 # |new − old| of the median, in the column's unit
      category:
        new_categories: 0             # values not seen in the old version

A statistic breaches when its measured change is **greater than** the
threshold. A named column's thresholds replace the ``*`` ones statistic by
statistic. Unknown keys, unknown statistics, columns that are not in both
versions, negative or non-numeric thresholds are errors (exit 2), like schemas:
a typo never turns a gate off. Under ``*``, a statistic that does not apply
to a column (a mean of strings) is skipped; named explicitly, it is an error.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from dvtool.diff.drift import QUANTILES, Drift
from dvtool.errors import UsageError

__all__ = [
    "COLUMN_STATISTICS",
    "TABLE_STATISTICS",
    "Breach",
    "Policy",
    "PolicyResult",
    "load_policy",
]

COLUMN_STATISTICS: Mapping[str, str] = MappingProxyType(
    {
        "null_rate_increase": "new null rate minus old null rate",
        "mean_rel_change": "|new mean − old mean| / |old mean|",
        "mean_shift": "|new mean − old mean|",
        "std_rel_change": "|new std − old std| / old std",
        **{f"{q}_shift": f"|new {q} − old {q}|" for q, _ in QUANTILES},
        "psi": "population stability index over fixed bins",
        "new_categories": "number of values not present in the old version",
    }
)
TABLE_STATISTICS: Mapping[str, str] = MappingProxyType(
    {"row_count_rel_change": "|new rows − old rows| / old rows"}
)


@dataclass(frozen=True, slots=True)
class Breach:
    """One threshold exceeded: where, which statistic, old and new value, the change and the limit."""

    column: str | None  # None: the table
    statistic: str
    old: Any
    new: Any
    value: float
    threshold: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "statistic": self.statistic,
            "old": _plain(self.old),
            "new": _plain(self.new),
            "value": _plain(self.value),
            "threshold": self.threshold,
        }

    def describe(self) -> str:
        where = f"column {self.column!r}" if self.column is not None else "table"
        return (
            f"{where}: {self.statistic} = {_fmt(self.value)} > {_fmt(self.threshold)}"
            f" (old {_fmt(self.old)}, new {_fmt(self.new)})"
        )


def _plain(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    return v


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(json.dumps(x) for x in v[:10]) + (", …" if len(v) > 10 else "") + "]"
    return "n/a" if v is None else str(v)


@dataclass(frozen=True, slots=True)
class PolicyResult:
    """What a policy said about a drift: the breaches (empty: passed) and what was checked."""

    source: str
    checks: tuple[tuple[str | None, str], ...]  # every (column, statistic) evaluated; None: table
    breaches: tuple[Breach, ...]

    @property
    def checked(self) -> int:
        return len(self.checks)

    @property
    def ok(self) -> bool:
        return not self.breaches

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.source,
            "ok": self.ok,
            "checked": self.checked,
            "breaches": [b.to_dict() for b in self.breaches],
        }


@dataclass(frozen=True, slots=True)
class Policy:
    source: str
    table: Mapping[str, float]
    columns: Mapping[str, Mapping[str, float]]  # "*" and named columns

    def evaluate(self, drift: Drift) -> PolicyResult:
        missing = [c for c in self.columns if c != "*" and c not in drift.columns]
        if missing:
            have = ", ".join(list(drift.columns)[:12])
            raise UsageError(
                f"policy {self.source} names column {missing[0]!r}, which is not in both versions "
                f"(columns: {have})"
            )
        breaches: list[Breach] = []
        checks: list[tuple[str | None, str]] = []
        for stat, limit in self.table.items():
            checks.append((None, stat))
            change = drift.row_count_rel_change
            if change > limit:
                breaches.append(Breach(None, stat, drift.rows[0], drift.rows[1], change, limit))
        star = self.columns.get("*", {})
        for name, cd in drift.columns.items():
            own = self.columns.get(name, {})
            for stat, limit in {**star, **own}.items():
                old, new, value = cd.statistic(stat)
                if value is None:
                    if stat in own:
                        raise UsageError(
                            f"policy {self.source}: {stat} cannot be computed for column {name!r} "
                            f"({_why(stat)}); remove it from the policy"
                        )
                    continue
                checks.append((name, stat))
                if value > limit:
                    breaches.append(Breach(name, stat, old, new, value, limit))
        return PolicyResult(self.source, tuple(checks), tuple(breaches))


def _why(stat: str) -> str:
    if stat in ("new_categories",):
        return "the column is not low-cardinality in both versions"
    if stat == "psi":
        return (
            "the column is neither numeric nor low-cardinality in both versions, or has no values"
        )
    return "the column is not numeric, or has no values"


def _threshold(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise UsageError(f"{where} must be a number, not {value!r}")
    if not math.isfinite(value) or value < 0:
        raise UsageError(f"{where} must be a finite number ≥ 0, not {value!r}")
    return float(value)


def _unknown(key: str, known: Mapping[str, str], where: str) -> UsageError:
    import difflib

    close = difflib.get_close_matches(key, list(known), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else f" (known: {', '.join(known)})"
    return UsageError(f"unknown {where} {key!r}{hint}")


def parse_policy(data: Any, source: str) -> Policy:
    """A policy from its parsed YAML/JSON document; every unknown key is an error."""
    if not isinstance(data, dict):
        raise UsageError(f"policy {source} must be a mapping with 'table' and/or 'columns'")
    for key in data:
        if key not in ("table", "columns"):
            raise _unknown(str(key), {"table": "", "columns": ""}, f"key in policy {source}:")
    table_part = data.get("table") or {}
    columns_part = data.get("columns") or {}
    if not isinstance(table_part, dict):
        raise UsageError(f"policy {source}: 'table' must be a mapping of statistic: threshold")
    if not isinstance(columns_part, dict):
        raise UsageError(f"policy {source}: 'columns' must be a mapping of column: thresholds")
    table: dict[str, float] = {}
    for stat, value in table_part.items():
        if stat not in TABLE_STATISTICS:
            raise _unknown(str(stat), TABLE_STATISTICS, f"table statistic in policy {source}:")
        table[stat] = _threshold(value, f"policy {source}: table.{stat}")
    columns: dict[str, Mapping[str, float]] = {}
    for column, stats in columns_part.items():
        if not isinstance(column, str):
            raise UsageError(f"policy {source}: column names must be strings, not {column!r}")
        if not isinstance(stats, dict) or not stats:
            raise UsageError(
                f"policy {source}: column {column!r} needs a mapping of statistic: threshold"
            )
        own: dict[str, float] = {}
        for stat, value in stats.items():
            if stat not in COLUMN_STATISTICS:
                raise _unknown(
                    str(stat),
                    COLUMN_STATISTICS,
                    f"statistic for column {column!r} in policy {source}:",
                )
            own[stat] = _threshold(value, f"policy {source}: columns.{column}.{stat}")
        columns[column] = MappingProxyType(own)
    if not table and not columns:
        raise UsageError(f"policy {source} sets no threshold")
    return Policy(source, MappingProxyType(table), MappingProxyType(columns))


def load_policy(source: str | Path | Mapping[str, Any] | Policy) -> Policy:
    """A policy from a YAML/JSON file, a mapping, or a Policy (returned as is).

    An unreadable or malformed file, or any unknown key, is a UsageError (exit 2).
    """
    import yaml

    if isinstance(source, Policy):
        return source
    if isinstance(source, Mapping):
        return parse_policy(dict(source), "(policy)")
    p = Path(source)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read policy {p}: {exc.strerror or exc}") from None
    try:
        data = yaml.load(text, Loader=_strict_loader())
    except yaml.YAMLError as exc:
        raise UsageError(f"policy {p} is not valid YAML: {str(exc).splitlines()[0]}") from None
    return parse_policy(data, str(p))


def _strict_loader() -> Any:
    import yaml

    class Loader(yaml.SafeLoader):
        """SafeLoader that refuses duplicate keys (a repeated column would silently win)."""

    def construct_mapping(loader: Any, node: Any, deep: bool = False) -> Any:
        seen = set()
        for key_node, _ in node.value:
            key = loader.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return yaml.SafeLoader.construct_mapping(loader, node, deep)

    Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, construct_mapping)
    return Loader
