"""The Python side of each measurement: ``python cases.py TASK JSON-PARAMS`` prints one JSON line.

run.py starts every task as a fresh process and times the **whole process**
from outside (harness.py): interpreter start-up, imports, reading the input,
the work and the output. That is the number every goal is checked on, and the
peers here are written the way a user would write the script: import, read
the Parquet file(s), do the one thing, print the answer.

Inside, each task also times the operation alone and reports it as
``op_seconds`` (modules are imported before that span starts; what else it
leaves out is in each task's docstring). Those spans fill the "operation only"
table, which is informative and never a goal.

The ``dvtool_*`` tasks run dvtool's Python API for those operation-only spans
(the goals' dvtool side is the ``dvtool`` CLI, not these); ``dvtool_warm``
fills a cache, untimed. Set-up (fresh or hard-linked repositories) is done by
run.py before the process starts.

Only the standard library is imported at the top: peer tasks run in the peers'
own virtual environments, where dvtool is not installed.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

Result = dict[str, Any]


def _fresh(path: str) -> None:
    if os.path.exists(path):
        shutil.rmtree(path)


def _dir_bytes(path: str) -> int:
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())


def _preload_dvtool() -> None:
    """What dvtool imports lazily, so the span is the operation alone."""
    import duckdb  # noqa: F401
    import pandera.polars  # noqa: F401
    import polars  # noqa: F401
    import pyarrow.compute
    import pyarrow.parquet  # noqa: F401
    import xxhash  # noqa: F401

    import dvtool.diff.plan
    import dvtool.ingest.chunking
    import dvtool.repo
    import dvtool.validate.run  # noqa: F401


# ---- dvtool's API: operation-only spans ----------------------------------------------


def dvtool_snapshot(p: dict[str, Any]) -> Result:
    """``repo.snapshot(src)`` into the (prepared) repository; span: that call."""
    _preload_dvtool()
    from dvtool import Repo

    repo = Repo.open(p["repo"])
    t = time.perf_counter()
    res = repo.snapshot(p["src"], dataset=p["dataset"], key=p["key"])
    return {
        "op_seconds": time.perf_counter() - t,
        "bytes_written": res.bytes_written,
        "new_chunks": res.new_chunks,
        "chunks": len(res.snapshot.chunks),
        "unchanged": res.unchanged,
        "rows": res.snapshot.rows,
    }


def dvtool_validate(p: dict[str, Any]) -> Result:
    """``repo.validate(ref, schema)``; span: that call (the schema file is read inside it)."""
    _preload_dvtool()
    from dvtool import Repo

    repo = Repo.open(p["repo"])
    t = time.perf_counter()
    report = repo.validate(p["ref"], schema=p["schema"], use_cache=p["use_cache"])
    return {
        "op_seconds": time.perf_counter() - t,
        "ok": report.ok,
        "rows_checked": report.rows_checked,
        "chunks_checked": report.chunks_checked,
        "chunks_reused": report.chunks_reused,
    }


def dvtool_diff(p: dict[str, Any]) -> Result:
    """``repo.diff(old, new)``: the row counts; span: that call."""
    _preload_dvtool()
    from dvtool import Repo

    repo = Repo.open(p["repo"])
    t = time.perf_counter()
    d = repo.diff(p["old"], p["new"])
    rows = d.rows
    return {
        "op_seconds": time.perf_counter() - t,
        "added": rows.added,
        "removed": rows.removed,
        "changed": rows.changed,
    }


def dvtool_report(p: dict[str, Any]) -> Result:
    """``repo.diff(old, new, distributions=True).render("html")`` written to ``out``; span: both calls."""
    _preload_dvtool()
    import altair  # noqa: F401
    import vl_convert  # noqa: F401

    from dvtool import Repo

    repo = Repo.open(p["repo"])
    t = time.perf_counter()
    page = repo.diff(p["old"], p["new"], distributions=True).render("html")
    seconds = time.perf_counter() - t
    Path(p["out"]).write_text(page)
    return {"op_seconds": seconds, "bytes": len(page.encode())}


def dvtool_warm(p: dict[str, Any]) -> Result:
    """Untimed: cache the chunk profiles of the old version only (as when it was reviewed as new)."""
    from dvtool import Repo
    from dvtool.diff.plan import side_from_snapshot
    from dvtool.diff.profiles import StoreProfileCache, side_profile

    repo = Repo.open(p["repo"])
    side_profile(side_from_snapshot(repo.get(p["old"])), StoreProfileCache(repo.catalog.store))
    return {}


# ---- the peers ------------------------------------------------------------------------


def duckdb_join(p: dict[str, Any]) -> Result:
    """A keyed diff by hand: DuckDB FULL OUTER JOIN of both Parquet files, every column compared.

    Span: the query (the connection is opened before it).
    """
    import duckdb

    key, cols = p["key"], p["columns"]
    on = " AND ".join(f'o."{k}" = n."{k}"' for k in key)
    distinct = " OR ".join(f'o."{c}" IS DISTINCT FROM n."{c}"' for c in cols if c not in key)
    k0 = key[0]
    query = (
        f'SELECT count(*) FILTER (WHERE o."{k0}" IS NULL), count(*) FILTER (WHERE n."{k0}" IS NULL), '
        f'count(*) FILTER (WHERE o."{k0}" IS NOT NULL AND n."{k0}" IS NOT NULL AND ({distinct})) '
        "FROM read_parquet($old) o FULL OUTER JOIN read_parquet($new) n ON " + on
    )
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    t = time.perf_counter()
    added, removed, changed = con.execute(query, {"old": p["old"], "new": p["new"]}).fetchall()[0]
    return {
        "op_seconds": time.perf_counter() - t,
        "added": added,
        "removed": removed,
        "changed": changed,
    }


# Parquet settings of dvtool's chunks when this baseline was written (zstd level 1,
# one row group per chunk, dictionary on the low-cardinality string column).
CHUNK_WRITE = {
    "compression": "zstd",
    "compression_level": 1,
    "use_dictionary": ["category"],
    "write_statistics": True,
    "write_page_checksum": True,
    "store_schema": True,
}


def pyarrow_chunked(p: dict[str, Any]) -> Result:
    """``pq.read_table(src)``, then ``write_table`` of the same chunks (same rows each) on every core.

    Span: the read and the writes.
    """
    from concurrent.futures import ThreadPoolExecutor

    import pyarrow.parquet as pq

    _fresh(p["out"])
    os.makedirs(p["out"])
    t = time.perf_counter()
    table = pq.read_table(p["src"])
    starts, pos = [], 0
    for rows in p["chunk_rows"]:
        starts.append((pos, rows))
        pos += rows

    def write(i: int) -> None:
        start, rows = starts[i]
        part = table.slice(start, rows)
        pq.write_table(
            part, f"{p['out']}/{i:06d}.parquet", row_group_size=max(1, rows), **CHUNK_WRITE
        )

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        list(pool.map(write, range(len(starts))))
    seconds = time.perf_counter() - t
    return {"op_seconds": seconds, "bytes": _dir_bytes(p["out"]), "chunks": len(starts)}


def delta_write(p: dict[str, Any]) -> Result:
    """``deltalake.write_deltalake(out, pq.read_table(src))``; span: the read and the write."""
    import deltalake
    import pyarrow.parquet as pq

    _fresh(p["out"])
    t = time.perf_counter()
    deltalake.write_deltalake(p["out"], pq.read_table(p["src"]))
    return {"op_seconds": time.perf_counter() - t, "bytes": _dir_bytes(p["out"])}


def lance_write(p: dict[str, Any]) -> Result:
    """``lance.write_dataset(pq.read_table(src), out)``; span: the read and the write."""
    import lance
    import pyarrow.parquet as pq

    _fresh(p["out"])
    t = time.perf_counter()
    lance.write_dataset(pq.read_table(p["src"]), p["out"])
    return {"op_seconds": time.perf_counter() - t, "bytes": _dir_bytes(p["out"])}


def pandera_direct(p: dict[str, Any]) -> Result:
    """pandera's own YAML loader and polars backend on the whole file.

    Span: reading the file and ``validate(lazy=True)`` (the schema is loaded before it).
    """
    import pandera.polars as pa_pl
    import polars as pl
    import pyarrow.parquet as pq
    from pandera.errors import SchemaErrors

    schema = pa_pl.DataFrameSchema.from_yaml(p["schema"])
    t = time.perf_counter()
    frame = pl.from_arrow(pq.read_table(p["src"]))
    try:
        schema.validate(frame, lazy=True)
        ok = True
    except SchemaErrors:
        ok = False
    return {"op_seconds": time.perf_counter() - t, "ok": ok, "rows": frame.height}


def _frames(p: dict[str, Any], backend: str) -> tuple[Any, Any]:
    if backend == "pandas":
        import pandas as pd

        return pd.read_parquet(p["old"]), pd.read_parquet(p["new"])
    import polars as pl

    return pl.read_parquet(p["old"]), pl.read_parquet(p["new"])


def _datacompy(p: dict[str, Any], backend: str) -> Result:
    """Read both files (``pd``/``pl.read_parquet``), compare on the key, count.

    Span: the compare and the counts (the frames are read before it).
    """
    import datacompy

    compare = datacompy.PandasCompare if backend == "pandas" else datacompy.PolarsCompare
    a, b = _frames(p, backend)
    t = time.perf_counter()
    cmp = compare(a, b, join_columns=p["key"])
    changed = int(cmp.intersect_rows.shape[0] - cmp.count_matching_rows())
    return {
        "op_seconds": time.perf_counter() - t,
        "added": len(cmp.df2_unq_rows),
        "removed": len(cmp.df1_unq_rows),
        "changed": changed,
    }


def datacompy_pandas(p: dict[str, Any]) -> Result:
    return _datacompy(p, "pandas")


def datacompy_polars(p: dict[str, Any]) -> Result:
    return _datacompy(p, "polars")


def datacompy_report(p: dict[str, Any]) -> Result:
    """Read both files with pandas, ``PandasCompare`` + ``report(html_file=out)``.

    Span: the compare and the report (the frames are read before it).
    """
    import datacompy

    a, b = _frames(p, "pandas")
    t = time.perf_counter()
    cmp = datacompy.PandasCompare(a, b, join_columns=p["key"])
    cmp.report(html_file=p["out"])
    seconds = time.perf_counter() - t
    return {
        "op_seconds": seconds,
        "bytes": os.path.getsize(p["out"]),
        "columns": {
            str(s["column"]): [int(s["unequal_cnt"]), float(s["max_diff"]), int(s["null_diff"])]
            for s in cmp.column_stats
            if s["column"] not in p["key"]
        },
    }


#: Tasks run in a peer's environment (no dvtool there).
PEER_TASKS = (
    duckdb_join,
    pyarrow_chunked,
    delta_write,
    lance_write,
    pandera_direct,
    datacompy_pandas,
    datacompy_polars,
    datacompy_report,
)
#: Tasks run with dvtool's environment.
DVTOOL_TASKS = (dvtool_snapshot, dvtool_validate, dvtool_diff, dvtool_report, dvtool_warm)

TASKS: dict[str, Callable[[dict[str, Any]], Result]] = {
    f.__name__: f for f in (*PEER_TASKS, *DVTOOL_TASKS)
}


def main() -> None:
    task, params = sys.argv[1], json.loads(sys.argv[2])
    print(json.dumps(TASKS[task](params)))


if __name__ == "__main__":
    main()
