"""Docs that cannot drift: the CLI reference is regenerated from --help and compared."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_cli_reference_is_current() -> None:
    spec = importlib.util.spec_from_file_location("gen", ROOT / "scripts" / "gen_cli_reference.py")
    assert spec is not None and spec.loader is not None
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    current = (ROOT / "docs" / "cli-reference.md").read_text()
    assert current == gen.render(), "run: .venv/bin/python scripts/gen_cli_reference.py"


def test_every_command_has_an_example() -> None:
    from dvtool.cli.app import cli

    def commands(group, prefix=""):  # type: ignore[no-untyped-def]
        for name, cmd in group.commands.items():
            if hasattr(cmd, "commands"):
                yield from commands(cmd, f"{prefix}{name} ")
            else:
                yield f"{prefix}{name}", cmd

    for name, cmd in commands(cli):
        assert cmd.help and "Example" in cmd.help, f"dvtool {name} --help has no example"
        assert cmd.help.strip().splitlines()[0], name


def test_every_summary_fits_on_one_line_of_dvtool_help() -> None:
    """`dvtool --help` lists each command with its first docstring line, uncut in 80 columns."""
    from dvtool.cli.app import cli

    def commands(group, prefix=""):  # type: ignore[no-untyped-def]
        for name, cmd in group.commands.items():
            yield f"{prefix}{name}", cmd
            if hasattr(cmd, "commands"):
                yield from commands(cmd, f"{prefix}{name} ")

    for name, cmd in commands(cli):
        first = cmd.help.strip().split("\n\n")[0]
        assert "\n" not in first, f"dvtool {name}: the summary is one line, details go below it"
        assert not cmd.get_short_help_str(limit=66).endswith("..."), (
            f"dvtool {name}: summary too long"
        )
