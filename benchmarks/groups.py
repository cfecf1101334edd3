"""The groups of run.py (snapshot, diff, validate, memory, start-up): what is compared with what.

Every goal row compares whole processes (harness.py): the ``dvtool`` command
against a fresh Python process running a peer (cases.py). The ``ops`` group adds
operation-only rows (dvtool's API call against the peer's own span), informative
only. The datacompy groups are in vs_datacompy.py.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import datagen
import harness
import peers
from harness import Row, Runs, Variant, interleave

HERE = Path(__file__).resolve().parent
SCHEMA = HERE / "schema.yaml"
KEY = ["id"]
COLUMNS = [f.name for f in datagen.SCHEMA]
PY = "Python"
PY_PEERS = "Python (.venv-peers)"
PY_DC = "Python (.venv-datacompy)"


@dataclass
class Ctx:
    """What every group needs: sizes, paths, the commands and the rows found so far."""

    rows: int
    repeat: int
    data: dict[str, Path]
    work: Path
    cache: Path
    env_peers: peers.PeerEnv
    env_dc: peers.PeerEnv
    skip: set[str]
    table: list[Row] = field(default_factory=list)
    ops: list[Row] = field(default_factory=list)
    mem: dict[str, Runs] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def tmp(self) -> Path:
        return self.work / "tmp"

    @property
    def env(self) -> dict[str, str]:
        return harness.dvtool_env(self.cache)

    def cli(
        self, label: str, repo: Path, *args: str, prepare: Callable[[], None] | None = None
    ) -> Variant:
        """The ``dvtool`` CLI as a whole process."""
        argv = [*harness.dvtool_command(), "--repo", str(repo), "-q", *args]
        return Variant(Runs(label), argv, self.env, prepare)

    def dvtool(self, *args: str) -> str:
        """An untimed dvtool command (set-up)."""
        return harness.run_quiet([*harness.dvtool_command(), "-q", *args], self.env)

    def api(
        self,
        label: str,
        task: str,
        params: dict[str, Any],
        prepare: Callable[[], None] | None = None,
    ) -> Variant:
        """A fresh Python running dvtool's API (for the operation-only span)."""
        return Variant(
            Runs(label), harness.task_command(sys.executable, task, params), self.env, prepare
        )

    def peer(
        self, label: str, task: str, params: dict[str, Any], env: peers.PeerEnv | None = None
    ) -> Variant:
        """A fresh Python running a peer's task: in ``env``, else in dvtool's interpreter
        (pyarrow, DuckDB and pandera are installed there), without this tree on its path."""
        python = sys.executable if env is None else env.python
        if python is None:
            return Variant(Runs(label, error=f"not installed: {env.error if env else ''}"), None)
        return Variant(Runs(label), harness.task_command(python, task, params), harness.clean_env())

    def fresh(self, repo: Path) -> Callable[[], None]:
        def prepare() -> None:
            shutil.rmtree(repo, ignore_errors=True)
            self.dvtool("init", str(repo))

        return prepare


def link_copy(src: Path, dst: Path, drop: Sequence[str] = ()) -> Callable[[], None]:
    """A preparation: ``dst`` becomes a hard-linked copy of the repository ``src`` (objects are
    immutable and written create-only), without its top-level folders ``drop``."""

    def prepare() -> None:
        shutil.rmtree(dst, ignore_errors=True)
        shutil.copytree(src, dst, copy_function=os.link)
        for name in drop:
            shutil.rmtree(dst / name, ignore_errors=True)

    return prepare


def build_repo(
    ctx: Ctx, path: Path, steps: Sequence[tuple[str, Any]], base: Path | None = None
) -> None:
    """A set-up repository, by CLI snapshots (``("snap", parquet)``) and validations (``("validate", ref)``).

    Kept between runs of the same dvtool commit and data (``--fresh-setup`` rebuilds).
    """
    marker = path.with_name(path.name + ".ready")
    stamp = f"{datagen.GENERATOR} dvtool {harness.version('dvtool')} {harness.git_state()}"
    if marker.exists() and marker.read_text() == stamp and path.exists():
        return
    marker.unlink(missing_ok=True)
    shutil.rmtree(path, ignore_errors=True)
    if base is not None:
        link_copy(base, path)()
    else:
        ctx.dvtool("init", str(path))
    for what, arg in steps:
        if what == "snap":
            ctx.dvtool("--repo", str(path), "snapshot", str(arg), "-d", "d", "--key", *KEY)
        else:
            ctx.dvtool("--repo", str(path), "validate", arg, "--schema", str(SCHEMA))
    marker.write_text(stamp)


def chunk_rows(ctx: Ctx, repo: Path) -> list[int]:
    show = json.loads(ctx.dvtool("--repo", str(repo), "show", "d@v1", "--json"))
    return [int(c["rows"]) for c in show["chunks"]]


