"""diff.py on real Parquet files and real DuckDB: exact counts, skipped chunks, odd names."""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clitools import invoke
from dvtool.diff.plan import Side, diff
from dvtool.diff.report import MARKDOWN_LIMIT, schema_diff
from dvtool.errors import DataError, UsageError
from dvtool.format.hashing import hash_bytes
from dvtool.format.models import ChunkInfo
from dvtool.ingest.encoding import column_stats
from dvtool.ingest.fingerprint import table_fingerprint

ODD = 'a"; DROP TABLE t; --'


def _chunks(table: pa.Table, rows: int, key: Sequence[str]) -> list[tuple[ChunkInfo, pa.Table]]:
    if key:
        table = table.sort_by([(k, "ascending") for k in key])
    out = []
    for start in range(0, table.num_rows, rows):
        part = table.slice(start, rows)
        fp = table_fingerprint(part.schema, [part])
        kmin = tuple(part[k][0].as_py() for k in key) if key else None
        kmax = tuple(part[k][-1].as_py() for k in key) if key else None
        info = ChunkInfo(
            object=hash_bytes(f"{fp}/{start}".encode()),
            fingerprint=fp,
            rows=part.num_rows,
            bytes=part.nbytes,
            key_min=kmin,
            key_max=kmax,
            stats=column_stats(part),
        )
        out.append((info, part))
    return out


def file_side(
    tmp: Path, label: str, table: pa.Table, *, rows: int = 100, key: Sequence[str] = ("id",)
) -> Side:
    """A snapshot-like side: sorted by ``key``, cut every ``rows`` rows, one Parquet file per chunk."""
    infos, files = [], []
    folder = tmp / label.replace("@", "_")
    folder.mkdir(parents=True, exist_ok=True)
    for i, (info, part) in enumerate(_chunks(table, rows, key)):
        path = folder / f"{i:05d}.parquet"
        pq.write_table(part, path)
        infos.append(info)
        files.append(str(path))
    return Side.from_files(label, table.schema, infos, files, key=key)


def memory_side(label: str, table: pa.Table, *, rows: int, key: Sequence[str] = ("id",)) -> Side:
    """Like file_side, chunks held in memory (fast enough for Hypothesis)."""
    parts = _chunks(table, rows, key)
    by_object = {info.object: part for info, part in parts}
    return Side(
        label,
        table.schema,
        tuple(info for info, _ in parts),
        tuple(key),
        load=lambda c: by_object[c.object],
    )


# ---------------------------------------------------------------- the fixture with known edits


def _fixture() -> tuple[pa.Table, pa.Table]:
    n = 1000
    ids = list(range(n))
    amount: list[float | None] = [float(i) * 1.5 for i in ids]
    for i in range(0, n, 97):
        amount[i] = None  # nulls that stay nulls
    for i in range(5, n, 101):
        amount[i] = math.nan  # NaNs that stay NaN
    old = pa.table(
        {
            "id": pa.array(ids, pa.int64()),
            "name": [f"name {i}" for i in ids],
            "amount": pa.array(amount, pa.float64()),
            "qty": pa.array([i % 7 for i in ids], pa.int32()),
            ODD: [f"'{i}'" for i in ids],
        }
    )
    removed = {3, 50, 51, 52, 400, 998, 999}  # 7
    amount_changed = {10, 20, 30, 40, 60, 70, 80, 90, 100, 110, 120}  # 11
    name_changed = {10, 20, 200, 300, 301}  # 5, two also in amount_changed
    rows = []
    for r in old.to_pylist():
        i = r["id"]
        if i in removed:
            continue
        if i in amount_changed:
            r["amount"] = -1.0
        if i in name_changed:
            r["name"] = r["name"].upper()
        r["note"] = None
        rows.append(r)
    for i in range(2000, 2013):  # 13 added
        rows.append(
            {"id": i, "name": f"new {i}", "amount": 0.5, "qty": 1, ODD: f"x{i}", "note": "hi"}
        )
    new_schema = pa.schema(
        [
            ("id", pa.int64()),
            ("name", pa.string()),
            ("amount", pa.float64()),
            ("qty", pa.int64()),  # retyped, same values
            (ODD, pa.string()),
            ("note", pa.string()),  # added, nullable
        ]
    )
    new = pa.Table.from_pylist(rows, schema=new_schema)
    return old, new


