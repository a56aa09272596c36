"""Where the history import's checked rows go, a batch at a time: the ids of its slots and
bookings are drawn first, the batch is loaded into a temporary table (COPY on PostgreSQL), then
slots, bookings and attendance are written from it with INSERT ... SELECT, the visits already
stored skipped. Every row's visit is kept in a second temporary table, where the database finds,
at the end, the visits repeated in the file or already stored (and the whole file is rolled back).

Kept across rows: the catalogue (providers and activities by name, bounded by the catalogue) and
one batch of rows, never an object per row.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    Integer,
    MetaData,
    String,
    Table,
    and_,
    case,
    cast,
    delete,
    func,
    insert,
    literal,
    null,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from reservations.base import clock
from reservations.base.models import (
    Activity,
    ActivityKind,
    Attendance,
    AuditEntry,
    Booking,
    BookingStatus,
    CancelledBy,
    CancelReason,
    Channel,
    Provider,
    Slot,
    SlotStatus,
    UTCDateTime,
)
from reservations.base.rules.planning import deadlines

#: Rows sent to the database at once: large enough that a round trip costs little per row,
#: small enough that a batch weighs a few megabytes.
BATCH_ROWS = 5000
#: An imported booking's reference: "HIST-" and its slot's id. Live references never hold an
#: "I" (``tokens.new_reference``), so the two never meet; and one booking per imported slot
#: makes them unique without drawing (and risking a clash of) a million random ones.
REFERENCE_PREFIX = "HIST-"

_slot = Slot.__table__
_booking = Booking.__table__
_attendance = Attendance.__table__

#: One batch of checked rows, as the slot, booking and attendance tables need them.
_batch = Table(
    "history_import_batch",
    MetaData(),
    Column("slot_id", Integer, nullable=False),
    Column("booking_id", Integer),  # None: nobody came nor booked, no booking
    Column("line", Integer, nullable=False),
    Column("activity_id", Integer, nullable=False),
    Column("starts_at", UTCDateTime, nullable=False),
    Column("ends_at", UTCDateTime, nullable=False),
    Column("starts_on", Date, nullable=False),
    Column("capacity", Integer, nullable=False),
    Column("min_participants", Integer, nullable=False),
    Column("held", Boolean, nullable=False),
    Column("cancel_reason", String(24)),
    Column("booking_cutoff_at", UTCDateTime, nullable=False),
    Column("decision_at", UTCDateTime, nullable=False),
    Column("adults", Integer, nullable=False),
    Column("children", Integer, nullable=False),
    Column("attended_adults", Integer, nullable=False),
    Column("attended_children", Integer, nullable=False),
    Column("name", String(200), nullable=False),  # the booking's
    prefixes=["TEMPORARY"],
    postgresql_on_commit="DROP",
)
_BATCH_COLUMNS = [column.name for column in _batch.columns]
#: Every row's visit, for the checks that need the whole file.
_visits = Table(
    "history_import_visit",
    MetaData(),
    Column("line", Integer, nullable=False),
    Column("slot_id", Integer, nullable=False),
    Column("activity_id", Integer, nullable=False),
    Column("starts_at", UTCDateTime, nullable=False),
    Column("starts_on", Date, nullable=False),
    prefixes=["TEMPORARY"],
    postgresql_on_commit="DROP",
)
_TEMPORARY = (_batch, _visits)


@dataclass(frozen=True, slots=True)
class Row:
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

    @property
    def party(self) -> tuple[int, int]:
        """Who the row's booking is for: the booked people, or the walk-ins of a held visit."""
        if sum(self.booked) == 0 and self.held:
            return self.attended
        return self.booked


def describe(activity: str, provider: str, day: date, starts_at: datetime) -> str:
    local = starts_at.astimezone(clock.OFFICE_TZ)
    return f"“{activity}” of “{provider}” on {day} at {local:%H:%M}"


@dataclass(frozen=True, slots=True)
class _Activity:
    """What a row needs of its activity: its id, its kind, and the rules of its dates."""

    id: int
    kind: ActivityKind
    cutoff_minutes: int
    decision_days_before: int
    decision_time: time


