"""The office's catalogue as staff keep it: providers (with their days off) and the activities
they offer, with the defaults their slots take. Validation gives every problem of a form at
once (``InvalidFields``), each tied to its field; every change writes an audit entry with the
values before and after, in the same transaction.

An activity's ``name`` is its French title (history imports and searches match on it). Changing
an activity's defaults applies to the slots planned afterwards; slots already planned keep
theirs (bulk edits in the planning change those). An activity is archived, never deleted, and
only once it has no upcoming live slot, so no booked visit disappears from the programme.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from reservations.base import audit, clock, contacts
from reservations.base.db import Database
from reservations.base.errors import N_, DomainError, ErrorKind, InvalidEmail, InvalidPhone
from reservations.base.models import (
    BOOKABLE_STATUSES,
    Activity,
    ActivityKind,
    Provider,
    ProviderDayOff,
    Slot,
)
from reservations.settings import SUPPORTED_LOCALES

#: Languages a provider may speak with visitors (the site's four, and two more often met).
PROVIDER_LANGUAGES = ("fr", "en", "de", "nl", "es", "it")
#: The longest texts the columns hold.
MAX_LENGTHS = {
    "name": 200,
    "village": 200,
    "email": 320,
    "phone": 40,
    "note": 200,
}
MAX_TITLE = 200
MAX_TEXT = 5000
#: Go/no-go at most this many days before the visit; a day off range at most this long.
MAX_DECISION_DAYS = 14
MAX_DAYS_OFF_AT_ONCE = 92
_EUROS = re.compile(r"^\d{1,6}(?:[.,]\d{1,2})?$")


# --- Refusals ---------------------------------------------------------------------------------


class Required(DomainError):
    code = "required"
    title = N_("Missing value")
    message = N_("Please fill in this field.")


class TooLong(DomainError):
    code = "too_long"
    title = N_("Too long")
    message = N_("This is too long: at most {maximum} characters.")


class UnknownSector(DomainError):
    code = "unknown_sector"
    title = N_("Unknown sector")
    message = N_("Choose one of the office's sectors: {choices}.")


class NoLanguage(DomainError):
    code = "no_language"
    title = N_("No language")
    message = N_("Choose at least one language among: {choices}.")


class DailyCapNotPositive(DomainError):
    code = "daily_cap_not_positive"
    title = N_("Invalid daily cap")
    message = N_("The daily cap is a number of people above 0; leave it empty for no cap.")


class NotPositive(DomainError):
    code = "not_positive"
    title = N_("Too small")
    message = N_("Please enter a whole number of at least 1.")


class Negative(DomainError):
    code = "negative"
    title = N_("Negative number")
    message = N_("Please enter a whole number, 0 or more.")


class OutOfRange(DomainError):
    code = "out_of_range"
    title = N_("Out of range")
    message = N_("Please enter a number from {minimum} to {maximum}.")


class CoordinatesIncomplete(DomainError):
    code = "coordinates_incomplete"
    title = N_("Half a position")
    message = N_("Give both the latitude and the longitude, or neither.")


class InvalidPrice(DomainError):
    code = "invalid_price"
    title = N_("Invalid price")
    message = N_("Write an amount in euros, such as 8,50 or 8.50 (0 when free).")


class MinimumAboveCapacity(DomainError):
    code = "minimum_above_capacity"
    title = N_("Minimum above capacity")
    message = N_("The minimum ({minimum}) cannot be above the capacity ({capacity}).")


class ProviderNameTaken(DomainError):
    kind = ErrorKind.CONFLICT
    code = "provider_name_taken"
    title = N_("Name already used")
    message = N_("There is already a provider named “{name}”.")


class ActivityNameTaken(DomainError):
    kind = ErrorKind.CONFLICT
    code = "activity_name_taken"
    title = N_("Name already used")
    message = N_("This provider already has an activity with the French title “{name}”.")


class NoSuchProvider(DomainError):
    kind = ErrorKind.NOT_FOUND
    code = "provider_id_not_found"
    title = N_("Unknown provider")
    message = N_("There is no provider with this number.")


class ActivityNotFound(DomainError):
    kind = ErrorKind.NOT_FOUND
    code = "activity_not_found"
    title = N_("Unknown activity")
    message = N_("There is no activity with this number.")


class ActivityHasUpcomingSlots(DomainError):
    kind = ErrorKind.CONFLICT
    code = "activity_has_upcoming_slots"
    title = N_("Upcoming slots")
    message = N_(
        "This activity still has {count} upcoming slot(s) that are not cancelled: cancel them "
        "in the planning first, then archive it."
    )


class InvalidDaysOff(DomainError):
    code = "invalid_days_off"
    title = N_("Invalid days")
    message = N_(
        "The last day off must be on or after the first one, and at most {maximum} days later."
    )


class DayOffTaken(DomainError):
    kind = ErrorKind.CONFLICT
    code = "day_off_taken"
    title = N_("Already a day off")
    message = N_("Every day of this period is already a day off.")


class DayOffNotFound(DomainError):
    kind = ErrorKind.NOT_FOUND
    code = "day_off_not_found"
    title = N_("Unknown day off")
    message = N_("This day off does not exist (any more).")


class InvalidFields(DomainError):
    """A form with problems: every one of them, each with its field."""

    title = N_("Please check the form")
    message = N_("Please check the form: some values are missing or not right.")

    def __init__(self, problems: Sequence[DomainError]) -> None:
        self.problems = list(problems)
        super().__init__()


# --- Money ------------------------------------------------------------------------------------


def cents_from_euros(text: str, field: str) -> int:
    """Cents from euros as typed: "8,50", "8.50", "8" or "" (free); a "€" and spaces are
    ignored. No thousands separator, no sign."""
    text = text.strip().replace("€", "").replace("\u00a0", "").replace(" ", "")
    if text == "":
        return 0
    if not _EUROS.match(text):
        raise InvalidPrice(field=field)
    try:
        return int(Decimal(text.replace(",", ".")) * 100)
    except InvalidOperation as exc:  # pragma: no cover - the pattern lets only numbers through
        raise InvalidPrice(field=field) from exc


def euros_from_cents(cents: int) -> str:
    """The form's way of showing a price: "8,50" (French decimal comma)."""
    return f"{cents // 100},{cents % 100:02d}"


