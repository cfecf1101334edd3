"""The same jobs as ``Repo``'s, on files when there is no repository at all.

``dvtool diff a.csv b.csv`` and ``dvtool schema infer data.csv`` work
anywhere; the CLI reaches these through ``dvtool``'s public names.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, BinaryIO

if TYPE_CHECKING:
    import pyarrow as pa

    from dvtool.diff.report import Diff
    from dvtool.ingest.readoptions import ReadOptions
    from dvtool.repo import SourceLike

__all__ = ["diff_sources", "infer_source_schema", "write_query_result"]


def diff_sources(
    old: SourceLike,
    new: SourceLike,
    *,
    key: Sequence[str] | None = None,
    limit: int = 10,
    stats: bool = False,
    storage_options: Mapping[str, str] | None = None,
    abs_tol: float = 0.0,
    rel_tol: float = 0.0,
    tol: Mapping[str, str] | Sequence[str] | None = None,
    distributions: bool = False,
    policy: Any = None,
    schema: Any = None,
    read: ReadOptions | None = None,
) -> Diff:
    """Two SOURCEs compared without a repository (``dvtool diff a.csv b.csv`` anywhere).

    ``schema``: both validated against it (``Diff.validation``); NEW failing makes ``passed`` False.
    """
    from dvtool.diff.plan import diff_in_catalog, review_options
    from dvtool.diffvalidation import load_diff_schema, with_validation

    loaded = load_diff_schema(schema)
    found = diff_in_catalog(
        None,
        old,
        new,
        key=key,
        limit=limit,
        stats=stats,
        storage_options=storage_options,
        read=read,
        **review_options(abs_tol, rel_tol, tol, distributions, policy),
    )
    return with_validation(
        found, None, old, new, schema=loaded, read=read, storage_options=storage_options
    )


def infer_source_schema(
    source: SourceLike,
    *,
    format: str | None = None,
    storage_options: Mapping[str, str] | None = None,
    read: ReadOptions | None = None,
) -> str:
    """A pandera (polars) YAML schema that the files pass, no repository needed."""
    from dvtool.ingest.sources import open_source
    from dvtool.validate.infer import infer_schema

    src = open_source(source, format=format, storage_options=dict(storage_options or {}), read=read)
    return infer_schema(src.batches(), schema=src.schema)


def write_query_result(reader: pa.RecordBatchReader, fmt: str, out: BinaryIO) -> int:
    """Stream a query result to ``out`` as table|csv|json|parquet; returns the number of rows."""
    from dvtool.query import write_result

    return write_result(reader, fmt, out)
