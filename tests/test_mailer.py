"""Mail from the outbox, through a real SMTP server on loopback (aiosmtpd) and a real folder, on
each database: content, outages and retries, giving up, leases, concurrent runs, ``tick``."""

from __future__ import annotations

import asyncio
import email
import email.policy
import logging
import os
import socket
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope
from icalendar import Calendar
from sqlalchemy import func, select

from reservations.base import clock
from reservations.base.infra import outbox
from reservations.base.infra.db import Database
from reservations.base.infra.mailer import (
    LEASE,
    MAX_ATTEMPTS,
    FolderTransport,
    SmtpTransport,
    claim_next,
    deliver_due,
    transport_for,
)
from reservations.base.models import OutboxMessage
from reservations.notices.ics import as_attachment, booking_uid, calendar_for_visit
from reservations.settings import Settings

OFFICE = "Office de tourisme <office@example.org>"
VISIT_START = datetime(2026, 7, 12, 8, 0, tzinfo=UTC)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Collector:
    """An aiosmtpd handler keeping what it receives; ``delay`` slows each DATA down."""

    envelopes: list[Envelope] = field(default_factory=list)
    delay: float = 0.0
    logins: list[bytes] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Envelope) -> str:
        if self.delay:
            await asyncio.sleep(self.delay)
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"

    def messages(self) -> list[EmailMessage]:
        return [
            email.message_from_bytes(e.original_content or e.content, policy=email.policy.default)  # type: ignore[misc]
            for e in self.envelopes
        ]


class SmtpServer:
    """A real SMTP server on a loopback port that can go down and come back on the same port."""

    def __init__(self, **smtp_options: Any) -> None:
        self.port = free_port()
        self.handler = Collector()
        self.smtp_options = smtp_options
        self._controller: Controller | None = None

    def start(self) -> None:
        self._controller = Controller(
            self.handler, hostname="127.0.0.1", port=self.port, **self.smtp_options
        )
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def settings(self, **overrides: Any) -> Settings:
        options: dict[str, Any] = {
            "smtp_host": "127.0.0.1",
            "smtp_port": self.port,
            "smtp_starttls": False,
            "mail_from": OFFICE,
        }
        options.update(overrides)
        return Settings(**options)


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


def ics_text() -> dict[str, str]:
    calendar = calendar_for_visit(
        uid=booking_uid("K7QM-42ZD"),
        title="Visite de la chèvrerie",
        description="Traite des chèvres, dégustation.",
        location="Mas de la Barque, Vialas",
        starts_at=VISIT_START,
        ends_at=VISIT_START + timedelta(hours=2),
    )
    return as_attachment(calendar, "visite.ics")


async def enqueue(db: Database, key: str, **fields: Any) -> bool:
    values: dict[str, Any] = {
        "to": "anne@example.org",
        "subject": f"Réservation confirmée ({key})",
        "text": f"Bonjour,\nvotre réservation {key} est confirmée.\n",
    }
    values.update(fields)
    async with db.writing() as session:
        return await outbox.enqueue(session, dedup_key=key, **values)


