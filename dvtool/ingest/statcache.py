"""Remembered fingerprints of local input files, so an unchanged file is not read again.

Like DVC's state database: a file whose path, device, inode, size, mtime and
ctime (nanoseconds) are all the same as when it was last snapshotted holds the
same bytes. ctime cannot be set by users and moves on every write, so a file
rewritten in place with its size and mtime restored still misses the cache.
The entry also names the input formats, the read options (null markers,
delimiter, column types...), the key, and the dvtool and pyarrow versions,
because those change how bytes become rows.

When the stat identity misses (a fresh copy or download of the same bytes),
the files' content hash is tried: a second entry keyed by the xxh3-128 of the
bytes, written with the first.

The cache lives outside every repository (``$DVTOOL_CACHE_DIR``, else
``$XDG_CACHE_HOME/dvtool``, else ``~/.cache/dvtool``): it describes local
files, not shared data. It is only an optimisation: any error reading or
writing it is ignored, and ``DVTOOL_NO_STAT_CACHE=1`` turns it off.
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from collections.abc import Sequence
from pathlib import Path

import xxhash

__all__ = ["content_identity", "file_identity", "lookup", "remember"]

_VERSION = "stat-v2"  # v2: CSV cells like NA and empty text cells read as nulls


def _enabled() -> bool:
    return os.environ.get("DVTOOL_NO_STAT_CACHE", "") in ("", "0")


def _root() -> Path:
    configured = os.environ.get("DVTOOL_CACHE_DIR")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "dvtool"


def file_identity(paths: Sequence[str], formats: Sequence[str], how: str = "") -> str | None:
    """A hash of the files' stat identity and how they are read, or None if unavailable.

    ``how`` is the read options' token (:meth:`ReadOptions.token`).
    """
    if not _enabled():
        return None
    import pyarrow

    from dvtool._version import __version__

    h = xxhash.xxh3_128()
    h.update(f"{_VERSION}\0{__version__}\0{pyarrow.__version__}\0{how}\0".encode())
    try:
        for path, fmt in zip(paths, formats, strict=True):
            st = os.stat(path)
            h.update(
                f"{os.path.abspath(path)}\0{fmt}\0{st.st_dev}\0{st.st_ino}\0{st.st_size}\0"
                f"{st.st_mtime_ns}\0{st.st_ctime_ns}\0".encode()
            )
    except (OSError, ValueError):
        return None
    return h.hexdigest()


def content_identity(
    paths: Sequence[str], formats: Sequence[str], how: str = "", hashes: Sequence[str | None] = ()
) -> str | None:
    """A hash of the files' bytes and how they are read: catches an identical copy or download.

    Built from each file's xxh3-128 (``hashes``, when already known, else read
    here). xxh3 reads at several GB/s from the page cache, so this costs a few
    percent of a snapshot that just read the same files.
    """
    if not _enabled():
        return None
    import pyarrow

    from dvtool._version import __version__
    from dvtool.ingest.sourcestate import file_hash

    h = xxhash.xxh3_128()
    h.update(f"{_VERSION}-content\0{__version__}\0{pyarrow.__version__}\0{how}\0".encode())
    known = list(hashes) if len(hashes) == len(paths) else [None] * len(paths)
    for path, fmt, digest in zip(paths, formats, known, strict=True):
        digest = digest or file_hash(path)
        if digest is None:
            return None
        h.update(f"{fmt}\0{digest}\0".encode())
    return h.hexdigest()


def _entry(identity: str, key: Sequence[str]) -> Path:
    digest = xxhash.xxh3_128_hexdigest(json.dumps([identity, list(key)]).encode())
    return _root() / "stat" / digest[:2] / f"{digest[2:]}.json"


def lookup(identity: str | None, key: Sequence[str]) -> str | None:
    """The data fingerprint last computed for these files read with this key, if known."""
    if identity is None or not _enabled():
        return None
    try:
        value = json.loads(_entry(identity, key).read_text())
        fingerprint = value.get("fingerprint")
        return fingerprint if isinstance(fingerprint, str) else None
    except (OSError, ValueError, AttributeError):
        return None


def remember(identity: str | None, key: Sequence[str], fingerprint: str) -> None:
    if identity is None or not _enabled():
        return
    path = _entry(identity, key)
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
        tmp.write_text(json.dumps({"fingerprint": fingerprint}))
        os.replace(tmp, path)


# -- resume points of appends (see dvtool.write.resume) -----------------------------


def resume_enabled() -> bool:
    return _enabled()


def resume_salt() -> str:
    """What changes how bytes become rows and hashes: mixed into resume-point identities."""
    import pyarrow

    from dvtool._version import __version__

    return f"{_VERSION}-resume\0{__version__}\0{pyarrow.__version__}\0{xxhash.XXHASH_VERSION}\0"


def lookup_resume(identity: str, key: Sequence[str]) -> dict[str, object] | None:
    """The resume point remembered for input row groups with this identity, if any."""
    if not _enabled():
        return None
    try:
        value = json.loads(_entry(f"resume:{identity}", key).read_text())
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def remember_resume(identity: str, key: Sequence[str], entry: dict[str, object]) -> None:
    if not _enabled():
        return
    path = _entry(f"resume:{identity}", key)
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
        tmp.write_text(json.dumps(entry))
        os.replace(tmp, path)