# --- Providers --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProviderFields:
    name: str
    village: str
    sector: str
    email: str | None = None
    phone: str | None = None
    languages: tuple[str, ...] = ("fr",)
    daily_cap: int | None = None

    def as_record(self) -> dict[str, Any]:
        return {**asdict(self), "languages": list(self.languages)}


def _texts(values: Mapping[str, str | None], required: Sequence[str]) -> list[DomainError]:
    problems: list[DomainError] = []
    for name, value in values.items():
        if not (value or "").strip():
            if name in required:
                problems.append(Required(field=name))
        elif len(value or "") > MAX_LENGTHS[name]:
            problems.append(TooLong(field=name, maximum=MAX_LENGTHS[name]))
    return problems


def provider_problems(fields: ProviderFields, sectors: Sequence[str]) -> list[DomainError]:
    """Everything wrong with ``fields`` that can be seen without the database."""
    problems = _texts(
        {
            "name": fields.name,
            "village": fields.village,
            "email": fields.email,
            "phone": fields.phone,
        },
        required=("name", "village"),
    )
    if fields.sector not in sectors:
        problems.append(UnknownSector(field="sector", choices=", ".join(sectors)))
    if fields.email and not contacts.is_email(fields.email):
        problems.append(InvalidEmail(field="email", email=fields.email))
    if fields.phone and not contacts.is_phone(fields.phone):
        problems.append(InvalidPhone(field="phone", phone=fields.phone))
    if not fields.languages or any(code not in PROVIDER_LANGUAGES for code in fields.languages):
        problems.append(NoLanguage(field="languages", choices=", ".join(PROVIDER_LANGUAGES)))
    if fields.daily_cap is not None and fields.daily_cap < 1:
        problems.append(DailyCapNotPositive(field="daily_cap"))
    return problems