EXPECTED_ROWS = {"added": 13, "removed": 7, "changed": 14, "unchanged": 1000 - 7 - 14}
EXPECTED_COLUMNS = {"name": 5, "amount": 11, "qty": 0, ODD: 0}


def _check_fixture_json(d: dict[str, Any]) -> None:
    assert d["rows"] == EXPECTED_ROWS
    assert d["columns"] == EXPECTED_COLUMNS
    assert d["total"] == {"old": 1000, "new": 1006}
    assert d["schema"]["added"] == [
        {"column": "note", "old": None, "new": "string", "nullable": True, "breaking": False}
    ]
    assert d["schema"]["removed"] == []
    assert d["schema"]["changed"] == [
        {"column": "qty", "old": "int32", "new": "int64", "nullable": True, "breaking": False}
    ]
    assert d["identical"] is False


def test_known_edits_exact_counts(tmp_path: Path) -> None:
    old, new = _fixture()
    d = diff(file_side(tmp_path, "t@v1", old), file_side(tmp_path, "t@v2", new), limit=3)
    data = json.loads(d.to_json())
    _check_fixture_json(data)
    assert data["old"] == "t@v1" and data["new"] == "t@v2" and data["key"] == ["id"]
    assert [r["id"] for r in data["samples"]["added"]] == [2000, 2001, 2002]
    assert [r["id"] for r in data["samples"]["removed"]] == [3, 50, 51]
    assert data["samples"]["changed"][0] == {
        "key": {"id": 10},
        "changes": {
            "name": {"old": "name 10", "new": "NAME 10"},
            "amount": {"old": 15.0, "new": -1.0},
        },
    }
    assert data["samples"]["removed"][0][ODD] == "'3'"
    # Python API of the frozen value
    assert d.rows.changed == 14 and d.columns["amount"] == 11
    assert not d.schema.breaking
    with pytest.raises(AttributeError):
        d.rows = d.rows  # type: ignore[misc]


@pytest.mark.parametrize("group_rows", [1, 150, 10_000_000])
def test_key_ranges_give_the_same_counts(tmp_path: Path, group_rows: int) -> None:
    old, new = _fixture()
    d = diff(
        file_side(tmp_path, "a", old, rows=37),
        file_side(tmp_path, "b", new, rows=53),
        group_rows=group_rows,
    )
    _check_fixture_json(d.to_dict())


def test_source_sides_and_other_keys_give_the_same_counts(tmp_path: Path) -> None:
    old, new = _fixture()
    # a SOURCE (Arrow stream, unsorted) on either side
    shuffled = new.take(pa.array(list(range(new.num_rows))[::-1]))
    d1 = diff(file_side(tmp_path, "a", old), Side.from_arrow("new.csv", shuffled))
    _check_fixture_json(d1.to_dict())
    d2 = diff(Side.from_arrow("old.parquet", old.to_reader()), file_side(tmp_path, "b", new))
    _check_fixture_json(d2.to_dict())
    # a --key other than the recorded one: no chunk is trusted, the key is checked
    d3 = diff(file_side(tmp_path, "c", old), file_side(tmp_path, "d", new), key=[ODD])
    assert d3.rows.unchanged + d3.rows.changed == 1000 - 7
    assert d3.key == (ODD,)


def test_identical_versions_skip_every_chunk(tmp_path: Path) -> None:
    old, _ = _fixture()
    d = diff(file_side(tmp_path, "a", old), file_side(tmp_path, "b", old))
    assert d.empty
    assert d.rows.unchanged == 1000
    assert d.chunks.skipped == 10 and d.chunks.compared == 0
    assert "identical" in d.to_text()


