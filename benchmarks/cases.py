"""One measurement per process: ``python cases.py TASK JSON-PARAMS`` prints one JSON line.

The harness (run.py) starts a fresh interpreter for every measurement, so page
faults, allocator state and caches of one run never help the next, and the
process's peak RSS (``VmHWM``) is the peak of that one task. Modules the task
needs are imported *before* the timer starts: timings are of the work, not of
module loading (start-up is measured separately).

Only the standard library is imported at the top: peer tasks run in the peers'
own virtual environments, where dvtool is not installed.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

Result = dict[str, Any]


def peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM), in MB."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_seconds() -> float:
    """User + system CPU time of this process so far, all threads (robust on a busy machine)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def link_copy(src: str, dst: str) -> None:
    """Copy a repository with hard links: its objects are immutable and written create-only."""
    if os.path.exists(dst):
        shutil.rmtree(dst)
    shutil.copytree(src, dst, copy_function=os.link)


def _fresh(path: str) -> None:
    if os.path.exists(path):
        shutil.rmtree(path)


def _dir_bytes(path: str) -> int:
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())


def _preload_dvtool() -> None:
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


# ---- dvtool ---------------------------------------------------------------------


def dvtool_snapshot(p: dict[str, Any]) -> Result:
    """Snapshot ``src`` into ``repo``: a new one (``fresh``), a hard-linked copy of ``base``, or as is."""
    _preload_dvtool()
    from dvtool import Repo

    if p.get("base"):
        link_copy(p["base"], p["repo"])
        repo = Repo.open(p["repo"])
    elif p.get("fresh"):
        _fresh(p["repo"])
        repo = Repo.init(p["repo"])
    else:
        repo = Repo.open(p["repo"])
    t = time.perf_counter()
    res = repo.snapshot(p["src"], dataset=p["dataset"], key=p["key"])
    seconds = time.perf_counter() - t
    return {
        "seconds": seconds,
        "bytes_written": res.bytes_written,
        "new_chunks": res.new_chunks,
        "chunks": len(res.snapshot.chunks),
        "unchanged": res.unchanged,
        "rows": res.snapshot.rows,
    }


def dvtool_validate(p: dict[str, Any]) -> Result:
    _preload_dvtool()
    from dvtool import Repo

    if p.get("base"):
        link_copy(p["base"], p["repo"])
    repo = Repo.open(p["repo"])
    t = time.perf_counter()
    report = repo.validate(p["ref"], schema=p["schema"], use_cache=p["use_cache"])
    seconds = time.perf_counter() - t
    return {
        "seconds": seconds,
        "ok": report.ok,
        "rows": report.rows_checked,
        "chunks_checked": report.chunks_checked,
        "chunks_reused": report.chunks_reused,
    }


def dvtool_diff(p: dict[str, Any]) -> Result:
    _preload_dvtool()
    from dvtool import Repo

    repo = Repo.open(p["repo"])
    t = time.perf_counter()
    d = repo.diff(p["old"], p["new"], key=p["key"])
    seconds = time.perf_counter() - t
    rows = d.rows
    return {
        "seconds": seconds,
        "added": rows.added,
        "removed": rows.removed,
        "changed": rows.changed,
    }


def dvtool_report(p: dict[str, Any]) -> Result:
    """The reviewer's report of B against A: column comparison, both versions' distributions, HTML.

    Cold: the repository is a hard-linked copy without ``stats/``, so every chunk
    profile of both versions is computed. ``p["warm"] == "old"``: the old version's
    chunk profiles are cached first (untimed), as when every version is reviewed
    once as the new side; ``True``: a first, untimed report fills the cache.
    """
    _preload_dvtool()
    import altair  # noqa: F401
    import vl_convert  # noqa: F401

    from dvtool import Repo

    link_copy(p["repo"], p["work"])
    shutil.rmtree(os.path.join(p["work"], "stats"), ignore_errors=True)
    repo = Repo.open(p["work"])
    if p.get("warm") == "old":  # the old version was profiled when it was reviewed as new
        from dvtool.diff.plan import side_from_snapshot
        from dvtool.diff.profiles import StoreProfileCache, side_profile

        side_profile(side_from_snapshot(repo.get(p["old"])), StoreProfileCache(repo.catalog.store))
    elif p.get("warm"):
        repo.diff(p["old"], p["new"], key=p["key"], distributions=True).render("html")
    c, t = cpu_seconds(), time.perf_counter()
    d = repo.diff(p["old"], p["new"], key=p["key"], distributions=True)
    page = d.render("html")
    seconds, cpu = time.perf_counter() - t, cpu_seconds() - c
    out = Path(p["work"]) / "report.html"
    out.write_text(page)
    return {
        "seconds": seconds,
        "cpu_seconds": cpu,
        "bytes": len(page.encode()),
        "changed": d.rows.changed,
        "columns": {
            c: [v.changed, v.max_diff or 0.0, v.null_diff] for c, v in d.comparison.items()
        },
    }


