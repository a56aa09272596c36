"""Season planning in the back office on each database: a July–August plan for a farm previewed
(the dates, and each date left out with why) then created, idempotent, also when two runs race;
bulk edits of capacity and minimum that refuse a capacity under the people booked (and stay
right when a booking races them); freed places offered to the waiting list; bulk cancellation
telling every booked visitor once; and the whole plan made from a real browser.

Expected dates are computed here from the calendar with plain loops: every day of July and August,
minus Saturdays, 14 July and 15 August, and the farm's day off."""

from __future__ import annotations

import asyncio
import html
import re
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, select

from reservations.base import clock
from reservations.base.errors import NotEnoughPlaces
from reservations.base.models import (
    AuditEntry,
    Booking,
    BookingStatus,
    OutboxMessage,
    ProviderDayOff,
    Slot,
    SlotStatus,
)
from reservations.base.reads import catalogue_pages
from reservations.base.rules import activities, season, waitlist
from reservations.base.rules import booking as booking_service
from reservations.base.rules.booking import BookingPolicy, BookingRequest
from reservations.base.rules.season import (
    CapacityBelowBooked,
    Recurrence,
    Rules,
    SlotChange,
    SlotsRefused,
)
from reservations.notices import cancellation_emails
from tests.factories import fetch_slot, make_activity, make_slot
from tests.staff_support import csrf
from tests.test_accessibility import problems
from tests.test_visitors import text_of

POLICY = BookingPolicy(secret_key="test", max_party_size=15)
YEAR = clock.today().year + 1  # always a season to come
JULY_1, AUGUST_31 = date(YEAR, 7, 1), date(YEAR, 8, 31)
DAY_OFF = date(YEAR, 7, 21)
EVERY_DAY = [str(n) for n in range(7)]
#: Races of a booking and a smaller capacity; both orders were seen on both databases.
RACE_ROUNDS = 8


def season_days() -> list[date]:
    return [JULY_1 + timedelta(days=n) for n in range((AUGUST_31 - JULY_1).days + 1)]


def expected_plan() -> tuple[list[date], dict[date, str]]:
    """The days to create, and the reason of each day left out (the first that applies)."""
    holidays = {date(YEAR, 7, 14): "Fête nationale", date(YEAR, 8, 15): "Assomption"}
    created, left_out = [], {}
    for day in season_days():
        if day == DAY_OFF:
            left_out[day] = "Jour de repos du prestataire : Foire aux fromages"
        elif day in holidays:
            left_out[day] = f"Jour férié : {holidays[day]}"
        elif day.weekday() == 5:
            left_out[day] = "Samedi de changement de location (juillet et août)"
        else:
            created.append(day)
    return created, left_out


def plan_form(activity_id: int, **changes: Any) -> dict[str, Any]:
    return {
        "activity_id": str(activity_id),
        "first_day": JULY_1.isoformat(),
        "last_day": AUGUST_31.isoformat(),
        "at": "10:00",
        "weekdays": EVERY_DAY,
        "rule": "",
        "skip_saturdays": "yes",
        "skip_holidays": "yes",
        "action": "preview",
        **changes,
    }


async def post(client, path: str, data: dict):  # type: ignore[no-untyped-def]
    await client.get("/staff/planning")  # the CSRF cookie, as a browser has it
    return await client.post(
        path, data={**data, "_csrf_token": csrf(client)}, follow_redirects=False
    )


def fingerprint_of(response) -> str:  # type: ignore[no-untyped-def]
    found = re.search(r'name="previewed" value="([0-9a-f]+)"', response.text)
    assert found, "no preview on the page"
    return found.group(1)


def readable(response) -> str:  # type: ignore[no-untyped-def]
    return " ".join(text_of(response).split())


async def farm_with_day_off(db):  # type: ignore[no-untyped-def]
    activity = await make_activity(db, capacity=12, min_participants=4)
    async with db.writing() as session:
        session.add(
            ProviderDayOff(provider_id=activity.provider_id, day=DAY_OFF, note="Foire aux fromages")
        )
    return activity


async def slots_of(db, activity_id: int) -> list[Slot]:  # type: ignore[no-untyped-def]
    async with db.reading() as session:
        return list(
            await session.scalars(
                select(Slot).where(Slot.activity_id == activity_id).order_by(Slot.starts_at)
            )
        )


