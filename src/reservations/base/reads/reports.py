"""The season report: what was planned, held, cancelled, booked and attended in a calendar year.

Everything is aggregated by the database (GROUP BY): a handful of statements whatever the number
of slots and bookings. A season is the slots whose local start date (``Slot.starts_on``) falls in
the year. Demand ("seats booked") counts the bookings that wanted to come: confirmed ones, and
those ended by their slot's cancellation; bookings the visitor or the staff cancelled, and
unpaid or expired ones, do not count. Participants come from attendance records on held slots,
for the bookings that count as demand (a stale record of a booking cancelled afterwards does
not count). Rates are fractions (0..1), or None when their denominator is 0.

The effect of the office's levers on the go/no-go (``effects``): each slot of the season by the
outcome of its decision, judged on the people booked on it at its decision. A visit that went
ahead (confirmed or held) was *saved by consolidation* when some of them had moved to it by
accepting an invitation and, without them, it would have been short of its minimum; otherwise
*saved by "help this visit happen"* when the same holds of those who booked from a visitor's
share link (a lower bound: a visitor who left the page and came back is not counted);
otherwise it *reached its minimum* by itself. A visit called off for too few people was
*merged* when some of its visitors had moved to another date by invitation; otherwise it was
called off for lack of people, or for another reason.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    String,
    Subquery,
    and_,
    case,
    cast,
    extract,
    func,
    literal_column,
    or_,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from reservations.base.infra.db import Database
from reservations.base.models import (
    Activity,
    ActivityKind,
    Attendance,
    Booking,
    BookingStatus,
    CancelledBy,
    CancelReason,
    Channel,
    MoveInvitation,
    Provider,
    Slot,
    SlotStatus,
)

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
#: The groupings of slots, in the order the report shows them: (report key, facts column).
SLOT_GROUPINGS = (
    ("by_provider", "provider"),
    ("by_weekday", "weekday"),
    ("by_month", "month"),
    ("by_sector", "sector"),
)


# --- Dialect-specific date parts -------------------------------------------------------------


class weekday_of(FunctionElement[int]):
    """ISO weekday of a date: 1 for Monday .. 7 for Sunday."""

    type = Integer()
    name = "weekday_of"
    inherit_cache = True


class month_of(FunctionElement[str]):
    """The 'YYYY-MM' month of a date."""

    type = String()
    name = "month_of"
    inherit_cache = True


@compiles(weekday_of)
def _weekday_postgresql(element: weekday_of, compiler: Any, **kw: Any) -> str:
    return compiler.process(cast(extract("isodow", *element.clauses), Integer), **kw)


@compiles(weekday_of, "sqlite")
def _weekday_sqlite(element: weekday_of, compiler: Any, **kw: Any) -> str:
    # strftime('%w') counts from Sunday = 0; shift so that Monday = 1 and Sunday = 7.
    sunday_first = cast(func.strftime(literal_column("'%w'"), *element.clauses), Integer)
    six, seven, one = (literal_column(str(n), Integer) for n in (6, 7, 1))
    return compiler.process((sunday_first + six) % seven + one, **kw)


@compiles(month_of)
def _month_postgresql(element: month_of, compiler: Any, **kw: Any) -> str:
    return compiler.process(func.to_char(*element.clauses, literal_column("'YYYY-MM'")), **kw)


@compiles(month_of, "sqlite")
def _month_sqlite(element: month_of, compiler: Any, **kw: Any) -> str:
    return compiler.process(func.strftime(literal_column("'%Y-%m'"), *element.clauses), **kw)


# --- Queries ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Season:
    year: int
    kind: ActivityKind | None

    def restrict(self, query: Select[Any]) -> Select[Any]:
        """Keep the slots of this season (and kind); the query must already join Activity."""
        query = query.where(Slot.starts_on.between(date(self.year, 1, 1), date(self.year, 12, 31)))
        return query if self.kind is None else query.where(Activity.kind == self.kind)


def _counts_as_demand() -> ColumnElement[bool]:
    return or_(
        Booking.status == BookingStatus.CONFIRMED,
        and_(Booking.status == BookingStatus.CANCELLED, Booking.cancelled_by == CancelledBy.SLOT),
    )


def _total(expression: Any) -> ColumnElement[int]:
    """SUM as an int on both databases (PostgreSQL sums bigints into numerics), 0 when empty."""
    return cast(func.coalesce(func.sum(expression), 0), Integer)


def _demand_by_slot(season: _Season) -> Subquery:
    query = (
        select(Booking.slot_id, _total(Booking.adults + Booking.children).label("people"))
        .join(Slot, Slot.id == Booking.slot_id)
        .join(Activity, Activity.id == Slot.activity_id)
        .where(_counts_as_demand())
        .group_by(Booking.slot_id)
    )
    return season.restrict(query).subquery("demand")


def _levers_by_slot(season: _Season) -> Subquery:
    """Per slot, among the people booked on it at its decision (booked by then, not cancelled
    before it but by the decision itself): all of them, those who came from a share link, and
    those who had moved to it by accepting an invitation by then (each booking once)."""
    people = Booking.adults + Booking.children
    decided_at = Slot.decision_at
    on_it_at_decision = and_(
        Booking.status.in_([BookingStatus.CONFIRMED, BookingStatus.CANCELLED]),
        Booking.created_at <= decided_at,
        or_(
            Booking.cancelled_at.is_(None),
            Booking.cancelled_at > decided_at,
            Booking.cancelled_by == CancelledBy.SLOT,
        ),
    )
    moved_in = (
        select(MoveInvitation.id)
        .where(
            MoveInvitation.booking_id == Booking.id,
            MoveInvitation.target_slot_id == Booking.slot_id,
            MoveInvitation.accepted_at <= decided_at,
        )
        .exists()
    )
    query = (
        select(
            Booking.slot_id,
            _total(people).label("at_decision"),
            _total(case((Booking.via_share_link, people), else_=0)).label("shared"),
            _total(case((moved_in, people), else_=0)).label("moved_in"),
        )
        .join(Slot, Slot.id == Booking.slot_id)
        .join(Activity, Activity.id == Slot.activity_id)
        .where(on_it_at_decision)
        .group_by(Booking.slot_id)
    )
    return season.restrict(query).subquery("levers")


def _merged_out(season: _Season) -> Subquery:
    """The slots some of whose bookings moved to another date by accepting an invitation."""
    query = (
        select(MoveInvitation.source_slot_id.label("slot_id"))
        .join(Slot, Slot.id == MoveInvitation.source_slot_id)
        .join(Activity, Activity.id == Slot.activity_id)
        .where(MoveInvitation.accepted_at.is_not(None))
        .group_by(MoveInvitation.source_slot_id)
    )
    return season.restrict(query).subquery("merged_out")


#: The outcomes of a season's go/no-go decisions, in the order the report shows them.
OUTCOMES = (
    "reached_minimum",
    "saved_by_consolidation",
    "saved_by_share",
    "merged",
    "too_few_people",
    "cancelled_other",
    "undecided",
)


def _outcome_query(season: _Season) -> Select[Any]:
    """One row per outcome with its number of slots (one pass over the season's slots)."""
    levers, merged = _levers_by_slot(season), _merged_out(season)
    at_decision = func.coalesce(levers.c.at_decision, 0)
    moved_in, shared = func.coalesce(levers.c.moved_in, 0), func.coalesce(levers.c.shared, 0)
    went_ahead = Slot.status.in_([SlotStatus.CONFIRMED, SlotStatus.HELD])
    too_few = and_(
        Slot.status == SlotStatus.CANCELLED, Slot.cancel_reason == CancelReason.UNDER_MINIMUM
    )

    def saved_by(brought: Any) -> ColumnElement[bool]:
        return and_(went_ahead, brought > 0, at_decision - brought < Slot.min_participants)

    outcome = case(
        (saved_by(moved_in), literal_column("'saved_by_consolidation'")),
        (saved_by(shared), literal_column("'saved_by_share'")),
        (went_ahead, literal_column("'reached_minimum'")),
        (and_(too_few, merged.c.slot_id.is_not(None)), literal_column("'merged'")),
        (too_few, literal_column("'too_few_people'")),
        (Slot.status == SlotStatus.CANCELLED, literal_column("'cancelled_other'")),
        else_=literal_column("'undecided'"),
    ).label("outcome")
    query = (
        select(outcome, cast(func.count(), Integer).label("slots"))
        .join(Activity, Activity.id == Slot.activity_id)
        .outerjoin(levers, levers.c.slot_id == Slot.id)
        .outerjoin(merged, merged.c.slot_id == Slot.id)
        .group_by(outcome)
    )
    return season.restrict(query)


async def _effects(session: AsyncSession, season: _Season) -> dict[str, Any]:
    """The season's slots by decision outcome, and the held rate of the visits decided by
    their bookings (went ahead, or called off for too few people or merged)."""
    found = {row.outcome: row.slots for row in await session.execute(_outcome_query(season))}
    by_outcome = {outcome: int(found.get(outcome, 0)) for outcome in OUTCOMES}
    ahead = sum(
        by_outcome[o] for o in ("reached_minimum", "saved_by_consolidation", "saved_by_share")
    )
    decided = ahead + by_outcome["too_few_people"] + by_outcome["merged"]
    saved = by_outcome["saved_by_consolidation"] + by_outcome["saved_by_share"]
    return {
        "by_outcome": by_outcome,
        "went_ahead": ahead,
        "decided_by_bookings": decided,
        "held_rate_when_decided": _rate(ahead, decided),
        "visits_saved": saved,
        "held_rate_without_saved": _rate(ahead - saved, decided),
    }


def _attendance_by_slot(season: _Season) -> Subquery:
    query = (
        select(
            Booking.slot_id,
            _total(Attendance.adults).label("adults"),
            _total(Attendance.children).label("children"),
        )
        .join(Attendance, Attendance.booking_id == Booking.id)
        .join(Slot, Slot.id == Booking.slot_id)
        .join(Activity, Activity.id == Slot.activity_id)
        .where(_counts_as_demand())
        .group_by(Booking.slot_id)
    )
    return season.restrict(query).subquery("came")


def _slot_facts(season: _Season) -> Subquery:
    """One row per slot of the season: its status, seats, demand, attendance and group keys."""
    demand, came = _demand_by_slot(season), _attendance_by_slot(season)
    query = (
        select(
            Slot.status,
            Slot.cancel_reason,
            Slot.capacity,
            weekday_of(Slot.starts_on).label("weekday"),
            month_of(Slot.starts_on).label("month"),
            Provider.name.label("provider"),
            Provider.sector.label("sector"),
            func.coalesce(demand.c.people, 0).label("booked"),
            func.coalesce(came.c.adults, 0).label("came_adults"),
            func.coalesce(came.c.children, 0).label("came_children"),
        )
        .join(Activity, Activity.id == Slot.activity_id)
        .join(Provider, Provider.id == Activity.provider_id)
        .outerjoin(demand, demand.c.slot_id == Slot.id)
        .outerjoin(came, came.c.slot_id == Slot.id)
    )
    return season.restrict(query).subquery("slot_facts")


def _slot_metric_columns(facts: Subquery) -> list[ColumnElement[Any]]:
    """The aggregates every grouping of slots computes, labelled as ``_slot_metrics`` reads."""
    held = facts.c.status == SlotStatus.HELD
    cancelled = facts.c.status == SlotStatus.CANCELLED
    per_reason = [
        _total(case((and_(cancelled, facts.c.cancel_reason == reason), 1), else_=0)).label(
            f"cancelled_{reason.value}"
        )
        for reason in CancelReason
    ]
    return [
        cast(func.count(), Integer).label("slots_planned"),
        _total(case((held, 1), else_=0)).label("slots_held"),
        *per_reason,
        _total(facts.c.capacity).label("seats_offered"),
        _total(facts.c.booked).label("seats_booked"),
        _total(case((held, facts.c.booked), else_=0)).label("seats_booked_held"),
        _total(case((held, facts.c.came_adults), else_=0)).label("adults"),
        _total(case((held, facts.c.came_children), else_=0)).label("children"),
    ]


def _channel_query(season: _Season) -> Select[Any]:
    """Demand and attendance per booking channel, straight from the bookings."""
    held = Slot.status == SlotStatus.HELD
    people = Booking.adults + Booking.children
    query = (
        select(
            Booking.channel.label("key"),
            _total(people).label("seats_booked"),
            _total(case((held, people), else_=0)).label("seats_booked_held"),
            _total(case((held, Attendance.adults), else_=0)).label("adults"),
            _total(case((held, Attendance.children), else_=0)).label("children"),
        )
        .join(Slot, Slot.id == Booking.slot_id)
        .join(Activity, Activity.id == Slot.activity_id)
        .outerjoin(Attendance, Attendance.booking_id == Booking.id)
        .where(_counts_as_demand())
        .group_by(Booking.channel)
    )
    return season.restrict(query)


# --- Turning rows into the report ------------------------------------------------------------


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _participants(row: Any) -> dict[str, int]:
    return {"adults": row.adults, "children": row.children, "total": row.adults + row.children}


def _slot_metrics(row: Any) -> dict[str, Any]:
    participants = _participants(row)
    return {
        "slots_planned": row.slots_planned,
        "slots_held": row.slots_held,
        "held_rate": _rate(row.slots_held, row.slots_planned),
        "slots_cancelled": {r.value: getattr(row, f"cancelled_{r.value}") for r in CancelReason},
        "seats_offered": row.seats_offered,
        "seats_booked": row.seats_booked,
        "fill_rate": _rate(row.seats_booked, row.seats_offered),
        "participants": participants,
        "attendance_rate": _rate(participants["total"], row.seats_booked_held),
    }


def _channel_metrics(row: Any) -> dict[str, Any]:
    participants = _participants(row)
    return {
        "seats_booked": row.seats_booked,
        "participants": participants,
        "attendance_rate": _rate(participants["total"], row.seats_booked_held),
    }


def _group_key(column: str, value: Any) -> str:
    return WEEKDAYS[value - 1] if column == "weekday" else str(value)


def _sort_key(column: str, value: Any) -> Any:
    """Weekdays in week order; names and months in code-point order, the same on every database
    (collations differ)."""
    return value if column == "weekday" else str(value)


async def _totals(session: AsyncSession, season: _Season) -> dict[str, Any]:
    facts = _slot_facts(season)
    row = (await session.execute(select(*_slot_metric_columns(facts)))).one()
    return _slot_metrics(row)


async def _grouped(session: AsyncSession, season: _Season, column: str) -> dict[str, Any]:
    facts = _slot_facts(season)
    key = facts.c[column]
    query = select(key.label("key"), *_slot_metric_columns(facts)).group_by(key)
    rows = sorted(await session.execute(query), key=lambda row: _sort_key(column, row.key))
    return {_group_key(column, row.key): _slot_metrics(row) for row in rows}


async def _by_channel(session: AsyncSession, season: _Season) -> dict[str, Any]:
    """Channels in the order they are declared (web first), not alphabetically."""
    rows = {Channel(row.key): row for row in await session.execute(_channel_query(season))}
    return {c.value: _channel_metrics(rows[c]) for c in Channel if c in rows}


def _change(current: int, previous: int | None) -> float | None:
    return (current - previous) / previous if previous else None


async def season_report(
    db: Database, season: int, *, kind: ActivityKind | None = None
) -> dict[str, Any]:
    """The figures of one season (all kinds of activity unless ``kind``), ready for JSON."""
    kind = ActivityKind(kind) if kind is not None else None
    this, last = _Season(season, kind), _Season(season - 1, kind)
    async with db.reading() as session:
        totals = await _totals(session, this)
        previous: dict[str, Any] | None = await _totals(session, last)
        groups = {name: await _grouped(session, this, column) for name, column in SLOT_GROUPINGS}
        groups["by_channel"] = await _by_channel(session, this)
        totals["effects"] = await _effects(session, this)
        if previous["slots_planned"]:
            previous["effects"] = await _effects(session, last)
    if previous is not None and previous["slots_planned"] == 0:
        previous = None
    previous_total = previous["participants"]["total"] if previous else None
    return {
        "season": season,
        "kind": kind.value if kind else None,
        **totals,
        "participants_change": _change(totals["participants"]["total"], previous_total),
        "previous_season": {"season": season - 1, **previous} if previous else None,
        **groups,
    }


# --- Renderings ------------------------------------------------------------------------------


def _percent(rate: float | None) -> str:
    return "n/a" if rate is None else f"{rate * 100:.1f}%"


def _signed_percent(rate: float | None) -> str:
    return "n/a" if rate is None else f"{rate * 100:+.1f}%"


def _label(word: str) -> str:
    return word.replace("_", " ")


def _headline(figures: Mapping[str, Any]) -> str:
    people = figures["participants"]
    return (
        f"Slots planned {figures['slots_planned']} · held {figures['slots_held']} "
        f"({_percent(figures['held_rate'])}) · participants {people['total']} "
        f"({people['adults']} adults, {people['children']} children)"
    )


def _summary_lines(report: Mapping[str, Any]) -> list[str]:
    cancelled = report["slots_cancelled"]
    reasons = " · ".join(f"{_label(reason)} {count}" for reason, count in cancelled.items())
    lines = [
        _headline(report),
        f"Cancelled {sum(cancelled.values())}: {reasons}",
        (
            f"Seats offered {report['seats_offered']} · booked {report['seats_booked']} "
            f"· fill rate {_percent(report['fill_rate'])}"
        ),
        (
            f"Attendance rate {_percent(report['attendance_rate'])} "
            "(participants / seats booked on held slots)"
        ),
    ]
    lines.append(_effect_line(report["effects"]))
    previous = report["previous_season"]
    if previous is None:
        lines.append(f"Previous season {report['season'] - 1}: no slots")
    else:
        headline = _lower_first(_headline(previous))
        lines.append(f"Previous season {previous['season']}: {headline}")
        lines.append(f"Participants change {_signed_percent(report['participants_change'])}")
        lines.append("Previous season: " + _lower_first(_effect_line(previous["effects"])))
    return lines


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def _effect_line(effects: Mapping[str, Any]) -> str:
    outcomes = " · ".join(f"{_label(o)} {n}" for o, n in effects["by_outcome"].items())
    return (
        f"Decided by bookings {effects['decided_by_bookings']}: went ahead "
        f"{effects['went_ahead']} ({_percent(effects['held_rate_when_decided'])}), of which "
        f"saved {effects['visits_saved']} (without them "
        f"{_percent(effects['held_rate_without_saved'])}) · {outcomes}"
    )


def _aligned(header: list[str], rows: list[list[str]]) -> list[str]:
    """Columns padded to their widest cell: the first to the left, the others to the right."""
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=True)]
    return [
        "  "
        + "  ".join(
            cell.ljust(width) if i == 0 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(line, widths, strict=True))
        ).rstrip()
        for line in (header, *rows)
    ]


