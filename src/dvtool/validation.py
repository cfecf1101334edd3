"""Pandera schemas as a validation gate: strict loading, chunked checks, cached verdicts.

The only module that imports pandera. The pieces:

* :func:`load_schema` reads a pandera YAML/JSON file (pandas or polars
  ``schema_type``, as pandera's ``to_yaml`` writes it) or a Python
  ``file.py:NAME`` (a ``DataFrameSchema`` or ``DataFrameModel``). YAML is
  safe-loaded, and loading is *strict*: pandera silently drops a check key it
  does not know (a typo such as ``in_rnage``), which would let bad data pass,
  so every key is checked here first and an unknown one is a UsageError.
* :func:`validate_chunks` runs the chunk-local checks chunk by chunk (polars
  backend for polars schemas, zero-copy from Arrow; pandas otherwise), with
  data-level checks forced on, and the checks that span chunks (column and
  schema-level ``unique``, key uniqueness, ``unique_values_eq``) once over all
  the Parquet files in DuckDB. Chunk verdicts are cached per
  (schema fingerprint, chunk fingerprint) through a :class:`VerdictCache`.
* :func:`infer_schema` writes a polars-schema YAML that the data passes,
  in one streaming pass.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import importlib.util
import inspect
import json
import re
import tempfile
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import xxhash

from .crosschecks import Unique, ValueSet, global_checks
from .errors import DvtoolError, NotFoundError, UsageError
from .hashing import ALGORITHM
from .models import ValidationRecord
from .report import N_EXAMPLES, CheckFailure, Example, ValidationReport, jsonable
from .verdicts import (
    ENGINE,
    ChunkFailure,
    ChunkInput,
    ChunkVerdict,
    MemoryVerdictCache,
    StoreVerdictCache,
    VerdictCache,
    verdict_key,
)

__all__ = [
    "ENGINE",
    "ChunkFailure",
    "ChunkInput",
    "ChunkVerdict",
    "LoadedSchema",
    "MemoryVerdictCache",
    "StoreVerdictCache",
    "VerdictCache",
    "infer_schema",
    "load_schema",
    "validate_batches",
    "validate_chunks",
    "validation_record",
    "verdict_key",
]

GROUP_ROWS = 256 * 1024  # rows validated per pandera call (bounded memory)
Backend = Literal["pandas", "polars"]

# Keys pandera's deserializers actually read; anything else would be dropped silently.
_TOP_KEYS = frozenset(
    {
        "schema_type", "version", "api", "columns", "checks", "index", "dtype", "coerce",
        "strict", "name", "ordered", "unique", "report_duplicates", "unique_column_names",
        "add_missing_columns", "title", "description",
    }
)  # fmt: skip
_TOP_KEYS_PANDAS = _TOP_KEYS | {"metadata", "drop_invalid_rows", "dataframe_library", "multiindex"}
_COLUMN_KEYS = frozenset(
    {
        "title", "description", "dtype", "nullable", "checks", "name", "unique", "coerce",
        "required", "regex", "default", "report_duplicates", "drop_invalid_rows",
    }
)  # fmt: skip
_OPTION_KEYS = frozenset(
    {
        "check_name",
        "ignore_na",
        "raise_warning",
        "n_failure_cases",
        "groupby",
        "groups",
        "error",
        "name",
    }
)
_EXTRA_CHECK_KWARGS = frozenset({"title", "description", "element_wise"})
_DATAFRAME_CHECKS = frozenset(
    {
        "equal_to", "not_equal_to", "greater_than", "greater_than_or_equal_to", "less_than",
        "less_than_or_equal_to", "in_range", "isin", "notin", "str_matches", "str_contains",
        "str_startswith", "str_endswith", "str_length", "unique_values_eq",
        "eq", "ne", "gt", "ge", "lt", "le", "between",
    }
)  # fmt: skip
_SCHEMA_TYPES: dict[str, Backend] = {"dataframe": "pandas", "polars_dataframe": "polars"}


# ---------------------------------------------------------------------------------
# schema loading


@dataclass(frozen=True, slots=True)
class LoadedSchema:
    """A pandera schema ready to run, with the fingerprint that keys its cached verdicts."""

    name: str  # the file (or file.py:NAME) as given, for reports
    backend: Backend
    fingerprint: str  # xxh128:<hex> of the canonical schema text (+ engine versions)
    schema: Any = field(compare=False, repr=False)  # pandera DataFrameSchema
    lines: tuple[tuple[str, int], ...] = ()  # column -> 1-based line in the YAML file


def load_schema(spec: str | Path | Any) -> LoadedSchema:
    """Load ``spec``: a YAML/JSON path, ``file.py:NAME``, or a pandera schema/model object."""
    if not isinstance(spec, str | Path):
        return _from_object(spec, name=getattr(spec, "name", None) or type(spec).__name__, extra={})
    text = str(spec)
    path_part = text.rsplit(":", 1)[0] if re.search(r"\.py:[A-Za-z_]\w*$", text) else text
    if path_part.endswith(".py"):
        return _load_python(text)
    return _load_yaml(Path(text), name=text)


def _fingerprint(doc: Any) -> str:
    import pandera

    payload = {"engine": ENGINE, "pandera": pandera.__version__, "schema": doc}
    text = json.dumps(
        payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    )
    return f"{ALGORITHM}:{xxhash.xxh3_128_hexdigest(text.encode('utf-8'))}"


def _load_yaml(path: Path, *, name: str) -> LoadedSchema:
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NotFoundError(
            f"schema file {name} does not exist; write one from the data with "
            f"'dvtool schema infer DATA -o {name}'"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read schema file {name}: {exc}") from None
    try:
        # safe_load only: a `!!python/object` tag is refused, never constructed.
        raw = yaml.safe_load(text)
        node = yaml.compose(text)
    except yaml.YAMLError as exc:
        first = " ".join(str(exc).split())
        raise UsageError(f"schema file {name} is not valid YAML: {first}") from None
    if not isinstance(raw, dict):
        raise UsageError(f"schema file {name} is not a pandera schema (expected a mapping)")
    st = raw.get("schema_type", "dataframe")
    backend: Backend | None = _SCHEMA_TYPES.get(str(st))
    if backend is None:
        raise UsageError(
            f"schema file {name}: schema_type {st!r} is not supported (use dataframe or polars_dataframe)"
        )
    _check_document(raw, name=name, backend=backend)
    schema = _deserialize(raw, name=name, backend=backend)
    _guard_dropped_checks(raw, schema, name=name)
    return LoadedSchema(
        name=name,
        backend=backend,
        fingerprint=_fingerprint(raw),
        schema=schema,
        lines=_column_lines(node),
    )


def _column_lines(node: Any) -> tuple[tuple[str, int], ...]:
    import yaml

    out: list[tuple[str, int]] = []
    if not isinstance(node, yaml.MappingNode):
        return ()
    for k, v in node.value:
        if getattr(k, "value", None) == "columns" and isinstance(v, yaml.MappingNode):
            for ck, _ in v.value:
                out.append((str(ck.value), ck.start_mark.line + 1))
    return tuple(out)


def _suggest(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, sorted(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _known_checks() -> set[str]:
    from pandera.api.checks import Check

    return set(_DATAFRAME_CHECKS) | set(Check.REGISTERED_CUSTOM_CHECKS)


def _check_params(check_name: str) -> set[str] | None:
    """Parameter names a check takes, or None when it accepts anything."""
    from pandera.api.checks import Check

    fn = getattr(Check, check_name)
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return None
    names = {
        p.name
        for p in sig.parameters.values()
        if p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    }
    return names or None


def _check_document(raw: dict[str, Any], *, name: str, backend: Backend) -> None:
    allowed = _TOP_KEYS_PANDAS if backend == "pandas" else _TOP_KEYS
    for key in raw:
        if key not in allowed:
            raise UsageError(
                f"schema file {name}: unknown key {key!r}{_suggest(str(key), allowed)}"
            )
    if raw.get("drop_invalid_rows"):
        raise UsageError(
            f"schema file {name}: drop_invalid_rows would hide failing rows; dvtool validate does not allow it"
        )
    if backend == "polars" and raw.get("index") is not None:
        raise UsageError(f"schema file {name}: 'index' is not part of a polars schema")
    columns = raw.get("columns")
    if columns is not None and not isinstance(columns, dict):
        raise UsageError(f"schema file {name}: 'columns' must be a mapping of column name to spec")
    for col, spec in (columns or {}).items():
        _check_component(spec, where=f"columns.{col}", name=name)
    index = raw.get("index")
    if index is not None:
        if not isinstance(index, list):
            raise UsageError(f"schema file {name}: 'index' must be a list")
        for i, spec in enumerate(index):
            _check_component(spec, where=f"index[{i}]", name=name)
    _check_check_list(raw.get("checks"), where="checks", name=name)


def _check_component(spec: Any, *, where: str, name: str) -> None:
    if spec is None:
        return
    if not isinstance(spec, dict):
        raise UsageError(f"schema file {name}: {where} must be a mapping")
    known = _known_checks()
    for key, value in spec.items():
        if key in _COLUMN_KEYS:
            if key == "checks":
                _check_check_list(value, where=f"{where}.checks", name=name)
            elif key == "drop_invalid_rows" and value:
                raise UsageError(
                    f"schema file {name}: {where}.drop_invalid_rows would hide failing rows; not allowed"
                )
            continue
        if key not in known:
            raise UsageError(
                f"schema file {name}: unknown check or key {where}.{key}"
                f"{_suggest(str(key), known | _COLUMN_KEYS)}"
            )
        if spec.get("checks") is not None:
            # pandera ignores flat check keys when a `checks:` list is present.
            raise UsageError(
                f"schema file {name}: {where}.{key} next to a 'checks' list would be ignored; "
                "put it in the list"
            )
        _check_args(key, value, where=f"{where}.{key}", name=name)


def _check_check_list(checks: Any, *, where: str, name: str) -> None:
    if checks is None:
        return
    known = _known_checks()
    if isinstance(checks, dict):  # legacy {check_name: stats}
        for key, value in checks.items():
            if key not in known:
                raise UsageError(
                    f"schema file {name}: unknown check {where}.{key}{_suggest(str(key), known)}"
                )
            if isinstance(value, dict):
                opts = value.get("options") or {}
                value = {**{k: v for k, v in value.items() if k != "options"}, **opts}
                value.pop("check_name", None)
            _check_args(key, value, where=f"{where}.{key}", name=name)
        return
    if not isinstance(checks, list):
        raise UsageError(f"schema file {name}: {where} must be a list of checks")
    for i, entry in enumerate(checks):
        here = f"{where}[{i}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("options"), dict):
            raise UsageError(f"schema file {name}: {here} needs 'options: {{check_name: ...}}'")
        opts = entry["options"]
        check_name = opts.get("check_name")
        if not isinstance(check_name, str) or check_name not in known:
            raise UsageError(
                f"schema file {name}: unknown check {here}: {check_name!r}{_suggest(str(check_name), known)}"
            )
        for k in opts:
            if k not in _OPTION_KEYS:
                raise UsageError(f"schema file {name}: unknown check option {here}.options.{k}")
        stats = {k: v for k, v in entry.items() if k != "options"}
        _check_args(check_name, stats if stats else None, where=here, name=name, listed=True)


def _check_args(
    check_name: str, value: Any, *, where: str, name: str, listed: bool = False
) -> None:
    if not isinstance(value, dict):
        return
    params = _check_params(check_name)
    if params is None:
        return
    allowed = params | _EXTRA_CHECK_KWARGS | ({"value"} if listed or len(value) == 1 else set())
    if not listed:
        allowed |= _OPTION_KEYS - {"check_name"}
    for k in value:
        if k not in allowed:
            raise UsageError(
                f"schema file {name}: unknown argument {where}.{k}{_suggest(str(k), allowed)}"
            )


def _deserialize(raw: dict[str, Any], *, name: str, backend: Backend) -> Any:
    doc = copy.deepcopy(raw)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if backend == "polars":
                from pandera.io import polars_io

                return polars_io.deserialize_schema(doc)  # type: ignore[no-untyped-call]
            from pandera.io import pandas_io

            return pandas_io.deserialize_schema(doc)  # type: ignore[no-untyped-call]
    except Exception as exc:  # pandera raises TypeError/ValueError/SchemaInitError/... on bad specs
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise UsageError(f"schema file {name}: {first}") from None


def _declared_checks(spec: Any) -> int:
    if not isinstance(spec, dict):
        return 0
    if isinstance(spec.get("checks"), list | dict):
        return len(spec["checks"])
    return sum(1 for k in spec if k not in _COLUMN_KEYS)


def _guard_dropped_checks(raw: dict[str, Any], schema: Any, *, name: str) -> None:
    """Belt and braces: every declared check must have survived deserialization."""
    for col, spec in (raw.get("columns") or {}).items():
        component = schema.columns.get(col)
        loaded = len(component.checks) if component is not None else 0
        if loaded != _declared_checks(spec):
            raise UsageError(
                f"schema file {name}: a check of column {col!r} would be dropped by pandera"
            )
    declared = raw.get("checks")
    if isinstance(declared, list | dict) and len(schema.checks) != len(declared):
        raise UsageError(f"schema file {name}: a dataframe-level check would be dropped by pandera")


def _load_python(spec: str) -> LoadedSchema:
    path_text, _, attr = spec.rpartition(":") if not spec.endswith(".py") else (spec, "", "")
    path = Path(path_text)
    if not path.is_file():
        raise NotFoundError(f"schema file {path_text} does not exist")
    module_name = f"dvtool_schema_{xxhash.xxh64_hexdigest(str(path.resolve()).encode())}"
    mod_spec = importlib.util.spec_from_file_location(module_name, path)
    if mod_spec is None or mod_spec.loader is None:
        raise UsageError(f"cannot import schema file {path_text}")
    module = importlib.util.module_from_spec(mod_spec)
    try:
        mod_spec.loader.exec_module(module)
    except Exception as exc:  # user code: any failure is "could not load the schema"
        raise UsageError(
            f"cannot import schema file {path_text}: {type(exc).__name__}: {exc}"
        ) from None
    if not attr:
        found = [k for k, v in vars(module).items() if not k.startswith("_") and _is_schema_like(v)]
        found = [
            k for k in found if getattr(vars(module)[k], "__module__", module_name) == module_name
        ]
        if len(found) != 1:
            raise UsageError(
                f"schema file {path_text}: name the schema as {path_text}:NAME "
                f"(found {', '.join(found) or 'no schema'})"
            )
        attr = found[0]
    if not hasattr(module, attr):
        raise UsageError(f"schema file {path_text} has no {attr!r}")
    source = path.read_bytes()
    return _from_object(
        getattr(module, attr),
        name=spec if spec.endswith(f":{attr}") else f"{spec}:{attr}",
        extra={"python": xxhash.xxh3_128_hexdigest(source), "attr": attr},
    )


def _is_schema_like(obj: Any) -> bool:
    from pandera.api.dataframe.container import DataFrameSchema
    from pandera.api.dataframe.model import DataFrameModel

    return isinstance(obj, DataFrameSchema) or (
        isinstance(obj, type) and issubclass(obj, DataFrameModel) and obj is not DataFrameModel
    )


def _from_object(obj: Any, *, name: str, extra: dict[str, Any]) -> LoadedSchema:
    from pandera.api.dataframe.model import DataFrameModel
    from pandera.api.pandas.container import DataFrameSchema as PandasSchema
    from pandera.api.polars.container import DataFrameSchema as PolarsSchema

    if isinstance(obj, type) and issubclass(obj, DataFrameModel):
        try:
            obj = obj.to_schema()
        except Exception as exc:  # user model definitions fail in many ways
            raise UsageError(f"schema {name}: {exc}") from None
    backend: Backend
    if isinstance(obj, PolarsSchema):
        backend = "polars"
    elif isinstance(obj, PandasSchema):
        backend = "pandas"
    else:
        raise UsageError(
            f"schema {name} is a {type(obj).__name__}, not a pandas or polars DataFrameSchema/DataFrameModel"
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            doc: Any = json.loads(obj.to_json())
        except Exception:  # not serializable (e.g. lambda checks): fall back to its repr
            doc = repr(obj)
    return LoadedSchema(
        name=name, backend=backend, fingerprint=_fingerprint({"doc": doc, **extra}), schema=obj
    )


def validation_record(schema: LoadedSchema, report: ValidationReport) -> ValidationRecord:
    """What a snapshot keeps of the verdict (models.ValidationRecord)."""
    return ValidationRecord(
        schema_fingerprint=schema.fingerprint,
        schema_name=schema.name,
        ok=report.ok,
        errors=len(report.errors),
        warnings=len(report.warnings),
    )


# ---------------------------------------------------------------------------------
# the plan: which checks run per chunk, which over the whole data


@dataclass(frozen=True, slots=True)
class _Plan:
    local: Any
    warn: frozenset[tuple[str | None, int]]
    uniques: tuple[Unique, ...]
    value_sets: tuple[ValueSet, ...]
    checks: tuple[tuple[str | None, str], ...]
    # Dataframe-level checks (a row count, an aggregate): they need all the rows
    # at once, so they run once over the whole data, never per chunk.
    frame: Any = None  # a column-less DataFrameSchema holding only those checks
    frame_warn: frozenset[int] = frozenset()


def _label(check: Any) -> str:
    return str(check.error or check.name)


def _plan(loaded: LoadedSchema, columns: Sequence[str], key: Sequence[str]) -> _Plan:
    local = copy.deepcopy(loaded.schema)
    warn: set[tuple[str | None, int]] = set()
    uniques: list[Unique] = []
    value_sets: list[ValueSet] = []
    listed: list[tuple[str | None, str]] = []
    pandas = loaded.backend == "pandas"
    if any(c.required for c in local.columns.values()):
        listed.append((None, "column_in_dataframe"))
    if local.strict:
        listed.append((None, "column_in_schema"))
    if local.ordered:
        listed.append((None, "column_ordered"))
    for name, col in local.columns.items():
        label = str(name)
        if col.dtype is not None:
            listed.append((label, f"dtype('{col.dtype}')"))
        if not col.nullable:
            listed.append((label, "not_nullable"))
        if col.unique:
            targets = [c for c in columns if re.fullmatch(label, c)] if col.regex else [label]
            for target in targets:
                uniques.append(
                    Unique((target,), "field_uniqueness", target, col.report_duplicates, pandas)
                )
            listed.append((label, "field_uniqueness"))
            col.unique = False
        kept: list[Any] = []
        for check in col.checks:
            if check.name == "unique_values_eq":
                values = tuple((check.statistics or {}).get("values") or ())
                sev: Literal["error", "warning"] = "warning" if check.raise_warning else "error"
                value_sets.append(ValueSet(label, values, _label(check), sev))
                listed.append((label, _label(check)))
                continue
            if check.raise_warning:
                check.raise_warning = False
                warn.add((label, len(kept)))
            check.n_failure_cases = None  # exact counts, always
            listed.append((label, _label(check)))
            kept.append(check)
        col.checks = kept
    if local.unique:
        cols = tuple([local.unique] if isinstance(local.unique, str) else local.unique)
        uniques.append(
            Unique(
                cols, "multiple_fields_uniqueness", ", ".join(cols), local.report_duplicates, False
            )
        )
        listed.append((", ".join(cols), "multiple_fields_uniqueness"))
        local.unique = None
    frame_checks = list(local.checks)
    frame_warn: set[int] = set()
    for i, check in enumerate(frame_checks):
        if check.raise_warning:
            check.raise_warning = False
            frame_warn.add(i)
        check.n_failure_cases = None
        listed.append((None, _label(check)))
    frame = None
    if frame_checks:
        frame = type(local)(checks=frame_checks, name=local.name)
        local.checks = []
    if key and not any(u.columns == tuple(key) and u.keep == "all" for u in uniques):
        uniques.append(Unique(tuple(key), "key_unique", ", ".join(key), "all", False))
        listed.append((", ".join(key), "key_unique"))
    return _Plan(
        local, frozenset(warn), tuple(uniques), tuple(value_sets), tuple(listed), frame, frozenset(frame_warn)
    )


def _failure_frame(fc: Any) -> Any:
    """pandera's failure_cases (pandas or polars) as a polars frame with fixed column types."""
    import polars as pl

    if isinstance(fc, pl.DataFrame):
        return fc.select(
            pl.col("schema_context").cast(pl.String),
            pl.col("column").cast(pl.String),
            pl.col("check").cast(pl.String),
            pl.col("check_number").cast(pl.Int64),
            pl.col("failure_case").cast(pl.String),
            pl.col("index").cast(pl.Int64),
        )

    def opt_int(v: Any) -> int | None:
        try:
            return None if v is None or v != v else int(v)
        except (TypeError, ValueError):
            return None

    return pl.DataFrame(
        {
            "schema_context": [
                None if v is None else str(v) for v in fc["schema_context"].tolist()
            ],
            "column": [None if v is None or v != v else str(v) for v in fc["column"].tolist()],
            "check": [str(v) for v in fc["check"].tolist()],
            "check_number": [opt_int(v) for v in fc["check_number"].tolist()],
            "failure_case": [None if v is None else str(v) for v in fc["failure_case"].tolist()],
            "index": [opt_int(v) for v in fc["index"].tolist()],
        },
        schema={
            "schema_context": pl.String,
            "column": pl.String,
            "check": pl.String,
            "check_number": pl.Int64,
            "failure_case": pl.String,
            "index": pl.Int64,
        },
    )


