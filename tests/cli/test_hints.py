"""Small things a user hits: an unquoted REF in SQL, a git verb, help that does not repeat itself."""

from __future__ import annotations

from pathlib import Path

import pytest

from clitools import run

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


@pytest.fixture
def repo_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DVTOOL_REPO", raising=False)
    assert run(capsys, "init").exit_code == 0
    csv = str(FIXTURES / "orders" / "orders_v1.csv")
    assert run(capsys, "snapshot", csv, "-d", "flights", "--key", "order_id").exit_code == 0
    return tmp_path / ".dvtool"


def test_query_with_an_unquoted_ref_says_how_to_quote_it(
    repo_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    r = run(capsys, "query", "select count(*) from flights@v1")
    assert r.exit_code == 2
    assert r.stderr.strip().endswith('write "flights@v1" in double quotes)')
    assert r.stderr.count("\n") == 1
    r = run(capsys, "query", 'select count(*) as n from "flights@v1"', "--format", "csv")
    assert r.exit_code == 0 and r.stdout.splitlines() == ['"n"', "2000"]
    # a quoted string with an @ in it is not a REF
    r = run(capsys, "query", "select 'a@b' as x from flights@ limit 1")
    assert r.exit_code == 2 and "double quotes" not in r.stderr


@pytest.mark.parametrize(
    ("typed", "nearest"),
    [("checkout", "export"), ("commit", "snapshot"), ("clone", "pull"), ("stauts", "status")],
)
def test_an_unknown_command_names_the_nearest_one(
    typed: str,
    nearest: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    r = run(capsys, typed)
    assert r.exit_code == 2
    assert r.stderr.startswith(f"Error: No such command '{typed}'. Did you mean '{nearest}'")
    assert r.stderr.count("\n") == 1


def test_pull_help_says_each_thing_once(capsys: pytest.CaptureFixture[str]) -> None:
    r = run(capsys, "pull", "--help")
    assert r.exit_code == 0
    text = " ".join(r.stdout.split())
    assert text.count("lacks") == 1 and "prefix of the source's" in text
