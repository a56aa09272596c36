"""Whether a public read's answer is still the one a worker holds: the fingerprint of a window of
days, read in ONE aggregate statement, and a bounded per-worker cache of answers keyed by it.

What a public answer (availability, programme, embed, kiosk) says of the days ``first..last``
depends on:

- the slots starting on those days, all of them whatever the filter: a farm's daily cap makes
  a slot's places left depend on the farm's other slots that day, which a filter may leave
  out. Every write of a slot sets its ``updated_at``, and the sum of those stamps moves with
  each (the latest alone would miss a write stamped earlier by another worker's clock); the
  sums of its counters, also weighted by the slot's id (+2 here and -2 there do not cancel
  out), of its capacity, status and ``sequence`` back that;
- the catalogue: activities and providers (titles, prices, ages, languages, daily caps,
  pictures: a picture's change stamps its owner), whose ``updated_at`` every write raises;
- the clock alone: a slot stops taking bookings at its cut-off, leaves the programme when it
  starts, and a hold stops holding at its end. ``changes_at`` is the first of those instants
  after ``now``: an answer built at ``now`` stays true until then, and not after.

The fingerprint is read from the database on every request, so a write made through any
worker is seen by the very next read in every worker.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import BigInteger, Date, bindparam, case, cast, func, select
from sqlalchemy.dialects.postgresql import asyncpg as postgresql_asyncpg
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from reservations.base.infra.db import Database
from reservations.base.models import Activity, Provider, Slot, SlotStatus, UTCDateTime

_STATUS_NUMBER = case(
    {status.value: number for number, status in enumerate(SlotStatus, start=1)},
    value=Slot.status,
    else_=0,
)


class _microseconds(FunctionElement[int]):  # noqa: N801 - a SQL function's name
    """A stored instant as a whole number (microseconds since 1970; SQLite's julianday is a
    double, to the millisecond or so): summed, every new stamp of a slot moves the sum."""

    type = BigInteger()
    inherit_cache = True


@compiles(_microseconds)
def _microseconds_default(element: Any, compiler: Any, **kw: Any) -> str:
    return (
        f"CAST(EXTRACT(EPOCH FROM {compiler.process(element.clauses, **kw)}) * 1000000 AS BIGINT)"
    )


@compiles(_microseconds, "sqlite")
def _microseconds_sqlite(element: Any, compiler: Any, **kw: Any) -> str:
    instant = compiler.process(element.clauses, **kw)
    return f"CAST((julianday({instant}) - 2440587.5) * 86400000000 AS INTEGER)"


def _weighted(column: Any) -> Any:
    """``column`` weighted by the slot's id, in 64 bits (a 32-bit product may overflow)."""
    return func.sum(cast(column, BigInteger) * Slot.id)


@dataclass(frozen=True)
class Fingerprint:
    #: Changes whenever any of the window's answers may have changed by a write.
    tag: str
    #: The first instant after the reading at which an answer changes by time alone (None:
    #: none in the window).
    changes_at: datetime | None


def _upcoming(column: Any) -> Any:
    """The earliest of ``column`` after ``now``."""
    return func.min(case((column > bindparam("now", type_=UTCDateTime()), column)))


#: Built once (its compiled form is cached): a statement built per request costs more CPU
#: than the database spends on it.
_STATEMENT = select(
    func.count(Slot.id),
    func.coalesce(func.sum(Slot.id), 0),
    func.coalesce(func.sum(Slot.booked), 0),
    func.coalesce(func.sum(Slot.held), 0),
    func.coalesce(_weighted(Slot.booked), 0),
    func.coalesce(_weighted(Slot.held), 0),
    func.coalesce(_weighted(Slot.capacity), 0),
    func.coalesce(_weighted(Slot.sequence), 0),
    func.coalesce(_weighted(_STATUS_NUMBER), 0),
    func.max(Slot.updated_at),
    func.coalesce(func.sum(_microseconds(Slot.updated_at)), 0),
    select(func.sum(_microseconds(Activity.updated_at))).scalar_subquery(),
    select(func.count(Activity.id)).scalar_subquery(),
    select(func.sum(_microseconds(Provider.updated_at))).scalar_subquery(),
    select(func.count(Provider.id)).scalar_subquery(),
    _upcoming(Slot.booking_cutoff_at),
    _upcoming(Slot.starts_at),
    _upcoming(Slot.holds_expire_at),
).where(
    Slot.starts_on >= bindparam("first_day", type_=Date()),
    Slot.starts_on <= bindparam("last_day", type_=Date()),
)
_CLOCK_COLUMNS = 3


