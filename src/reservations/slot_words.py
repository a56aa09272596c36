"""How calendars and emails name a slot's state for any reader (visitors' and farmers' feeds,
the morning email): its status, and why it was called off, as its visitors were told."""

from __future__ import annotations

from reservations import i18n
from reservations.base.models import CancelReason, SlotStatus
from reservations.i18n import N_
from reservations.visitors.notifications import REASONS

STATUS_WORDS = {
    SlotStatus.SCHEDULED: N_("Not decided yet"),
    SlotStatus.CONFIRMED: N_("Goes ahead"),
    SlotStatus.HELD: N_("Took place"),
    SlotStatus.CANCELLED: N_("Cancelled"),
}


def status_words(status: SlotStatus) -> str:
    return i18n.gettext(STATUS_WORDS[status])


def reason_words(reason: CancelReason | None) -> str:
    """Why a cancelled slot is off."""
    return i18n.gettext(REASONS.get(reason or CancelReason.OTHER, REASONS[CancelReason.OTHER]))
