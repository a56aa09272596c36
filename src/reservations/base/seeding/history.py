"""Importing a past season from a spreadsheet (CSV), so reports and planning advice have history.

All or nothing: every row is checked first and every problem is reported with the line of the
file it is on; only a file without any problem is written, in one transaction. Importing the same
file twice imports nothing the second time: its visits are already there.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import TextIO

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from reservations.base import clock
from reservations.base.infra import tokens
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
    Provider,
    Slot,
    SlotStatus,
)
from reservations.base.rules import audit
from reservations.base.rules.planning import new_slot

COLUMNS = (
    "date",
    "start",
    "end",
    "provider",
    "village",
    "sector",
    "activity",
    "kind",
    "capacity",
    "min_participants",
    "outcome",
    "booked_adults",
    "booked_children",
    "attended_adults",
    "attended_children",
)
_TEXT_LIMITS = {"provider": 200, "village": 200, "sector": 100, "activity": 200}
_CANCELLED = "cancelled_"
_OUTCOMES = ", ".join(["held", *(_CANCELLED + r.value for r in CancelReason)])
_WHOLE_NUMBER = re.compile(r"[0-9]+")
#: Key of the PostgreSQL advisory lock that makes two imports run one after the other.
_IMPORT_LOCK = 0x68697374  # "hist"


@dataclass(frozen=True)
class HistoryImport:
    """What an import created."""

    providers_created: int
    activities_created: int
    slots: int
    held: int
    cancelled: int
    bookings: int

    def __str__(self) -> str:
        return (
            f"{self.slots} visits ({self.held} held, {self.cancelled} cancelled), "
            f"{self.bookings} bookings, {self.providers_created} new providers, "
            f"{self.activities_created} new activities"
        )


class HistoryImportError(Exception):
    """The file has problems; nothing was imported. ``problems``: (line number, message)."""

    def __init__(self, problems: list[tuple[int, str]]) -> None:
        self.problems = sorted(problems, key=lambda problem: problem[0])  # stable: column order
        lines = "\n".join(f"line {line}: {message}" for line, message in self.problems)
        super().__init__(f"{len(self.problems)} problem(s), nothing was imported:\n{lines}")


@dataclass(frozen=True)
class _Row:
    """One checked line of the file."""

    line: int
    day: date
    starts_at: datetime
    ends_at: datetime
    provider: str
    village: str
    sector: str
    activity: str
    kind: ActivityKind
    capacity: int
    min_participants: int
    cancel_reason: CancelReason | None  # None: the visit was held
    booked: tuple[int, int]
    attended: tuple[int, int]

    @property
    def key(self) -> tuple[str, str]:
        return self.provider, self.activity

    @property
    def held(self) -> bool:
        return self.cancel_reason is None

    def describe(self) -> str:
        local = self.starts_at.astimezone(clock.OFFICE_TZ)
        return f"“{self.activity}” of “{self.provider}” on {self.day} at {local:%H:%M}"


async def import_history(
    db: Database, source: str | Path | TextIO, *, actor: str = "cli"
) -> HistoryImport:
    """Import a past season; ``source`` is a file path or an open text stream.

    Raises ``HistoryImportError`` listing every problem when any row is wrong or already there.
    """
    rows, problems = _read_rows(source)
    async with db.writing() as session:
        if not db.is_sqlite:  # SQLite's writer already holds the database
            await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _IMPORT_LOCK})
        known = await _Known.load(session, rows)
        problems += known.conflicts(rows)
        if problems:
            raise HistoryImportError(problems)  # rolls the transaction back
        imported = await _write(session, rows, known, actor)
    await _analyze(db)
    return imported


#: The tables an import fills, whose statistics the planner needs for the season report.
_ANALYZED = ("provider", "activity", "slot", "booking", "attendance")


async def _analyze(db: Database) -> None:
    """Statistics for the tables just filled: without them the report's plan is made blind
    (1.2 to 2 times slower, measured) until autovacuum gets there."""
    async with db.writing_connection() as connection:
        if db.is_sqlite:
            await connection.execute(text("ANALYZE"))
        else:
            await connection.execute(text(f"ANALYZE {', '.join(_ANALYZED)}"))


# --- Reading and checking the file -------------------------------------------------------------


def _read_rows(source: str | Path | TextIO) -> tuple[list[_Row], list[tuple[int, str]]]:
    """The well-formed rows, and the problems of the others (line number, message)."""
    rows: list[_Row] = []
    problems: list[tuple[int, str]] = []
    with _opened(source) as stream:
        reader = csv.reader(stream)
        line = 1
        try:
            if not _header_ok(next(reader, None), problems):
                return [], problems
            line = reader.line_num + 1
            for cells in reader:
                # line_num is the line where the row ENDS (quoted fields may span lines).
                start, line = line, reader.line_num + 1
                if not any(cell.strip() for cell in cells):
                    continue  # blank line, or a spreadsheet's empty row
                row, messages = _check_row(start, cells)
                problems += [(start, message) for message in messages]
                if row:
                    rows.append(row)
        except csv.Error as error:
            problems.append((line, f"the file cannot be read as CSV from here: {error}"))
        except UnicodeDecodeError:
            problems.append((line, "the file is not UTF-8 text; save it as “CSV UTF-8”"))
    return rows, problems


@contextmanager
def _opened(source: str | Path | TextIO) -> Iterator[TextIO]:
    if isinstance(source, str | Path):
        with open(source, encoding="utf-8-sig", newline="") as stream:
            yield stream
    else:
        yield source


def _header_ok(header: list[str] | None, problems: list[tuple[int, str]]) -> bool:
    expected = ",".join(COLUMNS)
    if header is None:
        problems.append((1, f"the file is empty; its first line must be: {expected}"))
        return False
    found = [cell.strip() for cell in _without_trailing_blanks(header)]
    if found:
        found[0] = found[0].lstrip("\ufeff").strip()  # a byte order mark left in a stream
    if tuple(found) != COLUMNS:
        problems.append(
            (1, f"the first line must name the columns {expected}; found: {','.join(found)}")
        )
        return False
    return True


def _without_trailing_blanks(cells: list[str]) -> list[str]:
    """Spreadsheets often export empty columns after the last one."""
    cells = list(cells)
    while len(cells) > len(COLUMNS) and not cells[-1].strip():
        cells.pop()
    return cells


def _check_row(line: int, cells: list[str]) -> tuple[_Row | None, list[str]]:
    """The row if it is right, and a message for each problem found in it."""
    cells = _without_trailing_blanks(cells)
    if len(cells) != len(COLUMNS):
        return None, [f"expected {len(COLUMNS)} columns, found {len(cells)}"]
    value = dict(zip(COLUMNS, (cell.strip() for cell in cells), strict=True))
    errors: list[str] = []
    day = _parse_date(value["date"], errors)
    start = _parse_time(value, "start", errors)
    end = _parse_time(value, "end", errors)
    starts_at = ends_at = None
    if day and start and end:
        starts_at, ends_at = clock.local_datetime(day, start), clock.local_datetime(day, end)
        if ends_at <= starts_at:  # also a visit inside the hour the clocks skip
            errors.append(f"the end ({value['end']}) must be after the start ({value['start']})")
    elif start and end and end <= start:
        errors.append(f"the end ({value['end']}) must be after the start ({value['start']})")
    names = {column: _parse_text(value, column, errors) for column in _TEXT_LIMITS}
    kind = _parse_kind(value["kind"], errors)
    capacity = _parse_count(value, "capacity", errors, minimum=1)
    minimum = _parse_count(value, "min_participants", errors)
    outcome = _parse_outcome(value["outcome"], errors)
    booked = _parse_pair(value, "booked", errors)
    attended = _parse_pair(value, "attended", errors)
    if capacity is not None:
        for label, pair in (("booked", booked), ("attended", attended)):
            if pair and sum(pair) > capacity:
                errors.append(f"{sum(pair)} people {label}, more than the capacity ({capacity})")
    if outcome is not None and outcome != "held" and attended and sum(attended) > 0:
        errors.append("a cancelled visit cannot have attendance: attended must be 0 and 0")
    if errors:
        return None, errors
    assert day and starts_at and ends_at and kind and capacity and minimum is not None
    assert outcome is not None and booked and attended
    return (
        _Row(
            line=line,
            day=day,
            starts_at=starts_at,
            ends_at=ends_at,
            kind=kind,
            capacity=capacity,
            min_participants=minimum,
            cancel_reason=None if outcome == "held" else outcome,
            booked=booked,
            attended=attended,
            **names,  # type: ignore[arg-type]
        ),
        [],
    )


def _parse_date(raw: str, errors: list[str]) -> date | None:
    try:
        if len(raw) == 10:
            return date.fromisoformat(raw)
    except ValueError:
        pass
    errors.append(f"date “{raw}” is not a date written YYYY-MM-DD")
    return None


def _parse_time(value: dict[str, str], column: str, errors: list[str]) -> time | None:
    raw = value[column]
    try:
        return datetime.strptime(raw, "%H:%M").time()
    except ValueError:
        errors.append(f"{column} “{raw}” is not a time written HH:MM")
        return None


def _parse_text(value: dict[str, str], column: str, errors: list[str]) -> str:
    raw = value[column]
    if not raw:
        errors.append(f"the {column} is missing")
    elif len(raw) > _TEXT_LIMITS[column]:
        errors.append(f"the {column} is longer than {_TEXT_LIMITS[column]} characters")
    return raw


def _parse_kind(raw: str, errors: list[str]) -> ActivityKind | None:
    try:
        return ActivityKind(raw)
    except ValueError:
        choices = ", ".join(k.value for k in ActivityKind)
        errors.append(f"kind “{raw}” is not one of: {choices}")
        return None


def _parse_count(
    value: dict[str, str], column: str, errors: list[str], *, minimum: int = 0
) -> int | None:
    raw = value[column]
    if _WHOLE_NUMBER.fullmatch(raw) and int(raw) >= minimum:
        return int(raw)
    errors.append(f"{column} “{raw}” is not a whole number of {minimum} or more")
    return None


def _parse_pair(value: dict[str, str], prefix: str, errors: list[str]) -> tuple[int, int] | None:
    adults = _parse_count(value, f"{prefix}_adults", errors)
    children = _parse_count(value, f"{prefix}_children", errors)
    return None if adults is None or children is None else (adults, children)


def _parse_outcome(raw: str, errors: list[str]) -> CancelReason | str | None:
    """ "held", a ``CancelReason``, or None (with an error) when it is neither."""
    if raw == "held":
        return raw
    if raw.startswith(_CANCELLED):
        try:
            return CancelReason(raw.removeprefix(_CANCELLED))
        except ValueError:
            pass
    errors.append(f"outcome “{raw}” is not one of: {_OUTCOMES}")
    return None


# --- What the database already holds ----------------------------------------------------------


@dataclass
class _Known:
    """Providers, activities and slots already stored that the file's rows may refer to."""

    providers: dict[str, Provider]
    activities: dict[tuple[str, str], Activity]
    slots: set[tuple[int, datetime]]

    @classmethod
    async def load(cls, session: AsyncSession, rows: list[_Row]) -> _Known:
        """Three queries, whatever the number of rows."""
        if not rows:
            return cls({}, {}, set())
        names = {row.provider for row in rows}
        found_providers = await session.scalars(
            select(Provider).where(Provider.name.in_(sorted(names)))
        )
        providers = {p.name: p for p in found_providers}
        by_id = {p.id: p.name for p in providers.values()}
        found_activities = await session.scalars(
            select(Activity).where(Activity.provider_id.in_(list(by_id)))
        )
        activities = {(by_id[a.provider_id], a.name): a for a in found_activities}
        slots: set[tuple[int, datetime]] = set()
        if activities:
            found = await session.execute(
                select(Slot.activity_id, Slot.starts_at).where(
                    Slot.activity_id.in_([a.id for a in activities.values()]),
                    Slot.starts_at >= min(row.starts_at for row in rows),
                    Slot.starts_at <= max(row.starts_at for row in rows),
                )
            )
            slots = {(activity_id, starts_at) for activity_id, starts_at in found}
        return cls(providers, activities, slots)

    def conflicts(self, rows: list[_Row]) -> list[tuple[int, str]]:
        """Rows already imported, repeated in the file, or disagreeing on an activity's kind."""
        problems: list[tuple[int, str]] = []
        kinds = {key: activity.kind for key, activity in self.activities.items()}
        first_line: dict[tuple[tuple[str, str], datetime], int] = {}
        for row in rows:
            kind = kinds.setdefault(row.key, row.kind)
            if kind != row.kind:
                problems.append(
                    (
                        row.line,
                        (
                            f"“{row.activity}” of “{row.provider}” is a {kind.value}, "
                            f"not a {row.kind.value}"
                        ),
                    )
                )
            activity = self.activities.get(row.key)
            if activity and (activity.id, row.starts_at) in self.slots:
                problems.append((row.line, f"{row.describe()} is already imported"))
            earlier = first_line.setdefault((row.key, row.starts_at), row.line)
            if earlier != row.line:
                problems.append((row.line, f"{row.describe()} is already on line {earlier}"))
        return problems


