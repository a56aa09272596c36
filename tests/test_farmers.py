"""The farmers' side in-process (Litestar's test client), on each database: the private link
(issue, rotate, CLI), the day sheet, attendance (everyone, partial, no-show, the edit window),
calling a visit off (every visitor told once, in their language), and scope isolation on every
farmer route: a link reaches its own provider's slots and nothing else.

Expected figures come from the bookings each test makes, never from the code under test."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select, update

from reservations.app import create_app
from reservations.base import clock
from reservations.base.errors import AttendanceLocked, LinkAlreadyIssued, ProviderNotFound
from reservations.base.models import (
    Activity,
    Attendance,
    AuditEntry,
    Booking,
    BookingStatus,
    CancelledBy,
    CancelReason,
    OutboxMessage,
    Provider,
    Slot,
    SlotStatus,
)
from reservations.base.reads.reports import season_report
from reservations.base.rules import booking as booking_service
from reservations.base.rules.booking import BookingPolicy, BookingRequest
from reservations.base.rules.provider_links import issue_link, provider_for_token
from reservations.base.rules.slots import Presence, record_attendance
from reservations.due_work import tick_before_mail
from tests.cli_support import cli_environment, run_cli
from tests.factories import fetch_slot, make_activity, make_slot
from tests.test_visitors import CSRF, site_settings, text_of

POLICY = BookingPolicy(secret_key="test", max_party_size=15)
ATTENDANCE_DAYS = 7  # the issue: "Editable for 7 days, then locked"


@pytest.fixture
async def client(db) -> AsyncIterator[AsyncTestClient]:
    async with AsyncTestClient(app=create_app(site_settings(db), database=db)) as test_client:
        yield test_client


@dataclass
class Farm:
    provider_id: int
    name: str
    secret: str
    activity: Activity

    @property
    def path(self) -> str:
        return f"/farm/{self.secret}"


async def make_farm(db, **activity_options: object) -> Farm:  # type: ignore[no-untyped-def]
    activity = await make_activity(db, **activity_options)  # type: ignore[arg-type]
    async with db.reading() as session:
        name = await session.scalar(
            select(Provider.name).where(Provider.id == activity.provider_id)
        )
    secret = await issue_link(db, name)
    return Farm(activity.provider_id, name, secret, activity)


async def slot_of(db, farm: Farm, starts_at: datetime, capacity: int = 20) -> Slot:  # type: ignore[no-untyped-def]
    return await make_slot(db, activity=farm.activity, starts_at=starts_at, capacity=capacity)


async def book(  # type: ignore[no-untyped-def]
    db, slot: Slot, name: str, adults: int, children: int = 0, locale: str = "fr", **extra
) -> Booking:
    """A booking made while the slot was still open (``now`` a day before its cut-off)."""
    request = BookingRequest(
        slot_id=slot.id,
        adults=adults,
        children=children,
        name=name,
        email=f"{name.lower().replace(' ', '.')}@example.org",
        phone=extra.get("phone"),
        locale=locale,
    )
    receipt = await booking_service.book(
        db, request, POLICY, actor="test", now=slot.booking_cutoff_at - timedelta(days=1)
    )
    return receipt.booking  # type: ignore[return-value]


def at_local(day: date, hour: int) -> datetime:
    return clock.local_datetime(day, time(hour, 0))


async def csrf_of(client, path: str) -> str:  # type: ignore[no-untyped-def]
    """The CSRF token a farmer's browser holds after opening a page of the link."""
    page = await client.get(path)
    assert page.status_code == 200, page.text[:500]
    return client.cookies["csrftoken"]


async def slot_status(db, slot_id: int) -> SlotStatus:  # type: ignore[no-untyped-def]
    return (await fetch_slot(db, slot_id)).status


async def attendance_rows(db, slot_id: int) -> dict[int, tuple[int, int]]:  # type: ignore[no-untyped-def]
    async with db.reading() as session:
        rows = await session.execute(
            select(Attendance.booking_id, Attendance.adults, Attendance.children)
            .join(Booking, Booking.id == Attendance.booking_id)
            .where(Booking.slot_id == slot_id)
        )
        return {row.booking_id: (row.adults, row.children) for row in rows}


# --- The private link ------------------------------------------------------------------------


