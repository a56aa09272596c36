"""Room on a slot has one rule (``base/rules/room.py``): no SQL outside it compares or counts
with a slot's capacity, and the rule's condition and its explanation never disagree, on each
database."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import update

from reservations.base import clock
from reservations.base.errors import (
    BookingClosed,
    CannotGrow,
    ChangesClosed,
    DailyCapReached,
    NotEnoughPlaces,
    SlotCancelled,
    SlotFull,
    SlotNotFound,
)
from reservations.base.models import Provider, Slot, SlotStatus
from reservations.base.rules import places, room
from reservations.settings import PROJECT_ROOT
from tests.factories import make_activity, make_slot

SOURCE = PROJECT_ROOT / "src" / "reservations"
RULE = SOURCE / "base" / "rules" / "room.py"
#: SQL text that compares with, adds to or subtracts from ``capacity``.
_SQL_TEXT = re.compile(r"\bcapacity\b\s*(?:[<>!=]=?|[-+])|(?:[<>=]=?|[-+])\s*\bcapacity\b")


def _is_capacity_column(node: ast.AST) -> bool:
    """``Slot.capacity`` (a mapped class's column), ``table.c.capacity``, or
    ``column("capacity")``; not ``slot.capacity``, a value already read."""
    if isinstance(node, ast.Attribute) and node.attr == "capacity":
        owner = node.value
        return (isinstance(owner, ast.Name) and owner.id[:1].isupper()) or (
            isinstance(owner, ast.Attribute) and owner.attr == "c"
        )
    if isinstance(node, ast.Call):
        called = node.func
        name = called.attr if isinstance(called, ast.Attribute) else getattr(called, "id", "")
        return name in {"column", "literal_column"} and any(
            isinstance(arg, ast.Constant) and arg.value == "capacity" for arg in node.args
        )
    return False


def _terms(node: ast.AST) -> Iterator[ast.AST]:
    """The operands of a comparison or arithmetic, through nested ones (not into calls)."""
    if isinstance(node, ast.BinOp):
        yield from _terms(node.left)
        yield from _terms(node.right)
    elif isinstance(node, ast.Compare):
        for operand in (node.left, *node.comparators):
            yield from _terms(operand)
    elif isinstance(node, ast.UnaryOp):
        yield from _terms(node.operand)
    else:
        yield node


def _guard_texts(tree: ast.AST) -> set[int]:
    """The ids of the strings given to ``CheckConstraint``: the schema's own guard."""
    return {
        id(arg)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "CheckConstraint"
        for arg in node.args
    }


def _is_sql_with_capacity(node: ast.AST, skipped: set[int]) -> bool:
    if isinstance(node, (ast.Compare, ast.BinOp)):
        return any(_is_capacity_column(term) for term in _terms(node))
    return (
        isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in skipped
        and _SQL_TEXT.search(node.value) is not None
    )


def violations(source: str) -> list[int]:
    """Lines of ``source`` with SQL that compares or counts with a slot's capacity."""
    tree = ast.parse(source)
    docstrings = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Expr)}
    skipped = _guard_texts(tree) | docstrings
    found = [node for node in ast.walk(tree) if _is_sql_with_capacity(node, skipped)]
    return sorted({node.lineno for node in found})  # type: ignore[attr-defined]


def test_only_the_room_rule_compares_or_counts_with_capacity_in_sql() -> None:
    found = {
        str(path.relative_to(SOURCE)): lines
        for path in sorted(SOURCE.rglob("*.py"))
        if path != RULE and (lines := violations(path.read_text()))
    }
    assert found == {}, f"use reservations.base.rules.room instead: {found}"


def test_the_rule_itself_is_seen_by_the_scan() -> None:
    assert violations(RULE.read_text())


@pytest.mark.parametrize(
    "line",
    [
        "q = select(Slot).where(Slot.booked < Slot.capacity)",
        "q = update(Slot).where(Slot.booked + n <= Slot.capacity)",
        "q = select(Slot.capacity - Slot.booked - held)",
        "q = select(func.greatest(slot.c.capacity - slot.c.booked, 0))",
        "q = select(slot).where(-slot.c.booked > -slot.c.capacity)",
        "q = select(slot).where(literal_column('capacity') > 3)",
        "q = text('SELECT id FROM slot WHERE booked + :n <= capacity')",
    ],
)
def test_the_scan_finds_capacity_in_sql(line: str) -> None:
    assert violations(line) == [1]


