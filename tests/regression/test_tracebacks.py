"""Inputs that used to end in a traceback (exit 1) now end in a proper exit: 0, 1 or 2 with one line."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from clitools import invoke, tree_digest
from dvtool.repo import Repo

NESTED = pa.table(
    {
        "id": [1, 2],
        "l": [[1], [2, 3]],
        "s": [{"a": 1}, {"a": 2}],
        "m": pa.array([[("k", 1)], [("k", 2)]], pa.map_(pa.string(), pa.int64())),
    }
)


def _one_error_line(err: str) -> bool:
    return err.startswith("Error: ") and err.count("\n") == 1 and "Traceback" not in err


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    src = tmp_path / "orders.csv"
    src.write_text("id,x\n1,a\n2,b\n")
    assert invoke("--repo", str(root), "init")[0] == 0
    assert (
        invoke("--repo", str(root), "-q", "snapshot", str(src), "-d", "orders", "--key", "id")[0]
        == 0
    )
    return root


def test_schema_infer_of_an_empty_column_name(tmp_path: Path, repo: Path) -> None:
    src = tmp_path / "empty-name.csv"
    src.write_text('id,"",x\n1,2,3\n')
    code, _out, err = invoke("--repo", str(repo), "schema", "infer", str(src))
    assert code == 2 and _one_error_line(err) and "column 2 has an empty name" in err, err


@pytest.mark.parametrize("column", ["l", "s", "m"])
def test_key_on_a_nested_column(tmp_path: Path, repo: Path, column: str) -> None:
    src = tmp_path / "nested.parquet"
    pq.write_table(NESTED, src)
    before = tree_digest(repo)
    code, _, err = invoke(
        "--repo", str(repo), "-q", "snapshot", str(src), "-d", "nested", "--key", column
    )
    assert code == 2 and _one_error_line(err) and f"column '{column}' in --key" in err, err
    assert tree_digest(repo) == before


@pytest.mark.parametrize("command", [["prune", "orders"], ["gc"]])
def test_an_enormous_duration(repo: Path, command: list[str]) -> None:
    before = tree_digest(repo)
    code, _, err = invoke("--repo", str(repo), *command, "--older-than", "99999999999999999999d")
    assert code == 2 and _one_error_line(err), err
    assert tree_digest(repo) == before


@pytest.mark.parametrize("direction", ["push", "pull"])
def test_push_and_pull_when_only_a_tag_is_new(tmp_path: Path, repo: Path, direction: str) -> None:
    other = tmp_path / "other"
    assert invoke("--repo", str(other), "init")[0] == 0
    assert invoke("--repo", str(repo), "-q", "push", "orders", str(other))[0] == 0
    if direction == "push":
        assert invoke("--repo", str(repo), "tag", "orders@v1", "reviewed")[0] == 0
        code, out, err = invoke("--repo", str(repo), "-q", "push", "orders", str(other))
    else:
        assert invoke("--repo", str(other), "tag", "orders@v1", "reviewed")[0] == 0
        code, out, err = invoke("--repo", str(repo), "-q", "pull", str(other), "orders")
    assert code == 0, err
    assert "copied tag reviewed" in out.decode()
    assert Repo.open(str(other)).get("orders@reviewed").version == 1
    assert Repo.open(str(repo)).get("orders@reviewed").version == 1


def test_debug_shows_the_traceback_and_keeps_the_exit_code(repo: Path) -> None:
    code, _, err = invoke("--repo", str(repo), "--debug", "show", "nope")
    assert code == 2
    assert "Traceback" in err and err.rstrip("\n").splitlines()[-1].startswith(
        "Error: unknown dataset 'nope'"
    )
    code, _, err = invoke("--repo", str(repo), "show", "nope")
    assert code == 2 and _one_error_line(err)


def test_validate_of_a_pandas_frame_with_a_mixed_type_column_is_a_data_failure(
    tmp_path: Path, repo: Path
) -> None:
    schema = tmp_path / "s.yaml"
    schema.write_text(
        "schema_type: dataframe\nversion: 0.35.0\ncolumns:\n  a:\n    dtype: int64\n    nullable: true\n"
    )
    frame = pd.DataFrame(
        {"a": pd.Series([1, "x", 2, None, "y"], dtype=object), "b": [1, 2, 3, 4, 5]}
    )
    report = Repo.open(str(repo)).validate(frame, schema=str(schema))
    assert not report.ok and report.exit_code() == 1
    (failure,) = report.errors
    assert failure.column == "a" and failure.failure_count == 2
    assert [(e.value, e.row) for e in failure.examples] == [("x", 1), ("y", 4)]