async def test_a_link_is_issued_once_rotated_on_demand_and_the_old_one_stops_at_once(db):
    farm = await make_farm(db)
    assert (await provider_for_token(db, farm.secret)).id == farm.provider_id  # type: ignore[union-attr]
    with pytest.raises(LinkAlreadyIssued):
        await issue_link(db, farm.name)
    rotated = await issue_link(db, farm.name, rotate=True)
    assert rotated != farm.secret
    assert await provider_for_token(db, farm.secret) is None
    assert (await provider_for_token(db, rotated)).id == farm.provider_id  # type: ignore[union-attr]
    with pytest.raises(ProviderNotFound):
        await issue_link(db, "Ferme qui n'existe pas")
    async with db.reading() as session:
        stored = await session.scalar(
            select(Provider.access_token_hash).where(Provider.id == farm.provider_id)
        )
    assert stored is not None and rotated not in stored and len(stored) == 64


async def test_the_cli_prints_the_link_and_rotates_it(db):
    farm = await make_farm(db)
    other = await make_activity(db)
    async with db.reading() as session:
        other_name = await session.scalar(
            select(Provider.name).where(Provider.id == other.provider_id)
        )
    environment = cli_environment(db.url)

    async def cli(*arguments: str) -> tuple[int, str]:
        return await run_cli(environment, "provider", "link", *arguments)

    code, output = await cli(other_name)
    assert code == 0, output
    link = output.strip().splitlines()[-1]
    assert re.fullmatch(r"https://visites\.example/farm/[A-Za-z0-9_-]{43}", link)
    code, output = await cli(other_name)
    assert code != 0 and "already has a private link" in output and link not in output
    code, output = await cli(other_name, "--rotate")
    assert code == 0 and output.strip().splitlines()[-1] != link
    assert await provider_for_token(db, link.rsplit("/", 1)[1]) is None
    code, output = await cli("Nobody")
    assert code != 0 and "Nobody" in output
    assert (await provider_for_token(db, farm.secret)) is not None  # others untouched


async def test_an_unknown_or_rotated_link_is_a_friendly_404(client, db):
    farm = await make_farm(db)
    await issue_link(db, farm.name, rotate=True)
    for path in (farm.path, f"{farm.path}/2026-07-01", "/farm/not-a-real-secret"):
        answer = await client.get(path, params={"lang": "fr"})
        assert answer.status_code == 404
        assert "Demandez votre lien actuel à l’office de tourisme" in text_of(answer)
        assert farm.name not in answer.text


# --- Scope isolation ---------------------------------------------------------------------------


def farmer_routes(app) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    """Every (method, path template) under /farm/{secret}: a new route is covered by itself."""
    found = []
    for route in app.routes:
        if not route.path.startswith("/farm/{secret"):
            continue
        for method in sorted(route.methods):
            if method in ("HEAD", "OPTIONS"):
                continue
            found.append((method, route.path))
    return found


def fill(template: str, secret: str, slot_id: int, day: date) -> str:
    return (
        template.replace("{secret:str}", secret)
        .replace("{slot_id:int}", str(slot_id))
        .replace("{day:date}", day.isoformat())
    )


async def test_every_farmer_route_reaches_its_own_provider_only(client, db):
    mine, theirs = await make_farm(db), await make_farm(db)
    day = clock.today() + timedelta(days=2)
    their_slot = await slot_of(db, theirs, at_local(day, 10))
    their_booking = await book(db, their_slot, "Famille Secrète", 2, 1, phone="0600000001")
    past = await slot_of(db, theirs, clock.now() - timedelta(hours=3))
    await book(db, past, "Autre Famille", 2)
    before = (await fetch_slot(db, their_slot.id), await fetch_slot(db, past.id))

    routes = farmer_routes(client.app)
    assert {path for _, path in routes} >= {
        "/farm/{secret:str}",
        "/farm/{secret:str}/{day:date}",
        "/farm/{secret:str}/slots/{slot_id:int}/attendance",
        "/farm/{secret:str}/slots/{slot_id:int}/cancel",
    }
    token = await csrf_of(client, mine.path)
    form = {
        "_csrf_token": token,
        "everyone": "1",
        "reason": "illness",
        "confirm": "yes",
        "message": "x",
    }
    for method, template in routes:
        for slot in (their_slot, past):
            path = fill(template, mine.secret, slot.id, day)
            if method == "GET":
                answer = await client.get(path)
                assert "Famille Secrète" not in answer.text, path
                assert "0600000001" not in answer.text, path
                if "{slot_id" in template:
                    assert answer.status_code == 404, path
            else:
                answer = await client.post(path, data=form)
                assert answer.status_code == 404, (method, path, answer.status_code)
            # And a made-up secret reaches nothing at all.
            forged = fill(template, "x" * 43, slot.id, day)
            answer = await (
                client.get(forged) if method == "GET" else client.post(forged, data=form)
            )
            assert answer.status_code == 404, forged
    after = (await fetch_slot(db, their_slot.id), await fetch_slot(db, past.id))
    assert [(s.status, s.booked) for s in after] == [(s.status, s.booked) for s in before]
    assert await attendance_rows(db, past.id) == {}
    async with db.reading() as session:
        still = await session.scalar(select(Booking.status).where(Booking.id == their_booking.id))
    assert still == BookingStatus.CONFIRMED