def test_append_reads_only_new_chunks(tmp_path: Path) -> None:
    base = pa.table({"id": range(10_000), "v": [i % 13 for i in range(10_000)]})
    extra = pa.table({"id": range(10_000, 10_100), "v": [1] * 100})  # 1% append
    old = file_side(tmp_path, "a", base, rows=1000)
    new = file_side(tmp_path, "b", pa.concat_tables([base, extra]), rows=1000)
    d = diff(old, new, limit=2)
    assert d.rows.to_dict() == {"added": 100, "removed": 0, "changed": 0, "unchanged": 10_000}
    assert d.chunks.to_dict() == {"old": 10, "new": 11, "skipped": 10, "compared": 1}
    assert [r["id"] for r in d.samples.added] == [10_000, 10_001]
    # no samples wanted: the appended chunk is counted from its ChunkInfo, never read
    assert diff(old, new, limit=0).chunks.compared == 0


def test_append_with_samples_reads_one_chunk_of_a_group(tmp_path: Path) -> None:
    base = pa.table({"id": range(1000), "v": range(1000)})
    extra = pa.table({"id": range(1000, 1500), "v": range(500)})
    d = diff(
        file_side(tmp_path, "a", base, rows=100),
        file_side(tmp_path, "b", pa.concat_tables([base, extra]), rows=100),
        limit=5,
    )
    assert d.rows.added == 500 and d.chunks.skipped == 10 and d.chunks.compared == 1


def test_keyless_multiset_counts_duplicates(tmp_path: Path) -> None:
    old = pa.table({"a": [1, 1, 1, 2, 3, None], "b": ["x", "x", "x", "y", "z", None]})
    new = pa.table({"a": [1, 2, 2, 4, None, None], "b": ["x", "y", "y", "w", None, None]})
    d = diff(
        file_side(tmp_path, "a", old, rows=2, key=()),
        file_side(tmp_path, "b", new, rows=4, key=()),
    )
    assert d.key == ()
    # old-only: (1,x)x2, (3,z); new-only: (2,y), (4,w), (null,null)
    assert d.rows.to_dict() == {"added": 3, "removed": 3, "changed": 0, "unchanged": 3}
    assert [dict(r) for r in d.samples.removed] == [{"a": 1, "b": "x"}, {"a": 3, "b": "z"}]
    assert dict(d.columns) == {}


def test_keyless_skips_identical_chunks(tmp_path: Path) -> None:
    t = pa.table({"a": range(500)})
    d = diff(
        file_side(tmp_path, "a", t, rows=100, key=()),
        file_side(tmp_path, "b", pa.concat_tables([t, pa.table({"a": [7]})]), rows=100, key=()),
    )
    assert d.rows.to_dict() == {"added": 1, "removed": 0, "changed": 0, "unchanged": 500}
    assert d.chunks.skipped == 5 and d.chunks.compared == 1


def test_nulls_and_nans_are_equal_but_null_is_not_nan_and_zero_keeps_its_sign(
    tmp_path: Path,
) -> None:
    # As in the fingerprint: every NaN is one value; -0.0 is not 0.0 (1/x tells them apart).
    old = pa.table({"id": [1, 2, 3, 4], "x": [math.nan, None, math.nan, 0.0]})
    new = pa.table({"id": [1, 2, 3, 4], "x": [-math.nan, None, None, -0.0]})
    d = diff(Side.from_arrow("old", old), Side.from_arrow("new", new), key=["id"])
    assert d.rows.to_dict() == {"added": 0, "removed": 0, "changed": 2, "unchanged": 2}
    assert d.to_dict()["samples"]["changed"] == [
        {"key": {"id": 3}, "changes": {"x": {"old": "NaN", "new": None}}},
        {"key": {"id": 4}, "changes": {"x": {"old": 0.0, "new": -0.0}}},
    ]
    assert '"new": -0.0' in d.to_json()