def fields_of_provider(provider: Provider) -> ProviderFields:
    return ProviderFields(
        name=provider.name,
        village=provider.village,
        sector=provider.sector,
        email=provider.email,
        phone=provider.phone,
        languages=tuple(provider.languages or ()),
        daily_cap=provider.daily_cap,
    )


def _same_name(one: str, other: str) -> bool:
    """Names that differ only by case are the same name (compared here: SQLite's lower()
    knows ASCII letters only)."""
    return one.strip().casefold() == other.strip().casefold()


async def _name_taken(session: AsyncSession, name: str, provider_id: int | None) -> bool:
    """Whether another provider has this name (a few dozen providers: read their names)."""
    others = await session.scalars(select(Provider.name).where(Provider.id != (provider_id or 0)))
    return any(_same_name(name, other) for other in others)


def _check(problems: list[DomainError]) -> None:
    if problems:
        raise InvalidFields(problems)


def _apply_provider(provider: Provider, fields: ProviderFields) -> None:
    provider.name = fields.name.strip()
    provider.village = fields.village.strip()
    provider.sector = fields.sector
    provider.email = (fields.email or "").strip() or None
    provider.phone = (fields.phone or "").strip() or None
    provider.languages = list(fields.languages)
    provider.daily_cap = fields.daily_cap


async def create_provider(
    db: Database, fields: ProviderFields, *, sectors: Sequence[str], actor: str
) -> int:
    _check(provider_problems(fields, sectors))
    async with db.writing() as session:
        if await _name_taken(session, fields.name.strip(), None):
            raise InvalidFields([ProviderNameTaken(field="name", name=fields.name.strip())])
        provider = Provider()
        _apply_provider(provider, fields)
        session.add(provider)
        await _flush_or(session, ProviderNameTaken(field="name", name=provider.name))
        audit.record(
            session,
            actor,
            "provider.created",
            provider_id=provider.id,
            before=None,
            after=fields_of_provider(provider).as_record(),
        )
        return provider.id


async def update_provider(
    db: Database,
    provider_id: int,
    fields: ProviderFields,
    *,
    sectors: Sequence[str],
    actor: str,
) -> bool:
    """Returns whether anything changed (nothing is written otherwise)."""
    _check(provider_problems(fields, sectors))
    async with db.writing() as session:
        provider = await _provider(session, provider_id, lock=True)
        if await _name_taken(session, fields.name.strip(), provider_id):
            raise InvalidFields([ProviderNameTaken(field="name", name=fields.name.strip())])
        before = fields_of_provider(provider).as_record()
        _apply_provider(provider, fields)
        after = fields_of_provider(provider).as_record()
        if before == after:
            return False
        await _flush_or(session, ProviderNameTaken(field="name", name=provider.name))
        audit.record(
            session,
            actor,
            "provider.updated",
            provider_id=provider_id,
            **_changes(before, after),
        )
        return True


async def _flush_or(session: AsyncSession, taken: DomainError) -> None:
    """Flush; a unique name taken meanwhile by someone else is that refusal, not a crash."""
    try:
        await session.flush()
    except IntegrityError as exc:
        raise InvalidFields([taken]) from exc


