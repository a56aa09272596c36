"""Resellers and their API keys: a partner site or platform books our visits through the OCTO
API with a key of its own.

A key is shown once, when it is made; only its SHA-256 is stored, so a leaked database sells
nothing. A test key (``test_mode``) reaches the sandbox, never the real places. Revoking a key
stops it at once; the reseller's bookings stay (they are people coming to a farm).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import insert, select, update

from reservations.base import clock
from reservations.base.errors import (
    ResellerAlreadyExists,
    ResellerAlreadyRevoked,
    ResellerNotFound,
)
from reservations.base.infra import tokens
from reservations.base.infra.db import Database
from reservations.base.models import AuditEntry, Reseller

#: What a key starts with: a person reading a configuration file sees which kind it is.
LIVE_PREFIX, TEST_PREFIX = "rsv_live_", "rsv_test_"


@dataclass(frozen=True)
class ResellerRef:
    """Who a key belongs to: every booking it reads or writes is scoped to ``id``."""

    id: int
    name: str
    test_mode: bool


async def add_reseller(
    db: Database, name: str, *, test_mode: bool = False, actor: str = "cli"
) -> tuple[ResellerRef, str]:
    """Make a reseller and its key; the key is returned once and never again. A reseller whose
    key was revoked gets a new one (and its old bookings stay its own)."""
    name = name.strip()
    key = (TEST_PREFIX if test_mode else LIVE_PREFIX) + tokens.new_token()
    values = {"key_hash": tokens.digest(key), "test_mode": test_mode, "created_at": clock.now()}
    async with db.writing() as session:
        existing = (
            await session.execute(
                select(Reseller.id, Reseller.revoked_at)
                .where(Reseller.name == name)
                .with_for_update()
            )
        ).first()
        if existing is not None and existing.revoked_at is None:
            raise ResellerAlreadyExists(name=name)
        if existing is None:
            reseller_id = await session.scalar(
                insert(Reseller).values(name=name, **values).returning(Reseller.id)
            )
        else:
            reseller_id = existing.id
            await session.execute(
                update(Reseller).where(Reseller.id == existing.id).values(revoked_at=None, **values)
            )
        session.add(
            AuditEntry(
                actor=actor,
                action="reseller.key_issued",
                data={"reseller": name, "test_mode": test_mode, "again": existing is not None},
            )
        )
    assert reseller_id is not None
    return ResellerRef(reseller_id, name, test_mode), key


async def revoke_reseller(
    db: Database, name: str | None = None, *, reseller_id: int | None = None, actor: str = "cli"
) -> str:
    """Stop the key of the reseller named ``name`` (or numbered ``reseller_id``) at once; its
    bookings stay, and ``add_reseller`` gives it a new key. Returns its name."""
    which = Reseller.name == name if reseller_id is None else Reseller.id == reseller_id
    async with db.writing() as session:
        revoked = await session.scalar(
            update(Reseller)
            .where(which, Reseller.revoked_at.is_(None))
            .values(revoked_at=clock.now())
            .returning(Reseller.name)
        )
        if revoked is None:
            known = await session.scalar(select(Reseller.name).where(which))
            if known is not None:
                raise ResellerAlreadyRevoked(name=known)
            raise ResellerNotFound(name=name or str(reseller_id))
        session.add(AuditEntry(actor=actor, action="reseller.revoked", data={"reseller": revoked}))
    return revoked


async def reseller_of_key(db: Database, key: str) -> ResellerRef | None:
    """The reseller a key belongs to, None for an unknown or revoked key."""
    async with db.reading_connection() as connection:
        row = (
            await connection.execute(
                select(Reseller.id, Reseller.name, Reseller.test_mode).where(
                    Reseller.key_hash == tokens.digest(key), Reseller.revoked_at.is_(None)
                )
            )
        ).first()
    return None if row is None else ResellerRef(row.id, row.name, row.test_mode)


async def mirror_reseller(db: Database, reseller: ResellerRef) -> None:
    """Make the reseller known to another database (the sandbox), under the same id, so that
    its bookings there say who made them; a key that opens nothing there."""
    async with db.writing() as session:
        known = await session.scalar(select(Reseller.id).where(Reseller.id == reseller.id))
        if known is None:
            await session.execute(
                insert(Reseller).values(
                    id=reseller.id,
                    name=reseller.name,
                    key_hash=f"mirror-{reseller.id}",
                    test_mode=reseller.test_mode,
                    created_at=clock.now(),
                )
            )
