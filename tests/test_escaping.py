"""Values holding control characters, pipes and markup through every output kind.

A cell may hold ``\\x1b[31m``, ``\\r``, ``\\x00``, a newline or a ``|``. No
output may let it through raw: the text reports carry no control character
(a terminal would act on it), a markdown table keeps its rows and shows the
value as written, a JUnit file parses as XML 1.0, a GitHub workflow command
stays one line. Checked with Hypothesis over arbitrary unicode cells for the
diff (text, JSON, markdown, JUnit, GitHub, HTML), the validation report (the
same formats) and the query's text table.
"""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path
from xml.etree import ElementTree as ET

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

import dvtool
from dvtool.diff.report import _show
from dvtool.escaping import gh_data, gh_prop, md_cell, md_code, printable, xml_text
from dvtool.query import format_table

# What a terminal acts on: C0/C1 controls, DEL, line separators, bidi overrides.
RAW = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
NASTY = "c|\x1b[31m\r\n`<b>*_\\"  # a column name: every trap at once
CELLS = st.lists(st.text(max_size=12), min_size=3, max_size=3)
SCHEMA = (
    "schema_type: dataframe\nversion: 0.35.0\ncolumns:\n"
    f"  {json.dumps(NASTY)}:\n    dtype: str\n    nullable: true\n"
    "    checks:\n      isin: [ok]\n"
)


def _md() -> MarkdownIt:
    return MarkdownIt("commonmark").enable("table").enable("strikethrough")


def _tables(markdown: str) -> list[list[list[str]]]:
    """Each table as rows of cells, each cell's text as a reader sees it."""
    tables: list[list[list[str]]] = []
    tokens = _md().parse(markdown)
    row: list[str] | None = None
    for i, tok in enumerate(tokens):
        if tok.type == "table_open":
            tables.append([])
        elif tok.type == "tr_open":
            row = []
        elif tok.type == "tr_close" and row is not None:
            tables[-1].append(row)
        elif tok.type in ("td_open", "th_open") and row is not None:
            inline = tokens[i + 1]
            row.append("".join(c.content for c in inline.children or ()))
    return tables


def _no_raw(text: str) -> None:
    found = RAW.search(text)
    assert found is None, f"raw {found.group(0)!r} in output"


def _tables_of_sides(old: list[str], new: list[str]) -> tuple[pa.Table, pa.Table]:
    ids = pa.array([1, 2, 3], pa.int64())
    return (
        pa.table({"id": ids, NASTY: pa.array(old, pa.string())}),
        pa.table({"id": ids, NASTY: pa.array(new, pa.string())}),
    )


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(old=CELLS, new=CELLS)
def test_diff_outputs_hold_any_cell(old: list[str], new: list[str]) -> None:
    a, b = _tables_of_sides(old, new)
    policy = {"columns": {"*": {"new_categories": 0}}}
    d = dvtool.diff_sources(a, b, key=["id"], policy=policy)
    changed = [i for i in range(3) if old[i] != new[i]]
    assert d.rows.changed == len(changed)

    text = d.render("text")
    _no_raw(text)
    assert sum(line.startswith("  ~ id=") for line in text.split("\n")) == len(changed)

    doc = json.loads(d.render("json"))
    assert [
        (c["changes"][NASTY]["old"], c["changes"][NASTY]["new"]) for c in doc["samples"]["changed"]
    ] == [(old[i], new[i]) for i in changed]

    markdown = d.render("markdown")
    _no_raw(markdown)
    samples = [t for t in _tables(markdown) if t[0] == ["key", "column", "old → new"]]
    if changed:
        (table,) = samples
        assert table[1:] == [
            [
                f"id={i + 1}",
                printable(NASTY),
                f"{printable(_show(old[i]))} → {printable(_show(new[i]))}",
            ]
            for i in changed
        ]
    else:
        assert samples == []
    for table in _tables(markdown):
        assert {len(r) for r in table} == {len(table[0])}

    junit = d.render("junit")
    root = ET.fromstring(junit.split("\n", 1)[1])  # XML 1.0: a control character would not parse
    assert root.tag == "testsuite" and int(root.get("tests", "0")) >= 1

    github = d.render("github")
    lines = github.rstrip("\n").split("\n")
    _no_raw(github)
    assert all(line.startswith("::") for line in lines)
    assert len(lines) == len(d.policy.breaches) + 1 if d.policy is not None else False

    page = d.render("html")
    assert "\x1b" not in page and "\x00" not in page and "\r" not in page


