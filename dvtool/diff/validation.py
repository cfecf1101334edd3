"""Whether each side of a diff passes its schema: the diff report's validation section.

With ``diff --schema FILE`` both sides are validated (a REF through its
cached chunk verdicts, a SOURCE read as the diff read it) and the report shows,
per side, passed or failed and the failing checks with counts and examples;
the checks that fail in NEW but not in OLD are marked new. Only NEW decides
the gate: a NEW that fails makes :attr:`DiffValidation.passed` False (exit 1,
like a policy breach); OLD is the baseline and is only reported.

Without a schema the section shows what each version recorded at snapshot
(``snapshot --schema``: passed or failed, error and warning counts), or that
it was not validated; it never fails the diff.

These are plain values built by the layer above (``dvtool.diffvalidation``),
which knows the validation report; this module only renders them, in every
format of the diff report (HTML is :mod:`dvtool.diff.html`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal
from xml.etree import ElementTree as ET

from dvtool.escaping import gh_data, gh_prop, md_cell

__all__ = [
    "DiffValidation",
    "FailedCheck",
    "SideValidation",
    "github_lines",
    "junit_suite",
    "markdown_lines",
    "text_lines",
]

How = Literal["checked", "recorded", "none"]
_EXAMPLES = 5
_GITHUB_ANNOTATIONS = 10


@dataclass(frozen=True, slots=True)
class FailedCheck:
    """One failing check of one side: what failed, on how many rows, and a few examples."""

    severity: Literal["error", "warning", "check error"]
    column: str | None
    checks: tuple[str, ...]  # the check, then others that failed on the same values
    count: int | None  # failing rows (None: the check raised, it judged nothing)
    examples: tuple[str, ...] = ()  # one line each, as the validation report describes them
    examples_json: tuple[Mapping[str, Any], ...] = ()

    @property
    def key(self) -> tuple[str | None, str]:
        return (self.column, self.checks[0])

    @property
    def label(self) -> str:
        check = ", ".join(self.checks)
        return f"{self.column}: {check}" if self.column is not None else check

    def to_dict(self) -> dict[str, Any]:
        return {
            "severity": self.severity,
            "column": self.column,
            "check": self.checks[0],
            "checks": list(self.checks),
            "failure_count": self.count,
            "examples": [dict(e) for e in self.examples_json],
        }


@dataclass(frozen=True, slots=True)
class SideValidation:
    """One side: validated now (``checked``), its snapshot's verdict (``recorded``), or ``none``."""

    target: str
    how: How
    ok: bool | None = None  # None: not validated
    schema: str | None = None
    schema_fingerprint: str | None = None
    errors: int = 0
    warnings: int = 0
    rows_checked: int | None = None  # checked only
    chunks_checked: int = 0
    chunks_reused: int = 0
    failures: tuple[FailedCheck, ...] = ()  # checked only
    checks: tuple[tuple[str | None, str], ...] = ()  # every (column, check) that ran; checked only

    def verdict(self) -> str:
        if self.ok is None:
            return "not validated" + (" at snapshot" if self.how == "none" else "")
        return "passed" if self.ok else "FAILED"

    def summary(self) -> str:
        """``passed (2,030 rows; 0 errors, 1 warning; 3 chunks checked, 5 reused)``."""
        if self.ok is None:
            return self.verdict()
        if self.how == "recorded":
            return f"{self.verdict()} at snapshot against {self.schema}: {self.details()}"
        return f"{self.verdict()} ({self.details()})"

    def details(self) -> str:
        """The counts behind the verdict: ``2,030 rows; 0 errors, 1 warning; 3 chunks checked, 5 reused``."""
        if self.ok is None:
            return ""
        counts = f"{_plural(self.errors, 'error')}, {_plural(self.warnings, 'warning')}"
        if self.how == "recorded":
            return counts
        rows = (
            f"{_plural(self.rows_checked or 0, 'row')}; " if self.rows_checked is not None else ""
        )
        chunks = (
            f"; {_plural(self.chunks_checked, 'chunk')} checked, {self.chunks_reused} reused"
            if self.chunks_checked or self.chunks_reused
            else ""
        )
        return f"{rows}{counts}{chunks}"

    def to_dict(self, new_keys: frozenset[tuple[str | None, str]] = frozenset()) -> dict[str, Any]:
        d: dict[str, Any] = {
            "target": self.target,
            "source": self.how,
            "ok": self.ok,
            "schema": self.schema,
            "schema_fingerprint": self.schema_fingerprint,
            "errors": self.errors,
            "warnings": self.warnings,
        }
        if self.how == "checked":
            d["rows_checked"] = self.rows_checked
            d["chunks_checked"] = self.chunks_checked
            d["chunks_reused"] = self.chunks_reused
            d["failures"] = [
                {**f.to_dict(), "new": f.key in new_keys} if new_keys else f.to_dict()
                for f in self.failures
            ]
        return d


@dataclass(frozen=True, slots=True)
class DiffValidation:
    """Both sides' validation; ``schema`` is the ``--schema`` given (None: recorded verdicts)."""

    old: SideValidation
    new: SideValidation
    schema: str | None = None

    @property
    def checked(self) -> bool:
        return self.schema is not None

    @property
    def passed(self) -> bool:
        """False only when a schema was given and NEW fails it (warnings do not fail)."""
        return not (self.checked and self.new.ok is False)

    @property
    def new_failures(self) -> tuple[FailedCheck, ...]:
        """NEW's failing checks that did not fail in OLD."""
        if not self.checked:
            return ()
        before = {f.key for f in self.old.failures}
        return tuple(f for f in self.new.failures if f.key not in before)

    @property
    def shown(self) -> bool:
        """Whether text and markdown have anything to say: a schema, or a recorded verdict."""
        return self.checked or self.old.ok is not None or self.new.ok is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": self.schema,
            "passed": self.passed,
            "old": self.old.to_dict(),
            "new": self.new.to_dict(frozenset(f.key for f in self.new_failures)),
            "new_failures": len(self.new_failures),
        }


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" if n == 1 else f"{n:,} {word}s"


