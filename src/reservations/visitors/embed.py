"""``/embed``: a compact list of upcoming slots for an iframe on the office's site or a lodging's
site (``?provider=`` id or exact name, ``?sector=``, ``?kind=``, ``?days=``, ``?lang=``). Tiny,
scriptless, and framable by the office's origins; each entry opens the booking page outside the
iframe. An unknown provider or sector gives an empty list, never an error: the snippet is pasted
into other people's pages and must not break them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from itertools import groupby
from typing import Any

from jinja2 import Environment
from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from litestar.params import FromQuery

from reservations import i18n
from reservations.base import clock
from reservations.base.infra.db import Database
from reservations.base.models import ActivityKind
from reservations.base.reads import availability, freshness, pictures
from reservations.base.reads.availability import SlotFilter, SlotView
from reservations.base.reads.freshness import AnswerCache
from reservations.web import inputs, page_cache

DEFAULT_DAYS = 30
MAX_DAYS = 92


@dataclass(frozen=True)
class EmbedQuery:
    slot_filter: SlotFilter
    days: int

    @classmethod
    def read(
        cls, *, provider: str | None, sector: str | None, kind: str | None, days: str | None
    ) -> EmbedQuery:
        """Filters are passed on as given (unknown ones match nothing); an unreadable ``kind``
        or ``days`` falls back to all kinds and a month."""
        return cls(
            slot_filter=SlotFilter(
                sector=_text(sector),
                kind=ActivityKind(kind) if kind in set(ActivityKind) else None,
                provider=inputs.id_or_name(_text(provider) or ""),
            ),
            days=_days(days),
        )


def _text(text: str | None) -> str | None:
    """A filter's text; one no database could hold (a NUL...) is ignored, as an unknown kind
    is."""
    text = (text or "").strip()
    return text if text and inputs.is_usable_text(text) else None


def _days(text: str | None) -> int:
    days = inputs.whole_number((text or "").strip())
    if days is None:
        return DEFAULT_DAYS
    return min(max(days, 1), MAX_DAYS)


async def embedded_slots(db: Database, query: EmbedQuery, *, now: datetime) -> list[SlotView]:
    """The slots on the programme from today for ``days`` days."""
    today = clock.local_date(now)
    views = await availability.list_slots(
        db,
        today,
        today + timedelta(days=query.days - 1),
        query.slot_filter,
        locale=i18n.current(),
        now=now,
    )
    return [v for v in views if availability.on_programme(v, now)]


def by_day(slots: list[SlotView]) -> list[tuple[date, list[SlotView]]]:
    """Slots (in start order) grouped by their local day."""
    return [(day, list(group)) for day, group in groupby(slots, key=lambda slot: slot.starts_on)]


class EmbedController(Controller):
    path = "/embed"

    @get(name="embed")
    async def embed(
        self,
        request: Request[Any, Any, Any],
        db: NamedDependency[Database],
        jinja: NamedDependency[Environment],
        public_answers: NamedDependency[AnswerCache[Any]],
        provider: FromQuery[str | None] = None,
        sector: FromQuery[str | None] = None,
        kind: FromQuery[str | None] = None,
        days: FromQuery[str | None] = None,
    ) -> Response[bytes]:
        query = EmbedQuery.read(provider=provider, sector=sector, kind=kind, days=days)
        now = clock.now()
        today = clock.local_date(now)
        locale = i18n.current()
        fingerprint = await freshness.read(db, today, today + timedelta(days=query.days - 1), now)

        async def build() -> tuple[str, dict[str, Any]]:
            slots = await embedded_slots(db, query, now=now)
            return "visitors/embed.html", {
                "days": by_day(slots),
                "covers": await pictures.covers(db, (slot.activity_id for slot in slots)),
            }

        return await page_cache.kept_page(
            request,
            environment=jinja,
            cache=public_answers,
            key=("embed", locale, today, query, fingerprint),
            changes_at=fingerprint.changes_at,
            now=now,
            build=build,
        )
