"""How a slot's dates follow from its activity's rules: end, local day, cut-off, decision time."""

from __future__ import annotations

from datetime import datetime, timedelta

from reservations.base import clock
from reservations.base.models import Activity, Slot, SlotStatus


def new_slot(
    activity: Activity,
    starts_at: datetime,
    *,
    ends_at: datetime | None = None,
    capacity: int | None = None,
    min_participants: int | None = None,
    status: SlotStatus = SlotStatus.SCHEDULED,
) -> Slot:
    """A slot of ``activity`` starting at ``starts_at``, with the activity's defaults and rules.

    Bookings close ``cutoff_minutes`` before the start; go/no-go is decided
    ``decision_days_before`` days before the start day at ``decision_time`` (local), and never
    after bookings close.
    """
    ends_at = ends_at or starts_at + timedelta(minutes=activity.duration_minutes)
    starts_on = clock.local_date(starts_at)
    cutoff = starts_at - timedelta(minutes=activity.cutoff_minutes)
    decision = clock.local_datetime(
        starts_on - timedelta(days=activity.decision_days_before), activity.decision_time
    )
    return Slot(
        activity_id=activity.id,
        starts_at=starts_at,
        ends_at=ends_at,
        starts_on=starts_on,
        capacity=activity.default_capacity if capacity is None else capacity,
        min_participants=(
            activity.default_min_participants if min_participants is None else min_participants
        ),
        booked=0,
        booking_cutoff_at=cutoff,
        decision_at=min(decision, cutoff),
        status=status,
        sequence=0,
    )
