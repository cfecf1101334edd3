"""The validation gate: strict schema loading, chunked checks equal to pandera's, reports, cache.

Every test runs real pandera, real DuckDB and real files. "Equal to pandera"
means: the same schema called directly on the whole table (lazy=True) gives
the same failure count per (column, check) as dvtool's chunk-by-chunk run.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import pandera.pandas as pa_pd
import polars as pl
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pandera.errors import SchemaErrors

from clitools import run, tree_digest
from dvtool.errors import UsageError
from dvtool.repo import Repo
from dvtool.validate.infer import infer_schema
from dvtool.validate.report import CheckFailure, Example, ValidationReport
from dvtool.validate.run import validate_batches
from dvtool.validate.schema import load_schema
from dvtool.validate.verdicts import MemoryVerdictCache, verdict_key

N = 3000


def planted() -> pa.Table:
    """Rows with planted faults; the duplicate id 7 sits in rows 7 and 2500 (different chunks)."""
    ids = list(range(N))
    ids[2500] = 7
    score = [i % 100 + 0.5 for i in range(N)]
    for i in (3, 1200, 2999):
        score[i] = 150.0  # out of range
    score[10] = None  # type: ignore[call-overload]
    tier = ["a" if i % 2 else "b" for i in range(N)]
    for i in (5, 6, 1700):
        tier[i] = "zzz"  # bad category
    tier[42] = None  # type: ignore[call-overload]  # null where not allowed
    amount = [str(i) for i in range(N)]  # wrong dtype: text where Int64 is declared
    return pa.table(
        {
            "id": pa.array(ids, pa.int64()),
            "score": pa.array(score, pa.float64()),
            "tier": pa.array(tier, pa.large_string()),
            "amount": pa.array(amount, pa.large_string()),
        }
    )


POLARS_YAML = """\
schema_type: polars_dataframe
api: polars
columns:
  id:
    dtype: Int64
    unique: true
    greater_than_or_equal_to: 0
  score:
    dtype: Float64
    nullable: true
    in_range: {min_value: 0, max_value: 100}
  tier:
    dtype: String
    isin: [a, b]
  amount:
    dtype: Int64
"""


def direct_counts(failure_cases: Any) -> dict[tuple[str | None, str], int]:
    """pandera's own failure_cases, counted like dvtool reports them."""
    fc = (
        failure_cases
        if isinstance(failure_cases, pl.DataFrame)
        else pl.from_pandas(
            failure_cases.astype(
                {"failure_case": str, "index": "Float64", "check_number": "Float64"}
            )
        )
    )
    rows: Counter[tuple[str | None, str]] = Counter()
    seen: set[tuple[Any, ...]] = set()
    for r in fc.iter_rows(named=True):
        column, check, idx = r["column"], r["check"], r["index"]
        if column is None and check.startswith("column_in_"):
            column = str(r["failure_case"])
        if check == "multiple_fields_uniqueness":
            column = None
        ident = (column, check, idx if idx is not None else str(r["failure_case"]))
        if ident in seen:  # pandas lists a duplicated row once per column
            continue
        seen.add(ident)
        rows[(column, check)] += 1
    return dict(rows)


def report_counts(report: ValidationReport) -> dict[tuple[str | None, str], int]:
    out = {}
    for f in (*report.errors, *report.warnings):
        column = None if f.check == "multiple_fields_uniqueness" else f.column
        out[(column, f.check)] = f.failure_count
    return out


def write(tmp_path: Path, name: str, text: str) -> str:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return str(p)


# -- failure counts equal pandera's ---------------------------------------------------


