"""URL rules: which URLs are remote, and how a URL is printed without its credentials."""

from __future__ import annotations

import re

from dvtool.errors import UsageError

__all__ = ["EXTRAS", "check_url", "redact_text", "redact_url"]

_CRED_RE = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*://)([^/@]*)@")
# Anywhere in a text: the user-info part of any URL, and the values of query
# parameters that carry secrets (pre-signed URLs, SAS tokens).
# ``s3:/user:pw@…`` too: that is what a path library makes of a URL.
_CRED_ANYWHERE_RE = re.compile(r"\b([a-zA-Z][a-zA-Z0-9+.-]*:/{1,2})([^/@\s'\"]+)@")
_SECRET_PARAM_RE = re.compile(
    r"([?&][A-Za-z0-9_.-]*(?:signature|sig|token|secret|password|passwd|credential|key)[A-Za-z0-9_.-]*=)"
    r"[^&\s'\"#]+",
    re.IGNORECASE,
)
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


def redact_text(text: str) -> str:
    """Every URL in ``text`` without its credentials: for any message that may quote a URL."""
    return _SECRET_PARAM_RE.sub(r"\1***", _CRED_ANYWHERE_RE.sub(r"\1***@", text))


def check_url(url: str) -> None:
    """Refuse URLs that carry credentials; they would end up in shell history and logs."""
    if _CRED_RE.match(url):
        raise UsageError(
            f"URL {redact_url(url)} has credentials in it; pass them with --storage-option "
            "or the backend's environment variables instead"
        )
