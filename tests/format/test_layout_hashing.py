"""Names, ids and clocks of the repository layout: edges mutation testing found unpinned."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from dvtool.errors import UsageError
from dvtool.format.hashing import hash_bytes, is_object_id, object_hex
from dvtool.format.layout import check_name, utc_now


@pytest.mark.parametrize("name", ["a..b", "x..", "v1..2"])
def test_two_dots_are_refused_anywhere_in_a_name(name: str) -> None:
    with pytest.raises(UsageError) as info:
        check_name(name)
    assert str(info.value).endswith(
        "(starting with a letter or digit, no '..', at most 128 characters)"
    )


def test_a_long_bad_name_is_shown_cut() -> None:
    name = "-" + "a" * 80  # 81 characters, invalid (starts with '-')
    with pytest.raises(UsageError) as info:
        check_name(name)
    assert name not in str(info.value) and repr(name)[:80] in str(info.value)
    short = "-" + "a" * 79  # 80 characters: shown whole
    with pytest.raises(UsageError, match=re.escape(repr(short))):
        check_name(short)


def test_good_names_pass() -> None:
    assert check_name("orders.v2_final-1") == "orders.v2_final-1"


def test_utc_now_is_iso_utc_with_microseconds(monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    monkeypatch.setenv("TZ", "America/New_York")  # UTC even where local time is not
    time.tzset()
    try:
        text = utc_now()
    finally:
        monkeypatch.undo()
        time.tzset()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", text)
    when = dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.UTC)
    assert abs((dt.datetime.now(dt.UTC) - when).total_seconds()) < 60


def test_object_hex() -> None:
    oid = hash_bytes(b"x")
    assert is_object_id(oid) and object_hex(oid) == oid.split(":")[1] and len(object_hex(oid)) == 32
    with pytest.raises(ValueError, match="not an object id: 'xxh128:zz'"):
        object_hex("xxh128:zz")
