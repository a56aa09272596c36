"""Planning advice: how slots fared by weekday and sector in past seasons, which of those cells
are weak, and which slots planned for the coming season fall in a weak cell.

The office's own finding for 2022 was that some days do not work (Saturday, the changeover day
of holiday rentals, in high season). This module puts figures on it, so that the next season is
planned from what visitors did rather than from habit.

Definitions (the page explains them in the same words):

- the history of season S is every slot of the seasons before S (local start dates before
  1 January of S), of the chosen kind of activity, that has an outcome (held or cancelled);
- a cell is a weekday × sector pair of the history; its held rate is held / planned slots, its
  fill rate seats booked / seats offered, computed as the season report does (the same SQL:
  ``reports``' per-slot facts, grouped here by weekday and sector);
- a cell is **weak** when it has at least ``MIN_SLOTS`` planned slots and its held rate is at
  least ``WEAK_GAP`` (15 points) below the held rate of the whole history; a cell with fewer
  slots has too little history to judge and is never called weak;
- the slots at risk are the slots of season S still planned (scheduled or confirmed) whose
  weekday and sector make a weak cell.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Integer, Select, cast, extract, func, select

from reservations.base import clock
from reservations.base.infra.db import Database
from reservations.base.models import (
    BOOKABLE_STATUSES,
    Activity,
    ActivityKind,
    Provider,
    Slot,
    SlotStatus,
)
from reservations.base.reads.reports import _Season, _slot_facts, _slot_metric_columns, weekday_of

#: A cell needs this many planned slots in the history before it can be called weak.
MIN_SLOTS = 3
#: A weak cell's held rate is at least this far (a fraction: 0.15 is 15 points) below the
#: history's overall held rate.
WEAK_GAP = 0.15
WEEKDAYS = range(1, 8)  # ISO: 1 Monday .. 7 Sunday
#: The slots with an outcome: a slot of a past season still undecided (not recorded) says
#: nothing about its day.
DECIDED = (SlotStatus.HELD, SlotStatus.CANCELLED)


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


@dataclass(frozen=True)
class _History(_Season):
    """The decided slots of the seasons ``first_year`` .. ``year`` together: the season
    report's per-slot facts, over several years at once."""

    first_year: int = 0

    def restrict(self, query: Select[Any]) -> Select[Any]:
        first, last = date(self.first_year, 1, 1), date(self.year, 12, 31)
        query = query.where(Slot.starts_on.between(first, last), Slot.status.in_(DECIDED))
        return query if self.kind is None else query.where(Activity.kind == self.kind)


@dataclass(frozen=True)
class Cell:
    """One weekday (ISO number) × sector of the history."""

    weekday: int
    sector: str
    slots_planned: int
    slots_held: int
    seats_offered: int
    seats_booked: int
    weak: bool = False

    @property
    def held_rate(self) -> float | None:
        return _rate(self.slots_held, self.slots_planned)

    @property
    def fill_rate(self) -> float | None:
        return _rate(self.seats_booked, self.seats_offered)

    @property
    def too_few(self) -> bool:
        """Too little history to judge."""
        return self.slots_planned < MIN_SLOTS


@dataclass(frozen=True)
class SlotInWeakCell:
    """A slot of the coming season that falls in a weak cell."""

    id: int
    starts_at: datetime
    weekday: int
    sector: str
    provider: str
    village: str
    title: str
    status: SlotStatus
    capacity: int
    booked: int
    min_participants: int


@dataclass(frozen=True)
class Advice:
    season: int
    kind: ActivityKind | None
    #: The seasons the history holds slots of (empty: no history).
    history_seasons: list[int]
    slots_planned: int
    slots_held: int
    seats_offered: int
    seats_booked: int
    cells: dict[tuple[int, str], Cell]
    sectors: list[str]
    at_risk: list[SlotInWeakCell] = field(default_factory=list)

    @property
    def held_rate(self) -> float | None:
        return _rate(self.slots_held, self.slots_planned)

    @property
    def fill_rate(self) -> float | None:
        return _rate(self.seats_booked, self.seats_offered)

    @property
    def weak_below(self) -> float | None:
        """Cells whose held rate is at or under this are weak (None: no history)."""
        return None if self.held_rate is None else self.held_rate - WEAK_GAP

    @property
    def weak_cells(self) -> list[Cell]:
        return [cell for cell in self.cells.values() if cell.weak]

    def cell(self, weekday: int, sector: str) -> Cell | None:
        return self.cells.get((weekday, sector))


