"""What a SOURCE's files were when read, and whether they changed since (``dvtool status``).

A snapshot of files records, per input file, what the filesystem says about
it (size, mtime, the backend's ETag) as it was when opened, and for local
files the xxh3-128 of the bytes. Later, a file is *unchanged* when its size and
mtime (local) or ETag (remote) are the same — no byte is read — and, when
they differ, when its bytes still hash the same (a ``touch``, a copy of the
same bytes). A remote file whose backend gives neither an ETag nor an mtime
cannot be judged: its state is *unknown*, never "unchanged".

A hash is recorded only if the file's full stat (inode, size, mtime and ctime
in ns) is the same before and after hashing and as when it was opened; else
it is left out and a later change of stat counts as a change.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from dvtool.errors import DvtoolError
from dvtool.format.models import SourceFile, SourceRecord
from dvtool.storage import redact_url

__all__ = [
    "FileProbe",
    "SourceCheck",
    "check_source",
    "probe_files",
    "source_args",
    "source_record",
]

State = Literal["unchanged", "changed", "missing", "unknown"]


@dataclass(frozen=True, slots=True)
class FileProbe:
    """A file as it was when opened: the recorded facts and a full local stat token."""

    file: SourceFile
    token: tuple[int, ...] | None = None  # (dev, ino, size, mtime_ns, ctime_ns) of local files


def _stat_token(st: os.stat_result) -> tuple[int, ...]:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _remote_facts(info: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """(mtime, etag) from an fsspec ``info`` dict, whatever the backend calls them."""
    etag = next((info[k] for k in ("ETag", "etag", "md5Hash", "content_md5") if info.get(k)), None)
    mtime = next(
        (
            info[k]
            for k in ("LastModified", "last_modified", "mtime", "updated", "modified", "created")
            if info.get(k)
        ),
        None,
    )
    return (
        str(mtime) if mtime is not None else None,
        str(etag).strip('"') if etag is not None else None,
    )


def probe_files(paths: Sequence[str], fs: Any) -> tuple[FileProbe, ...]:
    """What the filesystem says about ``paths`` now (local when ``fs`` is None); never raises."""
    out: list[FileProbe] = []
    for path in paths:
        if fs is None:
            try:
                st = os.stat(path)
            except OSError:
                out.append(FileProbe(SourceFile(os.path.abspath(path), None)))
                continue
            out.append(
                FileProbe(
                    SourceFile(os.path.abspath(path), st.st_size, str(st.st_mtime_ns)),
                    _stat_token(st),
                )
            )
            continue
        where = redact_url(fs.unstrip_protocol(path) if hasattr(fs, "unstrip_protocol") else path)
        try:
            info = fs.info(path)
        except Exception:  # any backend error: the file cannot be described
            out.append(FileProbe(SourceFile(where, None)))
            continue
        mtime, etag = _remote_facts(info)
        size = info.get("size")
        out.append(
            FileProbe(SourceFile(where, int(size) if size is not None else None, mtime, etag))
        )
    return tuple(out)


def source_args(source: Any) -> tuple[str, ...] | None:
    """The SOURCE arguments as recorded: local paths absolute, URLs as given; None for other sources."""
    if isinstance(source, str | os.PathLike):
        source = [source]
    if (
        not isinstance(source, list | tuple)
        or not source
        or not all(isinstance(s, str | os.PathLike) for s in source)
    ):
        return None
    out = []
    for s in map(os.fspath, source):
        if s == "-":
            return None
        local = "://" not in s or s.startswith("file://")
        out.append(os.path.abspath(s.removeprefix("file://")) if local else s)
    return tuple(out)


# Hashes of local files computed in this process, by path and full stat token: a
# snapshot needs a file's hash up to three times (the content identity, the
# source record, the row groups' pass), and reads its bytes once.
_KNOWN_HASHES: dict[tuple[str, tuple[int, ...]], str] = {}
_KNOWN_MAX = 4096
HASH_BLOCK = 1 << 20


def known_hash(path: str, before: os.stat_result, after: os.stat_result, digest: str) -> None:
    """Remember ``digest`` (``xxh128:…``) as the hash of ``path`` if its stat did not move while hashed."""
    token = _stat_token(before)
    if token != _stat_token(after):
        return
    if len(_KNOWN_HASHES) >= _KNOWN_MAX:
        _KNOWN_HASHES.clear()
    _KNOWN_HASHES[(os.path.abspath(path), token)] = digest


def file_hash(path: str) -> str | None:
    """xxh3-128 of a local file's bytes, or None if it cannot be read."""
    import xxhash

    try:
        before = os.stat(path)
        known = _KNOWN_HASHES.get((os.path.abspath(path), _stat_token(before)))
        if known is not None:
            return known
        h = xxhash.xxh3_128()
        buf = bytearray(HASH_BLOCK)
        view = memoryview(buf)
        with open(path, "rb", buffering=0) as f:
            while n := f.readinto(buf):
                h.update(view[:n])
        digest = f"xxh128:{h.hexdigest()}"
        known_hash(path, before, os.stat(path), digest)
    except OSError:
        return None
    return digest