# ---- baselines and peers --------------------------------------------------------


def duckdb_join(p: dict[str, Any]) -> Result:
    """A keyed diff written by hand: FULL OUTER JOIN of both Parquet files, all columns compared."""
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
    t = time.perf_counter()
    added, removed, changed = con.execute(query, {"old": p["old"], "new": p["new"]}).fetchall()[0]
    seconds = time.perf_counter() - t
    return {"seconds": seconds, "added": added, "removed": removed, "changed": changed}


# Parquet settings of dvtool's chunks (dvtool/chunking.py encode_chunk), so the
# baseline writes the same files: zstd level 1, one row group per chunk,
# dictionary only on the low-cardinality string column.
CHUNK_WRITE = {
    "compression": "zstd",
    "compression_level": 1,
    "use_dictionary": ["category"],
    "write_statistics": True,
    "write_page_checksum": True,
    "store_schema": True,
}


def pyarrow_chunked(p: dict[str, Any]) -> Result:
    """Read the Parquet input and write the same chunks (same rows each), on every core."""
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
    return {"seconds": seconds, "bytes": _dir_bytes(p["out"]), "chunks": len(starts)}


def delta_write(p: dict[str, Any]) -> Result:
    import deltalake
    import pyarrow.parquet as pq

    _fresh(p["out"])
    t = time.perf_counter()
    deltalake.write_deltalake(p["out"], pq.read_table(p["src"]))
    seconds = time.perf_counter() - t
    return {"seconds": seconds, "bytes": _dir_bytes(p["out"])}


def lance_write(p: dict[str, Any]) -> Result:
    import lance
    import pyarrow.parquet as pq

    _fresh(p["out"])
    t = time.perf_counter()
    lance.write_dataset(pq.read_table(p["src"]), p["out"])
    seconds = time.perf_counter() - t
    return {"seconds": seconds, "bytes": _dir_bytes(p["out"])}


def pandera_direct(p: dict[str, Any]) -> Result:
    """pandera's own YAML loader and polars backend on the whole file (reading it included)."""
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
    seconds = time.perf_counter() - t
    return {"seconds": seconds, "ok": ok, "rows": frame.height}


def _datacompy_frames(p: dict[str, Any], kind: str) -> tuple[Any, Any]:
    import pyarrow.parquet as pq

    a, b = pq.read_table(p["old"]), pq.read_table(p["new"])
    if kind == "pandas":
        return a.to_pandas(), b.to_pandas()
    import polars as pl

    return pl.from_arrow(a), pl.from_arrow(b)


def _datacompy(p: dict[str, Any], backend: str) -> Result:
    """datacompy's Pandas/PolarsCompare; the frames are loaded before the timer (compare only)."""
    import datacompy

    compare = datacompy.PandasCompare if backend == "pandas" else datacompy.PolarsCompare
    a, b = _datacompy_frames(p, backend)
    t = time.perf_counter()
    cmp = compare(a, b, join_columns=p["key"])
    changed = int(cmp.intersect_rows.shape[0] - cmp.count_matching_rows())
    seconds = time.perf_counter() - t
    return {
        "seconds": seconds,
        "added": len(cmp.df2_unq_rows),
        "removed": len(cmp.df1_unq_rows),
        "changed": changed,
    }


def datacompy_report(p: dict[str, Any]) -> Result:
    """datacompy's report (PandasCompare + report(), written as HTML); frames loaded before the timer."""
    import datacompy

    a, b = _datacompy_frames(p, "pandas")
    html = os.path.join(p["work"], "datacompy-report.html")
    os.makedirs(p["work"], exist_ok=True)
    c, t = cpu_seconds(), time.perf_counter()
    cmp = datacompy.PandasCompare(a, b, join_columns=p["key"])
    cmp.report(html_file=html)
    seconds, cpu = time.perf_counter() - t, cpu_seconds() - c
    return {
        "seconds": seconds,
        "cpu_seconds": cpu,
        "bytes": os.path.getsize(html),
        "columns": {
            str(s["column"]): [int(s["unequal_cnt"]), float(s["max_diff"]), int(s["null_diff"])]
            for s in cmp.column_stats
            if s["column"] not in p["key"]
        },
    }


def datacompy_pandas(p: dict[str, Any]) -> Result:
    return _datacompy(p, "pandas")


def datacompy_polars(p: dict[str, Any]) -> Result:
    return _datacompy(p, "polars")


TASKS: dict[str, Callable[[dict[str, Any]], Result]] = {
    f.__name__: f
    for f in (
        dvtool_snapshot,
        dvtool_validate,
        dvtool_diff,
        duckdb_join,
        pyarrow_chunked,
        delta_write,
        lance_write,
        pandera_direct,
        datacompy_pandas,
        datacompy_polars,
        dvtool_report,
        datacompy_report,
    )
}


def main() -> None:
    task, params = sys.argv[1], json.loads(sys.argv[2])
    result = TASKS[task](params)
    result["peak_rss_mb"] = round(peak_rss_mb(), 1)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
