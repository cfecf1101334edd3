"""Why a stored verdict is not trusted: each reason named exactly, nothing else crashes it."""

from __future__ import annotations

import json
from datetime import date

import pytest
import xxhash

from dvtool.format.verdictfile import ENGINE, encode_verdict, verdict_problem

AT = "validation/" + "a" * 32 + "/" + "b" * 32 + ".json"


def test_a_verdict_is_trusted_only_where_it_was_written() -> None:
    data = encode_verdict({"passed": True}, kind="validation-verdict", at=AT)
    assert verdict_problem(data, AT) is None
    other = AT.replace("b", "c")
    assert verdict_problem(data, other) == f"was written for {AT!r}, not for this key"


@pytest.mark.parametrize("data", [b"{", b"\xff\xfe", b""])
def test_bytes_that_are_not_json(data: bytes) -> None:
    assert verdict_problem(data, AT) == "is not JSON"


@pytest.mark.parametrize("value", [[1, 2], "text", 3, None, {"kind": "manifest"}, {}])
def test_json_that_is_not_a_verdict(value: object) -> None:
    assert verdict_problem(json.dumps(value).encode(), AT) == "is not a validation verdict"


def test_an_edited_verdict_does_not_match_its_checksum() -> None:
    d = json.loads(encode_verdict({"passed": False}, kind="validation-snapshot-verdict", at=AT))
    d["passed"] = True
    problem = verdict_problem(json.dumps(d).encode(), AT)
    assert problem == "does not match its checksum (edited or damaged)"


def test_another_engine_is_not_reused_but_is_no_damage() -> None:
    d = json.loads(encode_verdict({}, kind="validation-verdict", at=AT))
    assert d["engine"] == ENGINE
    d["engine"] = "dvtool-validation-1"
    assert verdict_problem(json.dumps(d).encode(), AT) is None
    del d["engine"]
    assert verdict_problem(json.dumps(d).encode(), AT) == "names no engine"


def test_the_stored_bytes_are_canonical_json_with_the_checksum_of_the_rest() -> None:
    """Sorted keys, no spaces, UTF-8 text as is, other values as their text."""
    data = encode_verdict(
        {"zone": "Zürich", "day": date(2026, 1, 2)}, kind="validation-verdict", at=AT
    )
    body = (
        f'{{"at":"{AT}","day":"2026-01-02","engine":"{ENGINE}","format":1,'
        '"kind":"validation-verdict","zone":"Zürich"}'
    )
    checksum = "xxh128:" + xxhash.xxh3_128_hexdigest(body.encode())
    expected = body.replace('"day"', f'"checksum":"{checksum}","day"')
    assert data.decode() == expected
    assert verdict_problem(data, AT) is None
