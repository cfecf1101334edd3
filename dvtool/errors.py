"""One exception root for dvtool; every error knows its exit code.

Exit codes follow SPEC §2: 1 means "the data said no" (validation failed,
duplicate keys, damage found by fsck, differences with --exit-code); 2 means
"could not run" (bad arguments, missing input, unknown ref, storage error).
"""

from __future__ import annotations

__all__ = [
    "AlreadyExistsError",
    "ConflictError",
    "DataError",
    "DvtoolError",
    "IntegrityError",
    "NotFoundError",
    "StorageError",
    "UsageError",
    "ValidationFailed",
]


class DvtoolError(Exception):
    """Root of every error dvtool raises on purpose. The message is one line for a person."""

    exit_code: int = 2

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class UsageError(DvtoolError):
    """Bad arguments or bad input given by the user (exit 2)."""


class NotFoundError(DvtoolError):
    """A repository, dataset, ref, file or object does not exist (exit 2)."""


class StorageError(DvtoolError):
    """The storage backend failed; the message names the location (exit 2)."""


class AlreadyExistsError(StorageError):
    """A create-only write found the key already present."""


class IntegrityError(DvtoolError):
    """Stored bytes do not match their hash, or a manifest is malformed (exit 2 on read)."""


class ConflictError(DvtoolError):
    """Another writer won the race for a version number; callers retry on the new head."""


class DataError(DvtoolError):
    """The data said no: duplicate or null keys, failed validation (exit 1)."""

    exit_code = 1


class ValidationFailed(DataError):
    """A schema check failed; ``report`` is the full ValidationReport to show."""

    def __init__(
        self, report: object, message: str = "validation failed; nothing was committed"
    ) -> None:
        super().__init__(message)
        self.report = report
