"""The diff report's validation section: ``diff --schema`` and the verdicts recorded at snapshot.

v1 fails ``month in_range(1, 12)`` once; v2 fails it three times and adds a
null ``city`` (a check that passed in v1: a *new* failure). Every format
shows both sides and marks the new failure; NEW failing is exit 1, OLD failing
alone is not; a bad schema is exit 2 before anything runs.
"""

from __future__ import annotations

import json
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
import yaml
from markdown_it import MarkdownIt

import dvtool
from clitools import invoke, tree_digest

V1 = "id,month,city\n1,1,Paris\n2,2,Lyon\n3,13,Nice\n4,5,Oslo\n"
V2 = "id,month,city\n1,1,Paris\n2,14,Lyon\n3,13,Nice\n4,5,\n5,0,Rome\n"
SCHEMA = """schema_type: dataframe
version: 0.35.0
columns:
  month:
    dtype: int64
    checks:
      in_range: {min_value: 1, max_value: 12}
  city:
    dtype: str
    nullable: false
"""
LOOSE = """schema_type: dataframe
version: 0.35.0
columns:
  month:
    dtype: int64
"""


def _cli(*args: str) -> tuple[int, str, str]:
    code, out, err = invoke(*args)
    return code, out.decode(), err


@pytest.fixture
def repo(tmp_path: Path) -> tuple[str, Path]:
    url = str(tmp_path / "repo")
    assert _cli("init", url)[0] == 0
    for n, text in ((1, V1), (2, V2)):
        (tmp_path / f"v{n}.csv").write_text(text, encoding="utf-8")
        code, _, err = _cli(
            "--repo", url, "snapshot", str(tmp_path / f"v{n}.csv"), "-d", "t", "--key", "id"
        )
        assert code == 0, err
    (tmp_path / "s.yaml").write_text(SCHEMA, encoding="utf-8")
    (tmp_path / "loose.yaml").write_text(LOOSE, encoding="utf-8")
    return url, tmp_path


def test_text_shows_both_sides_and_marks_the_new_failure(repo: tuple[str, Path]) -> None:
    url, folder = repo
    code, out, err = _cli("--repo", url, "diff", "t", "--schema", str(folder / "s.yaml"))
    assert (code, err) == (1, "")
    section = out[out.index("validation against") : out.index("added (first")].splitlines()
    assert section == [
        f"validation against {folder / 's.yaml'}:",
        "  old t@v1: FAILED (4 rows; 1 error, 0 warnings; 1 chunk checked, 0 reused)",
        "    ✗ error month: in_range(1, 12): 1 failure",
        "        e.g. 13 ×1 (row 3; id=3)",
        "  new t@v2: FAILED (5 rows; 2 errors, 0 warnings; 2 chunks checked, 0 reused)",
        "    ✗ error month: in_range(1, 12): 3 failures",
        "        e.g. 14 ×1 (row 2; id=2); 13 ×1 (row 3; id=3); 0 ×1 (row 5; id=5)",
        "    ✗ error city: not_nullable: 1 failure  NEW",
        "        e.g. null ×1 (row 4; id=4)",
        "  new: 1 check failing in t@v2 passed in t@v1",
    ]


def test_json_names_each_side_and_reuses_cached_verdicts(repo: tuple[str, Path]) -> None:
    url, folder = repo
    args = (
        "--repo",
        url,
        "diff",
        "t@v1",
        "t@v2",
        "--schema",
        str(folder / "s.yaml"),
        "--format",
        "json",
    )
    code, out, _ = _cli(*args)
    v = json.loads(out)["validation"]
    assert code == 1
    assert (v["schema"], v["passed"], v["new_failures"]) == (str(folder / "s.yaml"), False, 1)
    assert (v["old"]["target"], v["old"]["source"], v["old"]["ok"]) == ("t@v1", "checked", False)
    assert [
        (f["column"], f["check"], f["failure_count"], f["new"]) for f in v["new"]["failures"]
    ] == [
        ("month", "in_range(1, 12)", 3, False),
        ("city", "not_nullable", 1, True),
    ]
    assert v["new"]["failures"][1]["examples"] == [
        {"value": None, "count": 1, "row": 4, "key": {"id": 4}}
    ]
    assert "new" not in v["old"]["failures"][0]
    # The second run reads no chunk: every verdict is remembered in the repository.
    again = json.loads(_cli(*args)[1])["validation"]
    assert (again["old"]["chunks_checked"], again["new"]["chunks_checked"]) == (0, 0)
    assert again["new"]["chunks_reused"] == v["new"]["chunks_checked"] + v["new"]["chunks_reused"]
    assert again["new"]["failures"] == v["new"]["failures"]


