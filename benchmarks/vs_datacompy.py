"""The groups against datacompy (run.py's ``compare`` and ``report``), at up to 1M rows.

Both sides are whole processes: the ``dvtool diff`` command against a fresh
Python in datacompy's own environment that reads both files and compares them.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import datagen
import harness
from groups import KEY, PY_DC, Ctx, agree, build_repo, diff_args, link_copy, op_row
from harness import Row, interleave


@dataclass
class Compare:
    """The 1M-row repository (A, then B) and files the datacompy cases use."""

    rows: int
    repo: Path
    files: dict[str, Path]


def compare_setup(ctx: Ctx, data_root: Path) -> Compare:
    cmp_rows = min(ctx.rows, 1_000_000)
    if cmp_rows == ctx.rows:
        return Compare(cmp_rows, ctx.work / "scattered", ctx.data)
    files = datagen.ensure(data_root, cmp_rows, ("A", "B"))
    cmp_base = data_root / "work" / str(cmp_rows) / "base"
    cmp_repo = ctx.work / f"compare-{cmp_rows}"
    build_repo(ctx, cmp_base, [("snap", files["A"])])
    build_repo(ctx, cmp_repo, [("snap", files["B"])], base=cmp_base)
    return Compare(cmp_rows, cmp_repo, files)


def group_compare(ctx: Ctx, cmp: Compare) -> None:
    files = {"old": str(cmp.files["A"]), "new": str(cmp.files["B"]), "key": KEY}
    d1 = ctx.cli("`dvtool diff d@v1 d@v2 --format json` (A → B)", cmp.repo, *diff_args())
    read = "`pd.read_parquet` of A and B"
    dcp = ctx.peer(
        f"{PY_DC}: {read} + `datacompy.PandasCompare(a, b, join_columns=['id'])` + counts",
        "datacompy_pandas",
        files,
        ctx.env_dc,
    )
    dcl = ctx.peer(
        f"{PY_DC}: `pl.read_parquet` of A and B + `datacompy.PolarsCompare(…)` + counts",
        "datacompy_polars",
        files,
        ctx.env_dc,
    )
    api = ctx.api(
        "`repo.diff('d@v1', 'd@v2')` (A → B)",
        "dvtool_diff",
        {"repo": str(cmp.repo), "old": "d@v1", "new": "d@v2"},
    )
    variants = [d1, dcp, dcl] + ([api] if "ops" not in ctx.skip else [])
    interleave(variants, ctx.repeat)
    goal = "≤ 0.2× (≥ 5× faster)"
    ctx.table += [
        Row(
            f"keyed diff, {cmp.rows:,} rows, 1% scattered edits: {d1.runs.label}",
            d1.runs,
            dcp.runs,
            goal,
            lambda r: r <= 0.2,
        ),
        Row("the same", d1.runs, dcl.runs, goal, lambda r: r <= 0.2),
    ]
    if "ops" not in ctx.skip:
        span = "span: the compare and counts, frames already read"
        ctx.ops += [
            op_row(
                f"keyed diff, {cmp.rows:,} rows: {api.runs.label}",
                api.runs,
                dcp.runs,
                f"PandasCompare; {span}",
            ),
            op_row("the same", api.runs, dcl.runs, f"PolarsCompare; {span}"),
        ]
    agree(ctx, d1.runs, dcp.runs, "datacompy (pandas)")


def group_report(ctx: Ctx, cmp: Compare) -> None:
    tmp = ctx.tmp
    args = ("diff", "d@v1", "d@v2", "--stats", "--format", "html", "--force", "-o")
    command = "`dvtool diff d@v1 d@v2 --stats --format html -o report.html`"
    cold_repo, old_repo, warm_repo = tmp / "report-cold", tmp / "report-old", tmp / "report-warm"

    def warm_old() -> None:
        link_copy(cmp.repo, old_repo, drop=["stats"])()
        harness.run_quiet(
            harness.task_command(
                sys.executable, "dvtool_warm", {"repo": str(old_repo), "old": "d@v1"}
            ),
            ctx.env,
        )

    def warm_both() -> None:
        link_copy(cmp.repo, warm_repo, drop=["stats"])()
        ctx.dvtool("--repo", str(warm_repo), *args, str(tmp / "report-first.html"))

    cold = ctx.cli(
        f"{command}, no chunk profiles cached",
        cold_repo,
        *args,
        str(tmp / "report-cold.html"),
        prepare=link_copy(cmp.repo, cold_repo, drop=["stats"]),
    )
    old = ctx.cli(
        f"{command}, the old version's chunk profiles cached",
        old_repo,
        *args,
        str(tmp / "report-old.html"),
        prepare=warm_old,
    )
    warm = ctx.cli(
        f"{command}, both versions' chunk profiles cached",
        warm_repo,
        *args,
        str(tmp / "report-warm.html"),
        prepare=warm_both,
    )
    dcr = ctx.peer(
        f"{PY_DC}: `pd.read_parquet` of A and B + `PandasCompare(…)` + `.report(html_file=…)`",
        "datacompy_report",
        {
            **{k: str(v) for k, v in (("old", cmp.files["A"]), ("new", cmp.files["B"]))},
            "key": KEY,
            "out": str(tmp / "report-datacompy.html"),
        },
        ctx.env_dc,
    )
    api_repo = tmp / "report-api"
    api = ctx.api(
        "`repo.diff('d@v1', 'd@v2', distributions=True).render('html')`, no profiles cached",
        "dvtool_report",
        {"repo": str(api_repo), "old": "d@v1", "new": "d@v2", "out": str(tmp / "report-api.html")},
        prepare=link_copy(cmp.repo, api_repo, drop=["stats"]),
    )
    variants = [cold, old, warm, dcr] + ([api] if "ops" not in ctx.skip else [])
    interleave(variants, ctx.repeat)
    faster = "< 1× (faster)"
    ctx.table += [
        Row(
            f"review report, {cmp.rows:,} rows: {cold.runs.label}",
            cold.runs,
            dcr.runs,
            faster,
            lambda r: r < 1,
        ),
        Row(
            f"the same, {old.runs.label.split(', ', 1)[1]} (each version reviewed once)",
            old.runs,
            dcr.runs,
            faster,
            lambda r: r < 1,
        ),
        Row(
            f"the same, {warm.runs.label.split(', ', 1)[1]}",
            warm.runs,
            dcr.runs,
            faster,
            lambda r: r < 1,
        ),
        Row(
            "the same, no profiles cached: CPU seconds (user + system, all threads)",
            cold.runs,
            dcr.runs,
            "< 1×",
            lambda r: r < 1,
            what="cpu_seconds",
        ),
    ]
    if "ops" not in ctx.skip:
        ctx.ops.append(
            op_row(
                f"review report, {cmp.rows:,} rows: {api.runs.label}",
                api.runs,
                dcr.runs,
                "datacompy; span: compare + report, frames already read",
            )
        )
    if cold.runs.ok and dcr.runs.ok:
        out = json.loads(ctx.dvtool("--repo", str(cmp.repo), *diff_args()))
        ours = {
            c: [v["changed"], v["max_diff"] or 0.0, v["null_diff"]]
            for c, v in out["comparison"].items()
        }
        theirs = dcr.runs.first("columns")
        same = all(
            c in ours
            and ours[c][0] == theirs[c][0]
            and ours[c][2] == theirs[c][2]
            and abs(ours[c][1] - theirs[c][1]) <= 1e-9 * max(1.0, abs(theirs[c][1]))
            for c in theirs
        )
        html = (tmp / "report-cold.html").stat().st_size
        ctx.notes.append(
            "review report: per-column changed / max diff / null diff "
            + (
                "agree with datacompy's column_stats for every column"
                if same
                else f"DISAGREE with datacompy's: ours {ours}, datacompy {theirs}"
            )
            + f" ({', '.join(f'{c} {theirs[c][0]}' for c in theirs)} unequal). HTML: dvtool "
            f"{html:,} bytes with charts, datacompy {dcr.runs.first('bytes'):,} bytes of text in <pre>."
        )