def op_row(case: str, ours: Runs, other: Runs | None, other_label: str) -> Row:
    """An operation-only row: in-process spans, informative, no goal."""
    return Row(case, ours, other, "(informative)", None, what="op_seconds", label=other_label)


# ---- the groups -------------------------------------------------------------------------


def group_snapshot(ctx: Ctx) -> None:
    """Snapshot of A into a new repository against writers; re-snapshot; append."""
    rows, data, tmp = ctx.rows, ctx.data, ctx.tmp
    base = ctx.work / "base"
    snap_repo = tmp / "snap"
    snap = ctx.cli(
        "`dvtool snapshot A.parquet -d d --key id` into a new repository",
        snap_repo,
        *("snapshot", str(data["A"]), "-d", "d", "--key", "id", "--json"),
        prepare=ctx.fresh(snap_repo),
    )
    pa_w = ctx.peer(
        f"{PY}: `pq.read_table(A)` + `pq.write_table` of dvtool's chunks (same rows each; "
        "zstd 1, dictionary on `category` only), one thread per core",
        "pyarrow_chunked",
        {"src": str(data["A"]), "out": str(tmp / "pyarrow"), "chunk_rows": chunk_rows(ctx, base)},
    )
    delta = ctx.peer(
        f"{PY_PEERS}: `deltalake.write_deltalake(out, pq.read_table(A))`",
        "delta_write",
        {"src": str(data["A"]), "out": str(tmp / "delta")},
        ctx.env_peers,
    )
    lance = ctx.peer(
        f"{PY_PEERS}: `lance.write_dataset(pq.read_table(A), out)`",
        "lance_write",
        {"src": str(data["A"]), "out": str(tmp / "lance")},
        ctx.env_peers,
    )
    again = ctx.cli(
        "`dvtool snapshot A.parquet` again",
        base,
        *("snapshot", str(data["A"]), "-d", "d", "--key", "id", "--json"),
    )
    app_repo = tmp / "append"
    append = ctx.cli(
        "`dvtool snapshot C.parquet` onto a copy of the repository holding A",
        app_repo,
        *("snapshot", str(data["C"]), "-d", "d", "--key", "id", "--json"),
        prepare=link_copy(base, app_repo),
    )
    variants = [snap, pa_w, delta, lance, again, append]
    api_repo = tmp / "snap-api"
    api = ctx.api(
        "`repo.snapshot(A.parquet, key=['id'])` into a new repository",
        "dvtool_snapshot",
        {"src": str(data["A"]), "repo": str(api_repo), "dataset": "d", "key": KEY},
        prepare=ctx.fresh(api_repo),
    )
    if "ops" not in ctx.skip:
        variants.append(api)
    interleave(variants, ctx.repeat)
    case = f"snapshot {rows:,} rows from Parquet: {snap.runs.label}"
    ctx.table += [
        Row(case, snap.runs, pa_w.runs, "≤ 1.15×", lambda r: r <= 1.15),
        Row("the same", snap.runs, delta.runs, "< 1× (faster)", lambda r: r < 1),
        Row("the same", snap.runs, lance.runs, "< 1× (faster)", lambda r: r < 1),
        Row(
            f"re-snapshot, unchanged: {again.runs.label} (commits nothing)",
            again.runs,
            snap.runs,
            "≤ 0.2×",
            lambda r: r <= 0.2,
        ),
        Row(
            f"snapshot after 1% append: {append.runs.label}",
            append.runs,
            snap.runs,
            "≤ 0.25×",
            lambda r: r <= 0.25,
        ),
    ]
    if "ops" not in ctx.skip:
        span = "span: read + write, after imports"
        ctx.ops += [
            op_row(
                f"snapshot: {api.runs.label}", api.runs, pa_w.runs, f"pyarrow, same chunks; {span}"
            ),
            op_row("the same", api.runs, delta.runs, f"deltalake; {span}"),
            op_row("the same", api.runs, lance.runs, f"lance; {span}"),
        ]
    if again.runs.ok and not all(r["unchanged"] for r in again.runs.results):
        ctx.notes.append(
            "**The re-snapshot of unchanged data committed a new version** (expected: unchanged)."
        )
    if append.runs.ok and snap.runs.ok:
        new_b, all_b = append.runs.first("bytes_written"), snap.runs.first("bytes_written")
        share = new_b / all_b
        ctx.table.append(
            Row(
                "snapshot after 1% append: new bytes",
                append.runs,
                None,
                "≤ 2% of first",
                None,
                note=f"{new_b / 1e6:.2f} MB of {all_b / 1e6:.1f} MB = {share:.2%}: "
                f"{'met' if share <= 0.02 else '**not met**'}",
            )
        )
        ctx.notes.append(
            f"Bytes: dvtool wrote {all_b / 1e6:.1f} MB in {snap.runs.first('chunks')} chunks; "
            f"pyarrow {_mb(pa_w.runs, 'bytes')}; deltalake {_mb(delta.runs, 'bytes')}; "
            f"lance {_mb(lance.runs, 'bytes')}. Append: {append.runs.first('new_chunks')} new "
            f"chunks of {append.runs.first('chunks')}."
        )
    ctx.mem["snapshot"] = snap.runs


