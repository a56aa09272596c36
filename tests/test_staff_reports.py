"""The season report page (``/staff/reports``), its SVG charts and its CSV tables, on each
database. With the demo data, the 2022 season shows the office's published figures; the charts
and tables are checked against figures worked out here from the shipped season files."""

from __future__ import annotations

import csv
import io
import re
import xml.etree.ElementTree as ET
from collections import defaultdict
from datetime import date

import pytest

from reservations.base.seeding.demo import load_demo
from reservations.staff.charts import BarChart, Series, nice_maximum, render
from tests.test_demo import season_rows

#: The office's published figures ("Visites de fermes", 2022 report).
PUBLISHED = {"planned": 160, "held": 76, "adults": 326, "children": 200, "participants_2021": 424}
SVG = "{http://www.w3.org/2000/svg}"
WEEKDAY_NAMES = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
HEADER = (
    "scope,key,slots_planned,slots_held,held_rate,cancelled_under_minimum,cancelled_provider,"
    "cancelled_illness,cancelled_weather,cancelled_fire_risk,cancelled_staff,cancelled_other,"
    "seats_offered,seats_booked,fill_rate,participants_adults,participants_children,"
    "participants_total,attendance_rate"
)


def plain(html: str) -> str:
    """The page's text with Babel's no-break spaces made plain and whitespace collapsed."""
    text = re.sub(r"<[^>]+>", " ", html).replace("\xa0", " ").replace("\u202f", " ")
    return re.sub(r"\s+", " ", text)


def charts(html: str) -> dict[str, ET.Element]:
    """The page's SVG charts by their accessible name."""
    found = {}
    for markup in re.findall(r"<svg\b.*?</svg>", html, flags=re.DOTALL):
        svg = ET.fromstring(markup)
        found[svg.attrib["aria-label"]] = svg
    return found


def by_weekday_from_files(year: int) -> dict[str, dict[str, int]]:
    """Planned, held, offered and booked per weekday, from the season's CSV file."""
    figures: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for row in season_rows(year):
        day = WEEKDAY_NAMES[date.fromisoformat(row["date"]).weekday()]
        figures[day]["planned"] += 1
        figures[day]["held"] += row["outcome"] == "held"
        figures[day]["offered"] += int(row["capacity"])
        figures[day]["booked"] += int(row["booked_adults"]) + int(row["booked_children"])
    return figures


async def test_the_2022_page_shows_the_published_figures_and_the_charts(staff, db):
    client, _ = staff
    await load_demo(db)
    page = await client.get("/staff/reports", params={"season": "2022"})
    assert page.status_code == 200, page.text
    text = plain(page.text)
    held_rate = PUBLISHED["held"] / PUBLISHED["planned"]
    assert f"{held_rate * 100:.1f}".replace(".", ",") == "47,5"
    assert "Visites programmées 160" in text
    assert "Visites réalisées 76 (47,5 %)" in text
    assert "Participants 526 (326 adultes, 200 enfants)" in text
    assert "Participants 526 424" in text, "2022 beside 2021 in the comparison table"
    change = 526 / PUBLISHED["participants_2021"] - 1
    assert f"+{change * 100:.1f} %".replace(".", ",") in text  # +24,1 %

    found = charts(page.text)
    assert len(found) >= 7  # participants, outcomes, 4 groupings, channels
    for svg in found.values():
        assert svg.attrib["role"] == "img"
        assert svg[0].tag == f"{SVG}title" and svg[0].text == svg.attrib["aria-label"]
        assert svg.find(f"{SVG}desc") is not None
    assert "<script" not in page.text

    weekday_chart = found["Taux de maintien et de remplissage par jour de la semaine"]
    expected = by_weekday_from_files(2022)
    days = [d for d in WEEKDAY_NAMES if d in expected]
    bars = [r for r in weekday_chart.iter(f"{SVG}rect") if r.attrib.get("class") == "bar"]
    assert len(bars) == 2 * len(days)  # held rate and fill rate for each weekday
    values = [float(bar.attrib["data-value"]) for bar in bars]
    wanted = []
    for day in days:
        wanted += [
            expected[day]["held"] / expected[day]["planned"],
            expected[day]["booked"] / expected[day]["offered"],
        ]
    assert values == pytest.approx(wanted)
    # Bar lengths are proportional to the rates (the axis ends at 100 %).
    widths = [float(bar.attrib["width"]) for bar in bars]
    scale = widths[0] / values[0]
    assert [w / scale for w in widths] == pytest.approx(values, abs=0.002)
    labels = [t.text for t in weekday_chart.iter(f"{SVG}text") if t.attrib.get("class") == "value"]
    saturday = expected["saturday"]
    assert f"{saturday['held'] / saturday['planned'] * 100:.1f}".replace(".", ",") + "\xa0%" in (
        labels
    )
    ticks = [t.text for t in weekday_chart.iter(f"{SVG}text") if t.attrib.get("class") == "tick"]
    assert ticks == ["0\xa0%", "25\xa0%", "50\xa0%", "75\xa0%", "100\xa0%"]