def test_polars_counts_equal_pandera_and_catch_cross_chunk_duplicates(tmp_path: Path) -> None:
    table = planted()
    loaded = load_schema(write(tmp_path, "s.yaml", POLARS_YAML))
    assert loaded.backend == "polars"
    report = validate_batches(
        loaded, table.to_batches(max_chunksize=700), schema=table.schema, rows_per_chunk=1000
    )
    assert report.chunks_checked == 3 and report.rows_checked == N and not report.ok

    with pytest.raises(SchemaErrors) as exc:
        loaded.schema.validate(pl.from_arrow(table), lazy=True)
    expected = direct_counts(exc.value.failure_cases)
    assert report_counts(report) == expected
    assert expected[("score", "in_range(0, 100)")] == 3
    assert expected[("tier", "isin(['a', 'b'])")] == 3
    assert expected[("tier", "not_nullable")] == 1
    assert expected[("amount", "dtype('Int64')")] == 1

    dup = next(f for f in report.errors if f.check == "field_uniqueness")
    assert dup.failure_count == 2
    assert [(e.value, e.row) for e in dup.examples] == [
        (7, 7),
        (7, 2500),
    ]  # rows 7 and 2500: chunks 0 and 2
    bad = next(f for f in report.errors if f.check == "in_range(0, 100)")
    # one distinct failing value: its count and first row (rows 3, 1200, 2999 hold it)
    assert [(e.value, e.row, e.count) for e in bad.examples] == [(150.0, 3, 3)]


def test_pandas_yaml_written_by_pandera_counts_equal_pandera(tmp_path: Path) -> None:
    schema = pa_pd.DataFrameSchema(
        {
            "id": pa_pd.Column("int64", pa_pd.Check.ge(0), unique=True),
            "score": pa_pd.Column("float64", pa_pd.Check.in_range(0, 100), nullable=True),
            "tier": pa_pd.Column(str, pa_pd.Check.isin(["a", "b"])),
            "amount": pa_pd.Column("int64"),
        },
        unique=["id", "tier"],
    )
    path = tmp_path / "pandas.yaml"
    schema.to_yaml(path)  # exactly as pandera writes it
    loaded = load_schema(str(path))
    assert loaded.backend == "pandas"
    table = planted()
    report = validate_batches(loaded, table.to_batches(), schema=table.schema, rows_per_chunk=1000)
    with pytest.raises(SchemaErrors) as exc:
        loaded.schema.validate(table.to_pandas(), lazy=True)
    assert report_counts(report) == direct_counts(exc.value.failure_cases)
    assert report.chunks_checked == 3


def test_composite_unique_and_key_across_chunks(tmp_path: Path) -> None:
    yaml_text = POLARS_YAML.replace("    unique: true\n", "") + "unique: [id, tier]\n"
    table = planted().set_column(2, "tier", pa.array(["a"] * N, pa.large_string()))
    loaded = load_schema(write(tmp_path, "s.yaml", yaml_text))
    report = validate_batches(loaded, [table], schema=table.schema, key=["id"], rows_per_chunk=1000)
    with pytest.raises(SchemaErrors) as exc:
        loaded.schema.validate(pl.from_arrow(table), lazy=True)
    assert (
        report_counts(report)[(None, "multiple_fields_uniqueness")]
        == direct_counts(exc.value.failure_cases)[(None, "multiple_fields_uniqueness")]
        == 2
    )
    key = next(f for f in report.errors if f.check == "key_unique")
    assert key.column == "id" and key.failure_count == 2
    assert [e.key for e in key.examples] == [(("id", 7),), (("id", 7),)]


# -- strict loading ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "named"),
    [
        (POLARS_YAML.replace("in_range:", "in_rnage:"), "in_rnage"),
        (POLARS_YAML.replace("    nullable: true", "    nulable: true"), "nulable"),
        (POLARS_YAML.replace("max_value: 100", "max_vlue: 100"), "max_vlue"),
        (POLARS_YAML + "stric: true\n", "stric"),
        (POLARS_YAML.replace("isin: [a, b]", "is_in_set: [a, b]"), "is_in_set"),
        (
            POLARS_YAML.replace("schema_type: polars_dataframe", "schema_type: ibis_table"),
            "ibis_table",
        ),
    ],
)
def test_unknown_keys_are_usage_errors(tmp_path: Path, text: str, named: str) -> None:
    with pytest.raises(UsageError, match=named):
        load_schema(write(tmp_path, "s.yaml", text))


