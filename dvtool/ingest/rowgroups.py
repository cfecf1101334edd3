"""Row groups of local Parquet inputs: what each holds (by its bytes), and reading from a given row.

An append usually arrives as the same Parquet row groups as before plus new
ones (a file rewritten by the same writer, or a folder with one more file).
A row group whose column chunks are the same bytes, under the same file
schema, decodes to the same rows; its identity is the xxh3-128 of those bytes
and the schema, read at several GB/s without decoding. See
:mod:`dvtool.write.resume` for how a snapshot uses this.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import xxhash

__all__ = ["RowGroups", "batches_from", "row_groups"]

BATCH_ROWS = 65536


@dataclass(frozen=True, slots=True)
class RowGroups:
    """The row groups of some Parquet files, in reading order."""

    paths: tuple[str, ...]
    groups: tuple[tuple[int, int, int], ...]  # (file number, row group in that file, rows)
    identities: tuple[str, ...]  # one per group: xxh3-128 of the file schema and the group's bytes

    def starts(self) -> list[int]:
        out, at = [], 0
        for _, _, rows in self.groups:
            out.append(at)
            at += rows
        return out

    def prefix_keys(self, salt: str) -> list[str]:
        """``out[k]``: the identity of the first ``k + 1`` groups (with ``salt``), for each k."""
        h = xxhash.xxh3_128(salt.encode())
        out = []
        for identity in self.identities:
            h.update(identity.encode())
            out.append(h.hexdigest())
        return out


def row_groups(local_files: Sequence[tuple[str, str]]) -> RowGroups | None:
    """The row groups of ``local_files`` if every one is a local Parquet file, else None.

    Each file is read once, front to back: the same pass gives each row
    group's identity and the whole file's hash, which the source record and
    the content identity then take from :func:`sourcestate.file_hash`
    without reading the file again.
    """
    if not local_files or any(fmt != "parquet" for _, fmt in local_files):
        return None
    import pyarrow.parquet as pq

    from dvtool.ingest.sourcestate import HASH_BLOCK, known_hash

    groups: list[tuple[int, int, int]] = []
    identities: list[str] = []
    try:
        for number, (path, _) in enumerate(local_files):
            with open(path, "rb", buffering=0) as f:
                before = os.fstat(f.fileno())
                meta = pq.ParquetFile(f).metadata
                schema_token = _schema_token(meta)
                ranges: list[tuple[int, int, Any]] = []  # (first byte, end, hasher) per group
                for g in range(meta.num_row_groups):
                    group = meta.row_group(g)
                    first, last = None, 0
                    for c in range(group.num_columns):
                        col = group.column(c)
                        start = col.data_page_offset
                        if col.has_dictionary_page and col.dictionary_page_offset:
                            start = min(start, col.dictionary_page_offset)
                        first = start if first is None else min(first, start)
                        last = max(last, start + col.total_compressed_size)
                    h = xxhash.xxh3_128(schema_token)
                    h.update(f"{group.num_rows}\0".encode())
                    ranges.append((first or 0, last, h))
                    groups.append((number, g, group.num_rows))
                whole = xxhash.xxh3_128()
                buf = bytearray(HASH_BLOCK)
                view = memoryview(buf)
                order = sorted(ranges, key=lambda r: r[0])
                f.seek(0)
                at = lo = 0
                while n := f.readinto(buf):
                    block = view[:n]
                    whole.update(block)
                    end = at + n
                    while lo < len(order) and order[lo][1] <= at:
                        lo += 1
                    for first, last, h in order[lo:]:
                        if first >= end:
                            break
                        if last > at:
                            h.update(block[max(first, at) - at : min(last, end) - at])
                    at = end
                if any(last > at for _, last, _ in ranges):
                    return None  # the file is shorter than its footer says
                identities.extend(h.hexdigest() for _, _, h in ranges)
                known_hash(path, before, os.stat(path), f"xxh128:{whole.hexdigest()}")
    except (OSError, ValueError, pa.ArrowInvalid):
        return None
    return RowGroups(
        tuple(os.path.abspath(p) for p, _ in local_files), tuple(groups), tuple(identities)
    )


def _schema_token(meta: object) -> bytes:
    """The file's Parquet and Arrow schemas, as stable text."""
    schema = meta.schema  # type: ignore[attr-defined]
    parts = [str(schema.to_arrow_schema())]
    for i in range(len(schema)):
        c = schema.column(i)
        parts.append(
            f"{c.path}|{c.physical_type}|{c.logical_type.to_json()}|{c.converted_type}|{c.max_definition_level}|"
            f"{c.max_repetition_level}|{c.length}|{c.precision}|{c.scale}"
        )
    return "\0".join(parts).encode()


def batches_from(groups: RowGroups, row: int) -> Iterator[pa.RecordBatch]:
    """The files' rows from ``row`` on (raw batches), decoding only from the group holding it."""
    import pyarrow.parquet as pq

    starts = groups.starts()
    first = max(i for i, s in enumerate(starts) if s <= row)
    skip = row - starts[first]
    by_file: dict[int, list[int]] = {}
    for number, g, _ in groups.groups[first:]:
        by_file.setdefault(number, []).append(g)
    for number in sorted(by_file):
        with open(groups.paths[number], "rb") as f:
            pf = pq.ParquetFile(f, pre_buffer=False)
            for batch in pf.iter_batches(batch_size=BATCH_ROWS, row_groups=by_file[number]):
                if skip:
                    if batch.num_rows <= skip:
                        skip -= batch.num_rows
                        continue
                    batch = batch.slice(skip)
                    skip = 0
                yield batch
