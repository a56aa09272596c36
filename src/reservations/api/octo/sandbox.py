"""Where test keys book: one SQLite file a day in ``Settings.octo_sandbox_dir``, made from the
demo data (``base.seeding.sandbox``) the first time a test key needs it that day.

Every worker opens the same day's file; the first one to need it builds it under a file lock
(the others wait, then open it), into a temporary name moved into place once complete. A new
day means a new file, so no worker ever has a file replaced under it; files older than
yesterday's are removed.
"""

from __future__ import annotations

import asyncio
import fcntl
import sqlite3
from datetime import date, timedelta
from pathlib import Path

import anyio

from reservations.base import clock
from reservations.base.infra import db as db_module
from reservations.base.infra.db import Database
from reservations.base.rules.resellers import ResellerRef, mirror_reseller
from reservations.base.seeding.sandbox import fill_sandbox

_PREFIX = "octo-sandbox-"
_SIDE_FILES = ("-wal", "-shm", "-journal")


def _url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


class Sandbox:
    def __init__(self, folder: str) -> None:
        self.folder = Path(folder).resolve()
        self._day: date | None = None
        self._db: Database | None = None
        self._mirrored: set[int] = set()
        self._lock = asyncio.Lock()

    async def database(self, reseller: ResellerRef) -> Database:
        """Today's sandbox, where ``reseller`` is known."""
        today = clock.today()
        async with self._lock:
            if self._db is None or self._day != today:
                path = await anyio.to_thread.run_sync(self._file_for, today)
                previous, self._db = self._db, Database(_url(path))
                self._day, self._mirrored = today, set()
                if previous is not None:
                    await previous.dispose()
            database = self._db
            if reseller.id not in self._mirrored:
                await mirror_reseller(database, reseller)
                self._mirrored.add(reseller.id)
        return database

    async def close(self) -> None:
        if self._db is not None:
            await self._db.dispose()
            self._db = None

    def _file_for(self, day: date) -> Path:
        """Today's file, built if no worker built it yet (a blocking call: in a thread)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{_PREFIX}{day.isoformat()}.sqlite3"
        with open(self.folder / "build.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not path.exists():
                _build(path, day)
            self._remove_before(day - timedelta(days=1))
        return path

    def _remove_before(self, day: date) -> None:
        for old in self.folder.glob(f"{_PREFIX}*.sqlite3"):
            made = old.name.removeprefix(_PREFIX).removesuffix(".sqlite3")
            if made < day.isoformat():
                for end in ("", *_SIDE_FILES):
                    old.with_name(old.name + end).unlink(missing_ok=True)


def _build(path: Path, day: date) -> None:
    building = path.with_name(path.name + ".building")
    for end in ("", *_SIDE_FILES):
        building.with_name(building.name + end).unlink(missing_ok=True)
    db_module.upgrade(_url(building))

    async def fill() -> None:
        database = Database(_url(building))
        try:
            await fill_sandbox(database, today=day)
        finally:
            await database.dispose()

    asyncio.run(fill())
    # Everything into the file itself before it moves (its write-ahead log keeps its name).
    connection = sqlite3.connect(building)
    try:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        connection.execute("PRAGMA journal_mode=DELETE")
    finally:
        connection.close()
    building.replace(path)
