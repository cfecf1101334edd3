"""A validation report as one self-contained HTML page.

Summary (passed or failed, rows and chunks checked), a chart of failing rows
per check (SVG from :mod:`dvtool.charts`, inline) and a table of every failed
check with examples. Like the diff page it loads nothing and stays under
:data:`dvtool.htmlpage.MAX_BYTES`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dvtool import charts
from dvtool._version import __version__
from dvtool.htmlpage import MAX_BYTES, Page, esc, table

if TYPE_CHECKING:
    from dvtool.validate.report import ValidationReport

__all__ = ["validation_html"]

_CHART_CHECKS = 20


def validation_html(report: ValidationReport, *, strict: bool = False) -> str:
    r = report
    page = Page(f"dvtool validate {r.target}")
    passed = r.passed(strict=strict)
    badge = (
        '<span class="badge ok">passed</span>'
        if passed
        else '<span class="badge bad">failed</span>'
    )
    page.add(f"<h1>dvtool validate <code>{esc(r.target)}</code> {badge}</h1>")
    page.add(f'<p class="muted">Schema: <code>{esc(r.schema)}</code></p>')
    cards = [
        ("rows checked", f"{r.rows_checked:,}"),
        ("checks run", f"{len(r.checks):,}"),
        ("errors", f"{len(r.errors):,}"),
        ("warnings", f"{len(r.warnings):,}"),
        ("chunks checked", f"{r.chunks_checked:,}"),
        ("chunks reused", f"{r.chunks_reused:,}"),
    ]
    page.add(
        '<div class="cards" id="summary">'
        + "".join(
            f'<div class="card"><span class="muted">{esc(k)}</span><b>{esc(v)}</b></div>'
            for k, v in cards
        )
        + "</div>"
    )
    failures = [("error", f) for f in r.errors] + [("warning", f) for f in r.warnings]
    page.h2("Failed checks", "failures")
    if not failures:
        page.add("<p>Every check passed.</p>")
    else:
        top = sorted(failures, key=lambda kf: -kf[1].failure_count)[:_CHART_CHECKS]
        svg = charts.bars(
            "failing rows per check",
            [(f.label[:60], float(f.failure_count)) for _, f in top],
            x_title="failing rows",
        )
        page.add(
            f'<figure class="chart" data-chart="failures">{svg}<figcaption>'
            f"{esc(f'Failing rows of the {len(top)} check(s) with the most failures (table below).')}"
            "</figcaption></figure>"
        )
        rows = [
            (
                f'<span class="badge {"bad" if kind == "error" else "warn"}">{kind}</span>',
                f"<code>{esc(f.column)}</code>" if f.column is not None else "(table)",
                esc(f.check),
                esc(f"{f.failure_count:,}"),
                esc("; ".join(e.describe() for e in f.examples[:5])),
            )
            for kind, f in failures
        ]
        page.add(
            table(
                ["severity", "column", "check", "failing rows", "examples"],
                rows,
                budget=600_000,
                numeric=(3,),
            )
        )
    out = page.render(f"dvtool {__version__}")
    if len(out.encode()) > MAX_BYTES:  # the budgets make this unreachable; never write a huge page
        raise RuntimeError("HTML report over its size limit")
    return out