def _run_pandera(
    plan: _Plan, loaded: LoadedSchema, table: pa.Table | Any, target: str, schema: Any = None
) -> Any | None:
    """Validate one chunk (or, for frame checks, a LazyFrame of all rows); failure cases or None."""
    from pandera.config import ValidationDepth, config_context
    from pandera.errors import SchemaError, SchemaErrors

    if not isinstance(table, pa.Table):
        obj: Any = table
    elif loaded.backend == "polars":
        import polars as pl

        obj = pl.from_arrow(table)  # zero-copy; a polars schema cannot take a pa.Table
    else:
        obj = table.to_pandas()
    try:
        with (
            warnings.catch_warnings(),
            config_context(
                validation_enabled=True,
                # Data-level checks always run; pandera would skip them on LazyFrames.
                validation_depth=ValidationDepth.SCHEMA_AND_DATA,
                use_narwhals_backend=False,
            ),
        ):
            warnings.simplefilter("ignore")
            (plan.local if schema is None else schema).validate(obj, lazy=True)
    except SchemaErrors as exc:
        return _failure_frame(exc.failure_cases)
    except SchemaError as exc:  # pragma: no cover - lazy=True collects; kept for safety
        import polars as pl

        return pl.DataFrame(
            {
                "schema_context": ["DataFrameSchema"],
                "column": [exc.column_name],
                "check": [str(exc.check)],
                "check_number": [exc.check_index],
                "failure_case": [str(exc)],
                "index": [None],
            },
            schema_overrides={"index": pl.Int64, "check_number": pl.Int64, "column": pl.String},
        )
    except DvtoolError:
        raise
    except Exception as exc:  # pandera/polars/pandas crash: the schema could not run
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise UsageError(f"schema {loaded.name} could not run on {target}: {first}") from None
    return None


