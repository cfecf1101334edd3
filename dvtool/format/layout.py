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


def check_name(name: str, what: str = "dataset") -> str:
    """Dataset and tag names: ``[A-Za-z0-9][A-Za-z0-9._-]{0,127}``, no ``..``."""
    if not isinstance(name, str) or not NAME_RE.match(name) or ".." in name:
        shown = name if isinstance(name, str) and len(name) <= 80 else repr(name)[:80]
        raise UsageError(
            f"invalid {what} name {shown!r}: use letters, digits, '.', '_' and '-' "
            "(starting with a letter or digit, no '..', at most 128 characters)"
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
