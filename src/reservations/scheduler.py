"""The server runs the due work by itself (``due_work.run_due_work``, what ``reservations
tick`` runs) every ``RESERVATIONS_TICK_SECONDS``, so that a demo or a small office needs no cron:
decisions are taken at their time, emails leave within a minute, lapsed holds are tidied.

Every worker process runs a loop, but only the holder of the database lease ``due-work`` does
the work: a worker takes it when it is free or over, renews it while it runs, and gives it back
when it stops. So two workers (or a worker and a cron ``tick``, which takes no lease but whose
steps are safe to run at once) never send the same mail twice. A failed run is logged and the
loop goes on; stopping waits for a run in progress to finish, then cancels.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from datetime import timedelta

from reservations.base import clock
from reservations.base.infra import lease
from reservations.base.infra.db import Database
from reservations.due_work import run_due_work
from reservations.settings import Settings

logger = logging.getLogger(__name__)

LEASE = "due-work"
#: How long a stopping server waits for a run in progress before cancelling it.
STOP_PATIENCE_SECONDS = 20


class Scheduler:
    """One server process's loop over the due work."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        self.every = settings.tick_seconds
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.runs = 0
        self.failures = 0
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def lease_length(self) -> timedelta:
        """Long enough to cover a slow run, short enough that another worker takes over soon
        after this one dies."""
        return timedelta(seconds=max(2 * self.every, 30))

    def start(self) -> None:
        if self.every > 0 and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._loop(), name="due-work")

    async def stop(self) -> None:
        self._stopping.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), STOP_PATIENCE_SECONDS)
            except TimeoutError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
        with contextlib.suppress(Exception):
            await lease.give_back(self.db, LEASE, self.holder)

    async def run_once(self) -> bool:
        """Run the due work if this process holds the lease; True if it ran."""
        if not await lease.take(self.db, LEASE, self.holder, clock.now(), self.lease_length):
            return False
        self.runs += 1
        await run_due_work(self.db, self.settings)
        return True

    async def _loop(self) -> None:
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.every)
            if self._stopping.is_set():
                return
            try:
                await self.run_once()
            except Exception:
                self.failures += 1
                logger.exception("the due work failed; it runs again in %s s", self.every)