def test_misspelt_check_exits_2_on_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DVTOOL_REPO", raising=False)
    import pyarrow.csv as pcsv

    pcsv.write_csv(planted(), tmp_path / "data.csv")
    schema = write(tmp_path, "s.yaml", POLARS_YAML.replace("in_range:", "in_rnage:"))
    r = run(capsys, "validate", "data.csv", "--schema", schema)
    assert r.exit_code == 2
    assert r.stderr.startswith("Error: schema file") and "in_rnage" in r.stderr
    assert "did you mean 'in_range'" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_python_tags_are_refused_and_never_run(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    text = f"!!python/object/apply:os.system ['touch {marker}']\n"
    with pytest.raises(UsageError, match="not valid YAML"):
        load_schema(write(tmp_path, "evil.yaml", text))
    assert not marker.exists()


def test_python_schemas_model_and_schema(tmp_path: Path) -> None:
    code = """
import pandera.polars as pa
import pandera.pandas as pd_pa
import polars as pl

class Orders(pa.DataFrameModel):
    id: int = pa.Field(ge=0, unique=True)
    score: float = pa.Field(in_range={"min_value": 0, "max_value": 100}, nullable=True)

PANDAS = pd_pa.DataFrameSchema({"tier": pd_pa.Column(str, pd_pa.Check(lambda s: s.str.len() < 3))})
"""
    path = write(tmp_path, "schemas.py", code)
    table = planted()
    model = load_schema(f"{path}:Orders")
    assert model.backend == "polars"
    r = validate_batches(model, [table], schema=table.schema, rows_per_chunk=1000)
    assert {(f.column, f.check): f.failure_count for f in r.errors} == {
        ("score", "in_range(0, 100)"): 3,
        ("id", "field_uniqueness"): 2,
    }
    lam = load_schema(f"{path}:PANDAS")
    assert lam.backend == "pandas"
    r2 = validate_batches(lam, [table], schema=table.schema, rows_per_chunk=1000)
    assert sorted((f.column, f.failure_count) for f in r2.errors) == [
        ("tier", 1),
        ("tier", 3),
    ]  # null, lambda
    with pytest.raises(UsageError, match="has no 'Nope'"):
        load_schema(f"{path}:Nope")


# -- warnings, formats ------------------------------------------------------------------


WARN_YAML = """\
schema_type: polars_dataframe
columns:
  score:
    dtype: Float64
    nullable: true
    less_than_or_equal_to: {max_value: 98, raise_warning: true}
"""


def test_warnings_pass_unless_strict(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import pyarrow.csv as pcsv

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DVTOOL_REPO", raising=False)
    pcsv.write_csv(planted(), tmp_path / "data.csv")
    schema = write(tmp_path, "w.yaml", WARN_YAML)
    r = run(capsys, "validate", "data.csv", "--schema", schema, "--format", "json")
    doc = json.loads(r.stdout)
    assert r.exit_code == 0 and doc["ok"] is True and doc["errors"] == []
    over = sum(1 for v in planted().column("score").to_pylist() if v is not None and v > 98)
    assert doc["warnings"][0]["failure_count"] == over == 62
    assert run(capsys, "validate", "data.csv", "--schema", schema, "--strict").exit_code == 1


def test_every_format(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import pyarrow.csv as pcsv

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DVTOOL_REPO", raising=False)
    pcsv.write_csv(planted(), tmp_path / "data.csv")
    schema = write(tmp_path, "s.yaml", POLARS_YAML)

    r = run(capsys, "validate", "data.csv", "--schema", schema, "--format", "json")
    doc = json.loads(r.stdout)
    assert r.exit_code == 1
    assert {
        "ok",
        "schema",
        "rows_checked",
        "errors",
        "warnings",
        "chunks_checked",
        "chunks_reused",
    } <= set(doc)
    assert doc["ok"] is False and doc["rows_checked"] == N
    for e in doc["errors"]:
        optional = {"checks", "distinct_values", "all_values_listed"}
        assert (
            {"column", "check", "failure_count", "examples"}
            <= set(e)
            <= {"column", "check", "failure_count", "examples", *optional}
        )
        assert len(e["examples"]) <= 100

    r = run(capsys, "validate", "data.csv", "--schema", schema, "--format", "junit", "-o", "r.xml")
    assert r.exit_code == 1 and r.stdout == ""
    root = ET.parse(tmp_path / "r.xml").getroot()
    cases = root.findall(".//testcase")
    names = [(c.get("classname"), c.get("name")) for c in cases]
    assert len(names) == len(set(names))  # one testcase per check
    failed = {c.get("name") for c in cases if c.find("failure") is not None}
    assert failed == {e["check"] for e in doc["errors"]}
    assert any(
        c.get("name") == "greater_than_or_equal_to(0)" and c.find("failure") is None for c in cases
    )

    r = run(capsys, "validate", "data.csv", "--schema", schema, "--format", "markdown")
    assert r.stdout.startswith("### ❌") and "| error | score | in_range(0, 100) | 3 |" in r.stdout

    r = run(capsys, "validate", "data.csv", "--schema", schema, "--format", "github")
    errors = [line for line in r.stdout.splitlines() if line.startswith("::error ")]
    assert len(errors) == len(doc["errors"]) and "line=" in errors[0]


def _many_failures(n: int) -> ValidationReport:
    fails = tuple(
        CheckFailure(
            f"col{i}",
            "in_range(0, 1)",
            1_000_000,
            tuple(Example("x" * 50, row=j) for j in range(5)),
        )
        for i in range(n)
    )
    return ValidationReport("s.yaml", "xxh128:" + "0" * 32, "big", 1_000_000, errors=fails)


def test_github_at_most_ten_annotations_and_markdown_is_cut() -> None:
    report = _many_failures(400)
    gh = report.to_github()
    assert sum(line.startswith("::error") for line in gh.splitlines()) == 10
    assert "390 more errors not annotated" in gh
    md = report.to_markdown()
    assert len(md) < 60_000 and "report cut" in md


def test_markdown_small_on_a_million_failing_rows(tmp_path: Path) -> None:
    table = pa.table({"x": pa.array(range(1_000_000), pa.int64())})
    loaded = load_schema(
        write(
            tmp_path,
            "s.yaml",
            "schema_type: polars_dataframe\ncolumns:\n  x:\n    dtype: Int64\n    less_than: -1\n",
        )
    )
    report = validate_batches(
        loaded, table.to_batches(), schema=table.schema, rows_per_chunk=250_000
    )
    (fail,) = report.errors
    # at most 100 distinct values listed (5 in text), and the JSON says the list is not all
    assert fail.failure_count == 1_000_000 and len(fail.examples) == 100
    assert len(report.to_markdown()) < 60_000 and len(report.to_json_text()) < 20_000
    assert report.to_json()["errors"][0]["all_values_listed"] is False


# -- repository: snapshot --schema, incremental verdicts --------------------------------


def _orders(n: int, start: int = 0) -> pa.Table:
    ids = pa.array(range(start, start + n), pa.int64())
    return pa.table(
        {
            "id": ids,
            "score": pa.compute.cast(
                pa.compute.divide(pa.compute.cast(ids, pa.float64()), float(max(n, 1) * 2)),
                pa.float64(),
            ),
            "tier": pa.array(
                ["a" if i % 3 else "b" for i in range(start, start + n)], pa.large_string()
            ),
        }
    )


SCORE_YAML = """\
schema_type: polars_dataframe
columns:
  id: {dtype: Int64, unique: true, greater_than_or_equal_to: 0}
  score: {dtype: Float64, in_range: {min_value: 0, max_value: 1}}
  tier: {dtype: String, isin: [a, b]}
"""


def test_incremental_verdicts_check_only_new_chunks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DVTOOL_CHUNK_BYTES", str(256 << 10))  # small chunks: many in 200k rows
    repo = Repo.init(str(tmp_path / ".dvtool"))
    schema = write(tmp_path, "s.yaml", SCORE_YAML)
    base = _orders(200_000)
    repo.snapshot(base, dataset="orders", key=["id"])
    first = repo.validate("orders", schema=schema)
    n_chunks = len(repo.get("orders").chunks)
    assert (
        n_chunks >= 10
        and first.ok
        and first.chunks_checked == n_chunks
        and first.chunks_reused == 0
    )

    grown = pa.concat_tables([base, _orders(2_000, start=200_000)])
    repo.snapshot(grown, dataset="orders", key=["id"])
    again = repo.validate("orders@v2", schema=schema)
    full = repo.validate("orders@v2", schema=schema, use_cache=False)
    assert (
        1 <= again.chunks_checked <= 2
        and again.chunks_reused == len(repo.get("orders@v2").chunks) - again.chunks_checked
    )
    strip = {"chunks_checked", "chunks_reused"}
    assert {k: v for k, v in again.to_json().items() if k not in strip} == {
        k: v for k, v in full.to_json().items() if k not in strip
    }
    loaded = load_schema(schema)
    chunk = repo.get("orders@v2").chunks[-1]
    assert (tmp_path / ".dvtool" / verdict_key(loaded.fingerprint, chunk.fingerprint)).is_file()


def test_snapshot_schema_failure_changes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import pyarrow.csv as pcsv

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DVTOOL_REPO", raising=False)
    assert run(capsys, "init").exit_code == 0
    pcsv.write_csv(_orders(5000), tmp_path / "good.csv")
    bad = _orders(5000).set_column(1, "score", pa.array([2.0] * 5000))
    pcsv.write_csv(bad, tmp_path / "bad.csv")
    schema = write(tmp_path, "s.yaml", SCORE_YAML)
    assert (
        run(
            capsys, "snapshot", "good.csv", "-d", "orders", "--key", "id", "--schema", schema
        ).exit_code
        == 0
    )
    before = tree_digest(tmp_path / ".dvtool")
    log_before = run(capsys, "log", "orders").stdout
    r = run(capsys, "snapshot", "bad.csv", "-d", "orders", "--key", "id", "--schema", schema)
    assert r.exit_code == 1 and "in_range(0, 1)" in r.stderr + r.stdout
    assert tree_digest(tmp_path / ".dvtool") == before
    assert run(capsys, "log", "orders").stdout == log_before
    show = run(capsys, "show", "orders")
    assert "validated passed against" in show.stdout


def test_memory_cache_reuse_equals_fresh_run(tmp_path: Path) -> None:
    from dvtool.validate.run import validate_chunks
    from dvtool.validate.verdicts import ChunkInput

    table = planted()
    loaded = load_schema(write(tmp_path, "s.yaml", POLARS_YAML))
    import pyarrow.parquet as pq

    chunks, files = [], []
    for i, off in enumerate(range(0, N, 1000)):
        part = table.slice(off, 1000)
        path = str(tmp_path / f"c{i}.parquet")
        pq.write_table(part, path)
        files.append(path)
        chunks.append(
            ChunkInput(f"xxh128:{i:032x}", off, part.num_rows, lambda p=path: pq.read_table(p))
        )
    cache = MemoryVerdictCache()
    one = validate_chunks(
        loaded, chunks, parquet_files=files, columns=table.column_names, cache=cache
    )
    two = validate_chunks(
        loaded, chunks, parquet_files=files, columns=table.column_names, cache=cache
    )
    assert (one.chunks_checked, one.chunks_reused, two.chunks_checked, two.chunks_reused) == (
        3,
        0,
        0,
        3,
    )
    assert one.errors == two.errors


# -- inference ------------------------------------------------------------------------------


def draw_table(data: st.DataObject) -> pa.Table:
    draw = data.draw
    n = draw(st.integers(0, 40))
    cols: dict[str, pa.Array] = {}
    ints = st.one_of(st.none(), st.integers(-(2**62), 2**62))
    floats = st.one_of(st.none(), st.floats(allow_nan=draw(st.booleans()), width=64))
    texts = st.one_of(st.none(), st.text(max_size=8))
    cols["i"] = pa.array(draw(st.lists(ints, min_size=n, max_size=n)), pa.int64())
    cols["f"] = pa.array(draw(st.lists(floats, min_size=n, max_size=n)), pa.float64())
    cols["s"] = pa.array(draw(st.lists(texts, min_size=n, max_size=n)), pa.large_string())
    cols["b"] = pa.array(
        draw(st.lists(st.one_of(st.none(), st.booleans()), min_size=n, max_size=n)), pa.bool_()
    )
    cols['odd name "; --'] = pa.array(
        draw(st.lists(st.integers(0, 5), min_size=n, max_size=n)), pa.int32()
    )
    cols["t"] = pa.array(
        draw(st.lists(st.one_of(st.none(), st.integers(0, 2**40)), min_size=n, max_size=n)),
        pa.timestamp("ms"),
    )
    return pa.table(cols)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_infer_then_validate_passes(tmp_path: Path, data: st.DataObject) -> None:
    table = draw_table(data)
    text = infer_schema(table)
    path = write(tmp_path, "inferred.yaml", text)
    report = validate_batches(
        load_schema(path), table.to_batches(max_chunksize=7), schema=table.schema, rows_per_chunk=10
    )
    assert report.ok and not report.warnings, report.to_text()


@pytest.mark.parametrize("values", [[float("nan")], [float("nan"), 1.5], [float("nan"), None]])
def test_infer_makes_a_float_column_with_nan_nullable(
    tmp_path: Path, values: list[float | None]
) -> None:
    # pandera counts NaN as missing in a nullable check: a column holding NaN is inferred nullable
    table = pa.table({"f": pa.array(values, pa.float64())})
    path = write(tmp_path, "inferred.yaml", infer_schema(table))
    report = validate_batches(load_schema(path), table.to_batches(), schema=table.schema)
    assert report.ok, report.to_text()


def test_infer_on_a_snapshot_adds_the_key(tmp_path: Path) -> None:
    repo = Repo.init(str(tmp_path / ".dvtool"))
    repo.snapshot(_orders(1000), dataset="orders", key=["id"])
    text = repo.infer_schema("orders")
    assert "unique: true" in text and "in_range" in text
    path = write(tmp_path, "o.yaml", text)
    assert repo.validate("orders", schema=path).ok
    assert os.path.getsize(path) < 2000


def test_snapshot_with_schema_reports_duplicate_keys_with_every_other_failure(
    tmp_path: Path,
) -> None:
    """With --schema, a duplicate key is one line of the full report, not a lone key error."""
    from dvtool.errors import ValidationFailed

    repo = Repo.init(tmp_path / "gate")
    fixtures = Path(__file__).resolve().parents[2] / "fixtures" / "faults"
    before = sorted(repo.store.list(""))
    with pytest.raises(ValidationFailed) as info:
        repo.snapshot(
            str(fixtures / "orders_bad.csv"),
            dataset="orders",
            key=["order_id"],
            schema=str(fixtures / "orders.schema.yaml"),
        )
    columns = {e.column for e in info.value.report.errors}
    assert {"order_id", "amount", "status", "customer_id"} <= columns
    assert sorted(repo.store.list("")) == before


FRAME_CHECKS = """
import pandera.pandas as pdp
import pandera.polars as pap
import polars as pl

# Dataframe-level checks need every row: a row count and an aggregate.
polars_schema = pap.DataFrameSchema(
    {"id": pap.Column(int)},
    checks=[
        pap.Check(lambda data: data.lazyframe.select(pl.len() >= 300_000), name="at_least_300k_rows"),
        pap.Check(lambda data: data.lazyframe.select(pl.col("id").mean() > 140_000), name="mean_id_over_140k"),
    ],
)
pandas_schema = pdp.DataFrameSchema(
    {"id": pdp.Column(int)},
    checks=[pdp.Check(lambda df: len(df) >= 300_000, name="at_least_300k_rows")],
)
too_many = pap.DataFrameSchema(
    {"id": pap.Column(int)},
    checks=[pap.Check(lambda data: data.lazyframe.select(pl.len() >= 310_000), name="at_least_310k_rows")],
)
"""


def test_dataframe_level_checks_see_all_rows_not_one_chunk(tmp_path: Path) -> None:
    """A row count over a snapshot larger than one validation group (256k rows): true of the whole
    data, false of every chunk and of every group of chunks."""
    schema_file = tmp_path / "frame_checks.py"
    schema_file.write_text(FRAME_CHECKS)
    repo = Repo.init(tmp_path / "repo")
    snap = repo.snapshot(pa.table({"id": list(range(300_000))}), dataset="d", key=["id"]).snapshot
    assert len(snap.chunks) > 1 and max(c.rows for c in snap.chunks) < 300_000
    for name in ("polars_schema", "pandas_schema"):
        report = repo.validate("d", schema=f"{schema_file}:{name}")
        assert report.ok, (name, report.to_text())
    failed = repo.validate("d", schema=f"{schema_file}:too_many")
    assert not failed.ok
    assert [(e.column, e.check, e.failure_count) for e in failed.errors] == [
        (None, "at_least_310k_rows", 1)
    ]
