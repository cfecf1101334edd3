"""Charts as self-contained SVG: the one owner of altair and vl-convert.

Charts are Vega-Lite specs built with altair from data already binned in
DuckDB (a few dozen rows, inlined as ``values``: nothing is fetched), rendered
to SVG by vl-convert's embedded engine (no browser, no network). The SVG goes
inline into an HTML report. Both libraries are imported on first use only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dvtool.errors import UsageError
from dvtool.escaping import printable, xml_text

__all__ = ["NEW_COLOR", "OLD_COLOR", "bars", "category_bars", "histogram"]

OLD_COLOR = "#4c78a8"
NEW_COLOR = "#e45756"
_WIDTH, _HEIGHT = 340, 140


def _libs() -> tuple[Any, Any]:
    try:
        import altair
        import vl_convert
    except ImportError as exc:  # pragma: no cover - both are dependencies of dvtool
        raise UsageError(
            f"HTML reports need altair and vl-convert-python ({exc.name} is missing): "
            "pip install 'altair>=5' 'vl-convert-python>=1.6'"
        ) from None
    return altair, vl_convert


def _svg(chart: Any, description: str) -> str:
    _, vlc = _libs()
    # The specs are built here from plain numbers: schema validation (jsonschema) is skipped.
    spec = chart.properties(description=description).to_json(validate=False)
    svg: str = vlc.vegalite_to_svg(spec)
    return svg


def _text(text: str) -> str:
    """A title or label for the chart: vl-convert lays text out as XML and aborts the process
    (a Rust panic, not an exception) on a character XML cannot hold, such as ESC."""
    return xml_text(printable(text))


def _color(alt: Any) -> Any:
    return alt.Color(
        "version:N",
        scale=alt.Scale(domain=["old", "new"], range=[OLD_COLOR, NEW_COLOR]),
        legend=alt.Legend(title=None, orient="top"),
    )


def histogram(title: str, bins: Sequence[tuple[float, float, float, float]]) -> str:
    """Old and new share of values per bin, overlaid: ``bins`` = (lo, hi, old share, new share)."""
    title = _text(title)
    alt, _ = _libs()
    rows = [
        {"lo": lo, "hi": hi, "version": version, "share": share}
        for lo, hi, so, sn in bins
        for version, share in (("old", so), ("new", sn))
    ]
    chart = (
        alt.Chart(alt.Data(values=rows))
        .mark_rect(opacity=0.55)
        .encode(
            x=alt.X("lo:Q", title=title, scale=alt.Scale(zero=False)),
            x2="hi:Q",
            y=alt.Y("share:Q", stack=None, title="share of values", axis=alt.Axis(format="%")),
            y2=alt.datum(0),
            color=_color(alt),
        )
        .properties(width=_WIDTH, height=_HEIGHT, title=title)
    )
    return _svg(chart, f"Histogram of {title}: share of values per bin, old and new version")


def category_bars(
    title: str,
    values: Sequence[tuple[str, float, float]],
    *,
    x_title: str = "share of rows",
    percent: bool = True,
) -> str:
    """Old and new bars per label: ``values`` = (label, old, new), shares (or counts)."""
    title = _text(title)
    values = [(_text(label), so, sn) for label, so, sn in values]
    alt, _ = _libs()
    # Ordered by a field, not by a list of labels: Vega-Lite writes such a list into an
    # expression, and some labels (a value "if") break it.
    rows = [
        {"value": label, "version": version, "amount": amount, "order": i}
        for i, (label, so, sn) in enumerate(values)
        for version, amount in (("old", so), ("new", sn))
    ]
    axis = alt.Axis(format="%") if percent else alt.Axis(format="~s")
    chart = (
        alt.Chart(alt.Data(values=rows))
        .mark_bar()
        .encode(
            y=alt.Y(
                "value:N",
                sort=alt.EncodingSortField("order", op="min"),
                title=None,
                axis=alt.Axis(labelLimit=180),
            ),
            yOffset=alt.YOffset("version:N", sort=["old", "new"]),
            x=alt.X("amount:Q", title=x_title, axis=axis),
            color=_color(alt),
        )
        .properties(width=_WIDTH, height=max(60, 22 * len(values)), title=title)
    )
    return _svg(chart, f"{title}: {x_title} per value, old and new version")


def bars(title: str, values: Sequence[tuple[str, float]], *, x_title: str) -> str:
    """One bar per label: ``values`` = (label, amount)."""
    title = _text(title)
    values = [(_text(label), amount) for label, amount in values]
    alt, _ = _libs()
    rows = [
        {"label": label, "amount": amount, "order": i} for i, (label, amount) in enumerate(values)
    ]
    chart = (
        alt.Chart(alt.Data(values=rows))
        .mark_bar(color=NEW_COLOR)
        .encode(
            y=alt.Y(
                "label:N",
                sort=alt.EncodingSortField("order", op="min"),
                title=None,
                axis=alt.Axis(labelLimit=260),
            ),
            x=alt.X("amount:Q", title=x_title, axis=alt.Axis(format="~s", tickMinStep=1)),
        )
        .properties(width=_WIDTH, height=max(40, 20 * len(values)), title=title)
    )
    return _svg(chart, f"{title}: {x_title} per label")
