"""Reviewing a version: column comparison with tolerances, distributions, the drift policy gate.

One fixture with planted changes, snapshotted into a real local repository:
``amount`` shifted by +10 (a shifted mean), ``note`` 20% null where it had
none (a raised null rate), ``category`` with a new value ``z``, ``price``
moved by 1.0 in 7 rows (beyond a 0.01 tolerance) and ``score`` by 0.001 in 30
rows (within it). ``user`` is untouched. The reports must name exactly these.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from planted import EXPECTED_BREACHES, LOOSE, POLICY, N, planted

import dvtool
from clitools import invoke
from dvtool import sql
from dvtool.diff.columns import ToleranceSpec
from dvtool.diff.plan import Side, diff
from dvtool.diff.profile import ALPHA, Profile, profile_table
from dvtool.diff.profiles import MemoryProfileCache, side_profile


def _policy_file(tmp_path: Path, body: dict[str, Any], name: str = "drift.yaml") -> str:
    import yaml

    path = tmp_path / name
    path.write_text(yaml.safe_dump(body))
    return str(path)


def test_json_names_exactly_the_planted_columns_and_statistics(
    repo_dir: Path, tmp_path: Path
) -> None:
    policy = _policy_file(tmp_path, POLICY)
    code, out, err = invoke(
        "--repo",
        str(repo_dir),
        "diff",
        "t@v1",
        "t@v2",
        "--abs-tol",
        "0.01",
        "--policy",
        policy,
        "--format",
        "json",
    )
    assert code == 1, err
    d = json.loads(out)
    cmp = d["comparison"]
    assert {c for c, v in cmp.items() if v["changed"]} == {"amount", "category", "note", "price"}
    assert {c for c, v in cmp.items() if v["within_tolerance"]} == {"score"}
    assert cmp["price"]["changed"] == 7 and cmp["price"]["max_diff"] == pytest.approx(1.0)
    assert cmp["score"]["changed"] == 0 and cmp["score"]["within_tolerance"] == 30
    assert cmp["score"]["match_rate"] == 1.0
    assert cmp["note"]["null_diff"] == N // 5 and cmp["note"]["nulls"] == {"old": 0, "new": N // 5}
    assert cmp["amount"]["mean_abs_diff"] == pytest.approx(10.0)
    assert cmp["category"]["distinct"] == {"old": 3, "new": 4, "exact": True}
    assert cmp["user"]["changed"] == 0 and cmp["user"]["max_diff"] == 0.0
    # Rows whose only differences are within tolerance count as unchanged.
    assert d["rows"]["changed"] == N and d["columns"]["score"] == 0
    breaches = {(b["column"], b["statistic"]) for b in d["policy"]["breaches"]}
    assert breaches == EXPECTED_BREACHES
    by = {(b["column"], b["statistic"]): b for b in d["policy"]["breaches"]}
    assert by[("note", "null_rate_increase")]["old"] == 0.0
    assert by[("note", "null_rate_increase")]["new"] == pytest.approx(0.2)
    assert by[("category", "new_categories")]["new"] == ["z"]
    assert by[("amount", "mean_rel_change")]["threshold"] == 0.05
    drift = d["drift"]["columns"]
    assert drift["category"]["new_categories"] == ["z"]
    assert [c for c, v in drift.items() if v["new_categories"]] == ["category"]
    assert drift["amount"]["new"]["mean"] - drift["amount"]["old"]["mean"] == pytest.approx(10.0)
    assert drift["user"]["psi"] == 0.0


def test_the_gate_passes_when_loosened(repo_dir: Path, tmp_path: Path) -> None:
    policy = _policy_file(tmp_path, LOOSE)
    code, out, err = invoke(
        "--repo",
        str(repo_dir),
        "diff",
        "t@v1",
        "t@v2",
        "--abs-tol",
        "0.01",
        "--policy",
        policy,
    )
    assert code == 0, err
    assert f"policy {policy}: passed" in out.decode()


@pytest.mark.parametrize("fmt", ["text", "markdown", "junit", "github", "html"])
def test_every_format_names_each_breach(repo_dir: Path, tmp_path: Path, fmt: str) -> None:
    policy = _policy_file(tmp_path, POLICY)
    code, out, err = invoke(
        "--repo",
        str(repo_dir),
        "diff",
        "t@v1",
        "t@v2",
        "--policy",
        policy,
        "--format",
        fmt,
    )
    assert code == 1, err
    text = out.decode()
    if fmt == "junit":
        suite = ET.fromstring(text)
        failed = {
            (case.get("classname", "").removeprefix("policy."), case.get("name"))
            for case in suite.iter("testcase")
            if case.find("failure") is not None
        }
        assert failed == EXPECTED_BREACHES
        assert suite.get("failures") == "3"
        return
    for column, statistic in EXPECTED_BREACHES:
        if fmt == "github":
            assert f"::error title=drift%3A {column} {statistic}::" in text
        else:
            assert column in text and statistic in text
    if fmt == "text":
        breach_lines = [line for line in text.splitlines() if line.startswith("  ✗ ")]
        assert len(breach_lines) == 3


def test_policy_files_load_strictly(repo_dir: Path, tmp_path: Path) -> None:
    cases = {
        "typo.yaml": (
            {"columns": {"*": {"null_rate_increse": 0.1}}},
            "did you mean 'null_rate_increase'",
        ),
        "key.yaml": ({"colums": {}}, "unknown key"),
        "neg.yaml": ({"columns": {"amount": {"psi": -1}}}, "≥ 0"),
        "str.yaml": ({"columns": {"amount": {"psi": "high"}}}, "must be a number"),
        "col.yaml": ({"columns": {"nope": {"psi": 0.1}}}, "'nope', which is not in both versions"),
        "na.yaml": (
            {"columns": {"note": {"mean_shift": 1}}},
            "cannot be computed for column 'note'",
        ),
        "empty.yaml": ({}, "sets no threshold"),
    }
    for name, (body, message) in cases.items():
        policy = _policy_file(tmp_path, body, name)
        code, out, err = invoke("--repo", str(repo_dir), "diff", "t@v1", "t@v2", "--policy", policy)
        assert code == 2, (name, err)
        assert err.startswith("Error: ") and message in err, (name, err)
        assert len(err.strip().splitlines()) == 1 and not out
    dup = tmp_path / "dup.yaml"
    dup.write_text("columns:\n  amount: {psi: 0.1}\n  amount: {psi: 0.5}\n")
    code, _, err = invoke("--repo", str(repo_dir), "diff", "t@v1", "t@v2", "--policy", str(dup))
    assert code == 2 and "duplicate key 'amount'" in err


def test_tolerance_arguments_are_checked(repo_dir: Path) -> None:
    for args, message in (
        (["--tol", "note=abs:1"], "tolerances apply to numeric columns"),
        (["--tol", "nope=abs:1"], "'nope', which is not a compared column"),
        (["--tol", "price=abs"], "COL=abs:X or COL=rel:X"),
        (["--tol", "price=abs:-1"], "≥ 0"),
        (["--abs-tol", "0.1", "--no-key"], "pass --key"),
        (["--format", "junit"], "add --policy FILE"),
    ):
        code, _, err = invoke("--repo", str(repo_dir), "diff", "t@v1", "t@v2", *args)
        assert code == 2 and err.startswith("Error: ") and message in err, (args, err)


def test_per_column_tolerance_overrides_the_default(repo_dir: Path) -> None:
    repo = dvtool.Repo.open(str(repo_dir))
    d = repo.diff("t@v1", "t@v2", abs_tol=0.01, tol={"price": "abs:1.5", "score": "rel:0"})
    assert d.comparison["price"].changed == 0 and d.comparison["price"].within_tolerance == 7
    # score: abs 0.01 still applies (rel:0 only sets the relative part).
    assert d.comparison["score"].within_tolerance == 30
    d = repo.diff("t@v1", "t@v2", rel_tol=1e-9)
    assert d.comparison["score"].changed == 30 and d.comparison["score"].within_tolerance == 0


# ---- column comparison equals datacompy's definitions, computed independently ---------


def _datacompy_like(a: pd.Series, b: pd.Series, rtol: float, atol: float) -> dict[str, Any]:
    """datacompy's column statistics (PandasCompare._intersect_compare), restated with numpy."""
    both_null = a.isna() & b.isna()
    if pd.api.types.is_numeric_dtype(a) and pd.api.types.is_numeric_dtype(b):
        x, y = a.astype(float).to_numpy(), b.astype(float).to_numpy()
        match = np.isclose(x, y, rtol=rtol, atol=atol, equal_nan=True)
        diff_abs = pd.Series(np.abs(x - y))
        max_diff = float(diff_abs.max()) if len(diff_abs) else 0.0
    else:
        match = ((a == b).fillna(False) | both_null).to_numpy()
        max_diff = 0.0
    return {
        "unequal": int(len(a) - match.sum()),
        "max_diff": 0.0 if math.isnan(max_diff) else max_diff,
        "null_diff": int((a.isna() ^ b.isna()).sum()),
        "match_rate": float(match.sum()) / len(a),
    }