def test_odd_column_names_everywhere(tmp_path: Path) -> None:
    cols = [ODD, "with space", 'dq"uote', "sq'uote", "ünïcode", "select"]
    old = pa.table({c: [f"{c}{i}" for i in range(50)] for c in cols})
    new_cols = {c: [f"{c}{i}" for i in range(50)] for c in cols}
    new_cols["with space"][7] = "changed"
    new = pa.table(new_cols)
    for key in ([ODD], ['dq"uote', "sq'uote"], []):
        d = diff(
            file_side(tmp_path / str(len(key)), "a", old, rows=10, key=key),
            file_side(tmp_path / str(len(key)), "b", new, rows=10, key=key),
            key=key,
        )
        if key:
            assert d.rows.changed == 1 and d.columns["with space"] == 1
            assert "with space" in d.to_markdown() and key[0] in d.to_text()
        else:
            assert d.rows.added == 1 and d.rows.removed == 1
            assert ODD in d.to_markdown() and ODD in d.to_text()  # whole-row samples


def test_key_errors() -> None:
    t = pa.table({"id": [1, 1, 2], "v": [1, 2, 3]})
    with pytest.raises(DataError, match=r"not unique in dup.csv: id=1 appears 2 times"):
        diff(Side.from_arrow("dup.csv", t), Side.from_arrow("b", t), key=["id"])
    with pytest.raises(UsageError, match=r"column 'nope' in --key is not in a \(columns: id, v\)"):
        diff(Side.from_arrow("a", t), Side.from_arrow("b", t), key=["nope"])
    n = pa.table({"id": [1, None], "v": [1, 2]})
    with pytest.raises(DataError, match="null"):
        diff(Side.from_arrow("a", n), Side.from_arrow("b", n), key=["id"])


def test_schema_breaking_rules() -> None:
    old = pa.schema([("a", pa.int32()), ("b", pa.int64()), ("c", pa.string()), ("d", pa.float64())])
    new = pa.schema(
        [
            ("a", pa.int64()),  # widened
            ("b", pa.int32()),  # narrowed
            ("d", pa.string()),  # incompatible
            pa.field("e", pa.int8(), nullable=False),  # added, not nullable
            ("f", pa.int8()),  # added, nullable
        ]
    )
    s = schema_diff(old, new)
    assert [(c.column, c.breaking) for c in s.changed] == [("a", False), ("b", True), ("d", True)]
    assert [(c.column, c.breaking) for c in s.removed] == [("c", True)]
    assert [(c.column, c.breaking) for c in s.added] == [("e", True), ("f", False)]
    assert s.breaking


def test_retyped_column_values_are_compared(tmp_path: Path) -> None:
    old = pa.table({"id": [1, 2, 3], "v": pa.array([1, 2, 3], pa.int64())})
    new = pa.table({"id": [1, 2, 3], "v": ["1", "2", "three"]})
    d = diff(Side.from_arrow("a", old), Side.from_arrow("b", new), key=["id"])
    assert d.rows.changed == 1 and d.columns["v"] == 1
    assert d.schema.changed[0].breaking


def test_stats_from_manifests(tmp_path: Path) -> None:
    old = pa.table({"id": range(100), "v": [None if i % 10 == 0 else i for i in range(100)]})
    new = pa.table({"id": range(100), "v": [None if i % 20 == 0 else i * 2 for i in range(100)]})
    d = diff(file_side(tmp_path, "a", old), file_side(tmp_path, "b", new), stats=True)
    assert d.stats is not None
    (v,) = d.stats
    assert v.column == "v" and v.nulls == (10, 5) and v.max == (99, 198)
    assert d.to_dict()["stats"]["v"]["nulls"] == {"old": 10, "new": 5}
    assert "from the manifests" in d.to_markdown()