async def count(db, model, *where) -> int:  # type: ignore[no-untyped-def]
    async with db.reading() as session:
        return await session.scalar(select(func.count()).select_from(model).where(*where))


# --- generating a season ------------------------------------------------------------------------


async def test_a_july_august_plan_skipping_saturdays_and_holidays_is_previewed_then_created(
    staff, db
):
    client, account = staff
    activity = await farm_with_day_off(db)
    created_days, left_out = expected_plan()

    page = await client.get(f"/staff/planning?activity_id={activity.id}")
    assert page.status_code == 200 and f'<option value="{activity.id}" selected' in page.text
    assert problems(page.text, "fr") == []

    preview = await post(client, "/staff/planning", plan_form(activity.id))
    assert preview.status_code == 200
    text = readable(preview)
    assert f"{len(created_days)} créneaux à créer · {len(left_out)} dates écartées" in text
    assert f"Créer {len(created_days)} créneaux" in text
    rows = re.findall(r'<tr class="excluded-[a-z_]+">\s*<th scope="row"><time datetime="([^"]+)">.*?</th>\s*<td>(.*?)</td>', preview.text, re.DOTALL)  # fmt: skip
    shown = {
        clock.local_date(datetime.fromisoformat(at)): html.unescape(why).replace("\xa0", " ")
        for at, why in rows
    }
    assert shown == left_out
    assert await count(db, Slot) == 0  # a preview writes nothing
    assert problems(preview.text, "fr") == []

    created = await post(
        client,
        "/staff/planning",
        plan_form(activity.id, action="create", previewed=fingerprint_of(preview)),
    )
    assert created.status_code == 303
    assert created.headers["location"] == (
        f"/staff/planning/slots?first_day={JULY_1}&last_day={AUGUST_31}"
        f"&activity_id={activity.id}&created={len(created_days)}"
    )
    planned = await slots_of(db, activity.id)
    assert [clock.local_date(s.starts_at) for s in planned] == created_days
    assert {s.starts_at.astimezone(clock.OFFICE_TZ).time() for s in planned} == {time(10, 0)}
    assert {(s.capacity, s.min_participants, s.status) for s in planned} == {
        (12, 4, SlotStatus.SCHEDULED)
    }
    # Decided the day before at 18:00 (Paris), bookings closing two hours before the start.
    first = planned[0]
    assert first.decision_at == clock.local_datetime(JULY_1 - timedelta(days=1), time(18))
    assert first.booking_cutoff_at == first.starts_at - timedelta(minutes=120)
    async with db.reading() as session:
        entries = list(
            await session.scalars(select(AuditEntry).where(AuditEntry.action == "slot.created"))
        )
    assert sorted(e.slot_id for e in entries) == sorted(s.id for s in planned)
    assert {e.actor for e in entries} == {f"staff:{account.email}"}

    listed = await client.get(created.headers["location"])
    assert f"{len(created_days)} créneaux créés." in readable(listed)
    assert listed.text.count('name="slot_ids"') == len(created_days)
    assert problems(listed.text, "fr") == []


async def test_creating_again_creates_nothing_more(staff, db):
    client, _ = staff
    activity = await farm_with_day_off(db)
    created_days, left_out = expected_plan()
    preview = await post(client, "/staff/planning", plan_form(activity.id))
    await post(
        client,
        "/staff/planning",
        plan_form(activity.id, action="create", previewed=fingerprint_of(preview)),
    )
    again = await post(client, "/staff/planning", plan_form(activity.id))
    text = readable(again)
    assert f"0 créneau à créer · {len(created_days) + len(left_out)} dates écartées" in text
    assert text.count("Déjà planifié") == len(created_days)
    assert 'value="create"' not in again.text  # nothing to create: no button
    second = await post(
        client,
        "/staff/planning",
        plan_form(activity.id, action="create", previewed=fingerprint_of(again)),
    )
    assert second.headers["location"].endswith("&created=0")
    assert len(await slots_of(db, activity.id)) == len(created_days)


async def test_two_plans_racing_create_each_slot_once(db):
    activity = await farm_with_day_off(db)
    created_days, _ = expected_plan()
    recurrence = Recurrence(JULY_1, AUGUST_31, time(10), weekdays=tuple(range(7)))
    results = await asyncio.gather(
        *(season.create(db, activity.id, recurrence, Rules(), actor="test") for _ in range(3))
    )
    assert sorted(len(r.slot_ids) for r in results) == [0, 0, len(created_days)]
    assert len(await slots_of(db, activity.id)) == len(created_days)


