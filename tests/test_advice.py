"""Planning advice, on each database: weekday × sector figures of the past seasons (imported
through the history import, as the office does), the weak cells, the slots of the coming season
that fall in them, and the page and CSV that show them. Expected figures are worked out here
from the rows of the dataset, not read back from the code under test."""

from __future__ import annotations

import csv
import io
import re
from collections import defaultdict
from datetime import date, time, timedelta
from typing import NamedTuple

import pytest
from sqlalchemy import update

from reservations.base import clock
from reservations.base.models import ActivityKind, CancelReason, Slot, SlotStatus
from reservations.base.reads.advice import MIN_SLOTS, WEAK_GAP, planning_advice
from reservations.base.rules import slots
from reservations.base.seeding.history import COLUMNS, import_history
from tests.factories import make_activity, make_slot

SEASON = 2030
ML, VF = "Mont Lozère", "Vallée Française"
TUE, WED, THU, SAT = 2, 3, 4, 6  # ISO weekdays


def day_of(year: int, month: int, iso_weekday: int, week: int) -> date:
    """The ``week``-th (0-based) ``iso_weekday`` of the month."""
    first = date(year, month, 1)
    return first + timedelta(days=(iso_weekday - first.isoweekday()) % 7 + 7 * week)


class Row(NamedTuple):
    """A past slot: its day, sector, kind, capacity, outcome and people booked."""

    day: date
    sector: str
    held: bool
    capacity: int
    booked: int
    kind: ActivityKind = ActivityKind.FARM_VISIT

    def csv_cells(self) -> list[str]:
        provider = "Ferme du Mont" if self.sector == ML else "Ferme de la Vallée"
        if self.kind == ActivityKind.ANIMATION:
            provider = "Conteurs du Tarn"
        adults, children = self.booked - self.booked // 3, self.booked // 3
        came = (adults, children) if self.held else (0, 0)
        return [
            self.day.isoformat(),
            "10:00",
            "12:00",
            provider,
            "Vialas",
            self.sector,
            "Visite" if self.kind == ActivityKind.FARM_VISIT else "Balade contée",
            self.kind.value,
            str(self.capacity),
            "3",
            "held" if self.held else "cancelled_under_minimum",
            str(adults),
            str(children),
            str(came[0]),
            str(came[1]),
        ]


def rows_of(cell: tuple[int, str], outcomes: str, capacity: int, booked: list[int]) -> list[Row]:
    """One row per character of ``outcomes`` ("H" held, "C" cancelled), on successive weeks
    of July 2028 then July 2029."""
    weekday, sector = cell
    days = [day_of(2028, 7, weekday, w) for w in range(4)] + [
        day_of(2029, 7, weekday, w) for w in range(4)
    ]
    return [
        Row(days[i], sector, mark == "H", capacity, booked[i]) for i, mark in enumerate(outcomes)
    ]


#: The history: 20 farm visits, 11 held (55 %), so weak means a held rate of 40 % or less.
HISTORY = [
    *rows_of((TUE, ML), "HHHHC", 10, [8, 7, 9, 6, 1]),  # 80 %
    *rows_of((WED, VF), "HHCCC", 12, [6, 5, 2, 1, 0]),  # 40 %: exactly 15 points under, weak
    *rows_of((SAT, ML), "HCCC", 15, [4, 2, 1, 0]),  # 25 %: weak
    *rows_of((SAT, VF), "CC", 10, [1, 0]),  # 0 % but 2 slots: too few to judge
    *rows_of((THU, ML), "HHHH", 8, [8, 7, 6, 8]),  # 100 %
]
#: An animation: counted with every kind of activity, left out of the farm visits' advice.
ANIMATION = Row(day_of(2029, 8, SAT, 1), VF, True, 30, 20, ActivityKind.ANIMATION)
#: A visit of the coming season itself, already held: not history.
SAME_SEASON = Row(day_of(SEASON, 5, SAT, 0), ML, True, 15, 12)


async def import_rows(db, rows: list[Row]) -> None:  # type: ignore[no-untyped-def]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    writer.writerows(row.csv_cells() for row in rows)
    out.seek(0)
    await import_history(db, out, actor="test")


def expected_cells(rows: list[Row], kind: ActivityKind | None) -> dict[tuple[int, str], dict]:
    """Per weekday × sector of the history before SEASON: the counts, rates and weakness."""
    figures: dict[tuple[int, str], dict] = defaultdict(
        lambda: {"planned": 0, "held": 0, "offered": 0, "booked": 0}
    )
    for row in rows:
        if row.day.year >= SEASON or (kind and row.kind != kind):
            continue
        cell = figures[(row.day.isoweekday(), row.sector)]
        cell["planned"] += 1
        cell["held"] += row.held
        cell["offered"] += row.capacity
        cell["booked"] += row.booked
    planned = sum(c["planned"] for c in figures.values())
    held = sum(c["held"] for c in figures.values())
    overall = held / planned
    for cell in figures.values():
        rate = cell["held"] / cell["planned"]
        cell["weak"] = cell["planned"] >= MIN_SLOTS and overall - rate >= WEAK_GAP - 1e-9
    return dict(figures)


