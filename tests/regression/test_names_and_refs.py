"""Names and REFs never mean two things: version-like and id-like tags, datasets equal ignoring case."""

from __future__ import annotations

from pathlib import Path

import pytest

from clitools import invoke, tree_digest
from dvtool.format.layout import tag_key, utc_now
from dvtool.format.models import TagEntry
from dvtool.repo import Repo


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    for i, rows in enumerate(("1,a\n", "1,a\n2,b\n")):
        src = tmp_path / f"v{i + 1}.csv"
        src.write_text("id,x\n" + rows)
        args = ["init"] if i == 0 else []
        if args:
            assert invoke("--repo", str(root), *args)[0] == 0
        code, _, err = invoke("--repo", str(root), "-q", "snapshot", str(src), "-d", "orders")
        assert code == 0, err
    return root


@pytest.mark.parametrize(
    "tag", ["v001", "v5", "V2", "v0", "deadbeef", "20261130", "0123456789abcdef0123456789abcdef"]
)
def test_tags_that_read_as_another_ref_are_refused(repo: Path, tmp_path: Path, tag: str) -> None:
    before = tree_digest(repo)
    code, _, err = invoke("--repo", str(repo), "tag", "orders@v2", tag)
    assert (
        code == 2 and err.startswith(f"Error: invalid tag name '{tag}'") and err.count("\n") == 1
    ), err
    src = tmp_path / "v3.csv"
    src.write_text("id,x\n1,a\n2,b\n3,c\n")
    code, _, err = invoke(
        "--repo", str(repo), "-q", "snapshot", str(src), "-d", "orders", "--tag", tag
    )
    assert code == 2 and "invalid tag name" in err, err
    assert tree_digest(repo) == before


@pytest.mark.parametrize("tag", ["release-v1", "v1.0", "2026-11-30", "reviewed", "deadbee", "v1a"])
def test_ordinary_tags_still_work(repo: Path, tag: str) -> None:
    code, out, err = invoke("--repo", str(repo), "tag", "orders@v1", tag)
    assert code == 0, err
    code, out, err = invoke(
        "--repo", str(repo), "query", f'select count(*) as n from "orders@{tag}"', "--format", "csv"
    )
    assert (code, out.decode().splitlines()) == (0, ['"n"', "1"]), err


def test_a_version_like_tag_of_an_older_repository_is_ambiguous_not_a_wrong_version(
    repo: Path,
) -> None:
    """Written before the rule: a tag 'v001' on v2 must not silently read as v1."""
    r = Repo.open(str(repo))
    v2 = r.get("orders@v2")
    r.store.create(
        tag_key("orders", "v001"), TagEntry("orders", "v001", 2, v2.id, utc_now()).encode()
    )
    code, out, err = invoke("--repo", str(repo), "show", "orders@v001")
    assert code == 2 and "ambiguous" in err and err.count("\n") == 1, (out, err)
    assert invoke("--repo", str(repo), "query", 'select count(*) from "orders@v001"')[0] == 2
    assert r.get("orders@v1").version == 1 and r.get("orders@v2").version == 2


def test_dataset_names_equal_ignoring_case_are_refused(repo: Path, tmp_path: Path) -> None:
    src = tmp_path / "o.csv"
    src.write_text("id\n1\n")
    before = tree_digest(repo)
    for name in ("Orders", "ORDERS", "oRdErS"):
        code, _, err = invoke("--repo", str(repo), "-q", "snapshot", str(src), "-d", name)
        assert code == 2 and "only by case" in err and err.count("\n") == 1, err
    assert tree_digest(repo) == before
    assert invoke("--repo", str(repo), "-q", "snapshot", str(src), "-d", "orders")[0] == 0


def test_a_pulled_repository_with_both_gets_a_clear_error_in_query(
    repo: Path, tmp_path: Path
) -> None:
    other = tmp_path / "other"
    src = tmp_path / "upper.csv"
    src.write_text("id,x\n7,z\n8,y\n9,w\n")
    assert invoke("--repo", str(other), "init")[0] == 0
    assert invoke("--repo", str(other), "-q", "snapshot", str(src), "-d", "ORDERS")[0] == 0
    code, _, err = invoke("--repo", str(repo), "-q", "pull", str(other), "ORDERS")
    assert code == 0, err
    for text in (
        "select count(*) from orders",
        'select count(*) from "ORDERS"',
        'select count(*) from "orders@v1"',
    ):
        code, _out, err = invoke("--repo", str(repo), "query", text)
        assert code == 2 and "differ only by case" in err and err.count("\n") == 1, (text, err)
    # Each is still readable on its own, through the API.
    r = Repo.open(str(repo))
    assert r.get("orders").rows == 2 and r.get("ORDERS").rows == 3


def test_two_names_in_one_query_equal_ignoring_case_are_refused(repo: Path) -> None:
    assert invoke("--repo", str(repo), "tag", "orders@v1", "Reviewed")[0] == 0
    assert invoke("--repo", str(repo), "tag", "orders@v2", "reviewed")[0] == 0
    code, _, err = invoke(
        "--repo",
        str(repo),
        "query",
        'select (select count(*) from "orders@Reviewed") + (select count(*) from "orders@reviewed")',
    )
    assert code == 2 and "by case" in err, err