async def test_a_date_whose_go_no_go_time_has_come_is_too_late_to_plan(db):
    """Decided the day before at 18:00: at 17:59 that day the visit can still be planned, at
    18:00 it would be decided at once with nobody booked."""
    activity = await make_activity(db, min_participants=4)
    day = clock.today() + timedelta(days=20)
    recurrence = Recurrence(day, day, time(10), weekdays=(day.weekday(),))
    day_before = day - timedelta(days=1)
    rules = Rules(skip_changeover_saturdays=False, skip_public_holidays=False)
    early = await season.preview(
        db, activity.id, recurrence, rules, now=clock.local_datetime(day_before, time(17, 59))
    )
    late = await season.preview(
        db, activity.id, recurrence, rules, now=clock.local_datetime(day_before, time(18, 0))
    )
    assert early.dates == [clock.local_datetime(day, time(10))] and early.excluded == []
    assert late.dates == [] and [e.reason for e in late.excluded] == [season.Exclusion.TOO_LATE]


async def test_a_form_changed_after_its_preview_is_previewed_again_not_created(staff, db):
    client, _ = staff
    activity = await farm_with_day_off(db)
    preview = await post(client, "/staff/planning", plan_form(activity.id))
    changed = await post(
        client,
        "/staff/planning",
        plan_form(
            activity.id, action="create", weekdays=["1", "3"], previewed=fingerprint_of(preview)
        ),
    )
    assert changed.status_code == 200
    assert "Le formulaire a changé depuis l’aperçu" in readable(changed)
    assert fingerprint_of(changed) != fingerprint_of(preview)
    assert await count(db, Slot) == 0


async def test_a_refused_plan_keeps_the_values_and_says_what_is_wrong(staff, db):
    client, _ = staff
    activity = await make_activity(db)
    refused = await post(
        client,
        "/staff/planning",
        plan_form("", weekdays=[], at="25:00", rule="", skip_holidays=""),
    )
    assert refused.status_code == 422
    text = readable(refused)
    assert "Choisissez une activité." in text
    assert "Saisissez une heure, par exemple 10:00." in text
    assert 'value="25:00"' in refused.text
    assert 'id="skip_holidays" name="skip_holidays" value="yes">' in refused.text  # left unticked
    assert problems(refused.text, "fr") == []

    no_day = await post(client, "/staff/planning", plan_form(activity.id, weekdays=[]))
    assert no_day.status_code == 422
    assert "Choisissez au moins un jour de la semaine" in readable(no_day)

    backwards = await post(
        client,
        "/staff/planning",
        plan_form(activity.id, first_day=AUGUST_31.isoformat(), last_day=JULY_1.isoformat()),
    )
    assert backwards.status_code == 422
    assert "Le dernier jour doit être le même jour que le premier ou après" in readable(backwards)

    bad_rule = await post(
        client, "/staff/planning", plan_form(activity.id, rule="FREQ=HOURLY;BYDAY=TU")
    )
    assert bad_rule.status_code == 422
    assert "Cette règle de récurrence est illisible" in readable(bad_rule)
    assert 'value="FREQ=HOURLY;BYDAY=TU"' in bad_rule.text
    assert problems(bad_rule.text, "fr") == []

    await activities.set_archived(db, activity.id, True, actor="test")
    archived = await post(client, "/staff/planning", plan_form(activity.id))
    assert archived.status_code == 409
    assert "Cette activité est archivée" in readable(archived)
    assert await count(db, Slot) == 0


async def test_an_experts_rule_plans_every_other_tuesday(staff, db):
    client, _ = staff
    activity = await make_activity(db)
    rule = "FREQ=WEEKLY;INTERVAL=2;BYDAY=TU"
    preview = await post(client, "/staff/planning", plan_form(activity.id, weekdays=[], rule=rule))
    created = await post(
        client,
        "/staff/planning",
        plan_form(
            activity.id, weekdays=[], rule=rule, action="create", previewed=fingerprint_of(preview)
        ),
    )
    assert created.status_code == 303
    days = [clock.local_date(s.starts_at) for s in await slots_of(db, activity.id)]
    # RFC 5545: weeks start on Monday and the first counted week is the one of 1 July.
    week_of_july_1 = JULY_1 - timedelta(days=JULY_1.weekday())
    tuesdays = [week_of_july_1 + timedelta(days=1 + 14 * n) for n in range(10)]
    assert days == [d for d in tuesdays if JULY_1 <= d <= AUGUST_31]


