"""The parity cases: (schema, data) pairs run through pandera and through dvtool.

A case names its API (``pandas`` or ``polars``), its dataset (see data.py) and
its schema: YAML text (the columns part, written with ``{int}``-style dtype
placeholders so one text serves both APIs) or a function building a pandera
schema in Python. ``rule`` says where dvtool deliberately reports differently
from pandera; the comparison in test_parity.py applies exactly those rules.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandera.pandas as pa
import pandera.polars as pp
import polars as pl

Api = str  # "pandas" | "polars"

DTYPES = {
    "pandas": {
        "int": "int64", "float": "float64", "str": "str", "bool": "bool", "date": "date",
        "ts": "datetime64[us]", "dec": "Decimal(10, 2)", "cat": "category",
    },
    "polars": {
        "int": "Int64", "float": "Float64", "str": "String", "bool": "Boolean", "date": "Date",
        "ts": "Datetime(time_unit='us', time_zone=None)", "dec": "Decimal(precision=10, scale=2)",
        "cat": "Categorical",
    },
}  # fmt: skip


@dataclass(frozen=True)
class Case:
    name: str
    api: Api
    dataset: str
    yaml: str | None = None  # columns/... part of a YAML schema
    python: Callable[[], Any] | None = None  # builds a pandera schema
    rule: str | None = None  # a deliberate difference, applied by the comparison

    @property
    def id(self) -> str:
        return f"{self.api}-{self.name}"

    def yaml_text(self) -> str:
        assert self.yaml is not None
        st = "dataframe" if self.api == "pandas" else "polars_dataframe"
        body = self.yaml
        for k, v in DTYPES[self.api].items():
            body = body.replace("{" + k + "}", v)
        return f"schema_type: {st}\n{body}"


# One YAML text per family, run under both APIs.
SHARED_YAML: dict[str, str] = {
    "equal_to": "columns:\n  flag: {dtype: \"{bool}\", equal_to: false}\n",
    "not_equal_to": "columns:\n  a: {dtype: \"{int}\", not_equal_to: 0}\n",
    "greater_than": "columns:\n  a: {dtype: \"{int}\", greater_than: 5}\n",
    "greater_than_or_equal_to": "columns:\n  a: {dtype: \"{int}\", greater_than_or_equal_to: 1}\n",
    "less_than": "columns:\n  a: {dtype: \"{int}\", less_than: 90}\n",
    "less_than_or_equal_to": "columns:\n  x: {dtype: \"{float}\", nullable: true, less_than_or_equal_to: 20}\n",
    "in_range": (
        "columns:\n  a:\n    dtype: \"{int}\"\n"
        "    in_range: {min_value: 10, max_value: 90, include_min: false, include_max: true}\n"
    ),
    "isin": "columns:\n  s: {dtype: \"{str}\", isin: [x, y, z]}\n",
    "notin": "columns:\n  s: {dtype: \"{str}\", notin: [w]}\n",
    "str_matches": "columns:\n  name: {dtype: \"{str}\", str_matches: '^user_[0-9]+$'}\n",
    "str_contains": "columns:\n  name: {dtype: \"{str}\", str_contains: '_0'}\n",
    "str_startswith": "columns:\n  name: {dtype: \"{str}\", str_startswith: user}\n",
    "str_endswith": "columns:\n  name: {dtype: \"{str}\", str_endswith: '1'}\n",
    "str_length": "columns:\n  name: {dtype: \"{str}\", str_length: {min_value: 9, max_value: 9}}\n",
    "unique_values_eq_pass": "columns:\n  g: {dtype: \"{str}\", unique_values_eq: [g1, g2]}\n",
    "unique_values_eq_fail": "columns:\n  s: {dtype: \"{str}\", unique_values_eq: [x, y, z]}\n",
    "nullable_false_float": "columns:\n  x: {dtype: \"{float}\", nullable: false}\n",
    "nullable_true": "columns:\n  x: {dtype: \"{float}\", nullable: true, greater_than_or_equal_to: 0}\n",
    "column_unique": "columns:\n  dup: {dtype: \"{int}\", unique: true}\n",
    "column_unique_pass": "columns:\n  id: {dtype: \"{int}\", unique: true}\n",
    "schema_unique": "columns:\n  p: {dtype: \"{int}\"}\n  q: {dtype: \"{int}\"}\nunique: [p, q]\n",
    "schema_unique_lists": (
        "columns:\n  p: {dtype: \"{int}\"}\n  q: {dtype: \"{int}\"}\n  id: {dtype: \"{int}\"}\n"
        "unique: [[id, p], [p, q]]\n"
    ),
    "schema_unique_missing": (
        "columns:\n  p: {dtype: \"{int}\"}\n  nope: {dtype: \"{int}\"}\nunique: [p, nope]\n"
    ),
    "strict": "columns:\n  id: {dtype: \"{int}\"}\n  a: {dtype: \"{int}\"}\nstrict: true\n",
    "strict_filter": "columns:\n  id: {dtype: \"{int}\"}\n  a: {dtype: \"{int}\", less_than: 99}\nstrict: filter\n",
    "ordered": "columns:\n  a: {dtype: \"{int}\"}\n  id: {dtype: \"{int}\"}\n  x: {dtype: \"{float}\", nullable: true}\nordered: true\n",
    "ordered_pass": "columns:\n  id: {dtype: \"{int}\"}\n  a: {dtype: \"{int}\"}\nordered: true\n",
    "coerce_ok": "columns:\n  a: {dtype: \"{float}\", coerce: true, less_than: 50.5}\n",
    "coerce_fail": "columns:\n  name: {dtype: \"{int}\", coerce: true}\n",
    "schema_coerce": "columns:\n  p: {dtype: \"{float}\"}\n  q: {dtype: \"{float}\", greater_than: 0}\ncoerce: true\n",
    "wrong_dtype": "columns:\n  a: {dtype: \"{str}\"}\n  s: {dtype: \"{int}\"}\n",
    "missing_column": "columns:\n  id: {dtype: \"{int}\"}\n  nope: {dtype: \"{int}\"}\n",
    "optional_column": "columns:\n  id: {dtype: \"{int}\"}\n  nope: {dtype: \"{int}\", required: false}\n",
    "regex_columns": "columns:\n  var_.+:\n    dtype: \"{float}\"\n    regex: true\n    greater_than_or_equal_to: 0\n",
    "date_range": "columns:\n  d: {dtype: \"{date}\", less_than: '2020-12-01'}\n",
    "timestamp_range": "columns:\n  ts: {dtype: \"{ts}\", less_than: '2021-02-01 00:00:00'}\n",
    "decimal": "columns:\n  dec: {dtype: \"{dec}\", less_than: 9.5}\n",
    "decimal_wrong": "columns:\n  dec: {dtype: \"{float}\"}\n",
    "categorical": "columns:\n  cat: {dtype: \"{cat}\", nullable: false}\n",
    "old_check_form": (
        "columns:\n  a:\n    dtype: \"{int}\"\n"
        "    greater_than: {value: 2, options: {raise_warning: false, ignore_na: true}}\n"
    ),
    "check_list_form": (
        "columns:\n  a:\n    dtype: \"{int}\"\n    checks:\n"
        "    - {value: 3, options: {check_name: greater_than, raise_warning: false, ignore_na: true}}\n"
        "    - {value: 95, options: {check_name: less_than, raise_warning: false, ignore_na: true}}\n"
    ),
    "two_columns": (
        "columns:\n  a: {dtype: \"{int}\", in_range: {min_value: 0, max_value: 98}}\n"
        "  s: {dtype: \"{str}\", isin: [x, y, z]}\n  x: {dtype: \"{float}\", nullable: false}\n"
    ),
    "int_with_nulls": "columns:\n  ni: {dtype: \"{int}\", nullable: true, less_than: 990}\n",
}  # fmt: skip

# pandas-only YAML forms (polars has no report_duplicates modes: it always reports all).
PANDAS_YAML: dict[str, str] = {
    "report_duplicates_all": "columns:\n  dup: {dtype: int64, unique: true, report_duplicates: all}\n",
    "report_duplicates_first": "columns:\n  dup: {dtype: int64, unique: true, report_duplicates: exclude_first}\n",
    "report_duplicates_last": "columns:\n  dup: {dtype: int64, unique: true, report_duplicates: exclude_last}\n",
    "schema_report_duplicates": (
        "columns:\n  p: {dtype: int64}\n  q: {dtype: int64}\nunique: [p, q]\nreport_duplicates: exclude_first\n"
    ),
    "int_with_nulls_float": "columns:\n  ni: {dtype: float64, nullable: true}\n",
    "ignore_na_false": (
        "columns:\n  x:\n    dtype: float64\n    nullable: true\n    checks:\n"
        "    - {min_value: 0, options: {check_name: greater_than_or_equal_to, ignore_na: false, raise_warning: false}}\n"
    ),
}  # fmt: skip


def _pd_groupby() -> Any:
    return pa.DataFrameSchema(
        {
            "v": pa.Column(
                float,
                pa.Check(lambda g: g["g1"].mean() < g["g2"].mean(), groupby="g", name="means"),
            ),
            "g": pa.Column(str),
        }
    )


class _Model(pa.DataFrameModel):
    a: int = pa.Field(ge=0, lt=95)
    s: str = pa.Field(isin=["x", "y", "z"])

    @pa.check("a", name="a_not_42")
    @classmethod
    def not_42(cls, series: Any) -> Any:
        return series != 42


class _PlModel(pp.DataFrameModel):
    a: int = pp.Field(ge=0, lt=95)
    s: str = pp.Field(isin=["x", "y", "z"])


def _c(**kw: Any) -> Any:
    return kw


PANDAS_PY: dict[str, Callable[[], Any]] = {
    "element_wise_custom": lambda: pa.DataFrameSchema(
        {"a": pa.Column(int, pa.Check(lambda v: v % 10 != 3, element_wise=True, name="not_3"))}
    ),
    "vector_row_custom": lambda: pa.DataFrameSchema(
        {"v": pa.Column(float, pa.Check(lambda s: s < 1000, name="lt_1000"))}
    ),
    "vector_whole_column": lambda: pa.DataFrameSchema(
        {"v": pa.Column(float, pa.Check(lambda s: s >= s.mean() - 300, name="near_mean"))}
    ),
    "aggregate_mean": lambda: pa.DataFrameSchema(
        {"v": pa.Column(float, pa.Check(lambda s: s.mean() > 10, name="mean_gt_10"))}
    ),
    "aggregate_mean_fail": lambda: pa.DataFrameSchema(
        {"v": pa.Column(float, pa.Check(lambda s: s.mean() > 1e6, name="mean_gt_1e6"))}
    ),
    "aggregate_set": lambda: pa.DataFrameSchema(
        {"g": pa.Column(str, pa.Check(lambda s: set(s) == {"g1", "g2"}, name="both_groups"))}
    ),
    "aggregate_value_counts": lambda: pa.DataFrameSchema(
        {"dup": pa.Column(int, pa.Check(lambda s: s.value_counts() == 1, name="once"))}
    ),
    "aggregate_max": lambda: pa.DataFrameSchema(
        {"a": pa.Column(int, pa.Check(lambda s: s.max() <= 99, name="max_le_99"))}
    ),
    "groupby_check": _pd_groupby,
    "groupby_by_list": lambda: pa.DataFrameSchema(
        {
            "a": pa.Column(int, pa.Check(lambda g: len(g) == 2, groupby=["g"], name="two_groups")),
            "g": pa.Column(str),
        }
    ),
    "dataframe_check_vector": lambda: pa.DataFrameSchema(
        {"a": pa.Column(int), "p": pa.Column(int)},
        checks=pa.Check(lambda df: df["a"] >= df["p"], name="a_ge_p"),
    ),
    "dataframe_check_scalar": lambda: pa.DataFrameSchema(
        checks=pa.Check(lambda df: len(df) >= 30, name="at_least_30_rows")
    ),
    "dataframe_check_element_wise": lambda: pa.DataFrameSchema(
        checks=pa.Check(lambda row: row["a"] < 99, element_wise=True, name="row_a_lt_99")
    ),
    "model": lambda: _Model,
    "categorical_python": lambda: pa.DataFrameSchema({"cat": pa.Column("category")}),
    "nullable_int_python": lambda: pa.DataFrameSchema(
        {"ni": pa.Column(float, pa.Check.ge(0), nullable=True)}
    ),
    "warning_check": lambda: pa.DataFrameSchema(
        {"a": pa.Column(int, pa.Check.lt(50, raise_warning=True)), "s": pa.Column(str)}
    ),
    "regex_python": lambda: pa.DataFrameSchema(
        {"var_[12]": pa.Column(float, pa.Check.le(9), regex=True)}
    ),
}


def _pl_enum() -> Any:
    return pp.DataFrameSchema(
        {
            "level": pp.Column(pl.Enum(["lo", "mid", "hi"]), pp.Check.isin(["lo", "mid"])),
            "kind": pp.Column(pl.Categorical),
        }
    )


POLARS_PY: dict[str, Callable[[], Any]] = {
    "element_wise_custom": lambda: pp.DataFrameSchema(
        {"a": pp.Column(pl.Int64, pp.Check(lambda v: v % 10 != 3, element_wise=True, name="not_3"))}
    ),
    "vector_row_custom": lambda: pp.DataFrameSchema(
        {
            "v": pp.Column(
                pl.Float64,
                pp.Check(lambda d: d.lazyframe.select(pl.col(d.key) < 1000), name="lt_1000"),
            )
        }
    ),
    "vector_whole_column": lambda: pp.DataFrameSchema(
        {
            "v": pp.Column(
                pl.Float64,
                pp.Check(
                    lambda d: d.lazyframe.select(pl.col(d.key) >= pl.col(d.key).mean() - 300),
                    name="near_mean",
                ),
            )
        }
    ),
    "aggregate_mean": lambda: pp.DataFrameSchema(
        {
            "v": pp.Column(
                pl.Float64,
                pp.Check(
                    lambda d: d.lazyframe.select(pl.col(d.key).mean() > 10), name="mean_gt_10"
                ),
            )
        }
    ),
    "aggregate_bool": lambda: pp.DataFrameSchema(
        {
            "g": pp.Column(
                pl.String,
                pp.Check(
                    lambda d: set(d.lazyframe.collect()[d.key].to_list()) == {"g1", "g2"},
                    name="both_groups",
                ),
            )
        }
    ),
    "aggregate_n_unique": lambda: pp.DataFrameSchema(
        {
            "s": pp.Column(
                pl.String,
                pp.Check(lambda d: d.lazyframe.select(pl.col(d.key).n_unique() <= 3), name="few"),
            )
        }
    ),
    "dataframe_check_vector": lambda: pp.DataFrameSchema(
        {"a": pp.Column(pl.Int64), "p": pp.Column(pl.Int64)},
        checks=pp.Check(lambda d: d.lazyframe.select(pl.col("a") >= pl.col("p")), name="a_ge_p"),
    ),
    "dataframe_check_scalar": lambda: pp.DataFrameSchema(
        checks=pp.Check(lambda d: d.lazyframe.select(pl.len() >= 30), name="at_least_30_rows")
    ),
    "model": lambda: _PlModel,
    "enum": _pl_enum,
    "regex_python": lambda: pp.DataFrameSchema(
        {"var_[12]": pp.Column(pl.Float64, pp.Check.le(9), regex=True)}
    ),
}


def all_cases() -> list[Case]:
    out: list[Case] = []
    for api in ("pandas", "polars"):
        for name, text in SHARED_YAML.items():
            out.append(Case(name, api, "base", yaml=text))
    for name, text in PANDAS_YAML.items():
        out.append(Case(name, "pandas", "base", yaml=text))
    for name, fn in PANDAS_PY.items():
        out.append(Case(name, "pandas", "base", python=fn))
    for name, fn in POLARS_PY.items():
        out.append(Case(name, "polars", "enum" if name == "enum" else "base", python=fn))
    out.append(Case("enum_yaml", "polars", "enum", yaml=(
        "columns:\n  level: {dtype: \"Enum(categories=['lo', 'mid', 'hi'])\"}\n  kind: {dtype: Categorical}\n"
    )))  # fmt: skip
    return out


CASES = all_cases()