# --- Writing -----------------------------------------------------------------------------------


async def _write(
    session: AsyncSession, rows: list[_Row], known: _Known, actor: str
) -> HistoryImport:
    new_providers = _new_providers(rows, known.providers)
    session.add_all(new_providers)
    await session.flush()
    providers = known.providers | {p.name: p for p in new_providers}
    new_activities = _new_activities(rows, known.activities, providers)
    session.add_all(new_activities.values())
    await session.flush()
    activities = known.activities | new_activities
    slots = [_slot(row, activities[row.key]) for row in rows]
    session.add_all(slots)
    await session.flush()
    bookings = [_booking(row, slot) for row, slot in zip(rows, slots, strict=True)]
    session.add_all(b for b in bookings if b)
    await session.flush()
    for row, slot, booking in zip(rows, slots, bookings, strict=True):
        if booking and row.held:
            session.add(_attendance(row, slot, booking, actor))
        audit.record(
            session,
            actor,
            "slot.imported",
            slot_id=slot.id,
            booking_id=booking.id if booking else None,
            after={"status": slot.status.value, "booked": slot.booked},
            booked=list(row.booked),
            attended=list(row.attended),
            line=row.line,
        )
    held = sum(row.held for row in rows)
    return HistoryImport(
        providers_created=len(new_providers),
        activities_created=len(new_activities),
        slots=len(slots),
        held=held,
        cancelled=len(slots) - held,
        bookings=sum(b is not None for b in bookings),
    )


