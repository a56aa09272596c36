"""The activities providers offer, as staff keep them, with the defaults their slots take.

An activity's ``name`` is its French title (history imports and searches match on it). Changing
an activity's defaults applies to the slots planned afterwards; slots already planned keep
theirs (bulk edits in the planning change those). An activity is archived, never deleted, and
only once it has no upcoming live slot, so no booked visit disappears from the programme.
Prices are typed in euros and kept in integer cents.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from reservations.base import clock
from reservations.base.errors import N_, DomainError, ErrorKind, N_plural
from reservations.base.infra.db import Database
from reservations.base.models import BOOKABLE_STATUSES, Activity, ActivityKind, Slot
from reservations.base.rules import audit
from reservations.base.rules.catalogue_checks import (
    InvalidFields,
    Negative,
    NotPositive,
    OutOfRange,
    Required,
    TooLong,
    changes,
    check,
    flush_or,
    load,
    same_name,
)
from reservations.base.rules.providers import load_provider
from reservations.settings import SUPPORTED_LOCALES

MAX_TITLE = 200
MAX_TEXT = 5000
#: Go/no-go at most this many days before the visit.
MAX_DECISION_DAYS = 14
_EUROS = re.compile(r"^\d{1,6}(?:[.,]\d{1,2})?$")


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


class ActivityNameTaken(DomainError):
    kind = ErrorKind.CONFLICT
    code = "activity_name_taken"
    title = N_("Name already used")
    message = N_("This provider already has an activity with the French title “{name}”.")


class ActivityNotFound(DomainError):
    kind = ErrorKind.NOT_FOUND
    code = "activity_not_found"
    title = N_("Unknown activity")
    message = N_("There is no activity with this number.")


class ActivityHasUpcomingSlots(DomainError):
    kind = ErrorKind.CONFLICT
    code = "activity_has_upcoming_slots"
    title = N_("Upcoming slots")
    message = N_plural(
        "This activity still has {count} upcoming slot that is not cancelled: cancel it in the "
        "planning first, then archive the activity.",
        "This activity still has {count} upcoming slots that are not cancelled: cancel them in "
        "the planning first, then archive the activity.",
    )
    counted = "count"


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


# --- Activities -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ActivityFields:
    kind: ActivityKind
    #: Per language; the French one is required and is the activity's name.
    title: Mapping[str, str]
    description: Mapping[str, str] = field(default_factory=dict)
    accessibility: Mapping[str, str] = field(default_factory=dict)
    directions: Mapping[str, str] = field(default_factory=dict)
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
    #: The share of the price (percent) refunded when a paid booking is cancelled at the
    #: visitor's request after the cut-off (before it: all of it).
    late_refund_percent: int = 0
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
            directions=dict(self.directions),
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
    problems += _per_language(fields.directions, MAX_TEXT, "directions")
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
    if not 0 <= fields.late_refund_percent <= 100:
        problems.append(OutOfRange(field="late_refund_percent", minimum=0, maximum=100))
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
        directions=dict(activity.directions or {}),
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
        late_refund_percent=activity.late_refund_percent,
        decision_days_before=activity.decision_days_before,
        decision_time=activity.decision_time,
    )


def _apply_activity(activity: Activity, fields: ActivityFields) -> None:
    activity.kind = fields.kind
    activity.name = fields.name
    activity.title = _clean(fields.title)
    activity.description = _clean(fields.description)
    activity.accessibility = _clean(fields.accessibility)
    activity.directions = _clean(fields.directions)
    activity.meeting_point = (fields.meeting_point or "").strip() or None
    activity.latitude, activity.longitude = fields.latitude, fields.longitude
    activity.min_age = fields.min_age
    activity.duration_minutes = fields.duration_minutes
    activity.default_capacity = fields.default_capacity
    activity.default_min_participants = fields.default_min_participants
    activity.price_adult_cents = fields.price_adult_cents
    activity.price_child_cents = fields.price_child_cents
    activity.cutoff_minutes = fields.cutoff_minutes
    activity.late_refund_percent = fields.late_refund_percent
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
    return any(same_name(name, other) for other in others)


async def create_activity(
    db: Database, provider_id: int, fields: ActivityFields, *, actor: str
) -> int:
    check(activity_problems(fields))
    async with db.writing() as session:
        await load_provider(session, provider_id, lock=True)
        taken = ActivityNameTaken(field="title_fr", name=fields.name)
        if await _activity_name_taken(session, provider_id, fields.name, None):
            raise InvalidFields([taken])
        activity = Activity(provider_id=provider_id)
        _apply_activity(activity, fields)
        session.add(activity)
        await flush_or(session, taken)
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
    check(activity_problems(fields))
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
        await flush_or(session, taken)
        audit.record(
            session, actor, "activity.updated", activity_id=activity_id, **changes(before, after)
        )
        return True


async def _activity(session: AsyncSession, activity_id: int, *, lock: bool = False) -> Activity:
    return await load(session, Activity, activity_id, ActivityNotFound(), lock=lock)


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
