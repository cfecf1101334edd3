"""The exit-code contract, fuzzed: whatever the arguments, dvtool exits 0, 1 or 2, never a traceback.

Hypothesis builds whole command lines from hostile and ordinary pieces — refs
(`v001`, `~99`, id prefixes, `..`, control characters), dataset and tag names,
files (empty, binary, nested columns, empty column names, links, devices,
folders, missing), SQL that tries to write or read outside, durations,
outputs — and runs them in-process through the real entry point. For every
run: the exit code is 0, 1 or 2, no exception escapes, no traceback is
printed; for exit 2 there is an ``Error:`` line and nothing changed — neither
the repository nor the folder around it (compared file by file, byte by byte). Commands that only
read (log, show, ls, query, diff, export, schema infer, fsck, a gc dry run)
leave the repository unchanged whatever their exit code. ``--debug`` may add
a traceback but never changes the exit code.

The ``@example`` lines pin the hostile inputs of the defects this contract
was written for; Hypothesis explores around them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from clitools import invoke

REFS = [
    "orders",
    "orders@v1",
    "orders@v2",
    "orders@v3",
    "orders@v0",
    "orders@v001",
    "orders@V1",
    "orders@~1",
    "orders@~99",
    "orders@reviewed",
    "orders@deadbeef",
    "orders@xxh128:00",
    "orders@",
    "orders@@v1",
    "@v1",
    "ORDERS",
    "Orders@v1",
    "nested",
    "nested@v1",
    "empty",
    "nope",
    "nope@v1",
    "../orders",
    "orders/../x",
    "a/b",
    "-rf",
    "orders@v99999999999999999999",
    "orders@~99999999999999999999",
    "orders\n",
    "orders@\x1b[31m",
    "or\x00ders",
    "",
]
NAMES = [
    "orders",
    "ORDERS",
    "Orders",
    "new",
    "v1",
    "x" * 129,
    "-rf",
    "..",
    "a/b",
    "a b",
    "new\n",
    "\u202eevil",
    "ok.name_1-2",
]
TAGS = [
    "reviewed",
    "v001",
    "v5",
    "V2",
    "deadbeef",
    "20261130",
    "release-1",
    "2026-11-30",
    "a@b",
    "~1",
    "x" * 200,
    "t\n",
]
SQL = [
    "select count(*) as n from orders",
    'select * from "orders@v1" order by id',
    "select * from nested",
    "select * from nope",
    "copy (select 1) to 'out.csv'",
    "copy orders to 'repo/dvtool.json'",
    "select * from read_text('/etc/hostname')",
    "select * from read_csv('good.csv')",
    "attach 'x.duckdb'",
    "install httpfs",
    "load httpfs",
    "set enable_external_access = true",
    "export database 'exported'",
    "explain analyze copy (select 1) to 'e.csv'",
    "select 1; copy (select 1) to 'two.csv'",
    "select from where",
    "",
    'select * from "ORDERS" union all select * from orders',
    "pragma threads=1",
]
DURATIONS = ["7d", "0s", "1d", "99999999999999999999d", "-1d", "abc", "1x", "", "36500d", "2w3d"]
FORMATS = ["parquet", "csv", "jsonl"]


def _build(root: Path) -> None:
    """The world every example starts from: a repository and the files around it."""
    (root / "good.csv").write_text("id,x,amount\n1,a,1.5\n2,b,2.5\n3,c,-1\n")
    (root / "more.csv").write_text("id,x,amount\n1,a,1.5\n2,b,2.5\n3,c,-1\n4,d,9\n")
    (root / "empty.csv").write_text("")
    (root / "header-only.csv").write_text("id,x\n")
    (root / "empty-name.csv").write_text('id,"",x\n1,2,3\n')
    (root / "dup-cols.csv").write_text("id,id\n1,2\n")
    (root / "binary.parquet").write_bytes(b"PAR1\x00\xff\xfe garbage PAR1")
    (root / "ctrl\x1bname.csv").write_text("id\n1\n")
    pq.write_table(
        pa.table(
            {
                "id": [1, 2],
                "l": [[1], [2, 3]],
                "s": [{"a": 1}, {"a": 2}],
                "m": pa.array([[("k", 1)], [("k", 2)]], pa.map_(pa.string(), pa.int64())),
            }
        ),
        root / "nested.parquet",
    )
    (root / "schema.yaml").write_text(
        "schema_type: dataframe\nversion: 0.35.0\ncolumns:\n  id:\n    dtype: int64\n"
        "    checks:\n      greater_than_or_equal_to: 2\n"
    )
    (root / "bad-schema.yaml").write_text("columns: [unclosed\n")
    (root / "evil.yaml").write_text("!!python/object/apply:os.system ['echo pwned']\n")
    (root / "folder").mkdir()
    (root / "folder" / "part.csv").write_text("id,x\n9,z\n")
    (root / "exists.csv").write_text("precious\n")
    (root / "link.csv").symlink_to(root / "exists.csv")
    (root / "dangling.csv").symlink_to(root / "nowhere.csv")
    repo = ["--repo", str(root / "repo"), "-q"]
    for args in (
        ["init"],
        ["snapshot", "good.csv", "-d", "orders", "--key", "id", "-m", "first\nline\x1b[0m"],
        ["snapshot", "more.csv", "-d", "orders", "--key", "id", "--tag", "reviewed"],
        ["snapshot", "nested.parquet", "-d", "nested"],
        ["snapshot", "header-only.csv", "-d", "empty"],
    ):
        code, _, err = invoke(*repo, *args)
        assert code == 0, (args, err)


def _pick(options: list[str]) -> st.SearchStrategy[str]:
    return st.sampled_from(options)


FILES = _pick(
    [
        "good.csv",
        "more.csv",
        "empty.csv",
        "header-only.csv",
        "empty-name.csv",
        "dup-cols.csv",
        "binary.parquet",
        "nested.parquet",
        "ctrl\x1bname.csv",
        "folder",
        "folder/",
        "missing.csv",
        "link.csv",
        "dangling.csv",
        "/dev/null",
        "-",
        "s3://KEY:SECRET@bucket/x.csv",
        "memory://nothing-here/x.csv",
        "exists.csv",
        "'*.csv'",
    ]
)
# No system device among the outputs: a broken dvtool would replace /dev/null for the whole machine.
DESTS = _pick(
    [
        "out.parquet",
        "out.csv",
        "out.jsonl",
        "exists.csv",
        "link.csv",
        "dangling.csv",
        "sock",
        "folder",
        "newfolder/",
        "-",
        "missing-dir/x.csv",
        "repo/dvtool.json",
        "repo",
        "s3://KEY:SECRET@bucket/x.parquet",
    ]
)
REF_OR_FILE = st.one_of(_pick(REFS), FILES)
ANY_TEXT = st.text(max_size=12)
NAME = st.one_of(_pick(NAMES), ANY_TEXT)
REF = st.one_of(_pick(REFS), ANY_TEXT.map(lambda t: f"orders@{t}"), ANY_TEXT)
FLAG = st.booleans()


READ_ONLY = {"log", "show", "ls", "query", "diff", "export", "schema", "fsck"}


@st.composite
def command_line(draw: st.DrawFn) -> list[str]:
    """Global options, then a command."""
    return [*(["--debug"] if draw(st.integers(0, 9)) == 0 else []), *draw(command())]


@st.composite
def command(draw: st.DrawFn) -> list[str]:
    kind = draw(
        _pick(
            [
                "log",
                "show",
                "tag",
                "export",
                "snapshot",
                "validate",
                "diff",
                "query",
                "infer",
                "prune",
                "gc",
                "fsck",
                "ls",
                "push",
                "pull",
            ]
        )
    )
    if kind == "log":
        return [
            "log",
            draw(NAME),
            *(["-n", draw(_pick(["1", "0", "-1", "x"]))] if draw(FLAG) else []),
        ]
    if kind == "show":
        return ["show", draw(REF), *(["--json"] if draw(FLAG) else [])]
    if kind == "tag":
        return ["tag", draw(REF), draw(st.one_of(_pick(TAGS), ANY_TEXT))]
    if kind == "export":
        extra = ["--format", draw(_pick(FORMATS))] if draw(FLAG) else []
        return ["export", draw(REF), draw(DESTS), *extra, *(["--force"] if draw(FLAG) else [])]
    if kind == "snapshot":
        extra: list[str] = []
        if draw(FLAG):
            extra += ["--key", draw(_pick(["id", "x", "l", "s", "m", "nope", ""]))]
        if draw(FLAG):
            extra += ["--tag", draw(st.one_of(_pick(TAGS), ANY_TEXT))]
        if draw(FLAG):
            extra += [
                "--schema",
                draw(_pick(["schema.yaml", "bad-schema.yaml", "evil.yaml", "missing.yaml"])),
            ]
        return ["snapshot", draw(FILES), "-d", draw(NAME), *extra]
    if kind == "validate":
        fmt = (
            ["--format", draw(_pick(["text", "json", "junit", "markdown", "github"]))]
            if draw(FLAG)
            else []
        )
        out = ["-o", draw(DESTS)] if draw(FLAG) else []
        schema = draw(
            _pick(
                [
                    "schema.yaml",
                    "bad-schema.yaml",
                    "evil.yaml",
                    "missing.yaml",
                    "s3://K:SECRET@b/s.yaml",
                ]
            )
        )
        return ["validate", draw(REF_OR_FILE), "--schema", schema, *fmt, *out]
    if kind == "diff":
        extra = ["--key", draw(_pick(["id", "x", "l", "nope"]))] if draw(FLAG) else []
        return [
            "diff",
            draw(REF_OR_FILE),
            draw(REF_OR_FILE),
            *extra,
            *(["--exit-code"] if draw(FLAG) else []),
        ]
    if kind == "query":
        sql = draw(st.one_of(_pick(SQL), ANY_TEXT))
        fmt = ["--format", draw(_pick(["table", "csv", "json", "parquet"]))] if draw(FLAG) else []
        out = ["-o", draw(DESTS)] if draw(FLAG) else []
        return ["query", sql, *fmt, *out]
    if kind == "infer":
        return ["schema", "infer", draw(REF_OR_FILE), *(["-o", draw(DESTS)] if draw(FLAG) else [])]
    if kind == "prune":
        rule = (
            ["--keep-last", draw(_pick(["1", "0", "-3", "x"]))]
            if draw(FLAG)
            else ["--older-than", draw(_pick(DURATIONS))]
        )
        return ["prune", draw(NAME), *rule]
    if kind == "gc":
        return [
            "gc",
            "--older-than",
            draw(_pick(DURATIONS)),
            *(["--allow-short-grace"] if draw(FLAG) else []),
            *(["--yes"] if draw(FLAG) else []),
        ]
    if kind == "fsck":
        return ["fsck", *(["--json"] if draw(FLAG) else [])]
    if kind == "ls":
        return ["ls"]
    target = draw(
        _pick(["other", "missing-repo", "memory://no-repo-here", "s3://KEY:SECRET@b/r", "good.csv"])
    )
    return ["push", draw(NAME), target] if kind == "push" else ["pull", target, draw(NAME)]


def _digest(root: Path) -> dict[str, bytes | str]:
    """Every file, link and special file under ``root``: bytes, where a link points, or its kind."""
    out: dict[str, bytes | str] = {}
    for dirpath, dirs, files in os.walk(root):
        for name in files + [d for d in dirs if os.path.islink(os.path.join(dirpath, d))]:
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            mode = os.lstat(path).st_mode
            if stat.S_ISLNK(mode):
                out[rel] = f"-> {os.readlink(path)}"
            elif stat.S_ISREG(mode):
                out[rel] = Path(path).read_bytes()
            else:
                out[rel] = f"special {stat.S_IFMT(mode):o}"
    return out


@pytest.fixture(scope="module")
def world() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="dvtool-contract-") as tmp:
        root = Path(tmp) / "world"
        root.mkdir()
        old = os.getcwd()
        os.chdir(root)
        try:
            _build(root)
            other = ["--repo", str(root / "other"), "-q"]
            assert invoke(*other, "init")[0] == 0
        finally:
            os.chdir(old)
        yield root


@contextlib.contextmanager
def _fresh_copy(world: Path) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="dvtool-run-") as tmp:
        root = Path(tmp) / "world"
        shutil.copytree(world, root, symlinks=True)
        # Links made relative to the world point into the copy too.
        for name in ("link.csv", "dangling.csv"):
            (root / name).unlink()
        (root / "link.csv").symlink_to(root / "exists.csv")
        (root / "dangling.csv").symlink_to(root / "nowhere.csv")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(
            str(root / "sock")
        )  # a special file to refuse as an output (no pipe: it would block)
        old = os.getcwd()
        os.chdir(root)
        try:
            yield root
        finally:
            os.chdir(old)
            sock.close()


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(args=command_line())
@example(args=["schema", "infer", "empty-name.csv"])
@example(args=["export", "nested", "out.csv"])
@example(args=["export", "nested", "-", "--format", "csv"])
@example(args=["snapshot", "nested.parquet", "-d", "new", "--key", "l"])
@example(args=["prune", "orders", "--older-than", "99999999999999999999d"])
@example(args=["gc", "--older-than", "99999999999999999999d"])
@example(args=["--debug", "show", "nope"])
@example(args=["tag", "orders@v2", "v001"])
@example(args=["snapshot", "good.csv", "-d", "ORDERS"])
@example(args=["query", "copy (select 1 as x) to 'repo/dvtool.json'"])
@example(args=["query", "select * from read_text('/etc/hostname')"])
@example(args=["validate", "good.csv", "--schema", "s3://KEY:SECRET@bucket/s.yaml"])
@example(args=["export", "orders", "link.csv", "--force"])
@example(args=["export", "orders", "exists.csv"])
@example(args=["validate", "dup-cols.csv", "--schema", "schema.yaml"])
def test_every_command_line_exits_0_1_or_2_and_exit_2_changes_nothing(
    world: Path, args: list[str]
) -> None:
    debug = "--debug" in args[:1]
    kind = args[1] if debug else args[0]
    with _fresh_copy(world) as root:
        before = _digest(root)
        code, _out, err = invoke("--repo", str(root / "repo"), "-q", *args)
        assert code in (0, 1, 2), (args, code, err)
        if not debug:
            assert "Traceback" not in err, (args, err)
        after = _digest(root)
        changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
        if code == 2:
            assert any(line.startswith("Error: ") for line in err.splitlines()), (args, err)
            assert changed == [], (args, err, changed)
        if kind in READ_ONLY or (kind == "gc" and "--yes" not in args):
            assert [k for k in changed if k.startswith("repo/")] == [], (args, err, changed)
        for line in err.splitlines():
            if line.startswith("Error: "):
                assert "SECRET" not in line and "\x1b" not in line, (args, line)