def _new_providers(rows: list[_Row], existing: dict[str, Provider]) -> list[Provider]:
    created: dict[str, Provider] = {}
    for row in rows:
        if row.provider not in existing and row.provider not in created:
            created[row.provider] = Provider(
                name=row.provider, village=row.village, sector=row.sector, languages=["fr"]
            )
    return list(created.values())


def _new_activities(
    rows: list[_Row], existing: dict[tuple[str, str], Activity], providers: dict[str, Provider]
) -> dict[tuple[str, str], Activity]:
    """An activity per new (provider, name), with the defaults of the first row that names it."""
    created: dict[tuple[str, str], Activity] = {}
    for row in rows:
        if row.key in existing or row.key in created:
            continue
        created[row.key] = Activity(
            provider_id=providers[row.provider].id,
            kind=row.kind,
            name=row.activity,
            title={"fr": row.activity},
            description={},
            accessibility={},
            duration_minutes=(row.ends_at - row.starts_at) // timedelta(minutes=1),
            default_capacity=row.capacity,
            default_min_participants=row.min_participants,
            price_adult_cents=0,
            price_child_cents=0,
            cutoff_minutes=120,
            decision_days_before=1,
            decision_time=time(18, 0),
        )
    return created


def _slot(row: _Row, activity: Activity) -> Slot:
    slot = new_slot(
        activity,
        row.starts_at,
        ends_at=row.ends_at,
        capacity=row.capacity,
        min_participants=row.min_participants,
        status=SlotStatus.HELD if row.held else SlotStatus.CANCELLED,
    )
    if row.held:
        slot.booked = sum(_party(row))
    else:
        slot.cancel_reason = row.cancel_reason
        slot.cancelled_at = slot.decision_at
    return slot


