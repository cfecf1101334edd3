"""DataFrames that cannot become Arrow: a column of mixed Python types is data that failed.

``repo.validate(df)`` of a pandas frame whose object column holds, say, ints
and strings cannot convert it to Arrow (one type per column). That is not a
usage error — retrying will not help, the data is wrong — so it is reported
like any other failed check (exit 1), one failure per such column, counting
the values that are not of the column's most common type.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from dvtool.validate.report import N_EXAMPLES, CheckFailure, Example, ValidationReport, jsonable
from dvtool.validate.schema import LoadedSchema

__all__ = ["is_pandas_frame", "mixed_type_report"]


def is_pandas_frame(obj: Any) -> bool:
    return type(obj).__module__.split(".")[0] == "pandas" and type(obj).__name__ == "DataFrame"


def mixed_type_report(loaded: LoadedSchema, frame: Any, *, target: str = "pandas DataFrame") -> ValidationReport | None:
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
        odd = [(row, v) for row, v in enumerate(column) if not _is_null(v) and type(v).__name__ != common]
        found = ", ".join(f"{k} ×{n}" for k, n in kinds.most_common())
        failures.append(
            CheckFailure(
                column=str(name),
                check=f"one type per column (found {found})",
                failure_count=len(odd),
                examples=tuple(Example(jsonable(_plain(v)), row=row) for row, v in odd[:N_EXAMPLES]),
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
