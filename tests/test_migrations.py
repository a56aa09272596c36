"""The migrations build exactly the schema the models describe, and can be undone and redone."""

from __future__ import annotations

import asyncio
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import CheckConstraint, inspect
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool
from sqlalchemy.sql.elements import conv

from reservations.base.infra import db as db_module
from reservations.base.models import Base


def _differences(connection: Any) -> list[Any]:
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "render_as_batch": True}
    )
    return compare_metadata(context, Base.metadata)


def _schema(connection: Any) -> dict[str, Any]:
    """Tables, and the names of their CHECK constraints (autogenerate does not compare those)."""
    inspector = inspect(connection)
    return {
        table: sorted(c["name"] for c in inspector.get_check_constraints(table))
        for table in inspector.get_table_names()
        if table != "alembic_version"
    }


def _model_checks() -> dict[str, list[str]]:
    """The CHECK constraint names the models declare, as the naming convention renders them."""
    checks: dict[str, list[str]] = {}
    for table in Base.metadata.sorted_tables:
        names = [
            str(c.name) if isinstance(c.name, conv) else f"ck_{table.name}_{c.name}"
            for c in table.constraints
            if isinstance(c, CheckConstraint)
        ]
        checks[table.name] = sorted(names)
    return checks


async def _inspect(url: str, how: Any) -> Any:
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(how)
    finally:
        await engine.dispose()


async def test_migrated_schema_matches_the_models(database_url):
    assert await _inspect(database_url, _differences) == []


async def test_migrated_schema_has_every_check_constraint(database_url):
    schema = await _inspect(database_url, _schema)
    assert schema == _model_checks()
    assert "ck_slot_booked_within_capacity" in schema["slot"]


async def test_downgrade_to_base_then_upgrade_again(database_url):
    config = db_module.alembic_config(database_url)
    await asyncio.to_thread(command.downgrade, config, "base")
    assert await _inspect(database_url, _schema) == {}

    db_module.upgrade(database_url)  # runs in a worker thread under a running loop

    assert await _inspect(database_url, _differences) == []
    assert await _inspect(database_url, _schema) == _model_checks()
