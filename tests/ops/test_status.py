"""status: which recorded SOURCEs changed since their snapshot, and the repository's sizes."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import fsspec
import pandas as pd
import pytest

import dvtool
from clitools import run
from dvtool.errors import UsageError

CSV = "id,name,delay\n1,a,NA\n2,b,5\n3,NA,7\n"


def states(repo: dvtool.Repo) -> dict[str, str]:
    return {d.dataset: d.state for d in repo.status().datasets}


def du(folder: Path) -> dict[str, int]:
    """Apparent size of every chunk file under objects/, like `du -b` adds them up."""
    out = {}
    for dirpath, _dirs, files in os.walk(folder / "objects"):
        for name in files:
            if name.endswith(".parquet"):
                p = Path(dirpath) / name
                out[f"xxh128:{p.parent.name}{name.removesuffix('.parquet')}"] = p.stat().st_size
    return out


def test_local_source_before_and_after_edits(tmp_path: Path) -> None:
    data = tmp_path / "flights.csv"
    data.write_text(CSV)
    repo = dvtool.Repo.init(tmp_path / "repo")
    read = dvtool.ReadOptions.build(null_values="NA")
    repo.snapshot(str(data), dataset="flights", key=["id"], read=read)
    repo.snapshot(pd.DataFrame({"a": [1]}), dataset="memory")
    st = repo.status()
    flights = st.datasets[0]
    assert (flights.dataset, flights.version, flights.state) == ("flights", 1, "unchanged")
    assert flights.source is not None and flights.source.args == (str(data),)
    assert flights.read_options == read
    assert st.datasets[1].state == "no source" and st.changed == ()

    os.utime(data, ns=(1, 1))  # touched: the stat differs, the bytes hash the same
    assert states(repo)["flights"] == "unchanged"

    data.write_text(CSV.replace("2,b,5", "2,c,5"))  # same size, other bytes
    check = repo.status().datasets[0].check
    assert check is not None and check.state == "changed"
    assert check.details == (f"{data}: content changed (same size)",)

    data.write_text(CSV + "4,d,9\n")
    st = repo.status()
    assert [d.dataset for d in st.changed] == ["flights"]
    assert st.datasets[0].check.details == (f"{data}: 34 → 40 bytes",)  # type: ignore[union-attr]

    # A re-snapshot without SOURCE reads the recorded one, the recorded way, with its key.
    again = repo.snapshot(None, dataset="flights")
    assert again.version == 2 and again.read == read and again.read_from == "flights@v1"
    assert again.snapshot.key == ("id",)
    assert again.snapshot.to_arrow().column("delay").null_count == 1
    assert states(repo)["flights"] == "unchanged"

    data.unlink()
    assert states(repo)["flights"] == "missing"


def test_same_source_reuses_recorded_read_options_other_source_does_not(tmp_path: Path) -> None:
    data = tmp_path / "a.csv"
    data.write_text(CSV)
    repo = dvtool.Repo.init(tmp_path / "repo")
    repo.snapshot(str(data), dataset="a", read=dvtool.ReadOptions.build(null_values=""))
    data.write_text(CSV + "4,NA,1\n")
    second = repo.snapshot(str(data), dataset="a")
    assert (
        second.read_from == "a@v1" and second.read is not None and second.read.null_values == ("",)
    )
    assert second.snapshot.to_arrow().column("name").to_pylist()[-1] == "NA"
    copy = tmp_path / "b.csv"
    copy.write_text(CSV)
    third = repo.snapshot(str(copy), dataset="a")
    assert third.read_from is None and third.read == dvtool.ReadOptions()
    with pytest.raises(
        UsageError, match="name a SOURCE to snapshot: df@v1 was not snapshotted from files"
    ):
        repo.snapshot(pd.DataFrame({"x": [1]}), dataset="df") and repo.snapshot(None, dataset="df")


def test_folder_source_sees_a_new_file(tmp_path: Path) -> None:
    folder = tmp_path / "parts"
    folder.mkdir()
    (folder / "p1.csv").write_text(CSV)
    repo = dvtool.Repo.init(tmp_path / "repo")
    repo.snapshot(str(folder), dataset="parts")
    assert states(repo) == {"parts": "unchanged"}
    (folder / "p2.csv").write_text("id,name,delay\n9,z,1\n")
    check = repo.status().datasets[0].check
    assert check is not None and check.state == "changed"
    assert check.details == (f"1 new file: {folder / 'p2.csv'}",)


def test_memory_source(tmp_path: Path) -> None:
    fs = fsspec.filesystem("memory")
    url = f"memory://status-{uuid.uuid4().hex}/flights.csv"
    fs.pipe(url, CSV.encode())
    repo = dvtool.Repo.init(tmp_path / "repo")
    repo.snapshot(url, dataset="f")
    record = repo.get("f").manifest.source
    assert record is not None and record.args == (url,) and record.files[0].mtime is not None
    assert states(repo) == {"f": "unchanged"}
    fs.pipe(
        url, CSV.replace("2,b,5", "2,c,5").encode()
    )  # same size: told apart by its modification time
    assert states(repo) == {"f": "changed"}
    fs.rm(url)
    assert states(repo) == {"f": "missing"}


def test_s3_source(tmp_path: Path, s3_bucket: object) -> None:
    bucket = s3_bucket
    url = f"{bucket.url}/in/flights.csv"  # type: ignore[attr-defined]
    opts = bucket.storage_options  # type: ignore[attr-defined]
    fs = fsspec.filesystem("s3", **opts)
    fs.pipe(url, CSV.encode())
    repo = dvtool.Repo.init(tmp_path / "repo", storage_options=opts)
    repo.snapshot(url, dataset="f")
    record = repo.get("f").manifest.source
    assert record is not None and record.files[0].etag
    assert states(repo) == {"f": "unchanged"}
    fs.pipe(url, CSV.replace("2,b,5", "2,c,5").encode())
    check = repo.status().datasets[0].check
    assert check is not None and check.state == "changed" and "ETag" in check.details[0]
    assert repo.snapshot(None, dataset="f").version == 2
    assert states(repo) == {"f": "unchanged"}


def test_sizes_match_the_chunk_files_on_disk(tmp_path: Path) -> None:
    repo = dvtool.Repo.init(tmp_path / "repo")
    for i in range(3):
        table = pd.DataFrame({"id": range(i * 1000, i * 1000 + 3000), "v": [f"x{i}"] * 3000})
        repo.snapshot(table, dataset="a", key=["id"])
    repo.snapshot(pd.DataFrame({"k": range(100)}), dataset="b")
    repo.prune("a", keep_last=1)  # v1 and v2 leave the kept set: their own chunks are unreferenced
    disk = du(tmp_path / "repo")
    sizes = repo.status().sizes
    latest = {c.object for name in ("a", "b") for c in repo.get(name).chunks}
    assert sizes.latest_bytes == sum(disk[o] for o in latest) and sizes.latest_chunks == len(latest)
    assert sizes.all_bytes + sizes.unreferenced_bytes == sum(disk.values())
    assert sizes.all_chunks + sizes.unreferenced_chunks == len(disk)
    assert sizes.all_bytes == sizes.latest_bytes and sizes.unreferenced_chunks > 0
    assert sizes.missing_chunks == 0


def test_cli_status_text_json_and_exit_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DVTOOL_REPO", raising=False)
    data = tmp_path / "flights.csv"
    data.write_text(CSV)
    assert run(capsys, "init").exit_code == 0
    assert (
        run(
            capsys, "snapshot", str(data), "-d", "flights", "--key", "id", "--null-values", "NA"
        ).exit_code
        == 0
    )
    assert run(capsys, "tag", "flights", "jan").exit_code == 0
    r = run(capsys, "status", "--exit-code")
    assert r.exit_code == 0
    assert r.stdout.splitlines()[:2] == [
        "flights  v1 (jan)  unchanged",
        f"         source {data}  read with --null-values NA",
    ]
    data.write_text(CSV + "4,d,9\n")
    r = run(capsys, "status", "--exit-code")
    assert r.exit_code == 1 and f"{data}: 34 → 40 bytes" in r.stdout
    assert r.stdout.rstrip().endswith(
        "changed: flights; snapshot again with: dvtool snapshot -d NAME"
    )
    doc = json.loads(run(capsys, "status", "--json").stdout)
    assert doc["changed"] == ["flights"] and doc["datasets"][0]["source"]["read_options"] == {
        "null_values": ["NA"]
    }
    assert run(capsys, "status").exit_code == 0  # without --exit-code a change is not an error
    r = run(capsys, "snapshot", "-d", "flights")
    assert (
        r.exit_code == 0 and "(read with --null-values NA, as recorded in flights@v1)" in r.stdout
    )
    assert run(capsys, "status", "--exit-code").exit_code == 0
    r = run(capsys, "status", "nope")
    assert r.exit_code == 2 and r.stderr.startswith("Error: unknown dataset 'nope'")


def test_snapshot_result_repr_is_one_line(tmp_path: Path) -> None:
    data = tmp_path / "flights.csv"
    data.write_text(CSV)
    result = dvtool.Repo.init(tmp_path / "repo").snapshot(str(data), dataset="flights")
    text = repr(result)
    assert (
        "\n" not in text
        and text.startswith("<SnapshotResult flights@v1 xxh128:")
        and len(text) < 200
    )