def _check_group(
    plan: _Plan,
    loaded: LoadedSchema,
    tables: Sequence[pa.Table],
    key: Sequence[str],
    target: str,
    n_examples: int,
) -> list[ChunkVerdict]:
    """Validate consecutive chunks in one pandera call; split the failures back per chunk.

    pandera costs ~20 ms per call whatever the size, so small chunks are
    validated together (up to GROUP_ROWS rows) while verdicts stay per chunk.
    """
    import numpy as np
    import polars as pl

    table = tables[0] if len(tables) == 1 else pa.concat_tables(tables)
    starts = np.cumsum([0] + [t.num_rows for t in tables[:-1]]).astype(np.int64)
    fc = _run_pandera(plan, loaded, table, target)
    failures: list[list[ChunkFailure]] = [[] for _ in tables]
    if fc is not None and fc.height:
        names = set(table.column_names)
        keys = [k for k in key if k in names]
        rows = fc.filter(pl.col("index").is_not_null())
        chunk_of = np.searchsorted(starts, rows["index"].to_numpy(), side="right") - 1
        rows = rows.with_columns(pl.Series("chunk", chunk_of, dtype=pl.Int64))
        grouped = rows.group_by(
            ["chunk", "column", "check", "check_number"], maintain_order=True
        ).agg(pl.len().alias("n"), pl.col("index").head(n_examples).alias("idx"))
        for g in grouped.sort("chunk", maintain_order=True).iter_rows(named=True):
            column, check, number, c = g["column"], g["check"], g["check_number"], int(g["chunk"])
            sev: Literal["error", "warning"] = (
                "warning" if number is not None and (column, number) in plan.warn else "error"
            )
            examples = []
            for i in g["idx"]:
                value = table.column(column)[i].as_py() if column in names else None
                kv = (
                    tuple((k, jsonable(table.column(k)[i].as_py())) for k in keys)
                    if keys
                    else None
                )
                examples.append(Example(value=jsonable(value), row=int(i - starts[c]), key=kv))
            failures[c].append(ChunkFailure(column, check, sev, int(g["n"]), tuple(examples)))
        schema_level = fc.filter(pl.col("index").is_null()).unique(maintain_order=True)
        merged: dict[tuple[str | None, str, str], list[str]] = {}
        for r in schema_level.iter_rows(named=True):
            column, case = r["column"], str(r["failure_case"])
            if column is None and r["check"] in ("column_in_schema", "column_in_dataframe"):
                column = case  # name the offending column
            number = r["check_number"]
            sev = "warning" if number is not None and (column, number) in plan.warn else "error"
            merged.setdefault((column, r["check"], sev), []).append(case)
        for (column, check, sev_), cases in merged.items():
            # Not tied to rows (a dtype, a missing column): true of every chunk in the group.
            for per_chunk in failures:
                per_chunk.append(
                    ChunkFailure(
                        column,
                        check,
                        "warning" if sev_ == "warning" else "error",
                        0,
                        (),
                        tuple(cases),
                    )
                )
    return [
        ChunkVerdict(rows=t.num_rows, key=tuple(key), failures=tuple(f))
        for t, f in zip(tables, failures, strict=True)
    ]


