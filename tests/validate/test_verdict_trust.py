"""Defect: validate said PASSED on data it did not check.

(a) a cached verdict is used only for a chunk verified present and intact;
(b) a schema whose identity cannot be proven (Python code in checks) never reuses verdicts;
(c) a verdict file is bound to its content: an edited one is ignored by validate, reported by fsck.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dvtool import Repo
from s3server import S3Bucket
from tests.clitools import run

SCHEMA = textwrap.dedent(
    """\
    schema_type: dataframe
    columns:
      v:
        dtype: int64
        checks:
          greater_than: 0
    """
)


def _repo_with_cached_verdict(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> tuple[Path, Path]:
    repo, schema, data = tmp_path / "repo", tmp_path / "s.yaml", tmp_path / "d.parquet"
    schema.write_text(SCHEMA)
    pq.write_table(pa.table({"v": [1, 2, 3]}), data)
    run(capsys, "--repo", str(repo), "init")
    assert run(capsys, "--repo", str(repo), "snapshot", str(data), "-d", "d").exit_code == 0
    first = run(capsys, "--repo", str(repo), "validate", "d", "--schema", str(schema))
    assert first.exit_code == 0 and "1 chunk checked, 0 reused" in first.stdout
    again = run(capsys, "--repo", str(repo), "validate", "d", "--schema", str(schema))
    assert again.exit_code == 0 and "0 chunks checked, 1 reused" in again.stdout
    return repo, schema


def _chunk_verdicts(repo: Path) -> list[Path]:
    """The cached per-chunk verdicts (not the per-snapshot ones of checks over all rows)."""
    return [
        p
        for p in sorted((repo / "validation").rglob("*.json"))
        if json.loads(p.read_bytes())["kind"] == "validation-verdict"
    ]


def _chunk(repo: Path) -> Path:
    (path,) = (repo / "objects").rglob("*.parquet")
    return path


def test_cached_verdict_of_a_corrupt_chunk_is_not_used(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo, schema = _repo_with_cached_verdict(tmp_path, capsys)
    chunk = _chunk(repo)
    data = bytearray(chunk.read_bytes())
    data[len(data) // 2] ^= 0xFF
    chunk.chmod(0o644)
    chunk.write_bytes(bytes(data))
    res = run(capsys, "--repo", str(repo), "validate", "d", "--schema", str(schema))
    assert res.exit_code == 2, res.stdout
    assert "PASSED" not in res.stdout and res.stderr.startswith("Error: object xxh128:")
    assert "corrupt" in res.stderr


def test_cached_verdict_of_a_missing_chunk_is_not_used(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo, schema = _repo_with_cached_verdict(tmp_path, capsys)
    _chunk(repo).unlink()
    res = run(capsys, "--repo", str(repo), "validate", "d", "--schema", str(schema))
    assert res.exit_code == 2 and "PASSED" not in res.stdout
    assert res.stderr.startswith("Error:") and "Traceback" not in res.stderr


@pytest.mark.s3
def test_cached_verdict_of_a_missing_or_truncated_remote_chunk_is_not_used(
    tmp_path: Path, s3_bucket: S3Bucket
) -> None:
    import s3fs

    url = f"{s3_bucket.url}/v"
    repo = Repo.init(url, storage_options=s3_bucket.storage_options)
    snap = repo.snapshot(pa.table({"v": [1, 2, 3]}), dataset="d").snapshot
    schema = tmp_path / "s.yaml"
    schema.write_text(SCHEMA)
    assert repo.validate("d", schema=str(schema)).chunks_checked == 1
    assert repo.validate("d", schema=str(schema)).chunks_reused == 1
    fs = s3fs.S3FileSystem(**s3_bucket.storage_options)
    (chunk,) = snap.chunks
    key = f"{s3_bucket.name}/v/objects/{chunk.object[7:9]}/{chunk.object[9:]}.parquet"
    fs.pipe(key, fs.cat(key)[:-1])  # one byte short
    with pytest.raises(Exception, match="bytes, not"):
        repo.validate("d", schema=str(schema))
    fs.rm(key)
    with pytest.raises(Exception, match="missing"):
        repo.validate("d", schema=str(schema))


def _write(path: Path, text: str) -> None:
    path.write_text(textwrap.dedent(text))


def test_python_schema_importing_a_changed_module_does_not_reuse_verdicts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys
    import uuid

    limits = f"limits_{uuid.uuid4().hex}"  # a fresh module name: nothing cached in sys.modules
    monkeypatch.syspath_prepend(str(tmp_path))
    _write(tmp_path / f"{limits}.py", "LIMIT = 10\n")
    _write(
        tmp_path / "schema_mod.py",
        f"""\
        import pandera.pandas as pa
        import {limits} as limits_mod

        schema = pa.DataFrameSchema(
            {{"v": pa.Column(int, pa.Check(lambda s: s < limits_mod.LIMIT, name="small"))}}
        )
        """,
    )
    repo = Repo.init(str(tmp_path / "repo"))
    repo.snapshot(pa.table({"v": [1, 5]}), dataset="d")
    first = repo.validate("d", schema=f"{tmp_path / 'schema_mod.py'}:schema")
    assert first.ok and first.chunks_checked == 1
    assert first.notes and "identity cannot be proven" in first.notes[0]
    _write(tmp_path / f"{limits}.py", "LIMIT = 3\n")  # the schema file itself is unchanged
    monkeypatch.delitem(sys.modules, limits)
    second = repo.validate("d", schema=f"{tmp_path / 'schema_mod.py'}:schema")
    assert not second.ok, "a verdict of the old module was reused"
    assert second.chunks_reused == 0 and second.errors[0].failure_count == 1
    assert len(second.notes) == 1 and "cached verdicts not used" in second.to_text()
    assert second.to_text().count("identity cannot be proven") == 1


def test_two_schemas_whose_lambda_checks_share_a_name_do_not_share_verdicts(tmp_path: Path) -> None:
    import pandera.pandas as pa_

    lenient = pa_.DataFrameSchema({"v": pa_.Column(int, pa_.Check(lambda s: s > 0, name="ok"))})
    strict = pa_.DataFrameSchema({"v": pa_.Column(int, pa_.Check(lambda s: s > 3, name="ok"))})
    repo = Repo.init(str(tmp_path / "repo"))
    repo.snapshot(pa.table({"v": [1, 5]}), dataset="d")
    assert repo.validate("d", schema=lenient).ok
    report = repo.validate("d", schema=strict)
    assert not report.ok and report.chunks_reused == 0


def test_builtin_checks_only_schema_still_reuses_verdicts(tmp_path: Path) -> None:
    import pandera.polars as pp

    schema = pp.DataFrameSchema({"v": pp.Column(int, pp.Check.greater_than(0))})
    repo = Repo.init(str(tmp_path / "repo"))
    repo.snapshot(pa.table({"v": [1, 5]}), dataset="d")
    assert repo.validate("d", schema=schema).chunks_checked == 1
    again = repo.validate("d", schema=schema)
    assert again.chunks_reused == 1 and again.notes == ()
    # a lambda dressed up with a built-in check's name is still Python code
    fake = pp.DataFrameSchema({"v": pp.Column(int, pp.Check(lambda s: s > 3, name="greater_than"))})
    assert not repo.validate("d", schema=fake).ok


def test_edited_verdict_is_ignored_by_validate_and_reported_by_fsck(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo, schema = _repo_with_cached_verdict(tmp_path, capsys)
    (verdict,) = _chunk_verdicts(repo)
    body = json.loads(verdict.read_bytes())
    body["failures"] = [
        {
            "column": "v",
            "check": "greater_than(0)",
            "severity": "error",
            "count": 3,
            "examples": [],
            "cases": [],
        }
    ]
    verdict.chmod(0o644)
    verdict.write_text(json.dumps(body))
    fsck = run(capsys, "--repo", str(repo), "fsck")
    assert fsck.exit_code == 1 and "does not match its checksum" in fsck.stdout
    res = run(capsys, "--repo", str(repo), "validate", "d", "--schema", str(schema))
    assert res.exit_code == 0 and "1 chunk checked, 0 reused" in res.stdout  # the lie was not used
    assert run(capsys, "--repo", str(repo), "fsck").exit_code == 0  # and it was replaced


def test_verdict_copied_under_another_chunks_name_is_ignored(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo, schema, data = tmp_path / "repo", tmp_path / "s.yaml", tmp_path / "d.parquet"
    schema.write_text(SCHEMA)
    run(capsys, "--repo", str(repo), "init")
    pq.write_table(pa.table({"v": [1, 2]}), data)
    run(capsys, "--repo", str(repo), "snapshot", str(data), "-d", "good")
    pq.write_table(pa.table({"v": [-1, -2]}), data)
    run(capsys, "--repo", str(repo), "snapshot", str(data), "-d", "bad")
    assert (
        run(capsys, "--repo", str(repo), "validate", "good", "--schema", str(schema)).exit_code == 0
    )
    assert (
        run(capsys, "--repo", str(repo), "validate", "bad", "--schema", str(schema)).exit_code == 1
    )
    files = sorted(
        _chunk_verdicts(repo), key=lambda p: json.loads(p.read_bytes())["failures"] != []
    )
    passing, failing = files
    failing.chmod(0o644)
    failing.write_bytes(passing.read_bytes())  # a PASS verdict under the failing chunk's name
    assert (
        run(capsys, "--repo", str(repo), "validate", "bad", "--schema", str(schema)).exit_code == 1
    )


def test_verdicts_edited_to_say_pass_do_not_pass_failing_data(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every cached verdict (per chunk, and per snapshot for checks over all rows) is bound to its content."""
    repo, schema, data = tmp_path / "repo", tmp_path / "s.yaml", tmp_path / "d.parquet"
    schema.write_text(SCHEMA + "    unique: true\n")
    run(capsys, "--repo", str(repo), "init")
    pq.write_table(pa.table({"v": [-1, 2, 2]}), data)
    run(capsys, "--repo", str(repo), "snapshot", str(data), "-d", "d")
    assert run(capsys, "--repo", str(repo), "validate", "d", "--schema", str(schema)).exit_code == 1
    verdicts = sorted((repo / "validation").rglob("*.json"))
    assert {json.loads(p.read_bytes())["kind"] for p in verdicts} == {
        "validation-verdict",
        "validation-snapshot-verdict",
    }
    edited = 0
    for path in verdicts:
        body = json.loads(path.read_bytes())
        if body["failures"]:
            body["failures"] = []
            path.chmod(0o644)
            path.write_text(json.dumps(body))
            edited += 1
    assert edited >= 1
    fsck = run(capsys, "--repo", str(repo), "fsck")
    assert fsck.exit_code == 1 and fsck.stdout.count("does not match its checksum") == edited
    res = run(capsys, "--repo", str(repo), "validate", "d", "--schema", str(schema))
    assert res.exit_code == 1 and "FAILED" in res.stdout
    assert "greater_than" in res.stdout and "unique" in res.stdout
