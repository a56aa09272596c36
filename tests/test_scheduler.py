"""The server runs the due work by itself, one process at a time: the database lease has one
holder whatever the concurrency, on each database; two workers' schedulers run the work once
per turn; and a real ``reservations serve`` sends a queued email to the mail folder with no
command typed."""

from __future__ import annotations

import asyncio
import os
import time
from datetime import timedelta
from pathlib import Path

import pytest

from reservations.base import clock
from reservations.base.infra import lease, outbox
from reservations.scheduler import LEASE, Scheduler
from reservations.settings import DEFAULT_TICK_SECONDS, Settings
from tests.live_server import live_server

MINUTE = timedelta(minutes=1)


async def test_one_holder_at_a_time(db):
    now = clock.now()
    won = await asyncio.gather(*(lease.take(db, "job", f"w{i}", now, MINUTE) for i in range(8)))
    assert sum(won) == 1
    holder = f"w{won.index(True)}"
    other = "w7" if holder != "w7" else "w6"
    assert await lease.take(db, "job", holder, now + timedelta(seconds=30), MINUTE)  # renews
    assert not await lease.take(db, "job", other, now + timedelta(seconds=80), MINUTE)
    assert await lease.take(db, "job", other, now + timedelta(seconds=91), MINUTE)  # it ran out
    await lease.give_back(db, "job", holder)  # not its own any more: nothing happens
    assert not await lease.take(db, "job", holder, now + timedelta(seconds=92), MINUTE)
    await lease.give_back(db, "job", other)
    assert await lease.take(db, "job", holder, now + timedelta(seconds=93), MINUTE)


async def test_two_workers_run_the_due_work_once(db, tmp_path):
    settings = Settings(
        database_url=db.url, secret_key="test", tick_seconds=60, mail_dir=str(tmp_path)
    )
    workers = [Scheduler(db, settings), Scheduler(db, settings)]
    ran = await asyncio.gather(*(worker.run_once() for worker in workers))
    assert sorted(ran) == [False, True]
    first = workers[ran.index(True)]
    assert await first.run_once()  # its own lease, renewed
    await first.stop()  # gives it back: the other worker takes over
    assert await workers[ran.index(False)].run_once()


async def test_the_tick_setting():
    assert Settings().tick_seconds == 0  # built in code: nothing runs by itself
    saved = os.environ.pop("RESERVATIONS_TICK_SECONDS", None)
    try:
        assert Settings.from_env().tick_seconds == DEFAULT_TICK_SECONDS == 60
        os.environ["RESERVATIONS_TICK_SECONDS"] = "0"
        assert Settings.from_env().tick_seconds == 0
        os.environ["RESERVATIONS_TICK_SECONDS"] = "-5"
        with pytest.raises(SystemExit, match="RESERVATIONS_TICK_SECONDS"):
            Settings.from_env()
    finally:
        os.environ.pop("RESERVATIONS_TICK_SECONDS", None)
        if saved is not None:
            os.environ["RESERVATIONS_TICK_SECONDS"] = saved


async def test_serve_sends_the_mail_by_itself(db, database_url, tmp_path: Path):
    mail_dir = tmp_path / "mail"
    async with db.writing() as session:
        await outbox.enqueue(
            session,
            dedup_key="test:1",
            to="anne@example.org",
            subject="Réservation confirmée",
            text="Bonjour Anne,",
        )
    environment = {"RESERVATIONS_TICK_SECONDS": "1", "RESERVATIONS_MAIL_DIR": str(mail_dir)}
    with live_server(database_url, env=environment) as server:
        deadline = time.monotonic() + 60  # a wait for the first turns, not a measure of speed
        while time.monotonic() < deadline and not list(mail_dir.glob("*.eml")):
            await asyncio.sleep(0.2)
        sent = list(mail_dir.glob("*.eml"))
        assert len(sent) == 1, server.output()
        assert "anne@example.org" in sent[0].read_text()
    # The server gave its lease back when it stopped: the next one may take it at once.
    assert await lease.take(db, LEASE, "next", clock.now(), MINUTE)
