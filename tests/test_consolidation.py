"""Consolidation of two under-minimum visits of one activity, on each database: the at-risk
board proposes the pair, one click invites the smaller group (an email per booking, its link
sealed in the outbox), each visitor moves with one tap (opening the link changes nothing), a
second tap or two at once move once, an ended invitation or a changed booking moves nothing,
refusals write nothing, and a crowd of accepted invitations racing web bookings for the
target's last places never oversells it."""

from __future__ import annotations

import asyncio
import re
from datetime import date, time, timedelta

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select

from reservations.app import create_app
from reservations.base import clock
from reservations.base.errors import DomainError
from reservations.base.models import (
    AuditEntry,
    Booking,
    BookingStatus,
    CancelReason,
    Channel,
    MoveInvitation,
    OutboxMessage,
)
from reservations.base.reads import board
from reservations.base.reads.reports import season_report
from reservations.base.rules import booking as booking_service
from reservations.base.rules import consolidation, moves
from reservations.base.rules import slots as slot_service
from reservations.base.rules.booking import BookingPolicy, BookingRequest
from reservations.base.rules.consolidation import (
    InvitationExpired,
    InvitationOutdated,
    NobodyToInvite,
    NotMergeable,
    NotSameActivity,
    TargetTooSmall,
)
from reservations.notices.move_invitation_emails import invitation_notifier
from tests.factories import fetch_slot, make_activity, make_slot
from tests.outbox_support import as_sent
from tests.staff_support import csrf, staff_client
from tests.test_demo import slots_whose_counter_is_wrong
from tests.test_visitors import PUBLIC_URL, form_token, site_settings, upcoming

POLICY = BookingPolicy(secret_key="test", max_party_size=15)
ACTOR = "staff:agent@office.example"
MOVE_LINK = re.compile(re.escape(PUBLIC_URL) + r"/move/([A-Za-z0-9_\-]+)")


async def book(
    db,
    slot_id: int,
    adults: int,
    *,
    email: str | None = "a@example.org",
    locale="fr",
    now=None,
    via_share_link=False,
):  # type: ignore[no-untyped-def]
    request = BookingRequest(
        slot_id=slot_id,
        adults=adults,
        children=0,
        name="Marie Dupont",
        email=email,
        phone=None if email else "04 66 00 00 00",
        locale=locale,
        channel=Channel.WEB if email else Channel.PHONE,
        via_share_link=via_share_link,
    )
    return await booking_service.book(db, request, POLICY, actor="test", now=now)


async def two_dates(
    db, *, capacity: int = 10, minimum: int = 5, source: tuple = (1, 1), target: tuple = (3,)
):  # type: ignore[no-untyped-def]
    """One activity on two dates (in 2 and 3 days, both decided within the board's 72 hours),
    with parties of the given sizes booked on each."""
    activity = await make_activity(db, capacity=capacity, min_participants=minimum)
    first = await make_slot(
        db, activity=activity, starts_at=upcoming(2), capacity=capacity, min_participants=minimum
    )
    second = await make_slot(
        db, activity=activity, starts_at=upcoming(3), capacity=capacity, min_participants=minimum
    )
    for number, people in enumerate(source):
        await book(db, first.id, people, email=f"source{number}@example.org", locale="de")
    for number, people in enumerate(target):
        await book(db, second.id, people, email=f"target{number}@example.org")
    return first, second


async def invite(db, source_id: int, target_id: int, **options):  # type: ignore[no-untyped-def]
    notify = invitation_notifier(site_settings(db))
    return await consolidation.invite_to_merge(
        db, source_id, target_id, actor=ACTOR, notify=notify, **options
    )


async def invitation_links(db) -> list[str]:  # type: ignore[no-untyped-def]
    """The move links of the invitations queued, as the mail server gets them."""
    async with db.reading() as session:
        messages = await session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.dedup_key.startswith("move-invitation:"))
            .order_by(OutboxMessage.id)
        )
        return [MOVE_LINK.search(as_sent(m).text).group(1) for m in messages]  # type: ignore[union-attr]


