"""One self-contained HTML page: styles inline, no script, nothing fetched when opened.

The diff and validation reports build their sections with these helpers.
Every piece of data goes through :func:`esc`; the page carries a
Content-Security-Policy that blocks any load (``default-src 'none'``), so a
report that tried to fetch something would say so in the browser's console.
Sections take a byte budget: past it, rows stop and a note says how many were
left out, so a report stays small whatever the input size.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from dvtool.escaping import printable

__all__ = ["MAX_BYTES", "Page", "esc", "table"]

MAX_BYTES = 2_000_000  # a report is always smaller than this

_CSS = """
:root{--fg:#1f2328;--muted:#59636e;--line:#d1d9e0;--bg:#f6f8fa;--bad:#b3261e;--ok:#1a7f37;--warn:#9a6700}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;color:var(--fg);margin:0 auto;padding:24px;max-width:1200px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid var(--line);padding-bottom:4px}
h3{font-size:15px;margin:16px 0 6px}
.muted{color:var(--muted)}
table{border-collapse:collapse;margin:6px 0 12px;font-size:13px}
th,td{border:1px solid var(--line);padding:3px 8px;text-align:left;vertical-align:top}
th{background:var(--bg)}td.n{text-align:right;font-variant-numeric:tabular-nums}
code,td.v{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12px}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-weight:600;font-size:12px}
.bad{background:#ffebe9;color:var(--bad)}.ok{background:#dafbe1;color:var(--ok)}.warn{background:#fff8c5;color:var(--warn)}
.cards{display:flex;flex-wrap:wrap;gap:10px;margin:12px 0}
.card{border:1px solid var(--line);border-radius:6px;padding:8px 14px;min-width:110px}
.card b{display:block;font-size:20px}
.charts{display:flex;flex-wrap:wrap;gap:18px}
figure{margin:0;border:1px solid var(--line);border-radius:6px;padding:8px}
figcaption{font-size:12px;color:var(--muted);max-width:440px}
.note{background:var(--bg);border-left:3px solid var(--line);padding:6px 10px;margin:8px 0}
"""


def esc(value: object) -> str:
    """Text for HTML (quotes too); control characters shown escaped (``\\x1b``), as in the text report."""
    return html.escape(printable(str(value)), quote=True)


def table(
    headers: Sequence[str],
    rows: Iterable[Sequence[str]],
    *,
    budget: int,
    total: int | None = None,
    numeric: Sequence[int] = (),
) -> str:
    """An HTML table of already-escaped cells, cut with a note once ``budget`` bytes are used."""
    out = ["<table><thead><tr>", *(f"<th>{esc(h)}</th>" for h in headers), "</tr></thead><tbody>"]
    used = sum(len(p) for p in out)
    shown = 0
    rows = list(rows) if total is None else rows
    count = total if total is not None else len(rows)  # type: ignore[arg-type]
    for row in rows:
        cells = "".join(
            f'<td class="n">{c}</td>' if i in numeric else f"<td>{c}</td>"
            for i, c in enumerate(row)
        )
        line = f"<tr>{cells}</tr>"
        if used + len(line) > budget:
            break
        out.append(line)
        used += len(line)
        shown += 1
    out.append("</tbody></table>")
    if shown < count:
        out.append(
            f'<p class="note">{count - shown:,} more row(s) not shown, to keep this report small; '
            "the JSON format has them all.</p>"
        )
    return "".join(out)


@dataclass(slots=True)
class Page:
    """An HTML document being built, section by section."""

    title: str
    parts: list[str] = field(default_factory=list)

    def add(self, fragment: str) -> None:
        self.parts.append(fragment)

    def h2(self, text: str, anchor: str) -> None:
        self.parts.append(f'<h2 id="{esc(anchor)}">{esc(text)}</h2>')

    def render(self, generator: str) -> str:
        csp = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
        return (
            "<!DOCTYPE html>\n"
            '<html lang="en"><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{csp}">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<meta name="generator" content="{esc(generator)}">'
            f"<title>{esc(self.title)}</title><style>{_CSS}</style></head><body>"
            + "".join(self.parts)
            + "</body></html>\n"
        )
