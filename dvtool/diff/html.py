"""A diff as one self-contained HTML page for a reviewer.

Summary, policy breaches, schema changes (breaking ones flagged), the column
comparison, the distributions side by side, a chart per changed or drifted
column (old vs new histogram for numeric columns, top values for categorical
ones, null and distinct counts otherwise) and samples of added, removed and
changed rows. Charts are SVG from :mod:`dvtool.charts`, inline; the page loads
nothing. Each section has a byte budget, so the page stays under
:data:`dvtool.htmlpage.MAX_BYTES` whatever the data.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

from dvtool import charts
from dvtool._version import __version__
from dvtool.diff.review import changed_columns, drifted, fmt_number
from dvtool.htmlpage import MAX_BYTES, Page, esc, table

if TYPE_CHECKING:
    from dvtool.diff.drift import ColumnDrift
    from dvtool.diff.report import Diff

__all__ = ["MAX_CHARTS", "diff_html"]

MAX_CHARTS = 40
_BUDGET = {
    "policy": 100_000,
    "validation": 150_000,  # per side
    "schema": 120_000,
    "comparison": 200_000,
    "distributions": 200_000,
    "charts": 900_000,
    "samples": 100_000,  # per kind
}


def _cell(v: Any) -> str:
    if v is None:
        return '<span class="muted">null</span>'
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return esc(fmt_number(v))
    text = json.dumps(v, ensure_ascii=False, default=str) if not isinstance(v, str) else v
    return esc(text if len(text) <= 60 else text[:59] + "…")


def _rate(v: float | None) -> str:
    return "n/a" if v is None else f"{100 * v:.2f}%"


def _pair(a: Any, b: Any, f: Any = fmt_number) -> str:
    if a == b:
        return esc(f(a))
    return f"{esc(f(a))} → <b>{esc(f(b))}</b>"


def diff_html(d: Diff) -> str:
    page = Page(f"dvtool diff {d.old} → {d.new}")
    page.add(f"<h1>dvtool diff <code>{esc(d.old)}</code> → <code>{esc(d.new)}</code></h1>")
    key = ", ".join(d.key) if d.key else "none: whole rows compared as a multiset"
    page.add(f'<p class="muted">Key: {esc(key)}. {esc(_chunks(d))}</p>')
    for note in d.notes:
        page.add(f'<p class="note">{esc(note)}</p>')
    _summary(page, d)
    if d.policy is not None:
        _policy(page, d)
    if d.validation is not None:
        _validation(page, d)
    if not d.schema.empty:
        _schema(page, d)
    if d.key:
        _comparison(page, d)
    if d.drift is not None:
        _distributions(page, d)
    _charts(page, d)
    _samples(page, d)
    out = page.render(f"dvtool {__version__}")
    if len(out.encode()) > MAX_BYTES:  # the budgets make this unreachable; never write a huge page
        raise RuntimeError("HTML report over its size limit")
    return out


def _chunks(d: Diff) -> str:
    c = d.chunks
    if not (c.old or c.new):
        return "SOURCE sides are read whole."
    return f"{c.skipped} chunk pair(s) identical and not compared, {c.compared} chunk(s) read to compare rows."


def _summary(page: Page, d: Diff) -> None:
    r = d.rows
    n_schema = len(d.schema.added) + len(d.schema.removed) + len(d.schema.changed)
    cards = [
        ("old rows", f"{r.old:,}"),
        ("new rows", f"{r.new:,}"),
        ("added", f"{r.added:,}"),
        ("removed", f"{r.removed:,}"),
        ("changed", f"{r.changed:,}"),
        ("unchanged", f"{r.unchanged:,}"),
        ("schema changes", f"{n_schema}" + (" (breaking)" if d.schema.breaking else "")),
    ]
    if d.policy is not None:
        badge = (
            '<span class="badge ok">passed</span>'
            if d.policy.ok
            else f'<span class="badge bad">{len(d.policy.breaches)} breach(es)</span>'
        )
        cards.append(("drift policy", badge))
    v = d.validation
    if v is not None and v.checked:
        badge = (
            '<span class="badge ok">passes</span>'
            if v.new.ok
            else f'<span class="badge bad">fails: {v.new.errors} error(s)</span>'
        )
        cards.append(("validation (new)", badge))
    badges = ("drift policy", "validation (new)")
    html = "".join(
        f'<div class="card"><span class="muted">{esc(label)}</span><b>{value if label in badges else esc(value)}</b></div>'
        for label, value in cards
    )
    page.add(f'<div class="cards" id="summary">{html}</div>')


def _policy(page: Page, d: Diff) -> None:
    p = d.policy
    assert p is not None
    page.h2("Drift policy", "policy")
    if p.ok:
        page.add(
            f'<p><span class="badge ok">passed</span> {esc(p.source)}: {p.checked} checks, no breach.</p>'
        )
        return
    page.add(
        f'<p><span class="badge bad">failed</span> {esc(p.source)}: {len(p.breaches)} breach(es) '
        f"of {p.checked} checks.</p>"
    )
    rows = [
        (
            esc(b.column if b.column is not None else "(table)"),
            esc(b.statistic),
            _cell(b.old),
            _cell(b.new),
            esc(fmt_number(b.value)),
            esc(fmt_number(b.threshold)),
        )
        for b in p.breaches
    ]
    page.add(
        table(
            ["column", "statistic", "old", "new", "change", "threshold"],
            rows,
            budget=_BUDGET["policy"],
            numeric=(4, 5),
        )
    )


def _validation(page: Page, d: Diff) -> None:
    v = d.validation
    assert v is not None
    page.h2(
        f"Validation against {v.schema}" if v.checked else "Validation recorded at snapshot",
        "validation",
    )
    if not v.checked:
        page.add(
            '<p class="muted">Each version’s verdict from <code>snapshot --schema</code>; '
            "pass <code>--schema FILE</code> to validate both sides now.</p>"
        )
    new_keys = {f.key for f in v.new_failures}
    cards = []
    for side, s in (("old", v.old), ("new", v.new)):
        kind = "ok" if s.ok else "bad" if s.ok is False else "warn"
        cards.append(
            f'<div class="card" data-side="{side}"><span class="muted">{side}: {esc(s.target)}</span>'
            f'<b><span class="badge {kind}">{esc(s.verdict())}</span></b>'
            f'<span class="muted">{esc(s.details() if s.how == "checked" else s.summary())}</span></div>'
        )
    page.add('<div class="cards">' + "".join(cards) + "</div>")
    if v.checked and v.new_failures:
        page.add(
            f'<p><span class="badge bad">{len(v.new_failures)} new</span> check(s) fail in '
            f"<code>{esc(v.new.target)}</code> and not in <code>{esc(v.old.target)}</code>.</p>"
        )
    for side, s in (("new", v.new), ("old", v.old)):
        if not s.failures:
            continue
        page.add(f"<h3>Failing checks in {side}: <code>{esc(s.target)}</code></h3>")
        rows = [
            (
                esc(f.severity)
                + (
                    ' <span class="badge bad">new</span>'
                    if side == "new" and f.key in new_keys
                    else ""
                ),
                f"<code>{esc(f.column)}</code>" if f.column is not None else "(table)",
                esc(", ".join(f.checks)),
                esc("raised" if f.count is None else f"{f.count:,}"),
                esc("; ".join(f.examples[:5])),
            )
            for f in s.failures
        ]
        page.add(
            table(
                ["severity", "column", "check", "failing rows", "examples"],
                rows,
                budget=_BUDGET["validation"],
                numeric=(3,),
            )
        )


def _schema(page: Page, d: Diff) -> None:
    page.h2("Schema changes", "schema")
    rows = []
    for sign, changes in (
        ("added", d.schema.added),
        ("removed", d.schema.removed),
        ("retyped", d.schema.changed),
    ):
        for c in changes:
            rows.append(
                (
                    esc(sign),
                    f"<code>{esc(c.column)}</code>",
                    esc(c.old or ""),
                    esc(c.new or ""),
                    '<span class="badge bad">breaking</span>' if c.breaking else "no",
                )
            )
    page.add(
        table(
            ["change", "column", "old type", "new type", "breaking"], rows, budget=_BUDGET["schema"]
        )
    )


def _comparison(page: Page, d: Diff) -> None:
    page.h2("Column comparison", "comparison")
    matched = d.rows.changed + d.rows.unchanged
    cols = changed_columns(d)
    if not cols:
        page.add(
            f"<p>All {len(d.comparison)} compared column(s) equal on the {matched:,} rows matched by key.</p>"
        )
        return
    page.add(
        f'<p class="muted">Over the {matched:,} rows matched by key. Values within tolerance count as '
        "equal; max and mean absolute difference are over the values that differ.</p>"
    )
    rows = []
    for c in cols:
        tol = (
            "exact"
            if c.tolerance.exact
            else f"abs {fmt_number(c.tolerance.abs)}, rel {fmt_number(c.tolerance.rel)}"
        )
        distinct = (
            _pair(c.distinct[0], c.distinct[1]) + ("" if c.distinct_exact else " ≈")
            if c.distinct[0] is not None
            else ""
        )
        rows.append(
            (
                f"<code>{esc(c.column)}</code>",
                esc(f"{c.changed:,}"),
                esc(f"{c.within_tolerance:,}"),
                esc(_rate(c.match_rate)),
                esc(fmt_number(c.max_diff)) if c.max_diff is not None else "",
                esc(fmt_number(c.mean_abs_diff)) if c.mean_abs_diff is not None else "",
                esc(f"{c.null_diff:,}"),
                _pair(c.nulls[0], c.nulls[1]),
                distinct,
                esc(tol),
            )
        )
    page.add(
        table(
            [
                "column",
                "changed",
                "within tolerance",
                "match rate",
                "max diff",
                "mean abs diff",
                "null diff",
                "nulls old → new",
                "distinct old → new",
                "tolerance",
            ],
            rows,
            budget=_BUDGET["comparison"],
            numeric=(1, 2, 3, 4, 5, 6),
        )
    )


def _distributions(page: Page, d: Diff) -> None:
    assert d.drift is not None
    page.h2("Distributions", "distributions")
    page.add(
        '<p class="muted">Each version as a whole. Quantiles are within 1% of the true value; '
        "PSI is over ten bins cut at the old deciles (or per value).</p>"
    )
    rows = []
    for cd in d.drift.columns.values():
        o, n = cd.old, cd.new
        rows.append(
            (
                f"<code>{esc(cd.column)}</code>" + (" ⚑" if drifted(cd) else ""),
                _pair(o.null_rate, n.null_rate, _rate),
                _pair(o.mean, n.mean) if o.mean is not None or n.mean is not None else "",
                _pair(o.std, n.std) if o.std is not None or n.std is not None else "",
                _pair(o.quantiles.get("p1"), n.quantiles.get("p1"))
                if o.quantiles or n.quantiles
                else "",
                _pair(o.quantiles.get("p50"), n.quantiles.get("p50"))
                if o.quantiles or n.quantiles
                else "",
                _pair(o.quantiles.get("p99"), n.quantiles.get("p99"))
                if o.quantiles or n.quantiles
                else "",
                _pair(o.distinct, n.distinct)
                + ("" if o.distinct_exact and n.distinct_exact else " ≈"),
                esc(f"{cd.psi:.4f}") if cd.psi is not None else "",
                esc(", ".join(_short(v) for v in cd.new_categories[:5]))
                if cd.new_categories
                else "",
            )
        )
    page.add(
        table(
            [
                "column",
                "null rate",
                "mean",
                "std",
                "p1",
                "p50",
                "p99",
                "distinct",
                "PSI",
                "new values",
            ],
            rows,
            budget=_BUDGET["distributions"],
        )
    )


def _short(v: Any) -> str:
    text = v if isinstance(v, str) else json.dumps(v, default=str)
    return text if len(text) <= 30 else text[:29] + "…"


def _charts(page: Page, d: Diff) -> None:
    page.h2("Charts", "charts")
    if d.drift is None:
        page.add(
            '<p class="note">Distribution statistics were not computed for this diff, so there are no '
            "charts (dvtool diff … --format html computes them; in Python: distributions=True).</p>"
        )
        return
    wanted = {c.column for c in changed_columns(d)} | {
        name for name, cd in d.drift.columns.items() if drifted(cd)
    }
    names = [n for n in d.drift.columns if n in wanted]
    if not names:
        page.add("<p>No column changed or drifted.</p>")
        return
    used = 0
    figures = []
    for i, name in enumerate(names):
        if i >= MAX_CHARTS or used > _BUDGET["charts"]:
            figures.append(
                f'<p class="note">{len(names) - i} more changed column(s) without a chart, to keep this '
                "report small: see the tables above.</p>"
            )
            break
        fig = _figure(d.drift.columns[name])
        used += len(fig)
        figures.append(fig)
    page.add('<div class="charts">' + "".join(figures) + "</div>")


def _figure(cd: ColumnDrift) -> str:
    bins = cd.bins
    if bins and isinstance(bins[0][0], tuple):
        svg = charts.histogram(cd.column, [(lo, hi, so, sn) for (lo, hi), so, sn in bins])
        caption = f"{cd.column}: share of values per bin, old vs new (PSI {_psi(cd)})."
    elif bins:
        svg = charts.category_bars(cd.column, [(_short(v), so, sn) for v, so, sn in bins])
        caption = (
            f"{cd.column}: share of rows of the most frequent values, old vs new (PSI {_psi(cd)})."
        )
    else:
        o, n = cd.old, cd.new
        svg = charts.category_bars(
            cd.column,
            [
                ("nulls", float(o.nulls), float(n.nulls)),
                ("distinct", float(o.distinct), float(n.distinct)),
            ],
            x_title="count",
            percent=False,
        )
        caption = f"{cd.column}: null and distinct counts, old vs new (too many distinct values for a histogram)."
    return (
        f'<figure class="chart" data-column="{esc(cd.column)}">{svg}'
        f"<figcaption>{esc(caption)}</figcaption></figure>"
    )


def _psi(cd: ColumnDrift) -> str:
    return "n/a" if cd.psi is None or math.isnan(cd.psi) else f"{cd.psi:.4f}"


def _samples(page: Page, d: Diff) -> None:
    s = d.samples
    if not (s.added or s.removed or s.changed):
        return
    page.h2("Sample rows", "samples")
    for kind, rows, total in (
        ("Added", s.added, d.rows.added),
        ("Removed", s.removed, d.rows.removed),
    ):
        if not rows:
            continue
        cols = list(rows[0].keys())[:30]
        page.add(f"<h3>{kind} (first {len(rows)} of {total:,})</h3>")
        page.add(
            table(
                cols,
                [[_cell(r.get(c)) for c in cols] for r in rows],
                budget=_BUDGET["samples"],
            )
        )
    if s.changed:
        page.add(f"<h3>Changed (first {len(s.changed)} of {d.rows.changed:,})</h3>")
        body = []
        for c in s.changed:
            keytxt = ", ".join(f"{k}={_short(v)}" for k, v in c.key.items())
            for col, (o, n) in c.changes.items():
                body.append((esc(keytxt), f"<code>{esc(col)}</code>", _cell(o), _cell(n)))
        page.add(table(["key", "column", "old", "new"], body, budget=_BUDGET["samples"]))
