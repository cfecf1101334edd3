"""Which engine runs validate, diff, query and snapshot: the embedded one or Spark.

``duckdb`` (the default) runs everything in this process: DuckDB, pandera's
polars/pandas backends and pyarrow. ``spark`` runs the same commands on a
SparkSession (:mod:`dvtool.engines.spark`), with the same answers. Nothing
here imports pyspark; only choosing ``spark`` does.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from dvtool.errors import UsageError

__all__ = [
    "DEFAULT_MASTER",
    "ENGINES",
    "EngineName",
    "SparkSettings",
    "is_spark_frame",
    "resolve_engine",
    "spark_api",
    "spark_diff_engine",
    "spark_settings",
]

EngineName = Literal["duckdb", "spark"]
ENGINES: tuple[str, ...] = ("duckdb", "spark")
DEFAULT_MASTER = "local[*]"


def resolve_engine(engine: str | None) -> EngineName:
    """``engine`` if given, else ``$DVTOOL_ENGINE``, else ``duckdb``; anything else is a UsageError."""
    chosen = engine if engine is not None else (os.environ.get("DVTOOL_ENGINE") or "duckdb")
    name = chosen.strip().lower()
    if name == "duckdb":
        return "duckdb"
    if name == "spark":
        return "spark"
    where = "--engine" if engine is not None else "DVTOOL_ENGINE"
    raise UsageError(f"unknown engine {chosen!r} in {where} (choose one of: {', '.join(ENGINES)})")


@dataclass(frozen=True, slots=True)
class SparkSettings:
    """How to get a SparkSession: ``session`` if given, else the active one, else build one.

    ``master`` and ``conf`` are used only when dvtool builds the session itself.
    """

    session: Any = field(default=None, compare=False, repr=False)
    master: str = DEFAULT_MASTER
    conf: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(
        cls, spark: Any = None, *, master: str | None = None, conf: Mapping[str, str] | None = None
    ) -> SparkSettings:
        """Settings from the Python API's ``spark=`` (a SparkSession, a SparkSettings or None)."""
        if isinstance(spark, SparkSettings):
            return spark
        return cls(spark, master or DEFAULT_MASTER, tuple(sorted((conf or {}).items())))


def is_spark_frame(obj: Any) -> bool:
    """Whether ``obj`` is a pyspark DataFrame (pyspark is not imported to find out)."""
    import sys

    if "pyspark.sql" not in sys.modules:
        return False
    from pyspark.sql import DataFrame

    return isinstance(obj, DataFrame)


def spark_settings(engine: str | None, spark: Any, *, data: Any = None) -> SparkSettings | None:
    """The SparkSettings a Repo call runs with, or None for the embedded engine.

    ``engine`` (else ``$DVTOOL_ENGINE``) decides; a SparkSession given as
    ``spark=``, or a Spark DataFrame as the data, means Spark unless ``engine``
    says otherwise.
    """
    if engine is None and spark is not None and not isinstance(spark, SparkSettings):
        return SparkSettings.of(spark)
    if engine is None and data is not None and is_spark_frame(data):
        return SparkSettings.of(spark)
    if resolve_engine(engine) == "spark":
        return SparkSettings.of(spark)
    if isinstance(spark, SparkSettings) and (spark.conf or spark.master != DEFAULT_MASTER):
        raise UsageError("--spark-master and --spark-conf apply to --engine spark only")
    return None


def spark_api() -> Any:
    """dvtool.engines.spark.api, imported on first use (it brings pyarrow, never pyspark)."""
    from dvtool.engines.spark import api

    return api


def spark_diff_engine(repo: Any, engine: str | None, spark: Any) -> Any:
    """The diff engine factory for ``repo.diff(..., engine="spark")``, or None for DuckDB's."""
    settings = spark_settings(engine, spark)
    return None if settings is None else spark_api().diff_engine(repo, settings)