async def test_every_table_is_a_csv_download(staff, db):
    client, _ = staff
    await load_demo(db)

    async def table(name: str, **params: str) -> list[dict[str, str]]:
        answer = await client.get(f"/staff/reports/{name}.csv", params={"season": "2022", **params})
        assert answer.status_code == 200, (name, answer.text)
        assert answer.headers["content-type"] == "text/csv; charset=utf-8"
        assert "attachment" in answer.headers["content-disposition"]
        body = answer.content.decode("utf-8-sig")
        assert body.splitlines()[0] == HEADER
        return list(csv.DictReader(io.StringIO(body)))

    season = {row["scope"]: row for row in await table("season")}
    assert season["season"]["slots_planned"] == str(PUBLISHED["planned"])
    assert season["season"]["slots_held"] == str(PUBLISHED["held"])
    assert season["season"]["participants_adults"] == str(PUBLISHED["adults"])
    assert season["season"]["participants_children"] == str(PUBLISHED["children"])
    assert season["previous_season"]["participants_total"] == str(PUBLISHED["participants_2021"])

    expected = by_weekday_from_files(2022)
    weekdays = await table("weekday")
    assert {r["key"]: int(r["slots_planned"]) for r in weekdays} == {
        day: figures["planned"] for day, figures in expected.items()
    }
    assert {r["key"]: int(r["seats_booked"]) for r in weekdays} == {
        day: figures["booked"] for day, figures in expected.items()
    }
    providers = await table("provider")
    assert len(providers) == len({row["provider"] for row in season_rows(2022)}) == 18
    months = await table("month")
    assert sum(int(r["slots_planned"]) for r in months) == PUBLISHED["planned"]
    sectors = await table("sector")
    assert {r["key"] for r in sectors} == {row["sector"] for row in season_rows(2022)}
    channels = await table("channel")
    assert [r["key"] for r in channels] == ["history"]
    everything = await table("all")
    assert {r["scope"] for r in everything} == {
        "season",
        "previous_season",
        "provider",
        "weekday",
        "month",
        "sector",
        "channel",
    }
    assert len(everything) == 2 + len(providers) + len(weekdays) + len(months) + len(sectors) + 1


async def test_kind_language_and_bad_requests(staff, db):
    client, _ = staff
    await load_demo(db)
    english = await client.get("/staff/reports", params={"season": "2022", "lang": "en"})
    assert "Slots held 76 (47.5%)" in plain(english.text)
    animations = await client.get(
        "/staff/reports", params={"season": "2022", "kind": "animation", "lang": "fr"}
    )
    assert animations.status_code == 200
    assert "Aucune visite n’était programmée en 2022." in plain(animations.text)

    refused = await client.get("/staff/reports", params={"season": "22x", "kind": "zoo"})
    assert refused.status_code == 422
    assert 'id="season-error"' in refused.text and 'id="kind-error"' in refused.text
    assert 'value="22x" selected' in refused.text, "the value typed is kept"
    assert (await client.get("/staff/reports/nothing.csv")).status_code == 404
    assert (await client.get("/staff/reports/provider.txt")).status_code == 404
    bad_csv = await client.get("/staff/reports/provider.csv", params={"season": "-1"})
    assert bad_csv.status_code == 422


async def test_the_report_page_defaults_to_the_last_season_with_outcomes(staff, db):
    client, _ = staff
    await load_demo(db)  # 2021 and 2022 decided; the programme ahead is not
    page = await client.get("/staff/reports")
    assert page.status_code == 200
    assert "Bilan de la saison 2022" in plain(page.text)


# --- the chart drawing itself ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0, 1), (0.4, 0.4), (7, 8), (160, 160), (161, 200), (526, 600), (1000, 1000), (2393, 2400)],
)
def test_nice_maximum(value, expected):
    assert nice_maximum(value) == pytest.approx(expected)


def test_a_chart_escapes_its_texts_and_draws_no_bar_for_a_missing_value():
    chart = BarChart(
        title='Fill <rate> & "more"',
        categories=["Ferme <b>", "Mas & Co"],
        series=[Series("2022", [30, None], ["30", "—"]), Series("2021", [60, 15], ["60", "15"])],
        axis_label="People",
    )
    markup = str(render(chart))
    svg = ET.fromstring(markup)  # well-formed XML, whatever the texts
    assert svg.attrib["aria-label"] == 'Fill <rate> & "more"'
    assert "<b>" not in markup
    bars = [r for r in svg.iter(f"{SVG}rect") if r.attrib.get("class") == "bar"]
    assert [float(b.attrib["data-value"]) for b in bars] == [30, 60, 15]
    widths = [float(b.attrib["width"]) for b in bars]
    # The axis ends at 60; each bar's length is its share of it.
    assert widths[0] / widths[1] == pytest.approx(0.5, abs=0.01)
    assert widths[2] / widths[1] == pytest.approx(0.25, abs=0.01)
    values = [t.text for t in svg.iter(f"{SVG}text") if t.attrib.get("class") == "value"]
    assert values == ["30", "60", "—", "15"]