# ---- text ---------------------------------------------------------------------------


def text_lines(v: DiffValidation) -> list[str]:
    if not v.shown:
        return []
    new_keys = {f.key for f in v.new_failures}
    head = f"validation against {v.schema}:" if v.checked else "validation (recorded at snapshot):"
    out = [head]
    for side, s in (("old", v.old), ("new", v.new)):
        out.append(f"  {side} {s.target}: {s.summary()}")
        for f in s.failures:
            mark = "  NEW" if side == "new" and f.key in new_keys else ""
            count = "raised" if f.count is None else _plural(f.count, "failure")
            out.append(f"    ✗ {f.severity} {f.label}: {count}{mark}")
            if f.examples:
                out.append("        e.g. " + "; ".join(f.examples[:_EXAMPLES]))
    if v.checked and v.new_failures:
        out.append(
            f"  new: {_plural(len(v.new_failures), 'check')} failing in {v.new.target} "
            f"passed in {v.old.target}"
        )
    return out


# ---- markdown -----------------------------------------------------------------------


def markdown_lines(v: DiffValidation) -> list[str]:
    if not v.shown:
        return []
    icon = "" if v.passed else "❌ "
    title = (
        f"#### {icon}Validation against {md_cell(v.schema or '')}"
        if v.checked
        else "#### Validation recorded at snapshot"
    )
    out = ["", title, "", "| side | version | verdict |", "|---|---|---|"]
    for side, s in (("old", v.old), ("new", v.new)):
        mark = "✅ " if s.ok else "❌ " if s.ok is False else ""
        out.append(f"| {side} | {md_cell(s.target)} | {mark}{md_cell(s.summary())} |")
    failing = [("old", f) for f in v.old.failures] + [("new", f) for f in v.new.failures]
    if failing:
        new_keys = {f.key for f in v.new_failures}
        out += [
            "",
            "| side | severity | column | check | failing rows | examples |",
            "|---|---|---|---|---:|---|",
        ]
        for side, f in failing:
            sev = f.severity + (" **(new)**" if side == "new" and f.key in new_keys else "")
            count = "–" if f.count is None else f"{f.count:,}"
            out.append(
                f"| {side} | {sev} | {md_cell(f.column or '(table)')} | {md_cell(', '.join(f.checks))} "
                f"| {count} | {md_cell('; '.join(f.examples[:_EXAMPLES]))} |"
            )
    return out


# ---- JUnit and GitHub ---------------------------------------------------------------


def junit_suite(v: DiffValidation) -> ET.Element:
    """NEW's checks as one testsuite: a testcase per check run, a failure per failing check."""
    new_keys = {f.key for f in v.new_failures}
    failing = {(f.column, c): f for f in v.new.failures for c in f.checks}
    names = list(v.new.checks)
    for key in failing:
        if key not in names:
            names.append(key)
    errors = {k for k, f in failing.items() if f.severity == "check error"}
    failures = {k for k, f in failing.items() if f.severity == "error"}
    suite = ET.Element(
        "testsuite",
        name=f"dvtool diff validation {v.new.target}",
        tests=str(len(names)),
        failures=str(len(failures)),
        errors=str(len(errors)),
    )
    for column, check in names:
        case = ET.SubElement(
            suite,
            "testcase",
            classname=f"validation.{column if column is not None else '(table)'}",
            name=check,
        )
        f = failing.get((column, check))
        if f is None:
            continue
        new = " (new: passes in the old version)" if f.key in new_keys else ""
        message = (
            f"{f.label}: " + ("raised" if f.count is None else _plural(f.count, "failure")) + new
        )
        if f.severity == "warning":
            ET.SubElement(case, "system-out").text = f"warning: {message}"
            continue
        kind = "error" if f.severity == "check error" else "failure"
        el = ET.SubElement(case, kind, message=message, type=f.severity)
        el.text = "\n".join(f.examples)
    return suite


def github_lines(v: DiffValidation) -> list[str]:
    """An ``::error`` per failing check of NEW (new ones first; at most 10), then a notice."""
    if not v.checked:
        return []
    new_keys = {f.key for f in v.new_failures}
    failing = sorted(
        (f for f in v.new.failures if f.severity != "warning"), key=lambda f: f.key not in new_keys
    )
    lines = []
    for f in failing[:_GITHUB_ANNOTATIONS]:
        what = "raised" if f.count is None else f"failed for {_plural(f.count, 'row')}"
        new = " (new: passes in the old version)" if f.key in new_keys else ""
        msg = f"{f.label} {what} of {v.new.target}{new}"
        if f.examples:
            msg += "; e.g. " + "; ".join(f.examples[:_EXAMPLES])
        lines.append(f"::error title={gh_prop('validation: ' + f.label)}::{gh_data(msg)}")
    if len(failing) > _GITHUB_ANNOTATIONS:
        lines.append(
            f"::error title=validation::{len(failing) - _GITHUB_ANNOTATIONS} more failing check(s); "
            "see the text or JSON report"
        )
    summary = (
        f"validation against {v.schema}: {v.new.target} {v.new.verdict()}, "
        f"{len(v.new_failures)} new failing check(s); {v.old.target} {v.old.verdict()}"
    )
    lines.append(f"::notice title=dvtool diff validation::{gh_data(summary)}")
    return lines
