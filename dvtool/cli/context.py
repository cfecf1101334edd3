"""What every command shares: the parsed global options (State), option helpers, output."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import click

from dvtool.errors import UsageError

if TYPE_CHECKING:
    from dvtool import ReadOptions, Repo

F = TypeVar("F", bound=Callable[..., Any])

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@dataclass
class State:
    """Global options, shared by every command through click's context."""

    repo_url: str | None = None
    storage_options: dict[str, str] = field(default_factory=dict)
    quiet: bool = False
    debug: bool = False
    _repo: Repo | None = None

    def repo(self) -> Repo:
        if self._repo is None:
            from dvtool import Repo

            self._repo = Repo.open(self.repo_url, storage_options=self.storage_options)
        return self._repo


pass_state = click.make_pass_decorator(State, ensure=True)


def parse_pairs(values: tuple[str, ...], what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in values:
        k, sep, v = item.partition("=")
        if not sep or not k:
            raise UsageError(f"{what} expects KEY=VALUE, got {item!r}")
        out[k] = v
    return out


def emit(text: str) -> None:
    click.echo(text)


def json_option(f: F) -> F:
    return click.option(
        "--json", "as_json", is_flag=True, help="Print one JSON document on stdout."
    )(f)


def read_options(f: F) -> F:
    """The SOURCE read options; the command gets ``read`` (a ReadOptions, or None when none is given)."""

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        given = {
            name: kwargs.pop(name)
            for name in (
                "null_values",
                "delimiter",
                "encoding",
                "skip_rows",
                "column_types",
                "read_option",
            )
        }
        kwargs["read"] = build_read_options(**given)
        return f(*args, **kwargs)

    options = [
        click.option(
            "--null-values",
            "null_values",
            metavar="LIST",
            help="Comma list of CSV cells read as null, in every column (replaces the default: "
            "empty, NA, N/A, NULL, NaN, null, None and the rest of pandas' list).",
        ),
        click.option(
            "--delimiter", metavar="CHAR", help="CSV field delimiter (default , ; \t for .tsv)."
        ),
        click.option(
            "--encoding", metavar="NAME", help="Text encoding of CSV/JSON files (default utf-8)."
        ),
        click.option(
            "--skip-rows",
            "skip_rows",
            type=click.IntRange(min=0),
            default=0,
            help="Lines to skip before the CSV header.",
        ),
        click.option(
            "--column-type",
            "column_types",
            multiple=True,
            metavar="COL=TYPE",
            help="Read COL as TYPE: int64, float64, string, bool, date32, timestamp[ms], "
            "decimal128(12,2)... (repeatable).",
        ),
        click.option(
            "--read-option",
            "read_option",
            multiple=True,
            metavar="KEY=VALUE",
            help="Passed to pyarrow's CSV/JSON reader, e.g. quoted_strings_can_be_null=false (repeatable).",
        ),
    ]
    for option in reversed(options):
        wrapper = option(wrapper)
    return wrapper  # type: ignore[return-value]


def build_read_options(
    *,
    null_values: str | None,
    delimiter: str | None,
    encoding: str | None,
    skip_rows: int,
    column_types: tuple[str, ...],
    read_option: tuple[str, ...],
) -> ReadOptions | None:
    """A ReadOptions from the command line, or None when no read option was given."""
    if (
        null_values is None
        and delimiter is None
        and encoding is None
        and not skip_rows
        and not column_types
        and not read_option
    ):
        return None
    from dvtool import ReadOptions

    return ReadOptions.build(
        null_values=null_values,
        delimiter=delimiter,
        encoding=encoding,
        skip_rows=skip_rows,
        column_types=parse_pairs(column_types, "--column-type"),
        options=parse_pairs(read_option, "--read-option"),
    )


def repo_or_none(state: State, target: str) -> Repo | None:
    """The repository, or None when there is none and ``target`` can only be a SOURCE."""
    from dvtool.errors import NotFoundError

    try:
        return state.repo()
    except NotFoundError:
        if state.repo_url is not None or os.environ.get("DVTOOL_REPO"):
            raise
        return None  # validating or inferring a file needs no repository


def check_output_early(output: str | None, force: bool) -> None:
    """Refuse a bad ``--output`` before any work: no verdict cached, no time spent, for nothing."""
    if output is not None:
        from dvtool import check_output

        check_output(output, force=force)


def write_output(text: str, output: str | None, *, force: bool = False) -> None:
    """``text`` to stdout, or to the file ``output`` (a temp file beside it, then a rename;
    an existing file only with ``--force``; never a link or a device)."""
    if output is None:
        click.echo(text, nl=False)
        return
    from dvtool import write_text_output

    write_text_output(text, output, force=force)


def engine_options(f: F) -> F:
    """--engine, --spark-master and --spark-conf (validate, diff, query, snapshot)."""
    f = click.option("--spark-conf", "spark_conf", multiple=True, metavar="KEY=VALUE",
                     help="Spark setting for the session dvtool builds (repeatable).")(f)  # fmt: skip
    f = click.option("--spark-master", "spark_master", metavar="URL",
                     help="Spark master for the session dvtool builds (default local[*]; "
                          "an active SparkSession is used as it is).")(f)  # fmt: skip
    f = click.option("--engine", "engine", type=click.Choice(["duckdb", "spark"], case_sensitive=False),
                     help="duckdb (embedded, the default) or spark (env DVTOOL_ENGINE).")(f)  # fmt: skip
    return f


def engine_kwargs(
    engine: str | None, spark_master: str | None, spark_conf: tuple[str, ...]
) -> dict[str, Any]:
    """``engine=`` and ``spark=`` for the Repo call, from the command's engine options."""
    from dvtool import SparkSettings

    conf = parse_pairs(spark_conf, "--spark-conf")
    return {
        "engine": engine.lower() if engine else None,
        "spark": SparkSettings.of(None, master=spark_master, conf=conf),
    }


def wants_spark(engine: str | None) -> bool:
    """Whether the command runs on Spark (--engine, else $DVTOOL_ENGINE)."""
    chosen = engine if engine is not None else os.environ.get("DVTOOL_ENGINE", "")
    return chosen.strip().lower() == "spark"
