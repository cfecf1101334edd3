"""A backend that cannot be opened, or an option it cannot take, is one `Error:` line and exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from clitools import run


@pytest.mark.parametrize(
    ("args", "message"),
    [
        # a nested option given as text on the command line (it must be a mapping)
        (
            ["--repo", "s3://bucket/repo", "--storage-option", "config_kwargs=nope"],
            "--storage-option config_kwargs must be a mapping",
        ),
        (
            ["--repo", "https://example.invalid/repo", "--storage-option", "client_kwargs=x"],
            "--storage-option client_kwargs must be a mapping",
        ),
        # a filesystem whose constructor fails (zip:// with no archive opens the folder)
        (["--repo", "zip://x"], "cannot open zip://x: IsADirectoryError"),
    ],
)
@pytest.mark.parametrize("command", [["log", "d"], ["snapshot", "in.csv", "-d", "d"]])
def test_backend_open_errors_are_one_line(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    message: str,
    command: list[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "in.csv").write_text("a,b\n1,2\n")
    before = sorted(p.name for p in tmp_path.iterdir())
    result = run(capsys, *args, *command)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0], lines
    assert "Traceback" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written