def test_only_new_decides_the_exit_code(repo: tuple[str, Path]) -> None:
    url, folder = repo
    (folder / "city.yaml").write_text(
        "schema_type: dataframe\nversion: 0.35.0\ncolumns:\n  city:\n    dtype: str\n"
        "    nullable: false\n",
        encoding="utf-8",
    )
    code, out, _ = _cli(
        "--repo", url, "diff", "t@v1", "t@v2", "--schema", str(folder / "city.yaml")
    )
    assert code == 1 and "old t@v1: passed" in out and "new t@v2: FAILED" in out
    # OLD fails, NEW passes: the gate is open (OLD is the baseline, only reported).
    code, out, _ = _cli(
        "--repo", url, "diff", "t@v2", "t@v1", "--schema", str(folder / "city.yaml")
    )
    assert code == 0 and "old t@v2: FAILED" in out and "new t@v1: passed" in out
    # --exit-code still says whether anything differs.
    code, _, _ = _cli(
        "--repo", url, "diff", "t@v1", "t@v2", "--schema", str(folder / "loose.yaml"), "--exit-code"
    )
    assert code == 1
    code, _, _ = _cli(
        "--repo", url, "diff", "t@v2", "t@v2", "--schema", str(folder / "loose.yaml"), "--exit-code"
    )
    assert code == 0


def test_markdown_junit_and_github(repo: tuple[str, Path]) -> None:
    url, folder = repo
    base = ("--repo", url, "diff", "t", "--schema", str(folder / "s.yaml"), "--format")
    code, md, _ = _cli(*base, "markdown")
    assert code == 1 and f"#### ❌ Validation against {folder / 's.yaml'}" in md.replace("\\_", "_")
    tokens = MarkdownIt("commonmark").enable("table").parse(md)
    rows = []
    for i, tok in enumerate(tokens):
        if tok.type == "tr_open":
            rows.append([])
        elif tok.type in ("td_open", "th_open"):
            rows[-1].append("".join(c.content for c in tokens[i + 1].children or ()))
    assert ["new", "error (new)", "city", "not_nullable", "1", "null ×1 (row 4; id=4)"] in rows
    assert ["old", "error", "month", "in_range(1, 12)", "1", "13 ×1 (row 3; id=3)"] in rows

    code, xml, _ = _cli(*base, "junit")
    suite = ET.fromstring(xml.split("\n", 1)[1])
    assert code == 1 and suite.tag == "testsuite" and suite.get("failures") == "2"
    failed = {
        (c.get("classname"), c.get("name"))
        for c in suite.iter("testcase")
        if c.find("failure") is not None
    }
    assert failed == {("validation.month", "in_range(1, 12)"), ("validation.city", "not_nullable")}

    policy = folder / "drift.yaml"
    policy.write_text(yaml.safe_dump({"table": {"row_count_rel_change": 0.1}}))
    code, xml, _ = _cli(*base, "junit", "--policy", str(policy))
    both = ET.fromstring(xml.split("\n", 1)[1])
    assert code == 1 and both.tag == "testsuites" and len(both.findall("testsuite")) == 2
    assert both.get("failures") == "3"  # the row count moved 25%, and the two checks

    code, gh, _ = _cli(*base, "github")
    lines = gh.splitlines()
    assert code == 1 and len(lines) == 3
    assert lines[0].startswith("::error title=validation%3A city%3A not_nullable::")
    assert "(new: passes in the old version)" in lines[0]
    assert lines[2].startswith("::notice title=dvtool diff validation::")


def test_html_has_a_validation_section(repo: tuple[str, Path]) -> None:
    url, folder = repo
    out = folder / "review.html"
    code, _, err = _cli(
        "--repo",
        url,
        "diff",
        "t",
        "--schema",
        str(folder / "s.yaml"),
        "--format",
        "html",
        "-o",
        str(out),
    )
    page = out.read_text(encoding="utf-8")
    assert code == 1 and "validation: t@v2 FAILED" in err
    assert '<h2 id="validation">' in page and 'data-side="new"' in page
    assert '<span class="badge bad">new</span>' in page


