"""Money in the season report: what was paid, what was given back, and what unpaid holds keep
at stake, by booking channel and by farm or organiser.

Every figure belongs to the season of its visit: a payment, a refund or a hold counts in the
season (and kind) of its booking's slot, by the slot's local start date (``Slot.starts_on``),
whenever the money moved. That is the date every other figure of the report groups on, so a
season's money sits beside its participants (a payment made in December for a visit in
January counts in January's season). Amounts are integer euro cents.

- revenue: payments ``paid``, by method; open, failed and expired ones are no money received;
- refunds: ``succeeded`` ones were given back; ``pending`` ones are owed and not sent yet
  (Stripe unreachable: ``tick`` retries them); failed ones (staff must look) are in neither;
- net: revenue less the succeeded refunds;
- unpaid holds: online bookings awaiting their payment (``pending_payment``; a reseller's hold
  is not counted: the reseller is paid, not the office) whose hold still runs at the report's
  time (a hold past its end holds nothing any more, even before ``tick`` marks it expired): how
  many, their people, and the amount at stake at the activity's current prices.

Three GROUP BY statements (payments, refunds, holds), each by channel × provider whatever the
number of bookings; their few rows are summed here into the totals and both groupings.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, Select, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from reservations.base import clock
from reservations.base.infra.db import Database
from reservations.base.models import (
    Activity,
    ActivityKind,
    Booking,
    BookingStatus,
    Channel,
    Payment,
    PaymentMethod,
    PaymentStatus,
    Provider,
    Refund,
    RefundStatus,
    Slot,
)
from reservations.base.reads.reports import _aligned, _Season

#: The groupings, in the order the report shows them: (report key, CSV scope).
GROUPINGS = (("by_channel", "channel"), ("by_provider", "provider"))


def _cents(expression: Any) -> ColumnElement[int]:
    """SUM as a 64-bit int on both databases, 0 when empty (a season's cents may pass 2^31)."""
    return cast(func.coalesce(func.sum(expression), 0), BigInteger)


def _from_bookings(query: Select[Any], season: _Season) -> Select[Any]:
    """Join a query whose FROM has ``Booking`` to its slot, activity and provider, keep the
    season, and group by channel and provider (the first two columns of every query here)."""
    query = (
        query.join(Slot, Slot.id == Booking.slot_id)
        .join(Activity, Activity.id == Slot.activity_id)
        .join(Provider, Provider.id == Activity.provider_id)
    )
    return season.restrict(query).group_by(Booking.channel, Provider.name)


def _payments(season: _Season) -> Select[Any]:
    query = (
        select(Booking.channel, Provider.name, Payment.method, _cents(Payment.amount_cents))
        .select_from(Payment)
        .join(Booking, Booking.id == Payment.booking_id)
        .where(Payment.status == PaymentStatus.PAID)
    )
    return _from_bookings(query, season).group_by(Payment.method)


def _refunds(season: _Season) -> Select[Any]:
    query = (
        select(Booking.channel, Provider.name, Refund.status, _cents(Refund.amount_cents))
        .select_from(Refund)
        .join(Booking, Booking.id == Refund.booking_id)
        .where(Refund.status.in_((RefundStatus.SUCCEEDED, RefundStatus.PENDING)))
    )
    return _from_bookings(query, season).group_by(Refund.status)


def _holds(season: _Season, at: datetime) -> Select[Any]:
    at_stake = (
        Booking.adults * Activity.price_adult_cents + Booking.children * Activity.price_child_cents
    )
    query = (
        select(
            Booking.channel,
            Provider.name,
            cast(func.count(), BigInteger),
            _cents(Booking.adults + Booking.children),
            _cents(at_stake),
        )
        .select_from(Booking)
        # A reseller's hold is not money at stake here: the reseller is paid, not us.
        .where(Booking.status == BookingStatus.PENDING_PAYMENT, Booking.hold_expires_at > at)
    )
    return _from_bookings(query, season)


@dataclass
class _Money:
    """The figures of one group, summed from the rows of the three statements."""

    by_method: dict[str, int] = field(default_factory=lambda: {m.value: 0 for m in PaymentMethod})
    refunded: int = 0
    refunds_pending: int = 0
    holds: int = 0
    held_people: int = 0
    held_cents: int = 0

    def as_dict(self) -> dict[str, Any]:
        revenue = sum(self.by_method.values())
        return {
            "revenue_cents": revenue,
            "revenue_by_method": dict(self.by_method),
            "refunded_cents": self.refunded,
            "refunds_pending_cents": self.refunds_pending,
            "net_cents": revenue - self.refunded,
            "unpaid_holds": {
                "bookings": self.holds,
                "people": self.held_people,
                "amount_cents": self.held_cents,
            },
        }


class _Groups:
    def __init__(self) -> None:
        self.total = _Money()
        self.channels: dict[Channel, _Money] = {}
        self.providers: dict[str, _Money] = {}

    def of(self, channel: str, provider: str) -> Iterable[_Money]:
        yield self.total
        yield self.channels.setdefault(Channel(channel), _Money())
        yield self.providers.setdefault(provider, _Money())


async def _collect(session: AsyncSession, season: _Season, at: datetime) -> _Groups:
    groups = _Groups()
    for channel, provider, method, cents in await session.execute(_payments(season)):
        for money in groups.of(channel, provider):
            money.by_method[PaymentMethod(method).value] += cents
    for channel, provider, status, cents in await session.execute(_refunds(season)):
        for money in groups.of(channel, provider):
            if RefundStatus(status) is RefundStatus.SUCCEEDED:
                money.refunded += cents
            else:
                money.refunds_pending += cents
    for channel, provider, count, people, cents in await session.execute(_holds(season, at)):
        for money in groups.of(channel, provider):
            money.holds += count
            money.held_people += people
            money.held_cents += cents
    return groups


async def revenue_report(
    db: Database, season: int, *, kind: ActivityKind | None = None, now: clock.At = None
) -> dict[str, Any]:
    """The money of one season's visits (all kinds unless ``kind``), ready for JSON; unpaid
    holds are those still running at ``now`` (the report's time, the real clock by default)."""
    kind = ActivityKind(kind) if kind is not None else None
    at = clock.reader(now)()
    async with db.reading() as session:
        groups = await _collect(session, _Season(season, kind), at)
    return {
        "season": season,
        "kind": kind.value if kind else None,
        "at": at.isoformat(),
        **groups.total.as_dict(),
        # Channels in the order they are declared (web first); names in code-point order,
        # the same on every database.
        "by_channel": {
            c.value: groups.channels[c].as_dict() for c in Channel if c in groups.channels
        },
        "by_provider": {
            name: groups.providers[name].as_dict() for name in sorted(groups.providers)
        },
    }


# --- Renderings (language-neutral: the staff pages format amounts in the reader's locale) ----


def euros(cents: int) -> str:
    """Cents as plain euros with two decimals, exactly: 1250 -> "12.50"."""
    return f"{Decimal(cents) / 100:.2f}"


def _group_lines(title: str, groups: Mapping[str, Any]) -> list[str]:
    header = [title, "paid", "refunded", "refund pending", "net", "holds", "people", "at stake"]
    rows = [
        [
            key,
            euros(m["revenue_cents"]),
            euros(m["refunded_cents"]),
            euros(m["refunds_pending_cents"]),
            euros(m["net_cents"]),
            str(m["unpaid_holds"]["bookings"]),
            str(m["unpaid_holds"]["people"]),
            euros(m["unpaid_holds"]["amount_cents"]),
        ]
        for key, m in groups.items()
    ]
    return _aligned(header, rows) if rows else ["  (none)"]


def revenue_as_table(revenue: Mapping[str, Any]) -> str:
    """Plain text for a terminal, in euros: the totals, then by channel and by provider."""
    methods = " · ".join(
        f"{method.replace('_', ' ')} {euros(cents)}"
        for method, cents in revenue["revenue_by_method"].items()
    )
    holds = revenue["unpaid_holds"]
    lines = [
        f"Revenue, EUR (visits of {revenue['season']})",
        (
            f"Paid {euros(revenue['revenue_cents'])} · refunded {euros(revenue['refunded_cents'])}"
            f" · refunds pending {euros(revenue['refunds_pending_cents'])}"
            f" · net {euros(revenue['net_cents'])}"
        ),
        f"Paid by method: {methods}",
        (
            f"Unpaid holds running at {clock.display(datetime.fromisoformat(revenue['at']))}: "
            f"{holds['bookings']} bookings, "
            f"{holds['people']} people, {euros(holds['amount_cents'])} at stake"
        ),
    ]
    for name, column in GROUPINGS:
        lines += ["", f"Revenue by {column}", *_group_lines(column, revenue[name])]
    return "\n".join(lines) + "\n"


CSV_COLUMNS = (
    "scope",
    "key",
    "revenue_cents",
    *(f"revenue_{method.value}_cents" for method in PaymentMethod),
    "refunded_cents",
    "refunds_pending_cents",
    "net_cents",
    "unpaid_holds",
    "unpaid_hold_people",
    "unpaid_hold_cents",
)


def _csv_row(scope: str, key: str, m: Mapping[str, Any]) -> dict[str, Any]:
    holds = m["unpaid_holds"]
    return {
        "scope": scope,
        "key": key,
        "revenue_cents": m["revenue_cents"],
        **{f"revenue_{method}_cents": c for method, c in m["revenue_by_method"].items()},
        "refunded_cents": m["refunded_cents"],
        "refunds_pending_cents": m["refunds_pending_cents"],
        "net_cents": m["net_cents"],
        "unpaid_holds": holds["bookings"],
        "unpaid_hold_people": holds["people"],
        "unpaid_hold_cents": holds["amount_cents"],
    }


def revenue_as_csv(revenue: Mapping[str, Any]) -> str:
    """One row for the season, then one per channel and per provider; amounts in cents."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerow(_csv_row("season", str(revenue["season"]), revenue))
    for name, scope in GROUPINGS:
        writer.writerows(_csv_row(scope, key, m) for key, m in revenue[name].items())
    return out.getvalue()
