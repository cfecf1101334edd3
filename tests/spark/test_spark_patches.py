"""A patched (format 2) version reads the same through the spark engine: executors apply the patch."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

import dvtool

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def patched(tmp_path_factory: pytest.TempPathFactory) -> dvtool.Repo:
    mp = pytest.MonkeyPatch()
    mp.setenv("DVTOOL_CHUNK_BYTES", "8000")  # several chunks from a few thousand rows
    repo = dvtool.Repo.init(tmp_path_factory.mktemp("patched") / ".dvtool")
    n = 6000
    rng = np.random.default_rng(5)
    v1 = pa.table(
        {
            "id": pa.array(np.arange(n) * 2, pa.int64()),
            "x": pa.array(rng.normal(size=n)),
            "s": pa.array([f"s{i % 11}" for i in range(n)]),
        }
    )
    repo.snapshot(v1, dataset="t", key=["id"])
    x = v1.column("x").to_numpy().copy()
    x[rng.choice(n, 40, replace=False)] += 1
    v2 = v1.set_column(1, "x", pa.array(x)).filter(pa.array([i % 500 != 3 for i in range(n)]))
    v2 = pa.concat_tables(
        [v2, pa.table({"id": pa.array([7, 9001], pa.int64()), "x": [0.5, 0.25], "s": ["n", "n"]})]
    ).sort_by("id")
    assert repo.snapshot(v2, dataset="t", key=["id"]).snapshot.manifest.patch is not None
    repo.compact("t")  # v3: the same rows in plain chunks
    mp.undo()
    return repo


def test_query_of_a_patched_version(patched: dvtool.Repo, spark: Any) -> None:
    for sql in (
        'select count(*) as n, sum(x) as sx, min(id) as lo, max(id) as hi from "t@v2"',
        'select s, count(*) as n from "t@v2" group by s order by s',
        'select id, x from "t@v2" where id in (7, 9001, 6) order by id',
    ):
        got = patched.query(sql, engine="spark", spark=spark).to_pylist()
        want = patched.query(sql).to_pylist()
        assert _same(got) == _same(want), sql


def _same(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {k: float(f"{v:.12g}") if isinstance(v, float) else v for k, v in r.items()} for r in rows
    ]


def test_spark_frame_and_validate_of_a_patched_version(
    patched: dvtool.Repo, spark: Any, tmp_path: Path
) -> None:
    from dvtool.engines.spark.reading import POS, ChunkSource, chunk_frame

    snap = patched.get("t@v2")
    frame = chunk_frame(spark, ChunkSource(snap, {}), positions=True)
    got = pa.Table.from_pandas(frame.toPandas(), preserve_index=False).sort_by(POS)
    assert got.column(POS).to_pylist() == list(range(snap.rows))
    assert got.select(["id", "x", "s"]).to_pylist() == snap.to_arrow().to_pylist()
    schema = tmp_path / "s.yaml"
    schema.write_text(
        "columns:\n  id: {dtype: int64, unique: true}\n  x: {dtype: float64, checks: {less_than: 3.0}}\n"
        "  s: {dtype: str}\n"
    )
    remote = patched.validate("t@v2", schema=str(schema), engine="spark", spark=spark)
    local = patched.validate("t@v2", schema=str(schema))
    assert json.loads(json.dumps(remote.to_json()))["ok"] == local.ok
    assert sum(f.failure_count for f in remote.errors) == sum(f.failure_count for f in local.errors)