def _changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Only what changed, before and after."""
    changed = [name for name in after if before.get(name) != after[name]]
    return {
        "before": {name: before.get(name) for name in changed},
        "after": {name: after[name] for name in changed},
    }


async def _provider(session: AsyncSession, provider_id: int, *, lock: bool = False) -> Provider:
    query = select(Provider).where(Provider.id == provider_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    provider = await session.scalar(query)
    if provider is None:
        raise NoSuchProvider()
    return provider


# --- Days off ---------------------------------------------------------------------------------


async def add_days_off(
    db: Database,
    provider_id: int,
    first_day: date,
    last_day: date | None = None,
    *,
    note: str | None,
    actor: str,
) -> list[date]:
    """Mark a day, or each day of a period, as a day off; days already off are left as they
    are. Returns the days added."""
    last_day = last_day or first_day
    span = (last_day - first_day).days
    if span < 0 or span >= MAX_DAYS_OFF_AT_ONCE:
        raise InvalidFields([InvalidDaysOff(field="last_day", maximum=MAX_DAYS_OFF_AT_ONCE - 1)])
    note = (note or "").strip() or None
    if note and len(note) > MAX_LENGTHS["note"]:
        raise InvalidFields([TooLong(field="note", maximum=MAX_LENGTHS["note"])])
    wanted = [first_day + timedelta(days=n) for n in range(span + 1)]
    async with db.writing() as session:
        await _provider(session, provider_id, lock=True)
        taken = set(
            await session.scalars(
                select(ProviderDayOff.day).where(
                    ProviderDayOff.provider_id == provider_id,
                    ProviderDayOff.day.in_(wanted),
                )
            )
        )
        added = [day for day in wanted if day not in taken]
        if not added:
            raise InvalidFields([DayOffTaken(field="first_day")])
        session.add_all(
            ProviderDayOff(provider_id=provider_id, day=day, note=note) for day in added
        )
        audit.record(
            session,
            actor,
            "provider.days_off_added",
            provider_id=provider_id,
            before=None,
            after={"days": [day.isoformat() for day in added], "note": note},
        )
    return added


async def remove_day_off(db: Database, provider_id: int, day_off_id: int, *, actor: str) -> date:
    async with db.writing() as session:
        await _provider(session, provider_id, lock=True)
        day_off = await session.scalar(
            select(ProviderDayOff).where(
                ProviderDayOff.id == day_off_id, ProviderDayOff.provider_id == provider_id
            )
        )
        if day_off is None:
            raise DayOffNotFound()
        await session.delete(day_off)
        audit.record(
            session,
            actor,
            "provider.day_off_removed",
            provider_id=provider_id,
            before={"day": day_off.day.isoformat(), "note": day_off.note},
            after=None,
        )
        return day_off.day


# --- Activities -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ActivityFields:
    kind: ActivityKind
    #: Per language; the French one is required and is the activity's name.
    title: Mapping[str, str]
    description: Mapping[str, str] = field(default_factory=dict)
    accessibility: Mapping[str, str] = field(default_factory=dict)
    meeting_point: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    min_age: int | None = None
    duration_minutes: int = 90
    default_capacity: int = 20
    default_min_participants: int = 0
    price_adult_cents: int = 0
    price_child_cents: int = 0
    cutoff_minutes: int = 120
    decision_days_before: int = 1
    decision_time: time = time(18, 0)

    @property
    def name(self) -> str:
        return (self.title.get("fr") or "").strip()

    def as_record(self) -> dict[str, Any]:
        record = asdict(self)
        record.update(
            kind=self.kind.value,
            title=dict(self.title),
            description=dict(self.description),
            accessibility=dict(self.accessibility),
            decision_time=self.decision_time.strftime("%H:%M"),
        )
        return record


def _per_language(texts: Mapping[str, str], maximum: int, prefix: str) -> list[DomainError]:
    return [
        TooLong(field=f"{prefix}_{code}", maximum=maximum)
        for code in SUPPORTED_LOCALES
        if len(texts.get(code) or "") > maximum
    ]


def activity_problems(fields: ActivityFields) -> list[DomainError]:
    """Everything wrong with ``fields`` that can be seen without the database."""
    problems: list[DomainError] = []
    if not fields.name:
        problems.append(Required(field="title_fr"))
    problems += _per_language(fields.title, MAX_TITLE, "title")
    problems += _per_language(fields.description, MAX_TEXT, "description")
    problems += _per_language(fields.accessibility, MAX_TEXT, "accessibility")
    if len(fields.meeting_point or "") > MAX_TEXT:
        problems.append(TooLong(field="meeting_point", maximum=MAX_TEXT))
    if (fields.latitude is None) != (fields.longitude is None):
        problems.append(CoordinatesIncomplete(field="latitude"))
    if fields.latitude is not None and not -90 <= fields.latitude <= 90:
        problems.append(OutOfRange(field="latitude", minimum=-90, maximum=90))
    if fields.longitude is not None and not -180 <= fields.longitude <= 180:
        problems.append(OutOfRange(field="longitude", minimum=-180, maximum=180))
    for name in ("duration_minutes", "default_capacity"):
        if getattr(fields, name) < 1:
            problems.append(NotPositive(field=name))
    for name in ("default_min_participants", "price_adult_cents", "price_child_cents"):
        if getattr(fields, name) < 0:
            problems.append(Negative(field=name))
    if fields.min_age is not None and not 0 <= fields.min_age <= 99:
        problems.append(OutOfRange(field="min_age", minimum=0, maximum=99))
    if fields.cutoff_minutes < 0:
        problems.append(Negative(field="cutoff_minutes"))
    if not 0 <= fields.decision_days_before <= MAX_DECISION_DAYS:
        problems.append(
            OutOfRange(field="decision_days_before", minimum=0, maximum=MAX_DECISION_DAYS)
        )
    if 1 <= fields.default_capacity < fields.default_min_participants:
        problems.append(
            MinimumAboveCapacity(
                field="default_min_participants",
                minimum=fields.default_min_participants,
                capacity=fields.default_capacity,
            )
        )
    return problems


def _clean(texts: Mapping[str, str]) -> dict[str, str]:
    return {
        code: texts[code].strip() for code in SUPPORTED_LOCALES if (texts.get(code) or "").strip()
    }


def fields_of_activity(activity: Activity) -> ActivityFields:
    return ActivityFields(
        kind=activity.kind,
        title=dict(activity.title or {"fr": activity.name}),
        description=dict(activity.description or {}),
        accessibility=dict(activity.accessibility or {}),
        meeting_point=activity.meeting_point,
        latitude=activity.latitude,
        longitude=activity.longitude,
        min_age=activity.min_age,
        duration_minutes=activity.duration_minutes,
        default_capacity=activity.default_capacity,
        default_min_participants=activity.default_min_participants,
        price_adult_cents=activity.price_adult_cents,
        price_child_cents=activity.price_child_cents,
        cutoff_minutes=activity.cutoff_minutes,
        decision_days_before=activity.decision_days_before,
        decision_time=activity.decision_time,
    )


def _apply_activity(activity: Activity, fields: ActivityFields) -> None:
    activity.kind = fields.kind
    activity.name = fields.name
    activity.title = _clean(fields.title)
    activity.description = _clean(fields.description)
    activity.accessibility = _clean(fields.accessibility)
    activity.meeting_point = (fields.meeting_point or "").strip() or None
    activity.latitude, activity.longitude = fields.latitude, fields.longitude
    activity.min_age = fields.min_age
    activity.duration_minutes = fields.duration_minutes
    activity.default_capacity = fields.default_capacity
    activity.default_min_participants = fields.default_min_participants
    activity.price_adult_cents = fields.price_adult_cents
    activity.price_child_cents = fields.price_child_cents
    activity.cutoff_minutes = fields.cutoff_minutes
    activity.decision_days_before = fields.decision_days_before
    activity.decision_time = fields.decision_time


async def _activity_name_taken(
    session: AsyncSession, provider_id: int, name: str, activity_id: int | None
) -> bool:
    others = await session.scalars(
        select(Activity.name).where(
            Activity.provider_id == provider_id, Activity.id != (activity_id or 0)
        )
    )
    return any(_same_name(name, other) for other in others)


async def create_activity(
    db: Database, provider_id: int, fields: ActivityFields, *, actor: str
) -> int:
    _check(activity_problems(fields))
    async with db.writing() as session:
        await _provider(session, provider_id, lock=True)
        taken = ActivityNameTaken(field="title_fr", name=fields.name)
        if await _activity_name_taken(session, provider_id, fields.name, None):
            raise InvalidFields([taken])
        activity = Activity(provider_id=provider_id)
        _apply_activity(activity, fields)
        session.add(activity)
        await _flush_or(session, taken)
        audit.record(
            session,
            actor,
            "activity.created",
            activity_id=activity.id,
            provider_id=provider_id,
            before=None,
            after=fields_of_activity(activity).as_record(),
        )
        return activity.id


async def update_activity(
    db: Database, activity_id: int, fields: ActivityFields, *, actor: str
) -> bool:
    """Returns whether anything changed (nothing is written otherwise)."""
    _check(activity_problems(fields))
    async with db.writing() as session:
        activity = await _activity(session, activity_id, lock=True)
        taken = ActivityNameTaken(field="title_fr", name=fields.name)
        if await _activity_name_taken(session, activity.provider_id, fields.name, activity_id):
            raise InvalidFields([taken])
        before = fields_of_activity(activity).as_record()
        _apply_activity(activity, fields)
        after = fields_of_activity(activity).as_record()
        if before == after:
            return False
        await _flush_or(session, taken)
        audit.record(
            session, actor, "activity.updated", activity_id=activity_id, **_changes(before, after)
        )
        return True


async def _activity(session: AsyncSession, activity_id: int, *, lock: bool = False) -> Activity:
    query = select(Activity).where(Activity.id == activity_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    activity = await session.scalar(query)
    if activity is None:
        raise ActivityNotFound()
    return activity


async def set_archived(
    db: Database,
    activity_id: int,
    archived: bool,
    *,
    actor: str,
    now: datetime | None = None,
) -> None:
    """Archive an activity (off the programme and the planning) or bring it back. Archiving
    waits until no upcoming slot of it is live."""
    now = now or clock.now()
    async with db.writing() as session:
        activity = await _activity(session, activity_id, lock=True)
        if (activity.archived_at is not None) == archived:
            return
        if archived:
            upcoming = await session.scalar(
                select(func.count(Slot.id)).where(
                    Slot.activity_id == activity_id,
                    Slot.starts_at > now,
                    Slot.status.in_(BOOKABLE_STATUSES),
                )
            )
            if upcoming:
                raise ActivityHasUpcomingSlots(count=upcoming)
        before = activity.archived_at
        activity.archived_at = now if archived else None
        audit.record(
            session,
            actor,
            "activity.archived" if archived else "activity.restored",
            activity_id=activity_id,
            before={"archived_at": before.isoformat() if before else None},
            after={"archived_at": now.isoformat() if archived else None},
        )


# --- What the catalogue pages show ----------------------------------------------------------


@dataclass(frozen=True)
class ActivityLine:
    id: int
    provider_id: int
    kind: ActivityKind
    name: str
    default_capacity: int
    archived_at: datetime | None


@dataclass(frozen=True)
class ProviderLine:
    id: int
    name: str
    village: str
    sector: str
    email: str | None
    phone: str | None
    languages: list[str]
    daily_cap: int | None
    activities: list[ActivityLine]


def _activity_line(activity: Activity) -> ActivityLine:
    return ActivityLine(
        id=activity.id,
        provider_id=activity.provider_id,
        kind=activity.kind,
        name=activity.name,
        default_capacity=activity.default_capacity,
        archived_at=activity.archived_at,
    )


def _provider_line(provider: Provider, activities: list[ActivityLine]) -> ProviderLine:
    return ProviderLine(
        id=provider.id,
        name=provider.name,
        village=provider.village,
        sector=provider.sector,
        email=provider.email,
        phone=provider.phone,
        languages=list(provider.languages or []),
        daily_cap=provider.daily_cap,
        activities=activities,
    )


async def overview(db: Database) -> list[ProviderLine]:
    """Every provider with its activities, archived ones included (two SELECTs)."""
    async with db.reading() as session:
        providers = list(await session.scalars(select(Provider).order_by(Provider.name)))
        activities = await session.scalars(
            select(Activity).order_by(Activity.archived_at.is_not(None), Activity.name)
        )
        by_provider: dict[int, list[ActivityLine]] = {}
        for activity in activities:
            by_provider.setdefault(activity.provider_id, []).append(_activity_line(activity))
    return [_provider_line(p, by_provider.get(p.id, [])) for p in providers]


@dataclass(frozen=True)
class DayOff:
    id: int
    day: date
    note: str | None
    #: Live slots of the provider planned that day (to cancel by hand if need be).
    planned: int


@dataclass(frozen=True)
class ProviderPage:
    provider: ProviderLine
    fields: ProviderFields
    days_off: list[DayOff]


async def provider_page(
    db: Database, provider_id: int, *, today: date | None = None
) -> ProviderPage:
    """A provider, its activities, and its days off from ``today`` on with the live slots
    still planned on each (three SELECTs)."""
    today = today or clock.today()
    planned = (
        select(func.count(Slot.id))
        .join(Activity, Slot.activity_id == Activity.id)
        .where(
            Activity.provider_id == ProviderDayOff.provider_id,
            Slot.starts_on == ProviderDayOff.day,
            Slot.status.in_(BOOKABLE_STATUSES),
        )
        .correlate(ProviderDayOff)
        .scalar_subquery()
    )
    async with db.reading() as session:
        provider = await _provider(session, provider_id)
        activities = await session.scalars(
            select(Activity)
            .where(Activity.provider_id == provider_id)
            .order_by(Activity.archived_at.is_not(None), Activity.name)
        )
        lines = [_activity_line(a) for a in activities]
        days = await session.execute(
            select(ProviderDayOff.id, ProviderDayOff.day, ProviderDayOff.note, planned)
            .where(ProviderDayOff.provider_id == provider_id, ProviderDayOff.day >= today)
            .order_by(ProviderDayOff.day)
        )
        days_off = [DayOff(i, d, n, int(p or 0)) for i, d, n, p in days]
    return ProviderPage(_provider_line(provider, lines), fields_of_provider(provider), days_off)


@dataclass(frozen=True)
class ActivityPage:
    id: int
    provider_id: int
    provider: str
    fields: ActivityFields
    archived_at: datetime | None


async def activity_page(db: Database, activity_id: int) -> ActivityPage:
    async with db.reading() as session:
        row = (
            await session.execute(
                select(Activity, Provider.name)
                .join(Provider, Activity.provider_id == Provider.id)
                .where(Activity.id == activity_id)
            )
        ).first()
    if row is None:
        raise ActivityNotFound()
    activity, provider = row
    return ActivityPage(
        activity.id,
        activity.provider_id,
        provider,
        fields_of_activity(activity),
        activity.archived_at,
    )


async def provider_name(db: Database, provider_id: int) -> str:
    async with db.reading() as session:
        name = await session.scalar(select(Provider.name).where(Provider.id == provider_id))
    if name is None:
        raise NoSuchProvider()
    return name


@dataclass(frozen=True)
class ActivityChoice:
    id: int
    name: str
    provider_id: int
    provider: str


async def activity_choices(db: Database) -> list[ActivityChoice]:
    """Activities that can be planned (not archived), by provider then name."""
    async with db.reading() as session:
        rows = await session.execute(
            select(Activity.id, Activity.name, Provider.id, Provider.name)
            .join(Provider, Activity.provider_id == Provider.id)
            .where(Activity.archived_at.is_(None))
            .order_by(Provider.name, Activity.name)
        )
        return [ActivityChoice(*row) for row in rows]
