"""Files dvtool writes for the user (export, ``--output``): whole or not at all, never through a link.

Every such file is written to a temporary file beside the target and put in
place in one step at the end, so a failed or interrupted write never leaves a
file that looks complete. The target is checked first:

* a symbolic link is refused (dvtool neither writes through it nor replaces it);
* anything that is not a regular file (a device such as ``/dev/sda``, a pipe,
  a socket, a folder) is refused;
* an existing regular file is refused unless ``force``; without ``force`` the
  file is put in place with a hard link, which fails if the name appeared in
  the meantime, so a file that another program created is never replaced.

A full disk is one error line (``UsageError``, exit 2), like any other write error.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import uuid
from collections.abc import Iterator
from typing import BinaryIO

from dvtool.errors import UsageError

__all__ = [
    "check_output",
    "check_output_target",
    "open_output",
    "repository_holding",
    "write_error",
    "write_text_output",
]

TEMP_INFIX = ".tmp-"


def write_error(path: str, exc: OSError) -> UsageError:
    """The one-line error for a failed write of ``path``."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return UsageError(f"cannot write {path}: no space left on the device")
    return UsageError(f"cannot write {path}: {exc.strerror or exc}")


def repository_holding(path: str) -> str | None:
    """The dvtool repository folder that ``path`` would be written into, if any.

    A folder is a repository when it holds a ``dvtool.json`` marker saying so;
    outputs are never written inside one (not even with ``--force``): only
    dvtool's own create-only writes may change a repository.
    """
    here = os.path.abspath(path)
    for folder in (here, *_parents(here)):
        marker = os.path.join(folder, "dvtool.json")
        try:
            with open(marker, "rb") as f:
                head = f.read(4096)
        except OSError:
            continue
        if b'"format":"dvtool"' in head.replace(b" ", b""):
            return folder
    return None


def _parents(path: str) -> list[str]:
    out: list[str] = []
    while True:
        parent = os.path.dirname(path)
        if parent == path:
            return out
        out.append(parent)
        path = parent


def check_output_target(path: str, *, force: bool = False, what: str = "file") -> bool:
    """Refuse a target that must not be written; True if a regular file is there (and ``force``)."""
    repository = repository_holding(path)
    if repository is not None:
        raise UsageError(
            f"{path} is inside the dvtool repository {repository}; write outputs outside it"
        )
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise write_error(path, exc) from None
    if stat.S_ISLNK(st.st_mode):
        raise UsageError(
            f"{path} is a symbolic link; dvtool does not write through or replace links (remove it first)"
        )
    if stat.S_ISDIR(st.st_mode):
        raise UsageError(f"{path} is a folder; give a file name")
    if not stat.S_ISREG(st.st_mode):
        raise UsageError(
            f"{path} is not a regular file (a device, pipe or socket); dvtool writes only regular files"
        )
    if not force:
        raise UsageError(f"{path} exists; pass --force to replace it")
    return True


def check_output(path: str, *, force: bool = False) -> str:
    """Everything :func:`open_output` will refuse, checked before any work; returns the folder."""
    if "://" in path:  # not named here: a URL may carry credentials
        raise UsageError("--output takes a local file, not a URL (dvtool export writes to URLs)")
    check_output_target(path, force=force)
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise UsageError(f"cannot write {path}: folder {parent} does not exist")
    return parent


@contextlib.contextmanager
def open_output(path: str, *, force: bool = False) -> Iterator[BinaryIO]:
    """A binary file to write ``path`` through: in place only when the block ends without error."""
    parent = check_output(path, force=force)
    tmp = os.path.join(parent, f".{os.path.basename(path)}{TEMP_INFIX}{uuid.uuid4().hex}")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as exc:
        raise write_error(path, exc) from None
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        _put_in_place(tmp, path, force=force)
    except OSError as exc:
        raise write_error(path, exc) from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def _put_in_place(tmp: str, path: str, *, force: bool) -> None:
    if force:
        check_output_target(path, force=True)  # still not a link or a device
        os.replace(tmp, path)  # replaces the name; never writes through a link made since
        return
    try:
        os.link(tmp, path)  # fails if anything appeared under that name meanwhile
    except FileExistsError:
        raise UsageError(f"{path} exists; pass --force to replace it") from None
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EXDEV, errno.EMLINK):
            raise
        check_output_target(path)  # no hard links here: check, then rename
        os.replace(tmp, path)


def write_text_output(text: str, path: str, *, force: bool = False) -> None:
    """``text`` (UTF-8) as the file ``path``, by the rules above."""
    with open_output(path, force=force) as f:
        f.write(text.encode("utf-8"))