def diff_args() -> tuple[str, ...]:
    return ("diff", "d@v1", "d@v2", "--format", "json")


def _join(ctx: Ctx, label: str, old: Path, new: Path) -> Variant:
    params = {"old": str(old), "new": str(new), "key": KEY, "columns": COLUMNS}
    return ctx.peer(label, "duckdb_join", params)


def agree(ctx: Ctx, ours: Runs, theirs: Runs, name: str) -> None:
    if not (ours.ok and theirs.ok):
        return
    mine = ours.first("rows")
    counts = [mine[k] for k in ("added", "removed", "changed")]
    other = [theirs.first(k) for k in ("added", "removed", "changed")]
    ctx.notes.append(
        f"{ours.label}: added/removed/changed = {'/'.join(map(str, counts))}; {name} "
        + ("agrees" if counts == other else f"DISAGREES: {'/'.join(map(str, other))}")
        + f". Peak RSS: dvtool {ours.median('peak_rss_mb'):.0f} MB, {name} "
        f"{theirs.median('peak_rss_mb'):.0f} MB."
    )


def group_diff(ctx: Ctx) -> None:
    appended, scattered = ctx.work / "appended", ctx.work / "scattered"
    d_app = ctx.cli("`dvtool diff d@v1 d@v2 --format json` (A → C)", appended, *diff_args())
    j_app = _join(
        ctx,
        f"{PY}: DuckDB FULL OUTER JOIN of A.parquet and C.parquet, every column compared, counts",
        ctx.data["A"],
        ctx.data["C"],
    )
    d_sc = ctx.cli("`dvtool diff d@v1 d@v2 --format json` (A → B)", scattered, *diff_args())
    j_sc = _join(
        ctx,
        f"{PY}: DuckDB FULL OUTER JOIN of A.parquet and B.parquet, every column compared, counts",
        ctx.data["A"],
        ctx.data["B"],
    )
    variants = [d_app, j_app, d_sc, j_sc]
    params = {"old": "d@v1", "new": "d@v2"}
    a_app = ctx.api(
        "`repo.diff('d@v1', 'd@v2')` (A → C)", "dvtool_diff", {**params, "repo": str(appended)}
    )
    a_sc = ctx.api(
        "`repo.diff('d@v1', 'd@v2')` (A → B)", "dvtool_diff", {**params, "repo": str(scattered)}
    )
    if "ops" not in ctx.skip:
        variants += [a_app, a_sc]
    interleave(variants, ctx.repeat)
    ctx.table += [
        Row(
            f"keyed diff, 1% append: {d_app.runs.label}",
            d_app.runs,
            j_app.runs,
            "≤ 0.1×",
            lambda r: r <= 0.1,
        ),
        Row(
            f"keyed diff, 1% scattered edits: {d_sc.runs.label}",
            d_sc.runs,
            j_sc.runs,
            "≤ 1.2×",
            lambda r: r <= 1.2,
        ),
        Row(
            "the same: peak memory of the whole process",
            d_sc.runs,
            None,
            "≤ 500 MB",
            lambda mb: mb <= 500,
            what="peak_rss_mb",
        ),
    ]
    if "ops" not in ctx.skip:
        span = "DuckDB join; span: the query"
        ctx.ops += [
            op_row(f"keyed diff, 1% append: {a_app.runs.label}", a_app.runs, j_app.runs, span),
            op_row(f"keyed diff, 1% scattered: {a_sc.runs.label}", a_sc.runs, j_sc.runs, span),
        ]
    agree(ctx, d_app.runs, j_app.runs, "DuckDB")
    agree(ctx, d_sc.runs, j_sc.runs, "DuckDB")
    ctx.mem["diff (scattered)"] = d_sc.runs