def test_markdown_is_cut_with_a_note(tmp_path: Path) -> None:
    big = "x" * 2000
    old = pa.table({"id": range(100), "v": [big] * 100})
    new = pa.table({"id": range(100, 200), "v": [big] * 100})
    d = diff(Side.from_arrow("a", old), Side.from_arrow("b", new), key=["id"], limit=100)
    md = d.to_markdown(max_chars=5000)
    assert len(md) < 5000 and "**Cut:**" in md
    assert md.startswith("### dvtool diff")
    assert len(d.to_markdown()) < MARKDOWN_LIMIT


# ---------------------------------------------------------------- Hypothesis


_values = st.one_of(st.none(), st.integers(-3, 3))
_floats = st.one_of(st.none(), st.sampled_from([0.0, -0.0, 1.5, math.nan, math.inf]))
_text = st.one_of(st.none(), st.sampled_from(["", "a", "b", "é", "a b"]))


@st.composite
def tables_with_edits(draw: st.DrawFn) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    n = draw(st.integers(0, 60))
    ids = draw(st.lists(st.integers(0, 200), min_size=n, max_size=n, unique=True))
    old = [{"id": i, "a": draw(_values), "b": draw(_floats), "c": draw(_text)} for i in ids]
    new = []
    for row in old:
        action = draw(st.sampled_from(["keep", "keep", "drop", "edit"]))
        if action == "drop":
            continue
        if action == "edit":
            col = draw(st.sampled_from(["a", "b", "c"]))
            row = {**row, col: draw({"a": _values, "b": _floats, "c": _text}[col])}
        new.append(row)
    for i in draw(st.lists(st.integers(201, 260), max_size=10, unique=True)):
        new.append({"id": i, "a": draw(_values), "b": draw(_floats), "c": draw(_text)})
    return old, new


SCHEMA = pa.schema([("id", pa.int64()), ("a", pa.int64()), ("b", pa.float64()), ("c", pa.string())])


def _norm(v: Any) -> Any:
    """NaN is one value; -0.0 and 0.0 are two (as in the fingerprint and in diff)."""
    if isinstance(v, float) and math.isnan(v):
        return "NaN"
    if isinstance(v, float) and v == 0:
        return "-0.0" if math.copysign(1, v) < 0 else "0.0"
    return v