def test_a_bad_schema_is_exit_2_before_anything_runs(repo: tuple[str, Path]) -> None:
    url, folder = repo
    before = tree_digest(Path(url))
    (folder / "bad.yaml").write_text("columns: [\n", encoding="utf-8")
    (folder / "typo.yaml").write_text(SCHEMA.replace("in_range", "in_rnge"), encoding="utf-8")
    for name in ("bad.yaml", "missing.yaml", "typo.yaml"):
        code, out, err = _cli("--repo", url, "diff", "t", "--schema", str(folder / name))
        assert (code, out) == (2, ""), (name, err)
        assert err.startswith("Error: ") and err.count("\n") == 1, err
    assert tree_digest(Path(url)) == before
    code, _, err = _cli("--repo", url, "diff", "t", "--format", "junit")
    assert code == 2 and "add --policy FILE or --schema FILE" in err


def test_recorded_verdicts_without_a_schema(repo: tuple[str, Path]) -> None:
    url, folder = repo
    code, out, _ = _cli("--repo", url, "diff", "t")
    assert code == 0 and "validation" not in out  # nothing recorded, nothing to say
    v = json.loads(_cli("--repo", url, "diff", "t", "--format", "json")[1])["validation"]
    assert (v["old"]["source"], v["new"]["source"], v["passed"]) == ("none", "none", True)
    (folder / "v3.csv").write_text(V2 + "6,3,Bern\n", encoding="utf-8")
    code, _, err = _cli(
        "--repo",
        url,
        "snapshot",
        str(folder / "v3.csv"),
        "-d",
        "t",
        "--key",
        "id",
        "--schema",
        str(folder / "loose.yaml"),
    )
    assert code == 0, err
    code, out, _ = _cli("--repo", url, "diff", "t")
    assert code == 0
    assert "validation (recorded at snapshot):\n  old t@v2: not validated at snapshot\n" in out
    assert (
        f"  new t@v3: passed at snapshot against {folder / 'loose.yaml'}: 0 errors, 0 warnings\n"
        in out
    )
    v = json.loads(_cli("--repo", url, "diff", "t", "--format", "json")[1])["validation"]
    assert v["new"] == {
        "target": "t@v3",
        "source": "recorded",
        "ok": True,
        "schema": str(folder / "loose.yaml"),
        "schema_fingerprint": v["new"]["schema_fingerprint"],
        "errors": 0,
        "warnings": 0,
    }
    assert v["new"]["schema_fingerprint"].startswith("xxh128:")


def test_a_source_side_is_validated_as_the_diff_read_it(tmp_path: Path) -> None:
    data = tmp_path / "d.csv"
    data.write_text("id,month,city\n1,1,-\n2,2,Lyon\n", encoding="utf-8")
    (tmp_path / "s.yaml").write_text(SCHEMA, encoding="utf-8")
    repo = dvtool.Repo.init(str(tmp_path / "repo"))
    repo.snapshot(str(data), dataset="t", key=["id"], read=dvtool.ReadOptions(null_values=("-",)))
    found = repo.diff("t", str(data), schema=str(tmp_path / "s.yaml"))
    assert found.empty and found.validation is not None and not found.passed
    old, new = found.validation.old, found.validation.new
    assert (
        [f.label for f in old.failures] == [f.label for f in new.failures] == ["city: not_nullable"]
    )
    assert found.validation.new_failures == ()


def test_without_a_repository(tmp_path: Path) -> None:
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    a.write_text(V1, encoding="utf-8")
    b.write_text(V2, encoding="utf-8")
    (tmp_path / "s.yaml").write_text(SCHEMA, encoding="utf-8")
    found = dvtool.diff_sources(str(a), str(b), key=["id"], schema=str(tmp_path / "s.yaml"))
    assert not found.passed and found.validation is not None
    assert [f.label for f in found.validation.new_failures] == ["city: not_nullable"]
    assert dvtool.diff_sources(str(a), str(b), key=["id"]).validation is None
    code, out, _ = _cli("diff", str(a), str(b), "--key", "id", "--schema", str(tmp_path / "s.yaml"))
    assert code == 1 and f"new {b}: FAILED" in out
