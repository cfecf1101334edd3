"""A fixture with planted changes, for the review tests (tests/diff/test_review.py, test_browser.py).

``amount`` shifted by +10 (a shifted mean), ``note`` 20% null where it had
none (a raised null rate), ``category`` with a new value ``z``, ``price``
moved by 1.0 in 7 rows (beyond a 0.01 tolerance) and ``score`` by 0.001 in 30
rows (within it). ``user`` is untouched.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

N = 2000
POLICY = {
    "columns": {
        "*": {"null_rate_increase": 0.01, "mean_rel_change": 0.05, "new_categories": 0},
    }
}
LOOSE = {
    "columns": {
        "*": {"null_rate_increase": 0.5, "mean_rel_change": 0.5},
        "category": {"new_categories": 1},
    }
}
EXPECTED_BREACHES = {
    ("amount", "mean_rel_change"),
    ("note", "null_rate_increase"),
    ("category", "new_categories"),
}


def planted() -> tuple[pa.Table, pa.Table]:
    rng = np.random.default_rng(3)
    ids = np.arange(N, dtype=np.int64)
    amount = np.round(rng.normal(100, 10, N), 2)
    category = np.array(["a", "b", "c"])[rng.integers(0, 3, N)]
    note = np.array([f"n{i % 50}" for i in range(N)], dtype=object)
    price = np.round(rng.uniform(1, 50, N), 2)
    score = np.round(rng.uniform(0, 1, N), 4)
    user = rng.integers(0, 10**6, N)
    old = pa.table(
        {
            "id": ids,
            "amount": amount,
            "category": category,
            "note": pa.array(note, pa.string()),
            "price": price,
            "score": score,
            "user": user,
        }
    )
    note2 = note.copy()
    note2[: N // 5] = None
    category2 = category.copy()
    category2[::10] = "z"
    price2 = price.copy()
    price2[:7] += 1.0
    score2 = score.copy()
    score2[100:130] += 0.001
    new = pa.table(
        {
            "id": ids,
            "amount": amount + 10.0,
            "category": category2,
            "note": pa.array(note2, pa.string()),
            "price": price2,
            "score": score2,
            "user": user,
        }
    )
    return old, new
