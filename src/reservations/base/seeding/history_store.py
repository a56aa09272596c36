"""Where the history import's checked rows go: a temporary table, filled in batches (COPY on
PostgreSQL), so that memory stays the same whatever the size of the file; the database then finds
the visits repeated in the file or already stored, and writes the slots, bookings and attendance
with three INSERT ... SELECT statements.

Kept across rows: the catalogue (providers and activities by name, bounded by the catalogue) and
one batch of rows, never an object per row.
"""

from __future__ import annotations

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
    func,
    insert,
    literal,
    null,
    select,
    text,
)
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

#: One checked row of the file, as the slot, booking and attendance tables need it.
_staged = Table(
    "history_import_row",
    MetaData(),
    Column("line", Integer, nullable=False),
    Column("slot_id", Integer, nullable=False),
    Column("booking_id", Integer),  # None: nobody came nor booked, no booking
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
_COLUMNS = [column.name for column in _staged.columns]


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
    """The rows of one import, in the transaction of ``connection``."""

    def __init__(self, connection: AsyncConnection, is_sqlite: bool) -> None:
        self._connection = connection
        self._is_sqlite = is_sqlite
        self._providers: dict[str, int] = {}
        self._activities: dict[tuple[str, str], _Activity] = {}
        self._names: dict[int, tuple[str, str]] = {}  # activity id -> (provider, activity)
        #: The first kind each (provider, activity) was given: an activity has one kind.
        self._kinds: dict[tuple[str, str], ActivityKind] = {}
        self._batch: list[tuple[Any, ...]] = []
        self._slot_ids = _Ids(connection, is_sqlite, _slot)
        self._booking_ids = _Ids(connection, is_sqlite, _booking)
        self.providers_created = self.activities_created = 0
        self.slots = self.held = self.bookings = 0

    @classmethod
    async def open(cls, connection: AsyncConnection, is_sqlite: bool) -> Store:
        store = cls(connection, is_sqlite)
        if is_sqlite:  # a pooled connection keeps its temporary tables
            await connection.execute(text(f"DROP TABLE IF EXISTS temp.{_staged.name}"))
        await connection.run_sync(lambda sync: _staged.create(sync))
        await store._load_catalogue()
        return store

    async def close(self) -> None:
        """PostgreSQL drops the table at the transaction's end; SQLite keeps it: drop it."""
        if self._is_sqlite:
            await self._connection.execute(text(f"DROP TABLE IF EXISTS temp.{_staged.name}"))

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
        self._batch.append(
            (
                row.line,
                await self._slot_ids.next(),
                await self._booking_ids.next() if adults + children else None,
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
        if len(self._batch) >= BATCH_ROWS:
            await self._flush()
        return problems

    async def _flush(self) -> None:
        if not self._batch:
            return
        if self._is_sqlite:
            rows = [dict(zip(_COLUMNS, record, strict=True)) for record in self._batch]
            await self._connection.execute(insert(_staged), rows)
        else:
            raw = await self._connection.get_raw_connection()
            await raw.driver_connection.copy_records_to_table(  # type: ignore[union-attr]
                _staged.name, records=self._batch, columns=_COLUMNS
            )
        self._batch = []

    async def _new_activity(self, row: Row) -> _Activity:
        """An activity (and its provider when new) with the defaults of the first row naming it."""
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

    # --- What the database finds -----------------------------------------------------------

    async def conflicts(self) -> list[tuple[int, str]]:
        """Rows already imported, and rows repeating a visit of an earlier line."""
        await self._flush()
        if not self.slots:
            return []
        problems: list[tuple[int, str]] = []
        stored = (
            select(_staged.c.line, _staged.c.activity_id, _staged.c.starts_on, _staged.c.starts_at)
            .join(_slot, self._same_visit())
            .order_by(_staged.c.line)
        )
        for line, activity_id, day, starts_at in await self._connection.execute(stored):
            problems.append(
                (line, f"{self._describe(activity_id, day, starts_at)} is already imported")
            )
        first = (
            func.min(_staged.c.line)
            .over(partition_by=(_staged.c.activity_id, _staged.c.starts_at))
            .label("first")
        )
        visits = select(*_staged.c, first).subquery()
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

    @staticmethod
    def _same_visit() -> Any:
        return and_(
            _slot.c.activity_id == _staged.c.activity_id, _slot.c.starts_at == _staged.c.starts_at
        )

    # --- Writing ---------------------------------------------------------------------------

    async def write(self, actor: str, source: str | None) -> dict[str, int]:
        """The slots, their bookings and attendance, and one audit entry for the import."""
        now = clock.now()
        if self.slots:
            await self._write_slots(now)
            await self._write_bookings()
            await self._write_attendance(actor)
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
                at=now, actor=actor, action="history.imported", data={"source": source, **counts}
            )
        )
        return counts

    async def _write_slots(self, now: datetime) -> None:
        s = _staged.c
        held = SlotStatus.HELD.value
        columns = {
            "id": s.slot_id,
            "activity_id": s.activity_id,
            "starts_at": s.starts_at,
            "ends_at": s.ends_at,
            "starts_on": s.starts_on,
            "capacity": s.capacity,
            "min_participants": s.min_participants,
            # A held visit counts the people of its (confirmed) booking; a cancelled one none.
            "booked": case((s.held, s.adults + s.children), else_=0),
            "held": literal(0),
            "booking_cutoff_at": s.booking_cutoff_at,
            "decision_at": s.decision_at,
            "status": case((s.held, held), else_=SlotStatus.CANCELLED.value),
            "cancel_reason": s.cancel_reason,
            "cancelled_at": case((s.held, null()), else_=s.decision_at),
            "sequence": literal(0),
            "updated_at": literal(now, UTCDateTime),
        }
        await self._connection.execute(
            insert(_slot).from_select(list(columns), select(*columns.values()))
        )

    async def _write_bookings(self) -> None:
        """One booking per row that had people: the spreadsheet only knows totals. Made when the
        go/no-go was decided, and cancelled then with its slot."""
        s = _staged.c
        columns = {
            "id": s.booking_id,
            "reference": literal(REFERENCE_PREFIX) + cast(s.slot_id, String),
            "slot_id": s.slot_id,
            "adults": s.adults,
            "children": s.children,
            "name": s.name,
            "locale": literal("fr"),
            "channel": literal(Channel.HISTORY.value),
            "status": case(
                (s.held, BookingStatus.CONFIRMED.value), else_=BookingStatus.CANCELLED.value
            ),
            "created_at": s.decision_at,
            "cancelled_at": case((s.held, null()), else_=s.decision_at),
            "cancelled_by": case((s.held, null()), else_=CancelledBy.SLOT.value),
            "via_share_link": literal(False),
        }
        await self._connection.execute(
            insert(_booking).from_select(
                list(columns),
                select(*columns.values()).where(s.booking_id.is_not(None)),
            )
        )

    async def _write_attendance(self, actor: str) -> None:
        s = _staged.c
        await self._connection.execute(
            insert(_attendance).from_select(
                ["booking_id", "adults", "children", "recorded_at", "recorded_by"],
                select(
                    s.booking_id, s.attended_adults, s.attended_children, s.ends_at, literal(actor)
                ).where(s.held, s.booking_id.is_not(None)),
            )
        )


@lru_cache(maxsize=4096)
def _deadlines(
    starts_at: datetime, cutoff_minutes: int, decision_days_before: int, decision_time: time
) -> tuple[datetime, datetime]:
    return deadlines(starts_at, cutoff_minutes, decision_days_before, decision_time)


class _Ids:
    """The ids of a table's new rows, drawn before they are written, so that bookings name their
    slots and attendance its bookings without joins. PostgreSQL: from the table's sequence, a
    batch at a time (concurrent writers draw others); SQLite: after the largest, since the
    writer holds the database until it commits."""

    def __init__(self, connection: AsyncConnection, is_sqlite: bool, table: Table) -> None:
        self._connection = connection
        self._is_sqlite = is_sqlite
        self._table = table
        self._drawn: list[int] = []
        self._last: int | None = None

    async def next(self) -> int:
        if self._is_sqlite:
            if self._last is None:
                self._last = await self._connection.scalar(
                    select(func.coalesce(func.max(self._table.c.id), 0))
                )
            assert self._last is not None
            self._last += 1
            return self._last
        if not self._drawn:
            drawn = await self._connection.scalars(
                text(
                    "SELECT nextval(pg_get_serial_sequence(:table, 'id')) "
                    "FROM generate_series(1, :count)"
                ),
                {"table": self._table.name, "count": BATCH_ROWS},
            )
            self._drawn = list(drawn)[::-1]
        return self._drawn.pop()