def _party(row: _Row) -> tuple[int, int]:
    """Who the row's booking is for: the booked people, or the walk-ins of a held visit."""
    if sum(row.booked) == 0 and row.held:
        return row.attended
    return row.booked


def _booking(row: _Row, slot: Slot) -> Booking | None:
    """The row's bookings, as one: the spreadsheet only knows totals."""
    adults, children = _party(row)
    if adults + children == 0:
        return None
    return Booking(
        reference=tokens.new_reference(),
        slot_id=slot.id,
        adults=adults,
        children=children,
        name=f"Historique {row.day.isoformat()}",
        email=None,
        locale="fr",
        channel=Channel.HISTORY,
        status=BookingStatus.CONFIRMED if row.held else BookingStatus.CANCELLED,
        manage_token_hash=tokens.digest(tokens.new_token()),
        created_at=slot.decision_at,  # the file tells what was booked at the decision
        cancelled_at=None if row.held else slot.decision_at,
        cancelled_by=None if row.held else CancelledBy.SLOT,
    )


def _attendance(row: _Row, slot: Slot, booking: Booking, actor: str) -> Attendance:
    adults, children = row.attended
    return Attendance(
        booking_id=booking.id,
        adults=adults,
        children=children,
        recorded_at=slot.ends_at,
        recorded_by=actor,
    )
