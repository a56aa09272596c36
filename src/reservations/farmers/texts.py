"""Words the farmers' calendar feed and morning email share: a slot's status, why it was called
off, and which language a provider reads."""

from __future__ import annotations

from reservations import i18n
from reservations.base.day_sheet import SheetSlot
from reservations.base.models import CancelReason, SlotStatus
from reservations.i18n import N_
from reservations.visitors.notifications import REASONS

STATUS_LABELS = {
    SlotStatus.SCHEDULED: N_("Not decided yet"),
    SlotStatus.CONFIRMED: N_("Goes ahead"),
    SlotStatus.HELD: N_("Took place"),
    SlotStatus.CANCELLED: N_("Cancelled"),
}


def status_label(slot: SheetSlot) -> str:
    return i18n.gettext(STATUS_LABELS[slot.status])


def reason_text(slot: SheetSlot) -> str:
    """Why a cancelled slot is off, as its visitors were told."""
    reason = slot.cancel_reason or CancelReason.OTHER
    return i18n.gettext(REASONS.get(reason, REASONS[CancelReason.OTHER]))


def provider_locale(languages: list[str] | None, requested: str | None = None) -> str:
    """``requested`` if the site has it, else the first of the provider's languages that it
    has, else French."""
    for code in [requested, *(languages or [])]:
        found = i18n.supported(code)
        if found:
            return found
    return i18n.DEFAULT_LOCALE
