"""Content ids (xxh3-128 of stored bytes) and logical data fingerprints.

Two different things are hashed here, on purpose:

* an **object id** is the xxh3-128 of the exact bytes stored, so `fsck` can
  re-hash a file without decoding it;
* a **fingerprint** (dvtool.ingest.fingerprint) is the xxh3-128 of a canonical
  encoding of the *rows*, so it does not change with the input format, the
  Parquet encoding, the batch boundaries or library versions.

Ids and fingerprints carry their algorithm as a prefix (``xxh128:``) so the
algorithm can change in a later format version.
"""

from __future__ import annotations

import re

import xxhash

__all__ = ["ALGORITHM", "hash_bytes", "is_object_id", "object_hex"]

ALGORITHM = "xxh128"
_ID_RE = re.compile(r"^xxh128:[0-9a-f]{32}$")


def hash_bytes(data: bytes | memoryview) -> str:
    """Return the object id (``xxh128:<32 hex>``) of ``data``."""
    return f"{ALGORITHM}:{xxhash.xxh3_128_hexdigest(data)}"


def is_object_id(value: str) -> bool:
    return bool(_ID_RE.match(value))


def object_hex(object_id: str) -> str:
    """The hex part of an id; raises ValueError for anything that is not an id."""
    if not is_object_id(object_id):
        raise ValueError(f"not an object id: {object_id!r}")
    return object_id.split(":", 1)[1]