# ---------------------------------------------------------------------------------
# the entry points


def validate_chunks(
    loaded: LoadedSchema,
    chunks: Sequence[ChunkInput],
    *,
    parquet_files: Sequence[str] | Callable[[], Sequence[str]] | None,
    columns: Sequence[str],
    filesystem: Any = None,
    key: Sequence[str] = (),
    cache: VerdictCache | None = None,
    target: str = "data",
    n_examples: int = N_EXAMPLES,
    key_guaranteed: bool = False,
) -> ValidationReport:
    """Validate ``chunks`` (in row order) against ``loaded``.

    ``parquet_files`` are the same chunks as Parquet files (paths or URLs that
    DuckDB can read, through ``filesystem`` when given), in the same order;
    they are only read when the schema has cross-chunk checks, and may be given
    as a callable so that verifying them costs nothing otherwise.
    ``columns`` are the data's column names.
    ``key_guaranteed``: the rows are a committed snapshot whose ``key`` was
    checked unique and null-free when it was written, so a uniqueness check
    over the key columns (or a superset of them) cannot fail and is not run
    again over the whole data.
    """
    plan = _plan(loaded, columns, key)
    if key_guaranteed and key:
        keyset = set(key)
        plan = dataclasses.replace(
            plan, uniques=tuple(u for u in plan.uniques if not keyset <= set(u.columns))
        )
    merged: dict[tuple[str | None, str, str], tuple[int, list[Example], list[str]]] = {}
    rows = 0
    verdicts: list[ChunkVerdict | None] = []
    for chunk in chunks:
        verdict = None
        if cache is not None and chunk.fingerprint:
            verdict = cache.get(loaded.fingerprint, chunk.fingerprint)
            if verdict is not None and (verdict.key != tuple(key) or verdict.rows != chunk.rows):
                verdict = None
        verdicts.append(verdict)
    reused = sum(v is not None for v in verdicts)
    checked = len(chunks) - reused

    def flush(group: list[int]) -> None:
        tables = [chunks[i].load() for i in group]
        for i, verdict in zip(
            group, _check_group(plan, loaded, tables, key, target, n_examples), strict=True
        ):
            verdicts[i] = verdict
            fp = chunks[i].fingerprint
            if cache is not None and fp:
                cache.put(loaded.fingerprint, fp, verdict)

    group: list[int] = []
    group_rows = 0
    for i, chunk in enumerate(chunks):
        if verdicts[i] is not None:
            continue
        if group and group_rows + chunk.rows > GROUP_ROWS:
            flush(group)
            group, group_rows = [], 0
        group.append(i)
        group_rows += chunk.rows
    if group:
        flush(group)

    for chunk, maybe in zip(chunks, verdicts, strict=True):
        assert maybe is not None
        verdict = maybe
        rows += verdict.rows
        for f in verdict.failures:
            count, examples, cases = merged.setdefault((f.column, f.check, f.severity), (0, [], []))
            for e in f.examples:
                if len(examples) < n_examples:
                    row = e.row + chunk.row_offset if e.row is not None else None
                    examples.append(Example(value=e.value, row=row, key=e.key))
            cases.extend(c for c in f.cases if c not in cases)
            merged[(f.column, f.check, f.severity)] = (count + f.count, examples, cases)
    results: list[CheckFailure] = []
    for (column, check, sev), (count, examples, cases) in merged.items():
        if not examples:
            examples = [Example(value=c) for c in cases[:n_examples]]
        results.append(
            CheckFailure(
                column,
                check,
                count + len(cases),
                tuple(examples),
                "warning" if sev == "warning" else "error",
            )
        )
    files_cache: list[Sequence[str]] = []

    def files_once() -> Sequence[str]:
        if not files_cache:
            files = parquet_files() if callable(parquet_files) else parquet_files
            if files is None:
                raise ValueError("validate_chunks needs parquet_files for cross-chunk checks")
            if len(files) != len(chunks):
                raise ValueError("parquet_files must list the same chunks, in the same order")
            files_cache.append(files)
        return files_cache[0]

    if plan.uniques or plan.value_sets:
        offsets = [c.row_offset for c in chunks]
        results.extend(global_checks(plan.uniques, plan.value_sets, files_once(), offsets, filesystem, columns, key, n_examples))
    if plan.frame is not None:
        results.extend(_frame_checks(plan, loaded, chunks, files_once, filesystem, target, n_examples))
    order = {c: i for i, c in enumerate(plan.checks)}
    results.sort(key=lambda r: (order.get((r.column, r.check), len(order)), str(r.column), r.check))
    return ValidationReport(
        schema=loaded.name,
        schema_fingerprint=loaded.fingerprint,
        target=target,
        rows_checked=rows,
        errors=tuple(r for r in results if r.severity == "error"),
        warnings=tuple(r for r in results if r.severity == "warning"),
        chunks_checked=checked,
        chunks_reused=reused,
        checks=plan.checks,
        schema_lines=loaded.lines,
    )


