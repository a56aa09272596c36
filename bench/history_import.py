"""The history import of past seasons: rows per second and peak memory, against today's importer.

    .venv/bin/python bench/history_import.py [--postgres-url URL] [--quick]

Writes season files of 10k, 100k and 1M rows (2k and 20k with ``--quick``) in the import's own
format, and imports each with the real command (``reservations import-history``) in a child
process, into a fresh PostgreSQL database it creates beside ``--postgres-url`` and drops (and a
fresh SQLite file). The floor is today's importer (commit ``FLOOR_COMMIT``, extracted with
``git archive``) on the smallest file, in the same run and on its own fresh database.

Rows per second leave out the command's fixed cost (Python start-up, the migrations check, the
ANALYZE of an empty catalogue), measured by the same code on a header-only file. Peak memory is
the child's own (``wait4``'s maximum resident set size).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402
from bench import baseline  # noqa: E402
from bench.booking_throughput import _asyncpg_dsn, _sqlalchemy_url  # noqa: E402
from bench.targets import Target, table  # noqa: E402

from reservations.base.seeding.history import COLUMNS  # noqa: E402

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"
#: Today's importer (main before the streaming import): ORM objects and a manage token per row.
FLOOR_COMMIT = baseline.BEFORE
SIZES = (10_000, 100_000, 1_000_000)
QUICK_SIZES = (2_000, 20_000)
FARMS = 40  # activities, one per farm
STARTS = ("09:00", "10:30", "12:00", "13:30", "15:00", "16:30")  # never in the skipped hour
OUTCOMES = ("held", "held", "cancelled_under_minimum", "held", "cancelled_weather")


def write_season(path: Path, rows: int) -> None:
    """``rows`` visits, every (farm, start) once: farms × starts a day from 1990 on."""
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(COLUMNS)
        first = date(1990, 1, 1)
        for number in range(rows):
            farm = number % FARMS
            start = STARTS[(number // FARMS) % len(STARTS)]
            day = first + timedelta(days=number // (FARMS * len(STARTS)))
            outcome = OUTCOMES[number % len(OUTCOMES)]
            adults, children = number % 7, number % 4
            came = (max(adults - 1, 0), children) if outcome == "held" else (0, 0)
            end = f"{int(start[:2]) + 1}{start[2:]}"
            writer.writerow(
                (
                    day.isoformat(), start, end, f"Ferme {farm:02d}", "Vialas", "Mont Lozère",
                    f"Visite de la ferme {farm:02d}", "farm_visit", 15, 4, outcome,
                    adults, children, *came,
                )
            )  # fmt: skip


@dataclass(frozen=True)
class Run:
    rows: int
    seconds: float
    peak_rss_mb: float


def import_in_child(database_url: str, csv_path: Path, pythonpath: Path) -> Run:
    """The real command in its own process: its wall time and its own peak resident memory."""
    environment = os.environ | {
        "PYTHONPATH": str(pythonpath),
        "RESERVATIONS_DATABASE_URL": database_url,
        "RESERVATIONS_SECRET_KEY": "bench",
    }
    command = [sys.executable, "-m", "reservations", "import-history", str(csv_path)]
    started = time.perf_counter()
    child = subprocess.Popen(
        command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    out, err = child.stdout.read(), child.stderr.read()  # type: ignore[union-attr]
    if child.returncode != 0:
        raise RuntimeError(f"{command} failed:\n{out.decode()}\n{err.decode()[-3000:]}")
    rows = sum(1 for _ in csv_path.open(encoding="utf-8")) - 1
    return Run(rows, seconds, usage.ru_maxrss / 1024)  # Linux: kilobytes


@contextmanager
def postgres_database(admin_url: str) -> Iterator[str]:
    """A fresh database beside ``admin_url`` (its SQLAlchemy URL), dropped afterwards."""
    name = f"reservations_bench_{uuid.uuid4().hex[:8]}"
    _admin(admin_url, f'CREATE DATABASE "{name}"')
    try:
        yield _sqlalchemy_url(admin_url, name)
    finally:
        _admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def sqlite_database(folder: Path) -> Iterator[str]:
    path = folder / f"bench-{uuid.uuid4().hex[:8]}.sqlite3"
    try:
        yield f"sqlite+aiosqlite:///{path}"
    finally:
        for leftover in folder.glob(path.name + "*"):
            leftover.unlink()


def _admin(admin_url: str, statement: str) -> None:
    """One statement on the admin database; in a thread of its own, since ``bench/run.py``
    calls ``measure`` from its event loop."""

    async def send() -> None:
        connection = await asyncpg.connect(_asyncpg_dsn(admin_url))
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    with ThreadPoolExecutor(max_workers=1) as thread:
        thread.submit(asyncio.run, send()).result()


def timed(database: object, path: Path, code: Path, empty: Path) -> tuple[Run, float]:
    """A run of ``path`` and the rows per second of its import (the fixed cost, measured on
    ``empty`` in a database of its own, left out)."""
    with database() as url:  # type: ignore[operator]
        fixed = import_in_child(url, empty, code / "src").seconds
    with database() as url:  # type: ignore[operator]
        run = import_in_child(url, path, code / "src")
    return run, run.rows / max(run.seconds - fixed, 1e-3)


def measure(options: argparse.Namespace) -> list[Target]:
    sizes = QUICK_SIZES if options.quick else SIZES
    with tempfile.TemporaryDirectory(prefix="history-bench-") as scratch:
        folder = Path(scratch)
        floor_code = baseline.source(FLOOR_COMMIT)
        empty = folder / "empty.csv"
        write_season(empty, 0)
        files = {}
        for size in sizes:
            files[size] = folder / f"season-{size}.csv"
            write_season(files[size], size)
        small, large = sizes[0], sizes[-1]

        def pg() -> object:
            return postgres_database(options.postgres_url)

        def lite() -> object:
            return sqlite_database(folder)

        old_pg, old_pg_rate = timed(pg, files[small], floor_code, empty)
        old_lite, old_lite_rate = timed(lite, files[small], floor_code, empty)
        new_pg = {size: timed(pg, files[size], ROOT, empty) for size in sizes}
        new_lite = {size: timed(lite, files[size], ROOT, empty) for size in (small, sizes[1])}

    def k(size: int) -> str:
        return f"{size // 1000}k" if size < 1_000_000 else f"{size // 1_000_000}M"

    targets = [
        Target(
            f"import rows/s PG {k(size)} / today's at {k(small)}",
            rate,
            old_pg_rate,
            "rows/s",
            10,
            note=f"{run.seconds:.1f} s end to end, today's {old_pg.seconds:.1f} s",
        )
        for size, (run, rate) in new_pg.items()
    ]
    targets += [
        Target(
            f"import rows/s SQLite {k(size)} / today's at {k(small)}",
            rate,
            old_lite_rate,
            "rows/s",
            10,
            note=f"{run.seconds:.1f} s end to end, today's {old_lite.seconds:.1f} s",
        )
        for size, (run, rate) in new_lite.items()
    ]
    targets.append(
        Target(
            f"import peak RSS PG {k(large)} / {k(small)}",
            new_pg[large][0].peak_rss_mb,
            new_pg[small][0].peak_rss_mb,
            "MB",
            1.5,
            at_most=True,
            note=f"today's at {k(small)}: {old_pg.peak_rss_mb:.0f} MB",
        )
    )
    return targets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("RESERVATIONS_BENCH_POSTGRES_URL", DEFAULT_ADMIN_URL),
    )
    parser.add_argument("--quick", action="store_true", help="2k and 20k rows: a smoke run")
    print(table(measure(parser.parse_args())))


if __name__ == "__main__":
    main()
