"""The console's charts: SVG drawn on the server, well formed, escaped, no inline style."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pytest

from shared.entrypoints.console import charts

T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
SVG = "{http://www.w3.org/2000/svg}"


def parse(markup: str) -> ET.Element:
    return ET.fromstring(str(markup))  # noqa: S314 - SVG this code drew


def test_settled_payouts_are_cumulative_step_lines_with_a_legend():
    paid = charts.cumulative([T0 + timedelta(seconds=s) for s in (30, 10, 20)])
    assert [v for _, v in paid] == [1.0, 2.0, 3.0]
    assert [t for t, _ in paid] == sorted(t for t, _ in paid)
    svg = parse(
        charts.time_series_chart(
            [charts.Series("paid", paid), charts.Series("failed", charts.cumulative([T0]))],
            title="Payouts settled over time",
            chart_id="settled",
        )
    )
    paths = svg.findall(f"{SVG}path")
    assert len(paths) == 2
    assert paths[0].attrib["d"].startswith("M") and "V" in paths[0].attrib["d"]
    texts = [t.text for t in svg.iter(f"{SVG}text")]
    assert "paid (3)" in texts and "failed (1)" in texts
    assert svg.find(f"{SVG}title").text == "Payouts settled over time"


def test_failures_by_code_are_bars_largest_first():
    svg = parse(charts.bar_chart([("declined", 2), ("account_closed", 7)], title="Failures", chart_id="f"))
    labels = [t.text for t in svg.iter(f"{SVG}text") if t.attrib.get("text-anchor") == "end"]
    assert labels == ["account_closed", "declined"]
    widths = [float(r.attrib["width"]) for r in svg.iter(f"{SVG}rect")]
    assert widths[0] > widths[1]


@pytest.mark.parametrize("kind", ["series", "bars"])
def test_labels_are_escaped_never_markup(kind):
    evil = '<script>alert("x")</script>&'
    if kind == "series":
        markup = charts.time_series_chart([charts.Series(evil, [(T0, 1.0)])], title=evil, chart_id="c")
    else:
        markup = charts.bar_chart([(evil, 3)], title=evil, chart_id="c")
    assert "<script>" not in str(markup)
    svg = parse(markup)  # still well formed
    assert not list(svg.iter(f"{SVG}script"))
    assert any(evil in (t.text or "") for t in svg.iter())


@pytest.mark.parametrize(
    "markup",
    [
        charts.time_series_chart([], title="Nothing", chart_id="a"),
        charts.bar_chart([], title="None", chart_id="b"),
        charts.time_series_chart([charts.Series("one", [(T0, 1.0)])], title="One point", chart_id="c"),
    ],
)
def test_empty_and_single_point_charts_render_and_use_no_inline_style(markup):
    svg = parse(markup)
    assert svg.attrib["role"] == "img"
    for element in svg.iter():
        assert "style" not in element.attrib, "the console's CSP forbids inline styles"


@pytest.mark.parametrize(
    ("value", "ceiling"), [(0, 1), (1, 1), (3, 5), (7, 10), (12, 20), (240, 500), (1001, 2000)]
)
def test_axes_end_on_a_round_number(value, ceiling):
    assert charts.nice_ceiling(value) == ceiling
