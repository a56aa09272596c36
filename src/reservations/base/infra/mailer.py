"""Sending the outbox: ``deliver_due`` takes the messages whose time has come and hands them to a
transport (SMTP, or a folder of .eml files when no SMTP host is set, so the demo works offline).

Each message is claimed before it is sent: one short transaction pushes its ``send_after`` a
lease ahead (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite's writer lock serialises the
claims), so two ``tick``s at once never take the same message, and a message whose sender died
mid-send becomes due again when the lease runs out. Delivery is at least once: a crash between
the server's acceptance and the ``sent_at`` commit sends that message again, with the same
Message-ID. A failed attempt is retried after 1, 2, 4 ... minutes (at most 6 hours); after
``MAX_ATTEMPTS`` the message stays unsent with its last error, counted as abandoned. When the
server cannot be reached at all, the run stops at the first message instead of charging an
attempt to every one.

Links: the outbox holds placeholders for the secrets of its links, sealed beside them
(``secret_links``). The SMTP transport, made from the settings, holds the secret key and puts the
links back in each attempt; once the message is sent or abandoned its sealed secrets are deleted.
The folder of .eml files is a development sink that sits on the disk: it shows the placeholders,
not live links (the confirmation page shows the manage link; try an offer's claim link with an
SMTP catcher such as ``python -m aiosmtpd -n -l 127.0.0.1:1025``), except where the settings say
``mail_dir_live_links``: the demo does, so that its emails' links (an offer to claim, an
invitation to move) can be followed from ``var/mail`` on the demo's own machine.
"""

from __future__ import annotations

import asyncio
import email.policy
import hashlib
import logging
import os
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from pathlib import Path
from typing import Any

import aiosmtplib
from sqlalchemy import func, select, update

from reservations.base import clock
from reservations.base.infra import secret_links
from reservations.base.infra.db import Database
from reservations.base.models import OutboxMessage
from reservations.settings import Settings

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 10
FIRST_RETRY = timedelta(minutes=1)
LONGEST_RETRY = timedelta(hours=6)
#: How long a claimed message is left alone: longer than any send can take (SMTP timeouts).
LEASE = timedelta(minutes=10)
SMTP_TIMEOUT_SECONDS = 30.0
_ERROR_LENGTH = 500


@dataclass(frozen=True)
class Outgoing:
    """A message ready for a transport, with the outbox row it comes from."""

    id: int
    dedup_key: str
    recipient: str
    message: EmailMessage


class TransportUnavailable(Exception):
    """The transport cannot send anything now (no connection, login refused): the run stops
    rather than charge an attempt to every queued message."""


class Transport:
    """Where messages go. Connects lazily; ``disconnect`` ends a batch (it may send again).
    With a ``secret_key``, messages go with their live links; without, with placeholders."""

    mail_from: str
    secret_key: str | None = None

    async def send(self, outgoing: Outgoing) -> None:
        raise NotImplementedError

    async def disconnect(self) -> None:
        return None


class SmtpTransport(Transport):
    """An SMTP server (aiosmtplib), one connection per batch, opened again after a failure.

    STARTTLS is required when ``smtp_starttls`` is set; port 465 means TLS from the start."""

    def __init__(self, settings: Settings, *, timeout: float = SMTP_TIMEOUT_SECONDS) -> None:
        self.mail_from = settings.mail_from
        self.secret_key = settings.secret_key
        implicit_tls = settings.smtp_port == 465
        self._options: dict[str, Any] = {
            "hostname": settings.smtp_host,
            "port": settings.smtp_port,
            "username": settings.smtp_username or None,
            "password": settings.smtp_password or None,
            "use_tls": implicit_tls,
            "start_tls": settings.smtp_starttls and not implicit_tls,
            "timeout": timeout,
        }
        self._client: aiosmtplib.SMTP | None = None

    async def send(self, outgoing: Outgoing) -> None:
        client = await self._connected()
        try:
            await client.send_message(outgoing.message)
        except BaseException:
            self._drop()  # the session's state is unknown: start afresh for the next message
            raise

    async def _connected(self) -> aiosmtplib.SMTP:
        if self._client is not None and self._client.is_connected:
            return self._client
        self._client = aiosmtplib.SMTP(**self._options)
        try:
            await self._client.connect()  # and STARTTLS, and login, as configured
        except (aiosmtplib.SMTPException, OSError) as error:
            self._drop()
            raise TransportUnavailable(_short(error)) from error
        return self._client

    def _drop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()

    async def disconnect(self) -> None:
        client, self._client = self._client, None
        if client is None or not client.is_connected:
            return
        try:
            await client.quit()
        except (aiosmtplib.SMTPException, OSError):
            client.close()