async def seasons_on_record(db: Database) -> list[int]:
    """The years that have slots, oldest first."""
    year = cast(extract("year", Slot.starts_on), Integer)
    async with db.reading_connection() as connection:
        rows = await connection.execute(select(year).group_by(year).order_by(year))
        return [int(row[0]) for row in rows]


def _last_outcome(now: datetime) -> Any:
    """The date of the last slot held or cancelled whose day has come (a visit called off for
    next week is no outcome of its season yet)."""
    return (
        select(func.max(Slot.starts_on))
        .where(Slot.status.in_(DECIDED), Slot.starts_at <= now)
        .scalar_subquery()
    )


async def latest_decided_season(db: Database, *, now: datetime | None = None) -> int:
    """The last year with a slot that was held or cancelled, its day come (the season a report
    is first asked for), else the current year."""
    now = now or clock.now()
    async with db.reading_connection() as connection:
        last = (await connection.execute(select(_last_outcome(now)))).scalar()
    return (last or clock.local_date(now)).year


async def coming_season(db: Database, *, now: datetime | None = None) -> int:
    """The season the planning advice opens on: the year of the next slot still planned from
    today; with nothing planned ahead, the year after the last season with outcomes (so that its
    figures are in the history, not an empty current year), never before the current year.
    One SELECT."""
    now = now or clock.now()
    today = clock.local_date(now)
    next_planned = (
        select(func.min(Slot.starts_on))
        .where(Slot.status.in_(BOOKABLE_STATUSES), Slot.starts_on >= today)
        .scalar_subquery()
    )
    async with db.reading_connection() as connection:
        planned, last = (await connection.execute(select(next_planned, _last_outcome(now)))).one()
    if planned is not None:
        return planned.year
    if last is not None:
        return max(today.year, last.year + 1)
    return today.year


async def planning_advice(
    db: Database, season: int, *, kind: ActivityKind | None = None, locale: str = "fr"
) -> Advice:
    """The weekday × sector figures of the seasons before ``season``, the weak cells and the
    slots of ``season`` still planned in them. Three statements, whatever the data."""
    kind = ActivityKind(kind) if kind is not None else None
    history = _History(year=season - 1, kind=kind, first_year=1)
    facts = _slot_facts(history)
    query = select(facts.c.weekday, facts.c.sector, *_slot_metric_columns(facts)).group_by(
        facts.c.weekday, facts.c.sector
    )
    years = select(func.substr(facts.c.month, 1, 4).label("year")).distinct()
    async with db.reading() as session:
        rows = (await session.execute(query)).all()
        history_seasons = sorted(int(row.year) for row in await session.execute(years))
    raw = [
        Cell(
            weekday=int(row.weekday),
            sector=row.sector,
            slots_planned=row.slots_planned,
            slots_held=row.slots_held,
            seats_offered=row.seats_offered,
            seats_booked=row.seats_booked,
        )
        for row in rows
    ]
    totals = {
        name: sum(getattr(cell, name) for cell in raw)
        for name in ("slots_planned", "slots_held", "seats_offered", "seats_booked")
    }
    overall = _rate(totals["slots_held"], totals["slots_planned"])
    cells = {(c.weekday, c.sector): _judged(c, overall) for c in raw}
    weak = {key for key, cell in cells.items() if cell.weak}
    at_risk = await _planned_in(db, season, kind, weak, locale) if weak else []
    return Advice(
        season=season,
        kind=kind,
        history_seasons=history_seasons,
        cells=cells,
        sectors=sorted({c.sector for c in raw}),
        at_risk=at_risk,
        **totals,
    )


def _judged(cell: Cell, overall_held_rate: float | None) -> Cell:
    held_rate = cell.held_rate
    weak = (
        not cell.too_few
        and overall_held_rate is not None
        and held_rate is not None
        # rounded: 15 points under is weak, whatever the binary fractions make of it
        and round(overall_held_rate - held_rate, 9) >= WEAK_GAP
    )
    return replace(cell, weak=weak)