async def count(db, model) -> int:  # type: ignore[no-untyped-def]
    async with db.reading() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def slot_of(db, booking_id: int) -> int:  # type: ignore[no-untyped-def]
    async with db.reading() as session:
        return (await session.get(Booking, booking_id)).slot_id  # type: ignore[union-attr]


# --- The rules ---------------------------------------------------------------------------------


async def test_inviting_emails_each_booking_with_its_link_and_audits_both_slots(db):
    first, second = await two_dates(db, source=(1, 1), target=(3,))
    phoned = await book(db, first.id, 1, email=None)  # a phone booking: called, not emailed
    invited = await invite(db, first.id, second.id)
    assert (invited.invited, invited.people) == (2, 2)
    assert invited.to_call == (phoned.booking.reference,)
    links = await invitation_links(db)
    assert len(links) == 2 and len(set(links)) == 2
    async with db.reading() as session:
        messages = list(await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))
        stored = set(await session.scalars(select(MoveInvitation.token_hash)))
        actions = set(await session.scalars(select(AuditEntry.action)))
    # The outbox keeps a placeholder, never the live secret; the table keeps only its hash.
    for message in messages:
        assert not any(link in message.text_body + (message.html_body or "") for link in links)
    assert not stored & set(links)
    sent = as_sent(messages[0])
    assert sent.subject.startswith("Auf einen Termin umbuchen, der stattfindet")  # in German
    assert "Auf diesen Termin umbuchen" in sent.html
    assert {"slot.merge_invited_out", "slot.merge_invited_in"} <= actions
    # Inviting again: nobody is left to invite, nothing more is written.
    with pytest.raises(NobodyToInvite):
        await invite(db, first.id, second.id)
    assert await count(db, MoveInvitation) == 2


@pytest.mark.parametrize(
    ("case", "error"),
    [
        ("other activity", NotSameActivity),
        ("target has its minimum", NotMergeable),
        ("target too small", TargetTooSmall),
    ],
)
async def test_a_pair_that_cannot_be_merged_is_refused_with_nothing_written(db, case, error):
    if case == "other activity":
        first, _ = await two_dates(db)
        other, _ = await two_dates(db)
        source, target = first.id, other.id
    elif case == "target has its minimum":
        first, second = await two_dates(db, source=(1,), target=(5,))
        source, target = first.id, second.id
    else:  # 4 people to move, 2 places left on the target
        first, second = await two_dates(db, capacity=5, minimum=5, source=(2, 2), target=(3,))
        source, target = first.id, second.id
    with pytest.raises(error):
        await invite(db, source, target)
    assert await count(db, MoveInvitation) == 0
    assert await count(db, OutboxMessage) == 0


async def test_accepting_moves_the_booking_and_a_second_tap_moves_nothing(db):
    first, second = await two_dates(db, source=(2,), target=(3,))
    await invite(db, first.id, second.id)
    (token,) = await invitation_links(db)
    opened = await consolidation.find(db, token)
    assert opened.accepted_at is None and opened.still_valid  # reading changes nothing
    move = await consolidation.accept(db, token)
    assert (move.source_slot_id, move.target_slot_id) == (first.id, second.id)
    assert ((await fetch_slot(db, first.id)).booked, (await fetch_slot(db, second.id)).booked) == (
        0,
        5,
    )
    assert (await consolidation.find(db, token)).accepted_at is not None
    with pytest.raises(InvitationOutdated):
        await consolidation.accept(db, token)
    assert (await fetch_slot(db, second.id)).booked == 5


async def test_an_ended_invitation_moves_nothing(db):
    first, second = await two_dates(db, source=(2,), target=(3,))
    await invite(db, first.id, second.id)
    (token,) = await invitation_links(db)
    ended = (await consolidation.find(db, token)).expires_at
    assert ended == (await fetch_slot(db, first.id)).decision_at  # the source's decision
    with pytest.raises(InvitationExpired):
        await consolidation.accept(db, token, now=ended + timedelta(seconds=1))
    assert ((await fetch_slot(db, first.id)).booked, (await fetch_slot(db, second.id)).booked) == (
        2,
        3,
    )
    assert (await consolidation.find(db, token)).accepted_at is None


