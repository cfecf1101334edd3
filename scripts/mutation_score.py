"""Print the mutation kill rate per module after `mutmut run` (`make mutate` calls it).

Reads mutmut's result files (mutants/**/*.py.meta). Killed = a test failed
(or timed out); survived = every test passed; no tests = no test runs the
mutated function (counted as survived: nothing would catch the change).
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

KILLED = {1, 3, 36, 24, -24, 152, 255, 37}
SURVIVED = {0, 5, 33}


def main() -> int:
    metas = sorted(Path("mutants").rglob("*.py.meta"))
    if not metas:
        print("no mutation results; run 'mutmut run' first", file=sys.stderr)
        return 2
    total: Counter[str] = Counter()
    print(f"{'module':44} {'mutants':>8} {'killed':>7} {'survived':>9} {'kill rate':>10}")
    for meta in metas:
        codes = json.loads(meta.read_text()).get("exit_code_by_key", {}).values()
        c = Counter(
            "killed" if x in KILLED else "survived" if x in SURVIVED else "other" for x in codes
        )
        done = c["killed"] + c["survived"]
        if not done:
            continue
        total.update(c)
        name = str(meta.relative_to("mutants")).removesuffix(".meta")
        print(
            f"{name:44} {done:8} {c['killed']:7} {c['survived']:9} {100 * c['killed'] / done:9.1f}%"
        )
    done = total["killed"] + total["survived"]
    rate = 100 * total["killed"] / done if done else 0.0
    print(f"{'all':44} {done:8} {total['killed']:7} {total['survived']:9} {rate:9.1f}%")
    if total["other"]:
        print(f"({total['other']} mutants not checked, skipped or suspicious are left out)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