def _slot_group_lines(title: str, groups: Mapping[str, Any]) -> list[str]:
    header = [title, "planned", "held", "held %", "offered", "booked", "fill %", "participants"]
    rows = [
        [
            key,
            str(m["slots_planned"]),
            str(m["slots_held"]),
            _percent(m["held_rate"]),
            str(m["seats_offered"]),
            str(m["seats_booked"]),
            _percent(m["fill_rate"]),
            str(m["participants"]["total"]),
        ]
        for key, m in groups.items()
    ]
    return _aligned(header, rows) if rows else ["  (none)"]


def _channel_lines(groups: Mapping[str, Any]) -> list[str]:
    header = ["channel", "booked", "participants", "attendance %"]
    rows = [
        [
            key,
            str(m["seats_booked"]),
            str(m["participants"]["total"]),
            _percent(m["attendance_rate"]),
        ]
        for key, m in groups.items()
    ]
    return _aligned(header, rows) if rows else ["  (none)"]


def report_as_table(report: dict[str, Any]) -> str:
    """Plain aligned text for a terminal: the headline first, then one section per grouping."""
    kind = report["kind"] or "all activities"
    lines = [f"Season {report['season']} ({_label(kind)})", "", *_summary_lines(report)]
    for name, column in SLOT_GROUPINGS:
        lines += ["", f"By {column}", *_slot_group_lines(column, report[name])]
    lines += ["", "By channel (bookings only)", *_channel_lines(report["by_channel"])]
    return "\n".join(lines) + "\n"


