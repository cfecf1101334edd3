"""dvtool never colours its output, so NO_COLOR, TERM=dumb and log files all get plain text.

If colour is ever added, it must go through one helper that honours NO_COLOR; this test
then needs to check that helper instead.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from clitools import run

ROOT = Path(__file__).resolve().parent.parent
FIX = ROOT / "fixtures"
ESC = "\x1b["


def test_no_styling_calls_in_the_package() -> None:
    sgr = re.compile(
        r"(\\x1b|\\033|\\u001b)\[[0-9;]*m"
    )  # an ANSI colour sequence written in source
    paths = sorted((ROOT / "dvtool").rglob("*.py"))
    assert len(paths) > 40, "the package moved? this test must see every module"
    for path in paths:
        text = path.read_text(encoding="utf-8")
        assert "click.style(" not in text and "secho(" not in text, path.name
        assert not sgr.search(text), path.name


@pytest.mark.parametrize("fmt", ["text", "markdown", "github"])
def test_failure_reports_are_plain_text(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    r = run(
        capsys,
        "validate",
        str(FIX / "faults" / "orders_bad.csv"),
        "--schema",
        str(FIX / "faults" / "orders.schema.yaml"),
        "--format",
        fmt,
    )
    assert r.exit_code == 1
    assert ESC not in r.stdout + r.stderr


def test_diff_of_two_files_is_plain_text(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # no repository here: two SOURCEs
    monkeypatch.delenv("DVTOOL_REPO", raising=False)
    r = run(
        capsys,
        "diff",
        str(FIX / "orders" / "orders_v1.csv"),
        str(FIX / "orders" / "orders_v2.csv"),
        "--key",
        "order_id",
        "--limit",
        "2",
    )
    assert r.exit_code == 0, r.stderr
    assert "+40 added" in r.stdout and ESC not in r.stdout + r.stderr
