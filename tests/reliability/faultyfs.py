"""A fault-injecting fsspec filesystem, used through dvtool's ordinary FsspecStore.

``faulty://<root>`` wraps a private in-memory filesystem (one per controller,
never fsspec's global memory store). A :class:`Faults` controller, found by
the ``faults`` storage option, decides per operation, from a seeded random
generator, whether to

* fail **before** the side effect (the call raises, nothing happened),
* fail **after** it (a lost acknowledgement: the write landed, the call raises),
* **tear** a write (the first half of the bytes lands under the final key,
  then the call raises: a backend without atomic puts),
* be **slow** (a short sleep), or
* **list incompletely** (a listing omits the keys written most recently,
  like an eventually consistent store).

The same seed gives the same faults for the same sequence of calls.
"""

from __future__ import annotations

import io
import random
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import fsspec
from fsspec.implementations.memory import MemoryFileSystem
from fsspec.spec import AbstractFileSystem

PROTOCOL = "faulty"
_CONTROLLERS: dict[str, Faults] = {}


class InjectedFault(OSError):
    """The error a fault raises (an OSError, like a network or disk failure)."""


@dataclass
class Faults:
    """What to inject. Rates are probabilities per matching call, drawn from ``seed``."""

    seed: int = 0
    ops: frozenset[str] = frozenset({"write", "read", "delete", "list", "exists"})
    before: float = 0.0
    after: float = 0.0
    torn: float = 0.0
    slow: float = 0.0
    hide_recent: int = 0  # listings omit the N most recently written keys
    only: tuple[str, ...] = ()  # if set, only keys containing one of these are faulted
    enabled: bool = True
    log: list[tuple[str, str, str]] = field(default_factory=list)  # (op, key, fault)
    backing: MemoryFileSystem = field(default_factory=lambda: _PrivateMemoryFS())
    _rng: random.Random = field(init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _recent: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def draw(self, op: str, path: str, kinds: tuple[str, ...]) -> str | None:
        if not self.enabled or op not in self.ops:
            return None
        if self.only and not any(part in path for part in self.only):
            return None
        with self._lock:
            for kind in kinds:
                rate = float(getattr(self, kind))
                if rate and self._rng.random() < rate:
                    self.log.append((op, path, kind))
                    return kind
        return None

    def wrote(self, path: str) -> None:
        with self._lock:
            self._recent.append(path)
            del self._recent[: -max(self.hide_recent, 1)]

    def hidden(self) -> set[str]:
        with self._lock:
            return set(self._recent[-self.hide_recent :]) if self.hide_recent else set()

    def age(self, days: float) -> None:
        """Make every stored file look ``days`` older (for grace-period tests)."""
        for f in self.backing.store.values():
            f.created = f.created - timedelta(days=days)


class _PrivateMemoryFS(MemoryFileSystem):  # type: ignore[misc]
    """A memory filesystem with its own store, not fsspec's process-wide one."""

    cachable = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.store: dict[str, Any] = {}
        self.pseudo_dirs = [""]


def register(faults: Faults) -> str:
    """Register a controller; returns the value for the ``faults`` storage option."""
    fsspec.register_implementation(PROTOCOL, FaultyFS, clobber=True)
    name = f"f{id(faults):x}"
    _CONTROLLERS[name] = faults
    return name


class _Writer(io.BytesIO):
    def __init__(self, fs: FaultyFS, path: str) -> None:
        super().__init__()
        self.fs = fs
        self.path = path

    def close(self) -> None:
        if self.closed:
            return
        data = self.getvalue()
        super().close()
        self.fs._commit(self.path, data)


class FaultyFS(AbstractFileSystem):  # type: ignore[misc]
    protocol = (PROTOCOL,)
    root_marker = "/"
    cachable = False

    def __init__(self, faults: str = "", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.faults = _CONTROLLERS[faults]
        self.target = self.faults.backing

    @classmethod
    def _strip_protocol(cls, path: str) -> str:
        if path.startswith(f"{PROTOCOL}://"):
            path = path[len(PROTOCOL) + 3 :]
        return "/" + path.strip("/")

    def _fault(self, op: str, path: str, kinds: tuple[str, ...] = ("before", "slow")) -> str | None:
        kind = self.faults.draw(op, path, kinds)
        if kind == "slow":
            time.sleep(0.01)
            return None
        if kind == "before":
            raise InjectedFault(f"injected {op} failure before the side effect on {path}")
        return kind

    # -- writes ---------------------------------------------------------------------

    def _open(self, path: str, mode: str = "rb", **kwargs: Any) -> Any:
        path = self._strip_protocol(path)
        if "r" in mode:
            self._fault("read", path)
            return io.BytesIO(self.target.cat_file(path))
        if "x" in mode and self.target.exists(path):
            raise FileExistsError(path)
        return _Writer(self, path)

    def _commit(self, path: str, data: bytes) -> None:
        kind = self._fault("write", path, ("before", "after", "torn", "slow"))
        if self.target.exists(path):
            raise FileExistsError(path)
        if kind == "torn":
            self.target.pipe_file(path, data[: max(1, len(data) // 2)])
            self.faults.wrote(path)
            raise InjectedFault(f"injected torn write on {path}")
        self.target.pipe_file(path, data)
        self.faults.wrote(path)
        if kind == "after":
            raise TimeoutError(f"injected lost acknowledgement on {path}")

    def rm_file(self, path: str) -> None:
        path = self._strip_protocol(path)
        kind = self._fault("delete", path, ("before", "after", "slow"))
        self.target.rm_file(path)
        if kind == "after":
            raise TimeoutError(f"injected lost acknowledgement on delete {path}")

    def _rm(self, path: str) -> None:
        self.rm_file(path)

    # -- reads ----------------------------------------------------------------------

    def cat_file(
        self, path: str, start: int | None = None, end: int | None = None, **kwargs: Any
    ) -> bytes:
        path = self._strip_protocol(path)
        self._fault("read", path)
        data: bytes = self.target.cat_file(path, start=start, end=end)
        return data

    def exists(self, path: str, **kwargs: Any) -> bool:
        path = self._strip_protocol(path)
        self._fault("exists", path)
        return bool(self.target.exists(path))

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        info: dict[str, Any] = self.target.info(self._strip_protocol(path))
        return info

    def ls(self, path: str, detail: bool = True, **kwargs: Any) -> Any:
        return self.target.ls(self._strip_protocol(path), detail=detail)

    def find(
        self,
        path: str,
        maxdepth: int | None = None,
        withdirs: bool = False,
        detail: bool = False,
        **kwargs: Any,
    ) -> Any:
        path = self._strip_protocol(path)
        self._fault("list", path)
        found = self.target.find(path, maxdepth=maxdepth, withdirs=withdirs, detail=True)
        hidden = self.faults.hidden()
        found = {k: v for k, v in found.items() if k not in hidden}
        return found if detail else sorted(found)

    def invalidate_cache(self, path: str | None = None) -> None:
        return None

    def created(self, path: str) -> datetime:
        value: datetime = self.target.created(self._strip_protocol(path))
        return value.astimezone(UTC)