class FolderTransport(Transport):
    """Each message becomes an RFC 5322 ``.eml`` file in a folder (the default without SMTP).

    The name comes from the outbox row, and the file appears whole (written aside, then
    renamed): sending a message again rewrites the same file. A development sink on the disk:
    the links show their placeholders (no ``secret_key``), so no file opens a booking; with
    ``secret_key`` (the demo) they are live."""

    def __init__(
        self,
        path: Path | str,
        *,
        mail_from: str = Settings.mail_from,
        secret_key: str | None = None,
    ) -> None:
        self.path = Path(path)
        self.mail_from = mail_from
        self.secret_key = secret_key

    async def send(self, outgoing: Outgoing) -> None:
        data = outgoing.message.as_bytes(policy=email.policy.SMTP)
        await asyncio.to_thread(self._write, self.file_name(outgoing), data)

    @staticmethod
    def file_name(outgoing: Outgoing) -> str:
        safe_key = re.sub(r"[^A-Za-z0-9._-]+", "_", outgoing.dedup_key).strip("._")[:100]
        return f"{outgoing.id:08d}-{safe_key or 'message'}.eml"

    def _write(self, name: str, data: bytes) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        final = self.path / name
        partial = self.path / f".{name}.partial"
        # With live links a file opens bookings: readable by this user only.
        mode = 0o600 if self.secret_key else 0o644
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(descriptor, "wb") as out:
            out.write(data)
        os.replace(partial, final)


def transport_for(settings: Settings) -> Transport:
    """SMTP when a host is configured, otherwise the mail folder."""
    if settings.smtp_host:
        return SmtpTransport(settings)
    live = settings.secret_key if settings.mail_dir_live_links else None
    return FolderTransport(settings.mail_dir, mail_from=settings.mail_from, secret_key=live)


@dataclass(frozen=True)
class DeliveryReport:
    """What one run did, and what is stuck."""

    sent: int = 0
    #: Attempts that failed in this run (each message will be retried unless it gave up).
    failed: int = 0
    #: Of those, messages that reached MAX_ATTEMPTS in this run.
    gave_up: int = 0
    #: Unsent messages that will not be tried again (all runs): someone should look at them.
    abandoned: int = 0


def retry_delay(attempts: int) -> timedelta:
    """The wait after the ``attempts``-th failed attempt: 1, 2, 4 ... minutes, at most 6 hours."""
    return min(FIRST_RETRY * 2 ** min(max(attempts - 1, 0), 20), LONGEST_RETRY)


async def deliver_due(
    db: Database, transport: Transport, *, now: datetime | None = None, batch: int = 50
) -> DeliveryReport:
    """Send up to ``batch`` due messages, oldest first, each claimed, sent and recorded on its
    own, then end the transport's connection."""

    def current() -> datetime:
        return now or clock.now()

    sent = failed = gave_up = 0
    try:
        for _ in range(batch):
            message = await claim_next(db, now=current())
            if message is None:
                break
            try:
                await _send(transport, message, current())
            except Exception as error:  # noqa: BLE001 - any failure is recorded and retried
                failed += 1
                gave_up += await _record_failure(db, message, _short(error), current())
                if isinstance(error, TransportUnavailable):
                    break  # the others stay due for the next run, their attempts untouched
                continue
            await _record_sent(db, message, current())
            sent += 1
    finally:
        await transport.disconnect()
    return DeliveryReport(sent, failed, gave_up, await count_abandoned(db))


async def claim_next(db: Database, *, now: datetime) -> OutboxMessage | None:
    """Take the oldest due message for one send: count the attempt and push ``send_after`` a
    lease ahead, in one statement; concurrent claimers skip a row being claimed."""
    oldest_due = (
        select(OutboxMessage.id)
        .where(
            OutboxMessage.sent_at.is_(None),
            OutboxMessage.send_after <= now,
            OutboxMessage.attempts < MAX_ATTEMPTS,
        )
        .order_by(OutboxMessage.send_after, OutboxMessage.id)
        .limit(1)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    async with db.writing() as session:
        return await session.scalar(
            update(OutboxMessage)
            .where(OutboxMessage.id == oldest_due)
            .values(send_after=now + LEASE, attempts=OutboxMessage.attempts + 1)
            .returning(OutboxMessage)
            .execution_options(synchronize_session=False)
        )


async def count_abandoned(db: Database) -> int:
    async with db.reading() as session:
        return (
            await session.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.sent_at.is_(None), OutboxMessage.attempts >= MAX_ATTEMPTS)
            )
            or 0
        )


async def _send(transport: Transport, message: OutboxMessage, now: datetime) -> None:
    await transport.send(
        Outgoing(
            id=message.id,
            dedup_key=message.dedup_key,
            recipient=message.to_address,
            message=build_message(
                message, mail_from=transport.mail_from, now=now, secret_key=transport.secret_key
            ),
        )
    )


def _short(error: Exception) -> str:
    return f"{type(error).__name__}: {error}"[:_ERROR_LENGTH]


