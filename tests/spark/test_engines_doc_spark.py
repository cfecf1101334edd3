"""docs/engines.md runs with Spark too: setup, DuckDB, polars and the spark engine example."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.test_engines_doc import PAGE, ROOT, titled_blocks

pytestmark = pytest.mark.spark


def test_engines_page_with_spark(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spark: Any
) -> None:
    (tmp_path / "fixtures").symlink_to(ROOT / "fixtures")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DVTOOL_REPO", raising=False)
    namespace: dict[str, object] = {"__name__": "__docs__"}
    blocks = titled_blocks()
    assert [name for name, _ in blocks][-1] == "spark_example.py"
    for name, code in blocks:
        exec(compile(code, f"{PAGE.name}:{name}", "exec"), namespace)
    assert namespace["written"] is not None
