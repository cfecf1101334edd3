"""Opening an fsspec filesystem for a URL, with dvtool's timeout, for every remote call.

A remote that stops answering must not hang dvtool. ``--storage-option
timeout=SECONDS`` (default :data:`DEFAULT_TIMEOUT`) is dvtool's own option,
translated here for each backend dvtool knows how to bound:

* ``s3://`` (s3fs): botocore's ``connect_timeout`` and ``read_timeout`` are the
  timeout, botocore retries a call at most twice (standard mode, 3 attempts)
  and s3fs's own retry loop runs once, so a call to a remote that accepts
  the connection and never answers fails after about 3 × timeout;
* ``http://``, ``https://``: aiohttp's connect and read timeouts.

Other backends keep their own defaults and take their own options through
``--storage-option``. Every URL dvtool opens (the repository, a push/pull
target, a SOURCE, an export destination) goes through :func:`url_to_fs`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dvtool.errors import StorageError, UsageError
from dvtool.storage.urls import EXTRAS, redact_text, redact_url

__all__ = ["DEFAULT_TIMEOUT", "backend_error", "url_to_fs"]

DEFAULT_TIMEOUT = 20.0
_S3_ATTEMPTS = 3  # botocore's attempts per call (the first and two retries)


def _timeout(value: Any) -> float:
    if value is None:
        return DEFAULT_TIMEOUT
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = -1.0
    if not 0 < seconds < 1e6:
        raise UsageError(f"--storage-option timeout={value} is not a number of seconds above 0")
    return seconds


def _mapping(options: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    """A nested option dvtool adds to: absent, or a mapping (the Python API's storage_options)."""
    value = options.get(name)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise UsageError(
            f"--storage-option {name} must be a mapping of options, not {str(value)[:40]!r}"
            " (nested options are set through the Python API's storage_options)"
        )
    return value


def backend_options(
    url: str, storage_options: Mapping[str, Any] | None
) -> tuple[dict[str, Any], float]:
    """The keyword arguments for the filesystem of ``url``, and the timeout they carry."""
    options = dict(storage_options or {})
    timeout = _timeout(options.pop("timeout", None))
    protocol = url.split("://", 1)[0].lower() if "://" in url else "file"
    if protocol in ("s3", "s3a"):
        config = dict(_mapping(options, "config_kwargs"))
        config.setdefault("connect_timeout", timeout)
        config.setdefault("read_timeout", timeout)
        config.setdefault("retries", {"total_max_attempts": _S3_ATTEMPTS, "mode": "standard"})
        options["config_kwargs"] = config
    elif protocol in ("http", "https"):
        import aiohttp

        client = dict(_mapping(options, "client_kwargs"))
        client.setdefault(
            "timeout", aiohttp.ClientTimeout(total=None, sock_connect=timeout, sock_read=timeout)
        )
        options["client_kwargs"] = client
    return options, timeout


def url_to_fs(url: str, storage_options: Mapping[str, Any] | None = None) -> tuple[Any, str]:
    """The fsspec filesystem and path of ``url``; a missing backend or bad URL is a UsageError."""
    import fsspec

    protocol = url.split("://", 1)[0] if "://" in url else "file"
    options, _ = backend_options(url, storage_options)
    try:
        fs, path = fsspec.core.url_to_fs(url, **options)
    except ImportError as exc:
        extra = EXTRAS.get(protocol)
        hint = f"; install it with: pip install 'dvtool[{extra}]'" if extra else ""
        raise UsageError(f"no filesystem for {protocol}:// ({exc}){hint}") from None
    except (ValueError, TypeError) as exc:
        if "Protocol not known" in str(exc):
            raise UsageError(f"unknown URL scheme {protocol}:// in {redact_url(url)}") from None
        raise UsageError(
            f"cannot open {redact_url(url)}: {str(exc).splitlines()[0] if str(exc) else exc!r}"
        ) from None
    except Exception as exc:  # a backend that fails while opening (e.g. zip:// of a folder)
        raise backend_error("open", url, exc) from None
    if protocol.lower() in ("s3", "s3a") and hasattr(fs, "retries"):
        fs.retries = 1  # s3fs's loop around botocore's retries: once, so the bound above holds
    return fs, path


def backend_error(action: str, url: str, exc: BaseException) -> StorageError:
    """A backend's exception (a timeout, a refused request) as one line naming the place, no secrets."""
    text = f"{type(exc).__name__}: {exc}".strip().splitlines()[0]
    return StorageError(f"cannot {action} {redact_url(url)}: {redact_text(text)}")