@pytest.mark.parametrize(
    "line",
    [
        "q = select(Slot.capacity, Slot.booked)",  # shown, not compared
        "q = select(func.sum(facts.c.capacity))",
        "left = slot.capacity - slot.booked",  # a value already read
        "CheckConstraint('booked >= 0 AND booked <= capacity', name='booked_within_capacity')",
        "'''A docstring: booked + n <= capacity.'''",
        "x = Activity.default_capacity < 3",
    ],
)
def test_the_scan_leaves_reads_and_values_alone(line: str) -> None:
    assert violations(line) == []


# --- The condition and its explanation agree --------------------------------------------------


async def _slot(db, *, booked=0, cap=None, **values):  # type: ignore[no-untyped-def]
    """A slot of 6 places with ``booked`` taken, its farm capped at ``cap`` people a day."""
    activity = await make_activity(db, capacity=6)
    slot = await make_slot(db, activity=activity, capacity=6)
    async with db.writing() as session:
        await session.execute(
            update(Slot).where(Slot.id == slot.id).values(booked=booked, **values)
        )
        await session.execute(
            update(Provider).where(Provider.id == activity.provider_id).values(daily_cap=cap)
        )
    return slot


CASES = {
    "room": ({}, 3, None),
    "not enough places": ({"booked": 4}, 3, NotEnoughPlaces),
    "full": ({"booked": 6}, 1, SlotFull),
    "cancelled": ({"status": SlotStatus.CANCELLED}, 1, SlotCancelled),
    "held": ({"status": SlotStatus.HELD}, 1, BookingClosed),
    "daily cap reached": ({"booked": 3, "cap": 5}, 3, DailyCapReached),
    "within the daily cap": ({"booked": 3, "cap": 6}, 3, None),
}


@pytest.mark.parametrize("case", CASES)
async def test_what_fits_is_taken_and_what_does_not_is_explained(db, case: str) -> None:
    values, people, refused = CASES[case]
    slot = await _slot(db, **values)
    now = clock.now()
    async with db.writing() as session:
        await places.lock_capped_provider(session, slot.id)
        why = await room.refusal(session, slot.id, people, now)
        taken = await places.take_more(session, slot.id, people, now)
    assert type(why) is refused if refused else why is None
    assert (taken is None) == (why is not None)


async def test_after_the_cut_off_nothing_fits(db) -> None:
    slot = await _slot(db)
    late = slot.booking_cutoff_at + timedelta(seconds=1)
    async with db.writing() as session:
        why = await room.refusal(session, slot.id, 1, late)
        assert await places.take_more(session, slot.id, 1, late) is None
    assert isinstance(why, BookingClosed) and why.field == "slot_id"


async def test_the_words_of_each_asker(db) -> None:
    slot = await _slot(db, booked=3, cap=4)  # 3 places on the slot, 1 under the cap
    now = clock.now()
    async with db.reading_connection() as connection:
        booking = await room.refusal(connection, slot.id, 2, now)
        move = await room.refusal(connection, slot.id, 4, now, field="slot_id")
        growth = await room.refusal(connection, slot.id, 2, now, party=3)
        missing = await room.refusal(connection, 999_999, 1, now)
        gone = await room.refusal(connection, 999_999, 1, now, party=1)
    assert (type(booking), booking.field, booking.params) == (
        DailyCapReached,
        "adults",
        {"remaining": 1, "requested": 2},
    )
    assert (type(move), move.field, move.params) == (
        NotEnoughPlaces,
        "slot_id",
        {"remaining": 3, "requested": 4},
    )
    assert (type(growth), growth.field, growth.params) == (
        CannotGrow,
        "adults",
        {"remaining": 1, "maximum": 4},
    )
    assert isinstance(missing, SlotNotFound) and missing.field == "slot_id"
    assert type(gone) is SlotCancelled and gone.field is None


async def test_a_closed_slot_is_worded_for_a_change_too(db) -> None:
    slot = await _slot(db, status=SlotStatus.HELD)
    async with db.reading_connection() as connection:
        why = await room.refusal(connection, slot.id, 1, clock.now(), party=2)
    assert isinstance(why, ChangesClosed) and why.params == {
        "cutoff": clock.display(slot.booking_cutoff_at)
    }
