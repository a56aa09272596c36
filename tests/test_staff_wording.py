"""The back office's words where they were wrong or cramped, on each database and in French and
English: the counter's activity picker is named for what it lists (farm visits and activities,
not "Animation"), one held (planned, cancelled) visit reads in the singular, and the "Back to"
links and the notices under a page's title stand apart from it."""

from __future__ import annotations

import re
from datetime import time, timedelta

import pytest

from reservations.base import clock
from reservations.base.models import CancelReason
from reservations.base.rules import slots
from tests.factories import make_activity, make_slot
from tests.test_advice import ML, TUE, Row, day_of, import_rows


def plain(html: str) -> str:
    text = re.sub(r"<[^>]+>", " ", html.replace("\xa0", " ").replace("\u202f", " "))
    return re.sub(r"\s+", " ", text)


@pytest.mark.parametrize(
    ("lang", "label", "every"),
    [
        ("fr", "Visite de ferme ou animation", "Toutes les visites de ferme et animations"),
        ("en", "Farm visit or activity", "All farm visits and activities"),
    ],
)
async def test_the_counter_picker_is_named_for_what_it_lists(staff, db, lang, label, every):
    client, _ = staff
    await make_slot(db, starts_at=clock.local_datetime(clock.today() + timedelta(days=3), time(10)))
    page = await client.get("/staff/bookings/new", params={"lang": lang})
    assert page.status_code == 200
    assert f'<label for="activity_id">{label}</label>' in page.text
    assert f'<option value="">{every}</option>' in page.text


YEAR = 2024  # a past season: one visit held, one called off


async def one_held_one_cancelled(db) -> None:  # type: ignore[no-untyped-def]
    await import_rows(
        db,
        [
            Row(day_of(YEAR, 7, TUE, 0), ML, True, 10, 6),
            Row(day_of(YEAR, 7, TUE, 1), ML, False, 10, 1),
        ],
    )


@pytest.mark.parametrize(
    ("lang", "singulars", "plural"),
    [
        ("fr", ["Visite réalisée 1", "Visite annulée 1"], "Visites programmées 2"),
        ("en", ["Slot held 1", "Slot cancelled 1"], "Slots planned 2"),
    ],
)
async def test_one_held_visit_reads_in_the_singular_in_the_report(
    staff, db, lang, singulars, plural
):
    client, _ = staff
    await one_held_one_cancelled(db)
    page = await client.get("/staff/reports", params={"season": str(YEAR), "lang": lang})
    assert page.status_code == 200
    text = plain(page.text)
    for words in [*singulars, plural]:
        assert words in text


@pytest.mark.parametrize(
    ("lang", "counts"),
    [("fr", "(2 visites, 1 réalisée : 50,0 %)"), ("en", "(2 slots, 1 held: 50.0%)")],
)
async def test_one_held_visit_reads_in_the_singular_in_the_advice(staff, db, lang, counts):
    client, _ = staff
    await one_held_one_cancelled(db)
    page = await client.get("/staff/reports/advice", params={"season": str(YEAR + 1), "lang": lang})
    assert page.status_code == 200
    assert counts in plain(page.text)


@pytest.mark.parametrize(
    ("lang", "back"), [("fr", "Retour à la visite"), ("en", "Back to the visit")]
)
async def test_back_links_and_notices_stand_apart_from_the_title(staff, db, lang, back):
    client, _ = staff
    farm = await make_activity(db)
    slot = await make_slot(
        db,
        activity=farm,
        starts_at=clock.local_datetime(clock.today() + timedelta(days=3), time(10)),
    )
    await slots.cancel_slot(db, slot.id, CancelReason.WEATHER, actor="test")
    page = await client.get(f"/staff/bookings/new?slot_id={slot.id}&lang={lang}")
    assert page.status_code == 200
    # The link back comes first, in its own block, then the title, then the notice.
    found = re.search(
        r'<p class="no-print back-links"><a href="/staff/slots/\d+">([^<]+)</a></p>\s*<h1>.*?</h1>'
        r'.*?<p class="notice">([^<]+)</p>',
        page.text,
        re.S,
    )
    assert found, page.text[:3000]
    assert found.group(1) == back
    for path in ("/staff/bookings/new", f"/staff/slots/{slot.id}"):
        shown = await client.get(path, params={"lang": lang})
        assert 'class="no-print back-links"' in shown.text, path
    css = (await client.get("/static/staff.css")).text
    rule = re.search(r"\.back-links a \{([^}]*)\}", css)
    assert rule and "min-height: 44px" in rule.group(1)
    assert re.search(r"\.staff \.notice \{[^}]*border-left: 5px", css)