def _frame_checks(
    plan: _Plan,
    loaded: LoadedSchema,
    chunks: Sequence[ChunkInput],
    files: Callable[[], Sequence[str]],
    filesystem: Any,
    target: str,
    n_examples: int,
) -> list[CheckFailure]:
    """Run dataframe-level checks once over all rows.

    A polars schema gets a LazyFrame scanning the (verified) local chunk files,
    so polars plans the check and streams; otherwise, and for pandas schemas,
    the rows are assembled in memory, as pandera itself would need them.
    """
    import polars as pl

    if not chunks:
        return []
    data: Any
    paths = files() if filesystem is None else None
    if loaded.backend == "polars" and paths:
        data = pl.scan_parquet(list(paths))
    else:
        table = pa.concat_tables([c.load() for c in chunks])
        if loaded.backend == "polars":
            frame = pl.from_arrow(table)
            assert isinstance(frame, pl.DataFrame)
            data = frame.lazy()
        else:
            data = table
    fc = _run_pandera(plan, loaded, data, target, schema=plan.frame)
    if fc is None or not fc.height:
        return []
    out: list[CheckFailure] = []
    for (check, number), group in fc.group_by(["check", "check_number"], maintain_order=True):
        rows = group.filter(pl.col("index").is_not_null())
        count = rows.height if rows.height else 1
        examples = tuple(
            Example(value=jsonable(r["failure_case"]), row=int(r["index"]))
            for r in rows.head(n_examples).iter_rows(named=True)
        ) or tuple(Example(value=str(v)) for v in group["failure_case"].head(n_examples).to_list())
        severity: Literal["error", "warning"] = "warning" if number in plan.frame_warn else "error"
        out.append(CheckFailure(None, str(check), count, examples, severity))
    return out


