"""``/kiosk``: the office's 24/7 touch terminals. Today's and tomorrow's visits (Paris days) in
big type with the places left, and a QR code per slot still taking bookings that opens its
booking page on the visitor's phone; a full visit says so, and a cancelled one is marked
cancelled, neither with a code. Read-only; the page reloads itself every few minutes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import segno
from jinja2 import Environment
from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from markupsafe import Markup

from reservations import i18n
from reservations.base import clock
from reservations.base.infra.db import Database
from reservations.base.models import BOOKABLE_STATUSES, SlotStatus
from reservations.base.reads import availability, freshness, pictures
from reservations.base.reads.availability import SlotView
from reservations.base.reads.freshness import AnswerCache
from reservations.base.reads.pictures import PictureView
from reservations.i18n import N_
from reservations.settings import Settings
from reservations.web import links, page_cache

REFRESH_SECONDS = 300
#: Error correction "M" (15 %): survives a scratched or smudged screen, keeps the code small.
QR_ERROR = "m"
QR_SCALE = 6
QR_LABEL = N_("QR code of this visit's booking page")


@dataclass(frozen=True)
class KioskEntry:
    slot: SlotView
    url: str
    #: None when the visit takes no booking now (full, closed, cancelled): no code to scan.
    qr_svg: Markup | None
    cover: PictureView | None = None

    @property
    def cancelled(self) -> bool:
        return self.slot.status == SlotStatus.CANCELLED


@dataclass(frozen=True)
class KioskDay:
    day: date
    entries: list[KioskEntry]


def qr_svg(url: str) -> Markup:
    """An inline SVG QR code, dark on a light quiet zone (phones need the light border); an image
    named by its ``<title>`` for screen readers, in the visitor's language."""
    code = segno.make(url, error=QR_ERROR)
    svg = code.svg_inline(
        scale=QR_SCALE,
        dark="#000",
        light="#fff",
        svgclass="qr",
        title=i18n.gettext(QR_LABEL),  # segno escapes it
    )
    return Markup(svg.replace("<svg ", '<svg role="img" ', 1))


async def kiosk_days(db: Database, settings: Settings, *, now: datetime) -> list[KioskDay]:
    today = clock.local_date(now)
    tomorrow = today + timedelta(days=1)
    views = await availability.list_slots(db, today, tomorrow, locale=i18n.current(), now=now)
    # As on the programme, and the visits called off that were to come: people look for them.
    listed = (*BOOKABLE_STATUSES, SlotStatus.CANCELLED)
    shown = [v for v in views if v.starts_at > now and v.status in listed]
    covers = await pictures.covers(db, (view.activity_id for view in shown))
    days = []
    for day in (today, tomorrow):
        entries = [
            KioskEntry(
                view, url, qr_svg(url) if view.bookable else None, covers.get(view.activity_id)
            )
            for view in shown
            if view.starts_on == day
            for url in (links.visit_url(settings.public_url, view.id),)
        ]
        days.append(KioskDay(day, entries))
    return days


def next_minute(now: datetime) -> datetime:
    """When the page's "updated at" (to the minute) says another time."""
    return now.replace(second=0, microsecond=0) + timedelta(minutes=1)


class KioskController(Controller):
    path = "/kiosk"

    @get(name="kiosk")
    async def kiosk(
        self,
        request: Request[Any, Any, Any],
        db: NamedDependency[Database],
        settings: NamedDependency[Settings],
        jinja: NamedDependency[Environment],
        public_answers: NamedDependency[AnswerCache[Any]],
    ) -> Response[bytes]:
        now = clock.now()
        today = clock.local_date(now)
        fingerprint = await freshness.read(db, today, today + timedelta(days=1), now)
        changes_at = min(filter(None, (fingerprint.changes_at, next_minute(now))))

        async def build() -> tuple[str, dict[str, Any]]:
            return "visitors/kiosk.html", {
                "days": await kiosk_days(db, settings, now=now),
                "refresh_seconds": REFRESH_SECONDS,
                "updated_at": now,
                "page_path": "/kiosk",
                "page_query": (),
            }

        return await page_cache.kept_page(
            request,
            environment=jinja,
            cache=public_answers,
            key=("kiosk", i18n.current(), today, fingerprint),
            changes_at=changes_at,
            now=now,
            build=build,
        )
