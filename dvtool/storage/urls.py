"""URL rules: which URLs are remote, and how a URL is printed without its credentials."""

from __future__ import annotations

import re

from dvtool.errors import UsageError

__all__ = ["EXTRAS", "check_url", "is_remote", "redact_url"]

_CRED_RE = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*://)([^/@]*)@")
# the dvtool extra that installs the filesystem for a URL scheme
EXTRAS = {
    "s3": "s3",
    "s3a": "s3",
    "gs": "gcs",
    "gcs": "gcs",
    "az": "azure",
    "abfs": "azure",
    "abfss": "azure",
    "adl": "azure",
}


def redact_url(url: str) -> str:
    """``s3://user:secret@bucket`` → ``s3://***@bucket``: safe to print."""
    return _CRED_RE.sub(r"\1***@", url)


def check_url(url: str) -> None:
    """Refuse URLs that carry credentials; they would end up in shell history and logs."""
    if _CRED_RE.match(url):
        raise UsageError(
            f"URL {redact_url(url)} has credentials in it; pass them with --storage-option "
            "or the backend's environment variables instead"
        )


def is_remote(url: str) -> bool:
    return "://" in url and not url.startswith("file://")
