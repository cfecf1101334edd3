"""What every command shares: the parsed global options (State), option helpers, output."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import click

from dvtool.errors import UsageError

if TYPE_CHECKING:
    from dvtool import Repo

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
    return click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")(f)


def repo_or_none(state: State, target: str) -> Repo | None:
    """The repository, or None when there is none and ``target`` can only be a SOURCE."""
    from dvtool.errors import NotFoundError

    try:
        return state.repo()
    except NotFoundError:
        if state.repo_url is not None or os.environ.get("DVTOOL_REPO"):
            raise
        return None  # validating or inferring a file needs no repository


def write_output(text: str, output: str | None) -> None:
    if output is None:
        click.echo(text, nl=False)
        return
    try:
        with open(output, "w", encoding="utf-8") as f:
            f.write(text)
    except OSError as exc:
        raise UsageError(f"cannot write {output}: {exc.strerror or exc}") from None
