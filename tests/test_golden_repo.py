"""A repository written by an earlier dvtool opens, diffs and exports unchanged.

``fixtures/golden/repo-v1`` was written by dvtool at commit 97dfe9a (before
per-column encodings and parent-aligned chunk boundaries) with
``fixtures/golden/make_repo_v1.py``; ``repo-v1.expected.json`` holds what
that dvtool reported. The repository is copied before use: tests never write
to the fixture.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import dvtool
from dvtool.ingest.fingerprint import table_fingerprint

GOLDEN = Path(__file__).resolve().parent.parent / "fixtures" / "golden"
EXPECTED = json.loads((GOLDEN / "repo-v1.expected.json").read_text())


@pytest.fixture
def golden(tmp_path: Path) -> dvtool.Repo:
    shutil.copytree(GOLDEN / "repo-v1", tmp_path / "repo")
    return dvtool.Repo.open(str(tmp_path / "repo"))


def test_every_version_opens_with_its_id_rows_and_fingerprint(
    golden: dvtool.Repo, tmp_path: Path
) -> None:
    versions = {ref: facts for ref, facts in EXPECTED.items() if not ref.startswith("diff ")}
    assert len(versions) == 7
    for ref, facts in versions.items():
        snap = golden.get(ref)
        assert (snap.id, snap.rows, len(snap.chunks), snap.manifest.bytes) == (
            facts["id"],
            facts["rows"],
            facts["chunks"],
            facts["bytes"],
        )
        table = snap.to_arrow()
        assert (
            table_fingerprint(snap.schema, [table])
            == facts["fingerprint"]
            == snap.manifest.fingerprint
        )
        out = tmp_path / f"{ref.replace('@', '-')}.parquet"
        golden.export(ref, str(out))
        assert table_fingerprint(snap.schema, [pq.read_table(out)]) == facts["fingerprint"]
    assert golden.get("orders@reviewed").version == 2
    assert golden.fsck().ok


def test_diffs_are_unchanged(golden: dvtool.Repo) -> None:
    for name, counts in EXPECTED.items():
        if not name.startswith("diff "):
            continue
        _, old, new = name.split()
        rows = golden.diff(old, new).rows
        assert {
            "added": rows.added,
            "removed": rows.removed,
            "changed": rows.changed,
            "unchanged": rows.unchanged,
        } == counts


def test_appending_to_an_old_dataset_keeps_its_chunks_and_its_settings(golden: dvtool.Repo) -> None:
    parent = golden.get("numbers")
    old = parent.to_arrow()
    ids = old.column("id").to_numpy()
    more = ids[-1] + 10 + np.arange(3_000, dtype=np.int64) * 10
    tail = pa.table(
        {"id": more, "v": (more * 7919) % 1000, "s": pa.array([f"s{i % 97}" for i in more])}
    )
    result = golden.snapshot(pa.concat_tables([old, tail]), dataset="numbers", key=["id"])
    m = result.snapshot.manifest
    assert m.chunking == parent.manifest.chunking  # a dataset keeps the settings it was made with
    assert [c.object for c in m.chunks[: len(parent.chunks)]] == [c.object for c in parent.chunks]
    assert sum(c.rows for c in m.chunks[len(parent.chunks) :]) == 3_000
    assert golden.diff("numbers@v2", "numbers@v3").rows.added == 3_000
    assert golden.fsck().ok
