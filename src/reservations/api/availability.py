"""``GET /api/v1/availability``: published slots and places left.

Each answer carries an ``ETag`` made of the database's fingerprint of its days
(``base.reads.freshness``), read at every request: a client sending it back in
``If-None-Match`` gets ``304`` while nothing changed, and this worker keeps the encoded answer
under that fingerprint, so a read of an unchanged window costs one aggregate statement. A
booking made through any worker changes the fingerprint, so the next read sees it."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get
from litestar.datastructures import State
from litestar.exceptions import ValidationException
from litestar.params import QueryParameter

from reservations.api.problems import problem_responses
from reservations.api.schemas import SlotOut
from reservations.base import clock
from reservations.base.infra.db import Database
from reservations.base.models import ActivityKind
from reservations.base.reads import availability, freshness
from reservations.base.reads.freshness import AnswerCache
from reservations.settings import SUPPORTED_LOCALES
from reservations.web import inputs
from reservations.web.feed_responses import conditional_response, etag

DEFAULT_PERIOD_DAYS = 30
#: Clients and caches may keep an answer but ask again each time (a 304 costs little).
CACHE_CONTROL = "public, no-cache"
#: Longest text a filter may hold (names of providers and sectors are far shorter).
MAX_FILTER_LENGTH = 200

_CALENDAR = f"from {inputs.FIRST_DAY.isoformat()} to {inputs.LAST_DAY.isoformat()}"


def _filter_text(description: str) -> QueryParameter:
    return QueryParameter(
        description=f"{description} (at most {MAX_FILTER_LENGTH} characters, no control "
        "characters)",
        max_length=MAX_FILTER_LENGTH,
        pattern=inputs.USABLE_TEXT_PATTERN,
    )


class AvailabilityController(Controller):
    path = "/availability"
    tags = ["availability"]

    @get(
        summary="Slots and places left over a period (default: the next 30 days)",
        description=(
            f"Days are local (Europe/Paris) and read {_CALENDAR}; `from` must not be after "
            f"`to`, and a period spans at most {availability.MAX_PERIOD_DAYS} days: otherwise "
            "422 `invalid_period`."
        ),
        responses=problem_responses(422, 503),
    )
    async def list_availability(
        self,
        request: Request[Any, Any, Any],
        state: State,
        first_day: Annotated[
            date | None,
            QueryParameter(name="from", description=f"YYYY-MM-DD, {_CALENDAR}; default today"),
        ] = None,
        last_day: Annotated[
            date | None,
            QueryParameter(
                name="to",
                description=f"YYYY-MM-DD, {_CALENDAR}, inclusive, not before `from`; default "
                f"`from` + {DEFAULT_PERIOD_DAYS} days",
            ),
        ] = None,
        sector: Annotated[str | None, _filter_text("A sector's exact name")] = None,
        kind: Annotated[ActivityKind | None, QueryParameter()] = None,
        provider: Annotated[
            str | None, _filter_text("A provider's number, or its exact name")
        ] = None,
        lang: Annotated[
            str, QueryParameter(description="fr, en, de or nl (another: fr)", max_length=20)
        ] = "fr",
    ) -> Response[list[SlotOut]]:
        outside = [
            {"key": key, "message": "outside the calendar"}
            for key, given in (("from", first_day), ("to", last_day))
            if given is not None and not inputs.within_calendar(given)
        ]
        if outside:  # read as any other invalid parameter (422, with what it should hold)
            raise ValidationException(extra=outside)
        # From the app's state, not as dependencies: resolving them costs more than the rest
        # of an answer kept already.
        db: Database = state.db
        public_answers: AnswerCache[Any] = state.public_answers
        now = clock.now()
        first_day = first_day or clock.local_date(now)
        last_day = last_day or first_day + timedelta(days=DEFAULT_PERIOD_DAYS)
        availability.check_period(first_day, last_day)  # before any read
        slot_filter = availability.SlotFilter(
            sector=sector or None, kind=kind, provider=inputs.id_or_name(provider or "")
        )
        locale = lang if lang in SUPPORTED_LOCALES else "fr"
        fingerprint = await freshness.read(db, first_day, last_day, now)
        key = ("availability", first_day, last_day, slot_filter, locale, fingerprint)
        tag = etag("availability", repr(key))

        async def encoded() -> bytes:
            views = await availability.list_slots(
                db, first_day, last_day, slot_filter, locale=locale, now=now
            )
            return msgspec.json.encode([SlotOut.of(view) for view in views])

        async def build() -> bytes:
            return await public_answers.kept(key, now, fingerprint.changes_at, encoded)

        return await conditional_response(  # type: ignore[return-value]
            request,
            tag=tag,
            cache_control=CACHE_CONTROL,
            media_type="application/json",
            build=build,
        )