async def rows(db: Database) -> list[OutboxMessage]:
    async with db.reading() as session:
        return list(await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def soon() -> datetime:
    """A 'now' just after the messages were queued (their send_after is the real clock)."""
    return clock.now() + timedelta(seconds=1)


def body_lines(part: EmailMessage) -> list[str]:
    return str(part.get_content()).splitlines()


async def test_delivers_text_html_and_calendar(db: Database, smtp: SmtpServer) -> None:
    text = "Bonjour Anne,\nvotre visite du 12 juillet à 10:00 est confirmée.\n"
    html = "<p>Bonjour Anne,</p><p>votre visite du <b>12 juillet</b> est confirmée.</p>"
    attachment = ics_text()
    assert await enqueue(
        db,
        "booking-confirmed:1",
        to="Anne Müller <anne@example.org>",
        subject="Votre réservation : Visite de la chèvrerie",
        text=text,
        html=html,
        attachments=[attachment],
    )
    now = soon()
    report = await deliver_due(db, SmtpTransport(smtp.settings()), now=now)

    assert (report.sent, report.failed, report.abandoned) == (1, 0, 0)
    [envelope] = smtp.handler.envelopes
    assert envelope.mail_from == "office@example.org"
    assert envelope.rcpt_tos == ["anne@example.org"]
    [message] = smtp.handler.messages()
    assert message["Subject"] == "Votre réservation : Visite de la chèvrerie"
    assert message["To"].addresses[0].display_name == "Anne Müller"
    assert message["To"].addresses[0].addr_spec == "anne@example.org"
    assert message["From"].addresses[0].addr_spec == "office@example.org"
    assert message["Message-ID"] and message["Date"]
    assert body_lines(message.get_body(("plain",))) == text.splitlines()
    assert message.get_body(("html",)).get_content().strip() == html
    [part] = list(message.iter_attachments())
    assert part.get_content_type() == "text/calendar"
    assert part.get_param("method") == "PUBLISH"
    assert part.get_filename() == "visite.ics"
    raw = part.get_payload(decode=True)
    assert raw == attachment["content"].encode("utf-8"), "the .ics arrives byte for byte (CRLF)"
    [event] = Calendar.from_ical(raw).walk("VEVENT")
    assert str(event["UID"]) == "booking-K7QM-42ZD@reservations"
    assert event.decoded("DTSTART") == VISIT_START

    [row] = await rows(db)
    assert (row.sent_at, row.attempts, row.last_error) == (now, 1, None)


async def test_outage_keeps_the_message_then_delivers_it_once(
    db: Database, smtp: SmtpServer
) -> None:
    smtp.stop()
    await enqueue(db, "booking-confirmed:2")
    transport = SmtpTransport(smtp.settings())
    down_at = soon()

    report = await deliver_due(db, transport, now=down_at)
    assert (report.sent, report.failed, report.gave_up) == (0, 1, 0)
    [row] = await rows(db)
    assert row.sent_at is None
    assert row.attempts == 1
    assert row.last_error and len(row.last_error) <= 500
    assert row.send_after == down_at + timedelta(minutes=1)

    smtp.start()
    early = await deliver_due(db, transport, now=down_at + timedelta(seconds=59))
    assert (early.sent, early.failed) == (0, 0)
    assert smtp.handler.envelopes == []

    back = await deliver_due(db, transport, now=down_at + timedelta(seconds=61))
    assert (back.sent, back.failed) == (1, 0)
    again = await deliver_due(db, transport, now=down_at + timedelta(days=1))
    assert (again.sent, again.failed) == (0, 0)
    assert [m["Subject"] for m in smtp.handler.messages()] == [
        "Réservation confirmée (booking-confirmed:2)"
    ]
    [row] = await rows(db)
    assert row.sent_at == down_at + timedelta(seconds=61)
    assert (row.attempts, row.last_error) == (2, None)


async def test_an_outage_charges_one_attempt_per_run_not_one_per_message(
    db: Database, smtp: SmtpServer
) -> None:
    smtp.stop()
    for n in range(3):
        await enqueue(db, f"booking-confirmed:{n}", subject=f"message {n}")
    transport = SmtpTransport(smtp.settings())
    down_at = soon()

    report = await deliver_due(db, transport, now=down_at)

    assert (report.sent, report.failed) == (0, 1)
    assert [row.attempts for row in await rows(db)] == [1, 0, 0]
    smtp.start()
    report = await deliver_due(db, transport, now=down_at + timedelta(minutes=1))
    assert (report.sent, report.failed) == (3, 0)
    assert sorted(m["Subject"] for m in smtp.handler.messages()) == [
        f"message {n}" for n in range(3)
    ]


async def test_backoff_doubles_up_to_six_hours_then_gives_up(
    db: Database, smtp: SmtpServer, caplog: pytest.LogCaptureFixture
) -> None:
    smtp.stop()
    await enqueue(db, "slot-cancelled:3:anne")
    transport = SmtpTransport(smtp.settings())
    now = soon()
    waits = []
    for attempt in range(1, 11):
        report = await deliver_due(db, transport, now=now)
        assert report.failed == 1, attempt
        [row] = await rows(db)
        assert row.attempts == attempt
        waits.append(row.send_after - now)
        now = row.send_after
    minutes = [1, 2, 4, 8, 16, 32, 64, 128, 256, 360]
    assert waits == [timedelta(minutes=m) for m in minutes]
    assert (report.gave_up, report.abandoned) == (1, 1)
    assert any(r.levelno == logging.ERROR and "abandoned" in r.message for r in caplog.records)

    smtp.start()
    later = await deliver_due(db, transport, now=now + timedelta(days=30))
    assert (later.sent, later.failed, later.gave_up, later.abandoned) == (0, 0, 0, 1)
    assert smtp.handler.envelopes == []
    [row] = await rows(db)
    assert row.sent_at is None and row.attempts == MAX_ATTEMPTS == 10 and row.last_error


async def test_one_message_per_dedup_key(db: Database, smtp: SmtpServer) -> None:
    assert await enqueue(db, "booking-confirmed:4", subject="first")
    assert not await enqueue(db, "booking-confirmed:4", subject="second")
    async with db.writing() as session:
        first = await outbox.enqueue(
            session, dedup_key="k5", to="a@example.org", subject="a", text=""
        )
        second = await outbox.enqueue(
            session, dedup_key="k5", to="a@example.org", subject="b", text=""
        )
    assert (first, second) == (True, False)
    async with db.reading() as session:
        assert await session.scalar(select(func.count()).select_from(OutboxMessage)) == 2

    report = await deliver_due(db, SmtpTransport(smtp.settings()), now=soon())
    assert report.sent == 2
    assert sorted(m["Subject"] for m in smtp.handler.messages()) == ["a", "first"]


async def test_concurrent_runs_send_each_message_once(db: Database, smtp: SmtpServer) -> None:
    keys = [f"booking-confirmed:{n}" for n in range(12)]
    for key in keys:
        await enqueue(db, key)
    smtp.handler.delay = 0.05  # sends overlap with the other run's claims
    now = soon()

    first, second = await asyncio.gather(
        deliver_due(db, SmtpTransport(smtp.settings()), now=now),
        deliver_due(db, SmtpTransport(smtp.settings()), now=now),
    )

    assert first.sent + second.sent == 12
    assert first.sent > 0 and second.sent > 0, "both runs worked at the same time"
    subjects = sorted(m["Subject"] for m in smtp.handler.messages())
    assert subjects == sorted(f"Réservation confirmée ({key})" for key in keys)
    assert all(row.sent_at == now and row.attempts == 1 for row in await rows(db))


async def test_a_claim_whose_sender_died_is_retried_after_the_lease(
    db: Database, smtp: SmtpServer
) -> None:
    await enqueue(db, "booking-confirmed:6")
    claimed_at = soon()
    assert await claim_next(db, now=claimed_at) is not None  # ... and the process dies here
    transport = SmtpTransport(smtp.settings())

    during = await deliver_due(db, transport, now=claimed_at + LEASE - timedelta(seconds=1))
    assert during.sent == 0 and smtp.handler.envelopes == []
    after = await deliver_due(db, transport, now=claimed_at + LEASE)
    assert after.sent == 1 and len(smtp.handler.envelopes) == 1
    [row] = await rows(db)
    assert row.attempts == 2 and row.sent_at == claimed_at + LEASE


async def test_oldest_first_and_bounded_batch(db: Database, smtp: SmtpServer) -> None:
    for n in range(5):
        await enqueue(db, f"m{n}", subject=f"message {n}")
    transport = SmtpTransport(smtp.settings())
    now = soon()
    assert (await deliver_due(db, transport, now=now, batch=3)).sent == 3
    assert (await deliver_due(db, transport, now=now, batch=3)).sent == 2
    assert [m["Subject"] for m in smtp.handler.messages()] == [f"message {n}" for n in range(5)]


async def test_starttls_when_required_is_never_skipped(db: Database, smtp: SmtpServer) -> None:
    await enqueue(db, "booking-confirmed:7")
    report = await deliver_due(
        db, SmtpTransport(smtp.settings(smtp_starttls=True)), now=soon()
    )  # this server offers no STARTTLS: the message must not go out in clear
    assert (report.sent, report.failed) == (0, 1)
    assert smtp.handler.envelopes == []
    [row] = await rows(db)
    assert "STARTTLS" in (row.last_error or "").upper()


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
async def test_logs_in_with_the_configured_account(db: Database) -> None:
    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        good = (data.login, data.password) == (b"office", b"s3cret")
        return AuthResult(success=good, handled=False)  # handled=False: aiosmtpd answers 535

    server = SmtpServer(auth_required=True, auth_require_tls=False, authenticator=authenticator)
    server.start()
    try:
        await enqueue(db, "booking-confirmed:8")
        await enqueue(db, "booking-confirmed:9")
        now = soon()
        wrong = SmtpTransport(server.settings(smtp_username="office", smtp_password="nope"))
        report = await deliver_due(db, wrong, now=now, batch=1)
        assert (report.sent, report.failed) == (0, 1)
        assert "535" in ((await rows(db))[0].last_error or "")
        right = SmtpTransport(server.settings(smtp_username="office", smtp_password="s3cret"))
        report = await deliver_due(db, right, now=now)
        assert report.sent == 1  # the other one waits for its retry
        report = await deliver_due(db, right, now=now + timedelta(minutes=1))
        assert report.sent == 1
        assert len(server.handler.envelopes) == 2
    finally:
        server.stop()


async def test_folder_transport_writes_parseable_eml_files(db: Database, tmp_path: Path) -> None:
    attachment = ics_text()
    await enqueue(
        db, "booking-confirmed:10/../../etc passwd", html="<p>Bonjour</p>", attachments=[attachment]
    )
    await enqueue(db, "waitlist-offer:11:anne@example.org", subject="Une place s'est libérée")
    folder = tmp_path / "mail"

    report = await deliver_due(db, FolderTransport(folder, mail_from=OFFICE), now=soon())

    assert report.sent == 2
    ids = [row.id for row in await rows(db)]
    files = sorted(folder.iterdir())
    assert [f.name for f in files] == [
        f"{ids[0]:08d}-booking-confirmed_10_.._.._etc_passwd.eml",
        f"{ids[1]:08d}-waitlist-offer_11_anne_example.org.eml",
    ]
    first, second = (f.read_bytes() for f in files)
    assert first.count(b"\n") == first.count(b"\r\n"), "RFC 5322 lines end with CRLF"
    parsed = email.message_from_bytes(first, policy=email.policy.default)
    assert parsed["Subject"] == "Réservation confirmée (booking-confirmed:10/../../etc passwd)"
    assert parsed["From"].addresses[0].addr_spec == "office@example.org"
    assert parsed.get_body(("html",)).get_content().strip() == "<p>Bonjour</p>"
    [part] = list(parsed.iter_attachments())
    assert part.get_payload(decode=True) == attachment["content"].encode("utf-8")
    assert email.message_from_bytes(second, policy=email.policy.default)["Subject"] == (
        "Une place s'est libérée"
    )


def test_transport_follows_the_settings(tmp_path: Path) -> None:
    folder = transport_for(Settings(mail_dir=str(tmp_path), mail_from=OFFICE))
    assert isinstance(folder, FolderTransport) and folder.path == tmp_path
    assert folder.mail_from == OFFICE
    assert isinstance(transport_for(Settings(smtp_host="mail.example.org")), SmtpTransport)


async def run_tick(database_url: str, mail_dir: Path) -> str:
    environment = dict(
        os.environ, RESERVATIONS_DATABASE_URL=database_url, RESERVATIONS_MAIL_DIR=str(mail_dir)
    )
    environment.pop("RESERVATIONS_SMTP_HOST", None)
    process = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "reservations"),
        "tick",
        env=environment,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    return out.decode()


