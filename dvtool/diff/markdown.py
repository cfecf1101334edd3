"""Text made safe for one cell of a markdown table (pull-request comments)."""

from __future__ import annotations

__all__ = ["md_cell"]


def md_cell(text: str) -> str:
    """A markdown table cell: no pipes, no newlines, no HTML."""
    return (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace("|", "\\|")
        .replace("\n", " ")
    )