def _hashed(probe: FileProbe) -> SourceFile:
    """The probe's file with its content hash, if the file stayed as it was while hashed."""
    if probe.token is None:
        return probe.file
    digest = file_hash(probe.file.path)
    try:
        same = _stat_token(os.stat(probe.file.path)) == probe.token
    except OSError:
        same = False
    if digest is None or not same:
        return probe.file
    return SourceFile(probe.file.path, probe.file.size, probe.file.mtime, probe.file.etag, digest)


def source_record(
    args: Sequence[str], format: str | None, read: Mapping[str, Any], probes: Sequence[FileProbe]
) -> SourceRecord:
    """The record a snapshot keeps of its SOURCE; local files are hashed here."""
    return SourceRecord(tuple(args), format, dict(read), tuple(_hashed(p) for p in probes))


# -- later: has it changed? ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SourceCheck:
    """The verdict on one recorded SOURCE: its state and, when not unchanged, why."""

    state: State
    details: tuple[str, ...] = ()
    files: int = 0  # files found now
    changed_files: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"state": self.state, "details": list(self.details), "files": self.files,
                "changed_files": self.changed_files}  # fmt: skip


def _compare(old: SourceFile, new: FileProbe) -> tuple[State, str]:
    cur = new.file
    name = cur.path
    if cur.size is None:
        return "missing", f"{name}: cannot be read now"
    if new.token is not None:  # local
        if cur.size == old.size and cur.mtime == old.mtime:
            return "unchanged", ""
        if old.hash is None or cur.size != old.size:
            return "changed", f"{name}: {_size_change(old.size, cur.size)}"
        digest = file_hash(cur.path)
        if digest == old.hash:
            return "unchanged", ""  # touched or copied: same bytes
        return "changed", f"{name}: content changed (same size)"
    if old.etag is not None and cur.etag is not None:
        if old.etag == cur.etag:
            return "unchanged", ""
        return "changed", f"{name}: ETag {old.etag} → {cur.etag}"
    if cur.size != old.size:
        return "changed", f"{name}: {_size_change(old.size, cur.size)}"
    if old.mtime is not None and cur.mtime is not None:
        if old.mtime == cur.mtime:
            return "unchanged", ""
        return "changed", f"{name}: modified {old.mtime} → {cur.mtime}"
    return "unknown", f"{name}: the filesystem gives no ETag or modification time to compare"


def _size_change(old: int | None, new: int | None) -> str:
    if old is None or new is None:
        return "size changed"
    if old == new:
        return f"modified ({new:,} bytes)"
    return f"{old:,} → {new:,} bytes"


def check_source(record: SourceRecord, storage_options: Mapping[str, str]) -> SourceCheck:
    """Compare the files ``record`` describes with what is there now (reading bytes only when needed)."""
    from dvtool.ingest.sources import expand_source

    try:
        paths, fs = expand_source(record.args, dict(storage_options))
    except DvtoolError as exc:
        return SourceCheck("missing", (exc.message,))
    probes = probe_files(paths, fs)
    before = {f.path: f for f in record.files}
    now = {p.file.path: p for p in probes}
    details: list[str] = []
    states: list[State] = []
    added = [p for p in now if p not in before]
    removed = [p for p in before if p not in now]
    if added:
        states.append("changed")
        details.append(f"{len(added)} new file{'s' * (len(added) != 1)}: {', '.join(added[:3])}")
    if removed:
        states.append("changed")
        details.append(
            f"{len(removed)} file{'s' * (len(removed) != 1)} gone: {', '.join(removed[:3])}"
        )
    changed = len(added) + len(removed)
    for path, probe in now.items():
        if path not in before:
            continue
        state, why = _compare(before[path], probe)
        states.append(state)
        if state != "unchanged":
            changed += 1
            details.append(why)
    if "missing" in states and not now:
        overall: State = "missing"
    elif "changed" in states or "missing" in states:
        overall = "changed"
    elif "unknown" in states:
        overall = "unknown"
    else:
        overall = "unchanged"
    return SourceCheck(overall, tuple(details), len(now), changed)
