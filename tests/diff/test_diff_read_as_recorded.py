"""A SOURCE beside a REF in a diff is read as that version recorded reading it.

``snapshot`` records the read options of its SOURCE (null markers, delimiter,
column types, format) and reuses them for the same SOURCE; a diff of a
working file against its dataset does the same, so ``dvtool diff NAME FILE``
shows what the next snapshot would commit. Options given on the command line
replace the recorded ones, as they do for snapshot.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import dvtool
from clitools import invoke

CSV = "id;city;amount\n1;Paris;10.5\n2;-;20\n3;Lyon;-\n"


def _cli(*args: str) -> tuple[int, str, str]:
    code, out, err = invoke(*args)
    return code, out.decode(), err


@pytest.fixture
def repo_and_file(tmp_path: Path) -> tuple[str, Path]:
    data = tmp_path / "data.csv"
    data.write_text(CSV, encoding="utf-8")
    url = str(tmp_path / "repo")
    assert _cli("init", url)[0] == 0
    code, _, err = _cli(
        "--repo",
        url,
        "snapshot",
        str(data),
        "-d",
        "orders",
        "--key",
        "id",
        "--null-values",
        "-",
        "--delimiter",
        ";",
        "--column-type",
        "amount=float64",
    )
    assert code == 0, err
    return url, data


def test_diff_of_the_snapshotted_file_is_identical(repo_and_file: tuple[str, Path]) -> None:
    url, data = repo_and_file
    code, out, err = _cli("--repo", url, "diff", "orders", str(data), "--exit-code")
    assert (code, err) == (0, ""), out
    assert "identical: 3 rows, same schema" in out
    assert (
        "note: SOURCE read with --null-values - --delimiter ';' --column-type amount=float64, "
        "as recorded in orders@v1"
    ) in out
    # The SOURCE may be the old side too; JSON says how it was read.
    code, out, err = _cli("--repo", url, "diff", str(data), "orders@v1", "--format", "json")
    d = json.loads(out)
    assert (code, d["identical"]) == (0, True), err
    assert d["notes"] == [
        "SOURCE read with --null-values - --delimiter ';' --column-type amount=float64, "
        "as recorded in orders@v1"
    ]


def test_a_changed_cell_is_found_with_the_recorded_reading(
    repo_and_file: tuple[str, Path],
) -> None:
    url, data = repo_and_file
    data.write_text(CSV.replace("2;-;20", "2;Nice;20"), encoding="utf-8")
    code, out, _ = _cli("--repo", url, "diff", "orders", str(data), "--format", "json")
    d = json.loads(out)
    assert code == 0 and d["rows"]["changed"] == 1 and d["columns"] == {"city": 1, "amount": 0}
    assert d["samples"]["changed"][0]["changes"] == {"city": {"old": None, "new": "Nice"}}


def test_options_on_the_command_line_replace_the_recorded_ones(
    repo_and_file: tuple[str, Path],
) -> None:
    url, data = repo_and_file
    code, out, err = _cli(
        "--repo", url, "diff", "orders", str(data), "--delimiter", ";", "--format", "json"
    )
    d = json.loads(out)
    assert code == 0, err
    assert "notes" not in d  # nothing recorded was used
    # '-' is text now: city holds "-", and amount is a string column.
    assert d["schema"]["changed"][0]["column"] == "amount"
    assert d["rows"]["changed"] == 2


def test_another_file_is_read_with_the_defaults_as_snapshot_would(
    repo_and_file: tuple[str, Path], tmp_path: Path
) -> None:
    url, data = repo_and_file
    copy = tmp_path / "copy.csv"
    shutil.copyfile(data, copy)
    code, out, err = _cli(
        "--repo", url, "diff", "orders", str(copy), "--no-key", "--format", "json"
    )
    d = json.loads(out)
    assert code == 0, err
    assert "notes" not in d and not d["identical"]
    assert [c["column"] for c in d["schema"]["added"]] == ["id;city;amount"]


def test_the_python_api_reads_as_recorded(repo_and_file: tuple[str, Path]) -> None:
    url, data = repo_and_file
    repo = dvtool.Repo.open(url)
    found = repo.diff("orders", str(data))
    assert found.empty and found.notes
    explicit = repo.diff("orders", str(data), read=dvtool.ReadOptions(delimiter=";"))
    assert not explicit.empty and not explicit.notes
