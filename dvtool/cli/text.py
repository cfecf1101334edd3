"""Text that reaches a terminal: one line per error, no control characters, no credentials.

A message may quote what the user gave (a file name, a column, a commit
message) and that text may hold a newline or an escape sequence; printed raw
it could fake a second line or drive the terminal. Everything the CLI prints
for people passes through :func:`printable` (or :func:`one_line` for error
lines), and every message through :func:`redact_text`.
"""

from __future__ import annotations

from dvtool import printable, redact_text

__all__ = ["one_line", "printable", "redact_text"]


def one_line(text: str) -> str:
    """An error message as exactly one printable line."""
    return printable(text.strip())