@pytest.mark.parametrize("tols", [(0.0, 0.0), (0.05, 0.0), (0.0, 0.01), (0.02, 0.003)])
def test_column_numbers_equal_datacompys(tols: tuple[float, float]) -> None:
    atol, rtol = tols
    rng = np.random.default_rng(11)
    n = 3000
    base = rng.normal(50, 20, n)
    noise = np.where(rng.random(n) < 0.3, rng.normal(0, 0.05, n), 0.0)
    f_old = base.copy()
    f_new = base + noise
    f_old[rng.random(n) < 0.02] = np.nan
    f_new[rng.random(n) < 0.02] = np.nan
    i_old = rng.integers(0, 100, n)
    i_new = np.where(rng.random(n) < 0.1, i_old + rng.integers(-2, 3, n), i_old)
    s_old = np.array(["x", "y", None], dtype=object)[rng.integers(0, 3, n)]
    s_new = np.where(rng.random(n) < 0.1, "w", s_old).astype(object)
    frames = [
        pd.DataFrame({"id": np.arange(n), "f": f_old, "i": i_old, "s": s_old}),
        pd.DataFrame({"id": np.arange(n), "f": f_new, "i": i_new, "s": s_new}),
    ]
    tables = [pa.Table.from_pandas(f, preserve_index=False) for f in frames]
    # NaN as a value (not null) on the float column: datacompy sees both as NaN.
    sides = [Side.from_arrow(label, t) for label, t in zip(("old", "new"), tables, strict=True)]
    d = diff(*sides, key=["id"], tolerance=ToleranceSpec(atol, rtol))
    for col in ("f", "i", "s"):
        want = _datacompy_like(frames[0][col], frames[1][col], rtol, atol)
        got = d.comparison[col]
        assert got.changed == want["unequal"], col
        assert got.null_diff == want["null_diff"], col
        assert got.match_rate == pytest.approx(want["match_rate"]), col
        if col != "s":
            assert got.max_diff == pytest.approx(want["max_diff"]), col
        else:
            assert got.max_diff is None


