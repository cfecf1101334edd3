"""The ``dvtool`` command line: parse → one Repo call → render.

Only :class:`~dvtool.errors.DvtoolError` is caught: it becomes one ``Error:``
line and its exit code (2 could not run, 1 the data said no). Anything else is
a bug and keeps its traceback.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import click

from . import __version__
from .errors import DvtoolError, UsageError

if TYPE_CHECKING:
    from .repo import Repo

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
            from .repo import Repo

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
    return click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")(f)


@click.group(context_settings=CONTEXT_SETTINGS)
@click.version_option(__version__, "--version", prog_name="dvtool")
@click.option("--repo", "repo_url", envvar="DVTOOL_REPO", metavar="URL",
              help="Repository folder or URL (env DVTOOL_REPO; default: nearest .dvtool/ above).")
@click.option("--storage-option", "storage_option", multiple=True, metavar="KEY=VALUE",
              help="Passed to the filesystem of every non-local URL (repeatable).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars or notes on stderr.")
@click.option("--debug", is_flag=True, help="Show tracebacks.")
@click.pass_context
def cli(ctx: click.Context, repo_url: str | None, storage_option: tuple[str, ...], quiet: bool, debug: bool) -> None:
    """Version and validate tabular datasets.

    \b
    Quick start:
      dvtool init
      dvtool snapshot orders.csv -d orders --key order_id -m "first import"
      dvtool log orders
      dvtool validate orders --schema orders.schema.yaml
      dvtool diff orders
    """
    state = ctx.ensure_object(State)
    state.repo_url = repo_url
    state.storage_options = parse_pairs(storage_option, "--storage-option")
    state.quiet = quiet or bool(os.environ.get("DVTOOL_QUIET"))
    state.debug = debug


@cli.command()
@click.argument("url", required=False)
@pass_state
def init(state: State, url: str | None) -> None:
    """Create a repository (default ./.dvtool).

    \b
    Example:
      dvtool init                       # ./.dvtool
      dvtool init s3://bucket/datasets  # a shared repository
    """
    from .repo import Repo

    repo = Repo.init(url or state.repo_url, storage_options=state.storage_options)
    emit(f"Initialized empty dvtool repository in {repo.url}")


@cli.command()
@click.argument("sources", nargs=-1, required=True, metavar="SOURCE...")
@click.option("-d", "--dataset", required=True, help="Dataset name.")
@click.option("-m", "--message", default="", help="Message recorded with the version.")
@click.option("--key", "keys", multiple=True, metavar="COL",
              help="Key column (repeat for a composite key): rows are ordered and must be unique.")
@click.option("--schema", "schema", metavar="FILE", help="Validate against a pandera schema first; commit only if it passes.")
@click.option("--tag", help="Tag the new version.")
@click.option("--meta", multiple=True, metavar="K=V", help="Metadata recorded with the version (repeatable).")
@click.option("--format", "fmt", type=click.Choice(["csv", "parquet", "jsonl", "arrow"]),
              help="Input format (default: from the file extension).")
@json_option
@pass_state
def snapshot(state: State, sources: tuple[str, ...], dataset: str, message: str, keys: tuple[str, ...],
             schema: str | None, tag: str | None, meta: tuple[str, ...], fmt: str | None, as_json: bool) -> None:
    """Commit the next version of a dataset from files or stdin.

    SOURCE is a file, a folder, a glob, a URL or - (CSV on stdin).
    Identical data to the latest version commits nothing and says 'unchanged'.

    \b
    Example:
      dvtool snapshot fixtures/orders/orders_v1.csv -d orders --key order_id -m "import"
    """
    from . import _render

    repo = state.repo()
    # Several SOURCE arguments are read one after another as one dataset.
    source: Any = sources[0] if len(sources) == 1 else list(sources)
    from .progress import Progress

    try:
        with Progress(f"snapshot {dataset}", "rows", enabled=not state.quiet) as bar:
            result = repo.snapshot(
                source, dataset=dataset, key=keys, message=message, meta=parse_pairs(meta, "--meta"),
                tag=tag, schema=schema, format=fmt, progress=bar.advance,
            )
    except DvtoolError as exc:
        report = getattr(exc, "report", None)
        if report is not None:
            click.echo(report.to_text(), err=not as_json)
            if as_json:
                click.echo(_render.json_text(report.to_json()))
        raise
    if as_json:
        emit(_render.json_text(result.to_json()))
    else:
        emit(_render.snapshot_text(result))


@cli.command()
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
    from . import _render

    entries = state.repo().log(dataset, limit)
    emit(_render.json_text([e.to_json() for e in entries]) if as_json else _render.log_text(entries))


@cli.command(name="ls")
@json_option
@pass_state
def ls_(state: State, as_json: bool) -> None:
    """List datasets: latest version, rows, bytes, updated.

    \b
    Example:
      dvtool ls --json
    """
    from . import _render

    infos = state.repo().datasets()
    emit(_render.json_text([i.to_json() for i in infos]) if as_json else _render.ls_text(infos))


@cli.command()
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
    from . import _render

    snap = state.repo().get(ref)
    emit(_render.json_text(_render.show_json(snap)) if as_json else _render.show_text(snap))


@cli.command()
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


@cli.command()
@click.argument("ref")
@click.argument("dest")
@click.option("--format", "fmt", type=click.Choice(["parquet", "csv", "jsonl"]),
              help="Output format (default: from DEST's extension; parquet, or csv for -).")
@pass_state
def export(state: State, ref: str, dest: str, fmt: str | None) -> None:
    """Write a snapshot's rows to a file, folder, URL or stdout.

    A folder gets one part per chunk; - is stdout (CSV unless --format).

    \b
    Example:
      dvtool export orders@v1 orders_v1.parquet
      dvtool export orders@v1 - --format csv | head
    """
    from .progress import Progress

    repo = state.repo()
    with Progress(f"export {ref}", "rows", enabled=not state.quiet and dest != "-") as bar:
        result = repo.export(ref, dest, format=fmt, progress=bar.advance)
    if dest != "-" and not state.quiet:
        click.echo(f"exported {result.rows:,} rows of {result.ref} to {result.dest} ({result.format})", err=True)


@cli.command()
@click.argument("args", nargs=-1, required=True, metavar="NAME... URL")
@json_option
@pass_state
def push(state: State, args: tuple[str, ...], as_json: bool) -> None:
    """Copy datasets' whole histories to another repository.

    Only the chunks the target lacks travel. The target must be a dvtool repository (create it with 'dvtool init URL'), and
    its history of each dataset must be a prefix of this one's, else exit 2 (diverged).
    An interrupted push leaves the target consistent; run it again to finish.

    \b
    Example:
      dvtool push orders customers s3://team-bucket/datasets
    """
    if len(args) < 2:
        raise UsageError("push needs at least one dataset NAME and a target URL")
    names, url = list(args[:-1]), args[-1]
    with _transfer_progress(state, f"push to {url}") as progress:
        summary = state.repo().push(names, url, progress=progress)
    _emit_transfer(summary, as_json)


@cli.command()
@click.argument("args", nargs=-1, required=True, metavar="URL NAME...")
@json_option
@pass_state
def pull(state: State, args: tuple[str, ...], as_json: bool) -> None:
    """Copy datasets' whole histories from another repository.

    Only the chunks this repository lacks travel. This repository's history of each dataset must be a prefix of the source's,
    else exit 2 (diverged). Only chunks this repository lacks are copied.

    \b
    Example:
      dvtool pull s3://team-bucket/datasets orders
    """
    if len(args) < 2:
        raise UsageError("pull needs a source URL and at least one dataset NAME")
    url, names = args[0], list(args[1:])
    with _transfer_progress(state, f"pull from {url}") as progress:
        summary = state.repo().pull(url, names, progress=progress)
    _emit_transfer(summary, as_json)


@contextlib.contextmanager
def _transfer_progress(state: State, label: str) -> Iterator[Callable[[int, int], None] | None]:
    """A byte progress bar on stderr, only on a terminal and without --quiet."""
    if state.quiet or not sys.stderr.isatty():
        yield None
        return
    from .storage import redact_url

    bars: list[Any] = []
    shown = [0]

    def update(done: int, total: int) -> None:
        if not bars:
            if total == 0:
                return
            bars.append(click.progressbar(length=total, label=redact_url(label), file=sys.stderr))
        bars[0].update(done - shown[0])
        shown[0] = done

    try:
        yield update
    finally:
        if bars:
            bars[0].render_finish()


def _emit_transfer(summary: Any, as_json: bool) -> None:
    from . import _render

    emit(_render.json_text(summary.to_dict()) if as_json else _render.transfer_text(summary))


def _repo_or_none(state: State, target: str) -> Repo | None:
    """The repository, or None when there is none and ``target`` can only be a SOURCE."""
    from .errors import NotFoundError

    try:
        return state.repo()
    except NotFoundError:
        if state.repo_url is not None or os.environ.get("DVTOOL_REPO"):
            raise
        return None  # validating or inferring a file needs no repository


def _write_output(text: str, output: str | None) -> None:
    if output is None:
        click.echo(text, nl=False)
        return
    try:
        with open(output, "w", encoding="utf-8") as f:
            f.write(text)
    except OSError as exc:
        raise UsageError(f"cannot write {output}: {exc.strerror or exc}") from None


@cli.command()
@click.argument("targets", nargs=-1, required=True, metavar="REF|SOURCE...")
@click.option("--schema", "schema", required=True, metavar="FILE",
              help="pandera schema: a YAML/JSON file (pandas or polars), or file.py:NAME.")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "junit", "markdown", "github"]),
              default="text", show_default=True, help="Report format.")
@click.option("--output", "-o", metavar="FILE", help="Write the report to FILE (default: stdout).")
@click.option("--strict", is_flag=True, help="Warnings (checks with raise_warning) fail too.")
@click.option("--no-cache", is_flag=True, help="Re-check every chunk instead of reusing remembered verdicts.")
@pass_state
def validate(state: State, targets: tuple[str, ...], schema: str, fmt: str, output: str | None, strict: bool,
             no_cache: bool) -> None:
    """Validate a snapshot or files against a pandera schema.

    Exit 0 passed, 1 the data failed, 2 could not run. Several SOURCE files are read one after another and checked as one dataset
    (as by snapshot), which is how the pre-commit hook passes the files of a commit.

    \b
    Example:
      dvtool validate orders@v2 --schema orders.schema.yaml
      dvtool validate orders --schema orders.schema.yaml --format junit -o report.xml
      dvtool validate new.csv --schema schemas.py:Orders --format github
      dvtool validate data/orders-*.csv --schema orders.schema.yaml
    """
    target: Any = targets[0] if len(targets) == 1 else list(targets)
    repo = _repo_or_none(state, targets[0])
    if repo is not None and len(targets) > 1:
        refs = [t for t in targets if repo.is_ref(t)]
        if refs:
            raise UsageError(
                f"validate takes one REF, or SOURCE files only; {refs[0]!r} is a REF here "
                f"(validate it on its own, or write ./{refs[0]} for a file of that name)"
            )
    if repo is not None:
        from .progress import Progress

        with Progress("validate", "rows", enabled=not state.quiet) as bar:
            report = repo.validate(target, schema=schema, use_cache=not no_cache, progress=bar.advance)
    else:
        from .sources import open_source
        from .validation import load_schema, validate_batches

        loaded = load_schema(schema)
        src = open_source(target, storage_options=state.storage_options)
        report = validate_batches(loaded, src.batches(), schema=src.schema, target=src.description)
    _write_output(report.render(fmt, strict=strict), output)
    if output is not None and not state.quiet:
        click.echo(report.render("text", strict=strict).splitlines()[0], err=True)
    code = report.exit_code(strict=strict)
    if code:
        raise click.exceptions.Exit(code)


@cli.command()
@click.argument("old", metavar="OLD")
@click.argument("new", metavar="[NEW]", required=False)
@click.option("--key", "keys", multiple=True, metavar="COL",
              help="Match rows by COL (repeatable; default: the key recorded at snapshot).")
@click.option("--no-key", is_flag=True, help="Compare whole rows as a multiset, ignoring any key.")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text",
              show_default=True, help="Report format (markdown fits a pull-request comment).")
@click.option("--limit", type=click.IntRange(min=0), default=10, show_default=True,
              help="Sample rows shown per kind (added, removed, changed).")
@click.option("--exit-code", is_flag=True, help="Exit 1 when anything differs, 0 when identical.")
@click.option("--stats", is_flag=True, help="Add per-column null/min/max changes (from the manifests).")
@click.option("--output", "-o", metavar="FILE", help="Write the report to FILE (default: stdout).")
@pass_state
def diff(state: State, old: str, new: str | None, keys: tuple[str, ...], no_key: bool, fmt: str,
         limit: int, exit_code: bool, stats: bool, output: str | None) -> None:
    """Show schema, row and column changes between two versions.

    Either side may be a SOURCE (files not yet snapshotted). `dvtool diff NAME` compares the latest version with its parent. Chunks that
    are identical on both sides are skipped without being read.

    \b
    Example:
      dvtool diff orders                                  # latest against its parent
      dvtool diff orders@v3 orders@v4 --format markdown   # a pull-request comment
      dvtool diff orders new_orders.csv --exit-code       # a working file against the latest
    """
    if no_key and keys:
        raise UsageError("--key and --no-key cannot be used together")
    key = () if no_key else (keys or None)
    repo = _repo_or_none(state, old) if new is not None else state.repo()
    if repo is not None:
        result = repo.diff(old, new, key=key, limit=limit, stats=stats)
    else:  # two files and no repository around: still a diff
        from .diff import diff_sources

        result = diff_sources(old, new, key=key, limit=limit, stats=stats,
                              storage_options=state.storage_options)
    if fmt == "json":
        text = result.to_json() + "\n"
    else:
        text = result.to_markdown() if fmt == "markdown" else result.to_text()
    _write_output(text, output)
    if exit_code and not result.empty:
        raise click.exceptions.Exit(1)


@cli.command()
@click.argument("sql", metavar="SQL")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json", "parquet"]), default="table",
              show_default=True, help="Output format (json: an array of row objects).")
@click.option("--output", "-o", metavar="FILE", help="Write the result to FILE (default: stdout).")
@pass_state
def query(state: State, sql: str, fmt: str, output: str | None) -> None:
    """Run DuckDB SQL over the repository's datasets.

    Each dataset is a table by its name (latest version) and by "NAME@REF"
    (double quotes) for any version. Only the named snapshots are read.

    \b
    Example:
      dvtool query 'select category, count(*) as n from orders group by all order by n desc'
      dvtool query 'select count(*) from "orders@v1"' --format json
      dvtool query 'select * from orders' --format parquet -o orders.parquet
    """
    from .query import open_repo_query, write_result

    stdout = sys.stdout.buffer
    if fmt == "parquet" and output is None and stdout.isatty():
        raise UsageError("parquet output is binary; pass --output FILE or redirect stdout")
    with open_repo_query(state.repo(), sql) as result:
        if output is None:
            write_result(result.reader, fmt, stdout)
            stdout.flush()
            return
        try:
            with open(output, "wb") as f:
                write_result(result.reader, fmt, f)
        except OSError as exc:
            raise UsageError(f"cannot write {output}: {exc.strerror or exc}") from None


@cli.group(name="schema")
def schema_group() -> None:
    """Work with pandera schemas."""


@schema_group.command(name="infer")
@click.argument("target", metavar="REF|SOURCE")
@click.option("--output", "-o", metavar="FILE", help="Write the YAML to FILE (default: stdout).")
@pass_state
def schema_infer(state: State, target: str, output: str | None) -> None:
    """Write a pandera YAML schema that the data passes.

    A polars schema: dtypes, nullable columns, numeric ranges, the key as unique.

    \b
    Example:
      dvtool schema infer orders -o orders.schema.yaml
      dvtool validate orders --schema orders.schema.yaml
    """
    repo = _repo_or_none(state, target)
    if repo is not None:
        text = repo.infer_schema(target)
    else:
        from .sources import open_source
        from .validation import infer_schema

        src = open_source(target, storage_options=state.storage_options)
        text = infer_schema(src.batches(), schema=src.schema)
    _write_output(text, output)


@cli.command()
@json_option
@pass_state
def fsck(state: State, as_json: bool) -> None:
    """Check every object, manifest, version and tag; exit 1 on damage.

    Every object and manifest is re-hashed against its id.

    Corrupt, missing and invalid keys are damage; unreferenced (dangling) keys
    are not, 'dvtool gc' removes them.

    \b
    Example:
      dvtool fsck
      dvtool fsck --json | jq '.problems[].key'
    """
    from . import _render
    from .progress import Progress

    repo = state.repo()
    with Progress("fsck", "keys checked", enabled=not state.quiet) as bar:
        result = repo.fsck(progress=bar.advance)
    emit(_render.json_text(result.to_json()) if as_json else result.to_text())
    if not result.ok:
        sys.exit(1)


@cli.command()
@click.argument("dataset", metavar="NAME")
@click.option("--keep-last", type=int, metavar="N", help="Keep the newest N versions.")
@click.option("--older-than", metavar="DURATION", help="Expire versions older than this (e.g. 90d, 12h).")
@json_option
@pass_state
def prune(state: State, dataset: str, keep_last: int | None, older_than: str | None, as_json: bool) -> None:
    """Expire old versions; tagged versions and the latest are kept.

    Pruned versions stay in 'dvtool log' (marked [pruned]); their data goes at
    the next 'dvtool gc' after the grace period.

    \b
    Example:
      dvtool prune orders --keep-last 10
      dvtool prune orders --older-than 90d
    """
    from . import _render

    result = state.repo().prune(dataset, keep_last=keep_last, older_than=older_than)
    emit(_render.json_text(result.to_json()) if as_json else result.to_text())


@cli.command()
@click.option("--older-than", default="7d", show_default=True, metavar="DURATION",
              help="Grace period: only keys unreferenced and older than this go.")
@click.option("--allow-short-grace", is_flag=True,
              help="Allow a grace period under 7d (only when no one else is writing).")
@click.option("--yes", is_flag=True, help="Delete; without it gc only lists what it would delete.")
@json_option
@pass_state
def gc(state: State, older_than: str, allow_short_grace: bool, yes: bool, as_json: bool) -> None:
    """Delete stored data that no version or tag needs.

    Chunks, manifests, verdicts and temp files. A dry run unless --yes. Age is measured on the store's clock; one gc runs at
    a time; if any version or tag cannot be read, nothing is deleted.

    \b
    Example:
      dvtool gc                 # list what would go
      dvtool gc --yes           # delete it
    """
    from . import _render

    result = state.repo().gc(older_than=older_than, allow_short_grace=allow_short_grace, dry_run=not yes)
    emit(_render.json_text(result.to_json()) if as_json else result.to_text())


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI, turning DvtoolError into 'Error: …' and its exit code."""
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        # Without standalone mode, click *returns* the code of click.exceptions.Exit.
        code = cli.main(args=argv, prog_name="dvtool", standalone_mode=False)
        if isinstance(code, int) and code:
            sys.exit(code)
    except DvtoolError as exc:
        if debug:
            raise
        click.echo(f"Error: {exc.message}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        # One line, like every other error (SPEC §2), e.g. for `dvtool tag orders@v1 -rf`.
        ctx = getattr(exc, "ctx", None)
        hint = f" (see '{ctx.command_path} --help')" if isinstance(exc, click.UsageError) and ctx else ""
        click.echo(f"Error: {exc.format_message()}{hint}", err=True)
        sys.exit(2 if exc.exit_code == 1 else exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except BrokenPipeError:
        sys.exit(0)