async def test_tick_sends_due_mail_once(db: Database, database_url: str, tmp_path: Path) -> None:
    await enqueue(db, "booking-confirmed:12")
    mail_dir = tmp_path / "mail"

    first = await run_tick(database_url, mail_dir)
    second = await run_tick(database_url, mail_dir)

    assert "mail: 1 sent, 0 failed" in first
    assert "mail: 0 sent, 0 failed" in second
    assert len(list(mail_dir.glob("*.eml"))) == 1
    [row] = await rows(db)
    assert row.sent_at is not None


async def test_the_mail_folder_has_live_links_only_when_the_settings_say_so(
    db: Database, tmp_path: Path
) -> None:
    """Without ``mail_dir_live_links`` the folder gets no key, so its files show placeholders
    (``test_secrets_at_rest`` reads them); with it (the demo) a file has the link a visitor
    follows."""
    secret = "S" * 43
    link = f"https://visites.example/move/{secret}"
    async with db.writing() as session:
        await outbox.enqueue(
            session,
            dedup_key="move-invitation:1",
            to="anne@example.org",
            subject="Passer à une date qui a lieu",
            text=f"Pour changer de date : {link}\n",
            secret_key="test",
        )
    assert secret not in (await rows(db))[0].text_body  # queued with its placeholder
    folder = tmp_path / "mail"

    def settings(live: bool) -> Settings:
        return Settings(
            database_url=db.url, secret_key="test", mail_dir=str(folder), mail_dir_live_links=live
        )

    assert transport_for(settings(False)).secret_key is None
    report = await deliver_due(db, transport_for(settings(True)), now=soon())
    assert report.sent == 1
    [written] = folder.iterdir()
    parsed = email.message_from_bytes(written.read_bytes(), policy=email.policy.default)
    assert link in parsed.get_body(("plain",)).get_content()
    assert written.stat().st_mode & 0o077 == 0  # a file that opens a booking: its owner's only