class Store:
    """The rows of one import, in the transaction of ``connection``.

    Each batch is written as soon as it is full, the visits already stored skipped (ON CONFLICT
    DO NOTHING): a file with any problem is rolled back whole anyway. On PostgreSQL the batch's
    statements go in one message and run while the next batch is read."""

    def __init__(self, connection: AsyncConnection, is_sqlite: bool, actor: str) -> None:
        self._connection = connection
        self._is_sqlite = is_sqlite
        self._actor = actor
        self._now = clock.now()
        self._providers: dict[str, int] = {}
        self._activities: dict[tuple[str, str], _Activity] = {}
        self._names: dict[int, tuple[str, str]] = {}  # activity id -> (provider, activity)
        #: The first kind each (provider, activity) was given: an activity has one kind.
        self._kinds: dict[tuple[str, str], ActivityKind] = {}
        self._rows: list[tuple[Any, ...]] = []
        self._slot_ids = _Ids(connection, is_sqlite, _slot)
        self._booking_ids = _Ids(connection, is_sqlite, _booking)
        self._writing: asyncio.Task[Any] | None = None  # the previous batch's, on PostgreSQL
        self.providers_created = self.activities_created = 0
        self.slots = self.held = self.bookings = 0

    @classmethod
    async def open(cls, connection: AsyncConnection, is_sqlite: bool, actor: str) -> Store:
        store = cls(connection, is_sqlite, actor)
        await store._drop_temporary()  # SQLite: a pooled connection keeps its temporary tables
        for table in _TEMPORARY:
            await connection.run_sync(table.create)
        await store._load_catalogue()
        return store

    async def close(self) -> None:
        """PostgreSQL drops the tables at the transaction's end; SQLite keeps them."""
        if self._writing:
            await asyncio.wait([self._writing])  # its failure, if any, was raised already
        await self._drop_temporary()

    async def _drop_temporary(self) -> None:
        if self._is_sqlite:
            for table in _TEMPORARY:
                await self._connection.execute(text(f"DROP TABLE IF EXISTS temp.{table.name}"))

    async def _load_catalogue(self) -> None:
        providers = await self._connection.execute(select(Provider.id, Provider.name))
        self._providers = {name: provider_id for provider_id, name in providers}
        by_id = {provider_id: name for name, provider_id in self._providers.items()}
        activities = await self._connection.execute(
            select(
                Activity.id,
                Activity.provider_id,
                Activity.name,
                Activity.kind,
                Activity.cutoff_minutes,
                Activity.decision_days_before,
                Activity.decision_time,
            )
        )
        for found in activities:
            key = (by_id[found.provider_id], found.name)
            self._remember(key, _Activity(found.id, *found[3:]))

    def _remember(self, key: tuple[str, str], activity: _Activity) -> None:
        self._activities[key] = activity
        self._names[activity.id] = key
        self._kinds[key] = activity.kind

    async def _idle(self) -> None:
        """The connection to ourselves: the previous batch's statements done (or raised)."""
        if self._writing:
            writing, self._writing = self._writing, None
            await writing

    # --- Rows in ---------------------------------------------------------------------------

    async def add(self, row: Row) -> list[tuple[int, str]]:
        """Stage ``row``; the problem it has with its activity's kind, if any."""
        activity = self._activities.get(row.key) or await self._new_activity(row)
        problems = []
        kind = self._kinds[row.key]
        if kind != row.kind:
            problems.append(
                (
                    row.line,
                    f"“{row.activity}” of “{row.provider}” is a {kind.value}, "
                    f"not a {row.kind.value}",
                )
            )
        cutoff, decision = _deadlines(
            row.starts_at,
            activity.cutoff_minutes,
            activity.decision_days_before,
            activity.decision_time,
        )
        adults, children = row.party
        self._rows.append(
            (
                row.line,
                activity.id,
                row.starts_at,
                row.ends_at,
                row.day,
                row.capacity,
                row.min_participants,
                row.held,
                None if row.held else row.cancel_reason.value,  # type: ignore[union-attr]
                cutoff,
                decision,
                adults,
                children,
                *row.attended,
                f"Historique {row.day.isoformat()}",
            )
        )
        self.slots += 1
        self.held += row.held
        self.bookings += adults + children > 0
        if len(self._rows) >= BATCH_ROWS:
            await self._flush()
        return problems

    async def _flush(self) -> None:
        if not self._rows:
            return
        rows, self._rows = self._rows, []
        await self._idle()
        slot_ids = await self._slot_ids.take(len(rows))
        booking_ids = iter(await self._booking_ids.take(sum(row[11] + row[12] > 0 for row in rows)))
        records = [
            (slot_id, next(booking_ids) if row[11] + row[12] else None, *row)
            for slot_id, row in zip(slot_ids, rows, strict=True)
        ]
        statements = self._batch_statements()
        if self._is_sqlite:
            batch = [dict(zip(_BATCH_COLUMNS, record, strict=True)) for record in records]
            await self._connection.execute(insert(_batch), batch)
            for statement in statements:
                await self._connection.execute(statement)
            return
        raw = await self._connection.get_raw_connection()
        driver = raw.driver_connection
        assert driver is not None
        await driver.copy_records_to_table(_batch.name, records=records, columns=_BATCH_COLUMNS)
        script = ";\n".join(
            str(
                statement.compile(
                    dialect=self._connection.dialect, compile_kwargs={"literal_binds": True}
                )
            )
            for statement in statements
        )
        self._writing = asyncio.ensure_future(driver.execute(script))
        await asyncio.sleep(0)  # sent: the database writes while the next batch is read

    async def _new_activity(self, row: Row) -> _Activity:
        """An activity (and its provider when new) with the defaults of the first row naming it."""
        await self._idle()
        provider_id = self._providers.get(row.provider)
        if provider_id is None:
            provider_id = await self._connection.scalar(
                insert(Provider)
                .values(name=row.provider, village=row.village, sector=row.sector, languages=["fr"])
                .returning(Provider.id)
            )
            assert provider_id is not None
            self._providers[row.provider] = provider_id
            self.providers_created += 1
        values = {
            "provider_id": provider_id,
            "kind": row.kind,
            "name": row.activity,
            "title": {"fr": row.activity},
            "description": {},
            "accessibility": {},
            "duration_minutes": (row.ends_at - row.starts_at) // timedelta(minutes=1),
            "default_capacity": row.capacity,
            "default_min_participants": row.min_participants,
            "price_adult_cents": 0,
            "price_child_cents": 0,
            "cutoff_minutes": 120,
            "decision_days_before": 1,
            "decision_time": time(18, 0),
        }
        activity_id = await self._connection.scalar(
            insert(Activity).values(values).returning(Activity.id)
        )
        assert activity_id is not None
        activity = _Activity(activity_id, row.kind, 120, 1, time(18, 0))
        self._remember(row.key, activity)
        self.activities_created += 1
        return activity

    # --- A batch's statements --------------------------------------------------------------

    def _batch_statements(self) -> list[Any]:
        """Slots, their bookings and attendance, the batch's visits kept for the checks, the
        batch emptied. Only strings and whole numbers: PostgreSQL gets them as one script."""
        return [
            self._slots(),
            self._bookings(),
            self._attendance(),
            insert(_visits).from_select(
                [c.name for c in _visits.c], select(*(_batch.c[c.name] for c in _visits.c))
            ),
            delete(_batch) if self._is_sqlite else text(f"TRUNCATE {_batch.name}"),
        ]

    def _slots(self) -> Any:
        b = _batch.c
        columns = {
            "id": b.slot_id,
            "activity_id": b.activity_id,
            "starts_at": b.starts_at,
            "ends_at": b.ends_at,
            "starts_on": b.starts_on,
            "capacity": b.capacity,
            "min_participants": b.min_participants,
            # A held visit counts the people of its (confirmed) booking; a cancelled one none.
            "booked": case((b.held, b.adults + b.children), else_=0),
            "held": literal(0),
            "booking_cutoff_at": b.booking_cutoff_at,
            "decision_at": b.decision_at,
            "status": case((b.held, SlotStatus.HELD.value), else_=SlotStatus.CANCELLED.value),
            "cancel_reason": b.cancel_reason,
            "cancelled_at": case((b.held, null()), else_=b.decision_at),
            "sequence": literal(0),
            # SQLite: bound; PostgreSQL: the transaction's time, as the script has no parameters.
            "updated_at": literal(self._now, UTCDateTime) if self._is_sqlite else func.now(),
        }
        upsert = sqlite_insert if self._is_sqlite else postgresql_insert
        return (
            upsert(_slot)
            .from_select(list(columns), select(*columns.values()).where(b.line > 0))
            .on_conflict_do_nothing(index_elements=["activity_id", "starts_at"])
        )

    def _bookings(self) -> Any:
        """One booking per row that had people: the spreadsheet only knows totals. Made when the
        go/no-go was decided, and cancelled then with its slot; none for a skipped visit."""
        b = _batch.c
        columns = {
            "id": b.booking_id,
            "reference": literal(REFERENCE_PREFIX) + cast(b.slot_id, String),
            "slot_id": b.slot_id,
            "adults": b.adults,
            "children": b.children,
            "name": b.name,
            "locale": literal("fr"),
            "channel": literal(Channel.HISTORY.value),
            "status": case(
                (b.held, BookingStatus.CONFIRMED.value), else_=BookingStatus.CANCELLED.value
            ),
            "created_at": b.decision_at,
            "cancelled_at": case((b.held, null()), else_=b.decision_at),
            "cancelled_by": case((b.held, null()), else_=CancelledBy.SLOT.value),
            "via_share_link": literal(False),
        }
        return insert(_booking).from_select(
            list(columns),
            select(*columns.values())
            .select_from(_batch.join(_slot, _slot.c.id == b.slot_id))
            .where(b.booking_id.is_not(None)),
        )

    def _attendance(self) -> Any:
        b = _batch.c
        return insert(_attendance).from_select(
            ["booking_id", "adults", "children", "recorded_at", "recorded_by"],
            select(
                b.booking_id,
                b.attended_adults,
                b.attended_children,
                b.ends_at,
                literal(self._actor),
            )
            .select_from(_batch.join(_booking, _booking.c.id == b.booking_id))
            .where(b.held),
        )

    # --- What the database finds -----------------------------------------------------------

    async def conflicts(self) -> list[tuple[int, str]]:
        """Rows already imported, and rows repeating a visit of an earlier line."""
        await self._flush()
        await self._idle()
        if not self.slots:
            return []
        v = _visits.c
        other = _visits.alias("other")
        ours = select(other.c.slot_id).where(other.c.slot_id == _slot.c.id).exists()
        stored = (
            select(v.line, v.activity_id, v.starts_on, v.starts_at)
            .join(
                _slot,
                and_(
                    _slot.c.activity_id == v.activity_id,
                    _slot.c.starts_at == v.starts_at,
                    _slot.c.id != v.slot_id,
                ),
            )
            .where(~ours)
            .order_by(v.line)
        )
        problems: list[tuple[int, str]] = []
        for line, activity_id, day, starts_at in await self._connection.execute(stored):
            visit = self._describe(activity_id, day, starts_at)
            problems.append((line, f"{visit} is already imported"))
        first = func.min(v.line).over(partition_by=(v.activity_id, v.starts_at)).label("first")
        visits = select(*_visits.c, first).subquery()
        repeated = (
            select(
                visits.c.line,
                visits.c.activity_id,
                visits.c.starts_on,
                visits.c.starts_at,
                visits.c.first,
            )
            .where(visits.c.line != visits.c.first)
            .order_by(visits.c.line)
        )
        for line, activity_id, day, starts_at, earlier in await self._connection.execute(repeated):
            visit = self._describe(activity_id, day, starts_at)
            problems.append((line, f"{visit} is already on line {earlier}"))
        return problems

    def _describe(self, activity_id: int, day: date, starts_at: datetime) -> str:
        provider, activity = self._names[activity_id]
        return describe(activity, provider, day, starts_at)

    # --- The import's record ---------------------------------------------------------------

    async def write(self, source: str | None) -> dict[str, int]:
        """One audit entry for the import; the rows themselves are its slots and bookings."""
        await self._idle()
        counts = {
            "providers_created": self.providers_created,
            "activities_created": self.activities_created,
            "slots": self.slots,
            "held": self.held,
            "cancelled": self.slots - self.held,
            "bookings": self.bookings,
        }
        await self._connection.execute(
            insert(AuditEntry).values(
                at=self._now,
                actor=self._actor,
                action="history.imported",
                data={"source": source, **counts},
            )
        )
        return counts


