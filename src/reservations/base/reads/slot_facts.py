"""What every screen says of a slot, read once: its times, activity, farm, places, status and
cut-off, and whether it can be booked at the time of reading.

A screen's read model of a slot inherits ``SlotFacts`` and adds only what it alone shows: its
SELECT over slot ⋈ activity ⋈ provider lists ``COLUMNS`` and then its own columns, labelled
with the names of its own fields, and ``from_row`` builds it from a result row. No screen
derives these facts again: how many places remain is ``room.places_left`` (read here, with the
farm's daily cap), whether a slot is open or bookable is here.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date, datetime
from functools import cache
from typing import Any, Self

from sqlalchemy import Row

from reservations.base import clock
from reservations.base.models import Activity, Places, Provider, Slot, SlotStatus
from reservations.base.rules import room


def columns(now: Any = None) -> tuple[Any, ...]:
    """The columns of ``SlotFacts``, labelled with its field names (``open`` is computed), the
    holds judged at ``now`` (by default the database's clock). A SELECT of them joins the slot
    to its activity and the activity to its provider."""
    return (
        Slot.id,
        Slot.activity_id,
        Activity.name.label("activity_name"),
        Activity.title,
        Provider.id.label("provider_id"),
        Provider.name.label("provider"),
        Provider.village,
        Slot.starts_at,
        Slot.ends_at,
        Slot.capacity,
        Slot.booked,
        Slot.min_participants,
        Slot.status,
        Slot.booking_cutoff_at,
        Slot.decision_at,
        room.places_left(now).label("places_left"),
    )


COLUMNS = columns()
_KEYS = tuple(column.key for column in COLUMNS)


@dataclass(frozen=True)
class SlotFacts(Places):
    id: int
    activity_id: int
    #: The activity's French title, matched by staff searches and the fallback of ``title``.
    activity_name: str
    #: Per language, "fr" always present; ``title_in`` picks one.
    title: dict[str, str]
    provider_id: int
    provider: str
    village: str
    starts_at: datetime
    ends_at: datetime
    capacity: int
    booked: int
    min_participants: int
    status: SlotStatus
    booking_cutoff_at: datetime
    decision_at: datetime
    #: What can really be booked (``room.places_left``: the farm's daily cap included).
    places_left: int
    #: Still taking bookings or waiting-list entries when read (neither held nor cancelled,
    #: before the cut-off), full or not.
    open: bool

    @property
    def remaining(self) -> int:
        """The places a visitor can book: within the slot's capacity and its farm's daily cap."""
        return max(self.places_left, 0)

    @property
    def bookable(self) -> bool:
        """Open with a place left: the conditions the booking UPDATE checks, for display (the
        UPDATE has the last word)."""
        return self.open and self.remaining > 0

    @property
    def missing(self) -> int:
        """People still needed to reach the minimum (0 when reached)."""
        return max(self.min_participants - self.booked, 0)

    @property
    def starts_on(self) -> date:
        return clock.local_date(self.starts_at)

    def title_in(self, locale: str) -> str:
        return self.title.get(locale) or self.title.get("fr") or self.activity_name

    @classmethod
    def from_row(cls, row: Row[*tuple[Any, ...]], now: datetime, **own: Any) -> Self:
        """The read model of a row selecting ``COLUMNS`` and the model's own columns, as it
        stands at ``now``. Each field of the model's own is the column of its name, or the
        value given in ``own`` when the row holds it in another form."""
        values = row._mapping
        status = SlotStatus(values["status"])
        facts: dict[str, Any] = {key: values[key] for key in _KEYS}
        facts.update(
            title=dict(facts["title"] or {}),
            status=status,
            open=room.is_open(status, facts["booking_cutoff_at"], now),
        )
        for name in _own_fields(cls):
            if name not in own and name in values:
                facts[name] = values[name]
        return cls(**facts, **own)


@cache
def _own_fields(model: type[SlotFacts]) -> tuple[str, ...]:
    """The fields a read model adds to ``SlotFacts`` (looked up once per model, not per row)."""
    return tuple(field.name for field in fields(model) if field.name not in (*_KEYS, "open"))
