"""The examples of docs/engines.md run: setup, DuckDB and polars, in the page's order.

spark_example.py needs the spark extra: tests/spark/test_engines_doc_spark.py runs it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "engines.md"
# Only blocks with a title="….py" are run; untitled ones (Spark, Dask) need engines not installed here.
BLOCK = re.compile(r'^```python title="([\w.-]+\.py)"\n(.*?)^```$', re.S | re.M)


def titled_blocks() -> list[tuple[str, str]]:
    return BLOCK.findall(PAGE.read_text(encoding="utf-8"))


def test_the_page_has_the_tested_examples() -> None:
    names = [name for name, _ in titled_blocks()]
    assert names == ["setup.py", "duckdb_example.py", "polars_example.py", "spark_example.py"]


def test_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "fixtures").symlink_to(ROOT / "fixtures")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DVTOOL_REPO", raising=False)
    namespace: dict[str, object] = {"__name__": "__docs__"}
    for name, code in titled_blocks():
        if name.startswith("spark"):
            continue
        exec(compile(code, f"{PAGE.name}:{name}", "exec"), namespace)
    assert namespace["n"] == 2030
