"""The encoding sample: both encodings of every column sized in one file, as in files of their own.

``dictionary_columns`` sizes a chunk's sample dictionary-encoded and not in
one Parquet file holding each column twice. That relies on column chunks
being encoded and compressed one by one; this checks it against one file
per encoding (what the sizes meant before), on several column types.
"""

from __future__ import annotations

import decimal
import io

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from dvtool.ingest.encoding import _column_sizes, _write


def _separate(sample: pa.Table, dictionary: bool) -> list[tuple[int, int]]:
    sink = io.BytesIO()
    _write(sample, sink, sample.schema.names if dictionary else [], full=False)
    group = pq.ParquetFile(pa.BufferReader(sink.getvalue())).metadata.row_group(0)
    out = []
    for i in range(group.num_columns):
        col = group.column(i)
        page = col.data_page_offset - col.dictionary_page_offset if col.has_dictionary_page else 0
        out.append((col.total_compressed_size, page))
    return out


def test_one_file_gives_the_sizes_of_one_file_per_encoding() -> None:
    rng = np.random.default_rng(7)
    for n, cardinality in ((1, 1), (100, 3), (2048, 50), (2048, 5000), (700, 10**9)):
        values = rng.integers(0, cardinality, n)
        sample = pa.table(
            {
                "int": values,
                "small": pa.array(values % 100, pa.int8()),
                "text": pa.array([f"v{v}" for v in values]),
                "float": values / 7.0,
                "flag": values % 2 == 0,
                "ts": pa.array(values * 1000, pa.timestamp("us", "UTC")),
                "day": pa.array(values % 30000, pa.int32()).cast(pa.date32()),
                "money": pa.array(
                    [decimal.Decimal(int(v)) / 100 for v in values], pa.decimal128(20, 2)
                ),
                "nullable": pa.array([None if v % 3 == 0 else int(v) for v in values], pa.int64()),
                "sorted": np.sort(values),
            }
        )
        combined = _column_sizes(sample)
        dictionary, plain = _separate(sample, True), _separate(sample, False)
        assert [d for d, _ in combined] == dictionary
        assert [p for _, p in combined] == [total for total, _ in plain]
