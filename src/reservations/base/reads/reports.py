"""The season report: what was planned, held, cancelled, booked and attended in a calendar year.

Everything is aggregated by the database, in one statement whatever the number of slots and
bookings (one pass over them, see ``_report_query``). A season is the slots whose local start date (``Slot.starts_on``) falls in
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
from types import SimpleNamespace
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
    literal,
    literal_column,
    null,
    or_,
    select,
    tuple_,
    union_all,
)
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


@dataclass(frozen=True)
class _SeasonAndPrevious(_Season):
    """A season and the one before it, read together: the report compares them."""

    def restrict(self, query: Select[Any]) -> Select[Any]:
        first, last = date(self.year - 1, 1, 1), date(self.year, 12, 31)
        query = query.where(Slot.starts_on.between(first, last))
        return query if self.kind is None else query.where(Activity.kind == self.kind)


def _counts_as_demand() -> ColumnElement[bool]:
    return or_(
        Booking.status == BookingStatus.CONFIRMED,
        and_(Booking.status == BookingStatus.CANCELLED, Booking.cancelled_by == CancelledBy.SLOT),
    )


def _on_it_at_decision() -> ColumnElement[bool]:
    """Booked by its slot's decision and not cancelled before it but by the decision itself."""
    decided_at = Slot.decision_at
    return and_(
        Booking.created_at <= decided_at,
        or_(
            Booking.cancelled_at.is_(None),
            Booking.cancelled_at > decided_at,
            Booking.cancelled_by == CancelledBy.SLOT,
        ),
    )


def _total(expression: Any) -> ColumnElement[int]:
    """SUM as an int on both databases (PostgreSQL sums bigints into numerics), 0 when empty."""
    return cast(func.coalesce(func.sum(expression), 0), Integer)


def _first_acceptances() -> Subquery:
    """Per booking and slot it moved to, when it first accepted an invitation there (one row
    each, so joining it never repeats a booking)."""
    return (
        select(
            MoveInvitation.booking_id,
            MoveInvitation.target_slot_id,
            func.min(MoveInvitation.accepted_at).label("accepted_at"),
        )
        .where(MoveInvitation.accepted_at.is_not(None))
        .group_by(MoveInvitation.booking_id, MoveInvitation.target_slot_id)
        .subquery("moved")
    )


def _merged_out() -> Subquery:
    """The slots some of whose bookings moved to another date by accepting an invitation."""
    return (
        select(MoveInvitation.source_slot_id.label("slot_id"))
        .where(MoveInvitation.accepted_at.is_not(None))
        .group_by(MoveInvitation.source_slot_id)
        .subquery("merged_out")
    )


def _channel_label(channel: Channel, figure: str) -> str:
    return f"{channel.value}_{figure}"


def _bookings_by_slot(season: _Season) -> Subquery:
    """Everything the report needs from the bookings, per slot, in one pass over them: demand
    and attendance (all and per channel), and the people booked on it at its decision, those
    who came from a share link and those who had moved to it by accepting an invitation."""
    people = Booking.adults + Booking.children
    demand, at_decision = _counts_as_demand(), _on_it_at_decision()
    moved = _first_acceptances()
    moved_in = and_(at_decision, moved.c.accepted_at <= Slot.decision_at)

    def when(condition: ColumnElement[bool], value: Any, label: str) -> ColumnElement[Any]:
        return func.sum(case((condition, value))).label(label)

    per_channel = []
    for channel in Channel:
        ours = and_(demand, Booking.channel == channel)
        per_channel += [
            when(ours, people, _channel_label(channel, "booked")),
            when(ours, Attendance.adults, _channel_label(channel, "came_adults")),
            when(ours, Attendance.children, _channel_label(channel, "came_children")),
        ]
    query = (
        select(
            Booking.slot_id,
            when(demand, people, "booked"),
            when(demand, Attendance.adults, "came_adults"),
            when(demand, Attendance.children, "came_children"),
            when(at_decision, people, "at_decision"),
            when(and_(at_decision, Booking.via_share_link), people, "shared"),
            when(moved_in, people, "moved_in"),
            *per_channel,
        )
        .join(Slot, Slot.id == Booking.slot_id)
        .join(Activity, Activity.id == Slot.activity_id)
        .outerjoin(Attendance, Attendance.booking_id == Booking.id)
        .outerjoin(
            moved,
            and_(moved.c.booking_id == Booking.id, moved.c.target_slot_id == Booking.slot_id),
        )
        # Demand and "on it at its decision" both need one of these: the others never count.
        .where(Booking.status.in_([BookingStatus.CONFIRMED, BookingStatus.CANCELLED]))
        .group_by(Booking.slot_id)
    )
    return season.restrict(query).subquery("by_slot")


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


