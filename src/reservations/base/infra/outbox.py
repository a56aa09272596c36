"""Queueing emails: a message is written to the outbox in the caller's transaction and sent
later by ``reservations tick`` (see ``mailer.py``), so nothing waits on the mail server."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from reservations.base.models import OutboxMessage

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
) -> bool:
    """Queue one message unless one with this ``dedup_key`` exists; True when queued.

    ``INSERT ... ON CONFLICT DO NOTHING``: two transactions queueing the same key at once end
    with one message, and neither fails (a failure would roll back the caller's change)."""
    insert = _INSERTS[session.get_bind().dialect.name]
    statement = (
        insert(OutboxMessage)
        .values(
            dedup_key=dedup_key,
            to_address=to,
            subject=subject,
            text_body=text,
            html_body=html,
            attachments=list(attachments),
        )
        .on_conflict_do_nothing(index_elements=["dedup_key"])
        .returning(OutboxMessage.id)
    )
    return (await session.execute(statement)).first() is not None