def _brute_keyed(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> dict[str, Any]:
    o = {r["id"]: r for r in old}
    n = {r["id"]: r for r in new}
    per_col = dict.fromkeys(["a", "b", "c"], 0)
    changed = 0
    for k in o.keys() & n.keys():
        diffs = [c for c in per_col if _norm(o[k][c]) != _norm(n[k][c])]
        changed += bool(diffs)
        for c in diffs:
            per_col[c] += 1
    rows = {
        "added": len(n.keys() - o.keys()),
        "removed": len(o.keys() - n.keys()),
        "changed": changed,
        "unchanged": len(o.keys() & n.keys()) - changed,
    }
    return {"rows": rows, "columns": per_col}


def _brute_keyless(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> dict[str, int]:
    co = Counter(tuple(_norm(v) for k, v in r.items() if k != "id") for r in old)
    cn = Counter(tuple(_norm(v) for k, v in r.items() if k != "id") for r in new)
    return {
        "added": sum((cn - co).values()),
        "removed": sum((co - cn).values()),
        "changed": 0,
        "unchanged": sum((co & cn).values()),
    }


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables_with_edits(), st.integers(1, 25), st.integers(1, 25))
def test_random_edits_match_brute_force(
    data: tuple[list[dict[str, Any]], list[dict[str, Any]]], rows_old: int, rows_new: int
) -> None:
    old_rows, new_rows = data
    old = pa.Table.from_pylist(old_rows, schema=SCHEMA)
    new = pa.Table.from_pylist(new_rows, schema=SCHEMA)
    keyed = diff(
        memory_side("old", old, rows=rows_old),
        memory_side("new", new, rows=rows_new),
        group_rows=30,
    )
    expected = _brute_keyed(old_rows, new_rows)
    assert keyed.rows.to_dict() == expected["rows"]
    assert dict(keyed.columns) == expected["columns"]
    # samples are the first ones by key
    added_ids = sorted({r["id"] for r in new_rows} - {r["id"] for r in old_rows})
    assert [r["id"] for r in keyed.samples.added] == added_ids[:10]

    old_v, new_v = old.drop_columns(["id"]), new.drop_columns(["id"])
    keyless = diff(
        memory_side("old", old_v, rows=rows_old, key=()),
        memory_side("new", new_v, rows=rows_new, key=()),
    )
    assert keyless.rows.to_dict() == _brute_keyless(old_rows, new_rows)


@settings(max_examples=20, deadline=None)
@given(tables_with_edits(), st.integers(1, 25))
def test_diff_with_itself_is_empty(
    data: tuple[list[dict[str, Any]], list[dict[str, Any]]], rows: int
) -> None:
    table = pa.Table.from_pylist(data[0], schema=SCHEMA)
    for d in (
        diff(memory_side("s", table, rows=rows), memory_side("s", table, rows=rows)),
        diff(Side.from_arrow("s", table), Side.from_arrow("s", table), key=["id"]),
        diff(Side.from_arrow("s", table), Side.from_arrow("s", table), key=[]),
    ):
        assert d.empty
        assert d.rows.unchanged == table.num_rows
        assert not d.samples.added and not d.samples.removed and not d.samples.changed


# ---------------------------------------------------------------- through the repository and the CLI

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "orders"
EDITS = json.loads((FIXTURES / "EDITS.json").read_text())


def _cli(*args: str) -> tuple[int, str, str]:
    code, out, err = invoke(*args)
    return code, out.decode(), err


@pytest.fixture
def orders_repo(tmp_path: Path) -> str:
    url = str(tmp_path / "repo")
    assert _cli("init", url)[0] == 0
    for v in (1, 2, 3):
        code, _, err = _cli(
            "--repo",
            url,
            "snapshot",
            str(FIXTURES / f"orders_v{v}.csv"),
            "-d",
            "orders",
            "--key",
            "order_id",
        )
        assert code == 0, err
    return url


def test_cli_diff_json_matches_the_fixture_edits(orders_repo: str) -> None:
    code, out, err = _cli(
        "--repo", orders_repo, "diff", "orders@v1", "orders@v2", "--format", "json"
    )
    assert (code, err) == (0, "")
    d = json.loads(out)
    want = EDITS["v1_to_v2"]
    assert d["old"] == "orders@v1" and d["new"] == "orders@v2" and d["key"] == ["order_id"]
    assert d["rows"] == {k: want["rows"][k] for k in ("added", "removed", "changed", "unchanged")}
    assert d["columns"] == want["columns"]
    assert d["schema"] == {"added": [], "removed": [], "changed": [], "breaking": False}
    assert [r["order_id"] for r in d["samples"]["removed"]] == want["removed_ids"]
    assert [c["key"]["order_id"] for c in d["samples"]["changed"]] == want["changed_ids"][:10]
    assert set(d) >= {"old", "new", "key", "schema", "rows", "columns", "samples", "chunks"}


def test_cli_diff_name_is_latest_against_parent(orders_repo: str) -> None:
    code, out, _ = _cli("--repo", orders_repo, "diff", "orders", "--format", "json", "--limit", "0")
    assert code == 0
    d = json.loads(out)
    want = EDITS["v2_to_v3"]
    assert (d["old"], d["new"]) == ("orders@v2", "orders@v3")
    assert d["rows"] == {k: want["rows"][k] for k in ("added", "removed", "changed", "unchanged")}
    assert [c["column"] for c in d["schema"]["added"]] == ["discount"]
    assert d["samples"] == {"added": [], "removed": [], "changed": []}


def test_cli_exit_code_and_formats(orders_repo: str) -> None:
    assert _cli("--repo", orders_repo, "diff", "orders@v1", "orders@v2", "--exit-code")[0] == 1
    code, out, _ = _cli("--repo", orders_repo, "diff", "orders@v2", "orders@v2", "--exit-code")
    assert code == 0 and "identical" in out
    code, out, _ = _cli(
        "--repo", orders_repo, "diff", "orders@v1", "orders@v2", "--format", "markdown"
    )
    assert code == 0 and out.startswith("### dvtool diff: `orders@v1` → `orders@v2`")
    assert "| 2000 | 2030 | 40 | 10 | 25 | 1965 |" in out
    code, out, _ = _cli("--repo", orders_repo, "diff", "orders@v1", "orders@v2")
    assert "rows: 2000 → 2030: +40 added, -10 removed, ~25 changed, 1965 unchanged" in out


def test_cli_diff_against_a_source_file(orders_repo: str) -> None:
    code, out, err = _cli(
        "--repo",
        orders_repo,
        "diff",
        "orders@v1",
        str(FIXTURES / "orders_v2.csv"),
        "--format",
        "json",
    )
    assert code == 0, err
    assert json.loads(out)["rows"]["changed"] == EDITS["v1_to_v2"]["rows"]["changed"]


def test_cli_diff_errors_are_one_line(orders_repo: str) -> None:
    code, out, err = _cli("--repo", orders_repo, "diff", "orders@v1", "orders@v2", "--key", "nope")
    assert code == 2 and out == ""
    assert err.startswith("Error: column 'nope' in --key is not in orders@v1 (columns: order_id,")
    assert err.count("\n") == 1
    code, _, err = _cli("--repo", orders_repo, "diff", "orders@v1", "orders@v2", "--key", "status")
    assert code == 1 and "not unique" in err
    code, _, err = _cli("--repo", orders_repo, "diff", "orders@v9")
    assert code == 2 and err.startswith("Error: ")


def test_repo_diff_on_a_one_percent_append_reads_only_new_chunks(tmp_path: Path) -> None:
    from dvtool.repo import Repo

    repo = Repo.init(str(tmp_path / "r"))
    n = 100_000
    base = pa.table(
        {
            "id": pa.array(range(n), pa.int64()),
            "v": pa.array([i % 97 for i in range(n)], pa.int64()),
        }
    )
    extra = pa.table(
        {
            "id": pa.array(range(n, n + n // 100), pa.int64()),
            "v": pa.array([1] * (n // 100), pa.int64()),
        }
    )
    repo.snapshot(base, dataset="big", key=["id"])
    repo.snapshot(pa.concat_tables([base, extra]), dataset="big", key=["id"])
    d = repo.diff("big")
    assert d.rows.to_dict() == {"added": n // 100, "removed": 0, "changed": 0, "unchanged": n}
    assert d.chunks.skipped >= d.chunks.old - 1 and d.chunks.skipped > 0
    assert d.chunks.compared <= 3


def test_cli_diff_of_a_damaged_chunk_is_exit_2_naming_it(orders_repo: str) -> None:
    from dvtool.repo import Repo

    snap = Repo.open(orders_repo).get("orders@v2")
    victim = Path(snap.files[0])
    victim.chmod(0o644)
    victim.write_bytes(b"PAR1 not really parquet PAR1")
    code, out, err = _cli("--repo", orders_repo, "diff", "orders@v1", "orders@v2")
    assert code == 2 and out == ""
    assert err.startswith("Error: ") and err.count("\n") == 1
    assert snap.chunks[0].object.split(":")[1][:12] in err


def test_cli_diff_two_files_without_a_repository(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DVTOOL_REPO", raising=False)
    code, out, err = _cli(
        "diff",
        str(FIXTURES / "orders_v1.csv"),
        str(FIXTURES / "orders_v2.csv"),
        "--key",
        "order_id",
        "--format",
        "json",
        "--exit-code",
    )
    assert code == 1, err
    assert json.loads(out)["rows"]["removed"] == EDITS["v1_to_v2"]["rows"]["removed"]
