"""How a SOURCE's bytes become rows: null markers, delimiter, encoding, types.

A :class:`ReadOptions` value is what ``--null-values``, ``--delimiter``,
``--encoding``, ``--skip-rows``, ``--column-type COL=TYPE`` and
``--read-option KEY=VALUE`` say. It is frozen and canonical: the same choice
always gives the same :meth:`ReadOptions.to_dict`, which a snapshot records in
its manifest and which keys the stat cache (another reading of the same bytes
is other data).

**Nulls by default.** A CSV cell is null when it is empty or one of
:data:`DEFAULT_NULL_VALUES` — pandas' default ``na_values`` (a superset of
pyarrow's list, which lacks ``None`` and ``<NA>``) — in *every* column, text
columns included, and quoted (``"NA"``) as well as bare, as ``pandas.read_csv``
does. pyarrow alone keeps those cells as text in string columns
(``strings_can_be_null=False``), so a literal ``NA`` would be a value and
``nullable: false`` would never fire on it. ``--null-values`` replaces the
list; ``--read-option quoted_strings_can_be_null=false`` keeps quoted cells
literal (to tell ``""`` from a missing value).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dvtool.errors import UsageError

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["DEFAULT_NULL_VALUES", "ReadOptions", "parse_type"]

# pandas' default na_values (pandas._libs.parsers.STR_NA_VALUES, pandas 2.x and 3.x), sorted.
DEFAULT_NULL_VALUES: tuple[str, ...] = (
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
    "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
)  # fmt: skip

# --read-option keys: which pyarrow options object takes them, for which format, and their kind.
_CSV_KEYS: dict[str, tuple[str, str]] = {
    "autogenerate_column_names": ("read", "bool"),
    "column_names": ("read", "list"),
    "skip_rows_after_names": ("read", "int"),
    "quote_char": ("parse", "char_or_false"),
    "double_quote": ("parse", "bool"),
    "escape_char": ("parse", "char_or_false"),
    "newlines_in_values": ("parse", "bool"),
    "ignore_empty_lines": ("parse", "bool"),
    "check_utf8": ("convert", "bool"),
    "true_values": ("convert", "list"),
    "false_values": ("convert", "list"),
    "strings_can_be_null": ("convert", "bool"),
    "quoted_strings_can_be_null": ("convert", "bool"),
    "include_columns": ("convert", "list"),
    "include_missing_columns": ("convert", "bool"),
    "auto_dict_encode": ("convert", "bool"),
    "auto_dict_max_cardinality": ("convert", "int"),
    "decimal_point": ("convert", "char"),
    "timestamp_parsers": ("convert", "list"),
}
_JSON_KEYS: dict[str, tuple[str, str]] = {
    "newlines_in_values": ("parse", "bool"),
    "unexpected_field_behavior": ("parse", "str"),
}
# Set by dvtool itself, or by a dedicated option: not through --read-option.
_RESERVED = {
    "delimiter": "--delimiter",
    "encoding": "--encoding",
    "skip_rows": "--skip-rows",
    "null_values": "--null-values",
    "column_types": "--column-type COL=TYPE",
    "explicit_schema": "--column-type COL=TYPE",
    "block_size": None,
    "use_threads": None,
    "invalid_row_handler": None,
}
_FRIENDLY_TYPES = {
    "int": "int64", "integer": "int64", "float": "float64", "double": "float64",
    "str": "string", "text": "string", "boolean": "bool", "date": "date32",
    "datetime": "timestamp[ms]", "timestamp": "timestamp[ms]",
}  # fmt: skip


def parse_type(text: str, *, what: str = "type") -> pa.DataType:
    """An Arrow type from its name: ``int64``, ``string``, ``date32``, ``timestamp[ms, tz=UTC]``,
    ``decimal128(12, 2)``, or the short names int, float, str, bool, date, datetime."""
    import pyarrow as pa

    name = text.strip()
    name = _FRIENDLY_TYPES.get(name.lower(), name)
    m = re.fullmatch(r"decimal(128|256)?\(\s*(\d+)\s*,\s*(-?\d+)\s*\)", name)
    if m:
        ctor = pa.decimal256 if m.group(1) == "256" else pa.decimal128
        try:
            return ctor(int(m.group(2)), int(m.group(3)))
        except (ValueError, pa.ArrowInvalid) as exc:
            raise UsageError(f"{what} {text!r}: {exc}") from None
    m = re.fullmatch(r"timestamp\[\s*(s|ms|us|ns)\s*(?:,\s*tz\s*=\s*([^\]]+?)\s*)?\]", name)
    if m:
        return pa.timestamp(m.group(1), m.group(2))
    try:
        return pa.type_for_alias(name)
    except (ValueError, KeyError):
        raise UsageError(
            f"{what} {text!r} is not a type; use e.g. int64, float64, string, bool, date32, "
            "timestamp[ms], timestamp[us, tz=UTC], decimal128(12, 2)"
        ) from None


def _split_list(value: str) -> tuple[str, ...]:
    return tuple(value.split(","))


def _convert(key: str, kind: str, value: str) -> Any:
    low = value.strip().lower()
    if kind == "bool":
        if low in ("true", "1", "yes", "on"):
            return True
        if low in ("false", "0", "no", "off"):
            return False
        raise UsageError(f"--read-option {key} expects true or false, got {value!r}")
    if kind == "int":
        try:
            n = int(value)
        except ValueError:
            raise UsageError(f"--read-option {key} expects a whole number, got {value!r}") from None
        if n < 0:
            raise UsageError(f"--read-option {key} must not be negative")
        return n
    if kind == "list":
        return list(_split_list(value))
    if kind in ("char", "char_or_false"):
        if kind == "char_or_false" and low in ("false", "none", ""):
            return False
        if len(value) != 1:
            raise UsageError(f"--read-option {key} expects one character, got {value!r}")
        return value
    return value


@dataclass(frozen=True, slots=True)
class ReadOptions:
    """How to read CSV (and JSON Lines) SOURCE files; the default reads like pandas."""

    null_values: tuple[str, ...] | None = None  # None: DEFAULT_NULL_VALUES
    delimiter: str | None = None  # None: ',' (a tab for .tsv files)
    encoding: str | None = None  # None: UTF-8
    skip_rows: int = 0  # lines skipped before the header
    column_types: tuple[tuple[str, str], ...] = ()  # (column, type name), sorted
    extra: tuple[tuple[str, str], ...] = ()  # --read-option KEY=VALUE, sorted

    @classmethod
    def build(
        cls,
        *,
        null_values: str | Iterable[str] | None = None,
        delimiter: str | None = None,
        encoding: str | None = None,
        skip_rows: int = 0,
        column_types: Mapping[str, str] | None = None,
        options: Mapping[str, str] | None = None,
    ) -> ReadOptions:
        """Checked options: ``null_values`` a comma list or a sequence, ``options`` the passthrough."""
        nulls: tuple[str, ...] | None = None
        if null_values is not None:
            nulls = (
                _split_list(null_values)
                if isinstance(null_values, str)
                else tuple(str(v) for v in null_values)
            )
            nulls = tuple(dict.fromkeys(nulls))
        if delimiter is not None:
            delimiter = {"\\t": "\t", "tab": "\t", "TAB": "\t"}.get(delimiter, delimiter)
            if len(delimiter) != 1 or delimiter in '\r\n"':
                raise UsageError(f"--delimiter must be one character (or \\t), got {delimiter!r}")
        if encoding is not None:
            import codecs

            try:
                encoding = codecs.lookup(encoding).name
            except LookupError:
                raise UsageError(
                    f"--encoding {encoding!r} is not an encoding Python knows"
                ) from None
            if encoding == "utf-8":
                encoding = None
        if skip_rows < 0:
            raise UsageError("--skip-rows must not be negative")
        types: list[tuple[str, str]] = []
        for col, typ in (column_types or {}).items():
            if not col:
                raise UsageError("--column-type expects COL=TYPE with a column name")
            parse_type(typ, what=f"--column-type {col}=")
            types.append((str(col), str(typ).strip()))
        extra: list[tuple[str, str]] = []
        for k, v in (options or {}).items():
            if k in _RESERVED:
                instead = _RESERVED[k]
                hint = f"; use {instead}" if instead else " (dvtool sets it)"
                raise UsageError(f"--read-option {k} cannot be set{hint}")
            if k not in _CSV_KEYS and k not in _JSON_KEYS:
                close = difflib.get_close_matches(k, sorted({*_CSV_KEYS, *_JSON_KEYS}), n=1)
                hint = f"did you mean {close[0]!r}? " if close else ""
                raise UsageError(
                    f"unknown --read-option {k!r} ({hint}see pyarrow.csv ReadOptions, ParseOptions, "
                    "ConvertOptions and pyarrow.json ParseOptions)"
                )
            kind = (_CSV_KEYS.get(k) or _JSON_KEYS[k])[1]
            _convert(k, kind, str(v))  # refuse a bad value now, not at read time
            extra.append((str(k), str(v)))
        return cls(
            nulls, delimiter, encoding, skip_rows, tuple(sorted(types)), tuple(sorted(extra))
        )

    @property
    def is_default(self) -> bool:
        return self == ReadOptions()

    def to_dict(self) -> dict[str, Any]:
        """The options that differ from the default (canonical; recorded in manifests)."""
        d: dict[str, Any] = {}
        if self.null_values is not None:
            d["null_values"] = list(self.null_values)
        if self.delimiter is not None:
            d["delimiter"] = self.delimiter
        if self.encoding is not None:
            d["encoding"] = self.encoding
        if self.skip_rows:
            d["skip_rows"] = self.skip_rows
        if self.column_types:
            d["column_types"] = dict(self.column_types)
        if self.extra:
            d["options"] = dict(self.extra)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ReadOptions:
        nulls = d.get("null_values")
        return cls(
            tuple(str(v) for v in nulls) if nulls is not None else None,
            d.get("delimiter"),
            d.get("encoding"),
            int(d.get("skip_rows", 0)),
            tuple(sorted((str(k), str(v)) for k, v in (d.get("column_types") or {}).items())),
            tuple(sorted((str(k), str(v)) for k, v in (d.get("options") or {}).items())),
        )

    def token(self) -> str:
        """A short canonical text of the options, for cache keys ('' for the default)."""
        import json

        return (
            json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
            if not self.is_default
            else ""
        )

    def cli_args(self) -> list[str]:
        """The command-line options that give these options (for messages and docs)."""
        out: list[str] = []
        if self.null_values is not None:
            out += ["--null-values", ",".join(self.null_values)]
        if self.delimiter is not None:
            out += ["--delimiter", "\\t" if self.delimiter == "\t" else self.delimiter]
        if self.encoding is not None:
            out += ["--encoding", self.encoding]
        if self.skip_rows:
            out += ["--skip-rows", str(self.skip_rows)]
        for col, typ in self.column_types:
            out += ["--column-type", f"{col}={typ}"]
        for k, v in self.extra:
            out += ["--read-option", f"{k}={v}"]
        return out

    def describe(self) -> str:
        """``--null-values 'NA,' --delimiter ';'`` — shell-quoted; 'defaults' when none is set."""
        import shlex

        args = self.cli_args()
        return " ".join(a if a.startswith("--") else shlex.quote(a) for a in args) or "defaults"

    def refuse_for(self, ref: str) -> None:
        """Read options given for a dataset REF would be ignored: say so."""
        if not self.is_default:
            raise UsageError(
                f"read options ({self.describe()}) apply to SOURCE files; {ref!r} is a dataset REF"
            )

    # -- applying them ------------------------------------------------------------------

    def check_format(self, fmt: str, where: str) -> None:
        """Refuse options that would be silently ignored for a ``fmt`` file."""
        if fmt == "csv":
            for k, _ in self.extra:
                if k not in _CSV_KEYS:
                    raise UsageError(
                        f"--read-option {k} applies to JSON Lines, not to the CSV {where}"
                    )
            return
        csv_only = [
            name
            for name, used in (
                ("--null-values", self.null_values is not None),
                ("--delimiter", self.delimiter is not None),
                ("--skip-rows", bool(self.skip_rows)),
            )
            if used
        ]
        if fmt != "jsonl" and self.encoding is not None:
            csv_only.append("--encoding")
        if csv_only:
            raise UsageError(f"{csv_only[0]} applies to CSV files; {where} is {fmt}")
        for k, _ in self.extra:
            if fmt != "jsonl" or k not in _JSON_KEYS:
                raise UsageError(f"--read-option {k} does not apply to {where} ({fmt})")

    def arrow_types(self) -> dict[str, pa.DataType]:
        return {
            col: parse_type(typ, what=f"--column-type {col}=") for col, typ in self.column_types
        }

    def csv(self, path: str) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        """Keyword arguments for pyarrow.csv ReadOptions, ParseOptions, ConvertOptions."""
        read: dict[str, Any] = {"skip_rows": self.skip_rows}
        if self.encoding is not None:
            read["encoding"] = self.encoding
        default_delimiter = "\t" if path.lower().removesuffix(".gz").endswith(".tsv") else ","
        parse: dict[str, Any] = {"delimiter": self.delimiter or default_delimiter}
        convert: dict[str, Any] = {
            "null_values": list(
                DEFAULT_NULL_VALUES if self.null_values is None else self.null_values
            ),
            "strings_can_be_null": True,
            "quoted_strings_can_be_null": True,
        }
        if self.column_types:
            convert["column_types"] = self.arrow_types()
        target = {"read": read, "parse": parse, "convert": convert}
        for k, v in self.extra:
            where, kind = _CSV_KEYS[k]
            target[where][k] = _convert(k, kind, v)
        return read, parse, convert

    def json(self) -> dict[str, Any]:
        """Keyword arguments for pyarrow.json ParseOptions."""
        parse: dict[str, Any] = {}
        if self.column_types:
            import pyarrow as pa

            parse["explicit_schema"] = pa.schema(list(self.arrow_types().items()))
        for k, v in self.extra:
            _where, kind = _JSON_KEYS[k]
            parse[k] = _convert(k, kind, v)
        return parse
