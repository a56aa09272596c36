"""The providers' private links: a farmer opens the day sheet and the calendar feed with a secret
link instead of a password.

The secret is 256 random bits shown once, when the link is issued; only its SHA-256 is stored,
so a leaked database opens no farm. Issuing a new link (rotating) replaces the hash: the old link
stops working at once.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, update

from reservations.base import clock
from reservations.base.errors import LinkAlreadyIssued, ProviderNotFound
from reservations.base.infra import tokens
from reservations.base.infra.db import Database
from reservations.base.models import Provider
from reservations.base.rules import audit


@dataclass(frozen=True)
class ProviderRef:
    """Who a private link belongs to: everything reached through it is scoped to ``id``."""

    id: int
    name: str
    village: str
    email: str | None
    languages: list[str]


async def issue_link(
    db: Database, provider_name: str, *, rotate: bool = False, actor: str = "cli"
) -> str:
    """Give the provider a new secret and return it (the only time it is seen).

    Without ``rotate``, a provider that already has a link keeps it and ``LinkAlreadyIssued`` is
    raised: the secret cannot be shown again, and replacing it silently would lock out a farmer
    who uses it."""
    secret = tokens.new_token()
    now = clock.now()
    async with db.writing() as session:
        provider = await session.scalar(
            select(Provider).where(Provider.name == provider_name).with_for_update()
        )
        if provider is None:
            raise ProviderNotFound(name=provider_name)
        if provider.access_token_hash is not None and not rotate:
            raise LinkAlreadyIssued(name=provider_name)
        rotated = provider.access_token_hash is not None
        await session.execute(
            update(Provider)
            .where(Provider.id == provider.id)
            .values(access_token_hash=tokens.digest(secret), access_link_issued_at=now)
            .execution_options(synchronize_session=False)
        )
        audit.record(
            session,
            actor,
            "provider.link_rotated" if rotated else "provider.link_issued",
            provider_id=provider.id,
        )
    return secret


async def provider_for_token(db: Database, secret: str) -> ProviderRef | None:
    """The provider whose link carries this secret, or None (unknown, rotated or malformed)."""
    if not secret or len(secret) > 100:
        return None
    async with db.reading() as session:
        row = (
            await session.execute(
                select(
                    Provider.id,
                    Provider.name,
                    Provider.village,
                    Provider.email,
                    Provider.languages,
                ).where(Provider.access_token_hash == tokens.digest(secret))
            )
        ).first()
    if row is None:
        return None
    return ProviderRef(
        id=row.id, name=row.name, village=row.village, email=row.email, languages=row.languages
    )
