"""One planted fault, one entry: how a report points at the culprit.

pandera reports some faults several times: a value that cannot be coerced
fails ``coerce_dtype(T)`` and then ``dtype(T)`` of the same column; a null in
a key column fails ``not_nullable`` and the uniqueness (or key) check of that
column. A user who planted one fault should read one error that names every
check it tripped (:attr:`CheckFailure.also`). And a failure that stands for many
rows lists each *distinct* failing value with its count and first row, most
frequent first (:func:`distinct_values`), not the first five rows.

No pandera here: this works on finished :class:`CheckFailure` values.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterable, Sequence
from typing import Any

import pyarrow as pa

from dvtool.format.jsonvalues import json_value
from dvtool.validate.report import CheckFailure, Example, ValidationReport

__all__ = ["MAX_DISTINCT", "distinct_values", "one_per_fault", "with_input_rows"]

MAX_DISTINCT = 100  # distinct failing values listed per check in a report (most frequent first)

_DTYPE = re.compile(r"^(coerce_dtype|dtype)\((.*)\)$")
_NULL_CHECKS = ("not_nullable", "field_uniqueness", "multiple_fields_uniqueness", "key_unique")


def _value_key(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def distinct_values(examples: Sequence[Example]) -> list[Example]:
    """Per-chunk distinct values (with counts and first rows) added up: most frequent first."""
    total: dict[str, list[Any]] = {}
    for e in examples:
        k = _value_key(e.value)
        seen = total.get(k)
        if seen is None:
            total[k] = [e.count or 1, e]
            continue
        seen[0] += e.count or 1
        first = seen[1]
        if e.row is not None and (first.row is None or e.row < first.row):
            seen[1] = e
    out = [dataclasses.replace(first, count=n) for n, first in total.values()]
    out.sort(key=lambda e: (-(e.count or 0), e.row if e.row is not None else -1))
    return out[:MAX_DISTINCT]


def _all_null(f: CheckFailure) -> bool:
    return bool(f.examples) and all(e.value is None for e in f.examples)


def one_per_fault(results: Sequence[CheckFailure]) -> list[CheckFailure]:
    """Merge failures that are one fault seen by several checks; keep the order otherwise."""
    out = list(results)
    # coerce_dtype(T) and dtype(T) of one column: the value could not become a T.
    by_column: dict[tuple[str | None, str], dict[str, int]] = {}
    for i, f in enumerate(out):
        m = _DTYPE.match(f.check)
        if m and not f.raised:
            by_column.setdefault((f.column, m.group(2)), {})[m.group(1)] = i
    drop: set[int] = set()
    for pair in by_column.values():
        if len(pair) == 2:
            coerce, dtype = out[pair["coerce_dtype"]], out[pair["dtype"]]
            rows = coerce if coerce.examples and coerce.examples[0].row is not None else dtype
            out[pair["dtype"]] = dataclasses.replace(
                dtype,
                failure_count=max(coerce.failure_count, dtype.failure_count),
                examples=rows.examples,
                also=(*dtype.also, (coerce.check, coerce.failure_count)),
                own_count=dtype.failure_count,
            )
            drop.add(pair["coerce_dtype"])
    # A null in a column checked for nulls and for uniqueness (a key): reported once.
    nulls: dict[str | None, list[int]] = {}
    for i, f in enumerate(out):
        if i not in drop and not f.raised and f.check in _NULL_CHECKS and _all_null(f):
            nulls.setdefault(f.column, []).append(i)
    for idx in nulls.values():
        if len(idx) < 2:
            continue
        first = min(idx, key=lambda i: _NULL_CHECKS.index(out[i].check))
        keep = out[first]
        others = [(out[i].check, out[i].failure_count) for i in idx if i != first]
        out[first] = dataclasses.replace(
            keep,
            failure_count=max(out[i].failure_count for i in idx),
            also=(*keep.also, *others),
            own_count=keep.failure_count,
        )
        drop.update(i for i in idx if i != first)
    return [f for i, f in enumerate(out) if i not in drop]


def with_input_rows(
    report: ValidationReport, batches: Iterable[pa.RecordBatch], key: Sequence[str]
) -> ValidationReport:
    """``report`` with each keyed example's row set to its row in the input (the SOURCE's order).

    ``snapshot --schema`` validates the draft, whose rows are sorted by the key;
    a user looks for the row in the file. One pass over ``batches`` (the SOURCE
    read again, only when the gate failed) finds the first input row of each key.
    """
    import pyarrow.compute as pc

    wanted = {
        tuple(v for _, v in e.key)
        for f in (*report.errors, *report.warnings)
        for e in f.examples
        if e.key is not None and e.row is not None
    }
    if not wanted or not key:
        return report
    found: dict[tuple[Any, ...], list[int]] = {}  # every input row of each key (duplicates too)
    offset = 0
    first_values = pa.array(sorted({k[0] for k in wanted if k[0] is not None}, key=str))
    for batch in batches:
        column = batch.column(batch.schema.get_field_index(key[0]))
        try:
            mask = pc.is_in(column, value_set=first_values.cast(column.type))
            if any(k[0] is None for k in wanted):
                mask = pc.or_(mask, pc.is_null(column))
            hits = pc.indices_nonzero(mask).to_pylist()
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            hits = range(batch.num_rows)
        for i in hits:
            k = tuple(
                json_value(batch.column(batch.schema.get_field_index(c))[i].as_py()) for c in key
            )
            if k in wanted:
                found.setdefault(k, []).append(offset + i)
        offset += batch.num_rows

    def remap(f: CheckFailure) -> CheckFailure:
        # Rows with one key keep their input order in the sorted draft: the n-th draft row
        # of a key is its n-th input row.
        order: dict[tuple[Any, ...], list[int]] = {}
        for e in f.examples:
            if e.key is not None and e.row is not None:
                order.setdefault(tuple(v for _, v in e.key), []).append(e.row)
        examples = []
        for e in f.examples:
            k = tuple(v for _, v in e.key) if e.key is not None else None
            rows = found.get(k) if k is not None else None
            if rows and e.row is not None and k is not None:
                n = sorted(order[k]).index(e.row)
                e = dataclasses.replace(e, row=rows[min(n, len(rows) - 1)])
            examples.append(e)
        return dataclasses.replace(f, examples=tuple(examples))

    return dataclasses.replace(
        report, errors=tuple(map(remap, report.errors)), warnings=tuple(map(remap, report.warnings))
    )