async def _record_sent(db: Database, message: OutboxMessage, now: datetime) -> None:
    """Mark it sent and delete its sealed secrets. A message queued before links were sealed
    (live links in its texts) keeps its placeholders only, from now on."""
    values: dict[str, Any] = {"sent_at": now, "last_error": None, "link_secrets": None}
    if message.link_secrets is None:
        texts, attachments, secrets = secret_links.hide(
            (message.subject, message.text_body, message.html_body), message.attachments or ()
        )
        if secrets:
            values.update(
                subject=texts[0], text_body=texts[1], html_body=texts[2], attachments=attachments
            )
    async with db.writing() as session:
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == message.id, OutboxMessage.sent_at.is_(None))
            .values(**values)
            .execution_options(synchronize_session=False)
        )


async def _record_failure(db: Database, message: OutboxMessage, error: str, now: datetime) -> int:
    """Keep the error and set the next try; 1 when this was the last attempt (its sealed links
    are deleted then: it will not be sent)."""
    last = message.attempts >= MAX_ATTEMPTS
    values: dict[str, Any] = {
        "last_error": error,
        "send_after": now + retry_delay(message.attempts),
    }
    if last:
        values["link_secrets"] = None
    async with db.writing() as session:
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == message.id, OutboxMessage.sent_at.is_(None))
            .values(**values)
            .execution_options(synchronize_session=False)
        )
    if last:
        logger.error(
            "Mail %s (%s) abandoned after %d attempts: %s",
            message.id,
            message.dedup_key,
            message.attempts,
            error,
        )
        return 1
    logger.warning(
        "Mail %s (%s), attempt %d failed: %s",
        message.id,
        message.dedup_key,
        message.attempts,
        error,
    )
    return 0


def build_message(
    message: OutboxMessage, *, mail_from: str, now: datetime, secret_key: str | None = None
) -> EmailMessage:
    """The outbox row as a MIME message: text, an HTML alternative, then the attachments; with
    ``secret_key``, its links are live (``SealedUnderAnotherKey`` if they cannot be)."""
    (subject, text, html), attachments = live_parts(message, secret_key)
    mail = EmailMessage(policy=email.policy.SMTP)
    mail["From"] = mail_from
    mail["To"] = message.to_address
    mail["Subject"] = subject or ""
    mail["Date"] = format_datetime(now.astimezone(clock.OFFICE_TZ))
    mail["Message-ID"] = _message_id(message, mail_from)
    mail.set_content(text or "")
    if html:
        mail.add_alternative(html, subtype="html")
    for attachment in attachments:
        _attach(mail, attachment)
    return mail


def live_parts(
    message: OutboxMessage, secret_key: str | None
) -> tuple[list[str | None], list[dict[str, str]]]:
    """Subject, text and HTML, and the attachments, with the links put back when ``secret_key``
    is given and the message still has its sealed secrets."""
    texts = [message.subject, message.text_body, message.html_body]
    attachments = list(message.attachments or ())
    if secret_key is None or not message.link_secrets:
        return texts, attachments
    secrets = secret_links.unseal(secret_key, message.link_secrets, message.dedup_key)
    return secret_links.reveal(texts, attachments, secrets)


def _message_id(message: OutboxMessage, mail_from: str) -> str:
    """Stable per outbox row, so a message sent twice (at least once) can be recognised."""
    domain = parseaddr(mail_from)[1].rpartition("@")[2] or "localhost"
    digest = hashlib.sha256(message.dedup_key.encode()).hexdigest()[:16]
    return f"<outbox-{message.id}-{digest}@{domain}>"


def _attach(mail: EmailMessage, attachment: dict[str, str]) -> None:
    """A text attachment; ``content_type`` may carry parameters (``text/calendar; method=...``)."""
    kind, _, raw_params = attachment.get("content_type", "text/plain").partition(";")
    maintype, _, subtype = kind.strip().lower().partition("/")
    params = dict(_parameters(raw_params))
    params.pop("charset", None)  # set by the email package from the content
    if (maintype, subtype) == ("text", "calendar"):
        params.setdefault("method", "PUBLISH")
    filename = attachment.get("filename") or "attachment"
    content = attachment["content"]
    if maintype == "text":
        mail.add_attachment(
            content, subtype=subtype, filename=filename, params=params, cte="base64"
        )
    else:
        mail.add_attachment(
            content.encode("utf-8"),
            maintype=maintype,
            subtype=subtype or "octet-stream",
            filename=filename,
            params=params,
        )


def _parameters(raw: str) -> list[tuple[str, str]]:
    pairs = []
    for part in raw.split(";"):
        name, _, value = part.partition("=")
        if name.strip() and value.strip():
            pairs.append((name.strip().lower(), value.strip().strip('"')))
    return pairs
