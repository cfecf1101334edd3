"""The one place the package version and the repository format version are written.

``pyproject.toml`` reads ``__version__`` from here (hatch's version source),
so ``dvtool --version``, ``dvtool.__version__`` and the wheel's metadata agree.
"""

__version__ = "0.1.0"
FORMAT_VERSION = 2  # the newest repository format this dvtool writes and reads (docs/format.md)
