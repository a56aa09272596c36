"""``GET /api/v1/availability``: published slots and places left."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import FromQuery, QueryParameter

from reservations.api.schemas import SlotOut
from reservations.base import clock
from reservations.base.infra.db import Database
from reservations.base.models import ActivityKind
from reservations.base.reads import availability
from reservations.settings import SUPPORTED_LOCALES

DEFAULT_PERIOD_DAYS = 30


class AvailabilityController(Controller):
    path = "/availability"
    tags = ["availability"]

    @get(summary="Slots and places left over a period (default: the next 30 days)")
    async def list_availability(
        self,
        db: NamedDependency[Database],
        first_day: Annotated[
            date | None, QueryParameter(name="from", description="YYYY-MM-DD, default today")
        ] = None,
        last_day: Annotated[
            date | None, QueryParameter(name="to", description="YYYY-MM-DD, inclusive")
        ] = None,
        sector: FromQuery[str | None] = None,
        kind: FromQuery[ActivityKind | None] = None,
        provider: Annotated[str | None, QueryParameter(description="id or exact name")] = None,
        lang: Annotated[str, QueryParameter(description="fr, en, de or nl")] = "fr",
    ) -> list[SlotOut]:
        first_day = first_day or clock.today()
        last_day = last_day or first_day + timedelta(days=DEFAULT_PERIOD_DAYS)
        views = await availability.list_slots(
            db,
            first_day,
            last_day,
            availability.SlotFilter(sector=sector, kind=kind, provider=provider),
            locale=lang if lang in SUPPORTED_LOCALES else "fr",
        )
        return [SlotOut.of(view) for view in views]