async def test_a_booking_cancelled_since_the_invitation_is_not_moved(db):
    first, second = await two_dates(db, source=(2,), target=(3,))
    await invite(db, first.id, second.id)
    (token,) = await invitation_links(db)
    invitation = await consolidation.find(db, token)
    await booking_service.cancel_booking(db, invitation.booking_id, actor=ACTOR)
    with pytest.raises(InvitationOutdated):
        await consolidation.accept(db, token)
    assert (await fetch_slot(db, second.id)).booked == 3


async def test_two_taps_at_once_move_the_booking_once(db):
    first, second = await two_dates(db, source=(2,), target=(3,))
    await invite(db, first.id, second.id)
    (token,) = await invitation_links(db)
    answers = await asyncio.gather(
        *(consolidation.accept(db, token) for _ in range(4)), return_exceptions=True
    )
    assert sum(not isinstance(a, BaseException) for a in answers) == 1
    assert all(isinstance(a, (DomainError,)) for a in answers if isinstance(a, BaseException))
    assert ((await fetch_slot(db, first.id)).booked, (await fetch_slot(db, second.id)).booked) == (
        0,
        5,
    )
    assert await slots_whose_counter_is_wrong(db) == []


async def test_invited_moves_racing_web_bookings_never_oversell_the_target(db):
    """Six parties of 2 invited to a target with 13 places left, while eight web bookings of
    1 want them too (20 people for 13 places): whatever the order, the target ends at most
    full, and every counter equals the sum of its live bookings."""
    first, second = await two_dates(
        db, capacity=16, minimum=16, source=(2, 2, 2, 2, 2, 2), target=(3,)
    )
    await invite(db, first.id, second.id)
    tokens = await invitation_links(db)
    assert len(tokens) == 6
    web = [book(db, second.id, 1, email=f"web{n}@example.org") for n in range(8)]
    accepted = [consolidation.accept(db, token) for token in tokens]
    answers = await asyncio.gather(*web, *accepted, return_exceptions=True)
    unexpected = [
        a for a in answers if isinstance(a, BaseException) and not isinstance(a, DomainError)
    ]
    assert unexpected == []
    target = await fetch_slot(db, second.id)
    assert target.booked <= target.capacity
    async with db.reading() as session:
        live = await session.scalar(
            select(func.coalesce(func.sum(Booking.adults + Booking.children), 0)).where(
                Booking.slot_id == second.id, Booking.status == BookingStatus.CONFIRMED
            )
        )
    assert live == target.booked
    moved = sum(1 for a in answers[8:] if not isinstance(a, BaseException))
    booked_online = sum(1 for a in answers[:8] if not isinstance(a, BaseException))
    assert target.booked == 3 + 2 * moved + booked_online
    # 20 people wanted 13 places: a refusal means the places left were too few for it.
    left = target.capacity - target.booked
    if booked_online < 8:
        assert left == 0
    if moved < 6:
        assert left < 2
    assert await slots_whose_counter_is_wrong(db) == []


# --- The pages ---------------------------------------------------------------------------------


