"""How a slot's dates follow from its activity's rules: end, local day, cut-off, decision time."""

from __future__ import annotations

from datetime import datetime, time, timedelta

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
    cutoff, decision = deadlines(
        starts_at, activity.cutoff_minutes, activity.decision_days_before, activity.decision_time
    )
    return Slot(
        activity_id=activity.id,
        starts_at=starts_at,
        ends_at=ends_at,
        starts_on=clock.local_date(starts_at),
        capacity=activity.default_capacity if capacity is None else capacity,
        min_participants=(
            activity.default_min_participants if min_participants is None else min_participants
        ),
        booked=0,
        booking_cutoff_at=cutoff,
        decision_at=decision,
        status=status,
        sequence=0,
    )


def deadlines(
    starts_at: datetime, cutoff_minutes: int, decision_days_before: int, decision_time: time
) -> tuple[datetime, datetime]:
    """When bookings of a slot starting at ``starts_at`` close, and when its go/no-go is
    decided: ``decision_days_before`` days before its local day at ``decision_time``, and never
    after bookings close."""
    cutoff = starts_at - timedelta(minutes=cutoff_minutes)
    starts_on = clock.local_date(starts_at)
    decision = clock.local_datetime(starts_on - timedelta(days=decision_days_before), decision_time)
    return cutoff, min(decision, cutoff)
