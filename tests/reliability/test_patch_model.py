"""Hypothesis stateful test: upserts, deletes and appends over many versions of a keyed dataset.

Each commit stores a patch or rewrites chunks (the writer decides per range),
``compact`` is interleaved, and after every step every version's export (a
Parquet file written by ``Repo.export``) equals a plain Python model of its
rows. Runs on a local folder and on ``memory://``.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

import dvtool

START_ROWS = 1200  # ~5 chunks of ~256 rows at DVTOOL_CHUNK_BYTES=4000
keys = st.integers(min_value=0, max_value=3 * START_ROWS)


def _table(rows: dict[int, tuple[str, float]]) -> pa.Table:
    ordered = sorted(rows.items())
    return pa.table(
        {
            "k": pa.array([k for k, _ in ordered], pa.int64()),
            "s": pa.array([v[0] for _, v in ordered]),
            "x": pa.array([v[1] for _, v in ordered], pa.float64()),
        }
    )


class PatchModel(RuleBasedStateMachine):
    backend = "folder"

    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="dvtool-patch-model-"))
        url = (
            str(self.dir / "repo")
            if self.backend == "folder"
            else f"memory://patch-model-{uuid.uuid4().hex}"
        )
        self.repo = dvtool.Repo.init(url)
        self.rows: dict[int, tuple[str, float]] = {
            2 * i: (f"s{i}", float(i)) for i in range(START_ROWS)
        }
        self.versions: list[dict[int, tuple[str, float]]] = []
        self.patched = 0
        self._commit()

    def teardown(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)

    def _commit(self) -> None:
        result = self.repo.snapshot(_table(self.rows), dataset="t", key=["k"])
        changed = not self.versions or self.versions[-1] != self.rows
        assert result.unchanged == (not changed)
        if changed:
            self.versions.append(dict(self.rows))
            assert result.version == len(self.versions)
            self.patched += result.snapshot.manifest.patch is not None

    @rule(which=st.lists(keys, min_size=1, max_size=12), value=st.floats(allow_nan=False, width=32))
    def upsert(self, which: list[int], value: float) -> None:
        for k in which:
            self.rows[k] = (f"u{k}", value)
        self._commit()

    @rule(which=st.lists(keys, min_size=1, max_size=12))
    def delete(self, which: list[int]) -> None:
        for k in which:
            self.rows.pop(k, None)
        if not self.rows:
            self.rows[0] = ("last", 0.0)
        self._commit()

    @rule(count=st.integers(min_value=1, max_value=400))
    def append(self, count: int) -> None:
        top = max(self.rows) + 1
        for k in range(top, top + count):
            self.rows[k] = (f"a{k}", -1.0)
        self._commit()

    @rule(share=st.integers(min_value=20, max_value=60))
    def rewrite_many(self, share: int) -> None:
        """An edit over a large share of the rows: past the patch threshold."""
        for i, k in enumerate(sorted(self.rows)):
            if i % 100 < share:
                self.rows[k] = (self.rows[k][0], self.rows[k][1] + 1)
        self._commit()

    @rule()
    def compact(self) -> None:
        latest = self.repo.get("t")
        result = self.repo.compact("t")
        assert result.unchanged == (latest.manifest.patch is None)
        if not result.unchanged:
            assert result.snapshot.manifest.patch is None
            assert result.snapshot.manifest.fingerprint == latest.manifest.fingerprint
            self.versions.append(dict(self.rows))
            assert result.version == len(self.versions)

    @invariant()
    def every_version_exports_its_rows(self) -> None:
        for number, rows in enumerate(self.versions, start=1):
            out = self.dir / f"v{number}.parquet"
            self.repo.export(f"t@v{number}", str(out))
            assert pq.read_table(out).equals(_table(rows)), f"t@v{number}"
            out.unlink()


class FolderPatchModel(PatchModel):
    backend = "folder"


class MemoryPatchModel(PatchModel):
    backend = "memory"


@pytest.mark.parametrize("machine", [FolderPatchModel, MemoryPatchModel], ids=["folder", "memory"])
def test_patch_model(machine: type[PatchModel], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DVTOOL_CHUNK_BYTES", "4000")
    monkeypatch.setenv("DVTOOL_PATCH_RATIO", "0.2")
    patched_before = []

    class Counted(machine):  # type: ignore[valid-type,misc]
        def teardown(self) -> None:
            patched_before.append(self.patched)
            super().teardown()

    run_state_machine_as_test(
        Counted,
        settings=settings(
            max_examples=5,
            stateful_step_count=7,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
            derandomize=True,
        ),
    )
    assert sum(patched_before) > 0  # the runs did store patches, not only rewrites