async def test_the_board_proposes_the_pair_and_one_click_invites_then_one_tap_moves(db):
    first, second = await two_dates(db, source=(1, 1), target=(3,))
    settings = site_settings(db)
    async with staff_client(db, settings) as (office, _):
        board = await office.get("/staff/")
        assert board.status_code == 200
        assert f'id="merge-{first.id}-{second.id}"' in board.text
        assert "elle aurait 5 participants pour un minimum de 5" in board.text.replace("\xa0", " ")
        answer = await office.post(
            "/staff/merge",
            data={"source": str(first.id), "target": str(second.id), "_csrf_token": csrf(office)},
            follow_redirects=True,
        )
        assert answer.status_code == 200
        assert "Invitations envoyées à 2 réservations (2 personnes)" in answer.text
        assert "2 réservations invitées · 0 a changé de date" in answer.text.replace("\xa0", " ")
        assert "Inviter les autres" not in answer.text  # everyone with an address was invited
    token = (await invitation_links(db))[0]
    async with AsyncTestClient(app=create_app(settings, database=db)) as visitor:
        page = await visitor.get(f"/move/{token}?lang=de")
        assert page.status_code == 200
        assert page.headers["cache-control"] == "no-store"
        assert "Auf diesen Termin umbuchen" in page.text
        assert (await fetch_slot(db, second.id)).booked == 3  # opening the link moved nobody
        csrf_token = await form_token(visitor, f"/move/{token}")
        done = await visitor.post(
            f"/move/{token}", data={"_csrf_token": csrf_token}, follow_redirects=True
        )
        assert done.status_code == 200
        assert "Sie sind auf den neuen Termin umgebucht" in done.text  # the language kept
        again = await visitor.post(
            f"/move/{token}", data={"_csrf_token": csrf_token}, follow_redirects=True
        )
        assert again.status_code == 200  # a second tap: the same answer, nothing more moved
        unknown = await visitor.get("/move/" + "x" * 43)
        assert unknown.status_code == 404
    assert (await fetch_slot(db, second.id)).booked == 4
    async with staff_client(db, settings) as (office, _):
        board_after = (await office.get("/staff/")).text.replace("\xa0", " ")
    assert "1 réservation passée à une autre date sur invitation" in board_after
    async with db.reading() as session:
        moved_emails = await session.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.dedup_key.startswith("booking-moved:"))
        )
    assert moved_emails == 1


async def test_merging_needs_a_logged_in_office_and_its_csrf_token(db):
    first, second = await two_dates(db)
    settings = site_settings(db)
    async with AsyncTestClient(app=create_app(settings, database=db)) as anonymous:
        refused = await anonymous.post(
            "/staff/merge",
            data={"source": str(first.id), "target": str(second.id)},
            follow_redirects=False,
        )
        assert refused.status_code in (302, 303, 401, 403)
    async with staff_client(db, settings) as (office, _):
        no_token = await office.post(
            "/staff/merge", data={"source": str(first.id), "target": str(second.id)}
        )
        assert no_token.status_code == 403
        bad = await office.post("/staff/merge", data={"source": "x", "_csrf_token": csrf(office)})
        assert bad.status_code == 422 and "Choisissez deux visites du tableau" in bad.text
    assert await count(db, MoveInvitation) == 0


async def test_a_booking_from_a_shared_link_is_marked_so(db):
    slot = await make_slot(db, starts_at=upcoming(4), capacity=10, min_participants=5)
    settings = site_settings(db)
    async with AsyncTestClient(app=create_app(settings, database=db)) as visitor:
        for shared in (True, False):
            path = f"/visits/{slot.id}" + ("?shared=1" if shared else "")
            token = await form_token(visitor, path)
            page = await visitor.get(path)
            form_key = re.search(r'name="form_key" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
            data = {
                "adults": "1",
                "children": "0",
                "name": "Anne Martin",
                "email": "anne@example.org",
                "phone": "",
                "form_key": form_key,
                "_csrf_token": token,
            }
            if 'name="shared" value="1"' in page.text:
                data["shared"] = "1"
            answer = await visitor.post(f"/visits/{slot.id}", data=data, follow_redirects=False)
            assert answer.status_code == 303, answer.text[:300]
    async with db.reading() as session:
        marks = list(await session.scalars(select(Booking.via_share_link).order_by(Booking.id)))
    assert marks == [True, False]


# --- The report's effect figures -------------------------------------------------------------


#: A fixed day of a future season, so that the five visits below fall in one season whatever
#: the day the test runs.
JUNE = clock.local_datetime(date(2030, 6, 10), time(12, 0))


async def test_the_report_counts_the_visits_saved_by_a_merge_and_by_a_shared_link(db):
    """Five visits of minimum 5, decided: A (2) merged into B (3, then 5); C with 3 + 2 from a
    shared link; D with 5 + 1 from a shared link (it had its minimum anyway); E with 1 (called
    off). Worked out by hand: 3 of the 5 decided went ahead (60%), 2 of them saved (20%
    without them); A merged, E too few people."""
    activity = await make_activity(db, capacity=10, min_participants=5)

    async def visit(days: int, hour: int, *parties: int, shared: tuple[int, ...] = ()) -> int:
        starts_at = clock.local_datetime(date(2030, 6, 10 + days), time(hour, 0))
        slot = await make_slot(
            db, activity=activity, starts_at=starts_at, capacity=10, min_participants=5
        )
        for people in parties:
            await book(db, slot.id, people, now=JUNE)
        for people in shared:
            await book(db, slot.id, people, now=JUNE, via_share_link=True)
        return slot.id

    merged, merged_into = await visit(2, 10, 2), await visit(3, 10, 3)
    share_helped, anyway = await visit(4, 10, 3, shared=(2,)), await visit(4, 15, 5, shared=(1,))
    too_few = await visit(2, 15, 1)
    await invite(db, merged, merged_into, now=JUNE)
    (token,) = await invitation_links(db)
    await consolidation.accept(db, token, now=JUNE + timedelta(hours=1))
    decided = await slot_service.decide_due_slots(db, now=JUNE + timedelta(days=5))
    assert sorted(decided.cancelled) == sorted([merged, too_few])
    assert {share_helped, anyway, merged_into} <= set(decided.confirmed)
    effects = (await season_report(db, 2030))["effects"]
    assert effects["by_outcome"] == {
        "reached_minimum": 1,
        "saved_by_consolidation": 1,
        "saved_by_share": 1,
        "merged": 1,
        "too_few_people": 1,
        "cancelled_other": 0,
        "undecided": 0,
    }
    assert (effects["went_ahead"], effects["decided_by_bookings"]) == (3, 5)
    assert effects["held_rate_when_decided"] == pytest.approx(0.6)
    assert effects["visits_saved"] == 2
    assert effects["held_rate_without_saved"] == pytest.approx(0.2)
    settings = site_settings(db)
    async with staff_client(db, settings) as (office, _):
        page = await office.get("/staff/reports?season=2030")
    assert page.status_code == 200
    row = re.search(
        r'id="outcome-saved_by_consolidation"><th scope="row">[^<]+</th><td class="number">(\d+)',
        page.text,
    )
    assert row and row.group(1) == "1"
    assert "Sur 5 visites décidées par leurs réservations, 3 ont eu lieu" in page.text


async def test_the_board_counts_who_is_left_to_invite(db):
    """Two invited; then a third party books the first date: one left to invite, and the
    board offers to invite the others. A booking without an email is never counted."""
    first, second = await two_dates(db, minimum=7, source=(1, 1), target=(5,))
    await book(db, first.id, 1, email=None)
    [before] = await board.merge_proposals(db, await board.at_risk(db))
    assert (before.invited, before.accepted, before.to_invite) == (0, 0, 2)
    await invite(db, first.id, second.id)
    await book(db, first.id, 1, email="late@example.org")
    [after] = await board.merge_proposals(db, await board.at_risk(db))
    assert (after.source.id, after.target.id) == (first.id, second.id)
    assert (after.invited, after.accepted, after.to_invite) == (2, 0, 1)


async def test_two_clerks_inviting_at_once_invite_each_booking_once(db):
    first, second = await two_dates(db, source=(1, 1), target=(3,))
    answers = await asyncio.gather(
        invite(db, first.id, second.id), invite(db, first.id, second.id), return_exceptions=True
    )
    assert sorted(type(a).__name__ for a in answers) == ["Invited", "NobodyToInvite"]
    assert await count(db, MoveInvitation) == 2
    assert len(await invitation_links(db)) == 2


async def test_an_invitation_past_its_end_says_so_before_anything_else(db):
    """Ended at the target's cut-off: the visitor reads that the invitation ended, not the
    target's 'bookings closed'."""
    first, second = await two_dates(db, source=(2,), target=(3,))
    await invite(db, first.id, second.id)
    (token,) = await invitation_links(db)
    later = (await fetch_slot(db, second.id)).booking_cutoff_at + timedelta(minutes=1)
    with pytest.raises(InvitationExpired):
        await consolidation.accept(db, token, now=later)


async def june_visit(db, activity, days: int, *parties: int, shared: tuple[int, ...] = ()):  # type: ignore[no-untyped-def]
    starts_at = clock.local_datetime(date(2030, 6, 10 + days), time(10, 0))
    slot = await make_slot(
        db, activity=activity, starts_at=starts_at, capacity=10, min_participants=5
    )
    bookings = [(await book(db, slot.id, people, now=JUNE)).booking.id for people in parties]
    for people in shared:
        await book(db, slot.id, people, now=JUNE, via_share_link=True)
    return slot.id, bookings


async def test_a_cancellation_after_the_decision_saves_nothing_and_a_weather_day_merges_nothing(
    db,
):
    """A visit confirmed with 3 + 2 whose party of 2 cancels afterwards reached its minimum
    by itself; a date that lost a party by invitation and was then called off for the weather
    is a weather day, not a merge."""
    activity = await make_activity(db, capacity=10, min_participants=5)
    kept, (_, leaving) = await june_visit(db, activity, 2, 3, 2)
    rained_on, _ = await june_visit(db, activity, 3, 2, 1)
    target, _ = await june_visit(db, activity, 4, 3)
    await invite(db, rained_on, target, now=JUNE)
    first_link = (await invitation_links(db))[0]
    await consolidation.accept(db, first_link, now=JUNE + timedelta(hours=1))
    await slot_service.cancel_slot(
        db, rained_on, CancelReason.WEATHER, actor=ACTOR, now=JUNE + timedelta(hours=2)
    )
    decided = await slot_service.decide_due_slots(db, now=JUNE + timedelta(days=5))
    assert kept in decided.confirmed
    await booking_service.cancel_booking(
        db, leaving, actor=ACTOR, now=JUNE + timedelta(days=5, hours=1)
    )
    effects = (await season_report(db, 2030))["effects"]
    outcomes = {k: v for k, v in effects["by_outcome"].items() if v}
    # The target: 3 + 2 moved in = 5 at its decision, 3 without them: saved by the move.
    assert outcomes == {"reached_minimum": 1, "saved_by_consolidation": 1, "cancelled_other": 1}


async def test_a_booking_invited_twice_to_the_same_date_counts_once(db):
    """Moved A -> T by invitation, moved to B by the office, invited B -> T and moved again:
    its 2 people count once among those T's invitations brought."""
    activity = await make_activity(db, capacity=10, min_participants=5)
    a, _ = await june_visit(db, activity, 2, 2)
    b, _ = await june_visit(db, activity, 3, 1)
    t, _ = await june_visit(db, activity, 4, 2)
    await invite(db, a, t, now=JUNE)
    moved = await consolidation.accept(db, (await invitation_links(db))[0], now=JUNE)
    await moves.move_booking(db, moved.booking_id, b, actor=ACTOR, now=JUNE + timedelta(hours=1))
    await invite(db, b, t, now=JUNE + timedelta(hours=2))
    links = await invitation_links(db)
    assert len(links) == 3  # the booking again, and b's own party of 1
    for link in links[1:]:
        await consolidation.accept(db, link, now=JUNE + timedelta(hours=3))
    assert (await fetch_slot(db, t)).booked == 5
    await slot_service.decide_due_slots(db, now=JUNE + timedelta(days=5))
    effects = (await season_report(db, 2030))["effects"]
    # T went ahead with 5, 3 of them moved in (2 + 1): without them 2, so saved; A and B merged.
    assert {k: v for k, v in effects["by_outcome"].items() if v} == {
        "saved_by_consolidation": 1,
        "merged": 2,
    }


async def test_the_board_shows_only_references_from_its_address(db):
    settings = site_settings(db)
    async with staff_client(db, settings) as (office, _):
        page = await office.get("/staff/?call=K7QM-42ZD,Call+0900+123+456+now")
    assert "K7QM-42ZD" in page.text and "0900" not in page.text


async def test_the_slots_history_names_the_invitations_in_words(db):
    first, second = await two_dates(db, source=(2,), target=(3,))
    await invite(db, first.id, second.id)
    (token,) = await invitation_links(db)
    await consolidation.accept(db, token)
    async with staff_client(db, site_settings(db)) as (office, _):
        page = (await office.get(f"/staff/slots/{first.id}")).text
    assert "Ses visiteurs invités à changer de date" in page
    assert "Déplacée en acceptant une invitation" in page
    assert "merge_invited" not in page and "target_slot_id" not in page
