"""The snapshot repository: identity, dedup, refs, export, golden format files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest

import dvtool
from dvtool.errors import DataError, IntegrityError, NotFoundError, UsageError
from dvtool.format.models import Manifest, parse_json

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


@pytest.fixture
def repo(tmp_path: Path) -> dvtool.Repo:
    return dvtool.Repo.init(tmp_path / "repo")


def object_files(repo: dvtool.Repo) -> list[str]:
    return repo.store.list("objects") + repo.store.list("manifests")


def test_same_data_as_csv_parquet_and_dataframes_has_one_fingerprint(repo: dvtool.Repo) -> None:
    csv = FIXTURES / "orders" / "orders_v1.csv"
    first = repo.snapshot(str(csv), dataset="orders", key=["order_id"])
    assert first.version == 1 and not first.unchanged
    objects = object_files(repo)
    # dvtool reads empty CSV cells as nulls, in text columns too (pandas' defaults)
    table = pcsv.read_csv(csv, convert_options=pcsv.ConvertOptions(strings_can_be_null=True))
    sources = [
        str(FIXTURES / "orders" / "orders_v1.parquet"),
        table,
        table.to_pandas(),
        pl.from_arrow(table),
        pa.RecordBatchReader.from_batches(table.schema, table.to_batches(max_chunksize=333)),
    ]
    for source in sources:
        again = repo.snapshot(source, dataset="orders", key=["order_id"])
        assert again.unchanged, type(source)
        assert again.snapshot.manifest.fingerprint == first.snapshot.manifest.fingerprint
        assert again.new_chunks == 0 and again.bytes_written == 0
    assert [e.version for e in repo.log("orders")] == [1]
    assert object_files(repo) == objects


def test_fingerprint_ignores_batch_boundaries_and_row_order_matters(repo: dvtool.Repo) -> None:
    t = pa.table({"a": list(range(1000)), "b": [f"s{i}" for i in range(1000)]})
    s1 = repo.snapshot(t, dataset="x")
    s2 = repo.snapshot(pa.Table.from_batches(t.to_batches(max_chunksize=7)), dataset="x")
    assert s2.unchanged
    s3 = repo.snapshot(t.take(list(range(999, -1, -1))), dataset="x")
    assert not s3.unchanged and s3.snapshot.manifest.fingerprint != s1.snapshot.manifest.fingerprint


def test_keyed_snapshot_orders_rows_and_records_key_ranges(
    repo: dvtool.Repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DVTOOL_CHUNK_BYTES", str(64 << 10))  # small chunks: several in 50k rows
    ids = np.random.default_rng(1).permutation(50_000)
    t = pa.table({"id": ids, "v": ids * 2})
    snap = repo.snapshot(t, dataset="k", key=["id"]).snapshot
    out = snap.to_arrow()
    assert out.column("id").to_pylist() == list(range(50_000))
    assert len(snap.chunks) > 1
    prev_max = -1
    for c in snap.chunks:
        assert c.key_min is not None and c.key_max is not None
        assert c.key_min[0] > prev_max
        prev_max = c.key_max[0]


@pytest.mark.parametrize(
    ("values", "message"),
    [([1, 2, 2, 3], "not unique"), ([1, None, 3, 4], "null")],
)
def test_duplicate_or_null_key_is_a_data_failure(
    repo: dvtool.Repo, values: list[int | None], message: str
) -> None:
    before = sorted(repo.store.list(""))
    with pytest.raises(DataError, match=message):
        repo.snapshot(pa.table({"id": values, "x": [1, 2, 3, 4]}), dataset="d", key=["id"])
    assert sorted(repo.store.list("")) == before


def test_duplicates_in_two_chunks_and_composite_keys(repo: dvtool.Repo) -> None:
    n = 100_000
    a = np.arange(n) // 2
    b = np.arange(n) % 2
    repo.snapshot(pa.table({"a": a, "b": b}), dataset="comp", key=["a", "b"])
    b2 = b.copy()
    b2[-1] = 0  # (n/2-1, 0) now appears twice, far from (0, 0)
    with pytest.raises(DataError, match="1 duplicate row"):
        repo.snapshot(pa.table({"a": a, "b": b2}), dataset="comp", key=["a", "b"])
    # a duplicate split across a chunk boundary of the unsorted input
    ids = np.concatenate([np.arange(60_000), [5]])
    with pytest.raises(DataError, match="not unique"):
        repo.snapshot(pa.table({"id": ids}), dataset="comp2", key=["id"])


def test_refs(repo: dvtool.Repo) -> None:
    for i in range(3):
        repo.snapshot(pa.table({"i": [i]}), dataset="r", message=f"m{i}")
    repo.tag("r@v2", "gold")
    v2 = repo.get("r@v2")
    assert repo.get("r@gold").id == v2.id
    assert repo.get("r@~1").id == v2.id
    assert repo.get(f"r@{v2.id.split(':')[1][:8]}").id == v2.id
    assert repo.get(v2.id.replace("xxh128:", "r@")).version == 2
    assert repo.get("r").version == 3
    assert repo.get("r@v2").tags == ("gold",)
    with pytest.raises(UsageError, match="already exists"):
        repo.tag("r@v3", "gold")
    with pytest.raises(NotFoundError):
        repo.get("r@v9")
    with pytest.raises(NotFoundError):
        repo.get("r@~3")
    with pytest.raises(NotFoundError):
        repo.get("nope")
    assert [e.message for e in repo.log("r")] == ["m2", "m1", "m0"]
    assert [e.version for e in repo.log("r", limit=2)] == [3, 2]


def test_ref_or_source(repo: dvtool.Repo, tmp_path: Path) -> None:
    repo.snapshot(pa.table({"i": [1]}), dataset="orders")
    assert repo.is_ref("orders") and repo.is_ref("orders@v1")
    assert not repo.is_ref("./orders") and not repo.is_ref("other.csv")


def test_corrupt_chunk_is_never_returned(repo: dvtool.Repo, tmp_path: Path) -> None:
    snap = repo.snapshot(pa.table({"i": list(range(100))}), dataset="c").snapshot
    path = Path(snap.files[0])
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match=snap.chunks[0].object):
        snap.to_arrow()


def test_export_formats_round_trip(repo: dvtool.Repo, tmp_path: Path) -> None:
    src = FIXTURES / "customers" / "customers.parquet"
    snap = repo.snapshot(str(src), dataset="customers", key=["customer_id"]).snapshot
    expected = snap.to_arrow()
    repo.export("customers", str(tmp_path / "c.parquet"))
    assert pq.read_table(tmp_path / "c.parquet").equals(expected)
    again = repo.snapshot(str(tmp_path / "c.parquet"), dataset="customers", key=["customer_id"])
    assert again.unchanged
    repo.export("customers", str(tmp_path / "c.csv"))
    assert pcsv.read_csv(tmp_path / "c.csv").num_rows == expected.num_rows
    repo.export("customers", str(tmp_path / "c.jsonl"))
    lines = (tmp_path / "c.jsonl").read_text().splitlines()
    assert (
        len(lines) == expected.num_rows
        and json.loads(lines[0])["customer_id"] == expected["customer_id"][0].as_py()
    )
    out = tmp_path / "parts"
    out.mkdir()
    res = repo.export("customers", str(out))
    assert res.files == len(snap.chunks)
    assert pq.read_table(out).num_rows == expected.num_rows


def test_python_api_surface(repo: dvtool.Repo) -> None:
    df = pd.DataFrame({"a": [1, 2, 3], "b": ["x", None, "z"]})
    snap = repo.snapshot(df, dataset="api", message="from pandas", meta={"owner": "me"}).snapshot
    assert snap.to_pandas()["a"].tolist() == [1, 2, 3]
    assert snap.scan().read_all().num_rows == 3
    assert snap.manifest.meta == (("owner", "me"),)
    assert [d.name for d in repo.datasets()] == ["api"]
    assert dvtool.Repo.open(repo.store.url).get("api").id == snap.id


def test_timestamp_seconds_are_normalised(repo: dvtool.Repo, tmp_path: Path) -> None:
    t = pa.table(
        {
            "ts": pa.array([0, 86_400, None], pa.timestamp("s", "UTC")),
            "d": pa.array([0, 86_400_000, None], pa.date64()),
        }
    )
    snap = repo.snapshot(t, dataset="ts").snapshot
    assert snap.schema.field("ts").type == pa.timestamp("ms", "UTC")
    repo.export("ts", str(tmp_path / "ts.parquet"))
    assert repo.snapshot(str(tmp_path / "ts.parquet"), dataset="ts").unchanged


GOLDEN = FIXTURES / "golden"


def test_golden_manifest_still_loads_and_encodes_identically() -> None:
    raw = (GOLDEN / "manifest-v1.json").read_bytes()
    manifest = Manifest.from_dict(parse_json(raw, "golden"))
    assert manifest.encode() == raw.rstrip(b"\n")
    assert manifest.dataset == "orders" and manifest.version == 2
    assert manifest.schema.field("order_id").type == pa.int64()


def test_golden_v2_manifest_with_a_patch_loads_and_encodes_identically() -> None:
    raw = (GOLDEN / "manifest-v2.json").read_bytes()
    manifest = Manifest.from_dict(parse_json(raw, "golden"))
    assert manifest.encode() == raw.rstrip(b"\n")
    assert manifest.format == 2 and manifest.patch is not None and manifest.key == ("id",)
    patch = manifest.patch
    assert sum(r.upserts[1] - r.upserts[0] for r in patch.ranges) == patch.upserts.rows
    assert (
        sum(r.logical.rows for r in patch.ranges)
        + sum(c.rows for i, c in enumerate(manifest.chunks) if patch.range_of(i) is None)
        == manifest.rows
    )
    assert manifest.bytes == sum(c.bytes for c in manifest.chunks) + patch.bytes


def test_unsorted_csv_with_key_is_sorted_and_sorted_csv_streams(
    repo: dvtool.Repo, tmp_path: Path
) -> None:
    rng = np.random.default_rng(3)
    ids = rng.permutation(30_000)
    shuffled = tmp_path / "shuffled.csv"
    pcsv.write_csv(pa.table({"id": ids, "v": ids * 3}), shuffled)
    ordered = tmp_path / "ordered.csv"
    pcsv.write_csv(pa.table({"id": np.sort(ids), "v": np.sort(ids) * 3}), ordered)
    a = repo.snapshot(str(shuffled), dataset="s", key=["id"])
    assert a.snapshot.to_arrow().column("id").to_pylist() == list(range(30_000))
    b = repo.snapshot(str(ordered), dataset="s", key=["id"])
    assert b.unchanged
    # Out of order late in the file: the optimistic pass restarts with a sort.
    late = np.concatenate(
        [np.arange(20_000), [25_000], np.arange(20_000, 25_000), np.arange(25_001, 30_000)]
    )
    late_csv = tmp_path / "late.csv"
    pcsv.write_csv(pa.table({"id": late, "v": late * 3}), late_csv)
    assert repo.snapshot(str(late_csv), dataset="s", key=["id"]).unchanged


def test_nested_types_snapshot_export_diff_and_infer(repo: dvtool.Repo, tmp_path: Path) -> None:
    t = pa.table(
        {
            "id": [1, 2, 3],
            "tags": [["a", "b"], None, []],
            "s": [{"x": 1, "y": "q"}, None, {"x": 3, "y": None}],
            "m": pa.array([[("k", 1)], None, []], pa.map_(pa.string(), pa.int64())),
        }
    )
    pq.write_table(t, tmp_path / "nested.parquet")
    first = repo.snapshot(str(tmp_path / "nested.parquet"), dataset="nested")
    assert first.snapshot.to_arrow().equals(t)
    assert repo.snapshot(t, dataset="nested").unchanged
    assert repo.diff("nested@v1", str(tmp_path / "nested.parquet")).rows.changed == 0
    schema_file = tmp_path / "nested.yaml"
    schema_file.write_text(repo.infer_schema("nested"))
    assert repo.validate("nested", schema=str(schema_file)).ok


def test_pandas_with_time_zones_categoricals_and_nullable_ints(repo: dvtool.Repo) -> None:
    df = pd.DataFrame(
        {
            "ts": pd.date_range("2024-01-01", periods=5, freq="h", tz="Europe/Paris"),
            "cat": pd.Categorical(["a", "b", "a", None, "c"]),
            "i": pd.array([1, None, 3, 4, 5], dtype="Int64"),
        },
        index=[10, 11, 12, 13, 14],
    )
    first = repo.snapshot(df, dataset="pd", key=["ts"])
    assert first.snapshot.schema.field("ts").type.tz == "Europe/Paris"
    # The logical type is kept: a dictionary (pandas category) of strings.
    assert first.snapshot.schema.field("cat").type == pa.dictionary(pa.int32(), pa.string())
    assert repo.snapshot(df.reset_index(drop=True), dataset="pd", key=["ts"]).unchanged
    assert repo.snapshot(pl.from_pandas(df).lazy(), dataset="pd", key=["ts"]).unchanged
    more = pd.DataFrame(
        {
            "ts": pd.date_range("2024-02-01", periods=3, freq="h", tz="Europe/Paris"),
            "cat": ["z"] * 3,
            "i": pd.array([1, 2, 3], dtype="Int64"),
        }
    )
    second = repo.snapshot(pd.concat([df, more], ignore_index=True), dataset="pd", key=["ts"])
    assert second.version == 2 and second.snapshot.rows == 8
    rows = repo.diff("pd@v1", "pd@v2").rows
    assert (rows.added, rows.removed, rows.changed, rows.unchanged) == (3, 0, 0, 5)
    with pytest.raises(UsageError, match="cannot convert the pandas DataFrame"):
        repo.snapshot(pd.DataFrame({"m": [1, "a", 2.5]}), dataset="mixed")


def test_fingerprint_of_the_fixture_is_pinned(repo: dvtool.Repo) -> None:
    """The golden manifest was written by an earlier dvtool: the same rows must keep its fingerprint."""
    golden = json.loads((GOLDEN / "manifest-v1.json").read_bytes())
    # The golden manifest was written when empty text cells were read as '' (pyarrow's default).
    as_before = dvtool.ReadOptions.build(options={"strings_can_be_null": "false"})
    csv = str(FIXTURES / "orders" / "orders_v2.csv")
    snap = repo.snapshot(csv, dataset="orders", key=["order_id"], read=as_before).snapshot
    assert snap.manifest.fingerprint == golden["fingerprint"]
    # the same SOURCE again reads it as recorded; the default options read empty notes as nulls
    assert repo.snapshot(csv, dataset="orders", key=["order_id"]).unchanged
    assert (
        repo.snapshot(csv, dataset="orders", key=["order_id"], read=dvtool.ReadOptions()).version
        == 2
    )


def test_tag_on_an_unchanged_snapshot_names_the_latest_version(repo: dvtool.Repo) -> None:
    t = pa.table({"a": [1, 2, 3]})
    repo.snapshot(t, dataset="t")
    again = repo.snapshot(t, dataset="t", tag="release-1")
    assert again.unchanged and again.tag == "release-1"
    assert repo.get("t@release-1").version == 1
    assert [e.version for e in repo.log("t")] == [1]
