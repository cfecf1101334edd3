"""One local Spark session (local[2]) for every spark-marked test of the run.

These tests need the ``spark`` extra (pyspark, pandas<3) and Java 17+; ``make
test`` runs them in ``.venv-spark``. Without pyspark they are skipped.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from typing import Any

import pytest

if importlib.util.find_spec("pyspark") is None:
    # The main environment has pandas 3 and no pyspark: these run in .venv-spark.
    collect_ignore_glob = ["test_*.py"]


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    from dvtool import SparkSettings
    from dvtool.engines.spark.session import build_session, check_java

    check_java()  # a machine of this project has Java 17; say so plainly if not
    session = build_session(
        SparkSettings(
            master="local[2]",
            conf=(
                ("spark.sql.shuffle.partitions", "4"),
                ("spark.default.parallelism", "2"),
                ("spark.ui.enabled", "false"),
            ),
        )
    )
    yield session
    session.stop()
