"""The resellers as the back office lists them: their key's kind and state, and what they sold
(one SELECT, the bookings counted in SQL)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Integer, case, cast, func, select

from reservations.base.infra.db import Database
from reservations.base.models import Booking, BookingStatus, Reseller


@dataclass(frozen=True)
class ResellerLine:
    id: int
    name: str
    test_mode: bool
    created_at: datetime
    revoked_at: datetime | None
    #: Its confirmed bookings, and the people on them (cancelled and expired ones left out).
    bookings: int
    people: int


async def all_resellers(db: Database) -> list[ResellerLine]:
    confirmed = Booking.status == BookingStatus.CONFIRMED
    query = (
        select(
            Reseller.id,
            Reseller.name,
            Reseller.test_mode,
            Reseller.created_at,
            Reseller.revoked_at,
            cast(func.count(case((confirmed, Booking.id))), Integer),
            cast(
                func.coalesce(
                    func.sum(case((confirmed, Booking.adults + Booking.children), else_=0)), 0
                ),
                Integer,
            ),
        )
        .outerjoin(Booking, Booking.reseller_id == Reseller.id)
        .group_by(Reseller.id)
        .order_by(Reseller.name)
    )
    async with db.reading_connection() as connection:
        return [ResellerLine(*row) for row in await connection.execute(query)]
