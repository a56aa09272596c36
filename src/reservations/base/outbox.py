"""Queueing emails: a message is written to the outbox in the caller's transaction and sent
later by ``reservations tick`` (see ``mailer.py``), so nothing waits on the mail server."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from reservations.base.models import OutboxMessage


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
    """Queue one message unless one with this ``dedup_key`` exists; True when queued."""
    existing = await session.scalar(
        select(OutboxMessage.id).where(OutboxMessage.dedup_key == dedup_key)
    )
    if existing is not None:
        return False
    session.add(
        OutboxMessage(
            dedup_key=dedup_key,
            to_address=to,
            subject=subject,
            text_body=text,
            html_body=html,
            attachments=list(attachments),
        )
    )
    return True
