"""The reviewer's parts of a diff report: column comparison, distributions, policy breaches.

:class:`dvtool.diff.report.Diff` renders the summary, schema and samples; this
module renders what :mod:`dvtool.diff.columns`, :mod:`dvtool.diff.drift` and
:mod:`dvtool.diff.policy` found, in every format (text, markdown, JUnit XML,
GitHub annotations; JSON is ``Diff.to_dict``; HTML is :mod:`dvtool.diff.html`).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any
from xml.etree import ElementTree as ET

from dvtool.errors import UsageError
from dvtool.escaping import gh_data, gh_prop, md_cell, md_code, xml_safe_tree

if TYPE_CHECKING:
    from dvtool.diff.columns import ColumnComparison
    from dvtool.diff.drift import ColumnDrift
    from dvtool.diff.report import Diff

__all__ = [
    "FORMATS",
    "changed_columns",
    "drifted",
    "fmt_number",
    "markdown_policy",
    "markdown_sections",
    "render",
    "text_sections",
]

FORMATS = ("text", "json", "markdown", "junit", "github", "html")
_GITHUB_ANNOTATIONS = 10  # GitHub shows at most 10 annotations of a kind per step


def fmt_number(v: Any) -> str:
    """A number for people: integers as is, floats with 6 significant digits."""
    if v is None:
        return "n/a"
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        if math.isnan(v):
            return "NaN"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return f"{v:.6g}"
    return str(v)


def _rate(v: float | None) -> str:
    return "n/a" if v is None else f"{100 * v:.2f}%"


def changed_columns(d: Diff) -> list[ColumnComparison]:
    """Columns with values changed or within tolerance, or nulls that differ."""
    return [c for c in d.comparison.values() if c.changed or c.within_tolerance or c.null_diff]


def drifted(cd: ColumnDrift) -> bool:
    """Whether a column's distribution moved enough for a reviewer to look.

    The null rate changed, values appeared that the old version did not have,
    PSI reached 0.1 (the usual "minor shift" band), or the mean moved by more
    than 1% of the old mean (or of the old std when the mean is near zero).
    """
    o, n = cd.old, cd.new
    if o.nulls * n.rows != n.nulls * o.rows or cd.new_categories:
        return True
    if cd.psi is not None and cd.psi >= 0.1:
        return True
    if o.mean is not None and n.mean is not None:
        scale = max(abs(o.mean), o.std or 0.0)
        return abs(n.mean - o.mean) > 0.01 * scale if scale else n.mean != o.mean
    return False


# ---- text -------------------------------------------------------------------------


def text_sections(d: Diff) -> list[str]:
    out: list[str] = []
    if d.policy is not None:
        p = d.policy
        if p.ok:
            out.append(f"policy {p.source}: passed ({p.checked} checks)")
        else:
            out.append(
                f"policy {p.source}: FAILED, {len(p.breaches)} breach(es) of {p.checked} checks"
            )
            out += [f"  ✗ {b.describe()}" for b in p.breaches]
    rows = changed_columns(d)
    if rows:
        out.append(
            f"column comparison ({d.rows.changed + d.rows.unchanged:,} rows matched by key):"
        )
        for c in rows:
            parts = [f"{c.changed:,} changed"]
            if c.within_tolerance:
                parts.append(f"{c.within_tolerance:,} within tolerance")
            if c.max_diff is not None:
                parts.append(f"max diff {fmt_number(c.max_diff)}")
                parts.append(f"mean abs diff {fmt_number(c.mean_abs_diff)}")
            if c.null_diff:
                parts.append(f"null diff {c.null_diff:,}")
            parts.append(f"match {_rate(c.match_rate)}")
            if c.nulls[0] != c.nulls[1] and None not in c.nulls:
                parts.append(f"nulls {fmt_number(c.nulls[0])} → {fmt_number(c.nulls[1])}")
            if not c.tolerance.exact:
                parts.append(
                    f"tol abs {fmt_number(c.tolerance.abs)} rel {fmt_number(c.tolerance.rel)}"
                )
            out.append(f"  {c.column}: " + ", ".join(parts))
    if d.drift is not None:
        moved = [cd for cd in d.drift.columns.values() if drifted(cd)]
        out.append(
            f"distributions: {len(moved)} of {len(d.drift.columns)} column(s) moved"
            + (":" if moved else "")
        )
        for cd in moved:
            out.append(f"  {cd.column}: " + "; ".join(_drift_parts(cd)))
    return out


def _drift_parts(cd: ColumnDrift) -> list[str]:
    o, n = cd.old, cd.new
    parts = []
    if o.null_rate != n.null_rate:
        parts.append(f"null rate {_rate(o.null_rate)} → {_rate(n.null_rate)}")
    if o.mean is not None and n.mean is not None and o.mean != n.mean:
        parts.append(f"mean {fmt_number(o.mean)} → {fmt_number(n.mean)}")
        p50o, p50n = o.quantiles.get("p50"), n.quantiles.get("p50")
        if p50o != p50n:
            parts.append(f"p50 {fmt_number(p50o)} → {fmt_number(p50n)}")
    if cd.psi is not None:
        parts.append(f"PSI {cd.psi:.4f}")
    if cd.new_categories:
        shown = ", ".join(
            fmt_number(v) if not isinstance(v, str) else repr(v) for v in cd.new_categories[:5]
        )
        more = f" (+{len(cd.new_categories) - 5} more)" if len(cd.new_categories) > 5 else ""
        parts.append(f"new values: {shown}{more}")
    return parts


# ---- markdown ---------------------------------------------------------------------


def markdown_policy(d: Diff) -> list[str]:
    p = d.policy
    if p is None:
        return []
    if p.ok:
        return ["", f"**Policy `{md_code(p.source)}`: passed** ({p.checked} checks)"]
    out = [
        "",
        f"#### ❌ Policy `{md_code(p.source)}`: {len(p.breaches)} breach(es) of {p.checked} checks",
        "",
        "| column | statistic | old | new | change | threshold |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for b in p.breaches:
        out.append(
            f"| {md_cell(b.column if b.column is not None else '(table)')} | {b.statistic} "
            f"| {md_cell(_short(b.old))} | {md_cell(_short(b.new))} | {fmt_number(b.value)} | {fmt_number(b.threshold)} |"
        )
    return out


def _short(v: Any) -> str:
    if isinstance(v, (list, tuple)):
        text = ", ".join(str(x) for x in v[:5]) + (", …" if len(v) > 5 else "")
        return text[:80]
    return fmt_number(v)[:80]


def markdown_sections(d: Diff) -> list[str]:
    out: list[str] = []
    rows = changed_columns(d)
    if rows:
        out += [
            "",
            f"#### Column comparison ({d.rows.changed + d.rows.unchanged:,} rows matched by key)",
            "",
            "| column | changed | within tolerance | match rate | max diff | mean abs diff | null diff | nulls old → new | distinct old → new |",
            "|---|---:|---:|---:|---:|---:|---:|---|---|",
        ]
        for c in rows:
            distinct = (
                f"{fmt_number(c.distinct[0])} → {fmt_number(c.distinct[1])}"
                + ("" if c.distinct_exact else " (≈)")
                if c.distinct[0] is not None
                else ""
            )
            out.append(
                f"| {md_cell(c.column)} | {c.changed:,} | {c.within_tolerance:,} | {_rate(c.match_rate)} "
                f"| {fmt_number(c.max_diff) if c.max_diff is not None else ''} "
                f"| {fmt_number(c.mean_abs_diff) if c.mean_abs_diff is not None else ''} "
                f"| {c.null_diff:,} | {fmt_number(c.nulls[0])} → {fmt_number(c.nulls[1])} | {distinct} |"
            )
    if d.drift is not None:
        moved = [cd for cd in d.drift.columns.values() if drifted(cd)]
        if moved:
            out += [
                "",
                "#### Distributions that moved",
                "",
                "| column | null rate | mean | p50 | PSI | new values |",
                "|---|---|---|---|---:|---|",
            ]
            for cd in moved:
                o, n = cd.old, cd.new
                out.append(
                    f"| {md_cell(cd.column)} | {_rate(o.null_rate)} → {_rate(n.null_rate)} "
                    f"| {_pair(o.mean, n.mean)} | {_pair(o.quantiles.get('p50'), n.quantiles.get('p50'))} "
                    f"| {'' if cd.psi is None else f'{cd.psi:.4f}'} "
                    f"| {md_cell(_short(list(cd.new_categories))) if cd.new_categories else ''} |"
                )
    return out


def _pair(a: Any, b: Any) -> str:
    if a is None and b is None:
        return ""
    return fmt_number(a) if a == b else f"{fmt_number(a)} → {fmt_number(b)}"


# ---- JUnit and GitHub -------------------------------------------------------------


NEEDS_GATE = "reports drift policy and validation checks; add --policy FILE or --schema FILE"


def _need_gate(d: Diff, fmt: str) -> None:
    if d.policy is None and (d.validation is None or not d.validation.checked):
        raise UsageError(f"--format {fmt} {NEEDS_GATE}")


def _policy_suite(d: Diff) -> ET.Element:
    """One testsuite; one testcase per (column, statistic) the policy checked, failed if breached."""
    assert d.policy is not None
    p = d.policy
    suite = ET.Element(
        "testsuite",
        name=f"dvtool diff {d.old} → {d.new}",
        tests=str(len(p.checks)),
        failures=str(len(p.breaches)),
        errors="0",
    )
    breached = {(b.column, b.statistic): b for b in p.breaches}
    for column, statistic in p.checks:
        case = ET.SubElement(
            suite,
            "testcase",
            classname=f"policy.{column if column is not None else '(table)'}",
            name=statistic,
        )
        b = breached.get((column, statistic))
        if b is not None:
            failure = ET.SubElement(case, "failure", message=b.describe(), type="drift")
            failure.text = b.describe()
    return suite


def to_junit(d: Diff) -> str:
    """The policy's checks as one testsuite, NEW's validation (``--schema``) as another.

    With one of them the root is that ``<testsuite>``; with both, a ``<testsuites>``.
    """
    _need_gate(d, "junit")
    from dvtool.diff.validation import junit_suite

    suites = [_policy_suite(d)] if d.policy is not None else []
    if d.validation is not None and d.validation.checked:
        suites.append(junit_suite(d.validation))
    root = suites[0]
    if len(suites) > 1:
        root = ET.Element(
            "testsuites",
            name="dvtool diff",
            tests=str(sum(int(s.get("tests", "0")) for s in suites)),
            failures=str(sum(int(s.get("failures", "0")) for s in suites)),
            errors=str(sum(int(s.get("errors", "0")) for s in suites)),
        )
        root.extend(suites)
    xml_safe_tree(root)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def to_github(d: Diff) -> str:
    """Workflow annotations: one ``::error`` per breach and per failing check of NEW (at most 10
    of each shown), then a summary notice of each."""
    _need_gate(d, "github")
    from dvtool.diff.validation import github_lines

    lines = []
    p = d.policy
    if p is not None:
        for b in p.breaches[:_GITHUB_ANNOTATIONS]:
            title = f"drift: {b.column if b.column is not None else 'table'} {b.statistic}"
            lines.append(f"::error title={gh_prop(title)}::{gh_data(b.describe())}")
        if len(p.breaches) > _GITHUB_ANNOTATIONS:
            lines.append(
                f"::error title=drift::{len(p.breaches) - _GITHUB_ANNOTATIONS} more breach(es); "
                "see the text or JSON report"
            )
        summary = (
            f"policy {p.source}: passed ({p.checked} checks)"
            if p.ok
            else f"policy {p.source}: {len(p.breaches)} breach(es) of {p.checked} checks"
        )
        lines.append(f"::notice title=dvtool diff::{gh_data(summary)}")
    if d.validation is not None:
        lines += github_lines(d.validation)
    return "\n".join(lines) + "\n"


def render(d: Diff, fmt: str) -> str:
    if fmt == "json":
        return d.to_json() + "\n"
    if fmt == "markdown":
        return d.to_markdown()
    if fmt == "text":
        return d.to_text()
    if fmt == "junit":
        return to_junit(d)
    if fmt == "github":
        return to_github(d)
    if fmt == "html":
        from dvtool.diff.html import diff_html

        return diff_html(d)
    raise UsageError(f"unknown diff format {fmt!r} (one of: {', '.join(FORMATS)})")
