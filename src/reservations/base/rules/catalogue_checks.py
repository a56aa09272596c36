"""What every catalogue form (providers, activities) is checked against: a problem of each
field at once (``InvalidFields``), and the audit entry's values before and after a change."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from reservations.base.errors import N_, DomainError
from reservations.base.models import Base

Row = TypeVar("Row", bound=Base)


class Required(DomainError):
    code = "required"
    title = N_("Missing value")
    message = N_("Please fill in this field.")


class TooLong(DomainError):
    code = "too_long"
    title = N_("Too long")
    message = N_("This is too long: at most {maximum} characters.")


class NotPositive(DomainError):
    code = "not_positive"
    title = N_("Too small")
    message = N_("Please enter a whole number of at least 1.")


class Negative(DomainError):
    code = "negative"
    title = N_("Negative number")
    message = N_("Please enter a whole number, 0 or more.")


class OutOfRange(DomainError):
    code = "out_of_range"
    title = N_("Out of range")
    message = N_("Please enter a number from {minimum} to {maximum}.")


class InvalidFields(DomainError):
    """A form with problems: every one of them, each with its field."""

    title = N_("Please check the form")
    message = N_("Please check the form: some values are missing or not right.")

    def __init__(self, problems: Sequence[DomainError]) -> None:
        self.problems = list(problems)
        super().__init__()


def same_name(one: str, other: str) -> bool:
    """Names that differ only by case are the same name (compared here: SQLite's lower()
    knows ASCII letters only)."""
    return one.strip().casefold() == other.strip().casefold()


def check(problems: list[DomainError]) -> None:
    if problems:
        raise InvalidFields(problems)


async def flush_or(session: AsyncSession, taken: DomainError) -> None:
    """Flush; a unique name taken meanwhile by someone else is that refusal, not a crash."""
    try:
        await session.flush()
    except IntegrityError as exc:
        raise InvalidFields([taken]) from exc


def changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Only what changed, before and after."""
    changed = [name for name in after if before.get(name) != after[name]]
    return {
        "before": {name: before.get(name) for name in changed},
        "after": {name: after[name] for name in changed},
    }


async def load(
    session: AsyncSession,
    model: type[Row],
    row_id: int,
    missing: DomainError,
    *,
    lock: bool = False,
) -> Row:
    """The provider or activity ``row_id`` (locked for the edit with ``lock``), or ``missing``."""
    query = select(model).where(model.id == row_id)  # type: ignore[attr-defined]
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    found = await session.scalar(query)
    if found is None:
        raise missing
    return found
