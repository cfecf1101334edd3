"""Write docs/cli-reference.md from the commands' --help (tests/test_docs.py checks it is current).

Run: .venv/bin/python scripts/gen_cli_reference.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from dvtool.cli.app import cli

OUT = Path(__file__).resolve().parent.parent / "docs" / "cli-reference.md"


def walk(
    command: click.Command, path: list[str], parent: click.Context | None = None
) -> list[tuple[str, str]]:
    """(name, help) for ``command`` and its subcommands, with contexts chained like a real run."""
    settings = {"terminal_width": 100, "max_content_width": 100, **command.context_settings}
    ctx = click.Context(command, info_name=path[-1], parent=parent, **settings)
    out = [(" ".join(path), command.get_help(ctx))]
    if isinstance(command, click.Group):
        for name in sorted(command.commands):
            out.extend(walk(command.commands[name], [*path, name], ctx))
    return out


def render() -> str:
    parts = [
        "# CLI reference\n",
        "Generated from each command's `--help` by `scripts/gen_cli_reference.py`;",
        "a test fails when a command's help changes without regenerating this page.",
        "The guide to the commands is [cli.md](cli.md).\n",
    ]
    for name, text in walk(cli, ["dvtool"]):
        parts.append(f"## `{name}`\n\n```text\n{text.rstrip()}\n```\n")
    return "\n".join(parts)


if __name__ == "__main__":
    OUT.write_text(render())
    sys.stdout.write(f"wrote {OUT}\n")
