"""The benchmark scripts import, their cases are consistent, and one real measurement works.

Nothing here asserts a timing: the benchmarks' numbers are ratios read in one
run (``make bench``). What is checked is what would make a run fail or mislead:
a task name no worker knows, a peer task that needs dvtool, a goal checked on an
in-process span instead of a whole process, a group ``--skip`` does not know or
the docs do not list, and the measuring protocol itself on tiny real data
(dvtool's CLI against the DuckDB join, counts equal).
"""

from __future__ import annotations

import ast
import importlib
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"
MODULES = (
    "datagen",
    "peers",
    "harness",
    "cases",
    "groups",
    "vs_datacompy",
    "wide",
    "bench_patch",
    "run",
)


@pytest.fixture(scope="module")
def bench() -> Iterator[dict[str, ModuleType]]:
    """The benchmark modules, imported as run.py imports them (benchmarks/ on sys.path), then removed."""
    before = set(sys.modules)
    sys.path.insert(0, str(BENCH))
    try:
        yield {name: importlib.import_module(name) for name in MODULES}
    finally:
        sys.path.remove(str(BENCH))
        for name in set(sys.modules) - before:
            if name in MODULES:
                del sys.modules[name]


def _task_calls(path: Path) -> list[tuple[str, str]]:
    """(``peer``/``api``/``task_command``, task name) of every call naming a cases.py task."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if name in ("peer", "api", "task_command") and len(node.args) >= 2:
            task = node.args[1]
            if isinstance(task, ast.Constant):  # not the helpers passing a task through
                found.append((name, str(task.value)))
    return found


def test_every_task_the_groups_name_exists_and_runs_where_it_can(
    bench: dict[str, ModuleType],
) -> None:
    cases = bench["cases"]
    peers = {f.__name__ for f in cases.PEER_TASKS}
    ours = {f.__name__ for f in cases.DVTOOL_TASKS}
    assert not peers & ours
    assert set(cases.TASKS) == peers | ours
    calls = _task_calls(BENCH / "groups.py") + _task_calls(BENCH / "vs_datacompy.py")
    assert {task for _, task in calls} == set(cases.TASKS), "a task no group runs, or unknown"
    for kind, task in calls:
        if kind == "peer":
            assert task in peers, f"{task} is run in a peer's environment, where dvtool is not"
        else:
            assert task in ours, f"{task} is run with dvtool's environment but is a peer's"


def test_cases_imports_only_the_standard_library_at_the_top() -> None:
    # Peer tasks run in the peers' environments: no dvtool, no pyarrow guaranteed.
    tree = ast.parse((BENCH / "cases.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        else:
            continue
        for name in names:
            top = name.split(".")[0]
            assert top == "__future__" or top in sys.stdlib_module_names, name


def test_skip_groups_are_known_and_documented(bench: dict[str, ModuleType]) -> None:
    run = bench["run"]
    args = run.parse(["--rows", "1000", "--skip", ",".join(run.GROUPS)])
    assert args.skip == set(run.GROUPS)
    with pytest.raises(SystemExit) as exc:
        run.parse(["--skip", "snapshots"])
    assert exc.value.code == 2
    docs = (ROOT / "docs" / "performance.md").read_text()
    assert f"groups: {','.join(run.GROUPS)}" in docs
    assert set(bench["peers"].ENVS) == {".venv-peers", ".venv-datacompy"}


def test_a_goal_is_never_checked_on_an_in_process_span(bench: dict[str, ModuleType]) -> None:
    h = bench["harness"]
    ours, theirs = h.Runs("a"), h.Runs("b")
    with pytest.raises(ValueError, match="whole-process"):
        h.Row("x", ours, theirs, "≤ 1×", lambda r: r <= 1, what="op_seconds")
    informative = h.Row("x", ours, theirs, "(informative)", None, what="op_seconds")
    assert informative.check is None


def test_the_table_shows_ratio_goal_and_verdict(bench: dict[str, ModuleType]) -> None:
    h = bench["harness"]
    ours = h.Runs("ours", [{"seconds": s, "peak_rss_mb": 100.0} for s in (1.0, 2.0, 9.0)])
    theirs = h.Runs("`python -c 'work'`", [{"seconds": 4.0, "peak_rss_mb": 50.0}])
    missing = h.Runs("peer", error="not installed: no wheel")
    rows = [
        h.Row("faster", ours, theirs, "≤ 0.6×", lambda r: r <= 0.6),
        h.Row("slower", ours, theirs, "≤ 0.4×", lambda r: r <= 0.4),
        h.Row("memory", ours, None, "≤ 90 MB", lambda mb: mb <= 90, what="peak_rss_mb"),
        h.Row("start-up", ours, theirs, "< 0.3 s added", None),
        h.Row("absent", ours, missing, "< 1×", lambda r: r < 1),
    ]
    lines = h.table(rows, "dvtool: s", "its s")
    assert lines[2] == (
        "| faster | 2.000 (1.000–9.000) | `python -c 'work'` | 4.000 (4.000–4.000) | 0.500 | ≤ 0.6× | met |"
    )
    assert lines[3].endswith("| 0.500 | ≤ 0.4× | **not met** |")
    assert lines[4] == "| memory | 100 MB (100–100) |  |  | 100 MB | ≤ 90 MB | **not met** |"
    assert lines[5].endswith("| -2.000 s | < 0.3 s added | met |")
    assert lines[6].endswith("| n/a (not installed: no wheel) | n/a | < 1× | not measured |")


def test_measure_times_a_whole_process_and_reads_its_answer(
    bench: dict[str, ModuleType], tmp_path: Path
) -> None:
    h = bench["harness"]
    code = "import json; print('noise'); print(json.dumps({'answer': 42}))"
    out = h.measure([sys.executable, "-c", code])
    assert out["answer"] == 42
    assert out["seconds"] > 0 and out["cpu_seconds"] >= 0 and out["peak_rss_mb"] > 1
    with pytest.raises(RuntimeError, match="boom"):
        h.measure([sys.executable, "-c", "import sys; sys.exit('boom')"])
    with pytest.raises(ValueError, match="absolute"):
        h.measure(["python", "-c", "pass"])


def test_dvtool_cli_and_the_duckdb_peer_agree_on_tiny_data(
    bench: dict[str, ModuleType], tmp_path: Path
) -> None:
    """The real protocol end to end: set-up with the CLI, both sides measured as processes."""
    h, groups, datagen = bench["harness"], bench["groups"], bench["datagen"]
    data = datagen.ensure(tmp_path / "data", 3000)
    env = h.dvtool_env(tmp_path / "cache")
    dv = h.dvtool_command()
    repo = tmp_path / "repo"
    h.run_quiet([*dv, "-q", "init", str(repo)], env)
    for name in ("A", "B"):
        h.run_quiet(
            [*dv, "--repo", str(repo), "-q", "snapshot", str(data[name]), "-d", "d", "--key", "id"],
            env,
        )
    ours = h.measure([*dv, "--repo", str(repo), "-q", *groups.diff_args()], env)
    params = {
        "old": str(data["A"]),
        "new": str(data["B"]),
        "key": ["id"],
        "columns": groups.COLUMNS,
    }
    theirs = h.measure(h.task_command(sys.executable, "duckdb_join", params), h.clean_env())
    api = h.measure(
        h.task_command(
            sys.executable, "dvtool_diff", {"repo": str(repo), "old": "d@v1", "new": "d@v2"}
        ),
        env,
    )
    counts = [ours["rows"][k] for k in ("added", "removed", "changed")]
    assert counts == [theirs[k] for k in ("added", "removed", "changed")]
    assert counts == [api[k] for k in ("added", "removed", "changed")]
    assert counts[0] > 0 and counts[2] > 0
    assert "op_seconds" in theirs and "op_seconds" in api and "op_seconds" not in ours
