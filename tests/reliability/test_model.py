"""Hypothesis stateful test: snapshot / tag / prune / gc / crash against a small reference model.

Invariant after every step: every object reachable from any live version or
tag exists and verifies (fsck is clean), versions are gap-free, and every
live version and tag reads back exactly the rows the model says it holds.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from pathlib import Path

import pyarrow as pa
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

import dvtool
from dvtool.crashpoints import POINTS, SimulatedCrash, arm
from dvtool.errors import NotFoundError

DATASETS = ("a", "b")
rows_strategy = st.lists(st.integers(min_value=0, max_value=40), min_size=1, max_size=30)


def _table(values: list[int]) -> pa.Table:
    return pa.table({"v": pa.array(values, pa.int64()), "s": pa.array([f"r{x}" for x in values])})


class RepoModel(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="dvtool-model-"))
        self.repo = dvtool.Repo.init(self.dir / "repo")
        self.versions: dict[str, list[list[int]]] = {
            d: [] for d in DATASETS
        }  # model: rows per version
        self.pruned: dict[str, set[int]] = {d: set() for d in DATASETS}
        self.tags: dict[str, tuple[str, int]] = {}

    def teardown(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)

    def _commit_expected(self, dataset: str, values: list[int]) -> bool:
        history = self.versions[dataset]
        return not history or history[-1] != values

    @rule(dataset=st.sampled_from(DATASETS), values=rows_strategy)
    def snapshot(self, dataset: str, values: list[int]) -> None:
        result = self.repo.snapshot(_table(values), dataset=dataset)
        expect_new = self._commit_expected(dataset, values)
        assert result.unchanged == (not expect_new)
        if expect_new:
            self.versions[dataset].append(values)
            assert result.version == len(self.versions[dataset])

    @rule(
        dataset=st.sampled_from(DATASETS),
        values=rows_strategy,
        point=st.sampled_from(POINTS["snapshot"]),
    )
    def crash_during_snapshot(self, dataset: str, values: list[int], point: str) -> None:
        expect_new = self._commit_expected(dataset, values)
        with arm(point):
            try:
                self.repo.snapshot(_table(values), dataset=dataset)
            except SimulatedCrash:
                crashed = True
            else:
                crashed = False
        assert crashed == expect_new  # unchanged data never reaches the commit steps
        if expect_new and point == "snapshot.after_version_entry":
            self.versions[dataset].append(values)

    @precondition(lambda self: any(self.versions.values()))
    @rule(data=st.data())
    def tag(self, data: st.DataObject) -> None:
        dataset = data.draw(st.sampled_from([d for d in DATASETS if self.versions[d]]))
        live = [
            v for v in range(1, len(self.versions[dataset]) + 1) if v not in self.pruned[dataset]
        ]
        version = data.draw(st.sampled_from(live))
        name = f"t{len(self.tags)}"
        self.repo.tag(f"{dataset}@v{version}", name)
        self.tags[name] = (dataset, version)

    @rule(dataset=st.sampled_from(DATASETS), keep=st.integers(min_value=1, max_value=3))
    def prune(self, dataset: str, keep: int) -> None:
        if not self.versions[dataset]:
            return
        result = self.repo.prune(dataset, keep_last=keep)
        tagged = {v for d, v in self.tags.values() if d == dataset}
        total = len(self.versions[dataset])
        expected = {v for v in range(1, total - keep + 1) if v not in tagged} - self.pruned[dataset]
        assert set(result.pruned) == expected
        self.pruned[dataset] |= expected

    @rule(point=st.sampled_from((None, *POINTS["gc"])))
    def gc(self, point: str | None) -> None:
        # One process: nothing is in flight, so a zero grace period is safe here.
        if point is None:
            self.repo.gc(older_than="0s", allow_short_grace=True, dry_run=False)
            return
        with arm(point), contextlib.suppress(SimulatedCrash):
            self.repo.gc(older_than="0s", allow_short_grace=True, dry_run=False)

    @invariant()
    def reachable_objects_exist_and_verify(self) -> None:
        result = self.repo.fsck()
        assert result.ok, result.to_text()
        for dataset in DATASETS:
            history = self.versions[dataset]
            if not history:
                continue
            assert [e.version for e in self.repo.log(dataset)] == list(range(len(history), 0, -1))
            tagged = {v for d, v in self.tags.values() if d == dataset}
            for version, values in enumerate(history, start=1):
                if version in self.pruned[dataset] and version not in tagged:
                    try:
                        self.repo.get(f"{dataset}@v{version}")
                    except NotFoundError as exc:
                        assert "pruned" in str(exc)
                    else:
                        raise AssertionError(f"{dataset}@v{version} should be pruned")
                    continue
                assert self.repo.get(f"{dataset}@v{version}").to_arrow().equals(_table(values))
        for name, (dataset, version) in self.tags.items():
            assert (
                self.repo.get(f"{dataset}@{name}")
                .to_arrow()
                .equals(_table(self.versions[dataset][version - 1]))
            )


RepoModel.TestCase.settings = settings(
    max_examples=12,
    stateful_step_count=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestRepoModel = RepoModel.TestCase
