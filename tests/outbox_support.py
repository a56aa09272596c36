"""An outbox message as it goes to the mail server: its links put back with the secret key (the
outbox itself holds placeholders, see ``infra.secret_links``)."""

from __future__ import annotations

from dataclasses import dataclass

from reservations.base.infra.mailer import live_parts
from reservations.base.models import OutboxMessage


@dataclass(frozen=True)
class Sent:
    subject: str
    text: str
    html: str
    attachments: list[dict[str, str]]


def as_sent(message: OutboxMessage, secret_key: str = "test") -> Sent:
    (subject, text, html), attachments = live_parts(message, secret_key)
    return Sent(subject or "", text or "", html or "", attachments)
