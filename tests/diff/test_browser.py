"""The HTML reports in a real headless Chromium (Debian's ``chromium``, driven by Playwright).

No browser download: Playwright launches the system's ``/usr/bin/chromium``
through ``executable_path``. Each page must open with no console error, no
uncaught exception and no request but the file itself, and draw a chart for
every changed column. A screenshot is written into the test's temp folder.
``make test`` runs these when a chromium is found (CI installs it).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from planted import EXPECTED_BREACHES, POLICY

from clitools import invoke

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or (
    "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None
)
ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    if CHROMIUM is None:
        pytest.skip("no chromium: install Debian's package with `apt-get install -y chromium`")
    from playwright.sync_api import sync_playwright

    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(
            str(profile),
            executable_path=CHROMIUM,
            args=ARGS,
            viewport={"width": 1280, "height": 900},
        )
        try:
            yield ctx
        finally:
            ctx.close()


def _open(ctx: Any, page_file: Path) -> tuple[Any, list[str], list[str], list[str]]:
    page = ctx.new_page()
    console: list[str] = []
    errors: list[str] = []
    requests: list[str] = []
    page.on("console", lambda m: console.append(m.text) if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: requests.append(r.url))
    page.goto(page_file.as_uri())
    page.wait_for_load_state("load")
    return page, console, errors, requests


def test_diff_report_in_chromium(browser: Any, tmp_path: Path, repo_dir: Path) -> None:
    policy = tmp_path / "drift.yaml"
    policy.write_text(yaml.safe_dump(POLICY))
    schema = tmp_path / "t.schema.yaml"
    schema.write_text(
        "schema_type: dataframe\nversion: 0.35.0\ncolumns:\n"
        "  amount:\n    dtype: float64\n    checks:\n      le: 120\n"
        "  note:\n    dtype: str\n    nullable: false\n"
    )
    report = tmp_path / "review.html"
    code, _, err = invoke(
        "--repo",
        str(repo_dir),
        "diff",
        "t@v1",
        "t@v2",
        "--abs-tol",
        "0.01",
        "--policy",
        str(policy),
        "--schema",
        str(schema),
        "--format",
        "html",
        "-o",
        str(report),
    )
    assert code == 1, err
    page, console, errors, requests = _open(browser, report)
    try:
        assert console == [] and errors == []
        assert requests == [report.as_uri()]
        for column in ("amount", "category", "note", "price", "score"):
            box = page.locator(f'figure[data-column="{column}"] svg').bounding_box()
            assert box is not None and box["width"] > 200 and box["height"] > 100, column
            # Vega drew marks, not an empty frame.
            assert (
                page.locator(
                    f'figure[data-column="{column}"] svg path, '
                    f'figure[data-column="{column}"] svg rect'
                ).count()
                > 5
            )
        assert page.locator("figure[data-column]").count() == 5
        breaches = page.locator("h2#policy + p + table tbody tr")
        assert {
            (
                breaches.nth(i).locator("td").nth(0).inner_text(),
                breaches.nth(i).locator("td").nth(1).inner_text(),
            )
            for i in range(breaches.count())
        } == EXPECTED_BREACHES
        # Validation: both sides shown, NEW's new failure (note: not_nullable) flagged.
        assert page.locator("h2#validation").is_visible()
        assert page.locator('[data-side="old"] .badge').inner_text() == "FAILED"
        assert page.locator('[data-side="new"] .badge').inner_text() == "FAILED"
        new_rows = page.locator("h3:has-text('Failing checks in new') + table tbody tr")
        flagged = {
            new_rows.nth(i).locator("td").nth(1).inner_text()
            for i in range(new_rows.count())
            if new_rows.nth(i).locator(".badge").count()
        }
        assert flagged == {"note"}
        shot = tmp_path / "review.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 20_000
    finally:
        page.close()


def test_validation_report_in_chromium(browser: Any, tmp_path: Path) -> None:
    data = tmp_path / "d.csv"
    data.write_text("id,month\n1,1\n2,13\n3,14\n")
    schema = tmp_path / "s.yaml"
    schema.write_text(
        "schema_type: dataframe\nversion: 0.35.0\ncolumns:\n  month:\n    dtype: int64\n"
        "    checks:\n      in_range: {min_value: 1, max_value: 12}\n"
    )
    report = tmp_path / "validation.html"
    code, _, err = invoke(
        "validate", str(data), "--schema", str(schema), "--format", "html", "-o", str(report)
    )
    assert code == 1, err
    page, console, errors, requests = _open(browser, report)
    try:
        assert console == [] and errors == [] and requests == [report.as_uri()]
        box = page.locator('figure[data-chart="failures"] svg').bounding_box()
        assert box is not None and box["width"] > 200
        page.screenshot(path=str(tmp_path / "validation.png"), full_page=True)
    finally:
        page.close()
