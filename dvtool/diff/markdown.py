"""Text made safe for one cell of a markdown table (pull-request comments): see :mod:`dvtool.escaping`."""

from __future__ import annotations

from dvtool.escaping import md_cell

__all__ = ["md_cell"]