# --- bulk edits ---------------------------------------------------------------------------------


async def book(
    db, slot_id: int, adults: int, *, email: str = "famille@example.org", locale: str = "fr"
):  # type: ignore[no-untyped-def]
    request = BookingRequest(
        slot_id=slot_id,
        adults=adults,
        children=0,
        name="Famille Martin",
        email=email,
        locale=locale,
    )
    return await booking_service.book(db, request, POLICY, actor="test")


async def three_slots(db) -> list[Slot]:  # type: ignore[no-untyped-def]
    activity = await make_activity(db, capacity=10)
    start = clock.local_datetime(clock.today() + timedelta(days=10), time(10))
    return [
        await make_slot(
            db,
            activity=activity,
            starts_at=start + timedelta(days=n),
            capacity=10,
            min_participants=2,
        )
        for n in range(3)
    ]


def bulk_form(slots: list[Slot], **fields: Any) -> dict[str, Any]:
    first = clock.local_date(slots[0].starts_at)
    return {
        "slot_ids": [str(s.id) for s in slots],
        "activity_id": str(slots[0].activity_id),
        "first_day": first.isoformat(),
        "last_day": (first + timedelta(days=30)).isoformat(),
        "capacity": "",
        "min_participants": "",
        "reason": "",
        "message": "",
        **fields,
    }


async def test_a_capacity_under_the_people_booked_changes_no_slot_and_names_the_slot(staff, db):
    client, account = staff
    slots = await three_slots(db)
    await book(db, slots[1].id, 6)
    refused = await post(
        client, "/staff/planning/slots", bulk_form(slots, capacity="5", action="edit")
    )
    assert refused.status_code == 409
    text = readable(refused)
    assert "Rien n’a été modifié : 1 des créneaux choisis ne peuvent pas recevoir" in text
    assert "6 personnes sont déjà inscrites : la capacité ne peut pas descendre en dessous." in text
    assert f'<tr id="slot-row-{slots[1].id}" class="refused">' in refused.text
    assert 'id="capacity" name="capacity" value="5"' in refused.text
    assert refused.text.count('name="slot_ids" value=') == 3
    assert refused.text.count(" checked>") >= 3  # the selection is kept
    assert problems(refused.text, "fr") == []
    assert [(await fetch_slot(db, s.id)).capacity for s in slots] == [10, 10, 10]

    done = await post(
        client,
        "/staff/planning/slots",
        bulk_form(slots, capacity="8", min_participants="3", action="edit"),
    )
    assert done.status_code == 303 and "edited=3" in done.headers["location"]
    after = [await fetch_slot(db, s.id) for s in slots]
    assert [(s.capacity, s.min_participants, s.booked) for s in after] == [
        (8, 3, 0),
        (8, 3, 6),
        (8, 3, 0),
    ]
    async with db.reading() as session:
        entries = list(
            await session.scalars(
                select(AuditEntry)
                .where(AuditEntry.action == "slot.updated")
                .order_by(AuditEntry.slot_id)
            )
        )
    assert [(e.slot_id, e.data["before"], e.data["after"], e.actor) for e in entries] == [
        (
            s.id,
            {"capacity": 10, "min_participants": 2},
            {"capacity": 8, "min_participants": 3},
            f"staff:{account.email}",
        )
        for s in slots
    ]
    assert "3 créneaux modifiés." in readable(await client.get(done.headers["location"]))

    above = await post(
        client, "/staff/planning/slots", bulk_form(slots[:1], min_participants="9", action="edit")
    )
    assert above.status_code == 409
    assert "Le minimum (9) ne peut pas dépasser la capacité (8)." in readable(above)


async def test_a_bulk_form_with_nothing_to_do_says_so(staff, db):
    client, _ = staff
    slots = await three_slots(db)
    nothing = await post(client, "/staff/planning/slots", bulk_form(slots, action="edit"))
    assert nothing.status_code == 422
    assert "Indiquez une nouvelle capacité, un nouveau minimum, ou les deux." in readable(nothing)
    none_ticked = await post(
        client,
        "/staff/planning/slots",
        {**bulk_form(slots, capacity="12", action="edit"), "slot_ids": []},
    )
    assert none_ticked.status_code == 422
    assert "Cochez au moins un créneau." in readable(none_ticked)
    assert 'value="12"' in none_ticked.text
    assert problems(none_ticked.text, "fr") == []


