"""Turning results into text for people and JSON for programs. No I/O decisions here."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from dvtool.cli.text import printable

__all__ = ["human_bytes", "json_text", "short_id", "table"]


def json_text(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


def short_id(object_id: str) -> str:
    return object_id.split(":", 1)[-1][:12]


def human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1000 or unit == "TB":
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{n} B"


def table(
    headers: Sequence[str], rows: Sequence[Sequence[Any]], *, right: Sequence[int] = ()
) -> str:
    """A plain aligned text table."""
    cells = [[printable(str(h)) for h in headers]] + [
        ["" if c is None else printable(str(c)) for c in r] for r in rows
    ]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = []
    for n, r in enumerate(cells):
        parts = [c.rjust(widths[i]) if i in right else c.ljust(widths[i]) for i, c in enumerate(r)]
        lines.append("  ".join(parts).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def snapshot_text(result: Any) -> str:
    d = result.to_json()
    note = ""
    if (
        getattr(result, "read_from", None)
        and result.read is not None
        and not result.read.is_default
    ):
        note = f"\n(read with {result.read.describe()}, as recorded in {result.read_from})"
    elif getattr(result, "read_from", None):
        note = f"\n(the SOURCE recorded in {result.read_from})"
    if d["unchanged"]:
        tagged = f"; tagged v{d['version']} {d['tag']}" if d.get("tag") else ""
        return (
            f"{d['dataset']}: unchanged (same data as v{d['version']}, {short_id(d['id'])}); "
            f"nothing committed{tagged}{note}"
        )
    tag = f", tagged {d['tag']}" if d.get("tag") else ""
    patch = d.get("patch")
    patched = (
        f" + a patch of {patch['upserts']:,} upserted and {patch['removed']:,} removed rows"
        if patch
        else ""
    )
    return (
        f"{d['dataset']}@v{d['version']} {short_id(d['id'])}: {d['rows']:,} rows in {d['chunks']} "
        f"chunk{'s' * (d['chunks'] != 1)}{patched} "
        f"({d['new_chunks']} new, {human_bytes(d['bytes_written'])} written){tag}{note}"
    )


def log_text(entries: Sequence[Any]) -> str:
    rows = [
        (
            f"v{e.version}",
            short_id(e.id),
            e.created[:19].replace("T", " "),
            f"{e.rows:,}",
            ",".join(e.tags),
            f"[pruned] {e.message}".rstrip() if getattr(e, "pruned", False) else e.message,
        )
        for e in entries
    ]
    return table(["version", "id", "created (UTC)", "rows", "tags", "message"], rows, right=[3])


def ls_text(infos: Sequence[Any]) -> str:
    if not infos:
        return "no datasets yet; add one with: dvtool snapshot FILE -d NAME"
    rows = [
        (
            i.name,
            f"v{i.version}",
            f"{i.rows:,}",
            human_bytes(i.bytes),
            i.updated[:19].replace("T", " "),
        )
        for i in infos
    ]
    return table(["dataset", "latest", "rows", "bytes", "updated (UTC)"], rows, right=[2, 3])


def show_json(snapshot: Any) -> dict[str, Any]:
    m = snapshot.manifest
    d: dict[str, Any] = m.to_dict()
    d.pop("kind", None)
    d["schema"] = d["schema"]["fields"]
    d["id"] = snapshot.id
    d["tags"] = list(snapshot.tags)
    return d


def show_text(snapshot: Any) -> str:
    m = snapshot.manifest
    lines = [
        f"snapshot  {m.dataset}@v{m.version}  {snapshot.id}",
        f"created   {printable(m.created)}",
        f"message   {printable(m.message)}" if m.message else "message   (none)",
        f"parent    {m.parent or '(none)'}",
        f"rows      {m.rows:,}",
        f"chunks    {len(m.chunks)} ({human_bytes(m.bytes)})"
        + (
            f" + a patch of {m.patch.upserts.rows:,} upserted and {m.patch.removed.rows:,} removed rows "
            f"over {len(m.patch.ranges)} of them (format 2)"
            if m.patch is not None
            else ""
        ),
        f"key       {', '.join(m.key) if m.key else '(none)'}",
        f"data      {m.fingerprint}",
    ]
    if snapshot.tags:
        lines.append(f"tags      {', '.join(snapshot.tags)}")
    for k, v in m.meta:
        lines.append(f"meta      {printable(k)}={printable(v)}")
    if m.validation is not None:
        v = m.validation
        verdict = "passed" if v.ok else "FAILED"
        lines.append(
            f"validated {verdict} against {printable(v.schema_name)} ({short_id(v.schema_fingerprint)}): "
            f"{v.errors} errors, {v.warnings} warnings"
        )
    stats = _column_stats(m.schema, snapshot.chunks)  # a patched chunk: its stats after the patch
    rows = [
        (f.name, str(f.type), f"{stats[f.name][0]:,}", stats[f.name][1], stats[f.name][2])
        for f in m.schema
    ]
    lines.append("")
    lines.append(table(["column", "type", "nulls", "min", "max"], rows, right=[2]))
    return "\n".join(lines)


def _column_stats(schema: Any, chunks: Any) -> dict[str, tuple[int, str, str]]:
    out: dict[str, tuple[int, str, str]] = {}
    for f in schema:
        nulls = 0
        lo: Any = None
        hi: Any = None
        known = True
        for c in chunks:
            s = c.stats_dict().get(f.name)
            if s is None:
                known = False
                continue
            nulls += s.nulls
            if s.min is None or s.max is None:
                if s.nulls < c.rows:
                    known = False
                continue
            try:
                lo = s.min if lo is None or s.min < lo else lo
                hi = s.max if hi is None or s.max > hi else hi
            except TypeError:
                known = False
        out[f.name] = (nulls, _cell(lo) if known else "", _cell(hi) if known else "")
    return out


def _cell(v: Any) -> str:
    if v is None:
        return ""
    text = str(v)
    return text if len(text) <= 32 else text[:31] + "…"


def transfer_text(summary: Any) -> str:
    """Push/pull summary: what each dataset got, then objects and bytes copied."""
    lines = []
    for d in summary.datasets:
        if not d.versions and not d.tags:
            lines.append(f"{d.dataset}: up to date (v{d.head}) in {summary.target}")
            continue
        got = []
        if d.versions:  # only tags may be new
            span = (
                f"v{d.versions[0]}"
                if len(d.versions) == 1
                else f"v{d.versions[0]}..v{d.versions[-1]}"
            )
            got.append(f"{span} ({len(d.versions)} version{'s' * (len(d.versions) != 1)})")
        if d.tags:
            got.append(f"tag{'s' * (len(d.tags) != 1)} {', '.join(d.tags)}")
        lines.append(f"{d.dataset}: copied {' and '.join(got)} to {summary.target}")
    if summary.up_to_date:
        return "\n".join(lines)
    lines.append(
        f"{summary.objects} chunk{'s' * (summary.objects != 1)} copied "
        f"({human_bytes(summary.object_bytes)}), {summary.objects_present} already there; "
        f"{human_bytes(summary.bytes)} written in all"
    )
    return "\n".join(lines)


def status_text(result: Any) -> str:
    """``dvtool status``: one block per dataset, then the repository's sizes."""
    lines: list[str] = []
    if not result.datasets:
        lines.append("no datasets yet; add one with: dvtool snapshot FILE -d NAME")
    width = max((len(d.dataset) for d in result.datasets), default=0)
    for d in result.datasets:
        tags = f" ({', '.join(d.tags)})" if d.tags else ""
        state = (
            d.state if d.source is not None else "no source recorded (data from memory or stdin)"
        )
        lines.append(f"{d.dataset:<{width}}  v{d.version}{tags}  {state}")
        if d.source is not None:
            files = len(d.source.files)
            where = " ".join(d.source.args)
            if files != 1 or len(d.source.args) != 1:
                where += f" ({files} file{'s' * (files != 1)})"
            read = d.read_options.describe() if d.read_options is not None else "defaults"
            lines.append(
                f"{'':<{width}}  source {where}"
                + (f"  read with {read}" if read != "defaults" else "")
            )
        if d.check is not None:
            for detail in d.check.details[:5]:
                lines.append(f"{'':<{width}}    {detail}")
            if len(d.check.details) > 5:
                lines.append(f"{'':<{width}}    ... {len(d.check.details) - 5} more")
    z = result.sizes
    lines.append("")
    lines.append(
        f"chunks: {human_bytes(z.latest_bytes)} in {z.latest_chunks:,} referenced by the latest versions, "
        f"{human_bytes(z.all_bytes)} in {z.all_chunks:,} by all versions, "
        f"{human_bytes(z.unreferenced_bytes)} in {z.unreferenced_chunks:,} unreferenced (freed by 'dvtool gc')"
    )
    if z.missing_chunks:
        lines.append(
            f"{z.missing_chunks:,} referenced chunks are missing from the store; run 'dvtool fsck'"
        )
    if result.changed:
        names = " ".join(d.dataset for d in result.changed)
        lines.append(f"changed: {names}; snapshot again with: dvtool snapshot -d NAME")
    return "\n".join(lines)
