"""Named crash points: let tests stop or kill the process at a chosen step.

Writers call :func:`crash_point` with a name at the steps whose interruption
matters (``snapshot.after_objects_published``, ``gc.mid_sweep``, …). Normally it
is one dictionary lookup and returns. Tests drive it from the environment of a
subprocess:

* ``DVTOOL_CRASH_AT=<name>`` makes the process ``os._exit(137)`` there: no
  ``finally`` blocks, no flushing, the same as ``kill -9`` at that line.
* ``DVTOOL_PAUSE_AT=<name>`` with ``DVTOOL_PAUSE_FILE=<path>`` creates
  ``<path>.paused`` when the point is reached, then waits until ``<path>``
  exists (at most ``DVTOOL_PAUSE_TIMEOUT`` seconds, default 120). A test uses
  it to run another command in the gap, or to deliver a real SIGKILL there.

In-process tests can :func:`arm` a point with an exception instead; it derives
from BaseException so no ``except Exception`` in dvtool swallows it, like a
KeyboardInterrupt.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["CRASH_EXIT_CODE", "POINTS", "SimulatedCrash", "arm", "crash_point"]

CRASH_EXIT_CODE = 137  # what a shell reports for SIGKILL

# Every point dvtool calls; tests iterate over these, so a new point is tested by default.
POINTS: dict[str, tuple[str, ...]] = {
    "snapshot": (
        "snapshot.after_chunks_staged",
        "snapshot.after_objects_published",
        "snapshot.after_manifest_written",
        "snapshot.before_version_entry",
        "snapshot.after_version_entry",
    ),
    "push": (
        "transfer.after_objects",
        "transfer.before_version_entry",
        "transfer.after_version_entry",
    ),
    "gc": ("gc.after_mark", "gc.mid_sweep"),
    # A keyed snapshot stored as a patch (the snapshot points above apply too).
    "patch": ("snapshot.after_patch_planned",),
    # 'dvtool compact' (then the snapshot commit points above).
    "compact": ("compact.after_chunks_staged", "compact.after_objects_published"),
}

_armed: dict[str, BaseException] = {}


class SimulatedCrash(BaseException):
    """Raised at an armed point by in-process tests; never caught by dvtool."""


def crash_point(name: str) -> None:
    """Crash, pause or raise here if a test asked for it; otherwise do nothing."""
    if _armed:
        exc = _armed.pop(name, None)
        if exc is not None:
            raise exc
    if os.environ.get("DVTOOL_CRASH_AT") == name:
        os._exit(CRASH_EXIT_CODE)
    if os.environ.get("DVTOOL_PAUSE_AT") == name:
        _pause(name)


def _pause(name: str) -> None:
    release = os.environ.get("DVTOOL_PAUSE_FILE")
    if not release:
        return
    path = Path(release)
    Path(f"{release}.paused").write_text(f"{os.getpid()} {name}\n")
    deadline = time.monotonic() + float(os.environ.get("DVTOOL_PAUSE_TIMEOUT", "120"))
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.02)


@contextmanager
def arm(name: str, exc: BaseException | None = None) -> Iterator[None]:
    """Raise ``exc`` (default SimulatedCrash) the next time ``name`` is reached, in this process."""
    if not any(name in points for points in POINTS.values()):
        raise ValueError(f"unknown crash point {name!r}")
    _armed[name] = exc if exc is not None else SimulatedCrash(name)
    try:
        yield
    finally:
        _armed.pop(name, None)
