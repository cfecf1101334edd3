"""Reports that point at the culprit: distinct values with counts and first rows, one fault one
entry, check errors apart, input row numbers, JUnit classnames, snapshot --schema --report."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import dvtool
from clitools import run, tree_digest

FAULTS = Path(__file__).resolve().parents[2] / "fixtures" / "faults"
BAD = str(FAULTS / "orders_bad.csv")
SCHEMA = str(FAULTS / "orders.schema.yaml")


def test_planted_faults_each_once_with_every_distinct_value_count_and_row() -> None:
    planted = json.loads((FAULTS / "FAULTS.json").read_text())["planted"]
    report = dvtool.validate_source(BAD, schema=SCHEMA)
    doc = report.to_json()
    by_column = {e["column"]: e for e in doc["errors"]}
    # five planted faults, five errors: no column twice
    assert sorted(by_column) == ["amount", "customer_id", "order_date", "order_id", "status"]
    assert len(doc["errors"]) == 5 and doc["check_errors"] == [] and doc["counts"]["errors"] == 5

    def rows_of(fault: str) -> list[int]:
        return [i + 1 for i in planted[fault]["row_index"]]  # 1-based input rows, header excluded

    status = by_column["status"]
    assert status["failure_count"] == 6 and status["distinct_values"] == 6
    assert {(x["value"], x["count"], x["row"]) for x in status["examples"]} == set(
        zip(planted["bad_status"]["values"], [1] * 6, rows_of("bad_status"), strict=True)
    )
    dates = by_column["order_date"]
    assert dates["check"] == "dtype('datetime64[ns]')"
    assert dates["checks"] == ["dtype('datetime64[ns]')", "coerce_dtype('datetime64[ns]')"]
    assert dates["failure_count"] == 4
    assert [(x["value"], x["count"], x["row"]) for x in dates["examples"]] == list(
        zip(planted["bad_order_date"]["values"], [1] * 4, rows_of("bad_order_date"), strict=True)
    )
    nulls = by_column["customer_id"]
    assert nulls["examples"] == [{"value": None, "count": 5, "row": rows_of("null_customer_id")[0]}]
    amount = by_column["amount"]
    assert sorted(x["row"] for x in amount["examples"]) == rows_of("negative_amount")
    assert all(x["count"] == 1 and x["value"] < 0 for x in amount["examples"])
    dup = by_column["order_id"]
    assert dup["failure_count"] == 6
    assert (
        sorted(x["row"] for x in dup["examples"])[:5] == sorted(rows_of("duplicate_order_id"))[:5]
    )


def test_distinct_failing_values_most_frequent_first(tmp_path: Path) -> None:
    lines = ["id,minutes"] + [f"{i},NA" for i in range(1, 301)]
    lines[40] = "40,abc"
    lines[50] = "50,12min"
    lines[60] = "60,abc"
    lines += ["301,5", "302,7"]
    data = tmp_path / "flights.csv"
    data.write_text("\n".join(lines) + "\n")
    schema = tmp_path / "s.yaml"
    schema.write_text(
        "schema_type: dataframe\ncolumns:\n  minutes:\n    dtype: float64\n    nullable: true\ncoerce: true\n"
    )
    # read as text ('NA' is a value here): every distinct value that is not a number, counted
    report = dvtool.validate_source(
        str(data), schema=str(schema), read=dvtool.ReadOptions.build(null_values="")
    )
    (error,) = report.to_json()["errors"]
    assert error["failure_count"] == 302 - 2
    assert [(x["value"], x["count"], x["row"]) for x in error["examples"]] == [
        ("NA", 297, 1),
        ("abc", 2, 40),
        ("12min", 1, 50),
    ]
    assert (
        "3 distinct values: 'NA' ×297 (first row 1); 'abc' ×2 (first row 40); '12min' ×1 (row 50)"
        in report.to_text()
    )
    # by default NA is a null: only the two real culprits are left
    (error,) = dvtool.validate_source(str(data), schema=str(schema)).to_json()["errors"]
    assert [(x["value"], x["count"]) for x in error["examples"]] == [("abc", 2), ("12min", 1)]


def test_a_check_that_raises_is_a_check_error_not_a_data_failure(tmp_path: Path) -> None:
    data = tmp_path / "d.csv"
    data.write_text("id,code\n1,a\n2,b\n3,\n")
    schema = tmp_path / "s.yaml"
    schema.write_text(
        "schema_type: dataframe\ncolumns:\n  code:\n    dtype: str\n    nullable: false\n"
        "    in_range: {min_value: 0, max_value: 9}\n"
    )
    report = dvtool.validate_source(str(data), schema=str(schema))
    doc = report.to_json()
    assert [(e["column"], e["check"]) for e in doc["errors"]] == [("code", "not_nullable")]
    (raised,) = doc["check_errors"]
    assert (
        raised["column"] == "code"
        and raised["check"] == "in_range(0, 9)"
        and "Error(" in raised["error"]
    )
    assert doc["counts"] == {"errors": 1, "warnings": 0, "check_errors": 1} and not doc["ok"]
    suite = ET.fromstring(report.render("junit")).find("testsuite")
    assert suite is not None and (suite.get("failures"), suite.get("errors")) == ("1", "1")
    case = next(c for c in suite.iter("testcase") if c.get("name") == "in_range(0, 9)")
    assert case.find("error") is not None and case.find("failure") is None
    assert "raised  code: in_range(0, 9): " in report.to_text()


def test_a_null_key_is_one_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DVTOOL_REPO", raising=False)
    data = tmp_path / "d.csv"
    data.write_text("id,v\n1,a\n,b\n3,c\n,d\n")
    schema = tmp_path / "s.yaml"
    schema.write_text(
        "schema_type: dataframe\ncolumns:\n  id:\n    dtype: float64\n    nullable: false\n    unique: true\n"
    )
    assert run(capsys, "init").exit_code == 0
    r = run(
        capsys,
        "snapshot",
        str(data),
        "-d",
        "t",
        "--key",
        "id",
        "--schema",
        str(schema),
        "--report",
        "r.json",
        "--report-format",
        "json",
    )
    assert r.exit_code == 1
    (error,) = json.loads((tmp_path / "r.json").read_text())["errors"]
    assert (error["column"], error["check"], error["failure_count"]) == ("id", "not_nullable", 2)
    assert error["examples"] == [
        {"value": None, "count": 2, "row": 2, "key": {"id": None}}
    ]  # input row 2


def test_dtype_and_coerce_and_nulls_merge_by_rule() -> None:
    from dvtool.validate.faults import one_per_fault
    from dvtool.validate.report import CheckFailure, Example

    nulls = (Example(None, 4, count=2),)
    merged = one_per_fault(
        [
            CheckFailure("id", "not_nullable", 2, nulls),
            CheckFailure("id", "field_uniqueness", 2, nulls),
            CheckFailure("d", "coerce_dtype('int64')", 3, (Example("x", 1, count=3),)),
            CheckFailure("d", "dtype('int64')", 1, (Example("object"),)),
            CheckFailure("e", "dtype('int64')", 1, (Example("object"),)),
        ]
    )
    assert [(f.column, f.checks, f.failure_count) for f in merged] == [
        ("id", ("not_nullable", "field_uniqueness"), 2),
        ("d", ("dtype('int64')", "coerce_dtype('int64')"), 3),
        ("e", ("dtype('int64')",), 1),
    ]
    assert merged[1].examples[0].value == "x"  # the coercion's rows, not the dtype's summary


def test_junit_classname_is_dataset_dot_column_and_keys_are_never_cut(tmp_path: Path) -> None:
    long_id = "k" * 120
    data = tmp_path / "d.csv"
    data.write_text(f"id,v\n{long_id},1\nshort,-1\n")
    repo = dvtool.Repo.init(tmp_path / "repo")
    repo.snapshot(str(data), dataset="orders", key=["id"])
    schema = tmp_path / "s.yaml"
    schema.write_text("schema_type: dataframe\ncolumns:\n  v:\n    dtype: int64\n    ge: 0\n")
    report = repo.validate("orders@v1", schema=str(schema))
    names = {c.get("classname") for c in ET.fromstring(report.render("junit")).iter("testcase")}
    assert "orders.v" in names and all(n == "orders" or n.startswith("orders.") for n in names)
    text = report.to_text()
    assert "-1 ×1 (row 2; id='short')" in text
    data.write_text(f"id,v\n{long_id},-5\n")
    report = repo.validate(str(data), schema=str(schema), key=["id"])
    assert f"id='{long_id}'" in report.to_text()


@pytest.mark.parametrize("fmt", ["junit", "json", "markdown", "github"])
def test_snapshot_schema_report_file_in_every_format(
    fmt: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DVTOOL_REPO", raising=False)
    assert run(capsys, "init").exit_code == 0
    before = tree_digest(tmp_path / ".dvtool")
    out = tmp_path / f"report.{fmt}"
    r = run(
        capsys,
        "snapshot",
        BAD,
        "-d",
        "orders",
        "--key",
        "order_id",
        "--schema",
        SCHEMA,
        "--report",
        str(out),
        "--report-format",
        fmt,
    )
    assert r.exit_code == 1 and tree_digest(tmp_path / ".dvtool") == before
    text = out.read_text()
    if fmt == "junit":
        root = ET.fromstring(text)
        assert root.get("failures") == "6"  # 5 faults; the date fault fails two checks
        assert {
            c.get("classname") for c in root.iter("testcase") if c.find("failure") is not None
        } == {
            "orders.order_id",
            "orders.customer_id",
            "orders.order_date",
            "orders.amount",
            "orders.status",
        }
    elif fmt == "json":
        doc = json.loads(text)
        assert doc["ok"] is False and len(doc["errors"]) == 5
        dates = next(e for e in doc["errors"] if e["column"] == "order_date")
        # rows are the input file's rows (1-based), not positions in the sorted snapshot
        assert [x["row"] for x in dates["examples"]] == [177, 373, 460, 542]
        dup = next(e for e in doc["errors"] if e["column"] == "order_id")
        assert sorted(x["row"] for x in dup["examples"] if x["value"] == 500011) == [11, 991]
    elif fmt == "markdown":
        assert text.startswith("### ❌ dvtool validate: `orders (new version)`")
    else:
        assert text.count("::error ") == 5


def test_snapshot_report_of_a_passing_gate_and_refused_without_schema(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DVTOOL_REPO", raising=False)
    assert run(capsys, "init").exit_code == 0
    good = str(FAULTS.parent / "orders" / "orders_v1.csv")
    r = run(
        capsys,
        "snapshot",
        good,
        "-d",
        "orders",
        "--schema",
        SCHEMA,
        "--report",
        "ok.xml",
        "--report-format",
        "junit",
    )
    assert r.exit_code == 0
    assert ET.fromstring((tmp_path / "ok.xml").read_text()).get("failures") == "0"
    r = run(capsys, "snapshot", good, "-d", "orders", "--report", "x.json")
    assert r.exit_code == 2 and "add --schema FILE" in r.stderr


def test_a_duplicated_long_value_is_shown_whole(tmp_path: Path) -> None:
    long_id = "order-" + "x" * 110
    data = tmp_path / "d.csv"
    data.write_text(f"id,v\n{long_id},1\n{long_id},2\n")
    schema = tmp_path / "s.yaml"
    schema.write_text("schema_type: dataframe\ncolumns:\n  id:\n    dtype: str\n    unique: true\n")
    report = dvtool.validate_source(str(data), schema=str(schema))
    assert f"'{long_id}' (row 1); '{long_id}' (row 2)" in report.to_text()
    assert report.render("junit").count(long_id) == 2
