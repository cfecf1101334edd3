"""Where things live in a repository (format v1) and what names may be.

docs/format.md is the full description; these functions are its only
implementation, shared by the writer, transfer and maintenance.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from dvtool.errors import UsageError
from dvtool.format.hashing import object_hex

__all__ = [
    "DATASET_KEY_RE",
    "DEFAULT_DIR",
    "MANIFEST_KEY_RE",
    "MARKER",
    "NAME_RE",
    "OBJECT_KEY_RE",
    "VERDICT_KEY_RE",
    "check_name",
    "manifest_key",
    "object_key",
    "pruned_key",
    "tag_key",
    "utc_now",
    "version_key",
]

MARKER = "dvtool.json"
DEFAULT_DIR = ".dvtool"
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


# A tag must never read as another kind of REF: a version (``v3``, and ``V3`` or
# ``v003`` for the eye), a count back (``~1``: already outside NAME_RE) or a
# snapshot id prefix (8 to 32 hex digits, or ``xxh128:…``: ':' is outside NAME_RE).
_VERSION_LIKE_RE = re.compile(r"^[vV]\d+$")
_ID_PREFIX_LIKE_RE = re.compile(r"^[0-9a-fA-F]{8,32}$")


def check_name(name: str, what: str = "dataset") -> str:
    """Dataset and tag names: ``[A-Za-z0-9][A-Za-z0-9._-]{0,127}``, no ``..``.

    A tag also may not look like another REF: ``v`` + digits (a version) or 8-32
    hex digits (a snapshot id prefix), or ``orders@TAG`` could mean two things.
    """
    if not isinstance(name, str) or not NAME_RE.match(name) or ".." in name:
        shown = name if isinstance(name, str) and len(name) <= 80 else repr(name)[:80]
        raise UsageError(
            f"invalid {what} name {shown!r}: use letters, digits, '.', '_' and '-' "
            "(starting with a letter or digit, no '..', at most 128 characters)"
        )
    if what == "tag":
        if _VERSION_LIKE_RE.match(name):
            raise UsageError(
                f"invalid tag name {name!r}: it reads as a version number (NAME@{name}); "
                f"choose a name that is not 'v' and digits, e.g. 'release-{name}'"
            )
        if _ID_PREFIX_LIKE_RE.match(name):
            raise UsageError(
                f"invalid tag name {name!r}: it reads as a snapshot id prefix (8 to 32 hex digits); "
                f"add a letter or a dash that is not hex, e.g. 'tag-{name}' or a date like '2026-11-30'"
            )
    return name


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def object_key(object_id: str) -> str:
    h = object_hex(object_id)
    return f"objects/{h[:2]}/{h[2:]}.parquet"


def manifest_key(manifest_id: str) -> str:
    h = object_hex(manifest_id)
    return f"manifests/{h[:2]}/{h[2:]}.json"


def version_key(dataset: str, version: int) -> str:
    return f"datasets/{dataset}/versions/{version:020d}.json"


def tag_key(dataset: str, tag: str) -> str:
    return f"datasets/{dataset}/tags/{tag}.json"


def pruned_key(dataset: str, version: int) -> str:
    """The create-only marker saying version N was pruned (see maintenance.prune)."""
    return f"datasets/{dataset}/pruned/{version:020d}.json"


# Keys of content-addressed files, as fsck and gc recognise them.
OBJECT_KEY_RE = re.compile(r"^objects/([0-9a-f]{2})/([0-9a-f]{30})\.parquet$")
MANIFEST_KEY_RE = re.compile(r"^manifests/([0-9a-f]{2})/([0-9a-f]{30})\.json$")
DATASET_KEY_RE = re.compile(r"^datasets/([^/]+)/(versions|tags|pruned)/([^/]+)\.json$")
# Facts derived from one chunk, keyed by (what, chunk fingerprint): validation verdicts
# (validation/<schema hex>/…) and distribution profiles (stats/<engine hex>/…). gc drops
# them with their chunk; fsck checks they name a known chunk.
VERDICT_KEY_RE = re.compile(r"^(?:validation|stats)/[0-9a-f]{32}/([0-9a-f]{32})\.json$")
