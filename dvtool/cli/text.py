"""Text that reaches a terminal: one line per error, no control characters, no credentials.

A message may quote what the user gave (a file name, a column, a commit
message) and that text may hold a newline or an escape sequence; printed raw
it could fake a second line or drive the terminal. Everything the CLI prints
for people passes through :func:`printable` (or :func:`one_line` for error
lines), and every message through :func:`redact_text`.
"""

from __future__ import annotations

import re

from dvtool import redact_text

__all__ = ["one_line", "printable", "redact_text"]

# C0 and C1 controls and DEL; the bidirectional overrides and isolates that can
# reorder what a terminal shows.
_UNSAFE_RE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    ch = match.group(0)
    if ch in _NAMED:
        return _NAMED[ch]
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str, *, keep_newlines: bool = False) -> str:
    """``text`` with control characters escaped (``\\n``, ``\\x1b``, ``\\u202e``)."""
    if keep_newlines:
        return "\n".join(_UNSAFE_RE.sub(_escape, line) for line in text.split("\n"))
    return _UNSAFE_RE.sub(_escape, text)


def one_line(text: str) -> str:
    """An error message as exactly one printable line."""
    return printable(text.strip())
