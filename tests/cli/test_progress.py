"""Progress lines: only on a terminal, never with --quiet, cleared at the end."""

from __future__ import annotations

import io

import pytest

from dvtool.cli import progress


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_draws_on_a_terminal_and_clears(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(progress, "DELAY", 0.0)
    monkeypatch.setattr(progress, "INTERVAL", 0.0)
    term = FakeTerminal()
    with progress.Progress("snapshot orders", "rows", stream=term) as bar:
        bar.advance(1500)
        bar.advance(500)
    text = term.getvalue()
    assert "snapshot orders: 2,000 rows" in text
    assert text.endswith("\r\x1b[K")


def test_silent_when_not_a_terminal_or_quiet(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(progress, "DELAY", 0.0)
    plain = io.StringIO()
    with progress.Progress("x", "rows", stream=plain) as bar:
        bar.advance(10)
    assert plain.getvalue() == ""
    term = FakeTerminal()
    with progress.Progress("x", "rows", stream=term, enabled=False) as bar:
        bar.advance(10)
    assert term.getvalue() == ""