# ---- distribution statistics: exact parts, quantile accuracy, merging, the cache --------


def test_profile_numbers() -> None:
    rng = np.random.default_rng(5)
    x = rng.lognormal(3, 1, 50_000)
    x[::100] = np.nan
    table = pa.table(
        {"x": pa.array(x, from_pandas=True), "c": pa.array(rng.integers(0, 5, 50_000))}
    )
    con = sql.connect()
    con.register("t", table)
    whole = profile_table(con, "t", table.schema, table)
    halves = [table.slice(0, 20_000), table.slice(20_000)]
    merged: Profile | None = None
    for i, part in enumerate(halves):
        con.register(f"h{i}", part)
        p = profile_table(con, f"h{i}", table.schema, part)
        merged = p if merged is None else merged.merge(p)
    assert merged is not None
    con.close()
    finite = x[~np.isnan(x)]
    px = whole.columns["x"]
    assert px.nulls == 500 and px.n == finite.size
    assert px.mean == pytest.approx(finite.mean(), rel=1e-12)
    assert px.std == pytest.approx(finite.std(), rel=1e-9)
    for q in (0.01, 0.25, 0.5, 0.75, 0.99):
        lo, hi = np.quantile(finite, q, method="lower"), np.quantile(finite, q, method="higher")
        got = px.quantile(q)
        assert got is not None and lo * (1 - ALPHA) <= got <= hi * (1 + ALPHA), q
    mx = merged.columns["x"]
    assert (mx.pos, mx.neg, mx.zeros, mx.n, mx.nulls) == (px.pos, px.neg, px.zeros, px.n, px.nulls)
    assert mx.mean == pytest.approx(px.mean, rel=1e-12) and mx.hll == px.hll
    assert merged.columns["c"].values == whole.columns["c"].values
    assert dict(whole.columns["c"].values or ()) == {
        k: int(v)
        for k, v in zip(*np.unique(table["c"].to_numpy(), return_counts=True), strict=True)
    }
    assert Profile.decode(whole.encode()) == whole


