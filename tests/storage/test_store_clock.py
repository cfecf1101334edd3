"""A store's clock is the time its own listing gives a fresh file, not this machine's.

gc and prune measure grace periods with ``Store.now()``: on a remote whose clock
differs from the local one, the local clock would make young files look old.
The stores below are local folders whose listings report other times, as a
remote with its own clock does.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from dvtool.errors import StorageError
from dvtool.storage import LocalStore, StoreEntry

BEHIND = timedelta(days=1)
OLD = datetime(2001, 1, 1, tzinfo=UTC)


class DayBehindStore(LocalStore):
    """Listings report every file's time one day behind this machine's clock."""

    def scan(self, prefix: str) -> Iterator[StoreEntry]:
        for e in super().scan(prefix):
            assert e.modified is not None
            yield StoreEntry(e.key, e.size, e.modified - BEHIND)


class OtherFileFirstStore(DayBehindStore):
    """The listing of ``tmp`` names another (old) file before the probe."""

    def scan(self, prefix: str) -> Iterator[StoreEntry]:
        yield StoreEntry(f"{prefix}/other", 1, OLD)
        yield from super().scan(prefix)


class NoTimesStore(LocalStore):
    """A listing without times (some backends): the local clock is all there is."""

    def scan(self, prefix: str) -> Iterator[StoreEntry]:
        for e in super().scan(prefix):
            yield StoreEntry(e.key, e.size, None)


class UndeletableStore(DayBehindStore):
    def delete(self, key: str) -> None:
        raise StorageError(f"cannot delete {key}: read-only")


def _close(a: datetime, b: datetime) -> bool:
    return abs(a - b) < timedelta(minutes=5)


def test_now_is_the_time_the_store_lists_for_its_probe(tmp_path: Path) -> None:
    store = DayBehindStore(tmp_path)
    assert _close(store.now(), datetime.now(UTC) - BEHIND)
    assert store.list("tmp") == []  # the probe is gone


def test_now_reads_the_probe_s_own_entry_not_another_file(tmp_path: Path) -> None:
    store = OtherFileFirstStore(tmp_path)
    assert _close(store.now(), datetime.now(UTC) - BEHIND)


def test_now_without_listed_times_is_the_local_clock(tmp_path: Path) -> None:
    assert _close(NoTimesStore(tmp_path).now(), datetime.now(UTC))


def test_a_probe_that_cannot_be_deleted_does_not_stop_the_clock(tmp_path: Path) -> None:
    store = UndeletableStore(tmp_path)
    assert _close(store.now(), datetime.now(UTC) - BEHIND)
