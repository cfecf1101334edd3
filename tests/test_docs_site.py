"""The documentation site builds with ``mkdocs build --strict``: a broken link or a bad page fails."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_mkdocs_build_strict(tmp_path: Path) -> None:
    site = tmp_path / "site"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "NO_COLOR": "1"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "mkdocs",
            "build",
            "--strict",
            "--quiet",
            "-f",
            str(ROOT / "mkdocs.yml"),
            "-d",
            str(site),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for page in ("tutorial", "concepts", "engines", "recipes", "api", "cli-reference"):
        assert (site / page / "index.html").is_file(), page
    api = (site / "api" / "index.html").read_text(encoding="utf-8")
    assert (
        'id="dvtool.repo.Repo.snapshot"' in api
    )  # the API reference was generated from docstrings


def test_every_page_is_in_the_nav() -> None:
    import yaml

    config = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    # mkdocs' own YAML tags are not used in mkdocs.yml, so safe_load reads it.
    nav = yaml.safe_load(config)["nav"]

    def pages(items: list[object]) -> list[str]:
        out: list[str] = []
        for item in items:
            value = next(iter(item.values())) if isinstance(item, dict) else item
            out.extend(pages(value) if isinstance(value, list) else [str(value)])
        return out

    listed = set(pages(nav))
    on_disk = {p.relative_to(ROOT / "docs").as_posix() for p in (ROOT / "docs").rglob("*.md")}
    assert on_disk - listed == set(), "add the page to nav in mkdocs.yml"