#: The same statement as asyncpg takes it: sent straight through the driver on PostgreSQL,
#: it costs half the client CPU of going through SQLAlchemy's execution (measured: 0.2 ms
#: against 0.4 ms a read), and it is sent at every public read.
_ASYNCPG = _STATEMENT.compile(dialect=postgresql_asyncpg.dialect())
_ASYNCPG_SQL = str(_ASYNCPG)
_ASYNCPG_ORDER = tuple(_ASYNCPG.positiontup or ())
_ASYNCPG_VALUES = _ASYNCPG.construct_params({"first_day": None, "last_day": None, "now": None})


async def _row(db: Database, parameters: dict[str, Any]) -> tuple[Any, ...]:
    async with db.reading_statements() as connection:
        if db.engine.dialect.driver != "asyncpg":
            return tuple((await connection.execute(_STATEMENT, parameters)).one())
        driver = (await connection.get_raw_connection()).driver_connection
        values = {**_ASYNCPG_VALUES, **parameters}
        assert driver is not None
        row = await driver.fetchrow(_ASYNCPG_SQL, *(values[name] for name in _ASYNCPG_ORDER))
        return tuple(row)


async def read(db: Database, first_day: date, last_day: date, now: datetime) -> Fingerprint:
    """The fingerprint of the local days ``first_day..last_day`` at ``now``: one statement,
    one row, no transaction around it on PostgreSQL."""
    row = await _row(db, {"first_day": first_day, "last_day": last_day, "now": now})
    written, instants = row[:-_CLOCK_COLUMNS], [at for at in row[-_CLOCK_COLUMNS:] if at]
    text = "|".join(str(value) for value in (first_day, last_day, *written))
    return Fingerprint(
        tag=hashlib.sha256(text.encode()).hexdigest()[:32],
        changes_at=min(instants) if instants else None,
    )


Answer = TypeVar("Answer")


@dataclass(frozen=True)
class _Entry(Generic[Answer]):
    answer: Answer
    changes_at: datetime | None


class AnswerCache(Generic[Answer]):
    """This worker's last answers, the least recently used dropped past ``size``. A key ends
    with the ``Fingerprint`` it was built under, so a write elsewhere makes a new key; the
    answer under the new key replaces the one under the old (the same question asked before
    the write, which nobody will be answered again), so in season, a booking a minute, the
    cache holds one answer a question instead of filling up with outdated ones. An entry is
    never served at or after its ``changes_at``."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: OrderedDict[Hashable, _Entry[Answer]] = OrderedDict()
        #: The question (a key without its fingerprint) -> its key now.
        self._latest: dict[Hashable, Hashable] = {}
        #: The answers being built, by key: their futures.
        self._building: dict[Hashable, asyncio.Future[Answer]] = {}

    async def kept(
        self,
        key: Hashable,
        now: datetime,
        changes_at: datetime | None,
        build: Callable[[], Awaitable[Answer]],
    ) -> Answer:
        """The answer kept under ``key``, or ``build``'s, built once: the requests that miss the
        same key while it is being built wait for that build. (A booking changes the
        fingerprint of every answer over its days; the reads arriving meanwhile would otherwise
        each render the same page.)"""
        found = self.get(key, now)
        if found is not None:
            return found
        pending = self._building.get(key)
        if pending is not None:
            try:
                return await asyncio.shield(pending)
            except asyncio.CancelledError:
                if not pending.cancelled():
                    raise  # this request was cancelled, not the build
            return await self.kept(key, now, changes_at, build)  # its builder went away
        future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self._building[key] = future
        try:
            answer = await build()
        except asyncio.CancelledError:
            future.cancel()
            raise
        except BaseException as error:
            future.set_exception(error)
            future.exception()  # the waiters, if any, raise it; none is no leak to report
            raise
        finally:
            del self._building[key]
        self.put(key, answer, changes_at)
        future.set_result(answer)
        return answer

    def get(self, key: Hashable, now: datetime) -> Answer | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.changes_at is not None and now >= entry.changes_at:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return entry.answer

    def put(self, key: Hashable, answer: Answer, changes_at: datetime | None) -> None:
        if self.size <= 0:
            return
        question = _question(key)
        if question is not None:
            outdated = self._latest.get(question)
            if outdated is not None and outdated != key:
                self._entries.pop(outdated, None)
            self._latest[question] = key
        self._entries[key] = _Entry(answer, changes_at)
        self._entries.move_to_end(key)
        while len(self._entries) > self.size:
            dropped, _entry = self._entries.popitem(last=False)
            question = _question(dropped)
            if question is not None and self._latest.get(question) == dropped:
                del self._latest[question]

    def clear(self) -> None:
        self._entries.clear()
        self._latest.clear()


def _question(key: Hashable) -> Hashable | None:
    """What ``key`` asks, without the fingerprint it ends with (None: not such a key)."""
    if isinstance(key, tuple) and key and isinstance(key[-1], Fingerprint):
        return key[:-1]
    return None
