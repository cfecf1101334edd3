"""The ``dvtool`` command line: parse → one public call → render.

The group and its global options live here; the commands live in
``history``, ``checks`` and ``ops``. Only :class:`~dvtool.errors.DvtoolError`
is caught: it becomes one ``Error:`` line and its exit code (2 could not run,
1 the data said no). Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys
import traceback

import click

from dvtool import FORMAT_VERSION, __version__
from dvtool.cli import checks, history, ops
from dvtool.cli.context import CONTEXT_SETTINGS, State, parse_pairs
from dvtool.cli.text import one_line, redact_text
from dvtool.errors import DvtoolError, UsageError

# What git and DVC users type, and the dvtool command that does that job.
NEAREST = {
    "checkout": ("export", "write a version's rows to a file"),
    "restore": ("export", "write a version's rows to a file"),
    "commit": ("snapshot", "commit the next version of a dataset"),
    "add": ("snapshot", "commit the next version of a dataset"),
    "clone": ("pull", "copy datasets from another repository"),
    "fetch": ("pull", "copy datasets from another repository"),
    "history": ("log", "list a dataset's versions"),
    "list": ("ls", "list datasets"),
    "compare": ("diff", "compare two versions"),
    "check": ("validate", "run a pandera schema"),
    "sql": ("query", "run DuckDB SQL"),
    "remove": ("prune", "expire old versions"),
    "rm": ("prune", "expire old versions"),
}


class DvtoolGroup(click.Group):
    """A group whose unknown commands name the nearest dvtool command (git and DVC verbs too)."""

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name = args[0] if args else ""
        if name and self.get_command(ctx, name) is None and name.lower() in NEAREST:
            target, what = NEAREST[name.lower()]
            ctx.fail(f"No such command {name!r}. Did you mean {target!r} ({what})?")
        return super().resolve_command(ctx, args)


@click.group(cls=DvtoolGroup, context_settings=CONTEXT_SETTINGS)
@click.version_option(
    __version__,
    "--version",
    prog_name="dvtool",
    message=f"%(prog)s, version %(version)s (repository format {FORMAT_VERSION})",
)
@click.option(
    "--repo",
    "repo_url",
    envvar="DVTOOL_REPO",
    metavar="URL",
    help="Repository folder or URL (env DVTOOL_REPO; default: nearest .dvtool/ above).",
)
@click.option(
    "--storage-option",
    "storage_option",
    multiple=True,
    metavar="KEY=VALUE",
    help="Passed to the filesystem of every non-local URL (repeatable); timeout=SECONDS (default 20) bounds every remote call.",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress bars or notes on stderr.")
@click.option("--debug", is_flag=True, help="Show tracebacks.")
@click.pass_context
def cli(
    ctx: click.Context,
    repo_url: str | None,
    storage_option: tuple[str, ...],
    quiet: bool,
    debug: bool,
) -> None:
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


for _module in (history, checks, ops):
    for _command in _module.COMMANDS:
        cli.add_command(_command)


# Commands that only move Arrow data between files and the repository: no DataFrame in them.
_NO_PANDAS_COMMANDS = frozenset({"snapshot", "diff", "export"})


def _defer_pandas(args: list[str]) -> None:
    """Keep pyarrow from importing pandas in commands that never use it (~0.15–0.6 s of start-up).

    pyarrow imports pandas the first time it checks whether an object is a
    DataFrame (``pa.array``, ``pa.scalar``, ...). Here that first check runs
    while pandas cannot be imported, so pyarrow notes "no pandas" and goes on.
    Anything that later needs pandas from pyarrow (``to_pandas``) imports it
    then; but ``pa.array(<pandas Series>)`` would not recognise pandas
    objects, so this runs only for the commands above, without ``--schema``,
    and only in a real ``dvtool`` process (never inside a caller's Python).
    """
    command = next((a for a in args if a in _NO_PANDAS_COMMANDS), None)
    if command is None or "--schema" in args or "pandas" in sys.modules:
        return

    # A meta path finder needs only find_spec (importlib.abc costs ~20 ms of imports).
    class _NotYet:
        def find_spec(self, name: str, path: object = None, target: object = None) -> None:
            if name == "pandas" or name.startswith("pandas."):
                raise ImportError("pandas is not needed by this command")

    finder = _NotYet()
    sys.meta_path.insert(0, finder)
    try:
        import pyarrow

        pyarrow.array([0])
    finally:
        sys.meta_path.remove(finder)


def _snapshot_memory_pool(args: list[str]) -> None:
    """Give a ``dvtool snapshot`` process pyarrow's jemalloc pool, where pyarrow has one.

    A snapshot allocates each chunk's columns on the reading thread and frees
    them on an encode thread; with pyarrow's default pool (mimalloc) that
    costs a snapshot of the 3M-row wide table ~12% more CPU time and ~30% more
    peak memory than jemalloc (docs/performance.md). Only in a real ``dvtool``
    process (never inside a caller's Python), and not when the user chose a
    pool with ``ARROW_DEFAULT_MEMORY_POOL``.
    """
    if "snapshot" not in args or os.environ.get("ARROW_DEFAULT_MEMORY_POOL"):
        return
    import pyarrow

    # A pyarrow built without jemalloc raises NotImplementedError: keep its default.
    with contextlib.suppress(NotImplementedError):
        pyarrow.set_memory_pool(pyarrow.jemalloc_memory_pool())


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI, turning DvtoolError into 'Error: …' and its exit code.

    ``--debug`` adds the traceback above the ``Error:`` line and keeps the exit
    code. A closed pipe on stdout (``dvtool export x - | head``) ends quietly
    with exit 0, like ``head``'s other producers are expected to; a full disk
    is exit 2 with one line.
    """
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    if argv is None:
        _snapshot_memory_pool(sys.argv[1:])
        _defer_pandas(sys.argv[1:])
    try:
        try:
            # Not cli.main(): click turns a closed pipe into exit 1 there.
            args = list(argv) if argv is not None else sys.argv[1:]
            with cli.make_context("dvtool", args) as ctx:
                cli.invoke(ctx)
            sys.stdout.flush()  # a closed pipe shows here, not at the interpreter's exit
        except OSError as exc:
            converted = _os_error(exc)
            if converted is exc:
                raise
            raise converted from None
    except _PipeClosed:
        _quiet_stdout()
        sys.exit(0)
    except DvtoolError as exc:
        if debug:
            click.echo(redact_text(traceback.format_exc()).rstrip("\n"), err=True)
        click.echo(f"Error: {one_line(redact_text(exc.message))}", err=True)
        sys.exit(exc.exit_code)
    except (click.exceptions.Abort, KeyboardInterrupt):
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except (
        click.exceptions.NoArgsIsHelpError
    ) as exc:  # `dvtool`, `dvtool schema`: the help, as before
        click.echo(exc.format_message(), err=True)
        sys.exit(2)
    except click.ClickException as exc:
        # One line, like every other error (SPEC §2), e.g. for `dvtool tag orders@v1 -rf`.
        where = getattr(exc, "ctx", None)
        hint = (
            f" (see '{where.command_path} --help')"
            if isinstance(exc, click.UsageError) and where
            else ""
        )
        click.echo(f"Error: {one_line(redact_text(exc.format_message()))}{hint}", err=True)
        sys.exit(2 if exc.exit_code == 1 else exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)


class _PipeClosed(Exception):
    """The reader of stdout went away (EPIPE)."""


def _os_error(exc: OSError) -> Exception:
    """EPIPE → a quiet end; a full disk or quota → a one-line error (exit 2); else unchanged."""
    if isinstance(exc, BrokenPipeError) or exc.errno == errno.EPIPE:
        return _PipeClosed()
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        where = f" writing {exc.filename}" if exc.filename else ""
        return UsageError(f"no space left on the device{where} ({os.strerror(exc.errno)})")
    return exc


def _quiet_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass
