"""Season planning: the slots of an activity generated from a recurrence, minus the days it must
not run; then edits and cancellations of many planned slots at once.

The first half is pure (no database): ``occurrences`` expands a recurrence (RFC 5545 RRULE
through ``dateutil.rrule``) into start times, and ``plan`` sorts them into dates to create and
dates excluded, each with its reason. Times are wall-clock times in Europe/Paris: the rule's
start carries that zone (an RRULE with ``DTSTART;TZID=Europe/Paris``), so 10:00 stays 10:00 on
both sides of a change of summer time. The second half reads the facts a plan needs (days off,
slots already there) and writes.

Choices:

- Each excluded date gets one reason, the first of: too late (started, or its go/no-go time
  has come), already planned, the
  provider's day off, a French public holiday, the changeover Saturday (July and August).
- Creating re-computes the plan in the writing transaction, after locking the activity's row:
  running it twice, or twice at once, creates each slot once (``(activity_id, starts_at)`` is
  unique besides).
- A bulk edit changes all the selected slots or none: when one of them cannot take the change
  (fewer places than already booked, started, cancelled) nothing is written and each refused
  slot is listed with its reason. The slots' rows are locked first, so a booking racing the
  edit either comes first (and the edit sees it) or waits and meets the new capacity.
- A bulk cancellation checks every selected slot first and cancels none when one cannot be
  cancelled; each slot is then cancelled with ``slots.cancel_slot`` in its own transaction.
"""

from __future__ import annotations

import asyncio
import enum
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

import holidays
from dateutil.rrule import DAILY, MONTHLY, WEEKLY, YEARLY, rrule, rrulestr
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from reservations.base import clock
from reservations.base.errors import (
    N_,
    DomainError,
    ErrorKind,
    SlotAlreadyHeld,
    SlotCancelled,
    SlotNotFound,
)
from reservations.base.infra.db import Database
from reservations.base.models import (
    BOOKABLE_STATUSES,
    Activity,
    CancelReason,
    Provider,
    ProviderDayOff,
    Slot,
    SlotStatus,
    WaitlistEntry,
    WaitlistStatus,
)
from reservations.base.rules import audit, slots
from reservations.base.rules.activities import ActivityNotFound, MinimumAboveCapacity
from reservations.base.rules.planning import new_slot

#: The changeover day of holiday lets: no visits on Saturdays in these months.
HIGH_SEASON_MONTHS = frozenset({7, 8})
#: A plan covers at most this many days, and gives at most this many dates.
MAX_PLAN_DAYS = 366
MAX_OCCURRENCES = 1000
#: Rules finer than a day would give thousands of dates: the time comes from the form.
_FREQUENCIES = {DAILY, WEEKLY, MONTHLY, YEARLY}
_NOT_A_RULE_LINE = re.compile(r"[\r\n]|DTSTART|RDATE|EXDATE", re.IGNORECASE)


# --- Refusals ---------------------------------------------------------------------------------


class NoWeekday(DomainError):
    code = "plan_no_weekday"
    title = N_("No weekday chosen")
    message = N_("Choose at least one weekday, or write a recurrence rule.")


class InvalidRule(DomainError):
    code = "plan_invalid_rule"
    title = N_("Invalid recurrence rule")
    message = N_(
        "This recurrence rule cannot be read. Write one RFC 5545 RRULE line with a daily, "
        "weekly, monthly or yearly frequency, e.g. FREQ=WEEKLY;BYDAY=TU,TH."
    )


class InvalidPlanPeriod(DomainError):
    code = "plan_invalid_period"
    title = N_("Invalid period")
    message = N_(
        "The last day must be on or after the first day, and at most {maximum} days later."
    )


class TooManyDates(DomainError):
    code = "plan_too_many_dates"
    title = N_("Too many dates")
    message = N_("This recurrence gives more than {maximum} dates: please narrow it down.")


class ActivityArchived(DomainError):
    kind = ErrorKind.CONFLICT
    code = "activity_archived"
    title = N_("Archived activity")
    message = N_("This activity is archived: restore it in the catalogue before planning it.")


class NoSlotSelected(DomainError):
    code = "no_slot_selected"
    title = N_("No slot selected")
    message = N_("Tick at least one slot.")


class NothingToChange(DomainError):
    code = "nothing_to_change"
    title = N_("Nothing to change")
    message = N_("Give a new capacity, a new minimum, or both.")


class CapacityTooSmall(DomainError):
    code = "capacity_too_small"
    title = N_("Capacity too small")
    message = N_("A slot needs a capacity of at least 1; to close it, cancel it.")


class MinimumNegative(DomainError):
    code = "minimum_negative"
    title = N_("Invalid minimum")
    message = N_("The minimum cannot be negative.")


class CapacityBelowBooked(DomainError):
    kind = ErrorKind.CONFLICT
    code = "capacity_below_booked"
    title = N_("Fewer places than booked")
    message = N_("{booked} people are already booked: the capacity cannot go below that.")


class SlotStarted(DomainError):
    kind = ErrorKind.CONFLICT
    code = "slot_started"
    title = N_("Slot already started")
    message = N_("This slot has already started: it can no longer be changed.")


class SlotsRefused(DomainError):
    """Some selected slots cannot take a bulk change: nothing was changed."""

    kind = ErrorKind.CONFLICT
    code = "slots_refused"
    title = N_("Nothing was changed")
    message = N_(
        "Nothing was changed: {count} of the selected slots cannot take this change (listed "
        "below). Untick them, or change what you asked."
    )

    def __init__(self, refusals: Sequence[SlotRefusal]) -> None:
        self.refusals = list(refusals)
        super().__init__(count=len(self.refusals))


# --- The recurrence and the plan (pure) -------------------------------------------------------


@dataclass(frozen=True)
class Recurrence:
    """When an activity runs: ``weekdays`` (0 = Monday, as ``date.weekday()``) at ``at``, from
    ``first_day`` to ``last_day`` included, both local. An expert's ``rule`` (one RRULE line,
    e.g. ``FREQ=WEEKLY;INTERVAL=2;BYDAY=TU``) replaces the weekdays; its start is ``first_day``
    at ``at`` (Paris time), and the period bounds it whatever its own UNTIL or COUNT say."""

    first_day: date
    last_day: date
    at: time
    weekdays: tuple[int, ...] = ()
    rule: str = ""


@dataclass(frozen=True)
class Rules:
    """Which exclusions apply; the provider's days off and slots already planned always do."""

    skip_changeover_saturdays: bool = True
    skip_public_holidays: bool = True
    #: Days moved (the planning advice's better days, accepted): (from, to), local days.
    moved: tuple[tuple[date, date], ...] = ()


def move_days(starts: Sequence[datetime], moved: Sequence[tuple[date, date]]) -> list[datetime]:
    """The starts with each moved day's start on its new day, at the same local time, in
    order; the moved starts are then checked like any other."""
    to = dict(moved)
    placed = []
    for starts_at in starts:
        local = starts_at.astimezone(clock.OFFICE_TZ)
        day = to.get(local.date())
        placed.append(
            starts_at
            if day is None
            else clock.local_datetime(day, local.time().replace(tzinfo=None))
        )
    return sorted(set(placed))


@dataclass(frozen=True)
class Facts:
    """What the plan is checked against."""

    now: datetime
    #: Local day -> name of the holiday.
    public_holidays: Mapping[date, str] = field(default_factory=dict)
    #: Local day -> the note given with the day off (may be empty).
    days_off: Mapping[date, str | None] = field(default_factory=dict)
    #: Start times (UTC) of the activity's slots already there, whatever their status.
    planned: frozenset[datetime] = frozenset()
    #: When a slot starting then would be decided (go/no-go, never after its cut-off): one
    #: already due would be decided by the next ``tick`` with nobody booked yet.
    decided_at: Callable[[datetime], datetime] | None = None


class Exclusion(enum.StrEnum):
    TOO_LATE = "too_late"  # in the past, or its go/no-go time has come
    ALREADY_PLANNED = "already_planned"
    DAY_OFF = "day_off"
    PUBLIC_HOLIDAY = "public_holiday"
    CHANGEOVER_SATURDAY = "changeover_saturday"


@dataclass(frozen=True)
class Excluded:
    starts_at: datetime
    reason: Exclusion
    #: The holiday's name, or the note of the day off.
    detail: str | None = None


@dataclass(frozen=True)
class Plan:
    #: Start times (UTC) of the slots to create, in order.
    dates: list[datetime]
    excluded: list[Excluded]


def check_recurrence(recurrence: Recurrence) -> None:
    """Refuse a period the wrong way round or too long, and a recurrence with no day."""
    span = (recurrence.last_day - recurrence.first_day).days
    if span < 0 or span >= MAX_PLAN_DAYS:
        raise InvalidPlanPeriod(field="last_day", maximum=MAX_PLAN_DAYS - 1)
    if not recurrence.rule.strip() and not recurrence.weekdays:
        raise NoWeekday(field="weekdays")


def occurrences(recurrence: Recurrence) -> list[datetime]:
    """The start times (UTC) the recurrence gives within its period, in order."""
    check_recurrence(recurrence)
    start = datetime.combine(recurrence.first_day, recurrence.at, tzinfo=clock.OFFICE_TZ)
    end = datetime.combine(recurrence.last_day + timedelta(days=1), time(0), clock.OFFICE_TZ)
    rule = _rule(recurrence, start, end)
    found: list[datetime] = []
    try:
        for occurrence in rule:
            if occurrence >= end:
                break
            if len(found) == MAX_OCCURRENCES:
                raise TooManyDates(field="rule", maximum=MAX_OCCURRENCES)
            # Through clock: a wall-clock time skipped by the change to summer time gets the
            # same instant everywhere in the application.
            found.append(clock.local_datetime(occurrence.date(), occurrence.time()))
    except (ValueError, TypeError, OverflowError) as exc:
        raise InvalidRule(field="rule") from exc
    return found


def _rule(recurrence: Recurrence, start: datetime, end: datetime) -> rrule:
    text = recurrence.rule.strip()
    if not text:
        weekdays = sorted(set(recurrence.weekdays))
        return rrule(WEEKLY, dtstart=start, until=end, byweekday=weekdays)
    if _NOT_A_RULE_LINE.search(text):
        raise InvalidRule(field="rule")
    try:
        parsed = rrulestr(text, dtstart=start)
    except (ValueError, TypeError, OverflowError) as exc:
        raise InvalidRule(field="rule") from exc
    if not isinstance(parsed, rrule) or parsed._freq not in _FREQUENCIES:
        raise InvalidRule(field="rule")
    # dateutil keeps COUNT and UNTIL private; bounding UNTIL keeps a rule that never matches
    # from running to the year 9999.
    if parsed._count is None:
        until = end if parsed._until is None else min(parsed._until, end)
        parsed = parsed.replace(until=until)
    return parsed


def plan(recurrence: Recurrence, rules: Rules, facts: Facts) -> Plan:
    """The recurrence's dates sorted into those to create and those excluded, with why."""
    return sort_dates(occurrences(recurrence), rules, facts)


def sort_dates(starts: Sequence[datetime], rules: Rules, facts: Facts) -> Plan:
    dates: list[datetime] = []
    excluded: list[Excluded] = []
    for starts_at in starts:
        exclusion = why_excluded(starts_at, rules, facts)
        if exclusion is None:
            dates.append(starts_at)
        else:
            excluded.append(exclusion)
    return Plan(dates, excluded)


def why_excluded(starts_at: datetime, rules: Rules, facts: Facts) -> Excluded | None:
    """The first reason not to create a slot at ``starts_at``, or None."""
    day = clock.local_date(starts_at)
    if starts_at <= facts.now or (facts.decided_at and facts.decided_at(starts_at) <= facts.now):
        return Excluded(starts_at, Exclusion.TOO_LATE)
    if starts_at in facts.planned:
        return Excluded(starts_at, Exclusion.ALREADY_PLANNED)
    if day in facts.days_off:
        return Excluded(starts_at, Exclusion.DAY_OFF, facts.days_off[day] or None)
    if rules.skip_public_holidays and day in facts.public_holidays:
        return Excluded(starts_at, Exclusion.PUBLIC_HOLIDAY, facts.public_holidays[day])
    if rules.skip_changeover_saturdays and is_changeover_saturday(day):
        return Excluded(starts_at, Exclusion.CHANGEOVER_SATURDAY)
    return None


def is_changeover_saturday(day: date) -> bool:
    return day.weekday() == 5 and day.month in HIGH_SEASON_MONTHS


def public_holidays(first_day: date, last_day: date, language: str = "fr") -> dict[date, str]:
    """French public holidays (metropolitan France) between the two days, named in
    ``language`` (the ``holidays`` package has "fr" and "en_US")."""
    years = range(first_day.year, last_day.year + 1)
    found = holidays.country_holidays("FR", years=years, language=language)
    return {day: name for day, name in sorted(found.items()) if first_day <= day <= last_day}


# --- Reading the facts, creating the slots ---------------------------------------------------


@dataclass(frozen=True)
class Created:
    plan: Plan
    slot_ids: list[int]


async def preview(
    db: Database,
    activity_id: int,
    recurrence: Recurrence,
    rules: Rules,
    *,
    now: datetime | None = None,
    language: str = "fr",
) -> Plan:
    """What ``create`` would do now, without writing anything."""
    starts = move_days(await expand(recurrence), rules.moved)
    async with db.reading() as session:
        activity = await _plannable(session, activity_id, lock=False)
        facts = await _facts(session, activity, recurrence, now or clock.now(), language)
    return sort_dates(starts, rules, facts)


async def expand(recurrence: Recurrence) -> list[datetime]:
    """``occurrences`` off the event loop and before any transaction: a rule that never
    matches makes dateutil look for a match up to the year 9999 (seconds of work)."""
    check_recurrence(recurrence)
    return await asyncio.to_thread(occurrences, recurrence)


async def create(
    db: Database,
    activity_id: int,
    recurrence: Recurrence,
    rules: Rules,
    *,
    actor: str,
    now: datetime | None = None,
    language: str = "fr",
) -> Created:
    """Create the plan's slots in one transaction, each with its ``slot.created`` audit entry.
    Idempotent: slots already there are excluded, so a second run creates nothing."""
    starts = move_days(await expand(recurrence), rules.moved)
    now = now or clock.now()
    async with db.writing() as session:
        activity = await _plannable(session, activity_id, lock=True)
        facts = await _facts(session, activity, recurrence, now, language)
        result = sort_dates(starts, rules, facts)
        created = [new_slot(activity, starts_at) for starts_at in result.dates]
        session.add_all(created)
        await session.flush()
        for slot in created:
            audit.record(
                session,
                actor,
                "slot.created",
                slot_id=slot.id,
                before=None,
                after={
                    "starts_at": slot.starts_at.isoformat(),
                    "capacity": slot.capacity,
                    "min_participants": slot.min_participants,
                },
                activity_id=activity.id,
                rule=recurrence.rule.strip() or None,
            )
    return Created(result, [slot.id for slot in created])


async def _plannable(session: AsyncSession, activity_id: int, *, lock: bool) -> Activity:
    query = select(Activity).where(Activity.id == activity_id)
    if lock:  # concurrent plans of one activity take turns (SQLite: BEGIN IMMEDIATE does)
        query = query.with_for_update().execution_options(populate_existing=True)
    activity = await session.scalar(query)
    if activity is None:
        raise ActivityNotFound(field="activity_id")
    if activity.archived_at is not None:
        raise ActivityArchived(field="activity_id")
    return activity


async def _facts(
    session: AsyncSession, activity: Activity, recurrence: Recurrence, now: datetime, language: str
) -> Facts:
    first, last = recurrence.first_day, recurrence.last_day
    start, _ = clock.day_bounds(first)
    _, end = clock.day_bounds(last)
    days_off = await session.execute(
        select(ProviderDayOff.day, ProviderDayOff.note).where(
            ProviderDayOff.provider_id == activity.provider_id,
            ProviderDayOff.day >= first,
            ProviderDayOff.day <= last,
        )
    )
    planned = await session.scalars(
        select(Slot.starts_at).where(
            Slot.activity_id == activity.id, Slot.starts_at >= start, Slot.starts_at < end
        )
    )
    return Facts(
        now=now,
        public_holidays=public_holidays(first, last, language),
        days_off={day: note for day, note in days_off},
        planned=frozenset(instant.astimezone(UTC) for instant in planned),
        decided_at=lambda starts_at: new_slot(activity, starts_at).decision_at,
    )


# --- Many slots at once -----------------------------------------------------------------------


@dataclass(frozen=True)
class SlotChange:
    """A new capacity, a new minimum, or both (None: unchanged)."""

    capacity: int | None = None
    min_participants: int | None = None


@dataclass(frozen=True)
class SlotRefusal:
    slot_id: int
    starts_at: datetime | None
    error: DomainError


@dataclass(frozen=True)
class Edited:
    changed: list[int]
    #: Slots that have more free places than before: offer them to the waiting list.
    grown: list[int]


def check_change(change: SlotChange) -> None:
    if change.capacity is None and change.min_participants is None:
        raise NothingToChange(field="capacity")
    if change.capacity is not None and change.capacity < 1:
        raise CapacityTooSmall(field="capacity")
    if change.min_participants is not None and change.min_participants < 0:
        raise MinimumNegative(field="min_participants")
    if (
        change.capacity is not None
        and change.min_participants is not None
        and change.min_participants > change.capacity
    ):
        raise MinimumAboveCapacity(
            field="min_participants", minimum=change.min_participants, capacity=change.capacity
        )


def refusal_of_change(slot: Slot, change: SlotChange, now: datetime) -> DomainError | None:
    """Why ``slot`` cannot take ``change`` now, or None."""
    refused = _not_changeable(slot, now)
    if refused is not None:
        return refused
    capacity = slot.capacity if change.capacity is None else change.capacity
    minimum = slot.min_participants if change.min_participants is None else change.min_participants
    if capacity < slot.booked:
        return CapacityBelowBooked(field="capacity", booked=slot.booked)
    if minimum > capacity:
        return MinimumAboveCapacity(field="min_participants", minimum=minimum, capacity=capacity)
    return None


def _not_changeable(slot: Slot, now: datetime) -> DomainError | None:
    if slot.status == SlotStatus.CANCELLED:
        return SlotCancelled()
    if slot.status == SlotStatus.HELD:
        return SlotAlreadyHeld()
    if slot.starts_at <= now:
        return SlotStarted()
    return None


async def _locked_slots(session: AsyncSession, slot_ids: Iterable[int]) -> dict[int, Slot]:
    """The slots' rows, locked in id order (the same order for everyone: no deadlock)."""
    found = await session.scalars(
        select(Slot)
        .where(Slot.id.in_(sorted(set(slot_ids))))
        .order_by(Slot.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return {slot.id: slot for slot in found}


def _refusals(
    wanted: Sequence[int], found: Mapping[int, Slot], check: Callable[[Slot], DomainError | None]
) -> list[SlotRefusal]:
    refusals = []
    for slot_id in wanted:
        slot = found.get(slot_id)
        error = SlotNotFound() if slot is None else check(slot)
        if error is not None:
            refusals.append(SlotRefusal(slot_id, slot.starts_at if slot else None, error))
    return refusals


async def edit_slots(
    db: Database,
    slot_ids: Sequence[int],
    change: SlotChange,
    *,
    actor: str,
    now: datetime | None = None,
) -> Edited:
    """Give the selected slots a new capacity and/or minimum: all of them, or none
    (``SlotsRefused`` lists why). Audited per slot with before and after."""
    now = now or clock.now()
    wanted = sorted(set(slot_ids))
    if not wanted:
        raise NoSlotSelected(field="slot_ids")
    check_change(change)
    async with db.writing() as session:
        found = await _locked_slots(session, wanted)
        refusals = _refusals(wanted, found, lambda s: refusal_of_change(s, change, now))
        if refusals:
            raise SlotsRefused(refusals)
        changed, grown = [], []
        for slot_id in wanted:
            slot = found[slot_id]
            before = {"capacity": slot.capacity, "min_participants": slot.min_participants}
            if change.capacity is not None:
                if change.capacity > slot.capacity:
                    grown.append(slot_id)
                slot.capacity = change.capacity
            minimum = change.min_participants
            if minimum is not None and minimum != slot.min_participants:
                slot.min_participants = minimum
                slot.sequence += 1  # the public calendar says from how many people it goes ahead
            after = {"capacity": slot.capacity, "min_participants": slot.min_participants}
            if after == before:
                continue
            audit.record(
                session, actor, "slot.updated", slot_id=slot_id, before=before, after=after
            )
            changed.append(slot_id)
    return Edited(changed, grown)


@dataclass(frozen=True)
class Cancelled:
    #: Cancelled slot -> its bookings ended with it (whom to tell).
    bookings: dict[int, list[int]]
    #: Slots that could not be cancelled after all (changed meanwhile).
    refusals: list[SlotRefusal]


async def cancel_slots(
    db: Database,
    slot_ids: Sequence[int],
    reason: CancelReason,
    *,
    actor: str,
    message: str | None = None,
    now: datetime | None = None,
) -> Cancelled:
    """Cancel the selected slots with their bookings. Every slot is checked first and none is
    cancelled when one cannot be (``SlotsRefused``); then each goes through
    ``slots.cancel_slot``. Telling the visitors is ``notices.followups.slot_cancelled``'s."""
    now = now or clock.now()
    wanted = sorted(set(slot_ids))
    if not wanted:
        raise NoSlotSelected(field="slot_ids")
    async with db.reading() as session:
        found = {s.id: s for s in await session.scalars(select(Slot).where(Slot.id.in_(wanted)))}
    refusals = _refusals(wanted, found, lambda s: _not_changeable(s, now))
    if refusals:
        raise SlotsRefused(refusals)
    bookings: dict[int, list[int]] = {}
    late: list[SlotRefusal] = []
    for slot_id in wanted:
        try:
            bookings[slot_id] = await slots.cancel_slot(
                db, slot_id, reason, actor=actor, message=message, now=now
            )
        except DomainError as exc:
            late.append(SlotRefusal(slot_id, found[slot_id].starts_at, exc))
    return Cancelled(bookings, late)


# --- What the planning pages list ------------------------------------------------------------


@dataclass(frozen=True)
class UpcomingSlot:
    """A slot not started yet, as the planning pages list it."""

    id: int
    starts_at: datetime
    ends_at: datetime
    activity_id: int
    activity_name: str
    title: dict[str, str]
    provider: str
    capacity: int
    booked: int
    min_participants: int
    status: SlotStatus
    #: People waiting (not yet offered places) on the waiting list.
    waiting: int


#: Most slots one planning page lists.
MAX_LISTED = 500


async def upcoming_slots(
    db: Database,
    *,
    first_day: date,
    last_day: date,
    activity_id: int | None = None,
    provider_id: int | None = None,
    now: datetime | None = None,
    limit: int = MAX_LISTED,
) -> list[UpcomingSlot]:
    """Slots not started yet between two local days, live ones and cancelled ones, in time
    order, with the people waiting for each (one SELECT)."""
    now = now or clock.now()
    waiting = (
        select(func.coalesce(func.sum(WaitlistEntry.adults + WaitlistEntry.children), 0))
        .where(WaitlistEntry.slot_id == Slot.id, WaitlistEntry.status == WaitlistStatus.WAITING)
        .correlate(Slot)
        .scalar_subquery()
    )
    query = (
        select(Slot, Activity.name, Activity.title, Provider.name.label("provider"), waiting)
        .join(Activity, Slot.activity_id == Activity.id)
        .join(Provider, Activity.provider_id == Provider.id)
        .where(Slot.starts_on >= first_day, Slot.starts_on <= last_day, Slot.starts_at > now)
        .order_by(Slot.starts_at, Provider.name, Activity.name, Slot.id)
        .limit(limit)
    )
    if activity_id is not None:
        query = query.where(Slot.activity_id == activity_id)
    if provider_id is not None:
        query = query.where(Activity.provider_id == provider_id)
    async with db.reading() as session:
        rows = (await session.execute(query)).all()
    return [
        UpcomingSlot(
            id=slot.id,
            starts_at=slot.starts_at,
            ends_at=slot.ends_at,
            activity_id=slot.activity_id,
            activity_name=name,
            title=dict(title or {}),
            provider=provider,
            capacity=slot.capacity,
            booked=slot.booked,
            min_participants=slot.min_participants,
            status=slot.status,
            waiting=int(people),
        )
        for slot, name, title, provider, people in rows
    ]


def is_live(slot: UpcomingSlot) -> bool:
    """Still takes changes (not cancelled nor held)."""
    return slot.status in BOOKABLE_STATUSES
