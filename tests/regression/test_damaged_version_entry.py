"""A version entry edited to point at another version's manifest is never served as that version.

Reads are exit 2 naming the damage, fsck reports it (exit 1), and gc deletes
nothing because of it — the manifest and chunks the entry should point at are
real data, unreferenced only through the damage.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from clitools import invoke, tree_digest
from dvtool.format.layout import version_key
from dvtool.repo import Repo


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    assert invoke("--repo", str(root), "init")[0] == 0
    for n in (1, 2):
        src = tmp_path / f"v{n}.csv"
        src.write_text("id,x\n" + "".join(f"{i},{'v' * n}{i}\n" for i in range(n * 100)))
        code, _, err = invoke(
            "--repo", str(root), "-q", "snapshot", str(src), "-d", "orders", "--key", "id"
        )
        assert code == 0, err
    return root


def _point_v2_at_v1(root: Path) -> bytes:
    """Damage: v2's entry names v1's manifest (dataset and version fields left as they were)."""
    r = Repo.open(str(root))
    v1 = r.get("orders@v1")
    path = root / version_key("orders", 2)
    original = path.read_bytes()
    entry = json.loads(original)
    entry["manifest"] = v1.id
    path.write_text(json.dumps(entry, sort_keys=True, separators=(",", ":")))
    return original


def _age_everything(root: Path, days: int = 30) -> None:
    old = time.time() - days * 86400
    for dirpath, _, files in os.walk(root):
        for name in files:
            os.utime(Path(dirpath) / name, (old, old))


def test_reads_refuse_the_damaged_entry(repo: Path, tmp_path: Path) -> None:
    _point_v2_at_v1(repo)
    for args in (
        ["show", "orders@v2"],
        ["show", "orders"],
        ["export", "orders@v2", str(tmp_path / "out.parquet")],
        ["query", 'select count(*) from "orders@v2"'],
        ["diff", "orders@v1", "orders@v2"],
    ):
        code, out, err = invoke("--repo", str(repo), *args)
        assert code == 2, (args, out, err)
        assert err.startswith("Error: ") and err.count("\n") == 1 and "orders@v1" in err, (
            args,
            err,
        )
    assert not (tmp_path / "out.parquet").exists()
    # v1 itself is intact and still served.
    assert invoke("--repo", str(repo), "show", "orders@v1")[0] == 0


def test_fsck_reports_it(repo: Path) -> None:
    _point_v2_at_v1(repo)
    code, out, err = invoke("--repo", str(repo), "-q", "fsck", "--json")
    assert code == 1, err
    problems = json.loads(out)["problems"]
    assert any("describes orders@v1, not orders@v2" in p["detail"] for p in problems), problems


def test_gc_deletes_nothing_because_of_it(repo: Path) -> None:
    original = _point_v2_at_v1(repo)
    _age_everything(repo)
    before = tree_digest(repo)
    for dry in ([], ["--yes"]):
        code, _, err = invoke(
            "--repo", str(repo), "-q", "gc", "--older-than", "1d", "--allow-short-grace", *dry
        )
        assert code == 2 and "nothing was deleted" in err and err.count("\n") == 1, err
    assert {k: v for k, v in tree_digest(repo).items() if not k.startswith("tmp/")} == {
        k: v for k, v in before.items() if not k.startswith("tmp/")
    }
    # Repaired, v2 reads back whole: its manifest and chunks survived.
    (repo / version_key("orders", 2)).write_bytes(original)
    assert Repo.open(str(repo)).get("orders@v2").to_arrow().num_rows == 200
    assert invoke("--repo", str(repo), "-q", "fsck")[0] == 0