CSV_COLUMNS = (
    "scope",
    "key",
    "slots_planned",
    "slots_held",
    "held_rate",
    *(f"cancelled_{reason.value}" for reason in CancelReason),
    "seats_offered",
    "seats_booked",
    "fill_rate",
    "participants_adults",
    "participants_children",
    "participants_total",
    "attendance_rate",
)


def _csv_row(scope: str, key: str, metrics: Mapping[str, Any]) -> dict[str, Any]:
    """One CSV row; metrics a group does not have (per channel: slots, seats) stay empty."""
    row: dict[str, Any] = {"scope": scope, "key": key}
    for name, value in metrics.items():
        if name == "slots_cancelled":
            row.update({f"cancelled_{reason}": count for reason, count in value.items()})
        elif name == "participants":
            row.update({f"participants_{part}": count for part, count in value.items()})
        elif name in CSV_COLUMNS:
            row[name] = "" if value is None else value
    return row


def _csv_rows(report: Mapping[str, Any]) -> Iterable[dict[str, Any]]:
    yield _csv_row("season", str(report["season"]), report)
    if report["previous_season"]:
        previous = report["previous_season"]
        yield _csv_row("previous_season", str(previous["season"]), previous)
    for name, column in (*SLOT_GROUPINGS, ("by_channel", "channel")):
        for key, metrics in report[name].items():
            yield _csv_row(column, key, metrics)


def report_as_csv(report: dict[str, Any]) -> str:
    """One row per group (scope, key, then the metrics); rates as fractions, empty when none."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, restval="", lineterminator="\n")
    writer.writeheader()
    writer.writerows(_csv_rows(report))
    return out.getvalue()