async def test_a_larger_capacity_offers_the_freed_places_to_the_waiting_list(staff, db):
    client, _ = staff
    slot = await make_slot(db, capacity=3)
    await book(db, slot.id, 3)
    await waitlist.join(
        db,
        slot.id,
        adults=2,
        children=0,
        name="Anna Weber",
        email="anna@example.de",
        locale="de",
        policy=POLICY,
    )
    done = await post(
        client, "/staff/planning/slots", bulk_form([slot], capacity="5", action="edit")
    )
    assert done.status_code == 303 and "offered=1" in done.headers["location"]
    async with db.reading() as session:
        offers = list(
            await session.scalars(
                select(OutboxMessage).where(OutboxMessage.dedup_key.like("waitlist-offer:%"))
            )
        )
    assert [m.to_address for m in offers] == ["anna@example.de"]
    page = await client.get(done.headers["location"])
    assert "Places libérées proposées à 1 groupe de la liste d’attente." in readable(page)


async def test_a_booking_racing_a_smaller_capacity_never_oversells(db):
    """Each round: 6 booked of 10, then at once a booking of 3 and a capacity of 7. Either the
    booking comes first (the edit is refused, naming 9 booked) or the edit does (the booking is
    refused); never both, never a crash."""
    activity = await make_activity(db, capacity=10)
    start = clock.local_datetime(clock.today() + timedelta(days=5), time(9))
    for n in range(RACE_ROUNDS):
        slot = await make_slot(
            db, activity=activity, starts_at=start + timedelta(hours=n), capacity=10
        )
        await book(db, slot.id, 6)
        booked, edited = await asyncio.gather(
            book(db, slot.id, 3, email=f"late{n}@example.org"),
            season.edit_slots(db, [slot.id], SlotChange(capacity=7), actor="test"),
            return_exceptions=True,
        )
        after = await fetch_slot(db, slot.id)
        assert after.booked <= after.capacity
        if isinstance(edited, SlotsRefused):
            [refusal] = edited.refusals
            assert isinstance(refusal.error, CapacityBelowBooked)
            assert refusal.error.params == {"booked": 9}
            assert not isinstance(booked, Exception)
            assert (after.capacity, after.booked) == (10, 9)
        else:
            assert edited.changed == [slot.id], edited
            assert isinstance(booked, NotEnoughPlaces), booked
            assert (after.capacity, after.booked) == (7, 6)


# --- bulk cancellation -------------------------------------------------------------------------


async def test_bulk_cancel_tells_every_booked_visitor_once(staff, db):
    client, account = staff
    slots = await three_slots(db)
    chosen = slots[:2]
    await book(db, chosen[0].id, 2, email="anne@example.fr", locale="fr")
    await book(db, chosen[0].id, 3, email="jan@example.nl", locale="nl")
    await book(db, chosen[1].id, 1, email="tom@example.co.uk", locale="en")
    await book(db, slots[2].id, 2, email="kept@example.fr")

    unconfirmed = await post(client, "/staff/planning/slots", bulk_form(chosen, action="cancel"))
    assert unconfirmed.status_code == 422
    text = readable(unconfirmed)
    assert "Choisissez pourquoi les créneaux sont annulés." in text
    assert "Cochez la case pour confirmer" in text
    assert problems(unconfirmed.text, "fr") == []
    assert await count(db, Slot, Slot.status == SlotStatus.CANCELLED) == 0

    form = bulk_form(
        chosen, reason="weather", message="Orages annoncés.", confirm="yes", action="cancel"
    )
    done = await post(client, "/staff/planning/slots", form)
    assert done.status_code == 303
    assert "cancelled=2" in done.headers["location"] and "told=3" in done.headers["location"]
    assert "2 créneaux annulés. 3 visiteurs prévenus par e-mail." in readable(
        await client.get(done.headers["location"])
    )
    async with db.reading() as session:
        told = sorted(
            (
                await session.execute(
                    select(OutboxMessage.to_address).where(
                        OutboxMessage.dedup_key.like("slot-cancelled:%")
                    )
                )
            ).scalars()
        )
        live = list(
            await session.scalars(
                select(Booking.email).where(Booking.status == BookingStatus.CONFIRMED)
            )
        )
        cancelled = list(
            await session.scalars(select(AuditEntry).where(AuditEntry.action == "slot.cancelled"))
        )
    assert told == ["anne@example.fr", "jan@example.nl", "tom@example.co.uk"]
    assert live == ["kept@example.fr"]
    assert {(e.slot_id, e.actor, e.data["after"]["reason"]) for e in cancelled} == {
        (s.id, f"staff:{account.email}", "weather") for s in chosen
    }
    assert await cancellation_emails.untold_cancellations(db) == {}  # tick has no one left to tell

    again = await post(client, "/staff/planning/slots", form)
    assert again.status_code == 409
    assert "Cette visite a été annulée" in readable(again)
    async with db.reading() as session:
        assert (
            await session.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.dedup_key.like("slot-cancelled:%"))
            )
            == 3
        )


