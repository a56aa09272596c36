"""Queueing emails: a message is written to the outbox in the caller's transaction and sent
later by ``reservations tick`` (see ``mailer.py``), so nothing waits on the mail server.

No live secret is written: the secrets of the message's manage, waiting-list and farm links
are replaced by placeholders and sealed with the secret key (``secret_links``); the mailer puts
them back when it sends, and deletes them once sent."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import delete, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from reservations.base.infra import secret_links
from reservations.base.models import OutboxMessage

logger = logging.getLogger(__name__)

_INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}
#: A parked message waits for ``release`` (a confirmation waiting for its payment).
PARKED_UNTIL = datetime(9999, 1, 1, tzinfo=UTC)


async def enqueue(
    session: AsyncSession,
    *,
    dedup_key: str,
    to: str,
    subject: str,
    text: str,
    html: str | None = None,
    attachments: Sequence[dict[str, str]] = (),
    secret_key: str | None = None,
    parked: bool = False,
) -> bool:
    """Queue one message unless one with this ``dedup_key`` exists; True when queued.

    ``INSERT ... ON CONFLICT DO NOTHING``: two transactions queueing the same key at once end
    with one message, and neither fails (a failure would roll back the caller's change).
    A message with a secret link needs ``secret_key`` (the settings') to seal it; without one,
    such a link (in text someone typed, say) is masked for good. A ``parked`` message is
    kept unsent until ``release`` (or dropped by ``discard``)."""
    hidden, hidden_attachments, secrets = secret_links.hide((subject, text, html), attachments)
    sealed = None
    if secrets and secret_key:
        sealed = secret_links.seal(secret_key, secrets, dedup_key)
    elif secrets:  # e.g. an address typed into a note: never stored live, nor sent
        logger.warning("Mail %s: secret links without a key to seal them, masked", dedup_key)
    insert = _INSERTS[session.get_bind().dialect.name]
    statement = (
        insert(OutboxMessage)
        .values(
            dedup_key=dedup_key,
            to_address=to,
            subject=hidden[0],
            text_body=hidden[1],
            html_body=hidden[2],
            attachments=hidden_attachments,
            link_secrets=sealed,
            **({"send_after": PARKED_UNTIL} if parked else {}),
        )
        .on_conflict_do_nothing(index_elements=["dedup_key"])
        .returning(OutboxMessage.id)
    )
    return (await session.execute(statement)).first() is not None


async def release(session: AsyncSession, dedup_key: str, now: datetime) -> bool:
    """Send a parked message from now on; False if there is none parked under that key."""
    released = await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.dedup_key == dedup_key, OutboxMessage.send_after == PARKED_UNTIL)
        .values(send_after=now)
        .returning(OutboxMessage.id)
    )
    return released.first() is not None


async def discard(session: AsyncSession, *dedup_keys: str) -> None:
    """Drop parked messages that will never be true (holds that ended unpaid)."""
    if dedup_keys:
        await session.execute(
            delete(OutboxMessage).where(
                OutboxMessage.dedup_key.in_(dedup_keys), OutboxMessage.send_after == PARKED_UNTIL
            )
        )
