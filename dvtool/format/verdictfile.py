"""The bytes of a cached validation verdict, and whether a stored one can be trusted.

A verdict under ``validation/…/….json`` records the key it was written under
(which names the schema and the chunk or rows it covers) and a checksum
(xxh3-128) of its canonical body. A file that was edited, damaged or copied
under another name does not match: ``validate`` ignores it and checks the data
again, ``fsck`` reports it. The checksum catches edits and damage, not a
forger who recomputes it (who could as well rewrite the data).
"""

from __future__ import annotations

import json
from typing import Any

import xxhash

from dvtool.format.hashing import ALGORITHM

__all__ = ["ENGINE", "KINDS", "encode_verdict", "verdict_problem"]

# Part of every schema fingerprint and verdict: bump it when verdicts change
# meaning, so cached verdicts of an older dvtool are not reused. (2: dataframe-level
# checks left chunk verdicts; they run once over all rows. 3: whole-column checks
# left them too, and pandas types follow nulls anywhere in the data. 4: verdicts
# record where they were written and a checksum. 5: distinct failing values with
# counts, checks that raised, merged faults.)
ENGINE = "dvtool-validation-5"
KINDS = frozenset({"validation-verdict", "validation-snapshot-verdict"})


def _canonical(d: dict[str, Any]) -> str:
    return json.dumps(d, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def _checksum(d: dict[str, Any]) -> str:
    body = {k: v for k, v in d.items() if k != "checksum"}
    return f"{ALGORITHM}:{xxhash.xxh3_128_hexdigest(_canonical(body).encode())}"


def encode_verdict(body: dict[str, Any], *, kind: str, at: str) -> bytes:
    """The stored bytes of a verdict ``body`` written under the key ``at``, checksum included."""
    d = {**body, "format": 1, "kind": kind, "engine": ENGINE, "at": at}
    d["checksum"] = _checksum(d)
    return _canonical(d).encode()


def verdict_problem(data: bytes, at: str) -> str | None:
    """Why the verdict stored at key ``at`` must not be trusted, or None.

    A verdict of another dvtool version (another ``engine``) is not damage: it
    is simply not reused.
    """
    try:
        d = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return "is not JSON"
    if not isinstance(d, dict) or d.get("kind") not in KINDS:
        return "is not a validation verdict"
    if d.get("engine") != ENGINE:
        return None if isinstance(d.get("engine"), str) else "names no engine"
    if d.get("checksum") != _checksum(d):
        return "does not match its checksum (edited or damaged)"
    if d.get("at") != at:
        return f"was written for {d.get('at')!r}, not for this key"
    return None
