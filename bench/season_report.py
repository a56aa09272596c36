"""The season report's cost per slot row, at two sizes, on PostgreSQL and on SQLite.

For each size, a fresh database (created beside the admin database on PostgreSQL, a file in a
temporary folder on SQLite) is migrated, filled in SQL with generated rows (INSERT … SELECT
over generate_series on PostgreSQL, over a recursive CTE on SQLite), ANALYZEd as an import is,
then ``season_report`` is timed (median of a few runs after one warm-up) and dropped. The slots
span two seasons (the report reads both: the second is the previous season it compares with),
24 farms, every slot status and cancel reason; each slot has 1 to 6 bookings (3.5 on average)
of 1 to 6 people over every channel, some cancelled by the visitor, by the slot's cancellation,
expired, booked after the decision, from a share link; attendance on held slots; some bookings
moved in by an accepted invitation. The target: ms per slot row at the large size within 1.5×
of the small size.

    .venv/bin/python bench/season_report.py [--postgres-url URL] [--quick] [--skip-before]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402
from bench.booking_throughput import (  # noqa: E402
    DEFAULT_ADMIN_URL,
    _activities,
    _asyncpg_dsn,
    _sqlalchemy_url,
)
from bench.targets import Target, table  # noqa: E402

from reservations.base.infra import db as db_module  # noqa: E402
from reservations.base.infra.db import Database  # noqa: E402
from reservations.base.reads.reports import season_report  # noqa: E402

SEASON = 2026  # the slots run from 2025-01-01 to 2026-12-31: this season and the previous one
SIZES, QUICK_SIZES = (100_000, 1_000_000), (10_000, 100_000)
#: The size at which the one-pass report is compared with the code before it (PostgreSQL).
BEFORE_SIZE, BEFORE_COMMIT = 200_000, "51b2ce5"
RUNS, QUICK_RUNS = 3, 2
GOAL = 1.5

Report = Callable[[Database, int], Awaitable[dict[str, Any]]]


# --- the rows, in SQL -----------------------------------------------------------------------

#: What differs between the two databases, spelled for each.
DIALECT = {
    "postgresql": {
        "numbers": "numbers(i) AS (SELECT generate_series(0, {n} - 1))",
        "base": "timestamptz '2025-01-01 06:00:00+00'",
        "plus": "({at} + ({seconds}) * interval '1 second')",
        "day": "(({at}) AT TIME ZONE 'UTC')::date",
        "pad": "lpad(({value})::text, {width}, '0')",
    },
    "sqlite": {
        "numbers": "RECURSIVE numbers(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM numbers "
        "WHERE i < {n} - 1)",
        "base": "'2025-01-01 06:00:00.000000'",
        "plus": "(strftime('%Y-%m-%d %H:%M:%S', {at}, ({seconds}) || ' seconds') || '.000000')",
        "day": "date({at})",
        "pad": "printf('%0{width}d', {value})",
    },
}
DAY = 86_400


def fill_statements(dialect: str, slots: int, first_activity: int, activities: int) -> list[str]:
    """INSERT … SELECT statements that add ``slots`` slots over two years and their bookings,
    attendance and invitations, every figure derived from the row's number."""
    d = DIALECT[dialect]

    def plus(at: str, seconds: str) -> str:
        return d["plus"].format(at=at, seconds=seconds)

    def pad(value: str, width: int) -> str:
        return d["pad"].format(value=value, width=width)

    spacing = 730 * DAY // -(-slots // activities)  # each activity's slots over the two years
    starts = plus(d["base"], f"(i / {activities}) * {spacing} + (i % {activities}) * 60")
    fate = "(i * 7) % 20"  # 60% held, 15% confirmed, 10% too few, 5% weather, provider, undecided
    slot = f"""
        WITH {d["numbers"].format(n=slots)}
        INSERT INTO slot (id, activity_id, starts_at, ends_at, starts_on, capacity,
            min_participants, booked, held, booking_cutoff_at, decision_at, status,
            cancel_reason, cancelled_at, sequence, updated_at)
        SELECT i + 1, {first_activity} + i % {activities}, {starts}, {plus(starts, "5400")},
            {d["day"].format(at=starts)}, 8 + i % 18, 4, 0, 0, {plus(starts, "-7200")},
            {plus(starts, f"-{DAY}")},
            CASE WHEN {fate} < 12 THEN 'held' WHEN {fate} < 15 THEN 'confirmed'
                 WHEN {fate} < 19 THEN 'cancelled' ELSE 'scheduled' END,
            CASE WHEN {fate} BETWEEN 15 AND 16 THEN 'under_minimum'
                 WHEN {fate} = 17 THEN 'weather' WHEN {fate} = 18 THEN 'provider' END,
            CASE WHEN {fate} BETWEEN 15 AND 18 THEN {plus(starts, f"-{DAY}")} END,
            0, {starts}
        FROM numbers"""
    m = "((s.id * 13 + k * 7) % 10)"  # 70% kept, 10% cancelled by the visitor, 10% expired...
    created = f"CASE WHEN {m} = 6 THEN {plus('s.decision_at', '3600')} "
    created += f"ELSE {plus('s.starts_at', f'-(10 + k) * {DAY}')} END"
    channel = "(s.id + 3 * k) % 10"
    booking = f"""
        WITH ks(k) AS (VALUES (0), (1), (2), (3), (4), (5))
        INSERT INTO booking (id, reference, slot_id, adults, children, name, locale, channel,
            status, manage_token_hash, created_at, cancelled_at, cancelled_by, via_share_link)
        SELECT s.id * 6 + k, {pad("s.id * 6 + k", 16)}, s.id, 1 + (s.id + k) % 4,
            (s.id * (k + 1)) % 3, 'Visitor', 'fr',
            CASE WHEN {channel} < 5 THEN 'web' WHEN {channel} < 7 THEN 'counter'
                 WHEN {channel} = 7 THEN 'phone' WHEN {channel} = 8 THEN 'reseller'
                 ELSE 'history' END,
            CASE WHEN {m} = 7 THEN 'cancelled' WHEN {m} = 8 THEN 'expired'
                 WHEN s.status = 'cancelled' THEN 'cancelled' ELSE 'confirmed' END,
            {pad("s.id * 6 + k", 64)}, {created},
            CASE WHEN {m} = 7 THEN {plus("s.starts_at", f"-{3 * DAY}")}
                 WHEN {m} <> 8 AND s.status = 'cancelled' THEN s.cancelled_at END,
            CASE WHEN {m} = 7 THEN 'visitor'
                 WHEN {m} <> 8 AND s.status = 'cancelled' THEN 'slot' END,
            (s.id + k) % 9 = 0
        FROM slot s CROSS JOIN ks
        WHERE k <= (s.id * 31) % 6"""
    # Present: the kept bookings of held slots (one adult in five missing), and a few cancelled
    # by the visitor after their attendance was recorded (they must not count).
    attendance = """
        INSERT INTO attendance (booking_id, adults, children, recorded_at, recorded_by)
        SELECT b.id, b.adults - CASE WHEN b.id % 5 = 0 THEN 1 ELSE 0 END, b.children,
            s.ends_at, 'bench'
        FROM booking b JOIN slot s ON s.id = b.slot_id
        WHERE s.status = 'held' AND (b.status = 'confirmed'
            OR (b.cancelled_by = 'visitor' AND b.id % 4 = 0))"""
    invitation = f"""
        INSERT INTO move_invitation (id, booking_id, source_slot_id, target_slot_id, token_hash,
            created_by, created_at, expires_at, accepted_at)
        SELECT b.id, b.id, b.slot_id - {activities}, b.slot_id, {pad("b.id", 64)}, 'bench',
            {plus("b.created_at", "-3600")}, {plus("b.created_at", f"{2 * DAY}")},
            CASE WHEN b.id % 60 = 0 THEN b.created_at END
        FROM booking b
        WHERE b.id % 30 = 0 AND b.slot_id > {activities}"""
    return [slot, booking, attendance, invitation]


