"""The addresses people are sent to, built in one place (CLI, pages, emails, calendars): the
visits' pages, a booking's manage link, the waiting list's links, and a provider's private
pages."""

from __future__ import annotations

from datetime import date
from urllib.parse import urlsplit, urlunsplit


def visit_url(public_url: str, slot_id: int) -> str:
    """The slot's page on the site, where it is booked."""
    return f"{public_url.rstrip('/')}/visits/{slot_id}"


def share_url(public_url: str, slot_id: int) -> str:
    """The visit's page as those who booked it pass it on: bookings made from it are counted
    as brought by "help this visit happen"."""
    return f"{visit_url(public_url, slot_id)}?shared=1"


def move_invitation_url(public_url: str, token: str) -> str:
    """The one-tap page that moves a booking to the visit it is invited to (consolidation)."""
    return f"{public_url.rstrip('/')}/move/{token}"


def manage_path(token: str) -> str:
    """A booking's manage page, for its holder only: the token is its secret."""
    return f"/manage/{token}"


def manage_url(public_url: str, token: str) -> str:
    """The absolute manage link written in emails and calendars."""
    return public_url.rstrip("/") + manage_path(token)


def waitlist_url(public_url: str, token: str) -> str:
    """A waiting-list entry's page: its place in line, or the claim of an offer."""
    return f"{public_url.rstrip('/')}/waitlist/{token}"


#: Every farmer page lives under this prefix, followed by the link's secret.
PREFIX = "/farm"


def day_sheet_url(public_url: str, secret: str, day: date | None = None) -> str:
    """The day sheet (today's without ``day``): the link staff send to the farmer."""
    base = f"{public_url.rstrip('/')}{PREFIX}/{secret}"
    return base if day is None else f"{base}/{day.isoformat()}"


def feed_url(public_url: str, secret: str) -> str:
    """The private calendar feed over http(s)."""
    return f"{public_url.rstrip('/')}{PREFIX}/{secret}/calendar.ics"


def webcal_url(public_url: str, secret: str) -> str:
    """The same feed as ``webcal://``, which phones open as "subscribe to this calendar"."""
    parts = urlsplit(feed_url(public_url, secret))
    return urlunsplit(("webcal", *parts[1:]))
