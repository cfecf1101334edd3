"""A quiet progress line on stderr: only on a terminal, only after a moment, off with --quiet."""

from __future__ import annotations

import os
import sys
import time
from types import TracebackType
from typing import TextIO

__all__ = ["Progress"]

DELAY = 0.7  # seconds before the first draw: quick commands print nothing
INTERVAL = 0.2


class Progress:
    """Counts units (rows, chunks, objects) and redraws one stderr line now and then.

    ``with Progress("snapshot orders", "rows", enabled=not quiet) as p: p.advance(n)``
    """

    def __init__(
        self,
        label: str,
        unit: str,
        *,
        total: int | None = None,
        enabled: bool = True,
        stream: TextIO | None = None,
    ) -> None:
        self.stream = stream or sys.stderr
        self.label = label
        self.unit = unit
        self.total = total
        self.count = 0
        self.enabled = enabled and _is_terminal(self.stream) and os.environ.get("TERM") != "dumb"
        self._start = time.monotonic()
        self._last = 0.0
        self._drawn = False

    def advance(self, n: int = 1) -> None:
        self.count += n
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._start < DELAY or now - self._last < INTERVAL:
            return
        self._last = now
        self._draw(now)

    def _draw(self, now: float) -> None:
        rate = self.count / max(1e-9, now - self._start)
        if self.total:
            done = min(1.0, self.count / self.total)
            width = 24
            bar = "#" * int(done * width) + "-" * (width - int(done * width))
            text = f"{self.label} [{bar}] {self.count:,}/{self.total:,} {self.unit}"
        else:
            text = f"{self.label}: {self.count:,} {self.unit} ({rate:,.0f}/s)"
        self.stream.write("\r" + text[:150] + "\x1b[K")
        self.stream.flush()
        self._drawn = True

    def close(self) -> None:
        if self._drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._drawn = False

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
