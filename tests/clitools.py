"""Helpers shared by tests: run the CLI in-process, and fingerprint a repository folder."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from dvtool.cli.app import main


@dataclass(frozen=True)
class Result:
    exit_code: int
    stdout: str
    stderr: str


def run(capsys: pytest.CaptureFixture[str], *args: str) -> Result:
    """Run ``dvtool ARGS`` in this process, like the console script does."""
    capsys.readouterr()
    code = 0
    try:
        main(list(args))
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return Result(code, out.out, out.err)


def invoke(*args: str) -> tuple[int, bytes, str]:
    """Run ``dvtool ARGS`` in click's isolated streams: (exit code, stdout bytes, stderr text).

    For output that is binary (``query --format parquet``) or must not mix with
    pytest's capture.
    """
    from click.testing import CliRunner

    runner = CliRunner()
    with runner.isolation() as (out, err, _):
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        return code, out.getvalue(), err.getvalue().decode()


def tree_digest(root: Path) -> dict[str, str]:
    """Every file under ``root`` with the sha256 of its bytes: 'byte-for-byte unchanged'."""
    out = {}
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            p = Path(dirpath) / name
            out[str(p.relative_to(root))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out