# --- The day sheet ---------------------------------------------------------------------------


async def test_the_day_sheet_lists_the_days_bookings_with_totals(client, db):
    farm = await make_farm(db)
    day = clock.today() + timedelta(days=1)
    morning = await slot_of(db, farm, at_local(day, 10), capacity=12)
    afternoon = await slot_of(db, farm, at_local(day, 15), capacity=8)
    await book(db, morning, "Famille Martin", 2, 2, locale="de", phone="+33 6 12 34 56 78")
    await book(db, morning, "Jan de Vries", 1, 0, locale="nl")
    await book(db, afternoon, "Sarah Smith", 3, 1, locale="en")
    other_day = await slot_of(db, farm, at_local(day + timedelta(days=3), 10))
    await book(db, other_day, "Plus Tard", 4)

    answer = await client.get(f"{farm.path}/{day.isoformat()}", params={"lang": "en"})
    assert answer.status_code == 200
    page = text_of(answer)
    for name in ("Famille Martin", "Jan de Vries", "Sarah Smith"):
        assert name in page
    assert "Plus Tard" not in page
    assert 'href="tel:+33612345678"' in answer.text
    assert "5 of 12 places booked" in page  # 2 + 2 + 1
    assert "4 of 8 places booked" in page
    assert "Total: 5 people (3 adults, 2 children)" in page
    assert "Day total: 9 people expected (6 adults, 3 children)" in page
    assert "German" in page and "Dutch" in page
    # The next 14 days with their head counts, from today.
    assert f'href="{farm.path}/{day.isoformat()}"' in answer.text
    assert "2 visits, 9 people" in page and "1 visit, 4 people" in page
    # Subscribe links, light page, no script, a print stylesheet, not indexed, no referrer,
    # never stored.
    assert f"webcal://visites.example/farm/{farm.secret}/calendar.ics" in answer.text
    assert f"http://visites.example/farm/{farm.secret}/calendar.ics" in answer.text
    assert len(answer.content) < 30_000
    assert "<script" not in answer.text and 'href="/static/farm.css"' in answer.text
    assert "@media print" in (await client.get("/static/farm.css")).text
    assert answer.headers["referrer-policy"] == "no-referrer"
    assert answer.headers["cache-control"] == "no-store"  # visitors' names and phones
    assert "noindex" in answer.headers["x-robots-tag"]


async def test_the_sheet_opens_on_today_and_moves_day_by_day(client, db):
    farm = await make_farm(db)
    today = clock.today()
    answer = await client.get(farm.path, params={"lang": "fr"})
    assert answer.status_code == 200
    assert f'href="{farm.path}/{(today - timedelta(days=1)).isoformat()}"' in answer.text
    assert f'href="{farm.path}/{(today + timedelta(days=1)).isoformat()}"' in answer.text
    assert "Aujourd'hui" in text_of(answer)
    for lang, words in {"de": "Heute", "nl": "Vandaag", "en": "Today"}.items():
        assert words in text_of(await client.get(farm.path, params={"lang": lang}))


# --- Attendance ------------------------------------------------------------------------------


async def visit_that_took_place(db, farm: Farm, hours_ago: float = 3):  # type: ignore[no-untyped-def]
    slot = await slot_of(db, farm, clock.now().replace(microsecond=0) - timedelta(hours=hours_ago))
    family = await book(db, slot, "Famille Durand", 2, 2)
    couple = await book(db, slot, "Couple Weber", 2, 0, locale="de")
    single = await book(db, slot, "Solo Martin", 1)
    return slot, family, couple, single