def _parquet_loader(path: str) -> Callable[[], pa.Table]:
    return lambda: pq.read_table(path)


def validate_batches(
    loaded: LoadedSchema,
    batches: Iterable[pa.RecordBatch | pa.Table],
    *,
    schema: pa.Schema,
    key: Sequence[str] = (),
    target: str = "data",
    rows_per_chunk: int = 128 * 1024,
    n_examples: int = N_EXAMPLES,
) -> ValidationReport:
    """Validate a stream (a SOURCE) in bounded memory: spool it to temporary Parquet chunks first.

    Nothing is cached: verdicts are kept only for chunks that are committed.
    """
    with tempfile.TemporaryDirectory(prefix="dvtool-validate-") as tmp:
        chunks: list[ChunkInput] = []
        files: list[str] = []
        pending: list[pa.RecordBatch | pa.Table] = []
        pending_rows = offset = 0

        def spill() -> None:
            nonlocal pending, pending_rows, offset
            path = str(Path(tmp) / f"chunk-{len(files):06d}.parquet")
            table = (
                pa.Table.from_batches([], schema=schema)
                if not pending
                else pa.concat_tables(
                    [p if isinstance(p, pa.Table) else pa.Table.from_batches([p]) for p in pending]
                )
            )
            pq.write_table(table, path)
            chunks.append(ChunkInput(None, offset, table.num_rows, _parquet_loader(path)))
            files.append(path)
            offset += table.num_rows
            pending, pending_rows = [], 0

        for batch in batches:
            while batch.num_rows:
                take = min(batch.num_rows, rows_per_chunk - pending_rows)
                pending.append(batch.slice(0, take))
                pending_rows += take
                batch = batch.slice(take)
                if pending_rows >= rows_per_chunk:
                    spill()
        if pending or not chunks:
            spill()
        return validate_chunks(
            loaded,
            chunks,
            parquet_files=files,
            columns=schema.names,
            key=key,
            target=target,
            n_examples=n_examples,
        )


