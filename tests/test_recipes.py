"""The CI recipes work: the GitHub workflow's steps and the pre-commit hook, run for real.

The workflow (docs/recipes/data-checks.yml) is parsed as YAML and its `run:` steps are run
with bash in a temporary git repository laid out like a user's (data/, schemas/), on a
pull-request branch, with GITHUB_STEP_SUMMARY pointing at a temp file. The install step is
skipped: the dvtool of this virtual environment is on PATH.

The pre-commit hook (.pre-commit-hooks.yaml) is installed in a temporary git repository as
a `repo: local` hook with `language: system` and this environment's dvtool: pre-commit's
`language: python` would pip-install dvtool and its dependencies into a new environment,
which takes minutes and a package index. The hook's entry, file pattern and options are
taken from .pre-commit-hooks.yaml, so the test checks the file users install from.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
FIX = ROOT / "fixtures"
BIN = Path(sys.executable).parent
WORKFLOW = ROOT / "docs" / "recipes" / "data-checks.yml"


def git_env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "DVTOOL_"))}
    env.update(
        GIT_CONFIG_GLOBAL=os.devnull,
        GIT_CONFIG_NOSYSTEM="1",
        GIT_AUTHOR_NAME="t",
        GIT_AUTHOR_EMAIL="t@example.com",
        GIT_COMMITTER_NAME="t",
        GIT_COMMITTER_EMAIL="t@example.com",
        PRE_COMMIT_HOME=str(tmp / "pre-commit-home"),
        NO_COLOR="1",
        PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    return env


def git(cwd: Path, env: dict[str, str], *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True
    ).stdout


# -- GitHub Actions --------------------------------------------------------------------


def load_workflow() -> dict[str, Any]:
    doc = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    assert isinstance(doc, dict)
    return doc


def test_workflow_is_a_pull_request_workflow() -> None:
    doc = load_workflow()
    on = doc.get("on", doc.get(True))  # YAML 1.1 reads a bare `on` key as True
    assert "pull_request" in on
    (job,) = doc["jobs"].values()
    runs = " ".join(step.get("run", "") for step in job["steps"])
    assert "GITHUB_STEP_SUMMARY" in runs and "--format markdown" in runs
    assert "dvtool validate" in runs and "dvtool diff" in runs


def pull_request_checkout(tmp: Path, env: dict[str, str], new_data: Path) -> Path:
    """origin has main with orders_v1 as data/orders.csv; the checkout is a PR branch with ``new_data``."""
    origin, work = tmp / "origin", tmp / "work"
    (origin / "data").mkdir(parents=True)
    (origin / "schemas").mkdir()
    shutil.copy(FIX / "orders" / "orders_v1.csv", origin / "data" / "orders.csv")
    shutil.copy(FIX / "faults" / "orders.schema.yaml", origin / "schemas" / "orders.schema.yaml")
    git(origin, env, "init", "-q", "-b", "main")
    git(origin, env, "add", "-A")
    git(origin, env, "commit", "-q", "-m", "orders")
    git(tmp, env, "clone", "-q", str(origin), str(work))
    git(work, env, "checkout", "-q", "-b", "pr")
    shutil.copy(new_data, work / "data" / "orders.csv")
    git(work, env, "commit", "-q", "-am", "new orders")
    return work


def run_workflow(tmp: Path, new_data: Path) -> tuple[dict[str, int], str, dict[str, str]]:
    """Run the job's steps like the runner: env, bash -eo pipefail, `if:` on failure/cancelled."""
    doc = load_workflow()
    (job,) = doc["jobs"].values()
    env = git_env(tmp)
    work = pull_request_checkout(tmp, env, new_data)
    summary = tmp / "summary.md"
    runner_temp = tmp / "runner-temp"
    runner_temp.mkdir()
    env.update({k: str(v) for k, v in doc.get("env", {}).items()})
    env.update(
        GITHUB_STEP_SUMMARY=str(summary),
        RUNNER_TEMP=str(runner_temp),
        GITHUB_BASE_REF="main",
        GITHUB_WORKSPACE=str(work),
        CI="true",
    )
    assert doc["defaults"]["run"]["shell"] == "bash"
    codes: dict[str, int] = {}
    outputs: dict[str, str] = {}
    failed = False
    for step in job["steps"]:
        if "run" not in step or step.get("id") == "install":
            continue  # `uses:` actions are GitHub's; dvtool is already installed here
        condition = str(step.get("if", "success()"))
        if "failure()" in condition:
            should_run = failed
        elif "cancelled()" in condition:
            should_run = True
        else:
            should_run = not failed
        if not should_run:
            continue
        proc = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        codes[step["name"]] = proc.returncode
        outputs[step["name"]] = proc.stdout + proc.stderr
        failed = failed or proc.returncode != 0
    return codes, summary.read_text(encoding="utf-8"), outputs