def test_chunk_profiles_are_cached_so_a_new_version_reads_only_new_chunks(tmp_path: Path) -> None:
    repo = dvtool.Repo.init(str(tmp_path / "repo"))
    rng = np.random.default_rng(2)
    n = 200_000
    base = pa.table({"id": np.arange(n), "v": rng.normal(0, 1, n)})
    repo.snapshot(base, dataset="d", key=["id"])
    extra = pa.table({"id": np.arange(n, n + 500), "v": rng.normal(0, 1, 500)})
    repo.snapshot(pa.concat_tables([base, extra]), dataset="d", key=["id"])
    v1, v2 = repo.get("d@v1"), repo.get("d@v2")
    assert len(v1.chunks) > 2
    new_chunks = {c.fingerprint for c in v2.chunks} - {c.fingerprint for c in v1.chunks}
    from dvtool.diff.plan import side_from_snapshot
    from dvtool.diff.profiles import StoreProfileCache

    cache = StoreProfileCache(repo.catalog.store)
    side_profile(side_from_snapshot(v1), cache)
    assert cache.computed == len(v1.chunks)
    cache = StoreProfileCache(repo.catalog.store)
    second = side_profile(side_from_snapshot(v2), cache)
    assert cache.computed == len(new_chunks) < len(v2.chunks)
    fresh = side_profile(side_from_snapshot(v2), MemoryProfileCache())
    assert second == fresh
    assert second.rows == n + 500
    # The profiles live beside validation verdicts; fsck counts them, gc keeps them.
    assert repo.fsck().ok


def test_source_sides_get_statistics_too(tmp_path: Path) -> None:
    old, new = planted()
    import pyarrow.parquet as pq

    pq.write_table(old, tmp_path / "old.parquet")
    pq.write_table(new, tmp_path / "new.parquet")
    d = dvtool.diff_sources(
        str(tmp_path / "old.parquet"), str(tmp_path / "new.parquet"), key=["id"], distributions=True
    )
    assert d.drift is not None and d.drift.columns["category"].new_categories == ("z",)
    reader = pa.RecordBatchReader.from_batches(new.schema, new.to_batches())
    with pytest.raises(dvtool.UsageError, match="one-pass reader"):
        diff(
            Side.from_arrow("old", old),
            Side.from_arrow("new", reader),
            key=["id"],
            distributions=True,
        )


# ---- HTML -------------------------------------------------------------------------