async def test_everyone_came_in_one_tap_marks_the_slot_held(client, db):
    farm = await make_farm(db)
    slot, family, couple, single = await visit_that_took_place(db, farm)
    day_path = f"{farm.path}/{clock.local_date(slot.starts_at).isoformat()}"
    token = await csrf_of(client, day_path)
    answer = await client.post(
        f"{farm.path}/slots/{slot.id}/attendance",
        data={"_csrf_token": token, "everyone": "1"},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    assert await slot_status(db, slot.id) == SlotStatus.HELD
    assert await attendance_rows(db, slot.id) == {
        family.id: (2, 2),
        couple.id: (2, 0),
        single.id: (1, 0),
    }
    landed = await client.get(answer.headers["location"])
    assert "Présence enregistrée : 7 personnes sont venues." in text_of(landed)
    # The season report counts them: 5 adults and 2 children took part.
    report = await season_report(db, clock.local_date(slot.starts_at).year)
    assert report["participants"] == {"adults": 5, "children": 2, "total": 7}
    async with db.reading() as session:
        actors = list(
            await session.scalars(
                select(AuditEntry.actor).where(
                    AuditEntry.slot_id == slot.id, AuditEntry.action == "slot.attendance_recorded"
                )
            )
        )
    assert actors == [f"provider:{farm.provider_id}"]


async def test_partial_attendance_and_no_show_per_booking(client, db):
    farm = await make_farm(db)
    slot, family, couple, single = await visit_that_took_place(db, farm)
    token = await csrf_of(client, farm.path)
    answer = await client.post(
        f"{farm.path}/slots/{slot.id}/attendance",
        data={
            "_csrf_token": token,
            f"came_{family.id}": "yes",
            f"adults_{family.id}": "2",
            f"children_{family.id}": "1",
            f"came_{couple.id}": "no",
            f"adults_{couple.id}": "2",
            f"children_{couple.id}": "0",
            f"came_{single.id}": "yes",
            f"adults_{single.id}": "1",
            f"children_{single.id}": "0",
        },
        follow_redirects=False,
    )
    assert answer.status_code == 303
    assert await attendance_rows(db, slot.id) == {
        family.id: (2, 1),
        couple.id: (0, 0),
        single.id: (1, 0),
    }
    report = await season_report(db, clock.local_date(slot.starts_at).year)
    assert report["participants"] == {"adults": 3, "children": 1, "total": 4}
    # 4 came of 7 booked on held slots.
    assert report["attendance_rate"] == pytest.approx(4 / 7)


async def test_a_wrong_attendance_comes_back_with_the_values_and_changes_nothing(client, db):
    farm = await make_farm(db)
    slot, family, couple, _ = await visit_that_took_place(db, farm)
    token = await csrf_of(client, farm.path)
    fields = {
        "_csrf_token": token,
        f"came_{family.id}": "yes",
        f"adults_{family.id}": "5",  # 4 booked
        f"children_{family.id}": "2",
        f"came_{couple.id}": "yes",
        f"adults_{couple.id}": "deux",
        f"children_{couple.id}": "0",
    }
    answer = await client.post(
        f"{farm.path}/slots/{slot.id}/attendance", data=fields, params={"lang": "en"}
    )
    assert answer.status_code == 422
    assert "Please enter a whole number" in text_of(answer)
    assert 'value="deux"' in answer.text and 'value="5"' in answer.text
    too_many = {**fields, f"adults_{couple.id}": "2"}
    answer = await client.post(f"{farm.path}/slots/{slot.id}/attendance", data=too_many)
    assert answer.status_code == 422
    assert "At most 4 for the booking of Famille Durand." in text_of(answer)
    assert 'value="5"' in answer.text
    assert await attendance_rows(db, slot.id) == {}
    assert await slot_status(db, slot.id) != SlotStatus.HELD


async def test_attendance_is_refused_before_the_visit_and_locked_after_seven_days(client, db):
    farm = await make_farm(db)
    upcoming = await slot_of(db, farm, clock.now() + timedelta(hours=30))
    await book(db, upcoming, "Trop Tot", 2)
    token = await csrf_of(client, farm.path)
    early = await client.post(
        f"{farm.path}/slots/{upcoming.id}/attendance",
        data={"_csrf_token": token, "everyone": "1"},
    )
    assert early.status_code == 409
    assert await attendance_rows(db, upcoming.id) == {}

    # Ended a little more than 7 days ago: locked for the farmer, staff can still correct.
    old, _, couple, _ = await visit_that_took_place(db, farm, hours_ago=ATTENDANCE_DAYS * 24 + 4)
    locked = await client.post(
        f"{farm.path}/slots/{old.id}/attendance",
        data={"_csrf_token": token, "everyone": "1"},
        params={"lang": "en"},
    )
    assert locked.status_code == 403
    assert "ask the tourist office" in text_of(locked)
    assert await attendance_rows(db, old.id) == {}
    page = await client.get(f"{farm.path}/{clock.local_date(old.starts_at).isoformat()}")
    assert f"/slots/{old.id}/attendance" not in page.text  # no form offered any more
    with pytest.raises(AttendanceLocked):
        await record_attendance(db, old.id, None, actor="x", provider_id=farm.provider_id)
    await record_attendance(db, old.id, {couple.id: Presence(0, 0)}, actor="staff:anne")
    assert (await attendance_rows(db, old.id))[couple.id] == (0, 0)


async def test_attendance_can_be_changed_within_the_window(client, db):
    farm = await make_farm(db)
    slot, family, couple, single = await visit_that_took_place(db, farm, hours_ago=6 * 24)
    token = await csrf_of(client, farm.path)
    path = f"{farm.path}/slots/{slot.id}/attendance"
    await client.post(path, data={"_csrf_token": token, "everyone": "1"})
    assert (await attendance_rows(db, slot.id))[single.id] == (1, 0)
    second = {
        "_csrf_token": token,
        f"came_{single.id}": "no",
        f"came_{family.id}": "yes",
        f"adults_{family.id}": "2",
        f"children_{family.id}": "2",
        f"came_{couple.id}": "yes",
        f"adults_{couple.id}": "1",
        f"children_{couple.id}": "0",
    }
    assert (await client.post(path, data=second, follow_redirects=False)).status_code == 303
    assert await attendance_rows(db, slot.id) == {
        family.id: (2, 2),
        couple.id: (1, 0),
        single.id: (0, 0),
    }
    page = await client.get(f"{farm.path}/{clock.local_date(slot.starts_at).isoformat()}")
    # The form shows what was recorded, not the booked figures.
    assert re.search(rf'name="came_{single.id}" value="no" checked', page.text)
    assert f'name="adults_{couple.id}" value="1"' in page.text


# --- Calling a visit off ---------------------------------------------------------------------


async def outbox_for_slot(db, slot_id: int) -> list[OutboxMessage]:  # type: ignore[no-untyped-def]
    async with db.reading() as session:
        return list(
            await session.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.dedup_key.startswith(f"slot-cancelled:{slot_id}:"))
                .order_by(OutboxMessage.to_address)
            )
        )


