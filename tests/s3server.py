"""The S3 server and bucket values the tests share (the fixtures are in conftest.py)."""

from __future__ import annotations

from dataclasses import dataclass

DUMMY_CREDENTIALS = {"key": "dvtool-test-key", "secret": "dvtool-test-secret"}
_DUMMY = DUMMY_CREDENTIALS


@dataclass(frozen=True)
class S3Server:
    endpoint: str
    pid: int

    def storage_options(self) -> dict[str, str]:
        """Options for s3fs; all flat strings, so they also work as --storage-option K=V."""
        return {**_DUMMY, "endpoint_url": self.endpoint}


@dataclass(frozen=True)
class S3Bucket:
    server: S3Server
    name: str

    @property
    def url(self) -> str:
        return f"s3://{self.name}"

    @property
    def storage_options(self) -> dict[str, str]:
        return self.server.storage_options()

    def cli_options(self) -> list[str]:
        """The same options as ``--storage-option K=V`` arguments."""
        return [
            a for k, v in self.storage_options.items() for a in ("--storage-option", f"{k}={v}")
        ]
