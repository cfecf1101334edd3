"""The package imports one way down its layers, and the CLI uses only the public API.

The contracts live in pyproject.toml ([tool.importlinter]); this runs them,
so a change that imports upward fails the suite, not just `make lint`.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_import_contracts_are_kept() -> None:
    lint_imports = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run(
        [str(lint_imports), "--config", str(ROOT / "pyproject.toml")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


def test_every_subpackage_is_a_layer() -> None:
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    layers = text.split("layers = [", 1)[1].split("]", 1)[0]
    for folder in sorted(p for p in (ROOT / "dvtool").iterdir() if (p / "__init__.py").exists()):
        assert f"dvtool.{folder.name}" in layers, (
            f"dvtool/{folder.name}/ is in no layer of the import contract"
        )
    for module in sorted((ROOT / "dvtool").glob("*.py")):
        if module.stem not in ("__init__", "__main__"):
            assert f"dvtool.{module.stem}" in layers, (
                f"dvtool/{module.name} is in no layer of the import contract"
            )


def test_no_module_is_over_600_lines() -> None:
    for path in sorted((ROOT / "dvtool").rglob("*.py")):
        lines = path.read_text(encoding="utf-8").count("\n")
        assert lines <= 600, f"{path.relative_to(ROOT)} has {lines} lines: it has two jobs"