@pytest.fixture(scope="module")
def schema_file() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="dvtool-escaping-"))
    path = folder / "schema.yaml"
    path.write_text(SCHEMA, encoding="utf-8")
    return path


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(cells=CELLS)
def test_validation_outputs_hold_any_failing_value(schema_file: Path, cells: list[str]) -> None:
    table = pa.table({"id": pa.array([1, 2, 3], pa.int64()), NASTY: pa.array(cells, pa.string())})
    report = dvtool.validate_source(table, schema=str(schema_file))
    failing = sum(c != "ok" for c in cells)
    assert report.ok == (failing == 0)

    text = report.render("text")
    _no_raw(text)
    markdown = report.render("markdown")
    _no_raw(markdown)
    tables = _tables(markdown)
    if failing:
        (t,) = tables
        assert len(t) == 1 + len(report.errors) and {len(r) for r in t} == {5}
        assert t[1][1] == printable(NASTY)  # the column, shown as written (controls escaped)
    ET.fromstring(report.render("junit").split("\n", 1)[1])
    github = report.render("github")
    _no_raw(github)
    assert len(github.rstrip("\n").split("\n")) == len(report.errors) + 1
    assert json.loads(report.render("json"))["ok"] == report.ok
    page = report.render("html")
    assert "\x1b" not in page and "\x00" not in page


@settings(max_examples=40, deadline=None)
@given(cells=CELLS)
def test_query_table_holds_any_cell(cells: list[str]) -> None:
    text = format_table(pa.table({NASTY: pa.array(cells, pa.string())}))
    _no_raw(text)
    assert len(text.rstrip("\n").split("\n")) == 3 + 3  # header, rule, three rows, count


def test_each_kind_by_example() -> None:
    value = "a|b\x1b[31m\r\n\x00`*x*` <i>&amp; \\"
    assert printable(value) == "a|b\\x1b[31m\\r\\n\\x00`*x*` <i>&amp; \\"
    assert md_cell(value) == r"a\|b\\x1b[31m\\r\\n\\x00\`\*x\*\` &lt;i&gt;&amp;amp; \\"
    # Only what could start markup: order_id stays as written, a link cannot form.
    assert md_cell("order_id _x_ [a](b)") == r"order_id \_x\_ [a]\(b)"
    assert md_code("a`b\x1b") == "a'b\\x1b"
    assert gh_data("50%\r\nx\x1b") == "50%25%0D%0Ax\\x1b"
    assert gh_prop("a:b,c") == "a%3Ab%2Cc"
    assert xml_text("a\x00b\x1bc\ufffe") == "a\\x00b\\x1bc\\ufffe"
    assert printable("\u202eevil\u2028") == "\\u202eevil\\u2028"


def test_cli_diff_text_of_a_file_with_escape_sequences(tmp_path: Path) -> None:
    from clitools import invoke

    a = tmp_path / "a.csv"
    b = tmp_path / "b.csv"
    a.write_text('id,v\n1,"plain"\n', encoding="utf-8")
    b.write_text('id,v\n1,"\x1b[31mred\r\n|x"\n', encoding="utf-8")
    shown = '"plain" → "\\u001b[31mred\\r\\n|x"'  # the value as JSON, one line
    code, out, err = invoke("diff", str(a), str(b), "--key", "id")
    assert code == 0, err
    _no_raw(out.decode())
    assert out.decode().endswith(f"  ~ id=1  v: {shown}\n")
    code, out, err = invoke("diff", str(a), str(b), "--key", "id", "--format", "markdown")
    assert code == 0, err
    _no_raw(out.decode())
    assert _tables(out.decode())[-1][1] == ["id=1", "v", shown]


def test_chart_labels_are_data_not_expressions() -> None:
    """Found by the Hypothesis test above: a category "if" broke the chart (Vega-Lite put the
    sort order, as a list of labels, into an expression); ESC aborted the renderer."""
    from dvtool import charts

    for label in ("if", "while", "this", "a'b", 'q"q', "\x1b[31m", "\uffff"):
        svg = charts.category_bars("c\x1b", [("first", 0.1, 0.2), (label, 0.5, 0.4)])
        assert "\x1b" not in svg and "\uffff" not in svg
        if label.isalpha():  # the order given is the order drawn: "first" is the upper bar
            assert svg.index(">first<") < svg.index(f">{label}<")
        charts.bars("t", [("first", 1.0), (label, 2.0)], x_title="rows")
