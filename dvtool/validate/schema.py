"""Loading pandera schemas strictly: YAML/JSON files, ``file.py:NAME`` and schema objects.

pandera silently drops a check key it does not know (a typo such as
``in_rnage``), which would let bad data pass, so every key is checked here
first and an unknown one is a UsageError (exit 2). The only module besides
``engine`` that imports pandera.
"""

from __future__ import annotations

import copy
import difflib
import importlib.util
import inspect
import json
import re
import uuid
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import xxhash

from dvtool.errors import NotFoundError, UsageError
from dvtool.format.hashing import ALGORITHM
from dvtool.validate.verdicts import (
    ENGINE,
)

__all__ = ["Backend", "LoadedSchema", "load_schema"]

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


@dataclass(frozen=True, slots=True)
class LoadedSchema:
    """A pandera schema ready to run, with the fingerprint that keys its cached verdicts."""

    name: str  # the file (or file.py:NAME) as given, for reports
    backend: Backend
    fingerprint: str  # xxh128:<hex> of the canonical schema text (+ engine versions)
    schema: Any = field(compare=False, repr=False)  # pandera DataFrameSchema
    lines: tuple[tuple[str, int], ...] = ()  # column -> 1-based line in the YAML file
    # Why the fingerprint may not identify the checks that run (Python code in checks,
    # registered custom checks, parsers), or "" when it does; only then are verdicts reused.
    unproven: str = ""

    @property
    def proven(self) -> bool:
        return not self.unproven


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
        unproven=_unproven_checks(schema, name),
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
        if isinstance(value, dict) and "options" in value:
            _check_flat_options(key, value["options"], where=f"{where}.{key}", name=name)
            rest = {k: v for k, v in value.items() if k != "options"}
            _check_args(key, rest, where=f"{where}.{key}", name=name, listed=True)
            continue
        _check_args(key, value, where=f"{where}.{key}", name=name)


# What pandera assumes for an option it is not given.
_OPTION_DEFAULTS: dict[str, Any] = {
    "raise_warning": False,
    "ignore_na": True,
    "n_failure_cases": None,
    "groupby": None,
    "groups": None,
    "error": None,
}


def _check_flat_options(check_name: str, options: Any, *, where: str, name: str) -> None:
    """The older flat form ``greater_than: {value: 0, options: {...}}``.

    pandera 0.35 still loads it but drops its ``options`` without a word, so an
    option that would change the check (``raise_warning: true``, ...) is refused
    rather than silently ignored; options equal to pandera's defaults load.
    """
    if not isinstance(options, dict):
        raise UsageError(f"schema file {name}: {where}.options must be a mapping")
    for k, v in options.items():
        if k not in _OPTION_KEYS:
            raise UsageError(
                f"schema file {name}: unknown check option {where}.options.{k}"
                f"{_suggest(str(k), _OPTION_KEYS)}"
            )
        if k in ("check_name", "name"):
            if v not in (None, check_name):
                raise UsageError(
                    f"schema file {name}: {where}.options.{k} is {v!r}, not {check_name!r}"
                )
            continue
        if v != _OPTION_DEFAULTS.get(k):
            raise UsageError(
                f"schema file {name}: pandera ignores {where}.options.{k} in this form; "
                f"write it beside the arguments ({check_name}: {{..., {k}: {v!r}}}) or in a 'checks' list"
            )


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
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            doc: Any = json.loads(obj.to_json())
            faithful = not caught
        except Exception:  # not serializable (e.g. lambda checks): fall back to its repr
            doc, faithful = repr(obj), False
    identity = {"doc": doc, "repr": repr(obj), "checks": _check_details(obj), **extra}
    unproven = _unproven_checks(obj, name)
    if not unproven and not faithful:
        # pandera leaves lambda and unregistered checks out of the JSON (with a warning)
        unproven = (
            f"schema {name} has parts pandera cannot serialise, so its identity cannot be proven"
        )
    if unproven:
        identity["uncached"] = uuid.uuid4().hex  # never the fingerprint of another schema either
    return LoadedSchema(
        name=name,
        backend=backend,
        fingerprint=_fingerprint(identity),
        schema=obj,
        unproven=unproven,
    )


def _all_checks(schema: Any) -> list[tuple[str, Any]]:
    """(where, check) for every check of a pandera schema: dataframe, columns, index."""
    found = [("dataframe", c) for c in getattr(schema, "checks", None) or ()]
    for col_name, col in (getattr(schema, "columns", None) or {}).items():
        found += [(f"column {col_name!r}", c) for c in getattr(col, "checks", None) or ()]
    index = getattr(schema, "index", None)
    for idx in [index, *(getattr(index, "indexes", None) or ())] if index is not None else []:
        found += [("index", c) for c in getattr(idx, "checks", None) or ()]
    return found


def _check_details(schema: Any) -> list[Any]:
    """What serialization may leave out of a built-in check: its options."""
    out = []
    for where, c in _all_checks(schema):
        out.append(
            [
                where,
                c.name,
                getattr(c, "statistics", None),
                getattr(c, "ignore_na", None),
                getattr(c, "element_wise", None),
                getattr(c, "raise_warning", None),
                repr(getattr(c, "groupby", None)),
                repr(getattr(c, "groups", None)),
                getattr(c, "n_failure_cases", None),
            ]
        )
    return out


def _same_function(fn: Any, builtin: Any) -> bool:
    """``fn`` is pandera's built-in check ``builtin``, or a copy of its dispatcher.

    A copy holds the implementations registered when it was made; the built-in
    one gains a backend's (polars) on first use, so a copy's must be a subset.
    """
    if fn is builtin:
        return True
    registry = getattr(builtin, "_function_registry", None)
    own = getattr(fn, "_function_registry", None)
    return (
        type(fn) is type(builtin)
        and isinstance(registry, dict)
        and isinstance(own, dict)
        and bool(own)
        and all(registry.get(k) is v for k, v in own.items())
        and getattr(fn, "_name", None) == getattr(builtin, "_name", None)
    )


def _unproven_checks(schema: Any, name: str) -> str:
    """Why ``schema``'s fingerprint may not pin down what it runs, or "" when it does.

    Only pandera's built-in checks are described completely by their name and
    arguments; a check with Python code (a lambda, a registered or model
    method) is identified by its name only, and the code it calls may live in
    any module, so two different checks can share a fingerprint.
    """
    from pandera.api.checks import Check

    for where, c in _all_checks(schema):
        try:
            builtin = Check.get_builtin_check_fn(c.name)
        except Exception:  # not a built-in name
            builtin = None
        if builtin is None or not _same_function(getattr(c, "_check_fn", None), builtin):
            return f"schema {name} has a check with Python code ({c.name!r} on the {where}), so its identity cannot be proven"
    if getattr(schema, "parsers", None) or any(
        getattr(col, "parsers", None) for col in (getattr(schema, "columns", None) or {}).values()
    ):
        return f"schema {name} has parsers (Python code), so its identity cannot be proven"
    return ""