async def _planned_in(
    db: Database,
    season: int,
    kind: ActivityKind | None,
    cells: set[tuple[int, str]],
    locale: str,
) -> list[SlotInWeakCell]:
    """The slots of ``season`` still planned, in start order, kept when in one of ``cells``."""
    weekday = weekday_of(Slot.starts_on).label("weekday")
    query = (
        select(
            Slot.id,
            Slot.starts_at,
            Slot.status,
            Slot.capacity,
            Slot.booked,
            Slot.min_participants,
            weekday,
            Provider.sector,
            Provider.name.label("provider"),
            Provider.village,
            Activity.title,
            Activity.name,
        )
        .join(Activity, Activity.id == Slot.activity_id)
        .join(Provider, Provider.id == Activity.provider_id)
        .where(
            Slot.starts_on.between(date(season, 1, 1), date(season, 12, 31)),
            Slot.status.in_(BOOKABLE_STATUSES),
            Provider.sector.in_({sector for _, sector in cells}),
        )
        .order_by(Slot.starts_at, Slot.id)
    )
    if kind is not None:
        query = query.where(Activity.kind == kind)
    async with db.reading_connection() as connection:
        rows = (await connection.execute(query)).all()
    return [
        SlotInWeakCell(
            id=row.id,
            starts_at=row.starts_at,
            weekday=int(row.weekday),
            sector=row.sector,
            provider=row.provider,
            village=row.village,
            title=(row.title or {}).get(locale) or (row.title or {}).get("fr") or row.name,
            status=row.status,
            capacity=row.capacity,
            booked=row.booked,
            min_participants=row.min_participants,
        )
        for row in rows
        if (int(row.weekday), row.sector) in cells
    ]


#: How far (days) a weak date's better day may be, either way.
NEAREST_BETTER_DAYS = 3


@dataclass(frozen=True)
class DateAdvice:
    """A date proposed by the season planning, judged against the history."""

    starts_at: datetime
    #: The weekday × sector cell it falls in, when that cell is weak.
    weak: Cell | None = None
    #: The nearest day (at most three days away, earlier first on a tie) whose cell has a
    #: better held rate and is not weak, and that the plan does not hold already.
    better_day: date | None = None
    better: Cell | None = None


def advise_dates(
    advice: Advice,
    sector: str,
    dates: list[datetime],
    period: tuple[date, date] | None = None,
) -> list[DateAdvice]:
    """Mark each of ``dates`` (of an activity in ``sector``) that falls in a weak cell, with
    the nearest better day to propose instead, within ``period`` (the plan's, when given)."""
    planned = {clock.local_date(starts) for starts in dates}
    first, last = period or (date.min, date.max)
    judged = []
    for starts in dates:
        day = clock.local_date(starts)
        cell = advice.cell(day.isoweekday(), sector)
        if cell is None or not cell.weak:
            judged.append(DateAdvice(starts))
            continue
        better = _nearest_better(advice, sector, day, cell, planned, first, last)
        judged.append(DateAdvice(starts, cell, *(better or (None, None))))
    return judged


def _nearest_better(
    advice: Advice,
    sector: str,
    day: date,
    weak: Cell,
    planned: set[date],
    first: date,
    last: date,
) -> tuple[date, Cell] | None:
    for distance in range(1, NEAREST_BETTER_DAYS + 1):
        for candidate in (day - timedelta(days=distance), day + timedelta(days=distance)):
            cell = advice.cell(candidate.isoweekday(), sector)
            if (
                first <= candidate <= last
                and candidate not in planned
                and cell is not None
                and not cell.weak
                and not cell.too_few
                and (cell.held_rate or 0) > (weak.held_rate or 0)
            ):
                return candidate, cell
    return None


async def advise_plan(
    db: Database,
    activity_id: int,
    dates: list[datetime],
    period: tuple[date, date],
    *,
    locale: str = "fr",
) -> list[DateAdvice]:
    """``advise_dates`` for the dates planned for an activity, against the history of the
    seasons before theirs, for activities of its kind."""
    if not dates:
        return []
    async with db.reading() as session:
        found = (
            await session.execute(
                select(Provider.sector, Activity.kind)
                .join(Activity, Activity.provider_id == Provider.id)
                .where(Activity.id == activity_id)
            )
        ).first()
    if found is None:
        return [DateAdvice(starts) for starts in dates]
    season = clock.local_date(dates[0]).year
    advice = await planning_advice(db, season, kind=found.kind, locale=locale)
    return advise_dates(advice, found.sector, dates, period)
