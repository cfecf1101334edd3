"""dvtool: version and validate tabular datasets.

The public API is what this module exports; the command line uses nothing
else. Heavy names are imported lazily, so ``import dvtool`` (and
``dvtool --help``) does not import pyarrow, pandera or DuckDB.

>>> import dvtool
>>> repo = dvtool.Repo.init("memory://demo")          # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from dvtool._version import FORMAT_VERSION, __version__
from dvtool.errors import (
    AlreadyExistsError,
    ConflictError,
    DataError,
    DvtoolError,
    IntegrityError,
    NotFoundError,
    StorageError,
    UsageError,
    ValidationFailed,
)

__all__ = [
    "FORMAT_VERSION",
    "AlreadyExistsError",
    "ConflictError",
    "DataError",
    "DatasetInfo",
    "Diff",
    "DvtoolError",
    "ExportResult",
    "IntegrityError",
    "LogEntry",
    "NotFoundError",
    "ReadOptions",
    "Repo",
    "Snapshot",
    "SnapshotResult",
    "SparkSettings",
    "StorageError",
    "UsageError",
    "ValidationFailed",
    "ValidationReport",
    "__version__",
    "check_output",
    "diff_sources",
    "infer_source_schema",
    "load_policy",
    "open_output",
    "printable",
    "redact_text",
    "redact_url",
    "validate_source",
    "write_query_result",
    "write_text_output",
]

if TYPE_CHECKING:
    from dvtool.diff.policy import load_policy
    from dvtool.diff.report import Diff
    from dvtool.engines import SparkSettings
    from dvtool.escaping import printable
    from dvtool.ingest.readoptions import ReadOptions
    from dvtool.outputs import check_output, open_output, write_text_output
    from dvtool.repo import Repo, SnapshotResult
    from dvtool.snapshot import DatasetInfo, ExportResult, LogEntry, Snapshot
    from dvtool.standalone import diff_sources, infer_source_schema, write_query_result
    from dvtool.storage.urls import redact_text, redact_url
    from dvtool.validate.report import ValidationReport
    from dvtool.validate.sources import validate_source

_LAZY = {
    "Repo": "dvtool.repo",
    "SnapshotResult": "dvtool.repo",
    "diff_sources": "dvtool.standalone",
    "infer_source_schema": "dvtool.standalone",
    "load_policy": "dvtool.diff.policy",
    "validate_source": "dvtool.validate.sources",
    "write_query_result": "dvtool.standalone",
    "Snapshot": "dvtool.snapshot",
    "DatasetInfo": "dvtool.snapshot",
    "ExportResult": "dvtool.snapshot",
    "LogEntry": "dvtool.snapshot",
    "Diff": "dvtool.diff.report",
    "ReadOptions": "dvtool.ingest.readoptions",
    "ValidationReport": "dvtool.validate.report",
    "printable": "dvtool.escaping",
    "redact_url": "dvtool.storage.urls",
    "redact_text": "dvtool.storage.urls",
    "open_output": "dvtool.outputs",
    "check_output": "dvtool.outputs",
    "write_text_output": "dvtool.outputs",
    "SparkSettings": "dvtool.engines",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'dvtool' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
