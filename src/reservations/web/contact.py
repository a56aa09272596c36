"""Whom a visitor calls, where their links point, and what their booking costs."""

from __future__ import annotations

from reservations.base.reads.catalogue import SlotDetail
from reservations.base.rules.booking import BookingView
from reservations.settings import Settings


def office_phone(settings: Settings) -> str:
    return settings.office_phone


def manage_path(token: str) -> str:
    return f"/manage/{token}"


def manage_url(settings: Settings, token: str) -> str:
    """The absolute manage link written in emails and calendars."""
    return settings.public_url.rstrip("/") + manage_path(token)


def total_cents(booking: BookingView, slot: SlotDetail) -> int:
    return booking.adults * slot.price_adult_cents + booking.children * slot.price_child_cents