async def test_the_slot_list_filters_by_activity_and_period(staff, db):
    client, _ = staff
    slots = await three_slots(db)
    other = await make_slot(db, starts_at=slots[0].starts_at)
    first = clock.local_date(slots[0].starts_at)
    page = await client.get(
        f"/staff/planning/slots?activity_id={slots[0].activity_id}&first_day={first}&last_day={first + timedelta(days=1)}"
    )
    ids = re.findall(r'name="slot_ids" value="(\d+)"', page.text)
    assert ids == [str(slots[0].id), str(slots[1].id)] and str(other.id) not in ids
    everything = await client.get("/staff/planning/slots")
    assert set(re.findall(r'name="slot_ids" value="(\d+)"', everything.text)) == {
        str(s.id) for s in [*slots, other]
    }
    bad = await client.get("/staff/planning/slots?first_day=demain")
    assert bad.status_code == 422
    assert "Saisissez une date (jour, mois et année)." in readable(bad)
    assert problems(bad.text, "fr") == []


# --- from a real browser ------------------------------------------------------------------------


async def test_a_july_august_plan_from_the_browser(browser: Any, db, database_url: str):  # type: ignore[no-untyped-def]
    """The issue's "done when": log in, plan July and August for a farm skipping Saturdays and
    holidays, see the preview, create."""
    from reservations.base.rules.accounts import add_staff
    from tests.live_server import live_server
    from tests.staff_support import PASSWORD
    from tests.test_browser import plain

    activity = await farm_with_day_off(db)
    created_days, left_out = expected_plan()
    account = await add_staff(db, "planner@office.example", PASSWORD, actor="test")
    provider = (await catalogue_pages.provider_page(db, activity.provider_id)).provider.name
    with live_server(database_url) as site:
        context = await browser.new_context(locale="fr-FR")
        page = await context.new_page()
        try:
            await page.goto(site.url("/staff/planning"))
            await page.get_by_label("E-mail").fill(account.email)
            await page.get_by_label("Mot de passe").fill(PASSWORD)
            await page.get_by_role("button", name="Se connecter").click()
            await page.wait_for_url(re.compile(r"/staff/planning$"))
            await page.get_by_label("Activité à planifier").select_option(
                label=f"{provider} — {activity.name}"
            )
            await page.get_by_label("Du", exact=True).fill(JULY_1.isoformat())
            await page.get_by_label("Au (inclus)").fill(AUGUST_31.isoformat())
            for day in ("Lundi", "Mardi", "Mercredi", "Jeudi", "Vendredi", "Samedi", "Dimanche"):
                await page.get_by_label(day, exact=True).check()
            assert await page.get_by_label("Les jours fériés français").is_checked()
            await page.get_by_role("button", name="Aperçu").click()
            status = plain(await page.get_by_role("status").inner_text())
            assert (
                f"{len(created_days)} créneaux à créer · {len(left_out)} dates écartées" in status
            )
            await page.get_by_role("button", name=f"Créer {len(created_days)} créneaux").click()
            await page.wait_for_url(re.compile(r"/staff/planning/slots\?"))
            done = plain(await page.get_by_role("status").inner_text())
            assert f"{len(created_days)} créneaux créés." in done
        finally:
            await context.close()
    planned = await slots_of(db, activity.id)
    assert [clock.local_date(s.starts_at) for s in planned] == created_days
