"""The sides of a diff: Parquet files (any filesystem), tables, SOURCE files with their options."""

from __future__ import annotations

from pathlib import Path

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyarrow.fs import FSSpecHandler, PyFileSystem

from dvtool.diff.plan import Side, diff, diff_in_catalog
from dvtool.errors import UsageError
from dvtool.format.hashing import hash_bytes
from dvtool.format.models import ChunkInfo
from dvtool.ingest.readoptions import ReadOptions


def _chunk(table: pa.Table, name: str) -> ChunkInfo:
    return ChunkInfo(
        object=hash_bytes(name.encode()),
        fingerprint=hash_bytes(name.encode() + b"/fp"),
        rows=table.num_rows,
        bytes=table.nbytes,
    )


def test_files_on_another_filesystem_are_read_through_it() -> None:
    mem = fsspec.filesystem("memory")
    fs = PyFileSystem(FSSpecHandler(mem))
    old, new = pa.table({"id": [1, 2]}), pa.table({"id": [2, 3]})
    sides = []
    for label, table in (("old", old), ("new", new)):
        path = f"/dvtool-test-sides/{label}.parquet"
        with mem.open(path, "wb") as f:
            pq.write_table(table, f)
        chunk = _chunk(table, label)
        sides.append(Side.from_files(label, table.schema, [chunk], [path], filesystem=fs))
    d = diff(sides[0], sides[1], key=["id"])
    assert d.rows.to_dict() == {"added": 1, "removed": 1, "changed": 0, "unchanged": 1}
    mem.rm("/dvtool-test-sides", recursive=True)


def test_one_file_per_chunk() -> None:
    t = pa.table({"id": [1]})
    with pytest.raises(ValueError, match=r"^one file per chunk$"):
        Side.from_files("x", t.schema, [_chunk(t, "a")], ["a.parquet", "b.parquet"])


def test_labels_of_tables_and_files(tmp_path: Path) -> None:
    t = pa.table({"id": [1, 2]})
    d = diff_in_catalog(None, t, t, key=["id"])
    assert (d.old, d.new) == ("(table)", "(table)")
    pq.write_table(t, tmp_path / "a.parquet")
    d = diff_in_catalog(None, str(tmp_path / "a.parquet"), t, key=["id"])
    assert d.old == str(tmp_path / "a.parquet") and d.new == "(table)"
    assert d.empty


def test_storage_options_reach_the_source() -> None:
    mem = fsspec.filesystem("memory")
    with mem.open("/dvtool-test-opts/a.parquet", "wb") as f:
        pq.write_table(pa.table({"id": [1]}), f)
    url = "memory://dvtool-test-opts/a.parquet"
    assert diff_in_catalog(None, url, url, key=["id"]).empty
    with pytest.raises(UsageError, match="timeout"):
        diff_in_catalog(None, url, url, key=["id"], storage_options={"timeout": "soon"})
    mem.rm("/dvtool-test-opts", recursive=True)


def test_read_options_reach_the_source(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("id;x\n1;a\n2;b\n")
    (tmp_path / "b.csv").write_text("id;x\n1;a\n2;c\n")
    d = diff_in_catalog(
        None,
        str(tmp_path / "a.csv"),
        str(tmp_path / "b.csv"),
        key=["id"],
        read=ReadOptions.build(delimiter=";"),
    )
    assert d.rows.to_dict() == {"added": 0, "removed": 0, "changed": 1, "unchanged": 1}