def group_validate(ctx: Ctx) -> None:
    base, appended = ctx.work / "base", ctx.work / "appended"
    schema = str(SCHEMA)
    val = ctx.cli(
        "`dvtool validate d@v1 --schema schema.yaml --no-cache --format json`",
        base,
        *("validate", "d@v1", "--schema", schema, "--no-cache", "--format", "json"),
    )
    pdr = ctx.peer(
        f"{PY}: pandera `DataFrameSchema.from_yaml(schema.yaml)` + "
        "`validate(pl.from_arrow(pq.read_table(A)), lazy=True)`",
        "pandera_direct",
        {"src": str(ctx.data["A"]), "schema": schema},
    )
    inc_repo = ctx.tmp / "validate-append"
    inc = ctx.cli(
        "`dvtool validate d@v2 --schema schema.yaml --format json` (C) after d@v1 (A) was validated",
        inc_repo,
        *("validate", "d@v2", "--schema", schema, "--format", "json"),
        prepare=link_copy(appended, inc_repo),
    )
    api = ctx.api(
        "`repo.validate('d@v1', schema='schema.yaml', use_cache=False)`",
        "dvtool_validate",
        {"repo": str(base), "ref": "d@v1", "schema": schema, "use_cache": False},
    )
    variants = [val, pdr, inc] + ([api] if "ops" not in ctx.skip else [])
    interleave(variants, ctx.repeat)
    ctx.table += [
        Row(
            f"validate {ctx.rows:,} rows: {val.runs.label}",
            val.runs,
            pdr.runs,
            "≤ 1.1×",
            lambda r: r <= 1.1,
        ),
        Row(
            f"validate after 1% append: {inc.runs.label}",
            inc.runs,
            val.runs,
            "≤ 0.1×",
            lambda r: r <= 0.1,
        ),
    ]
    if "ops" not in ctx.skip:
        ctx.ops.append(
            op_row(
                f"validate: {api.runs.label}",
                api.runs,
                pdr.runs,
                "pandera; span: read + validate, schema loaded",
            )
        )
    if inc.runs.ok:
        ctx.notes.append(
            f"Validate after append: {inc.runs.first('chunks_checked')} chunks checked, "
            f"{inc.runs.first('chunks_reused')} verdicts reused; the schema's `unique` on id runs over all rows."
        )
    ctx.mem["validate"] = val.runs


def group_memory(ctx: Ctx, data_root: Path, factor: int) -> None:
    """Peak RSS of whole processes at ``factor`` x rows against the same at 1x."""
    big_rows = ctx.rows * factor
    big = datagen.ensure(data_root, big_rows, ("A", "B"))
    bwork = data_root / "work" / str(big_rows)
    bwork.mkdir(parents=True, exist_ok=True)
    bbase = bwork / "base"
    bsnap = ctx.cli(
        "snapshot",
        bbase,
        *("snapshot", str(big["A"]), "-d", "d", "--key", "id", "--json"),
        prepare=ctx.fresh(bbase),
    )
    interleave([bsnap], 1)
    if bsnap.runs.ok:
        build_repo(ctx, bwork / "scattered", [("snap", big["B"])], base=bbase)
    bval = ctx.cli(
        "validate",
        bbase,
        *("validate", "d@v1", "--schema", str(SCHEMA), "--no-cache", "--format", "json"),
    )
    bdiff = ctx.cli("diff", bwork / "scattered", *diff_args())
    interleave([bval, bdiff], 1)
    large = {"snapshot": bsnap.runs, "validate": bval.runs, "diff (scattered)": bdiff.runs}
    a_gb, big_gb = _arrow_gb(ctx.data["A"]), _arrow_gb(big["A"])
    for name, small in ctx.mem.items():
        ctx.table.append(
            Row(
                f"peak memory of the whole process, {name}: {big_rows:,} vs {ctx.rows:,} rows "
                f"({big_gb:.2f} vs {a_gb:.2f} GB in Arrow)",
                large[name],
                small,
                "≤ 1.5×",
                lambda r: r <= 1.5,
                what="peak_rss_mb",
            )
        )


def group_startup(ctx: Ctx) -> None:
    base = ctx.work / "base"
    dv = harness.dvtool_command()
    py = Variant(
        Runs("`python -c pass` (the same interpreter)"),
        [sys.executable, "-c", "pass"],
        harness.clean_env(),
    )
    helpr = Variant(Runs("`dvtool --help`"), [*dv, "--help"], ctx.env)
    logr = Variant(Runs("`dvtool log d`"), [*dv, "--repo", str(base), "log", "d"], ctx.env)
    interleave([py, helpr, logr], max(5, ctx.repeat))
    ctx.table += [
        Row(f"start-up: {helpr.runs.label}", helpr.runs, py.runs, "< 0.3 s added", None),
        Row(f"start-up: {logr.runs.label}", logr.runs, py.runs, "< 0.3 s added", None),
    ]


def _mb(runs: Runs, what: str) -> str:
    return f"{runs.first(what) / 1e6:.1f} MB" if runs.ok else "n/a"


def _arrow_gb(path: Path) -> float:
    import pyarrow.parquet as pq

    f = pq.ParquetFile(path)
    first = f.read_row_group(0)
    return float(first.nbytes / max(1, first.num_rows) * f.metadata.num_rows / 1e9)