async def test_calling_off_tells_every_visitor_once_in_their_language(client, db):
    farm = await make_farm(db)
    day = clock.today() + timedelta(days=1)
    slot = await slot_of(db, farm, at_local(day, 10))
    later = await slot_of(db, farm, at_local(day + timedelta(days=7), 10))
    await book(db, slot, "Anna Schmidt", 2, 1, locale="de")
    await book(db, slot, "Marie Dupont", 1, 0, locale="fr")
    await book(db, slot, "Jan Jansen", 2, 2, locale="nl")
    cancel_path = f"{farm.path}/slots/{slot.id}/cancel"

    form_page = await client.get(cancel_path, params={"lang": "fr"})
    assert form_page.status_code == 200
    assert "3 réservations" in text_of(form_page)
    token = CSRF.search(form_page.text).group(1)  # type: ignore[union-attr]
    missing = await client.post(
        cancel_path,
        data={"_csrf_token": token, "message": "Risque d'incendie fort"},
        params={"lang": "fr"},
    )
    assert missing.status_code == 422
    assert "Risque d&#39;incendie fort" in missing.text or "Risque d'incendie fort" in missing.text
    assert await slot_status(db, slot.id) == SlotStatus.SCHEDULED

    done = await client.post(
        cancel_path,
        data={
            "_csrf_token": token,
            "reason": "fire_risk",
            "message": "Arrêté préfectoral : accès aux massifs interdit.",
            "confirm": "yes",
        },
        follow_redirects=False,
    )
    assert done.status_code == 303
    cancelled = await fetch_slot(db, slot.id)
    assert cancelled.status == SlotStatus.CANCELLED
    assert cancelled.cancel_reason == CancelReason.FIRE_RISK
    assert cancelled.booked == 0
    mails = await outbox_for_slot(db, slot.id)
    assert [m.to_address for m in mails] == [
        "anna.schmidt@example.org",
        "jan.jansen@example.org",
        "marie.dupont@example.org",
    ]
    # Each in the visitor's language (the catalogues' subjects).
    assert [m.subject.split(":")[0] for m in mails] == [
        "Abgesagt",
        "Geannuleerd",
        "Visite annulée ",
    ]
    assert all("Arrêté préfectoral" in m.text_body for m in mails)
    assert all(f"/visits/{later.id}" in m.text_body for m in mails)  # another date offered
    # tick finds nobody left to tell; calling off again is refused kindly.
    await tick_before_mail(db, site_settings(db))
    assert len(await outbox_for_slot(db, slot.id)) == 3
    again = await client.post(
        cancel_path,
        data={"_csrf_token": token, "reason": "illness", "confirm": "yes"},
        params={"lang": "en"},
    )
    assert again.status_code == 409
    # The slot has left the public programme.
    programme = await client.get("/", params={"lang": "fr"})
    assert f'/visits/{slot.id}"' not in programme.text
    assert f'/visits/{later.id}"' in programme.text
    # The day sheet shows it called off, with the reason.
    sheet = text_of(await client.get(f"{farm.path}/{day.isoformat()}", params={"lang": "en"}))
    assert "Called off: Fire risk" in sheet


