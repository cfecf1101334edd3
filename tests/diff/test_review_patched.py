"""A review (distributions, a policy, tolerances) of a patched version: rows from the patches.

Two versions over the same base chunks differ only in their patches, so the
rows are compared from the patches alone even when distributions or a drift
policy are asked for (those come from the chunk profiles, as always). The
answer must be the full diff's, number for number; only the chunks read differ.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa

import dvtool
from dvtool.diff.columns import ToleranceSpec
from dvtool.diff.plan import diff, side_from_snapshot
from dvtool.diff.policy import load_policy

N = 20_000
POLICY = {
    "columns": {"*": {"null_rate_increase": 0.0001, "new_categories": 0, "mean_rel_change": 0.5}},
    "table": {"row_count_rel_change": 0.5},
}


def _versions() -> tuple[pa.Table, pa.Table]:
    rng = np.random.default_rng(7)
    ids = np.arange(N, dtype=np.int64) * 2
    price = np.round(rng.uniform(1, 100, N), 2)
    cat = np.array(["a", "b", "c"])[rng.integers(0, 3, N)]
    old = pa.table({"id": ids, "price": price, "cat": cat})
    price2 = price.copy()
    price2[100:140] += 0.005  # within a 0.01 tolerance
    price2[500:520] += 3.0  # beyond it
    cat2 = cat.astype(object)
    cat2[900:910] = "z"  # a new category
    cat2[1000:1004] = None  # a raised null rate
    keep = np.ones(N, bool)
    keep[3000:3010] = False  # removed rows
    new = pa.table(
        {"id": ids[keep], "price": price2[keep], "cat": pa.array(cat2[keep], pa.string())}
    )
    added = pa.table(
        {
            "id": pa.array([4001, 4003, 4005], pa.int64()),  # odd ids: inside the key range
            "price": [1.0, 2.0, 3.0],
            "cat": ["a", "z", None],
        }
    )
    return old, pa.concat_tables([new, added]).sort_by("id")


def test_a_review_of_a_patched_version_is_the_full_diffs(tmp_path: Path) -> None:
    repo = dvtool.Repo.init(str(tmp_path / "repo"))
    old, new = _versions()
    repo.snapshot(old, dataset="t", key=["id"])
    repo.snapshot(new, dataset="t", key=["id"])
    a, b = repo.get("t@v1"), repo.get("t@v2")
    assert b.manifest.patch is not None  # the case under test: v2 is a patch of v1's chunks

    found = repo.diff("t@v1", "t@v2", abs_tol=0.01, policy=POLICY, limit=5)
    full = diff(
        side_from_snapshot(a),
        side_from_snapshot(b),
        limit=5,
        tolerance=ToleranceSpec.parse(abs_tol=0.01, rel_tol=0.0, tol=None),
        policy=load_policy(POLICY),
    )
    assert found.chunks.compared == 0 < full.chunks.compared  # no chunk read for the rows
    got, want = found.to_dict(), full.to_dict()
    got.pop("chunks")
    want.pop("chunks")
    assert got.pop("validation")["passed"]  # repo.diff adds the (absent) recorded verdicts
    assert got == want
    assert found.rows.to_dict() == {"added": 3, "removed": 10, "changed": 34, "unchanged": 19956}
    assert found.comparison["price"].within_tolerance == 40
    assert found.policy is not None and not found.passed
    assert {(x.column, x.statistic) for x in found.policy.breaches} == {
        ("cat", "null_rate_increase"),
        ("cat", "new_categories"),
    }
