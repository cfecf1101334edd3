"""Regression tests for the ways dvtool validate used to differ from pandera.

Each test names the defect it pins: whole-column checks evaluated per group of
chunks, schema forms pandera loads that dvtool refused or crashed on, reports
naming other rows or columns than pandera, cached verdicts shared by different
schemas. The systematic comparison is the parity suite (parity/).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa_pd
import pandera.polars as pa_pl
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pandera.errors import SchemaErrors

from clitools import run
from dvtool.errors import UsageError
from dvtool.repo import Repo
from dvtool.validate.schema import load_schema
from dvtool.validate.verdicts import snapshot_verdict_key


@pytest.fixture
def small_groups(monkeypatch: pytest.MonkeyPatch) -> None:
    import dvtool.ingest.chunking as chunking

    monkeypatch.setenv("DVTOOL_VALIDATE_GROUP_ROWS", "300")
    monkeypatch.setattr(chunking, "MAX_AVG_ROWS", chunking.MIN_AVG_ROWS)


def write(tmp_path: Path, name: str, text: str) -> str:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return str(p)


def pandera_failures(schema: Any, frame: Any) -> Any:
    with pytest.raises(SchemaErrors) as exc:
        schema.validate(frame, lazy=True)
    fc = exc.value.failure_cases
    return fc.to_pandas() if isinstance(fc, pl.DataFrame) else fc


def test_whole_column_checks_see_every_row_and_are_cached_per_snapshot(
    tmp_path: Path, small_groups: None
) -> None:
    """mean(), set(...) ==, value_counts and groupby checks passed in pandera, failed per group."""
    n = 2000
    i = np.arange(n)
    table = pa.table(
        {
            "v": pa.array(np.where(i < 600, 0.0, 1.0)),  # the first group's mean is 0
            "g": pa.array(np.where(i < n // 2, "a", "b")),  # group b absent from early groups
            "s": pa.array(np.array(["x", "y", "z"])[i % 3]),
        }
    )
    path = tmp_path / "d.parquet"
    pq.write_table(table, path)
    schema = pa_pd.DataFrameSchema(
        {
            "v": pa_pd.Column(
                float,
                [
                    pa_pd.Check(lambda s: s.mean() > 0.5, name="mean"),
                    pa_pd.Check(lambda g: g["a"].mean() < g["b"].mean(), groupby="g", name="by_g"),
                ],
            ),
            "g": pa_pd.Column(str),
            "s": pa_pd.Column(str, pa_pd.Check(lambda s: set(s) == {"x", "y", "z"}, name="all3")),
        }
    )
    schema.validate(pd.read_parquet(path), lazy=True)  # pandera: passes
    repo = Repo.init(str(tmp_path / "repo"))
    assert repo.validate(str(path), schema=schema).ok
    repo.snapshot(str(path), dataset="d")
    first = repo.validate("d", schema=schema)
    assert first.ok and first.chunks_checked >= 2
    # A YAML schema has a stable fingerprint: its whole-data verdict is kept per snapshot.
    yaml = write(
        tmp_path,
        "s.yaml",
        "schema_type: dataframe\ncolumns:\n  v: {dtype: float64, in_range: {min_value: 0, max_value: 1}}\n"
        "  s: {dtype: str, unique_values_eq: [x, y, z]}\nunique: [v, s]\n",
    )
    loaded = load_schema(yaml)
    a = repo.validate("d", schema=loaded)
    snap = repo.get("d")
    key = snapshot_verdict_key(loaded.fingerprint, snap.manifest.fingerprint, ())
    assert repo.store.exists(key)
    b = repo.validate("d", schema=loaded)
    assert b.chunks_checked == 0 and b.chunks_reused == a.chunks_checked
    assert [f.to_dict() for f in b.errors] == [f.to_dict() for f in a.errors]
    assert [f.check for f in a.errors] == ["multiple_fields_uniqueness"]


@pytest.mark.parametrize(
    ("mode", "rows"),
    [("exclude_first", [4, 5, 6, 7]), ("exclude_last", [0, 1, 2, 3]), ("all", [0, 1, 2, 3, 4])],
)
def test_report_duplicates_examples_are_pandera_rows(
    tmp_path: Path, mode: str, rows: list[int]
) -> None:
    """report_duplicates was ignored in the examples (rows 0,1,2,4,5 where pandera said 4,5,6,7)."""
    df = pd.DataFrame({"k": [1, 2, 3, 4, 1, 2, 3, 4, 9]})
    path = tmp_path / "d.parquet"
    df.to_parquet(path)
    schema = pa_pd.DataFrameSchema({"k": pa_pd.Column(int, unique=True, report_duplicates=mode)})
    fc = pandera_failures(schema, pd.read_parquet(path))
    expected = sorted(int(x) for x in fc["index"])
    assert expected[:5] == rows
    report = Repo.init(str(tmp_path / "r")).validate(str(path), schema=schema)
    (failure,) = report.errors
    assert failure.failure_count == len(expected)
    assert [e.row for e in failure.examples] == expected[:5]


def test_polars_regex_columns_named_by_the_matched_column(tmp_path: Path) -> None:
    """A regex column was reported under the pattern, with null examples."""
    frame = pl.DataFrame({"var_1": [1.0, 2.0], "var_3": [-1.0, 3.0]})
    path = tmp_path / "d.parquet"
    frame.write_parquet(path)
    schema = pa_pl.DataFrameSchema(
        {"var_.+": pa_pl.Column(pl.Float64, pa_pl.Check.ge(0), regex=True)}
    )
    with pytest.raises(SchemaErrors) as exc:
        schema.validate(pl.read_parquet(path), lazy=True)
    # pandera's error names var_3 (its failure_cases table only the pattern).
    assert [e.column_name for e in exc.value.schema_errors] == ["var_3"]
    report = Repo.init(str(tmp_path / "r")).validate(str(path), schema=schema)
    (failure,) = report.errors
    assert failure.column == "var_3"
    assert [(e.value, e.row) for e in failure.examples] == [(-1.0, 0)]


def test_column_order_failures_are_filed_under_the_column(tmp_path: Path) -> None:
    df = pd.DataFrame({"a": [1], "b": [2]})
    path = tmp_path / "d.parquet"
    df.to_parquet(path)
    schema = pa_pd.DataFrameSchema({"b": pa_pd.Column(int), "a": pa_pd.Column(int)}, ordered=True)
    fc = pandera_failures(schema, pd.read_parquet(path))
    named = sorted(str(x) for x in fc["failure_case"])
    report = Repo.init(str(tmp_path / "r")).validate(str(path), schema=schema)
    assert sorted(str(f.column) for f in report.errors) == named
    assert {f.check for f in report.errors} == {"column_ordered"}


def test_unique_list_of_lists_and_a_missing_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """unique: [[a, b], [b, c]] crashed (exit 1, traceback); a missing column hid the duplicates."""
    pd.DataFrame({"a": [1, 1, 2], "b": [5, 5, 6], "c": [0, 1, 2]}).to_csv(
        tmp_path / "d.csv", index=False
    )
    lists = write(
        tmp_path,
        "lists.yaml",
        "schema_type: dataframe\ncolumns:\n  a: {dtype: int64}\n  b: {dtype: int64}\n  c: {dtype: int64}\n"
        "unique: [[b, c], [a, b]]\n",
    )
    r = run(capsys, "validate", str(tmp_path / "d.csv"), "--schema", lists, "--format", "json")
    assert r.exit_code == 1 and "Traceback" not in r.stderr
    assert '"check": "multiple_fields_uniqueness"' in r.stdout and '"column": "a, b"' in r.stdout
    missing = write(
        tmp_path,
        "missing.yaml",
        "schema_type: dataframe\ncolumns:\n  a: {dtype: int64}\n  z: {dtype: int64}\nunique: [a, z]\n",
    )
    report = Repo.init(str(tmp_path / "r")).validate(str(tmp_path / "d.csv"), schema=missing)
    assert {(f.column, f.check, f.failure_count) for f in report.errors} == {
        ("z", "column_in_dataframe", 1),
        ("a", "multiple_fields_uniqueness", 2),
    }


def test_older_check_form_loads_and_options_pandera_drops_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    head = "schema_type: dataframe\ncolumns:\n  a:\n    dtype: int64\n    greater_than: "
    ok = write(
        tmp_path, "ok.yaml", head + "{value: 0, options: {raise_warning: false, ignore_na: true}}\n"
    )
    assert load_schema(ok).schema.columns["a"].checks[0].statistics == {"min_value": 0}
    dropped = write(tmp_path, "drop.yaml", head + "{value: 0, options: {raise_warning: true}}\n")
    with pytest.raises(UsageError, match=r"pandera ignores .*raise_warning"):
        load_schema(dropped)
    typo = write(tmp_path, "typo.yaml", head + "{value: 0, options: {raise_warnin: false}}\n")
    pd.DataFrame({"a": [1]}).to_csv(tmp_path / "d.csv", index=False)
    r = run(capsys, "validate", str(tmp_path / "d.csv"), "--schema", typo)
    assert r.exit_code == 2 and r.stderr.startswith("Error: ") and "raise_warnin" in r.stderr


def test_schema_objects_with_lambda_checks_never_share_cached_verdicts(tmp_path: Path) -> None:
    """pandera leaves lambdas out of its JSON: two different schemas had one fingerprint."""
    df = pd.DataFrame({"v": [1.0, 2.0, 3.0]})
    path = tmp_path / "d.parquet"
    df.to_parquet(path)
    repo = Repo.init(str(tmp_path / "r"))
    repo.snapshot(str(path), dataset="d")
    passing = pa_pd.DataFrameSchema({"v": pa_pd.Column(float, pa_pd.Check(lambda s: s < 10))})
    failing = pa_pd.DataFrameSchema({"v": pa_pd.Column(float, pa_pd.Check(lambda s: s < 2))})
    assert load_schema(passing).fingerprint != load_schema(passing).fingerprint
    assert repo.validate("d", schema=passing).ok
    assert not repo.validate("d", schema=failing).ok


def test_categorical_types_are_kept_and_their_fingerprint_is_format_independent(
    tmp_path: Path,
) -> None:
    """A pandas category column failed dtype('category'): the snapshot stored plain strings."""
    from dvtool.ingest.fingerprint import table_fingerprint
    from dvtool.ingest.sources import normalise_schema

    df = pd.DataFrame({"c": pd.Categorical(["x", "y", "x", None], categories=["x", "y", "z"])})
    path = tmp_path / "d.parquet"
    df.to_parquet(path)  # pandas writes int8 indices
    repo = Repo.init(str(tmp_path / "r"))
    snap = repo.snapshot(str(path), dataset="d").snapshot
    assert snap.schema.field("c").type == pa.dictionary(pa.int32(), pa.string())
    schema = pa_pd.DataFrameSchema({"c": pa_pd.Column("category", nullable=True)})
    schema.validate(pd.read_parquet(path))
    assert repo.validate(str(path), schema=schema).ok and repo.validate("d", schema=schema).ok

    values = ["x", "y", "x", None]
    a = pa.table({"c": pa.array(values).dictionary_encode()})
    b = pa.table(
        {
            "c": pa.DictionaryArray.from_arrays(
                pa.array([1, 0, 1, None], pa.int8()), pa.array(["y", "x"])
            )
        }
    )

    def fingerprint(t: pa.Table) -> str:
        normal = normalise_schema(t.schema)
        return table_fingerprint(normal, [t.cast(normal)])

    assert fingerprint(a) == fingerprint(b)  # index width and dictionary order do not count
    assert fingerprint(a) != fingerprint(pa.table({"c": pa.array(values)}))  # the logical type does


def test_empty_and_na_text_cells_are_nulls_as_pandas_reads_them(tmp_path: Path) -> None:
    """Empty CSV text cells were read as '', so nullable: false never fired on them."""
    path = tmp_path / "d.csv"
    path.write_text("id,name\n1,ann\n2,\n3,NA\n4,N/A\n5,NULL\n6,bob\n", encoding="utf-8")
    schema = pa_pd.DataFrameSchema(
        {"id": pa_pd.Column(int), "name": pa_pd.Column(str, nullable=False)}
    )
    fc = pandera_failures(schema, pd.read_csv(path))
    expected = len(fc[fc["check"] == "not_nullable"])
    assert expected == 4
    report = Repo.init(str(tmp_path / "r")).validate(str(path), schema=schema)
    assert [(f.column, f.check, f.failure_count) for f in report.errors] == [
        ("name", "not_nullable", 4)
    ]


def test_a_chunk_verdict_is_not_reused_where_nulls_elsewhere_change_its_pandas_types(
    tmp_path: Path,
) -> None:
    """pandas reads an int column with a null anywhere as float64: so must every chunk."""
    repo = Repo.init(str(tmp_path / "r"))
    first = pa.table(
        {"id": pa.array(range(100), pa.int64()), "n": pa.array(range(100), pa.int64())}
    )
    repo.snapshot(first, dataset="d", key=["id"])
    later = pa.concat_tables(
        [first, pa.table({"id": pa.array([100], pa.int64()), "n": pa.array([None], pa.int64())})]
    )
    repo.snapshot(later, dataset="d", key=["id"])
    schema = write(
        tmp_path,
        "s.yaml",
        "schema_type: dataframe\ncolumns:\n  n: {dtype: int64, nullable: true}\n",
    )
    assert repo.validate("d@v1", schema=schema).ok
    with pytest.raises(SchemaErrors) as exc:
        load_schema(schema).schema.validate(later.to_pandas(), lazy=True)
    assert {str(c) for c in exc.value.failure_cases["check"]} == {"dtype('int64')"}
    report = repo.validate("d@v2", schema=schema)
    assert [f.check for f in report.errors] == ["dtype('int64')"]
