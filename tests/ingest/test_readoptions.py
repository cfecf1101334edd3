"""Reading real CSVs: null markers like pandas, delimiter, encoding, skipped lines, column types."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import dvtool
from clitools import run, tree_digest
from dvtool.errors import UsageError
from dvtool.ingest.readoptions import DEFAULT_NULL_VALUES

# Every spelling of "missing" a user meets, bare and quoted, in a text and a numeric column.
MESSY = 'id,carrier,delay\n1,NA,NA\n2,N/A,N/A\n3,,\n4,NULL,NULL\n5,"NA",7\n6,UA,12\n'


@pytest.fixture
def messy(tmp_path: Path) -> Path:
    path = tmp_path / "flights.csv"
    path.write_text(MESSY)
    return path


def rows(repo: dvtool.Repo, ref: str) -> list[dict[str, object]]:
    return repo.get(ref).to_arrow().to_pylist()


def test_default_null_values_are_pandas_own_list() -> None:
    from pandas._libs.parsers import STR_NA_VALUES

    assert set(DEFAULT_NULL_VALUES) == set(STR_NA_VALUES)


def test_na_na_empty_and_null_cells_are_nulls_by_default_in_text_columns_too(
    tmp_path: Path, messy: Path
) -> None:
    repo = dvtool.Repo.init(tmp_path / "repo")
    snap = repo.snapshot(str(messy), dataset="flights", key=["id"]).snapshot
    assert str(snap.schema.field("delay").type) == "int64"
    got = rows(repo, "flights")
    assert [r["carrier"] for r in got] == [None, None, None, None, None, "UA"]
    assert [r["delay"] for r in got] == [None, None, None, None, 7, 12]
    # the same nulls as pandas.read_csv finds
    expected = pd.read_csv(messy).isna().sum().to_dict()
    table = snap.to_arrow()
    assert table["carrier"].null_count == expected["carrier"] == 5
    assert table["delay"].null_count == expected["delay"] == 4


def test_null_values_option_replaces_the_list(tmp_path: Path, messy: Path) -> None:
    repo = dvtool.Repo.init(tmp_path / "repo")
    read = dvtool.ReadOptions.build(null_values="NULL,")
    snap = repo.snapshot(str(messy), dataset="flights", key=["id"], read=read).snapshot
    got = rows(repo, "flights")
    assert [r["carrier"] for r in got] == ["NA", "N/A", None, None, "NA", "UA"]
    # 'NA' is no longer null, so the delay column cannot be numbers: it stays text
    assert str(snap.schema.field("delay").type) == "string"
    assert [r["delay"] for r in got] == ["NA", "N/A", None, None, "7", "12"]


def test_quoted_cells_can_stay_literal(tmp_path: Path, messy: Path) -> None:
    repo = dvtool.Repo.init(tmp_path / "repo")
    read = dvtool.ReadOptions.build(options={"quoted_strings_can_be_null": "false"})
    repo.snapshot(str(messy), dataset="flights", key=["id"], read=read)
    assert [r["carrier"] for r in rows(repo, "flights")] == [None, None, None, None, "NA", "UA"]


def test_other_null_values_are_other_data_even_from_an_untouched_file(
    tmp_path: Path, messy: Path
) -> None:
    """The stat cache knows the read options: another reading of the same bytes is read again."""
    repo = dvtool.Repo.init(tmp_path / "repo")
    assert repo.snapshot(str(messy), dataset="f", key=["id"]).version == 1
    assert repo.snapshot(str(messy), dataset="f", key=["id"]).unchanged
    read = dvtool.ReadOptions.build(null_values="")
    second = repo.snapshot(str(messy), dataset="f", key=["id"], read=read)
    assert not second.unchanged and second.version == 2
    assert [r["carrier"] for r in rows(repo, "f")] == ["NA", "N/A", None, "NULL", "NA", "UA"]


def test_delimiter_encoding_skip_rows_and_column_types(tmp_path: Path) -> None:
    path = tmp_path / "export.txt"
    text = "Exported by SAP\n\nzip;city;amount\n01234;Köln;1,5\n00501;Zürich;2\n"
    path.write_bytes(text.encode("latin-1"))
    read = dvtool.ReadOptions.build(
        delimiter=";",
        encoding="latin-1",
        skip_rows=2,
        column_types={"zip": "string", "amount": "float64"},
        options={"decimal_point": ","},
    )
    repo = dvtool.Repo.init(tmp_path / "repo")
    snap = repo.snapshot(str(path), dataset="sites", format="csv", read=read).snapshot
    assert snap.to_arrow().to_pylist() == [
        {"zip": "01234", "city": "Köln", "amount": 1.5},
        {"zip": "00501", "city": "Zürich", "amount": 2.0},
    ]
    # without the options the same bytes cannot be read as that table
    with pytest.raises(UsageError, match="cannot read"):
        repo.snapshot(str(path), dataset="sites2", format="csv")


def test_tsv_keeps_its_tab_and_a_tab_can_be_spelled(tmp_path: Path) -> None:
    (tmp_path / "a.tsv").write_text("a\tb\n1\tx\n")
    (tmp_path / "a.csv").write_text("a\tb\n1\tx\n")
    repo = dvtool.Repo.init(tmp_path / "repo")
    one = repo.snapshot(str(tmp_path / "a.tsv"), dataset="t").snapshot
    two = repo.snapshot(
        str(tmp_path / "a.csv"), dataset="c", read=dvtool.ReadOptions.build(delimiter="\\t")
    ).snapshot
    assert one.schema.names == two.schema.names == ["a", "b"]
    assert one.manifest.fingerprint == two.manifest.fingerprint


def test_column_types_cast_parquet_and_json_lines(tmp_path: Path) -> None:
    pq.write_table(pa.table({"id": [1, 2], "amount": [1.5, 2.25]}), tmp_path / "p.parquet")
    (tmp_path / "e.jsonl").write_text(
        '{"id": 1, "ts": "2024-01-02 03:04:05"}\n{"id": 2, "ts": null}\n'
    )
    repo = dvtool.Repo.init(tmp_path / "repo")
    read = dvtool.ReadOptions.build(column_types={"amount": "decimal128(10, 2)"})
    snap = repo.snapshot(str(tmp_path / "p.parquet"), dataset="p", read=read).snapshot
    assert str(snap.schema.field("amount").type) == "decimal128(10, 2)"
    read = dvtool.ReadOptions.build(column_types={"ts": "timestamp[us]", "id": "int32"})
    snap = repo.snapshot(str(tmp_path / "e.jsonl"), dataset="e", read=read).snapshot
    assert [str(f.type) for f in snap.schema] == ["int32", "timestamp[us]"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"options": {"block_size": "1"}}, "--read-option block_size cannot be set"),
        ({"options": {"delimiter": ";"}}, "use --delimiter"),
        (
            {"options": {"quoted_string_can_be_null": "x"}},
            "did you mean 'quoted_strings_can_be_null'",
        ),
        ({"options": {"strings_can_be_null": "maybe"}}, "expects true or false"),
        ({"column_types": {"id": "intt"}}, "'intt' is not a type"),
        ({"delimiter": ";;"}, "--delimiter must be one character"),
        ({"encoding": "klingon"}, "not an encoding"),
    ],
)
def test_bad_read_options_are_refused_up_front(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        dvtool.ReadOptions.build(**kwargs)  # type: ignore[arg-type]


def test_options_that_would_be_ignored_are_refused(tmp_path: Path, messy: Path) -> None:
    pq.write_table(pa.table({"id": [1]}), tmp_path / "p.parquet")
    repo = dvtool.Repo.init(tmp_path / "repo")
    with pytest.raises(
        UsageError, match=r"--null-values applies to CSV files; .*p.parquet is parquet"
    ):
        repo.snapshot(
            str(tmp_path / "p.parquet"), dataset="p", read=dvtool.ReadOptions.build(null_values="x")
        )
    with pytest.raises(UsageError, match="column 'nope' in --column-type is not in"):
        repo.snapshot(
            str(messy), dataset="f", read=dvtool.ReadOptions.build(column_types={"nope": "int64"})
        )
    with pytest.raises(UsageError, match="apply to files; a DataFrame already has its types"):
        repo.snapshot(
            pd.DataFrame({"a": [1]}), dataset="df", read=dvtool.ReadOptions.build(skip_rows=1)
        )
    assert repo.dataset_names() == []


def test_read_options_round_trip_their_canonical_form() -> None:
    read = dvtool.ReadOptions.build(
        null_values="NA,,NA",
        delimiter="tab",
        encoding="LATIN-1",
        column_types={"b": "int", "a": "string"},
        options={"true_values": "y,Y"},
    )
    assert read.to_dict() == {
        "null_values": ["NA", ""],
        "delimiter": "\t",
        "encoding": "iso8859-1",
        "column_types": {"a": "string", "b": "int"},
        "options": {"true_values": "y,Y"},
    }
    assert dvtool.ReadOptions.from_dict(read.to_dict()) == read
    assert dvtool.ReadOptions().to_dict() == {} and dvtool.ReadOptions().is_default
    assert read.describe() == (
        "--null-values NA, --delimiter '\\t' --encoding iso8859-1 --column-type a=string "
        "--column-type b=int --read-option true_values=y,Y"
    )


# -- the command line ----------------------------------------------------------------


@pytest.fixture
def cli_repo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DVTOOL_REPO", raising=False)
    assert run(capsys, "init").exit_code == 0
    return tmp_path / ".dvtool"


def nulls(capsys: pytest.CaptureFixture[str]) -> dict[str, int]:
    """Null counts per column of dataset f, as `dvtool show --json` reports them."""
    shown = json.loads(run(capsys, "show", "f", "--json").stdout)
    out: dict[str, int] = {}
    for chunk in shown["chunks"]:
        for name, stats in chunk["stats"].items():
            out[name] = out.get(name, 0) + stats["nulls"]
    return out


def test_cli_snapshot_with_and_without_null_values(
    cli_repo: Path, messy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "snapshot", str(messy), "-d", "f", "--key", "id").exit_code == 0
    assert nulls(capsys) == {"id": 0, "carrier": 5, "delay": 4}
    r = run(capsys, "snapshot", str(messy), "-d", "f", "--key", "id", "--null-values", "NULL")
    assert r.exit_code == 0 and "v2" in r.stdout
    assert nulls(capsys) == {
        "id": 0,
        "carrier": 1,
        "delay": 1,
    }  # only NULL is null now; the empty cells are text


def test_cli_bad_read_option_is_one_line_and_leaves_the_repo(
    cli_repo: Path, messy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = tree_digest(cli_repo)
    for args in (
        ("--read-option", "block_size=9"),
        ("--column-type", "delay"),
        ("--column-type", "delay=number"),
        ("--read-option", "nonsense=1"),
    ):
        r = run(capsys, "snapshot", str(messy), "-d", "f", *args)
        assert r.exit_code == 2 and r.stderr.startswith("Error: ") and r.stderr.count("\n") == 1, (
            r.stderr
        )
    assert tree_digest(cli_repo) == before


def test_cli_validate_and_infer_read_a_source_with_the_options(
    cli_repo: Path, messy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    schema = tmp_path / "s.yaml"
    schema.write_text(
        "schema_type: dataframe\ncolumns:\n  carrier:\n    dtype: str\n    nullable: false\n"
    )
    r = run(capsys, "validate", str(messy), "--schema", str(schema), "--format", "json")
    assert r.exit_code == 1
    errors = json.loads(r.stdout)["errors"]
    assert [(e["column"], e["failure_count"]) for e in errors] == [("carrier", 5)]
    r = run(capsys, "validate", str(messy), "--schema", str(schema), "--null-values", "")
    assert r.exit_code == 1 and "1 failure" in r.stdout
    r = run(capsys, "schema", "infer", str(messy), "--null-values", "NULL,")
    assert r.exit_code == 0 and "delay:\n    dtype: String" in r.stdout
    assert run(capsys, "snapshot", str(messy), "-d", "f").exit_code == 0
    r = run(capsys, "validate", "f", "--schema", str(schema), "--null-values", "x")
    assert r.exit_code == 2 and "apply to SOURCE files; 'f' is a dataset REF" in r.stderr


def test_cli_diff_two_files_with_read_options(
    messy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    other = tmp_path / "other.csv"
    other.write_text(MESSY.replace("1,NA,NA", "1,-,NA"))
    r = run(capsys, "diff", str(messy), str(other), "--key", "id", "--format", "json")
    assert json.loads(r.stdout)["rows"]["changed"] == 1
    r = run(
        capsys,
        "diff",
        str(messy),
        str(other),
        "--key",
        "id",
        "--null-values",
        "NA,N/A,,NULL,-",
        "--format",
        "json",
    )
    assert json.loads(r.stdout)["rows"]["changed"] == 0
