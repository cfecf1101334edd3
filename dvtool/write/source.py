"""The SOURCE of a new version: opened, checked, and read as the dataset's last one was.

A snapshot of the same SOURCE as the latest version (the same files, folder,
glob or URL) reuses the read options recorded in that version when none are
given, so a daily re-snapshot reads ``NA`` cells the way the first one did.
With no SOURCE at all, the latest version's recorded SOURCE, format, read
options and key are used: ``dvtool snapshot -d flights`` after ``dvtool
status`` said it changed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dvtool.catalog import Catalog
from dvtool.errors import UsageError
from dvtool.ingest.readoptions import ReadOptions
from dvtool.ingest.sources import Source, open_source
from dvtool.ingest.sourcestate import source_args

__all__ = ["OpenedSource", "open_for_snapshot"]


@dataclass(frozen=True, slots=True)
class OpenedSource:
    source: Source
    key: tuple[str, ...]
    reused_from: str | None  # "NAME@vN" whose recorded read options (or SOURCE) were used


def open_for_snapshot(
    catalog: Catalog,
    source: Any,
    *,
    dataset: str,
    key: Sequence[str],
    format: str | None,
    read: ReadOptions | None,
    storage_options: Mapping[str, str],
) -> OpenedSource:
    """Open ``source`` (None: the recorded one) for the next version of ``dataset``; check key and columns."""
    head = catalog.head(dataset)
    parent = catalog.manifest_of(head) if head is not None else None
    recorded = parent.source if parent is not None else None
    reused_from = None
    key = tuple(key)
    if source is None:
        if parent is None or recorded is None:
            what = (
                f"{dataset} has no version yet"
                if parent is None
                else (
                    f"{dataset}@v{parent.version} was not snapshotted from files, so no SOURCE is recorded"
                )
            )
            raise UsageError(f"name a SOURCE to snapshot: {what}")
        source = recorded.args[0] if len(recorded.args) == 1 else list(recorded.args)
        format = format or recorded.format
        key = key or tuple(parent.key)
        if read is None:
            read = ReadOptions.from_dict(recorded.read)
        reused_from = f"{dataset}@v{parent.version}"
    elif (
        read is None
        and parent is not None
        and recorded is not None
        and recorded.read
        and (source_args(source) == recorded.args)
    ):
        read = ReadOptions.from_dict(recorded.read)
        reused_from = f"{dataset}@v{parent.version}"
    src = open_source(source, format=format, storage_options=dict(storage_options), read=read)
    names = src.schema.names
    missing = [k for k in key if k not in names]
    if missing:
        raise UsageError(
            f"column '{missing[0]}' in --key is not in {src.description} (columns: {', '.join(names[:20])})"
        )
    if not names:
        raise UsageError(f"{src.description} has no columns")
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise UsageError(f"{src.description} has two columns named '{dup}'")
    return OpenedSource(src, key, reused_from)
