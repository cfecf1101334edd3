"""The stat cache: an untouched local file is unchanged without being read; any write is seen."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pcsv
import pytest

import dvtool
from dvtool.ingest import statcache


def write(path: Path, n: int) -> None:
    pcsv.write_csv(pa.table({"id": list(range(n)), "v": [f"x{i}" for i in range(n)]}), path)


def test_untouched_file_is_unchanged_without_reading(tmp_path: Path) -> None:
    repo = dvtool.Repo.init(tmp_path / "repo")
    data = tmp_path / "d.csv"
    write(data, 1000)
    first = repo.snapshot(str(data), dataset="d", key=["id"])
    src = repo.open_source(str(data))
    assert statcache.lookup(src.identity, ("id",)) == first.snapshot.manifest.fingerprint
    rows_read: list[int] = []
    again = repo.snapshot(str(data), dataset="d", key=["id"], progress=rows_read.append)
    assert again.unchanged and rows_read == []  # answered from the cache: no row was read
    # Another key is another entry: the data is read (and the result cached for that key).
    assert statcache.lookup(src.identity, ("v",)) is None


def test_a_rewrite_with_the_same_size_and_mtime_is_still_seen(tmp_path: Path) -> None:
    repo = dvtool.Repo.init(tmp_path / "repo")
    data = tmp_path / "d.csv"
    write(data, 1000)
    repo.snapshot(str(data), dataset="d", key=["id"])
    st = os.stat(data)
    text = data.read_text().replace("x999", "y999")  # same length
    data.write_text(text)
    os.utime(data, ns=(st.st_atime_ns, st.st_mtime_ns))  # mtime restored; ctime moves on
    assert os.stat(data).st_size == st.st_size
    result = repo.snapshot(str(data), dataset="d", key=["id"])
    assert not result.unchanged and result.version == 2
    assert repo.get("d").to_arrow().column("v")[999].as_py() == "y999"


def test_the_cache_can_be_turned_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DVTOOL_NO_STAT_CACHE", "1")
    repo = dvtool.Repo.init(tmp_path / "repo")
    data = tmp_path / "d.csv"
    write(data, 10)
    assert repo.open_source(str(data)).identity is None
    repo.snapshot(str(data), dataset="d")
    rows_read: list[int] = []
    assert repo.snapshot(str(data), dataset="d", progress=rows_read.append).unchanged
    assert sum(rows_read) == 10  # decided by reading the rows


def test_an_identical_copy_is_recognised_by_its_bytes(tmp_path: Path) -> None:
    """A fresh download of the same bytes has a new inode and mtime: its content hash answers."""
    import shutil

    repo = dvtool.Repo.init(tmp_path / "repo")
    first = tmp_path / "monday.csv"
    write(first, 2000)
    repo.snapshot(str(first), dataset="d", key=["id"])
    copy = tmp_path / "tuesday.csv"
    shutil.copyfile(first, copy)
    rows_read: list[int] = []
    again = repo.snapshot(str(copy), dataset="d", key=["id"], progress=rows_read.append)
    assert again.unchanged and rows_read == []
    write(copy, 2001)  # real new data is still read
    assert repo.snapshot(str(copy), dataset="d", key=["id"]).version == 2
