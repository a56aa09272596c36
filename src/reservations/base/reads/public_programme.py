"""The programme as it is published outside the site: the public calendar feed and the printed
fortnight per sector. Both need more of each slot than ``availability.list_slots`` gives (the
meeting point, the prices, its calendar sequence and last change), so they read it here: one
SELECT over slot ⋈ activity ⋈ provider, and, for the feed's conditional GET, one aggregate row
that changes whenever anything the feed shows may have changed, and only then: a booking
(which raises the slot's ``updated_at``) leaves it as it was, since the feed shows no places.

Slots of archived activities are left out, as on the programme; cancelled slots are kept (the
feed must withdraw them from calendars; the printed programme marks them cancelled).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

from sqlalchemy import ColumnElement, Row, func, null, select

from reservations.base import clock
from reservations.base.infra.db import Database
from reservations.base.models import Activity, ActivityKind, Provider, Slot, SlotStatus
from reservations.base.rules import room


@dataclass(frozen=True)
class ProgrammeSelection:
    """The local days ``first_day`` .. ``last_day`` (inclusive), of one sector and one kind of
    activity when given (an unknown sector selects nothing)."""

    first_day: date
    last_day: date
    sector: str | None = None
    kind: ActivityKind | None = None
    statuses: Sequence[SlotStatus] = tuple(SlotStatus)

    @property
    def opened_at(self) -> datetime:
        """When the selection last moved, for a window that follows the calendar (its first
        day's local midnight)."""
        return clock.local_datetime(self.first_day, time(0))

    def conditions(self) -> list[ColumnElement[bool]]:
        """Where clauses over slot ⋈ activity ⋈ provider."""
        conditions = [
            Slot.starts_on >= self.first_day,
            Slot.starts_on <= self.last_day,
            Slot.status.in_(self.statuses),
            Activity.archived_at.is_(None),
        ]
        if self.sector is not None:
            conditions.append(Provider.sector == self.sector)
        if self.kind is not None:
            conditions.append(Activity.kind == self.kind)
        return conditions


@dataclass(frozen=True)
class ProgrammeEntry:
    id: int
    starts_at: datetime
    ends_at: datetime
    status: SlotStatus
    sequence: int
    #: When the slot was called off (None: it was not).
    cancelled_at: datetime | None
    #: The last change of its activity and of its provider (the catalogue's texts, places...).
    activity_updated_at: datetime
    provider_updated_at: datetime
    min_participants: int
    decision_at: datetime
    kind: ActivityKind
    #: Per language, "fr" always present; ``title_in`` picks one.
    title: dict[str, str]
    name: str
    description: dict[str, str]
    meeting_point: str | None
    latitude: float | None
    longitude: float | None
    price_adult_cents: int
    price_child_cents: int
    provider: str
    village: str
    sector: str
    #: The places that can be booked (``room.places_left``, the farm's daily cap included);
    #: None when not asked for (the calendar feed shows no places).
    places_left: int | None

    @property
    def full(self) -> bool:
        """Still to come and not one place left: the printed programme says "complet"."""
        return (
            self.status in (SlotStatus.SCHEDULED, SlotStatus.CONFIRMED)
            and self.places_left is not None
            and self.places_left <= 0
        )

    def title_in(self, locale: str) -> str:
        return self.title.get(locale) or self.title.get("fr") or self.name

    @property
    def revised_at(self) -> datetime:
        """When what a calendar shows of this slot last changed, as far as the stored times
        tell: its catalogue entries' last changes and its cancellation. Read only from what the
        fingerprint covers (not from the slot's ``updated_at``, which every booking moves), so
        one fingerprint always gives the same bytes; a slot's own changes raise ``sequence``."""
        return max(
            filter(None, [self.activity_updated_at, self.provider_updated_at, self.cancelled_at])
        )

    @property
    def starts_on(self) -> date:
        return clock.local_date(self.starts_at)


@dataclass(frozen=True)
class ProgrammeVersion:
    #: Changes whenever what the feed shows of the selection changes, and only then (hex
    #: SHA-256): see ``programme_version``.
    fingerprint: str
    #: The latest change of a slot, activity or provider in the selection (bookings included,
    #: so never too early for ``If-Modified-Since``), never before the selection last moved.
    last_modified: datetime


def _from_slots() -> Any:
    return Slot.__table__.join(Activity, Slot.activity_id == Activity.id).join(
        Provider, Activity.provider_id == Provider.id
    )


async def programme_entries(
    db: Database, selection: ProgrammeSelection, *, places: bool = True
) -> list[ProgrammeEntry]:
    """The selected slots in start order, with their places left when ``places``."""
    query = (
        select(
            Slot.id,
            Slot.starts_at,
            Slot.ends_at,
            Slot.status,
            Slot.sequence,
            Slot.cancelled_at,
            Activity.updated_at.label("activity_updated_at"),
            Provider.updated_at.label("provider_updated_at"),
            Slot.min_participants,
            Slot.decision_at,
            Activity.kind,
            Activity.title,
            Activity.name,
            Activity.description,
            Activity.meeting_point,
            Activity.latitude,
            Activity.longitude,
            Activity.price_adult_cents,
            Activity.price_child_cents,
            Provider.name.label("provider"),
            Provider.village,
            Provider.sector,
            (room.places_left() if places else null()).label("places_left"),
        )
        .select_from(_from_slots())
        .where(*selection.conditions())
        .order_by(Slot.starts_at, Slot.id)
    )
    async with db.reading_connection() as connection:
        rows = (await connection.execute(query)).all()
    return [_entry(row) for row in rows]


def _entry(row: Row[Any]) -> ProgrammeEntry:
    fields = row._asdict()
    fields["title"] = dict(fields["title"] or {})
    fields["description"] = dict(fields["description"] or {})
    return ProgrammeEntry(**fields)


async def programme_version(db: Database, selection: ProgrammeSelection) -> ProgrammeVersion:
    """The validator of the selection's feed: one statement, one row, over what the feed shows.

    A feed event shows its slot's times, state and minimum, and its activity's and provider's
    texts, place and prices. The slots in the selection are pinned by their count and the sum
    of their ids (a slot added, or leaving the window, the filters or an archived activity,
    moves them); a slot's own changes by the sum of ``sequence``, which every change a calendar
    sees raises (a go/no-go decision, a cancellation, attendance, a new minimum; a new time
    must too, RFC 5545) and which never goes down; the catalogue by the latest ``updated_at`` of
    the activities and providers shown (any edit of one becomes the latest). Bookings move
    none of these: the feed shows no places. ``Slot.updated_at`` is read for ``Last-Modified``
    only, which stays an upper bound of the last change."""
    query = (
        select(
            func.count(Slot.id).label("slots"),
            func.coalesce(func.sum(Slot.id), 0).label("ids"),
            func.coalesce(func.sum(Slot.sequence), 0).label("sequences"),
            func.max(Activity.updated_at).label("activities"),
            func.max(Provider.updated_at).label("providers"),
            func.max(Slot.updated_at).label("slot_updated"),
        )
        .select_from(_from_slots())
        .where(*selection.conditions())
    )
    async with db.reading_connection() as connection:
        row = (await connection.execute(query)).one()
    activities: datetime | None = row.activities
    providers: datetime | None = row.providers
    text = "|".join(
        [
            selection.first_day.isoformat(),
            selection.last_day.isoformat(),
            selection.sector or "",
            selection.kind or "",
            ",".join(sorted(selection.statuses)),
            str(int(row.slots)),
            str(int(row.ids)),
            str(int(row.sequences)),
            activities.isoformat() if activities else "",
            providers.isoformat() if providers else "",
        ]
    )
    return ProgrammeVersion(
        fingerprint=hashlib.sha256(text.encode()).hexdigest(),
        last_modified=max(
            filter(None, [selection.opened_at, row.slot_updated, activities, providers])
        ),
    )
