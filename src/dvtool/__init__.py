"""dvtool: version and validate tabular datasets.

>>> import dvtool
>>> repo = dvtool.Repo.init("memory://demo")          # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "DataError",
    "DvtoolError",
    "Repo",
    "Snapshot",
    "__version__",
]

from .errors import DataError, DvtoolError

if TYPE_CHECKING:
    from .repo import Repo, Snapshot


def __getattr__(name: str) -> Any:
    # Lazy: `import dvtool` (and so `dvtool --help`) does not import pyarrow.
    if name in ("Repo", "Snapshot"):
        from . import repo

        return getattr(repo, name)
    raise AttributeError(f"module 'dvtool' has no attribute {name!r}")
