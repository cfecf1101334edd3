"""A diff's validation section: both sides against ``--schema``, or their recorded verdicts.

``diff`` and ``validate`` are sibling layers that never import each other;
this module sits above both and joins them for ``Repo.diff(..., schema=)`` and
``diff_sources(..., schema=)``. A REF side is validated as ``dvtool validate
REF`` does it (chunk verdicts remembered in the repository, so a version that
shares most chunks with one already validated re-checks only its new ones); a
SOURCE side is read as the diff read it (the recorded read options when it is
the SOURCE of the REF beside it). Without a schema, a REF side shows the
verdict its snapshot recorded (``snapshot --schema``) and a SOURCE side none.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from dvtool.diff.validation import DiffValidation, FailedCheck, SideValidation
from dvtool.errors import UsageError

if TYPE_CHECKING:
    from dvtool.catalog import Catalog
    from dvtool.diff.report import Diff
    from dvtool.ingest.readoptions import ReadOptions
    from dvtool.validate.report import CheckFailure, ValidationReport
    from dvtool.validate.schema import LoadedSchema

__all__ = ["load_diff_schema", "with_validation"]

ValidateRef = Callable[[str], "ValidationReport"]


def load_diff_schema(schema: Any) -> LoadedSchema | None:
    """The ``schema=`` of a diff, loaded (strictly: a bad file is exit 2) before any data is read."""
    if schema is None:
        return None
    from dvtool.validate.schema import LoadedSchema, load_schema

    return schema if isinstance(schema, LoadedSchema) else load_schema(schema)


def with_validation(
    found: Diff,
    catalog: Catalog | None,
    old: Any,
    new: Any,
    *,
    schema: LoadedSchema | None,
    validate_ref: ValidateRef | None = None,
    read: ReadOptions | None = None,
    storage_options: Mapping[str, str] | None = None,
) -> Diff:
    """``found`` with its validation section; ``new=None`` means OLD was a REF diffed with its parent.

    ``validate_ref`` validates a REF against ``schema`` (``Repo.validate`` with
    its verdict cache and engine); it is needed only when a side is a REF.
    """
    if schema is None and catalog is None:
        return found  # two SOURCEs, nothing recorded: nothing to say
    args = (found.old, found.new) if new is None else (old, new)
    refs = [a for a in args if _is_ref(catalog, a)]
    sides = []
    for arg, label in zip(args, (found.old, found.new), strict=True):
        if _is_ref(catalog, arg):
            assert catalog is not None
            if schema is not None:
                assert validate_ref is not None
                sides.append(_checked(label, validate_ref(arg)))
            else:
                sides.append(_recorded(label, catalog, arg))
        elif schema is not None:
            sides.append(
                _checked(label, _validate_source(arg, schema, catalog, refs, read, storage_options))
            )
        else:
            sides.append(SideValidation(label, "none"))
    validation = DiffValidation(sides[0], sides[1], schema.name if schema is not None else None)
    if not validation.checked and not refs:
        return found
    return replace(found, validation=validation)


def _is_ref(catalog: Catalog | None, arg: Any) -> bool:
    return catalog is not None and isinstance(arg, str) and catalog.is_ref(arg)


def _recorded(label: str, catalog: Catalog, ref: str) -> SideValidation:
    record = catalog.get(ref).manifest.validation
    if record is None:
        return SideValidation(label, "none")
    return SideValidation(
        label,
        "recorded",
        ok=record.ok,
        schema=record.schema_name,
        schema_fingerprint=record.schema_fingerprint,
        errors=record.errors,
        warnings=record.warnings,
    )


def _validate_source(
    arg: Any,
    schema: LoadedSchema,
    catalog: Catalog | None,
    refs: list[Any],
    read: ReadOptions | None,
    storage_options: Mapping[str, str] | None,
) -> ValidationReport:
    from dvtool.validate.sources import validate_source

    if isinstance(arg, pa.RecordBatchReader):
        raise UsageError(
            "a RecordBatchReader can be read only once: the diff read it, so it cannot be "
            "validated too; pass a Table or a file"
        )
    fmt = None
    if read is None and catalog is not None:
        from dvtool.diff.plan import recorded_reading

        found = recorded_reading(arg, [catalog.get(r) for r in reversed(refs)])
        if found is not None:
            read, fmt, _ = found
    return validate_source(
        arg, schema=schema, format=fmt, read=read, storage_options=storage_options
    )


def _failed(f: CheckFailure, severity: str) -> FailedCheck:
    whole = "uniqueness" in f.check or f.check == "key_unique"
    if f.raised:
        return FailedCheck(
            "check error",
            f.column,
            f.checks,
            None,
            (str(f.examples[0].value),) if f.examples else (),
        )
    return FailedCheck(
        "warning" if severity == "warning" else "error",
        f.column,
        f.checks,
        f.failure_count,
        tuple(e.describe(whole=whole) for e in f.examples),
        tuple(e.to_dict() for e in f.examples),
    )


def _checked(label: str, report: ValidationReport) -> SideValidation:
    failures = (
        *(_failed(f, "error") for f in report.errors),
        *(_failed(f, "warning") for f in report.warnings),
        *(_failed(f, "check error") for f in report.check_errors),
    )
    return SideValidation(
        label,
        "checked",
        ok=report.ok,
        schema=report.schema,
        schema_fingerprint=report.schema_fingerprint,
        errors=len(report.errors) + len(report.check_errors),
        warnings=len(report.warnings),
        rows_checked=report.rows_checked,
        chunks_checked=report.chunks_checked,
        chunks_reused=report.chunks_reused,
        failures=failures,
        checks=report.checks,
    )