async def test_the_fixture_has_the_cases_it_is_meant_to_have():
    cells = expected_cells(HISTORY, ActivityKind.FARM_VISIT)
    assert {key for key, cell in cells.items() if cell["weak"]} == {(WED, VF), (SAT, ML)}
    assert cells[(SAT, VF)]["planned"] < MIN_SLOTS and cells[(SAT, VF)]["held"] == 0


async def load(db) -> dict[str, Slot]:  # type: ignore[no-untyped-def]
    """The history, then slots planned for the coming season (and one still undecided from a
    past season, which says nothing about its day)."""
    await import_rows(db, [*HISTORY, ANIMATION, SAME_SEASON])
    mont = await make_activity(db, sector=ML)
    valley = await make_activity(db, sector=VF)

    def at(day: date) -> object:
        return clock.local_datetime(day, time(10, 0))

    planned = {
        "sat_ml": await make_slot(db, activity=mont, starts_at=at(day_of(SEASON, 7, SAT, 1))),
        "wed_vf": await make_slot(db, activity=valley, starts_at=at(day_of(SEASON, 7, WED, 1))),
        "tue_ml": await make_slot(db, activity=mont, starts_at=at(day_of(SEASON, 7, TUE, 1))),
        "sat_vf": await make_slot(db, activity=valley, starts_at=at(day_of(SEASON, 7, SAT, 2))),
        "sat_ml_off": await make_slot(db, activity=mont, starts_at=at(day_of(SEASON, 8, SAT, 0))),
        "sat_ml_later": await make_slot(
            db, activity=mont, starts_at=at(day_of(SEASON + 1, 7, SAT, 0))
        ),
        "undecided": await make_slot(db, activity=mont, starts_at=at(day_of(2029, 9, THU, 0))),
    }
    await slots.cancel_slot(db, planned["sat_ml_off"].id, CancelReason.WEATHER, actor="test")
    async with db.writing() as session:  # a confirmed slot is still planned
        await session.execute(
            update(Slot).where(Slot.id == planned["wed_vf"].id).values(status=SlotStatus.CONFIRMED)
        )
    return planned


async def test_cells_rates_and_weakness_match_the_history(db):
    planned = await load(db)
    advice = await planning_advice(db, SEASON, kind=ActivityKind.FARM_VISIT)

    expected = expected_cells(HISTORY, ActivityKind.FARM_VISIT)
    assert set(advice.cells) == set(expected)
    for key, cell in advice.cells.items():
        want = expected[key]
        assert (cell.slots_planned, cell.slots_held) == (want["planned"], want["held"]), key
        assert (cell.seats_offered, cell.seats_booked) == (want["offered"], want["booked"]), key
        assert cell.held_rate == want["held"] / want["planned"]
        assert cell.fill_rate == want["booked"] / want["offered"]
        assert cell.weak == want["weak"], key
        assert cell.too_few == (want["planned"] < MIN_SLOTS)
    assert advice.history_seasons == [2028, 2029]
    assert (advice.slots_planned, advice.slots_held) == (20, 11)
    assert advice.held_rate == 11 / 20
    assert advice.weak_below is not None and abs(advice.weak_below - 0.40) < 1e-9
    # The planned slots in weak cells, in date order: not the cancelled one, not next year's,
    # not those of cells that are fine or too small to judge.
    assert [s.id for s in advice.at_risk] == [planned["wed_vf"].id, planned["sat_ml"].id]
    assert [(s.weekday, s.sector) for s in advice.at_risk] == [(WED, VF), (SAT, ML)]
    assert advice.at_risk[0].status == SlotStatus.CONFIRMED


async def test_every_kind_counts_the_animation_and_not_the_undecided_slot(db):
    await load(db)
    everything = await planning_advice(db, SEASON)
    expected = expected_cells([*HISTORY, ANIMATION], None)
    assert {k: (c.slots_planned, c.slots_held) for k, c in everything.cells.items()} == {
        k: (c["planned"], c["held"]) for k, c in expected.items()
    }
    assert everything.slots_planned == 21  # the undecided 2029 slot is not counted
    assert everything.cell(SAT, VF).slots_planned == 3  # two visits and the animation


async def test_no_history_no_weak_cell(db):
    farm = await make_activity(db, sector=ML)
    await make_slot(db, activity=farm, starts_at=clock.local_datetime(date(2031, 7, 5), time(10)))
    advice = await planning_advice(db, 2031)
    assert advice.cells == {} and advice.history_seasons == []
    assert advice.held_rate is None and advice.weak_cells == [] and advice.at_risk == []


# --- the page and its CSV ----------------------------------------------------------------------


