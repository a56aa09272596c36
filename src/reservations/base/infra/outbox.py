"""Queueing emails: a message is written to the outbox in the caller's transaction and sent
later by ``reservations tick`` (see ``mailer.py``), so nothing waits on the mail server.

No live secret is written: the secrets of the message's manage, waiting-list and farm links
are replaced by placeholders and sealed with the secret key (``secret_links``); the mailer puts
them back when it sends, and deletes them once sent."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from reservations.base.infra import secret_links
from reservations.base.models import OutboxMessage

logger = logging.getLogger(__name__)

_INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


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
) -> bool:
    """Queue one message unless one with this ``dedup_key`` exists; True when queued.

    ``INSERT ... ON CONFLICT DO NOTHING``: two transactions queueing the same key at once end
    with one message, and neither fails (a failure would roll back the caller's change).
    A message with a secret link needs ``secret_key`` (the settings') to seal it; without one,
    such a link (in text someone typed, say) is masked for good."""
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
        )
        .on_conflict_do_nothing(index_elements=["dedup_key"])
        .returning(OutboxMessage.id)
    )
    return (await session.execute(statement)).first() is not None