def test_html_is_self_contained_and_has_a_chart_per_changed_column(
    repo_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "review.html"
    policy = _policy_file(tmp_path, POLICY)
    code, _, err = invoke(
        "--repo",
        str(repo_dir),
        "diff",
        "t@v1",
        "t@v2",
        "--abs-tol",
        "0.01",
        "--policy",
        policy,
        "--format",
        "html",
        "-o",
        str(out),
    )
    assert code == 1 and "3 breach(es)" in err
    page = out.read_text()
    assert page.startswith("<!DOCTYPE html>") and "default-src 'none'" in page
    assert "<script" not in page.lower() and "<link" not in page.lower()
    assert "http://" not in page.replace("http://www.w3.org/", "")
    assert "https://" not in page
    charted = {part.split('"', 1)[0] for part in page.split('data-column="')[1:]}
    assert charted == {"amount", "category", "note", "price", "score"}
    assert page.count("<svg") == len(charted)
    for column, statistic in EXPECTED_BREACHES:
        assert f"<td>{column}</td><td>{statistic}</td>" in page


def test_html_stays_small_and_escapes_everything(monkeypatch: pytest.MonkeyPatch) -> None:
    import dvtool.diff.html

    monkeypatch.setattr(dvtool.diff.html, "MAX_CHARTS", 3)  # the cut, without drawing 40 charts
    rng = np.random.default_rng(1)
    n = 400
    hostile = '<script>alert("x")</script>'
    cols: dict[str, Any] = {"id": np.arange(n)}
    for i in range(60):
        cols[f"{hostile}{i}"] = pa.array(
            [f"{'long value ' * 300}{v}" for v in rng.integers(0, 9, n)]
        )
    old = pa.table(cols)
    new = pa.table(
        {
            k: (v if k == "id" else pa.array([s + "!" for s in v.to_pylist()]))
            for k, v in cols.items()
        }
    )
    d = diff(
        Side.from_arrow("old", old),
        Side.from_arrow("new", new),
        key=["id"],
        limit=n,
        distributions=True,
    )
    page = d.render("html")
    assert len(page.encode()) < 2_000_000
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "more changed column(s) without a chart" in page
    assert "more row(s) not shown" in page


def test_validate_html(tmp_path: Path) -> None:
    data = tmp_path / "d.csv"
    data.write_text("id,month\n1,1\n2,13\n3,14\n")
    schema = tmp_path / "s.yaml"
    schema.write_text(
        "schema_type: dataframe\nversion: 0.35.0\ncolumns:\n  month:\n    dtype: int64\n"
        "    checks:\n      in_range: {min_value: 1, max_value: 12}\n"
    )
    out = tmp_path / "v.html"
    code, _, err = invoke(
        "validate", str(data), "--schema", str(schema), "--format", "html", "-o", str(out)
    )
    assert code == 1, err
    page = out.read_text()
    assert "failed" in page and "in_range" in page and page.count("<svg") == 1
    assert "default-src 'none'" in page and "<script" not in page


def test_every_arrow_type_profiles_and_renders() -> None:
    """Types without a histogram still get statistics, a chart and a line in every format."""
    import datetime as dt
    import decimal

    n = 50
    old = pa.table(
        {
            "id": pa.array(range(n), pa.int64()),
            "flag": pa.array([i % 2 == 0 for i in range(n)]),
            "day": pa.array([dt.date(2024, 1, 1 + i % 28) for i in range(n)]),
            "ts": pa.array([dt.datetime(2024, 1, 1, i % 24) for i in range(n)], pa.timestamp("us")),
            "money": pa.array([decimal.Decimal(f"{i}.25") for i in range(n)], pa.decimal128(10, 2)),
            "tags": pa.array([[i, i + 1] for i in range(n)], pa.list_(pa.int32())),
            "pair": pa.array([{"a": i, "b": str(i)} for i in range(n)]),
            "blob": pa.array([bytes([i]) for i in range(n)], pa.binary()),
            "code": pa.array([f"c{i % 3}" for i in range(n)]).dictionary_encode(),
            "small": pa.array([i % 4 for i in range(n)], pa.int8()),
        }
    )
    new = old.set_column(1, "flag", pa.array([None if i < 10 else i % 3 == 0 for i in range(n)]))
    new = new.set_column(
        4, "money", pa.array([decimal.Decimal(f"{i}.26") for i in range(n)], pa.decimal128(10, 2))
    )
    d = diff(
        Side.from_arrow("old", old),
        Side.from_arrow("new", new),
        key=["id"],
        distributions=True,
        tolerance=ToleranceSpec(abs=0.02),
    )
    assert d.comparison["money"].changed == 0 and d.comparison["money"].within_tolerance == n
    assert d.comparison["flag"].null_diff == 10
    assert d.drift is not None and set(d.drift.columns) == set(old.schema.names)
    assert d.drift.columns["small"].old.top is not None
    for fmt in ("text", "json", "markdown", "html"):
        assert d.render(fmt)
    json.loads(d.to_json())