# --- the databases --------------------------------------------------------------------------


async def _seed_activities(url: str) -> tuple[int, int]:
    """The farms and their activities, through the models (booking_throughput's programme)."""
    database = Database(url)
    try:
        async with database.writing() as session:
            found = _activities(session, count=24)
            await session.flush()
            return min(a.id for a in found), len(found)
    finally:
        await database.dispose()


@asynccontextmanager
async def postgres_database(admin_url: str, slots: int) -> AsyncIterator[Database]:
    """A fresh, migrated, filled and ANALYZEd database beside ``admin_url``, dropped after."""
    name = f"reservations_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(_asyncpg_dsn(admin_url))
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        url = _sqlalchemy_url(admin_url, name)
        await asyncio.to_thread(db_module.upgrade, url)
        first, count = await _seed_activities(url)
        connection = await asyncpg.connect(_asyncpg_dsn(admin_url, name))
        try:
            for statement in fill_statements("postgresql", slots, first, count):
                await connection.execute(statement)
            await connection.execute("ANALYZE")
        finally:
            await connection.close()
        database = Database(url)
        try:
            yield database
        finally:
            await database.dispose()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@asynccontextmanager
async def sqlite_database(slots: int) -> AsyncIterator[Database]:
    """A fresh, migrated, filled and ANALYZEd database file, removed after."""
    with tempfile.TemporaryDirectory(prefix="reservations_bench_") as folder:
        path = Path(folder) / "season.db"
        url = f"sqlite+aiosqlite:///{path}"
        await asyncio.to_thread(db_module.upgrade, url)
        first, count = await _seed_activities(url)
        connection = sqlite3.connect(path, isolation_level=None)
        try:
            connection.execute("PRAGMA synchronous = OFF")
            connection.execute("BEGIN")
            for statement in fill_statements("sqlite", slots, first, count):
                connection.execute(statement)
            connection.execute("COMMIT")
            connection.execute("ANALYZE")
        finally:
            connection.close()
        database = Database(url)
        try:
            yield database
        finally:
            await database.dispose()


