"""Tolerances as the user writes them (``--tol COL=abs:X``, ``--abs-tol``) and as the diff applies them."""

from __future__ import annotations

import pytest

from dvtool.diff.columns import parse_tol
from dvtool.errors import UsageError


def test_a_column_name_may_hold_an_equals_sign() -> None:
    assert parse_tol("a=b=abs:0.5") == ("a=b", "abs", 0.5)
    assert parse_tol("x=rel:1e-3") == ("x", "rel", 0.001)


@pytest.mark.parametrize("spec", ["=abs:1", "x", "x=", "x=abs", "x=1", "x=max:1", "abs:1"])
def test_malformed_specs_are_refused(spec: str) -> None:
    with pytest.raises(UsageError, match=r"^--tol takes COL=abs:X or COL=rel:X, not "):
        parse_tol(spec)


def test_a_bad_value_names_the_spec() -> None:
    with pytest.raises(UsageError, match=r"^--tol x=abs:1:2 must be a number, not '1:2'$"):
        parse_tol("x=abs:1:2")
    with pytest.raises(UsageError, match=r"^--tol x=rel:-1 must be a finite number ≥ 0"):
        parse_tol("x=rel:-1")