async def test_a_visit_that_took_place_cannot_be_called_off(client, db):
    farm = await make_farm(db)
    slot, *_ = await visit_that_took_place(db, farm)
    await record_attendance(db, slot.id, None, actor="x")
    token = await csrf_of(client, farm.path)
    page = await client.get(f"{farm.path}/slots/{slot.id}/cancel")
    assert page.status_code == 200 and 'name="reason"' not in page.text  # nothing to send
    answer = await client.post(
        f"{farm.path}/slots/{slot.id}/cancel",
        data={"_csrf_token": token, "reason": "weather", "confirm": "yes"},
    )
    assert answer.status_code == 409
    assert await slot_status(db, slot.id) == SlotStatus.HELD


async def test_concurrent_call_offs_tell_each_visitor_once(db):
    """Two calls to cancel the same slot at once (two taps, two phones): one cancels, the other
    is refused, and each visitor gets one email."""

    from reservations.base.errors import SlotCancelled
    from reservations.base.rules.slots import cancel_slot
    from reservations.notices import cancellation_emails

    farm = await make_farm(db)
    slot = await slot_of(db, farm, clock.now() + timedelta(days=2))
    for number in range(4):
        await book(db, slot, f"Visiteur {number}", 1)

    async def call_off() -> list[int] | Exception:
        try:
            told = await cancel_slot(
                db, slot.id, CancelReason.ILLNESS, actor="p", provider_id=farm.provider_id
            )
        except SlotCancelled as refused:
            return refused
        await cancellation_emails.notify_slot_cancelled(db, slot.id, told, site_settings(db))
        return told

    results = await asyncio.gather(call_off(), call_off(), call_off())
    winners = [r for r in results if isinstance(r, list)]
    assert len(winners) == 1 and len(winners[0]) == 4
    assert len(await outbox_for_slot(db, slot.id)) == 4
    async with db.reading() as session:
        live = await session.scalar(
            select(func.count())
            .select_from(Booking)
            .where(Booking.slot_id == slot.id, Booking.status == BookingStatus.CONFIRMED)
        )
    assert live == 0


async def test_every_cancel_reason_is_accepted_by_the_migrated_schema(db):
    slot = await make_slot(db)
    for reason in CancelReason:
        async with db.writing() as session:
            await session.execute(
                update(Slot).where(Slot.id == slot.id).values(cancel_reason=reason.value)
            )
    assert (await fetch_slot(db, slot.id)).cancel_reason == list(CancelReason)[-1]


async def test_the_day_sheet_shows_who_cancelled_and_counts_only_who_comes(client, db):
    farm = await make_farm(db)
    day = clock.today() + timedelta(days=1)
    slot = await slot_of(db, farm, at_local(day, 10), capacity=12)
    await book(db, slot, "Famille Martin", 2, 2)
    gone = await book(db, slot, "Jan de Vries", 1, 0)
    office = await book(db, slot, "Sarah Smith", 3, 0)
    await booking_service.cancel_booking(
        db, gone.id, actor="visitor", cancelled_by=CancelledBy.VISITOR
    )
    await booking_service.cancel_booking(db, office.id, actor="staff:x")
    answer = await client.get(f"{farm.path}/{day.isoformat()}", params={"lang": "en"})
    page = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", text_of(answer)))
    assert "Jan de Vries — 1 adult, 0 children · cancelled by the visitor" in page
    assert "Sarah Smith — 3 adults, 0 children · cancelled by the office" in page
    assert "Total: 4 people (2 adults, 2 children)" in page