class _Ids:
    """The ids of a table's new rows, drawn before they are written, so that bookings name their
    slots and attendance its bookings without joins. PostgreSQL: from the table's sequence
    (concurrent writers draw others); SQLite: after the largest, since the writer holds the
    database until it commits."""

    def __init__(self, connection: AsyncConnection, is_sqlite: bool, table: Table) -> None:
        self._connection = connection
        self._is_sqlite = is_sqlite
        self._table = table
        self._last: int | None = None

    async def take(self, count: int) -> list[int]:
        if not count:
            return []
        if not self._is_sqlite:
            drawn = await self._connection.scalars(
                text(
                    "SELECT nextval(pg_get_serial_sequence(:table, 'id')) "
                    "FROM generate_series(1, :count)"
                ),
                {"table": self._table.name, "count": count},
            )
            return list(drawn)
        if self._last is None:
            self._last = await self._connection.scalar(
                select(func.coalesce(func.max(self._table.c.id), 0))
            )
        assert self._last is not None
        first, self._last = self._last + 1, self._last + count
        return list(range(first, self._last + 1))


@lru_cache(maxsize=4096)
def _deadlines(
    starts_at: datetime, cutoff_minutes: int, decision_days_before: int, decision_time: time
) -> tuple[datetime, datetime]:
    return deadlines(starts_at, cutoff_minutes, decision_days_before, decision_time)