# --- timing ---------------------------------------------------------------------------------


async def median_ms(database: Database, runs: int, report: Report = season_report) -> float:
    """The median time of ``runs`` reports of the season, after one warm-up run."""
    figures = await report(database, SEASON)
    assert figures["slots_planned"] and figures["previous_season"], "the rows are not there"
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        await report(database, SEASON)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def report_before() -> Report | None:
    """``season_report`` as it was before the one-pass statement (from git), if git has it."""
    path = "src/reservations/base/reads/reports.py"
    try:
        source = subprocess.run(
            ["git", "-C", str(ROOT), "show", f"{BEFORE_COMMIT}:{path}"],
            capture_output=True,
            check=True,
            text=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    folder = Path(tempfile.mkdtemp(prefix="reservations_bench_"))
    (folder / "reports_before.py").write_text(source)
    spec = importlib.util.spec_from_file_location("reports_before", folder / "reports_before.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module.season_report  # type: ignore[no-any-return]


async def _per_row(
    name: str, open_database: Callable[[int], Any], sizes: tuple[int, int], runs: int
) -> Target:
    per_row = []
    for slots in sizes:
        started = time.perf_counter()
        async with open_database(slots) as database:
            filled = time.perf_counter() - started
            ms = await median_ms(database, runs)
        per_row.append(ms / slots)
        print(f"  {name} {slots:>9,} slots: filled in {filled:.0f} s, report {ms:,.0f} ms")
    small, large = sizes
    return Target(
        f"season report ms/row at {_size(large)} vs {_size(small)} ({name})",
        per_row[1],
        per_row[0],
        "ms per row",
        GOAL,
        at_most=True,
        note=f"{per_row[1] * 1000:.1f} µs/row at {_size(large)}, "
        f"{per_row[0] * 1000:.1f} µs/row at {_size(small)}",
    )


def _size(slots: int) -> str:
    return f"{slots / 1_000_000:g}M" if slots >= 1_000_000 else f"{slots // 1000:,}k"


async def measure(options: argparse.Namespace) -> list[Target]:
    quick = getattr(options, "quick", False)
    sizes, runs = (QUICK_SIZES, QUICK_RUNS) if quick else (SIZES, RUNS)
    admin_url = options.postgres_url
    targets = [
        await _per_row("PostgreSQL", lambda n: postgres_database(admin_url, n), sizes, runs),
        await _per_row("SQLite", sqlite_database, sizes, runs),
    ]
    before = None if quick or getattr(options, "skip_before", False) else report_before()
    if before is not None:
        async with postgres_database(admin_url, BEFORE_SIZE) as database:
            now, then = await median_ms(database, runs), await median_ms(database, runs, before)
        targets.append(
            Target(
                f"season report at {BEFORE_SIZE // 1000}k: one pass / {BEFORE_COMMIT} (PostgreSQL)",
                now,
                then,
                "ms",
                1.0,
                at_most=True,
                note="the code before this change, timed in the same run",
            )
        )
    return targets


def _options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("RESERVATIONS_BENCH_POSTGRES_URL", DEFAULT_ADMIN_URL),
        help="an admin URL: each size gets its own database beside it, dropped after",
    )
    parser.add_argument("--quick", action="store_true", help=f"sizes {QUICK_SIZES}: noisy")
    parser.add_argument(
        "--skip-before", action="store_true", help=f"do not time the code of {BEFORE_COMMIT}"
    )
    return parser.parse_args()


if __name__ == "__main__":
    print(table(asyncio.run(measure(_options()))))
