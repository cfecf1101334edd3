"""Data made safe for each kind of output: one function per kind, used wherever a value is printed.

Cells, column names, file names and messages are data: they may hold an
escape sequence (ESC, ``\\x1b``), a carriage return, a NUL, a newline or a
``|``. Printed raw, they would drive a terminal, fake a line of a report,
split a markdown table cell, end a GitHub workflow command early or make a
JUnit file that no XML parser reads. Each output kind has its own rule:

============  ==========================================================
terminal      :func:`printable`: C0/C1 controls, DEL and the bidi
              overrides written as ``\\n``, ``\\x1b``, ``\\u202e``
markdown      :func:`md_cell` (a table cell or prose line), :func:`md_code`
              (inside backticks)
GitHub        :func:`gh_data` (a workflow command's message),
              :func:`gh_prop` (a property such as ``title=``)
JUnit XML     :func:`xml_text`, :func:`xml_safe_tree` (characters XML 1.0
              cannot hold written as ``\\xNN``)
HTML          ``dvtool.htmlpage.esc`` (``printable`` then HTML-escaped)
============  ==========================================================
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from xml.etree.ElementTree import Element

__all__ = [
    "gh_data",
    "gh_prop",
    "md_cell",
    "md_code",
    "printable",
    "xml_safe_tree",
    "xml_text",
]

# C0 and C1 controls and DEL; the line and paragraph separators; the bidirectional
# overrides and isolates that can reorder what a terminal shows.
_UNSAFE_RE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
)
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    ch = match.group(0)
    if ch in _NAMED:
        return _NAMED[ch]
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str, *, keep_newlines: bool = False) -> str:
    """``text`` for a terminal: control characters escaped (``\\n``, ``\\x1b``, ``\\u202e``).

    ``keep_newlines`` keeps ``\\n`` as a line break (for text that is several
    lines by design); every other control character is still escaped.
    """
    if keep_newlines:
        return "\n".join(_UNSAFE_RE.sub(_escape, line) for line in text.split("\n"))
    return _UNSAFE_RE.sub(_escape, text)


def md_cell(text: str) -> str:
    """One cell of a markdown table (or a line of prose): one line, shown as written.

    Controls are escaped as for a terminal; ``&``, ``<`` and ``>`` become
    entities (no HTML, no autolink); a backslash, ``|``, `````, ``*`` and ``~``
    are backslash-escaped, so a ``|`` never splits the cell and a value ending
    in ``\\`` cannot escape the ``|`` that closes it. Only what could start
    markup is touched, so common text stays readable in the raw comment: ``_``
    between two letters or digits (``order_id``) cannot emphasise and is kept,
    and a ``[`` opens no link unless ``](`` follows, which is escaped.
    """
    return _MD_SPECIAL_RE.sub(_md_escape, printable(text))


_MD_SPECIAL_RE = re.compile(r"[\\`*~|&<>]|\]\(|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")
_MD_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", "](": "]\\("}


def _md_escape(m: re.Match[str]) -> str:
    found = m.group(0)
    return _MD_ENTITIES.get(found) or "\\" + found


def md_code(text: str) -> str:
    """Text inside single backticks in prose (a heading): one line, no backtick can end the span.

    Code spans show backslashes as written, so this is not for table cells: use :func:`md_cell`.
    """
    return printable(text).replace("`", "'")


def gh_data(text: str) -> str:
    """The message of a GitHub workflow command (``::error ...::MESSAGE``): one line, no controls."""
    encoded = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return printable(encoded)


def gh_prop(text: str) -> str:
    """A property value of a workflow command (``title=``, ``file=``)."""
    return gh_data(text).replace(":", "%3A").replace(",", "%2C")


# Characters XML 1.0 cannot hold at all, not even as &#…; references.
_XML_INVALID_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_text(text: str) -> str:
    """``text`` with each character XML 1.0 cannot hold written as ``\\xNN``/``\\uNNNN``."""
    return _XML_INVALID_RE.sub(
        lambda m: (
            f"\\x{ord(m.group(0)):02x}" if ord(m.group(0)) < 0x100 else f"\\u{ord(m.group(0)):04x}"
        ),
        text,
    )


def xml_safe_tree(root: Element) -> None:
    """Make every text and attribute of ``root`` well-formed XML 1.0 (column names are data)."""
    for el in root.iter():
        if el.text:
            el.text = xml_text(el.text)
        if el.tail:
            el.tail = xml_text(el.tail)
        for name, value in list(el.attrib.items()):
            el.set(name, xml_text(value))
