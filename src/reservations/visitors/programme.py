"""``/``: the programme of upcoming visits and animations, filtered by dates (or a shortcut:
this week, this weekend, next week), sector, kind, provider, children's age, a language the
farmer speaks and free visits only, with a month calendar of the days that have visits and
places. Filters come from a plain GET form and links, so it works without scripts; anything
unreadable in the query is ignored rather than refused."""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from itertools import groupby
from typing import Annotated, Any
from urllib.parse import urlencode

from jinja2 import Environment
from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from litestar.params import FromQuery, QueryParameter

from reservations import i18n
from reservations.base import clock
from reservations.base.infra.db import Database
from reservations.base.models import ActivityKind
from reservations.base.reads import availability, catalogue, freshness, pictures
from reservations.base.reads.availability import SlotFilter, SlotView
from reservations.base.reads.freshness import AnswerCache
from reservations.settings import SUPPORTED_LOCALES, Settings
from reservations.web import inputs, page_cache

DEFAULT_DAYS = 30
#: At most this many visits on one page, in whole days (the first day always): a season at its
#: busiest stays a page a phone loads at once (about 45 KB), and the rest is a link away.
PAGE_VISITS = 100
MAX_DAYS = 92
MAX_CHILD_AGE = 17


@dataclass(frozen=True)
class ProgrammeQuery:
    first_day: date
    last_day: date
    sector: str | None
    kind: ActivityKind | None
    provider: int | None
    #: The youngest child's age: only activities open to that age are shown.
    age: int | None
    #: A language the farmer speaks ("de"...), and free visits only.
    spoken: str | None = None
    free: bool = False

    @property
    def filtered(self) -> bool:
        return any((self.sector, self.kind, self.provider, self.age is not None, self.spoken))

    def pairs(self) -> dict[str, str]:
        """The query's parameters as its address writes them (none for a filter not set)."""
        pairs = {
            "from": self.first_day.isoformat(),
            "to": self.last_day.isoformat(),
            "sector": self.sector,
            "kind": self.kind.value if self.kind else None,
            "provider": str(self.provider) if self.provider is not None else None,
            "age": str(self.age) if self.age is not None else None,
            "spoken": self.spoken,
            "free": "1" if self.free else None,
        }
        return {k: v for k, v in pairs.items() if v is not None}

    def link(self, **changes: Any) -> str:
        """The programme's address with these filters (and ``changes``)."""
        return "/?" + urlencode(replace(self, **changes).pairs())

    def given(self, names: Iterable[str]) -> tuple[tuple[str, str], ...]:
        """The query as read, of the parameters the address gave (``names``): what the page's
        language links keep."""
        given = set(names)
        return tuple((k, v) for k, v in self.pairs().items() if k in given)

    @classmethod
    def read(
        cls,
        today: date,
        sectors: Sequence[str],
        *,
        first: str | None,
        last: str | None,
        sector: str | None,
        kind: str | None,
        provider: str | None,
        age: str | None,
        spoken: str | None = None,
        free: str | None = None,
    ) -> ProgrammeQuery:
        first_day = max(_date(first) or today, today)
        last_day = _date(last)
        if last_day is None or last_day < first_day:
            last_day = first_day + timedelta(days=DEFAULT_DAYS)
        last_day = min(last_day, first_day + timedelta(days=MAX_DAYS))
        return cls(
            first_day=first_day,
            last_day=last_day,
            sector=sector if sector in sectors else None,
            kind=ActivityKind(kind) if kind in set(ActivityKind) else None,
            provider=_number(provider, 1, None),
            age=_number(age, 0, MAX_CHILD_AGE),
            spoken=spoken if spoken in SUPPORTED_LOCALES else None,
            free=free == "1",
        )


def _date(text: str | None) -> date | None:
    return inputs.day((text or "").strip())


def _number(text: str | None, low: int, high: int | None) -> int | None:
    value = inputs.whole_number((text or "").strip())
    if value is None:
        return None
    return value if value >= low and (high is None or value <= high) else None


@dataclass(frozen=True)
class Shortcut:
    name: str  # "this_week", "this_weekend", "next_week"
    first_day: date
    last_day: date


def shortcuts(today: date) -> list[Shortcut]:
    """This week (today to Sunday), this weekend (Saturday and Sunday; today if it is Sunday),
    next week (Monday to Sunday)."""
    sunday = today + timedelta(days=6 - today.weekday())
    saturday = max(sunday - timedelta(days=1), today)
    return [
        Shortcut("this_week", today, sunday),
        Shortcut("this_weekend", saturday, sunday),
        Shortcut("next_week", sunday + timedelta(days=1), sunday + timedelta(days=7)),
    ]


@dataclass(frozen=True)
class CalendarDay:
    day: date
    #: "none" (no visit), "full" (visits, no place left), "places"; None outside the window
    state: str | None