async def test_the_advice_page_highlights_weak_cells_and_links_their_slots(staff, db):
    client, _ = staff
    planned = await load(db)
    page = await client.get(
        "/staff/reports/advice", params={"season": str(SEASON), "kind": "farm_visit"}
    )
    assert page.status_code == 200, page.text
    html = page.text
    assert html.count('class="cell-weak"') == 2
    assert html.count('class="cell-few"') == 1
    links = set(re.findall(r'href="/staff/slots/(\d+)"', html))
    assert links == {str(planned["sat_ml"].id), str(planned["wed_vf"].id)}
    text = re.sub(r"\s+", " ", html.replace("\xa0", " ").replace("\u202f", " "))
    # French by default: the rule is explained with its figures.
    assert "au moins 3 visites" in text and "15 points" in text and "40,0 %" in text
    assert "2028, 2029" in text


async def test_the_advice_csv_has_one_row_per_cell(staff, db):
    client, _ = staff
    await load(db)
    answer = await client.get(
        "/staff/reports/advice.csv", params={"season": str(SEASON), "kind": "farm_visit"}
    )
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/csv; charset=utf-8"
    rows = list(csv.DictReader(io.StringIO(answer.content.decode("utf-8-sig"))))
    expected = expected_cells(HISTORY, ActivityKind.FARM_VISIT)
    names = ["", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
    assert {
        (names.index(r["weekday"]), r["sector"]): (int(r["slots_planned"]), r["weak"]) for r in rows
    } == {k: (c["planned"], "yes" if c["weak"] else "no") for k, c in expected.items()}

    weak_slots = await client.get(
        "/staff/reports/weak_slots.csv", params={"season": str(SEASON), "kind": "farm_visit"}
    )
    listed = list(csv.DictReader(io.StringIO(weak_slots.content.decode("utf-8-sig"))))
    assert [r["weekday"] for r in listed] == ["wednesday", "saturday"]


async def test_a_bad_season_is_refused_beside_its_field(staff, db):
    client, _ = staff
    page = await client.get("/staff/reports/advice", params={"season": "next year"})
    assert page.status_code == 422
    assert 'id="season-error"' in page.text
    assert 'aria-invalid="true"' in page.text


# --- the season the page opens on --------------------------------------------------------------


def plain_text(html: str) -> str:
    text = re.sub(r"<[^>]+>", " ", html.replace("\xa0", " ").replace("\u202f", " "))
    return re.sub(r"\s+", " ", text)


@pytest.mark.parametrize(
    ("lang", "title", "from_"),
    [
        ("fr", "Conseils de programmation pour", "D’après les visites de"),
        ("en", "Planning advice for", "From the slots of"),
    ],
)
async def test_with_nothing_planned_the_advice_opens_after_the_last_season_with_outcomes(
    staff, db, lang, title, from_
):
    """This year's season is over and nothing is planned yet: the page opens on the next
    season, learned from this one, not on the current year whose own slots are no history."""
    client, _ = staff
    today = clock.today()
    past = [
        Row(today - timedelta(days=days), ML, held, 10, booked)
        for days, held, booked in [(60, True, 6), (53, False, 1), (46, True, 5), (39, True, 7)]
    ]
    await import_rows(db, past)
    last = max(row.day.year for row in past)

    page = await client.get("/staff/reports/advice", params={"lang": lang})

    assert page.status_code == 200
    text = plain_text(page.text)
    assert f"{title} {last + 1}" in text
    assert f'<option value="{last + 1}" selected' in page.text
    assert str(last) in text.split(from_, 1)[1][:40], "the last season is the history"


def two_years_ago() -> list[Row]:
    """A July of visits two years before this one."""
    year = clock.today().year - 2
    return [
        Row(day_of(year, 7, TUE, week), ML, held, 10, booked)
        for week, held, booked in [(0, True, 6), (1, False, 1), (2, True, 5)]
    ]


async def test_the_advice_opens_on_the_season_still_planned(staff, db):
    """Visits planned ahead: the page opens on their season, with every past one as history."""
    client, _ = staff
    await import_rows(db, two_years_ago())
    farm = await make_activity(db)
    ahead = clock.local_datetime(clock.today() + timedelta(days=20), time(10))
    await make_slot(db, activity=farm, starts_at=ahead)

    for lang, title in (("fr", "Conseils de programmation pour"), ("en", "Planning advice for")):
        page = await client.get("/staff/reports/advice", params={"lang": lang})
        assert page.status_code == 200
        assert f"{title} {clock.local_date(ahead).year}" in plain_text(page.text)
        assert f"{clock.today().year - 2} " in plain_text(page.text).split(title, 2)[2]


async def test_a_visit_called_off_ahead_is_no_outcome_of_its_season(staff, db):
    """The report opens on the last season with outcomes: a visit called off for next week
    does not make the current year one."""
    client, _ = staff
    await import_rows(db, two_years_ago())
    farm = await make_activity(db)
    ahead = clock.local_datetime(clock.today() + timedelta(days=20), time(10))
    slot = await make_slot(db, activity=farm, starts_at=ahead)
    await slots.cancel_slot(db, slot.id, CancelReason.WEATHER, actor="staff:test")
    for lang, title in (("fr", "Bilan de la saison"), ("en", "Season report")):
        page = await client.get("/staff/reports", params={"lang": lang})
        assert page.status_code == 200
        assert f"{title} {clock.today().year - 2}" in plain_text(page.text)