def _outcome(
    at_decision: Any, moved_in: Any, shared: Any, merged: ColumnElement[bool]
) -> ColumnElement[str]:
    """The outcome of a slot's decision (``OUTCOMES``), from the people on it at its decision."""
    went_ahead = Slot.status.in_([SlotStatus.CONFIRMED, SlotStatus.HELD])
    too_few = and_(
        Slot.status == SlotStatus.CANCELLED, Slot.cancel_reason == CancelReason.UNDER_MINIMUM
    )

    def saved_by(brought: Any) -> ColumnElement[bool]:
        return and_(went_ahead, brought > 0, at_decision - brought < Slot.min_participants)

    return case(
        (saved_by(moved_in), literal_column("'saved_by_consolidation'", String)),
        (saved_by(shared), literal_column("'saved_by_share'", String)),
        (went_ahead, literal_column("'reached_minimum'", String)),
        (and_(too_few, merged), literal_column("'merged'", String)),
        (too_few, literal_column("'too_few_people'", String)),
        (Slot.status == SlotStatus.CANCELLED, literal_column("'cancelled_other'", String)),
        else_=literal_column("'undecided'", String),
    )


def _slot_facts(season: _Season) -> Subquery:
    """One row per slot of the season: its status, seats, demand, attendance (all and per
    channel), decision outcome and group keys. ``current`` is 1 for the slots of
    ``season.year`` (0 for earlier ones, when ``season`` spans several years)."""
    by_slot, merged = _bookings_by_slot(season), _merged_out()

    def count(column: str) -> ColumnElement[int]:
        return cast(func.coalesce(by_slot.c[column], 0), Integer)

    per_channel = [
        count(_channel_label(channel, figure)).label(_channel_label(channel, figure))
        for channel in Channel
        for figure in ("booked", "came_adults", "came_children")
    ]
    outcome = _outcome(
        count("at_decision"), count("moved_in"), count("shared"), merged.c.slot_id.is_not(None)
    )
    query = (
        select(
            case((Slot.starts_on >= date(season.year, 1, 1), 1), else_=0).label("current"),
            Slot.status,
            Slot.cancel_reason,
            Slot.capacity,
            weekday_of(Slot.starts_on).label("weekday"),
            month_of(Slot.starts_on).label("month"),
            Provider.name.label("provider"),
            Provider.sector.label("sector"),
            outcome.label("outcome"),
            count("booked").label("booked"),
            count("came_adults").label("came_adults"),
            count("came_children").label("came_children"),
            *per_channel,
        )
        .join(Activity, Activity.id == Slot.activity_id)
        .join(Provider, Provider.id == Activity.provider_id)
        .outerjoin(by_slot, by_slot.c.slot_id == Slot.id)
        .outerjoin(merged, merged.c.slot_id == Slot.id)
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


def _channel_metric_columns(facts: Subquery) -> list[ColumnElement[Any]]:
    """Per channel: the people of its bookings that count as demand (all, on held slots) and
    those recorded present on held slots."""
    held = facts.c.status == SlotStatus.HELD
    columns = []
    for channel in Channel:
        column = facts.c[_channel_label(channel, "booked")]
        columns += [
            _total(column).label(_channel_label(channel, "seats_booked")),
            _total(case((held, column), else_=0)).label(_channel_label(channel, "booked_held")),
        ]
        for part in ("adults", "children"):
            came = facts.c[_channel_label(channel, f"came_{part}")]
            columns.append(_total(case((held, came), else_=0)).label(_channel_label(channel, part)))
    return columns


#: The groupings the report reads in its one statement, each by its keys (``current`` says
#: which season; the slot groupings are of the current season only).
GROUPING_KEYS = ("current", "outcome", "provider", "weekday", "month", "sector")
GROUPINGS: dict[str, tuple[str, ...]] = {
    "season": ("current",),
    "outcome": ("current", "outcome"),
    **{column: (column,) for _, column in SLOT_GROUPINGS},
}


def _grouping_mask(keys: tuple[str, ...]) -> int:
    """PostgreSQL's GROUPING(...) of ``GROUPING_KEYS`` for a set: a 1 bit per key left out."""
    return sum(
        1 << (len(GROUPING_KEYS) - 1 - i) for i, key in enumerate(GROUPING_KEYS) if key not in keys
    )


#: PostgreSQL settings for the report's transaction only (``set_config(..., is_local)``, as SET
#: LOCAL). JIT compiling the statement's many expressions costs half a second whatever the
#: rows; parallel workers each aggregate their share of a slot's bookings, then the leader
#: merges them again (and the 2-core machine has no idle core for them); the default 4 MB of
#: work_mem sends every sort and hash of a large season to disk. work_mem is what one sort may
#: take before it spills, not what it takes: a season of a few thousand slots uses a few MB;
#: only a million slots' season reaches it (at 64 MB two sorts still spilled, 1.8x per row).
POSTGRESQL_SETTINGS = {"jit": "off", "max_parallel_workers_per_gather": "0", "work_mem": "256MB"}


def _tuned_for_the_report() -> Select[Any]:
    return select(
        *(func.set_config(name, value, True) for name, value in POSTGRESQL_SETTINGS.items())
    )


def _report_query(season: _Season, dialect: str) -> Select[Any]:
    """Every grouping of the report, in one pass over the season's (and the previous
    season's) slots and bookings: GROUPING SETS on PostgreSQL; on SQLite, which has none, the
    finest grouping once (a CTE of a few thousand rows at most), and the coarser ones from it.
    Each row carries ``grouping``, PostgreSQL's GROUPING() of ``GROUPING_KEYS``."""
    facts = _slot_facts(_SeasonAndPrevious(season.year, season.kind))
    # The keys as plain columns of a subquery, so that GROUP BY and GROUPING() name them
    # rather than repeat expressions; the previous season's slots fall in a NULL group of each
    # slot grouping (dropped).
    current = facts.c.current == 1
    slot_keys = [column for _, column in SLOT_GROUPINGS]
    keyed = select(
        *(column for column in facts.c if column.name not in slot_keys),
        *(case((current, facts.c[column])).label(column) for column in slot_keys),
    ).subquery("keyed")
    keys = [keyed.c[key] for key in GROUPING_KEYS]
    metrics = [*_slot_metric_columns(keyed), *_channel_metric_columns(keyed)]
    if dialect == "postgresql":
        sets = [tuple_(*(keyed.c[key] for key in group)) for group in GROUPINGS.values()]
        return select(func.grouping(*keys).label("grouping"), *keys, *metrics).group_by(
            func.grouping_sets(*sets)
        )
    finest = select(*keys, *metrics).group_by(*keys).cte("finest")
    return union_all(
        *(
            select(
                literal(_grouping_mask(group), Integer).label("grouping"),
                *(
                    finest.c[key] if key in group else cast(null(), finest.c[key].type).label(key)
                    for key in GROUPING_KEYS
                ),
                *(_total(finest.c[metric.name]).label(metric.name) for metric in metrics),
            ).group_by(*(finest.c[key] for key in group))
            for group in GROUPINGS.values()
        )
    )


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


def _channel_metrics(row: Any, channel: Channel) -> dict[str, Any]:
    def figure(name: str) -> int:
        return int(getattr(row, _channel_label(channel, name)))

    adults, children = figure("adults"), figure("children")
    return {
        "seats_booked": figure("seats_booked"),
        "participants": {"adults": adults, "children": children, "total": adults + children},
        "attendance_rate": _rate(adults + children, figure("booked_held")),
    }


def _by_channel(totals: Any) -> dict[str, Any]:
    """Channels with bookings that count as demand (every booking has someone: a CHECK), in
    the order they are declared (web first), not alphabetically."""
    return {
        c.value: _channel_metrics(totals, c)
        for c in Channel
        if getattr(totals, _channel_label(c, "seats_booked"))
    }


def _group_key(column: str, value: Any) -> str:
    return WEEKDAYS[value - 1] if column == "weekday" else str(value)


def _sort_key(column: str, value: Any) -> Any:
    """Weekdays in week order; names and months in code-point order, the same on every database
    (collations differ)."""
    return value if column == "weekday" else str(value)


def _grouped(rows: list[Any], column: str) -> dict[str, Any]:
    mask = _grouping_mask(GROUPINGS[column])
    found = [row for row in rows if row.grouping == mask and row._mapping[column] is not None]
    found.sort(key=lambda row: _sort_key(column, row._mapping[column]))
    return {_group_key(column, row._mapping[column]): _slot_metrics(row) for row in found}


def _effects(rows: list[Any], current: int) -> dict[str, Any]:
    """The season's slots by decision outcome, and the held rate of the visits decided by
    their bookings (went ahead, or called off for too few people or merged)."""
    mask = _grouping_mask(GROUPINGS["outcome"])
    found = {
        row.outcome: row.slots_planned
        for row in rows
        if row.grouping == mask and row.current == current
    }
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


def _season_row(rows: list[Any], current: int) -> Any | None:
    mask = _grouping_mask(GROUPINGS["season"])
    return next((r for r in rows if r.grouping == mask and r.current == current), None)


#: The figures of a season without slots.
_NO_SLOTS = SimpleNamespace(
    slots_planned=0,
    slots_held=0,
    seats_offered=0,
    seats_booked=0,
    seats_booked_held=0,
    adults=0,
    children=0,
    **{f"cancelled_{reason.value}": 0 for reason in CancelReason},
)


def _change(current: int, previous: int | None) -> float | None:
    return (current - previous) / previous if previous else None


async def season_report(
    db: Database, season: int, *, kind: ActivityKind | None = None
) -> dict[str, Any]:
    """The figures of one season (all kinds of activity unless ``kind``), ready for JSON: one
    statement, whatever the number of slots and bookings."""
    kind = ActivityKind(kind) if kind is not None else None
    async with db.reading() as session:
        dialect = session.get_bind().dialect.name
        if dialect == "postgresql":
            await session.execute(_tuned_for_the_report())
        rows = list(await session.execute(_report_query(_Season(season, kind), dialect)))
    this, last = _season_row(rows, 1), _season_row(rows, 0)
    totals = _slot_metrics(this or _NO_SLOTS)
    totals["effects"] = _effects(rows, 1)
    previous = None
    if last is not None:
        previous = {"season": season - 1, **_slot_metrics(last), "effects": _effects(rows, 0)}
    previous_total = previous["participants"]["total"] if previous else None
    return {
        "season": season,
        "kind": kind.value if kind else None,
        **totals,
        "participants_change": _change(totals["participants"]["total"], previous_total),
        "previous_season": previous,
        **{name: _grouped(rows, column) for name, column in SLOT_GROUPINGS},
        "by_channel": _by_channel(this) if this is not None else {},
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
