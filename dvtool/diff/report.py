"""The result of a diff as a frozen value, its text, JSON and markdown forms, and
the parts of a diff that need no data: schema changes and manifest statistics.

:mod:`dvtool.diff.plan` compares rows in DuckDB and builds a :class:`Diff`; this
module describes and renders it, so renderers can be tested on hand-made values. The JSON keys
are the stable interface of SPEC §2 (documented in docs/diff.md).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from dvtool.diff.columns import ColumnComparison
from dvtool.diff.drift import Drift
from dvtool.diff.policy import PolicyResult
from dvtool.diff.schemachanges import (
    ColumnChange,
    SchemaDiff,
    StatChange,
    column_summary,
    schema_diff,
    stats_changes,
    widens,
)
from dvtool.diff.validation import DiffValidation
from dvtool.escaping import md_cell, md_code, printable
from dvtool.format.jsonvalues import json_value

__all__ = [
    "MARKDOWN_LIMIT",
    "ChangedRow",
    "ChunkCounts",
    "ColumnChange",
    "Diff",
    "RowCounts",
    "Samples",
    "SchemaDiff",
    "StatChange",
    "column_summary",
    "json_value",
    "schema_diff",
    "stats_changes",
    "widens",
]

# GitHub refuses comments over 65,536 characters; stay well under it.
MARKDOWN_LIMIT = 60_000

Row = Mapping[str, Any]


def _frozen(d: Mapping[str, Any] | None = None) -> Mapping[str, Any]:
    return MappingProxyType(dict(d or {}))


def _show(value: Any, width: int = 60) -> str:
    """One cell for people: JSON-like, one line, cut at ``width`` characters."""
    if value is None:
        text = "null"
    elif type(value) is str:  # not Exact, a value already in its JSON text: shown as is
        text = json.dumps(value, ensure_ascii=False)
    else:
        v = json_value(value)
        text = v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)
    text = text.replace("\n", "\\n").replace("\r", "\\r")
    return text if len(text) <= width else text[: width - 1] + "…"


@dataclass(frozen=True, slots=True)
class RowCounts:
    added: int = 0
    removed: int = 0
    changed: int = 0
    unchanged: int = 0

    @property
    def old(self) -> int:
        return self.removed + self.changed + self.unchanged

    @property
    def new(self) -> int:
        return self.added + self.changed + self.unchanged

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed)

    def to_dict(self) -> dict[str, int]:
        return {
            "added": self.added,
            "removed": self.removed,
            "changed": self.changed,
            "unchanged": self.unchanged,
        }


@dataclass(frozen=True, slots=True)
class ChangedRow:
    """A changed row: its key and, per changed column, the old and new value."""

    key: Row
    changes: Mapping[str, tuple[Any, Any]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": json_value(dict(self.key)),
            "changes": {
                c: {"old": json_value(o), "new": json_value(n)}
                for c, (o, n) in self.changes.items()
            },
        }


@dataclass(frozen=True, slots=True)
class Samples:
    """The first rows of each kind, in key order (whole-row order without a key)."""

    added: tuple[Row, ...] = ()
    removed: tuple[Row, ...] = ()
    changed: tuple[ChangedRow, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "added": [json_value(dict(r)) for r in self.added],
            "removed": [json_value(dict(r)) for r in self.removed],
            "changed": [c.to_dict() for c in self.changed],
        }


@dataclass(frozen=True, slots=True)
class ChunkCounts:
    """How much of each side was read: chunk pairs with equal fingerprints are skipped."""

    old: int = 0
    new: int = 0
    skipped: int = 0  # pairs of identical chunks, never read
    compared: int = 0  # chunks read (old + new)

    def to_dict(self) -> dict[str, int]:
        return {
            "old": self.old,
            "new": self.new,
            "skipped": self.skipped,
            "compared": self.compared,
        }


@dataclass(frozen=True, slots=True)
class Diff:
    """Everything that differs between two sides. Immutable; render with to_json/to_markdown/to_text."""

    old: str
    new: str
    key: tuple[str, ...]
    schema: SchemaDiff
    rows: RowCounts
    columns: Mapping[str, int] = field(default_factory=_frozen)
    samples: Samples = field(default_factory=Samples)
    chunks: ChunkCounts = field(default_factory=ChunkCounts)
    stats: tuple[StatChange, ...] | None = None  # only with stats=True
    limit: int = 10
    comparison: Mapping[str, ColumnComparison] = field(default_factory=_frozen)  # keyed diffs
    drift: Drift | None = None  # with distributions=True or a policy
    policy: PolicyResult | None = None
    notes: tuple[str, ...] = ()  # how the sides were read, said once (e.g. recorded read options)
    validation: DiffValidation | None = (
        None  # both sides against --schema, or their recorded verdicts
    )

    @property
    def passed(self) -> bool:
        """False when a drift policy was breached, or NEW fails the schema given (``schema=``)."""
        return (self.policy is None or self.policy.ok) and (
            self.validation is None or self.validation.passed
        )

    def render(self, fmt: str) -> str:
        """The report as text, json, markdown, junit, github or html (diff/review.py, diff/html.py)."""
        from dvtool.diff import review

        return review.render(self, fmt)

    @property
    def empty(self) -> bool:
        """True when nothing differs (schema and rows)."""
        return self.schema.empty and self.rows.empty

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "old": self.old,
            "new": self.new,
            "key": list(self.key),
            "identical": self.empty,
            "schema": self.schema.to_dict(),
            "rows": self.rows.to_dict(),
            "total": {"old": self.rows.old, "new": self.rows.new},
            "columns": dict(self.columns),
            "samples": self.samples.to_dict(),
            "chunks": self.chunks.to_dict(),
        }
        if self.stats is not None:
            d["stats"] = {s.column: s.to_dict() for s in self.stats}
        if self.key:
            d["comparison"] = {c: v.to_dict() for c, v in self.comparison.items()}
        if self.drift is not None:
            d["drift"] = self.drift.to_dict()
        if self.policy is not None:
            d["policy"] = self.policy.to_dict()
        if self.validation is not None:
            d["validation"] = self.validation.to_dict()
        if self.notes:
            d["notes"] = list(self.notes)
        return d

    def to_json(self, *, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False, allow_nan=False)

    # ---- text -----------------------------------------------------------------

    def to_text(self) -> str:
        keytxt = (
            f"key: {', '.join(self.key)}"
            if self.key
            else "no key: whole rows compared as a multiset"
        )
        lines = [f"diff {self.old} → {self.new}  ({keytxt})"]
        lines += [f"  note: {n}" for n in self.notes]
        if self.empty:
            lines.append(f"identical: {self.rows.unchanged} rows, same schema")
        lines.append(_schema_summary(self.schema))
        for c in self.schema.added:
            lines.append(f"  + {c.column}  {c.new}{_breaking(c)}")
        for c in self.schema.removed:
            lines.append(f"  - {c.column}  {c.old}{_breaking(c)}")
        for c in self.schema.changed:
            lines.append(f"  ~ {c.column}  {c.old} → {c.new}{_breaking(c)}")
        r = self.rows
        lines.append(
            f"rows: {r.old} → {r.new}: +{r.added} added, -{r.removed} removed, "
            f"~{r.changed} changed, {r.unchanged} unchanged"
        )
        changed_cols = [(c, n) for c, n in self.columns.items() if n]
        if changed_cols:
            lines.append("columns changed: " + ", ".join(f"{c} {n}" for c, n in changed_cols))
        lines.append(_chunk_summary(self.chunks))
        from dvtool.diff.review import text_sections

        lines.extend(text_sections(self))
        if self.validation is not None:
            from dvtool.diff.validation import text_lines

            lines.extend(text_lines(self.validation))
        if self.stats:
            lines.append("stats (from the manifests):")
            for s in self.stats:
                lines.append(f"  {s.column}: " + "; ".join(_stat_parts(s)))
        lines.extend(self._text_samples())
        return "\n".join(printable(line) for line in lines) + "\n"

    def _text_samples(self) -> list[str]:
        out: list[str] = []
        s = self.samples
        order = "key" if self.key else "row"
        for kind, rows, total in (
            ("added", s.added, self.rows.added),
            ("removed", s.removed, self.rows.removed),
        ):
            if rows:
                out.append(f"{kind} (first {len(rows)} of {total} by {order}):")
                sign = "+" if kind == "added" else "-"
                out.extend(
                    f"  {sign} " + "  ".join(f"{k}={_show(v)}" for k, v in row.items())
                    for row in rows
                )
        if s.changed:
            out.append(f"changed (first {len(s.changed)} of {self.rows.changed} by key):")
            for c in s.changed:
                keys = "  ".join(f"{k}={_show(v)}" for k, v in c.key.items())
                vals = "; ".join(
                    f"{col}: {_show(o)} → {_show(n)}" for col, (o, n) in c.changes.items()
                )
                out.append(f"  ~ {keys}  {vals}")
        return out

    # ---- markdown -------------------------------------------------------------

    def to_markdown(self, *, max_chars: int = MARKDOWN_LIMIT) -> str:
        """A pull-request comment: summary table, schema, column counts, samples; cut before ``max_chars``."""
        r = self.rows
        head = [
            f"### dvtool diff: `{md_code(self.old)}` → `{md_code(self.new)}`",
            "",
            "| old rows | new rows | added | removed | changed | unchanged | schema changes | chunks skipped |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|",
            f"| {r.old} | {r.new} | {r.added} | {r.removed} | {r.changed} | {r.unchanged} "
            f"| {len(self.schema.added) + len(self.schema.removed) + len(self.schema.changed)}"
            f"{' (breaking)' if self.schema.breaking else ''} "
            f"| {self.chunks.skipped} of {max(self.chunks.old, self.chunks.new)} |",
            "",
            "Key: "
            + (
                ", ".join(f"`{md_code(k)}`" for k in self.key)
                if self.key
                else "none (whole rows compared)"
            ),
        ]
        for note in self.notes:
            head += ["", f"> {md_cell(note)}"]
        from dvtool.diff.review import markdown_policy, markdown_sections

        body: list[str] = markdown_policy(self)
        if self.validation is not None:
            from dvtool.diff.validation import markdown_lines

            body += markdown_lines(self.validation)
        if not self.schema.empty:
            body += [
                "",
                "#### Schema",
                "",
                "| | column | old type | new type | breaking |",
                "|---|---|---|---|---|",
            ]
            for sign, changes in (
                ("+", self.schema.added),
                ("−", self.schema.removed),
                ("~", self.schema.changed),
            ):
                body += [
                    f"| {sign} | {md_cell(c.column)} | {md_cell(c.old or '')} | {md_cell(c.new or '')} | {'yes' if c.breaking else 'no'} |"
                    for c in changes
                ]
        changed_cols = [(c, n) for c, n in self.columns.items() if n]
        if changed_cols:
            body += [
                "",
                "#### Changed values per column",
                "",
                "| column | rows changed |",
                "|---|---:|",
            ]
            body += [f"| {md_cell(c)} | {n} |" for c, n in changed_cols]
        body += markdown_sections(self)
        if self.stats:
            body += [
                "",
                "#### Column statistics (from the manifests)",
                "",
                "| column | nulls | min | max |",
                "|---|---|---|---|",
            ]
            for s in self.stats:
                body.append(
                    f"| {md_cell(s.column)} | {_md_pair(s.nulls)} | {_md_pair(s.min)} | {_md_pair(s.max)} |"
                )
        body += self._md_samples()
        # Every value went through md_cell/md_code; this keeps any other text one line too.
        return _cut([printable(h) for h in head], [printable(b) for b in body], max_chars)

    def _md_samples(self) -> list[str]:
        out: list[str] = []
        s = self.samples
        for kind, rows, total in (
            ("Added", s.added, self.rows.added),
            ("Removed", s.removed, self.rows.removed),
        ):
            if not rows:
                continue
            cols = list(rows[0].keys())
            out += ["", f"#### {kind} rows (first {len(rows)} of {total})", ""]
            out.append("| " + " | ".join(md_cell(c) for c in cols) + " |")
            out.append("|" + "---|" * len(cols))
            out += [
                "| " + " | ".join(md_cell(_show(row.get(c))) for c in cols) + " |" for row in rows
            ]
        if s.changed:
            out += ["", f"#### Changed rows (first {len(s.changed)} of {self.rows.changed})", ""]
            out += ["| key | column | old → new |", "|---|---|---|"]
            for c in s.changed:
                key = ", ".join(f"{k}={_show(v)}" for k, v in c.key.items())
                for col, (o, n) in c.changes.items():
                    out.append(
                        f"| {md_cell(key)} | {md_cell(col)} | {md_cell(_show(o))} → {md_cell(_show(n))} |"
                    )
        return out


def _breaking(c: ColumnChange) -> str:
    return "  (breaking)" if c.breaking else ""


def _schema_summary(s: SchemaDiff) -> str:
    if s.empty:
        return "schema: unchanged"
    return f"schema: {len(s.added)} added, {len(s.removed)} removed, {len(s.changed)} retyped" + (
        "  (breaking)" if s.breaking else ""
    )


def _chunk_summary(c: ChunkCounts) -> str:
    if not (c.old or c.new):
        return "chunks: none (SOURCE sides are read whole)"
    return (
        f"chunks: {c.skipped} identical on both sides not compared, "
        f"{c.compared} read to compare rows (of {c.old} old, {c.new} new)"
    )


def _stat_parts(s: StatChange) -> list[str]:
    parts = []
    for name, (o, n) in (("nulls", s.nulls), ("min", s.min), ("max", s.max)):
        if o != n:
            parts.append(f"{name} {_show(o)} → {_show(n)}")
    return parts


def _md_pair(pair: tuple[Any, Any]) -> str:
    o, n = pair
    return md_cell(_show(o, 30)) if o == n else f"{md_cell(_show(o, 30))} → {md_cell(_show(n, 30))}"


def _cut(head: list[str], body: list[str], max_chars: int) -> str:
    text = "\n".join(head)
    total = len(text)
    kept: list[str] = []
    for i, line in enumerate(body):
        if total + len(line) + 1 > max_chars - 300:
            note = (
                f"\n\n> **Cut:** this report passed {max_chars:,} characters; {len(body) - i} more lines "
                "are not shown. Run `dvtool diff … --format json` for the whole report."
            )
            return text + "\n" + "\n".join(kept) + note + "\n"
        kept.append(line)
        total += len(line) + 1
    return text + ("\n" + "\n".join(kept) if kept else "") + "\n"