def month_calendar(first: date, last: date, days: Sequence[Day]) -> list[tuple[date, list]]:
    """The months of the window, as weeks of days (Monday first; None outside the month), each
    day saying whether it has visits with places left."""
    found = {
        day.day: "places" if any(e.slot.bookable for e in day.entries) else "full" for day in days
    }
    months, month = [], date(first.year, first.month, 1)
    while month <= last:
        weeks = [
            [
                None
                if d.month != month.month
                else CalendarDay(d, found.get(d, "none") if first <= d <= last else None)
                for d in week
            ]
            for week in calendar.Calendar().monthdatescalendar(month.year, month.month)
        ]
        months.append((month, weeks))
        month = (month + timedelta(days=32)).replace(day=1)
    return months


@dataclass(frozen=True)
class Entry:
    slot: SlotView
    min_age: int | None


@dataclass(frozen=True)
class Day:
    day: date
    entries: list[Entry]


def first_page(days: Sequence[Day], visits: int = PAGE_VISITS) -> list[Day]:
    """The first days of ``days`` holding at most ``visits`` visits in all (the first day
    whatever its count)."""
    shown, count = [], 0
    for day in days:
        count += len(day.entries)
        if shown and count > visits:
            break
        shown.append(day)
    return shown


async def upcoming(db: Database, query: ProgrammeQuery, *, locale: str, now: datetime) -> list[Day]:
    """The slots still on the programme (``availability.on_programme``), by local day."""
    slot_filter = SlotFilter(
        sector=query.sector,
        kind=query.kind,
        provider=query.provider,
    )
    views = await availability.list_slots(
        db, query.first_day, query.last_day, slot_filter, locale=locale, now=now
    )
    views = [v for v in views if availability.on_programme(v, now)]
    if query.free:
        views = [v for v in views if v.price_adult_cents == v.price_child_cents == 0]
    if query.spoken:
        spoken = await catalogue.spoken_languages(db, (v.activity_id for v in views))
        views = [v for v in views if query.spoken in spoken.get(v.activity_id, [])]
    ages = await catalogue.minimum_ages(db, (v.activity_id for v in views))
    entries = [
        Entry(view, ages.get(view.activity_id))
        for view in views
        if query.age is None or (ages.get(view.activity_id) or 0) <= query.age
    ]
    return [
        Day(local_day, list(group))
        for local_day, group in groupby(entries, key=lambda e: e.slot.starts_on)
    ]


class ProgrammeController(Controller):
    path = "/"

    @get(name="programme")
    async def programme(
        self,
        request: Request[Any, Any, Any],
        db: NamedDependency[Database],
        settings: NamedDependency[Settings],
        jinja: NamedDependency[Environment],
        public_answers: NamedDependency[AnswerCache[Any]],
        first: Annotated[str | None, QueryParameter(name="from")] = None,
        last: Annotated[str | None, QueryParameter(name="to")] = None,
        sector: FromQuery[str | None] = None,
        kind: FromQuery[str | None] = None,
        provider: FromQuery[str | None] = None,
        age: FromQuery[str | None] = None,
        spoken: FromQuery[str | None] = None,
        free: FromQuery[str | None] = None,
    ) -> Response[bytes]:
        now = clock.now()
        today = clock.local_date(now)
        query = ProgrammeQuery.read(
            today,
            settings.sectors,
            first=first,
            last=last,
            sector=sector,
            kind=kind,
            provider=provider,
            age=age,
            spoken=spoken,
            free=free,
        )
        locale = i18n.current()
        page_query = query.given(request.query_params.keys())
        fingerprint = await freshness.read(db, query.first_day, query.last_day, now)

        async def build() -> tuple[str, dict[str, Any]]:
            days = await upcoming(db, query, locale=locale, now=now)
            providers = await catalogue.providers_on_programme(db, query.first_day, query.last_day)
            covers = await pictures.covers(
                db, (e.slot.activity_id for d in days for e in d.entries)
            )
            shown = first_page(days)
            later = (
                query.link(first_day=shown[-1].day + timedelta(days=1))
                if len(shown) < len(days)
                else None
            )
            return "visitors/programme.html", {
                "query": query,
                "days": shown,
                "later": later,
                "providers": providers,
                "sectors": settings.sectors,
                "kinds": list(ActivityKind),
                "max_child_age": MAX_CHILD_AGE,
                "filtered": query.filtered or query.free,
                "shortcuts": shortcuts(today),
                "months": month_calendar(query.first_day, query.last_day, days),
                "spoken_choices": SUPPORTED_LOCALES,
                "covers": covers,
                "page_path": "/",
                "page_query": page_query,
            }

        return await page_cache.kept_page(
            request,
            environment=jinja,
            cache=public_answers,
            key=("programme", locale, today, query, page_query, fingerprint),
            changes_at=fingerprint.changes_at,
            now=now,
            build=build,
        )
