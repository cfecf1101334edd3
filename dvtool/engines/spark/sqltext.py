"""Spark identifiers and Spark errors, in one place.

Column names are data (spaces, quotes, backticks, unicode, SQL): every one
goes through :func:`ident`. Errors from Spark jobs arrive as Java or Python
exceptions wrapped by py4j; :func:`job_error` turns them into one-line dvtool
errors, keeping a dvtool error raised inside an executor (a chunk whose
bytes do not match its id is an IntegrityError wherever it is read).
"""

from __future__ import annotations

import re

from dvtool.errors import DvtoolError, IntegrityError, NotFoundError, StorageError, UsageError

__all__ = ["ident", "job_error"]

_EXECUTOR_ERRORS: dict[str, type[DvtoolError]] = {
    "IntegrityError": IntegrityError,
    "NotFoundError": NotFoundError,
    "StorageError": StorageError,
    "UsageError": UsageError,
}


def ident(name: str) -> str:
    """A Spark identifier (backquoted) for any column name."""
    return "`" + name.replace("`", "``") + "`"


def job_error(exc: BaseException, what: str) -> DvtoolError:
    """A dvtool error for a failed Spark job (a dvtool error raised in an executor keeps its kind)."""
    if isinstance(exc, DvtoolError):
        return exc
    text = str(exc)
    found = re.search(r"dvtool\.errors\.(\w+): ([^\n]+)", text)
    if found and found.group(1) in _EXECUTOR_ERRORS:
        return _EXECUTOR_ERRORS[found.group(1)](found.group(2).strip())
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    first = lines[0] if lines else type(exc).__name__
    return UsageError(f"{what} failed in Spark: {first[:500]}")