# ---------------------------------------------------------------------------------
# inference


def infer_schema(
    data: pa.Table | pa.RecordBatchReader | Iterable[pa.RecordBatch],
    *,
    schema: pa.Schema | None = None,
    key: Sequence[str] = (),
    name: str | None = None,
) -> str:
    """A polars-schema YAML that ``data`` passes: dtypes, nullability, numeric ranges, key uniqueness.

    One streaming pass; memory does not grow with the data.
    """
    import pandera.polars as pp
    import polars as pl

    if isinstance(data, pa.Table):
        schema, batches = data.schema, iter(data.to_batches())
    elif isinstance(data, pa.RecordBatchReader):
        schema, batches = data.schema, iter(data)
    else:
        batches = iter(data)
        if schema is None:
            first = next(batches, None)
            if first is None:
                raise UsageError("cannot infer a schema from no data and no column types")
            schema = first.schema
            batches = iter([first, *batches])
    nulls = dict.fromkeys(schema.names, 0)
    lo: dict[str, Any] = {}
    hi: dict[str, Any] = {}
    ranged = {
        f.name for f in schema if (pa.types.is_integer(f.type) or pa.types.is_floating(f.type))
    }
    for batch in batches:
        for f, col in zip(schema, batch.columns, strict=True):
            nulls[f.name] += col.null_count
            if f.name not in ranged:
                continue
            if pa.types.is_floating(f.type) and pc.any(pc.is_nan(col)).as_py():
                ranged.discard(f.name)  # NaN compares false with every bound
                continue
            mm = pc.min_max(col).as_py()
            if mm["min"] is not None:
                lo[f.name] = mm["min"] if f.name not in lo else min(lo[f.name], mm["min"])
                hi[f.name] = mm["max"] if f.name not in hi else max(hi[f.name], mm["max"])
    empty = pl.from_arrow(schema.empty_table())
    assert isinstance(empty, pl.DataFrame)
    dtypes = empty.schema
    columns = {}
    for f in schema:
        checks = []
        if f.name in ranged and f.name in lo:
            checks.append(pp.Check.in_range(lo[f.name], hi[f.name]))
        unique = len(key) == 1 and key[0] == f.name
        try:
            column = pp.Column(
                dtypes[f.name], checks=checks or None, nullable=nulls[f.name] > 0, unique=unique
            )
        except (TypeError, ValueError):
            # A type pandera cannot express (maps, some nested types): check presence only.
            column = pp.Column(None, checks=checks or None, nullable=nulls[f.name] > 0, unique=unique)
        columns[f.name] = column
    out = pp.DataFrameSchema(
        columns, unique=list(key) if len(key) > 1 else None, name=name, strict=False
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        text = out.to_yaml()
    return str(text)
