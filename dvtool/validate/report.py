"""The validation report: one frozen value behind every output format.

`validation.py` builds a :class:`ValidationReport`; the CLI renders it as text,
JSON (SPEC §2 keys), JUnit XML, markdown or GitHub workflow annotations. This
module imports no pandera and does no I/O, so rendering is cheap and testable.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal
from xml.etree import ElementTree as ET

from dvtool.escaping import gh_data, gh_prop, md_cell, md_code, printable, xml_safe_tree
from dvtool.format.jsonvalues import json_value

__all__ = [
    "FORMATS",
    "N_EXAMPLES",
    "CheckFailure",
    "Example",
    "ReportFormat",
    "ValidationReport",
    "jsonable",
]

ReportFormat = Literal["text", "json", "junit", "markdown", "github", "html"]
FORMATS: tuple[str, ...] = ("text", "json", "junit", "markdown", "github", "html")
Severity = Literal["error", "warning"]

MARKDOWN_LIMIT = 60_000  # GitHub comments stop at 65,536 characters
GITHUB_ANNOTATIONS = 10  # GitHub shows at most 10 annotations of each kind per step


@dataclass(frozen=True, slots=True)
class Example:
    """One failing value and where it is: its row and, when the data has a key, the row's key.

    ``row`` is the 0-based position in the rows validated (input order for a
    SOURCE); reports print it 1-based, as the input row number with the header
    excluded. With ``count``, the example stands for a distinct failing value:
    ``count`` rows hold it and ``row`` is the first of them.
    """

    value: Any
    row: int | None = None
    key: tuple[tuple[str, Any], ...] | None = None
    count: int | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"value": self.value}
        if self.count is not None:
            d["count"] = self.count
        if self.row is not None:
            d["row"] = self.row + 1
        if self.key is not None:
            d["key"] = dict(self.key)
        return d

    def describe(self, *, whole: bool = False) -> str:
        """One line; ``whole`` never shortens the value (a duplicated key is how a row is found)."""
        where = []
        if self.row is not None:
            where.append(f"{'first ' if self.count and self.count > 1 else ''}row {self.row + 1:,}")
        if self.key is not None:
            # The whole key, never cut: it is how the row is found.
            where.append(", ".join(f"{k}={_full(v)}" for k, v in self.key))
        times = f" ×{self.count:,}" if self.count is not None else ""
        text = (_full(self.value) if whole else _short(self.value)) + times
        return f"{text} ({'; '.join(where)})" if where else text


@dataclass(frozen=True, slots=True)
class CheckFailure:
    """A check that failed: its exact failure count over all rows and a few examples."""

    column: str | None
    check: str
    failure_count: int
    examples: tuple[Example, ...] = ()
    severity: Severity = "error"
    # Other checks that failed on the same values (one fault, one entry): e.g. the
    # coerce_dtype(...) before a dtype(...), or not_nullable beside a key check.
    also: tuple[tuple[str, int], ...] = ()  # (check, its own failure count)
    # The check raised (e.g. TypeError comparing strings with numbers): it could not
    # judge the data. Reported apart from data failures, as "check errors".
    raised: bool = False

    @property
    def label(self) -> str:
        return f"{self.column}: {self.check}" if self.column is not None else self.check

    own_count: int | None = None  # this check's own count when ``also`` merged others into it

    @property
    def checks(self) -> tuple[str, ...]:
        return (self.check, *(c for c, _ in self.also))

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "column": self.column,
            "check": self.check,
            "failure_count": self.failure_count,
            "examples": [e.to_dict() for e in self.examples],
        }
        if self.also:
            d["checks"] = list(self.checks)
            d["check_counts"] = {self.check: self.own_count, **dict(self.also)}
        if self.examples and all(e.count is not None for e in self.examples):
            d["distinct_values"] = len(self.examples)
            # Exact: the listed values' counts add up to every failing row, or some were left out.
            d["all_values_listed"] = sum(e.count or 0 for e in self.examples) == self.failure_count
        return d


@dataclass(frozen=True, slots=True)
class ValidationReport:
    """The result of validating data against one schema.

    ``ok`` is False when any check marked as an error failed; warnings (checks
    declared with ``raise_warning``) never make ``ok`` False — use
    :meth:`passed` with ``strict=True`` to count them.
    """

    schema: str
    schema_fingerprint: str
    target: str
    rows_checked: int
    errors: tuple[CheckFailure, ...] = ()
    warnings: tuple[CheckFailure, ...] = ()
    chunks_checked: int = 0
    chunks_reused: int = 0
    notes: tuple[str, ...] = ()  # said once in the report (e.g. why no cached verdict was used)
    checks: tuple[tuple[str | None, str], ...] = ()  # every (column, check) that ran
    schema_lines: tuple[tuple[str, int], ...] = field(
        default=()
    )  # column -> line in the schema file
    name: str = ""  # the dataset (or the schema's name): JUnit classnames are NAME.COLUMN
    check_errors: tuple[CheckFailure, ...] = ()  # checks that raised instead of judging the data

    @property
    def ok(self) -> bool:
        return not self.errors and not self.check_errors

    def passed(self, *, strict: bool = False) -> bool:
        return self.ok and not (strict and self.warnings)

    def exit_code(self, *, strict: bool = False) -> int:
        return 0 if self.passed(strict=strict) else 1

    # -- formats ---------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "schema": self.schema,
            "schema_fingerprint": self.schema_fingerprint,
            "target": self.target,
            "rows_checked": self.rows_checked,
            "chunks_checked": self.chunks_checked,
            "chunks_reused": self.chunks_reused,
            "notes": list(self.notes),
            "errors": [f.to_dict() for f in self.errors],
            "warnings": [f.to_dict() for f in self.warnings],
            "check_errors": [
                {
                    "column": f.column,
                    "check": f.check,
                    "error": str(f.examples[0].value) if f.examples else "",
                }
                for f in self.check_errors
            ],
            "counts": {
                "errors": len(self.errors),
                "warnings": len(self.warnings),
                "check_errors": len(self.check_errors),
            },
        }

    def to_json(self) -> dict[str, Any]:
        """The JSON document of SPEC §2 (a dict; ``render("json")`` gives the text)."""
        return self.to_dict()

    def to_json_text(self, *, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False, default=str)

    def render(self, fmt: str = "text", *, strict: bool = False) -> str:
        if fmt == "text":
            return self.to_text(strict=strict)
        if fmt == "json":
            return self.to_json_text() + "\n"
        if fmt == "junit":
            return self.to_junit(strict=strict)
        if fmt == "markdown":
            return self.to_markdown(strict=strict)
        if fmt == "github":
            return self.to_github(strict=strict)
        if fmt == "html":
            from dvtool.validate.html import validation_html

            return validation_html(self, strict=strict)
        raise ValueError(f"unknown report format {fmt!r} (choose from {', '.join(FORMATS)})")

    def _summary(self, strict: bool) -> str:
        verdict = "PASSED" if self.passed(strict=strict) else "FAILED"
        chunks = ""
        if self.chunks_checked or self.chunks_reused:
            chunks = (
                f", {_plural(self.chunks_checked, 'chunk')} checked, {self.chunks_reused} reused"
            )
        raised = f", {_plural(len(self.check_errors), 'check error')}" if self.check_errors else ""
        return (
            f"{verdict}: {self.target} against {self.schema} — "
            f"{_plural(len(self.errors), 'error')}, {_plural(len(self.warnings), 'warning')}{raised} "
            f"({_plural(self.rows_checked, 'row')}{chunks})"
        )

    def to_text(self, *, strict: bool = False) -> str:
        lines = [self._summary(strict)]
        lines += [f"  note: {n}" for n in self.notes]
        for kind, items in (("error", self.errors), ("warning", self.warnings)):
            for f in items:
                also = f" (also {', '.join(f.checks[1:])})" if f.also else ""
                lines.append(f"  {kind:7} {f.label}{also}: {_plural(f.failure_count, 'failure')}")
                if f.examples:
                    lines.append("          " + _examples_text(f))
        for f in self.check_errors:
            lines.append(f"  raised  {f.label}: {_first_value(f)}")
        return "\n".join(printable(line) for line in lines) + "\n"

    def to_junit(self, *, strict: bool = False) -> str:
        """JUnit XML: one testcase per check; failed checks carry a <failure>."""
        failures = {(f.column, c): f for f in self.errors for c in f.checks}
        warned = {(f.column, c): f for f in self.warnings for c in f.checks}
        raised = {(f.column, f.check): f for f in self.check_errors}
        names = list(self.checks)
        for f in (*self.errors, *self.warnings, *self.check_errors):
            for c in f.checks:
                if (f.column, c) not in names:
                    names.append((f.column, c))
        failed = {n for n in names if n in failures or (strict and n in warned)} - set(raised)
        suite = ET.Element(
            "testsuite",
            name=f"dvtool validate {self.target}",
            tests=str(len(names)),
            failures=str(len(failed)),
            errors=str(len(raised)),
            skipped="0",
        )
        props = ET.SubElement(suite, "properties")
        for k, v in (
            ("schema", self.schema),
            ("schema_fingerprint", self.schema_fingerprint),
            ("rows_checked", str(self.rows_checked)),
            ("chunks_checked", str(self.chunks_checked)),
            ("chunks_reused", str(self.chunks_reused)),
        ):
            ET.SubElement(props, "property", name=k, value=v)
        suite_name = self.name or self.schema
        for column, check in names:
            case = ET.SubElement(
                suite,
                "testcase",
                classname=f"{suite_name}.{column}" if column is not None else suite_name,
                name=check,
            )
            boom = raised.get((column, check))
            if boom is not None:
                error = ET.SubElement(
                    case, "error", message=f"{boom.label} raised", type="check_error"
                )
                error.text = _first_value(boom)
                continue
            err = failures.get((column, check))
            w = warned.get((column, check))
            if err is not None or (strict and w is not None):
                item = err if err is not None else w
                assert item is not None
                fail = ET.SubElement(
                    case,
                    "failure",
                    message=f"{item.label}: {_plural(item.failure_count, 'failure')}",
                    type=item.severity,
                )
                whole = "uniqueness" in item.check or item.check == "key_unique"
                fail.text = "\n".join(e.describe(whole=whole) for e in item.examples)
                if item.also:
                    fail.text = f"one fault, reported by {', '.join(item.checks)}\n" + fail.text
            elif w is not None:
                out = ET.SubElement(case, "system-out")
                out.text = f"warning: {_plural(w.failure_count, 'failure')}; " + "; ".join(
                    e.describe() for e in w.examples
                )
        root = ET.Element("testsuites", name="dvtool", tests=suite.get("tests", "0"))
        root.set("failures", suite.get("failures", "0"))
        root.set("errors", suite.get("errors", "0"))
        root.append(suite)
        xml_safe_tree(root)
        ET.indent(root)
        return (
            '<?xml version="1.0" encoding="utf-8"?>\n'
            + ET.tostring(root, encoding="unicode")
            + "\n"
        )

    def to_markdown(self, *, strict: bool = False, limit: int = MARKDOWN_LIMIT) -> str:
        icon = "✅" if self.passed(strict=strict) else "❌"
        head = [
            f"### {icon} dvtool validate: `{md_code(self.target)}`",
            "",
            md_cell(self._summary(strict)),
            "",
        ]
        head += [f"> {md_cell(n)}\n" for n in self.notes]
        rows: list[str] = []
        if self.errors or self.warnings:
            rows += ["| | column | check | failures | examples |", "|---|---|---|---:|---|"]
            for f in (*self.errors, *self.warnings, *self.check_errors):
                mark = (
                    "check error" if f.raised else "error" if f.severity == "error" else "warning"
                )
                examples = _first_value(f) if f.raised else _examples_text(f)
                count = "–" if f.raised else f"{f.failure_count:,}"
                rows.append(
                    f"| {mark} | {md_cell(f.column or '')} | {md_cell(', '.join(f.checks))} | {count} "
                    f"| {md_cell(examples)} |"
                )
        out = "\n".join(head)
        note = "\n\n_…report cut at {n:,} characters; run `dvtool validate --format json` for all of it._\n"
        for i, row in enumerate(rows):
            if len(out) + len(row) + 1 + len(note) + 20 > limit:
                out += note.format(n=limit) if i else ""
                return out
            out += "\n" + row
        return out + "\n"

    def to_github(self, *, strict: bool = False) -> str:
        """Workflow commands: at most 10 error and 10 warning annotations, then a summary line."""
        lines: list[str] = []
        lines_of = dict(self.schema_lines)
        for kind, items in (
            ("error", (*self.check_errors, *self.errors)),
            ("warning", self.warnings),
        ):
            if kind == "warning" and strict:
                kind = "error"
            for f in items[:GITHUB_ANNOTATIONS]:
                props = [f"title={gh_prop('dvtool validate: ' + f.label)}"]
                if self.schema and not self.schema.endswith(":") and f.column in lines_of:
                    props.insert(0, f"file={gh_prop(self.schema)},line={lines_of[f.column]}")
                elif self.schema:
                    props.insert(0, f"file={gh_prop(self.schema)}")
                msg = f"{f.label} failed for {_plural(f.failure_count, 'row')} of {self.target}"
                if f.raised:
                    msg = f"{f.label} raised on {self.target}: {_first_value(f)}"
                elif f.examples:
                    msg += "; " + _examples_text(f)
                lines.append(f"::{kind} {','.join(props)}::{gh_data(msg)}")
            if len(items) > GITHUB_ANNOTATIONS:
                lines.append(
                    f"{len(items) - GITHUB_ANNOTATIONS} more {kind}s not annotated "
                    "(GitHub shows 10 per step); see --format json"
                )
        lines.append(printable(self._summary(strict)))
        return "\n".join(lines) + "\n"


def _examples_text(f: CheckFailure, shown: int = 5) -> str:
    """The first few examples; distinct values (with counts) say how many there are in all."""
    whole = "uniqueness" in f.check or f.check == "key_unique"
    text = "; ".join(e.describe(whole=whole) for e in f.examples[:shown])
    if f.examples and all(e.count is not None for e in f.examples):
        more = f"; … {len(f.examples) - shown:,} more" if len(f.examples) > shown else ""
        return f"{_plural(len(f.examples), 'distinct value')}: {text}{more}"
    return "e.g. " + text


def _first_value(f: CheckFailure) -> str:
    return str(f.examples[0].value) if f.examples else ""


def _full(value: Any) -> str:
    return (
        repr(value)
        if isinstance(value, str)
        else json.dumps(value, ensure_ascii=False, default=str)
    )


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" if n == 1 else f"{n:,} {word}s"


def _short(value: Any, width: int = 60) -> str:
    text = (
        json.dumps(value, ensure_ascii=False, default=str)
        if not isinstance(value, str)
        else repr(value)
    )
    return text if len(text) <= width else text[: width - 1] + "…"


N_EXAMPLES = 5  # examples kept per check


def jsonable(value: Any) -> Any:
    """A JSON-safe form of a failing value, for reports and cached verdicts."""
    return json_value(value)
