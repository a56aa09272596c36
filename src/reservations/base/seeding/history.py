"""Importing a past season from a spreadsheet (CSV), so reports and planning advice have history.

All or nothing: every row is checked and every problem is reported with the line of the file it
is on; only a file without any problem is kept, in one transaction. Importing the same file twice
imports nothing the second time: its visits are already there.

The file is read as a stream and its checked rows go to the database in batches
(``history_store``): memory stays the same whatever the size of the file, and the checks that
need every row (a visit twice in the file, or already stored) are made by the database.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, time
from functools import lru_cache
from pathlib import Path
from typing import TextIO

from sqlalchemy import text

from reservations.base import clock
from reservations.base.infra.db import Database
from reservations.base.models import ActivityKind, CancelReason
from reservations.base.seeding import history_store
from reservations.base.seeding.history_store import Row

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


async def import_history(
    db: Database, source: str | Path | TextIO, *, actor: str = "cli"
) -> HistoryImport:
    """Import a past season; ``source`` is a file path or an open text stream.

    Raises ``HistoryImportError`` listing every problem when any row is wrong or already there.
    """
    problems: list[tuple[int, str]] = []
    async with db.writing_connection() as connection:
        if not db.is_sqlite:  # SQLite's writer already holds the database
            await connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": _IMPORT_LOCK}
            )
        store = await history_store.Store.open(connection, db.is_sqlite, actor)
        try:
            for row in _read_rows(source, problems):
                problems += await store.add(row)
            problems += await store.conflicts()
            if problems:
                raise HistoryImportError(problems)  # rolls the transaction back
            counts = await store.write(_source_name(source))
        finally:
            await store.close()
    await _analyze(db)
    return HistoryImport(**counts)


def _source_name(source: str | Path | TextIO) -> str | None:
    return str(source) if isinstance(source, str | Path) else getattr(source, "name", None)


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


def _read_rows(source: str | Path | TextIO, problems: list[tuple[int, str]]) -> Iterator[Row]:
    """The well-formed rows, one at a time; the problems of the others go to ``problems``."""
    with _opened(source) as stream:
        reader = csv.reader(stream)
        line = 1
        try:
            if not _header_ok(next(reader, None), problems):
                return
            line = reader.line_num + 1
            for cells in reader:
                # line_num is the line where the row ENDS (quoted fields may span lines).
                start, line = line, reader.line_num + 1
                if not any(cell.strip() for cell in cells):
                    continue  # blank line, or a spreadsheet's empty row
                row, messages = _check_row(start, cells)
                if messages:
                    problems += [(start, message) for message in messages]
                if row:
                    yield row
        except csv.Error as error:
            problems.append((line, f"the file cannot be read as CSV from here: {error}"))
        except UnicodeDecodeError:
            problems.append((line, "the file is not UTF-8 text; save it as “CSV UTF-8”"))


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


def _check_row(line: int, cells: list[str]) -> tuple[Row | None, list[str]]:
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
        starts_at, ends_at = _instant(day, start), _instant(day, end)
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
        Row(
            line=line,
            day=day,
            starts_at=starts_at,
            ends_at=ends_at,
            kind=kind,
            capacity=capacity,
            min_participants=minimum,
            cancel_reason=outcome if isinstance(outcome, CancelReason) else None,
            booked=booked,
            attended=attended,
            **names,  # type: ignore[arg-type]
        ),
        [],
    )


def _parse_date(raw: str, errors: list[str]) -> date | None:
    day = _date_of(raw)
    if day is None:
        errors.append(f"date “{raw}” is not a date written YYYY-MM-DD")
    return day


def _parse_time(value: dict[str, str], column: str, errors: list[str]) -> time | None:
    raw = value[column]
    at = _time_of(raw)
    if at is None:
        errors.append(f"{column} “{raw}” is not a time written HH:MM")
    return at


# A season has a few hundred days and a few dozen times: parsing each once saves most of a
# row's checking time; the caches are small and bounded (files come in date order), whatever
# the size of the file.
@lru_cache(maxsize=4096)
def _date_of(raw: str) -> date | None:
    try:
        return date.fromisoformat(raw) if len(raw) == 10 else None
    except ValueError:
        return None


@lru_cache(maxsize=4096)
def _time_of(raw: str) -> time | None:
    try:
        return datetime.strptime(raw, "%H:%M").time()
    except ValueError:
        return None


@lru_cache(maxsize=4096)
def _instant(day: date, at: time) -> datetime:
    return clock.local_datetime(day, at)


def _parse_text(value: dict[str, str], column: str, errors: list[str]) -> str:
    raw = value[column]
    if not raw:
        errors.append(f"the {column} is missing")
    elif len(raw) > _TEXT_LIMITS[column]:
        errors.append(f"the {column} is longer than {_TEXT_LIMITS[column]} characters")
    return raw


_KINDS = {kind.value: kind for kind in ActivityKind}
_OUTCOME_OF: dict[str, CancelReason | str] = {"held": "held"} | {
    _CANCELLED + reason.value: reason for reason in CancelReason
}


def _parse_kind(raw: str, errors: list[str]) -> ActivityKind | None:
    kind = _KINDS.get(raw)
    if kind is None:
        choices = ", ".join(k.value for k in ActivityKind)
        errors.append(f"kind “{raw}” is not one of: {choices}")
    return kind


def _parse_count(
    value: dict[str, str], column: str, errors: list[str], *, minimum: int = 0
) -> int | None:
    raw = value[column]
    count = _whole_number(raw)
    if count is not None and count >= minimum:
        return count
    errors.append(f"{column} “{raw}” is not a whole number of {minimum} or more")
    return None


@lru_cache(maxsize=1024)
def _whole_number(raw: str) -> int | None:
    return int(raw) if _WHOLE_NUMBER.fullmatch(raw) else None


def _parse_pair(value: dict[str, str], prefix: str, errors: list[str]) -> tuple[int, int] | None:
    adults = _parse_count(value, prefix + "_adults", errors)
    children = _parse_count(value, prefix + "_children", errors)
    return None if adults is None or children is None else (adults, children)


def _parse_outcome(raw: str, errors: list[str]) -> CancelReason | str | None:
    """ "held", a ``CancelReason``, or None (with an error) when it is neither."""
    outcome = _OUTCOME_OF.get(raw)
    if outcome is None:
        errors.append(f"outcome “{raw}” is not one of: {_OUTCOMES}")
    return outcome
