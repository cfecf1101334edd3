"""Hostile input, through the CLI: exit 2, one ``Error:`` line, nothing run, nothing changed, no secret."""

from __future__ import annotations

import io
import shutil
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers import dvtool_run, table, write_csv
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dvtool
from clitools import run, tree_digest

BAD_NAMES = [
    "../x",
    "a/b",
    "-rf",
    "..",
    "a..b",
    ".hidden",
    "a b",
    "x" * 129,
    "ü",
    "a\x00b",
    "a;rm -rf /",
    "$(id)",
]
SECRET = "wJalrXUtnFEMIK7MDENGbPxRfiCYSECRETKEY"


@pytest.fixture
def repo_root(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    repo = dvtool.Repo.init(root)
    repo.snapshot(table(100), dataset="orders", key=["id"])
    return root


def _refused(capsys: pytest.CaptureFixture[str], root: Path, *args: str) -> str:
    before = tree_digest(root)
    result = run(capsys, "--repo", str(root), *args)
    assert result.exit_code == 2, (args, result)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert "Traceback" not in result.stderr
    assert tree_digest(root) == before  # byte-for-byte unchanged
    return lines[0]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_bad_dataset_and_tag_names(
    name: str, repo_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv = write_csv(tmp_path / "in.csv", table(10))
    _refused(capsys, repo_root, "snapshot", str(csv), "-d", name)
    _refused(capsys, repo_root, "tag", "orders@v1", name)
    _refused(capsys, repo_root, "snapshot", str(csv), "-d", "orders", "--tag", name)
    _refused(capsys, repo_root, "prune", name, "--keep-last", "1")
    if "\x00" not in name:
        _refused(capsys, repo_root, "log", name)
    assert not (tmp_path / "x").exists() and not (repo_root.parent / "x").exists()


def test_yaml_schema_that_would_run_code(
    repo_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    witness = tmp_path / "PWNED"
    schema = tmp_path / "evil.yaml"
    schema.write_text(f'!!python/object/apply:os.system ["touch {witness}"]\n')
    csv = write_csv(tmp_path / "in.csv", table(10))
    _refused(capsys, repo_root, "snapshot", str(csv), "-d", "orders", "--schema", str(schema))
    _refused(capsys, repo_root, "validate", "orders", "--schema", str(schema))
    assert not witness.exists()
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(
        "a: &a [x, x, x, x, x, x, x, x, x]\n"
        + "".join(
            f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
            for p, c in zip("abcdefgh", "bcdefghi", strict=True)
        )
    )
    _refused(capsys, repo_root, "validate", "orders", "--schema", str(bomb))


@pytest.mark.parametrize(
    "url",
    [f"s3://AKIAEXAMPLE:{SECRET}@bucket/repo", f"https://user:{SECRET}@example.com/data.csv"],
)
def test_urls_with_credentials_are_refused_without_echoing_the_secret(
    url: str, repo_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for args in (("snapshot", url, "-d", "orders"), ("push", "orders", url)):
        line = _refused(capsys, repo_root, *args)
        assert SECRET not in line and "credentials" in line
    result = run(capsys, "--repo", url, "log", "orders")
    assert result.exit_code == 2 and SECRET not in result.stderr + result.stdout
    sub = dvtool_run(repo_root, "--debug", "snapshot", url, "-d", "orders")
    assert SECRET not in sub.stdout + sub.stderr


def _valid_parquet() -> bytes:
    sink = io.BytesIO()
    pq.write_table(table(50), sink)
    return sink.getvalue()


PARQUET = _valid_parquet()
CSV = b"id,label,amount\n1,a,1.5\n2,b,3.0\n3,c,4.5\n"


def _fuzz_one(capsys: pytest.CaptureFixture[str], data: bytes, suffix: str) -> None:
    work = Path(tempfile.mkdtemp(prefix="dvtool-fuzz-"))
    try:
        root = work / "repo"
        dvtool.Repo.init(root)
        src = work / f"in{suffix}"
        src.write_bytes(data)
        before = tree_digest(root)
        result = run(capsys, "--repo", str(root), "snapshot", str(src), "-d", "fuzz")
        assert result.exit_code in (0, 2), result
        if result.exit_code == 2:
            lines = result.stderr.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
            assert tree_digest(root) == before
        else:
            assert dvtool.Repo.open(root).fsck().ok
    finally:
        shutil.rmtree(work, ignore_errors=True)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    edits=st.lists(
        st.tuples(st.integers(min_value=1, max_value=64), st.integers(min_value=0, max_value=255)),
        min_size=1,
        max_size=4,
    ),
    cut=st.integers(min_value=0, max_value=8),
)
def test_fuzzed_parquet_footer(
    capsys: pytest.CaptureFixture[str], edits: list[tuple[int, int]], cut: int
) -> None:
    data = bytearray(PARQUET)
    for back, value in edits:  # the footer (metadata, length, magic) is at the end
        data[len(data) - back] = value
    _fuzz_one(capsys, bytes(data[: len(data) - cut]), ".parquet")


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    data=st.binary(max_size=200)
    | st.builds(
        lambda i, b: CSV[:i] + b + CSV[i:], st.integers(0, len(CSV)), st.binary(max_size=20)
    )
)
def test_fuzzed_csv(capsys: pytest.CaptureFixture[str], data: bytes) -> None:
    _fuzz_one(capsys, data, ".csv")


def test_sql_looking_column_names_are_data(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "repo"
    dvtool.Repo.init(root)
    evil = 'a"; DROP TABLE t; --'
    t1 = pa.table(
        {"id": [1, 2, 3], evil: ["x", "y", "z"], "sp ace": [1.0, 2.0, 3.0], "ünï": ["q", "'", '"']}
    )
    t2 = pa.table(
        {"id": [1, 2, 4], evil: ["x", "Y", "w"], "sp ace": [1.0, 2.0, 4.0], "ünï": ["q", "'", "n"]}
    )
    pq.write_table(t1, tmp_path / "t1.parquet")
    pq.write_table(t2, tmp_path / "t2.parquet")
    for f in ("t1", "t2"):
        assert (
            run(
                capsys,
                "--repo",
                str(root),
                "snapshot",
                str(tmp_path / f"{f}.parquet"),
                "-d",
                "t",
                "--key",
                "id",
            ).exit_code
            == 0
        )
    out = tmp_path / "out.parquet"
    assert run(capsys, "--repo", str(root), "export", "t@v1", str(out)).exit_code == 0
    assert pq.read_table(out).equals(t1)
    query = run(
        capsys,
        "--repo",
        str(root),
        "query",
        f"select count(*) as n from t where \"{evil.replace(chr(34), chr(34) * 2)}\" = 'Y'",
        "--format",
        "json",
    )
    assert query.exit_code == 0 and '"n": 1' in query.stdout.replace('"n":1', '"n": 1')
    diff = run(capsys, "--repo", str(root), "diff", "t@v1", "t@v2", "--format", "json")
    assert diff.exit_code == 0, diff.stderr
    assert dvtool.Repo.open(root).get("t").to_arrow().equals(t2)
