"""Validating a SOURCE (files, a DataFrame, Arrow data) with no repository.

A pandas DataFrame that cannot become Arrow is a special case: a column of
mixed Python types is data that failed.

``repo.validate(df)`` of a pandas frame whose object column holds, say, ints
and strings cannot convert it to Arrow (one type per column). That is not a
usage error — retrying will not help, the data is wrong — so it is reported
like any other failed check (exit 1), one failure per such column, counting
the values that are not of the column's most common type.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from dvtool.validate.report import N_EXAMPLES, CheckFailure, Example, ValidationReport, jsonable
from dvtool.validate.schema import LoadedSchema

if TYPE_CHECKING:
    import pyarrow as pa

    from dvtool.ingest.readoptions import ReadOptions

__all__ = ["is_pandas_frame", "mixed_type_report", "validate_source"]


def validate_source(
    source: Any,
    *,
    schema: Any,
    key: Sequence[str] | None = None,
    format: str | None = None,
    storage_options: Mapping[str, str] | None = None,
    read: ReadOptions | None = None,
    progress: Callable[[int], None] | None = None,
) -> ValidationReport:
    """Validate files (or a DataFrame/Arrow table) against a pandera schema, no repository needed."""
    from dvtool.ingest.sources import open_source
    from dvtool.validate.run import validate_batches
    from dvtool.validate.schema import load_schema

    loaded = schema if isinstance(schema, LoadedSchema) else load_schema(schema)
    if is_pandas_frame(source):
        mixed = mixed_type_report(loaded, source)
        if mixed is not None:
            return mixed  # values Arrow cannot hold as one type: the data failed
    src = open_source(source, format=format, storage_options=dict(storage_options or {}), read=read)
    return validate_batches(
        loaded,
        _counted(src.batches(), progress),
        schema=src.schema,
        key=tuple(key or ()),
        target=src.description,
    )


def _counted(
    batches: Iterator[pa.RecordBatch], progress: Callable[[int], None] | None
) -> Iterator[pa.RecordBatch]:
    for batch in batches:
        if progress is not None:
            progress(batch.num_rows)
        yield batch


def is_pandas_frame(obj: Any) -> bool:
    return type(obj).__module__.split(".")[0] == "pandas" and type(obj).__name__ == "DataFrame"


def mixed_type_report(
    loaded: LoadedSchema, frame: Any, *, target: str = "pandas DataFrame"
) -> ValidationReport | None:
    """A failed report naming each column Arrow cannot hold as one type; None if every column converts."""
    import pyarrow as pa

    failures: list[CheckFailure] = []
    for position, name in enumerate(frame.columns):
        column = frame.iloc[:, position]
        if column.dtype != object:
            continue
        try:
            pa.array(column, from_pandas=True)
            continue
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError):
            pass
        kinds = Counter(type(v).__name__ for v in column if not _is_null(v))
        common = kinds.most_common(1)[0][0] if kinds else ""
        odd = [
            (row, v)
            for row, v in enumerate(column)
            if not _is_null(v) and type(v).__name__ != common
        ]
        found = ", ".join(f"{k} ×{n}" for k, n in kinds.most_common())
        failures.append(
            CheckFailure(
                column=str(name),
                check=f"one type per column (found {found})",
                failure_count=len(odd),
                examples=tuple(
                    Example(jsonable(_plain(v)), row=row) for row, v in odd[:N_EXAMPLES]
                ),
            )
        )
    if not failures:
        return None
    return ValidationReport(
        schema=loaded.name,
        schema_fingerprint=loaded.fingerprint,
        target=target,
        rows_checked=len(frame),
        errors=tuple(failures),
        checks=tuple((f.column, f.check) for f in failures),
        schema_lines=loaded.lines,
    )


def _is_null(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def _plain(value: Any) -> Any:
    return value if isinstance(value, str | int | float | bool) else repr(value)
