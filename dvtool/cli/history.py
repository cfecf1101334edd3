"""Commands that write and read a dataset's history: init, snapshot, log, ls, show, tag, export."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from dvtool.errors import DvtoolError, UsageError

if TYPE_CHECKING:
    from dvtool import ReadOptions
from dvtool.cli.context import (
    State,
    emit,
    engine_kwargs,
    engine_options,
    json_option,
    parse_pairs,
    pass_state,
    read_options,
    write_output,
)


@click.command()
@click.argument("url", required=False)
@pass_state
def init(state: State, url: str | None) -> None:
    """Create a repository (default ./.dvtool).

    \b
    Example:
      dvtool init                       # ./.dvtool
      dvtool init s3://bucket/datasets  # a shared repository
    """
    from dvtool import Repo

    repo = Repo.init(url or state.repo_url, storage_options=state.storage_options)
    emit(f"Initialized empty dvtool repository in {repo.url}")


@click.command()
@click.argument("sources", nargs=-1, metavar="[SOURCE]...")
@click.option("-d", "--dataset", required=True, help="Dataset name.")
@click.option("-m", "--message", default="", help="Message recorded with the version.")
@click.option(
    "--key",
    "keys",
    multiple=True,
    metavar="COL",
    help="Key column (repeat for a composite key): rows are ordered and must be unique.",
)
@click.option(
    "--schema",
    "schema",
    metavar="FILE",
    help="Validate against a pandera schema first; commit only if it passes.",
)
@click.option("--tag", help="Tag the new version.")
@click.option(
    "--meta", multiple=True, metavar="K=V", help="Metadata recorded with the version (repeatable)."
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "parquet", "jsonl", "arrow"]),
    help="Input format (default: from the file extension).",
)
@click.option(
    "--report",
    "report_file",
    metavar="FILE",
    help="With --schema: write the validation report to FILE, passed or failed.",
)
@click.option(
    "--report-format",
    type=click.Choice(["text", "json", "junit", "markdown", "github", "html"]),
    default="json",
    show_default=True,
    help="Format of the --report FILE (as validate --format).",
)
@read_options
@engine_options
@json_option
@pass_state
def snapshot(
    state: State,
    sources: tuple[str, ...],
    dataset: str,
    message: str,
    keys: tuple[str, ...],
    schema: str | None,
    tag: str | None,
    meta: tuple[str, ...],
    fmt: str | None,
    report_file: str | None,
    report_format: str,
    read: ReadOptions | None,
    as_json: bool,
    engine: str | None,
    spark_master: str | None,
    spark_conf: tuple[str, ...],
) -> None:
    """Commit the next version of a dataset from files or stdin.

    SOURCE is a file, a folder, a glob, a URL or - (CSV on stdin). Without SOURCE, the
    latest version's recorded SOURCE is read again with its format, read options and key.
    The same SOURCE as the latest version's is read with its recorded read options unless
    any is given. Identical data to the latest version commits nothing and says 'unchanged'.

    \b
    Example:
      dvtool snapshot fixtures/orders/orders_v1.csv -d orders --key order_id -m "import"
      dvtool snapshot flights.csv -d flights --null-values NA,, --column-type dep_time=int64
      dvtool snapshot -d flights      # the same SOURCE again, read the same way
      dvtool snapshot s3://lake/orders/ -d orders --key order_id --engine spark   # chunked by Spark's executors
    """
    from dvtool.cli import render as _render

    if report_file is not None and schema is None:
        raise UsageError("--report writes the --schema validation report; add --schema FILE")
    repo = state.repo()
    # Several SOURCE arguments are read one after another as one dataset.
    source: Any = None if not sources else sources[0] if len(sources) == 1 else list(sources)
    from dvtool.cli.progress import Progress

    try:
        with Progress(f"snapshot {dataset}", "rows", enabled=not state.quiet) as bar:
            result = repo.snapshot(
                source,
                dataset=dataset,
                key=keys,
                message=message,
                meta=parse_pairs(meta, "--meta"),
                tag=tag,
                schema=schema,
                format=fmt,
                read=read,
                progress=bar.advance,
                **engine_kwargs(engine, spark_master, spark_conf),
            )
    except DvtoolError as exc:
        report = getattr(exc, "report", None)
        if report is not None:
            if report_file is not None:
                write_output(report.render(report_format), report_file, force=True)
            click.echo(report.to_text(), err=not as_json)
            if as_json:
                click.echo(_render.json_text(report.to_json()))
        raise
    if report_file is not None and result.validation is not None:
        write_output(result.validation.render(report_format), report_file, force=True)
    elif report_file is not None and not state.quiet:
        click.echo(
            f"no report written to {report_file}: the data is unchanged, so it was not validated again",
            err=True,
        )
    if as_json:
        emit(_render.json_text(result.to_json()))
    else:
        emit(_render.snapshot_text(result))


@click.command()
@click.argument("dataset")
@click.option("-n", "limit", type=click.IntRange(min=1), help="Show at most N versions.")
@json_option
@pass_state
def log(state: State, dataset: str, limit: int | None, as_json: bool) -> None:
    """List a dataset's versions, newest first.

    \b
    Example:
      dvtool log orders -n 5
    """
    from dvtool.cli import render as _render

    entries = state.repo().log(dataset, limit)
    emit(
        _render.json_text([e.to_json() for e in entries]) if as_json else _render.log_text(entries)
    )


@click.command(name="ls")
@json_option
@pass_state
def ls_(state: State, as_json: bool) -> None:
    """List datasets: latest version, rows, bytes, updated.

    \b
    Example:
      dvtool ls --json
    """
    from dvtool.cli import render as _render

    infos = state.repo().datasets()
    emit(_render.json_text([i.to_json() for i in infos]) if as_json else _render.ls_text(infos))


@click.command()
@click.argument("ref")
@json_option
@pass_state
def show(state: State, ref: str, as_json: bool) -> None:
    """Show a snapshot: schema, rows, chunks, stats, validation.

    Also the key, message, metadata and parent of the version.

    \b
    Example:
      dvtool show orders@v2
    """
    from dvtool.cli import render as _render

    snap = state.repo().get(ref)
    emit(_render.json_text(_render.show_json(snap)) if as_json else _render.show_text(snap))


@click.command()
@click.argument("ref")
@click.argument("tag")
@pass_state
def tag(state: State, ref: str, tag: str) -> None:
    """Give a snapshot an immutable name.

    \b
    Example:
      dvtool tag orders@v2 reviewed-2026-11
    """
    entry = state.repo().tag(ref, tag)
    emit(f"tagged {entry.dataset}@v{entry.version} as {entry.tag}")


@click.command()
@click.argument("ref")
@click.argument("dest")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["parquet", "csv", "jsonl"]),
    help="Output format (default: from DEST's extension; parquet, or csv for -).",
)
@click.option(
    "--force",
    is_flag=True,
    help="Replace an existing file, or the part files of a non-empty folder (never a link or a device).",
)
@pass_state
def export(state: State, ref: str, dest: str, fmt: str | None, force: bool) -> None:
    """Write a snapshot's rows to a file, folder, URL or stdout.

    A folder gets one part per chunk; - is stdout (CSV unless --format). An existing
    file or a non-empty folder needs --force; links and devices are never written.

    \b
    Example:
      dvtool export orders@v1 orders_v1.parquet
      dvtool export orders@v1 - --format csv | head
    """
    from dvtool.cli.progress import Progress

    repo = state.repo()
    with Progress(f"export {ref}", "rows", enabled=not state.quiet and dest != "-") as bar:
        result = repo.export(ref, dest, format=fmt, progress=bar.advance, force=force)
    if dest != "-" and not state.quiet:
        click.echo(
            f"exported {result.rows:,} rows of {result.ref} to {result.dest} ({result.format})",
            err=True,
        )


COMMANDS = [init, snapshot, log, ls_, show, tag, export]
