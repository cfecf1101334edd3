"""No credential of any URL in any message; no control character reaches a terminal or breaks XML."""

from __future__ import annotations

import json
import re
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from clitools import invoke
from dvtool import redact_text

SECRET = "wJalrXUtnFEMI-not-a-real-secret"
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    src = tmp_path / "orders.csv"
    src.write_text("id,x\n1,a\n2,b\n")
    assert invoke("--repo", str(root), "init")[0] == 0
    assert (
        invoke("--repo", str(root), "-q", "snapshot", str(src), "-d", "orders", "--key", "id")[0]
        == 0
    )
    return root


@pytest.mark.parametrize(
    "args",
    [
        ["validate", "{csv}", "--schema", f"s3://AKIAKEY:{SECRET}@bucket/s.yaml"],
        ["validate", "{csv}", "--schema", f"s3://AKIAKEY:{SECRET}@bucket/s.py:Orders"],
        [
            "-q",
            "snapshot",
            "{csv}",
            "-d",
            "orders",
            "--schema",
            f"s3://AKIAKEY:{SECRET}@bucket/s.yaml",
        ],
        ["-q", "snapshot", f"s3://AKIAKEY:{SECRET}@bucket/data.csv", "-d", "orders"],
        ["export", "orders", f"s3://AKIAKEY:{SECRET}@bucket/out.parquet"],
        ["-q", "push", "orders", f"s3://AKIAKEY:{SECRET}@bucket/repo"],
        ["-q", "pull", f"gs://user:{SECRET}@bucket/repo", "orders"],
        ["diff", "orders", f"https://user:{SECRET}@example.invalid/x.csv"],
        ["schema", "infer", f"az://acct:{SECRET}@container/x.csv"],
        [
            "validate",
            "{csv}",
            "--schema",
            f"https://example.invalid/s.yaml?X-Amz-Signature={SECRET}&x=1",
        ],
    ],
)
def test_no_message_shows_a_url_credential(repo: Path, tmp_path: Path, args: list[str]) -> None:
    csv = tmp_path / "orders.csv"
    code, out, err = invoke("--repo", str(repo), *[a.replace("{csv}", str(csv)) for a in args])
    assert code == 2, err
    assert SECRET not in err and SECRET.encode() not in out, err
    assert err.startswith("Error: ") and err.count("\n") == 1


def test_redact_text_finds_urls_anywhere() -> None:
    text = f"cannot read 's3://K:{SECRET}@b/x' nor (https://u:{SECRET}@h/p?sig={SECRET}&a=1) in s3://plain/x@v1"
    out = redact_text(text)
    assert SECRET not in out
    assert (
        "s3://***@b/x" in out and "https://***@h/p?sig=***&a=1" in out and "s3://plain/x@v1" in out
    )


def test_log_and_show_escape_control_characters(repo: Path, tmp_path: Path) -> None:
    message = "line one\nline two\x1b[31m red\x07 bell \u202eevil\r"
    src = tmp_path / "v2.csv"
    src.write_text("id,x\n1,a\n2,b\n3,c\n")
    code, _, err = invoke(
        "--repo",
        str(repo),
        "-q",
        "snapshot",
        str(src),
        "-d",
        "orders",
        "-m",
        message,
        "--meta",
        "k\x1b=v\n2",
    )
    assert code == 0, err
    for args in (["log", "orders"], ["show", "orders"]):
        code, out, err = invoke("--repo", str(repo), *args)
        text = out.decode()
        assert code == 0, err
        assert not CONTROL.search(text.replace("\n", "")), (args, text)
        assert "line one\\nline two\\x1b[31m red\\x07 bell \\u202eevil\\r" in text, text
    # JSON keeps the exact message (escaped by JSON itself).
    code, out, _ = invoke("--repo", str(repo), "log", "orders", "--json")
    assert json.loads(out)[0]["message"] == message


def test_error_lines_escape_control_characters(repo: Path, tmp_path: Path) -> None:
    code, _, err = invoke(
        "--repo", str(repo), "-q", "snapshot", str(tmp_path / "no\nsuch\x1b[2J.csv"), "-d", "orders"
    )
    assert code == 2 and err.count("\n") == 1 and "\x1b" not in err, err
    assert "no\\nsuch\\x1b[2J.csv" in err


def test_junit_with_control_characters_in_a_column_name_is_well_formed(
    repo: Path, tmp_path: Path
) -> None:
    src = tmp_path / "odd.csv"
    src.write_text('"a\x01b","c\x1bd"\n1,x\n-5,y\n')
    schema = tmp_path / "s.yaml"
    schema.write_text(
        "schema_type: dataframe\nversion: 0.35.0\ncolumns:\n"
        '  "a\\x01b":\n    dtype: int64\n    checks:\n      greater_than_or_equal_to: 0\n'
        '  "c\\x1bd":\n    dtype: str\n'
    )
    report = tmp_path / "report.xml"
    code, _, err = invoke(
        "--repo",
        str(repo),
        "validate",
        str(src),
        "--schema",
        str(schema),
        "--format",
        "junit",
        "-o",
        str(report),
    )
    assert code == 1, err
    root = ET.fromstring(report.read_bytes())
    names = [c.get("classname") for c in root.iter("testcase")]
    assert any(n and "a\\x01b" in n for n in names), names
    assert root.find(".//failure") is not None
