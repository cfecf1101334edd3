"""The SparkSession dvtool works on: the caller's, the active one, or one it builds.

Every call gets ``base.newSession()``: the same SparkContext (executors,
cached data) with its own SQL settings and temporary views, so dvtool's
views (``orders``, ``"orders@v1"``) and settings (UTC session time zone,
no SQL on raw file paths) never leak into the caller's session.

Before building a session dvtool checks what Spark needs and pip cannot
install: a Java 17+ runtime. A missing one is a UsageError naming what to
install, never a Java gateway traceback.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from dvtool.engines import SparkSettings
from dvtool.errors import UsageError

__all__ = ["build_session", "check_java", "get_session", "require_pyspark"]

MIN_JAVA = 17
INSTALL_HINT = "pip install 'dvtool[spark]'"
_LOG_CONFIG = Path(__file__).with_name("log4j2.properties")


def require_pyspark() -> None:
    """Import pyspark (and the pandas it needs) or say how to install them."""
    try:
        import pyspark
        import pyspark.sql  # noqa: F401
    except ImportError as exc:
        raise UsageError(
            f"the spark engine needs pyspark ({exc}); install it with {INSTALL_HINT}"
        ) from None
    import pandas

    if int(pandas.__version__.split(".")[0]) >= 3:
        # pandera's pyspark backend imports pyspark.pandas, which fails on pandas 3.
        raise UsageError(
            f"the spark engine needs pandas<3 (found pandas {pandas.__version__}); "
            f"install it with {INSTALL_HINT} in its own environment"
        )


def _java_executable() -> str | None:
    home = os.environ.get("JAVA_HOME")
    if home:
        candidate = Path(home) / "bin" / "java"
        return str(candidate) if candidate.is_file() and os.access(candidate, os.X_OK) else None
    return shutil.which("java")


def check_java() -> str:
    """The Java runtime Spark will start (its version string); UsageError if there is none fit."""
    java = _java_executable()
    hint = (
        f"install a Java {MIN_JAVA}+ runtime (e.g. 'apt-get install openjdk-17-jre-headless') "
        "and put it on PATH or set JAVA_HOME"
    )
    if java is None:
        where = (
            f"JAVA_HOME={os.environ['JAVA_HOME']} has no bin/java"
            if os.environ.get("JAVA_HOME")
            else "no 'java' on PATH"
        )
        raise UsageError(f"the spark engine needs Java {MIN_JAVA} or newer, and {where}: {hint}")
    try:
        out = subprocess.run(
            [java, "-version"], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise UsageError(
            f"the spark engine needs Java {MIN_JAVA} or newer; {java} does not run ({exc}): {hint}"
        ) from None
    text = out.stderr + out.stdout
    found = re.search(r'version "(\d+)(?:\.(\d+))?', text)
    if out.returncode != 0 or found is None:
        raise UsageError(
            f"the spark engine needs Java {MIN_JAVA} or newer; '{java} -version' failed: {hint}"
        )
    major = int(found.group(1))
    if major == 1 and found.group(2):  # "1.8.0" is Java 8
        major = int(found.group(2))
    if major < MIN_JAVA:
        raise UsageError(
            f"the spark engine needs Java {MIN_JAVA} or newer, and {java} is Java {major}: {hint}"
        )
    return f"Java {major}"


def get_session(settings: SparkSettings) -> Any:
    """A fresh ``newSession()`` of the given, active or newly built SparkSession."""
    require_pyspark()
    from pyspark.sql import SparkSession

    base = settings.session
    if base is not None and not isinstance(base, SparkSession):
        raise UsageError(f"spark= expects a pyspark SparkSession, not {type(base).__name__}")
    if base is None:
        base = SparkSession.getActiveSession()
    if base is None:
        base = build_session(settings)
    session = base.newSession()
    session.conf.set("spark.sql.session.timeZone", "UTC")
    return session


def build_session(settings: SparkSettings) -> Any:
    """Build (or get) the process's SparkSession from ``settings`` (master, conf)."""
    from pyspark.sql import SparkSession

    check_java()
    # Python workers must run this interpreter (this venv, this dvtool).
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    builder = SparkSession.builder.master(settings.master).appName("dvtool")
    defaults = {
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.session.timeZone": "UTC",
        "spark.driver.extraJavaOptions": f"-Dlog4j2.configurationFile={_LOG_CONFIG}",
    }
    for k, v in {**defaults, **dict(settings.conf)}.items():
        builder = builder.config(k, v)
    try:
        session = builder.getOrCreate()
    except Exception as exc:  # the JVM did not come up: one line, with what to check
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise UsageError(f"Spark could not start (master {settings.master}): {first}") from None
    session.sparkContext.setLogLevel("ERROR")
    return session