def test_workflow_passes_good_data_and_puts_the_diff_in_the_summary(tmp_path: Path) -> None:
    codes, summary, outputs = run_workflow(tmp_path, FIX / "orders" / "orders_v2.csv")
    assert codes == {"Validate": 0, "Diff against the base branch": 0}, outputs
    assert "PASSED" in summary
    assert "### dvtool diff: `origin/main/data/orders.csv` → `data/orders.csv`" in summary
    assert (
        "| 2000 | 2030 | 40 | 10 | 25 | 1965 |" in summary
    )  # rows: old, new, added, removed, changed, unchanged


def test_workflow_fails_bad_data_with_report_and_annotations(tmp_path: Path) -> None:
    codes, summary, outputs = run_workflow(tmp_path, FIX / "faults" / "orders_bad.csv")
    assert codes["Validate"] == 1, outputs
    assert codes["Annotate failures"] == 0
    assert "::error file=schemas/orders.schema.yaml" in outputs["Annotate failures"]
    assert "Diff against the base branch" in codes  # still runs: `if: !cancelled()`
    assert "FAILED" in summary and "greater_than_or_equal_to(0)" in summary


# -- pre-commit ------------------------------------------------------------------------


def test_pre_commit_hook_refuses_a_commit_of_bad_data(tmp_path: Path) -> None:
    (hook,) = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    assert hook["id"] == "dvtool-validate" and hook["language"] == "python"
    entry = hook["entry"].split()
    assert entry[0] == "dvtool"
    env = git_env(tmp_path)
    repo = tmp_path / "repo"
    (repo / "data" / "orders").mkdir(parents=True)
    (repo / "schemas").mkdir()
    shutil.copy(FIX / "faults" / "orders.schema.yaml", repo / "schemas" / "orders.schema.yaml")
    local_hook = {
        **{k: v for k, v in hook.items() if k not in ("language", "minimum_pre_commit_version")},
        "entry": " ".join([str(BIN / "dvtool"), *entry[1:]]),
        "language": "system",
        # What a user writes in their .pre-commit-config.yaml: the files of one dataset, its schema.
        "files": r"^data/orders/.*\.csv$",
        "args": ["--schema", "schemas/orders.schema.yaml"],
    }
    config = {"repos": [{"repo": "local", "hooks": [local_hook]}]}
    (repo / ".pre-commit-config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    git(repo, env, "init", "-q", "-b", "main")
    subprocess.run(
        [sys.executable, "-m", "pre_commit", "install"],
        cwd=repo,
        env=env,
        check=True,
        capture_output=True,
    )
    git(repo, env, "add", "-A")
    git(repo, env, "commit", "-q", "-m", "schema and hook config")

    # Good data: the hook runs and passes.
    shutil.copy(FIX / "orders" / "orders_v1.csv", repo / "data" / "orders" / "january.csv")
    git(repo, env, "add", "-A")
    ok = subprocess.run(
        ["git", "commit", "-m", "january"], cwd=repo, env=env, capture_output=True, text=True
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert (
        "dvtool validate" in ok.stderr and "Passed" in ok.stderr
    )  # git shows hook output on stderr

    # Bad data: the commit is refused with the report.
    shutil.copy(FIX / "faults" / "orders_bad.csv", repo / "data" / "orders" / "february.csv")
    git(repo, env, "add", "-A")
    bad = subprocess.run(
        ["git", "commit", "-m", "february"], cwd=repo, env=env, capture_output=True, text=True
    )
    out = bad.stdout + bad.stderr
    assert bad.returncode != 0, out
    assert "Failed" in out and "FAILED: data/orders/february.csv" in out, out
    assert "greater_than_or_equal_to(0): 7 failures" in out
    assert git(repo, env, "log", "--format=%s").splitlines() == [
        "january",
        "schema and hook config",
    ]
    assert "data/orders/february.csv" in git(repo, env, "diff", "--cached", "--name-only")


# -- Makefile and Airflow --------------------------------------------------------------


def make(
    tmp: Path,
    target: str,
    data: Path | str,
    schema: Path | str = FIX / "faults" / "orders.schema.yaml",
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            "make",
            "-s",
            "-f",
            str(ROOT / "docs" / "recipes" / "Makefile"),
            target,
            f"DATA={data}",
            f"SCHEMA={schema}",
        ],
        cwd=tmp,
        env=git_env(tmp),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_makefile_recipe_commits_only_data_that_passed(tmp_path: Path) -> None:
    subprocess.run(
        [str(BIN / "dvtool"), "--quiet", "init"], cwd=tmp_path, env=git_env(tmp_path), check=True
    )
    bad = make(tmp_path, "snapshot", FIX / "faults" / "orders_bad.csv")
    assert bad.returncode == 2 and "check] Error 1" in bad.stderr  # make exits 2, naming dvtool's 1
    assert not (tmp_path / ".dvtool" / "datasets").exists()
    good = make(tmp_path, "snapshot", FIX / "orders" / "orders_v1.csv")
    assert good.returncode == 0, good.stderr
    assert "orders@v1" in good.stdout
    report = make(tmp_path, "report", FIX / "faults" / "orders_bad.csv")
    assert report.returncode == 0 and "<failure" in (tmp_path / "validation.xml").read_text()


def airflow_commands() -> dict[str, str]:
    import ast

    tree = ast.parse((ROOT / "docs" / "recipes" / "airflow_dag.py").read_text(encoding="utf-8"))
    return {
        node.targets[0].id: node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign)
        and isinstance(node.targets[0], ast.Name)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    }


def test_airflow_commands_map_bad_data_to_skip_and_keep_could_not_run(tmp_path: Path) -> None:
    commands = airflow_commands()
    env = {
        **git_env(tmp_path),
        "DVTOOL_REPO": str(tmp_path / "repo"),
        "SCHEMA": str(FIX / "faults" / "orders.schema.yaml"),
    }
    subprocess.run(
        [str(BIN / "dvtool"), "init", env["DVTOOL_REPO"]], env=env, check=True, capture_output=True
    )

    def run(name: str, data: Path) -> int:
        proc = subprocess.run(
            ["bash", "-c", commands[name]],
            env={**env, "DATA": str(data)},
            capture_output=True,
            text=True,
            timeout=120,
        )
        return proc.returncode

    assert run("VALIDATE", FIX / "orders" / "orders_v1.csv") == 0
    assert run("VALIDATE", FIX / "faults" / "orders_bad.csv") == 99  # skipped, not retried
    assert run("VALIDATE", tmp_path / "missing.csv") == 2  # could not run: failed, retried
    assert run("SNAPSHOT", FIX / "faults" / "orders_bad.csv") == 99


def test_validate_takes_several_files_as_one_dataset_but_one_ref_alone(
    tmp_path: Path, monkeypatch: Any, capsys: Any
) -> None:
    from clitools import run

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DVTOOL_REPO", raising=False)
    schema = str(FIX / "faults" / "orders.schema.yaml")
    v1, v2 = str(FIX / "orders" / "orders_v1.csv"), str(FIX / "orders" / "orders_v2.csv")
    assert run(capsys, "validate", v1, "--schema", schema).exit_code == 0
    # v2 keeps most of v1's order ids: read together they repeat, which `unique` catches.
    together = run(capsys, "validate", v1, v2, "--schema", schema, "--format", "json")
    assert together.exit_code == 1, together.stderr
    report = json.loads(together.stdout)
    assert report["rows_checked"] == 4030
    assert [e["check"] for e in report["errors"]] == ["field_uniqueness"]
    assert run(capsys, "init").exit_code == 0
    assert run(capsys, "snapshot", v2, "-d", "orders", "--key", "order_id").exit_code == 0
    mixed = run(capsys, "validate", "orders", v2, "--schema", schema)
    assert mixed.exit_code == 2
    assert mixed.stderr.startswith(
        "Error: validate takes one REF, or SOURCE files only; 'orders' is a REF"
    )
