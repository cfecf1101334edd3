"""One read of a local Parquet input gives its row groups' identities and its file hash.

The row-group pass (appends: dvtool.write.resume) hashes the whole file on
the way; the source record and the content identity then take that hash
without reading the file again. A file changed since (even with its size and
mtime put back) is hashed anew.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import xxhash

from dvtool.ingest import sourcestate
from dvtool.ingest.rowgroups import row_groups


def _write(path: Path, start: int) -> None:
    table = pa.table(
        {"id": pa.array(range(start, start + 3000)), "s": [f"r{i}" for i in range(3000)]}
    )
    pq.write_table(table, path, row_group_size=1000)


def test_the_row_group_pass_gives_the_file_hash(tmp_path: Path) -> None:
    path = tmp_path / "a.parquet"
    _write(path, 0)
    groups = row_groups([(str(path), "parquet")])
    assert groups is not None and len(groups.groups) == 3
    expected = f"xxh128:{xxhash.xxh3_128_hexdigest(path.read_bytes())}"
    assert sourcestate.file_hash(str(path)) == expected
    # Identities are those of each group's bytes, as a group-by-group read gives them.
    meta = pq.ParquetFile(path).metadata
    data = path.read_bytes()
    for g, identity in enumerate(groups.identities):
        group = meta.row_group(g)
        first = min(group.column(c).data_page_offset for c in range(group.num_columns))
        first = min(
            [first]
            + [
                group.column(c).dictionary_page_offset
                for c in range(group.num_columns)
                if group.column(c).has_dictionary_page and group.column(c).dictionary_page_offset
            ]
        )
        last = max(
            min(
                group.column(c).data_page_offset,
                group.column(c).dictionary_page_offset or group.column(c).data_page_offset,
            )
            + group.column(c).total_compressed_size
            for c in range(group.num_columns)
        )
        h = xxhash.xxh3_128(sourcestate_schema_token(path))
        h.update(f"{group.num_rows}\0".encode())
        h.update(data[first:last])
        assert h.hexdigest() == identity


def sourcestate_schema_token(path: Path) -> bytes:
    from dvtool.ingest.rowgroups import _schema_token

    return _schema_token(pq.ParquetFile(path).metadata)


def test_a_file_rewritten_with_its_size_and_mtime_put_back_is_hashed_again(
    tmp_path: Path,
) -> None:
    path = tmp_path / "a.parquet"
    _write(path, 0)
    first = sourcestate.file_hash(str(path))
    st = os.stat(path)
    time.sleep(0.05)  # ctime moves on by at least one clock tick of the filesystem
    with open(path, "r+b") as f:  # same file, same size, one byte changed
        f.seek(st.st_size // 2)
        byte = f.read(1)
        f.seek(st.st_size // 2)
        f.write(bytes([byte[0] ^ 0xFF]))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    again = sourcestate.file_hash(str(path))
    assert again != first
    assert again == f"xxh128:{xxhash.xxh3_128_hexdigest(path.read_bytes())}"
