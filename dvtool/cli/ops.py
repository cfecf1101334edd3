"""Commands that move and keep a repository: status, push, pull, fsck, prune, gc."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import click

from dvtool.errors import UsageError

if TYPE_CHECKING:
    pass
from dvtool.cli.context import State, emit, json_option, pass_state


@click.command()
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


@click.command()
@click.argument("args", nargs=-1, required=True, metavar="URL NAME...")
@json_option
@pass_state
def pull(state: State, args: tuple[str, ...], as_json: bool) -> None:
    """Copy datasets' whole histories from another repository.

    Only the chunks this repository lacks travel. This repository's history of each dataset must be
    a prefix of the source's, else exit 2 (diverged). An interrupted pull leaves this repository
    consistent; run it again to finish.

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
    from dvtool import redact_url

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
    from dvtool.cli import render as _render

    emit(_render.json_text(summary.to_dict()) if as_json else _render.transfer_text(summary))


@click.command()
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
    from dvtool.cli import render as _render
    from dvtool.cli.progress import Progress

    repo = state.repo()
    with Progress("fsck", "keys checked", enabled=not state.quiet) as bar:
        result = repo.fsck(progress=bar.advance)
    emit(_render.json_text(result.to_json()) if as_json else result.to_text())
    if not result.ok:
        sys.exit(1)


@click.command()
@click.argument("dataset", metavar="NAME")
@click.option("--keep-last", type=int, metavar="N", help="Keep the newest N versions.")
@click.option(
    "--older-than", metavar="DURATION", help="Expire versions older than this (e.g. 90d, 12h)."
)
@json_option
@pass_state
def prune(
    state: State, dataset: str, keep_last: int | None, older_than: str | None, as_json: bool
) -> None:
    """Expire old versions; tagged versions and the latest are kept.

    Pruned versions stay in 'dvtool log' (marked [pruned]); their data goes at
    the next 'dvtool gc' after the grace period.

    \b
    Example:
      dvtool prune orders --keep-last 10
      dvtool prune orders --older-than 90d
    """
    from dvtool.cli import render as _render

    result = state.repo().prune(dataset, keep_last=keep_last, older_than=older_than)
    emit(_render.json_text(result.to_json()) if as_json else result.to_text())


@click.command()
@click.option(
    "--older-than",
    default="7d",
    show_default=True,
    metavar="DURATION",
    help="Grace period: only keys unreferenced and older than this go.",
)
@click.option(
    "--allow-short-grace",
    is_flag=True,
    help="Allow a grace period under 7d (only when no one else is writing).",
)
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
    from dvtool.cli import render as _render

    result = state.repo().gc(
        older_than=older_than, allow_short_grace=allow_short_grace, dry_run=not yes
    )
    emit(_render.json_text(result.to_json()) if as_json else result.to_text())


@click.command()
@click.argument("datasets", nargs=-1, metavar="[NAME]...")
@click.option("--exit-code", is_flag=True, help="Exit 1 when a recorded SOURCE changed or is gone.")
@json_option
@pass_state
def status(state: State, datasets: tuple[str, ...], exit_code: bool, as_json: bool) -> None:
    """Show which datasets' SOURCEs changed since, and repository sizes.

    For every dataset (or the NAMEs given): the latest version and its tags, the SOURCE
    it was snapshotted from with its read options, and whether that SOURCE changed since
    (local files: size and mtime, then their bytes' hash; remote: ETag, size, mtime).
    Then the bytes of chunks referenced by the latest versions, by all versions, and by
    none (what 'dvtool gc' frees). 'dvtool snapshot -d NAME' re-reads a changed SOURCE.

    \b
    Example:
      dvtool status
      dvtool status --exit-code || dvtool snapshot -d flights
    """
    from dvtool.cli import render as _render

    result = state.repo().status(list(datasets) or None)
    emit(_render.json_text(result.to_json()) if as_json else _render.status_text(result))
    if exit_code and result.changed:
        raise click.exceptions.Exit(1)


@click.command()
@click.argument("dataset", metavar="NAME")
@click.option(
    "-m", "--message", default=None, help="Message of the new version (default: 'compact vN')."
)
@json_option
@pass_state
def compact(state: State, dataset: str, message: str | None, as_json: bool) -> None:
    """Rewrite the latest version's patched chunks as plain chunks.

    A keyed dataset stores small scattered edits as a patch beside its
    chunks and compacts a chunk on its own once its patch passes
    DVTOOL_PATCH_RATIO (default 0.10 of its rows). This forces it now: the new
    version holds the same rows (same fingerprint) in format 1 chunks.
    Nothing is written when the latest version has no patch.

    \b
    Example:
      dvtool compact orders
    """
    from dvtool.cli import render as _render

    result = state.repo().compact(dataset, message=message)
    if as_json:
        emit(_render.json_text(result.to_json()))
    elif result.unchanged:
        emit(f"{result.dataset}@v{result.version} has no patch: nothing to compact")
    else:
        emit(_render.snapshot_text(result))


COMMANDS = [status, push, pull, fsck, prune, gc, compact]
