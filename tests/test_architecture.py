"""The architecture holds (ARCHITECTURE.md): the import-linter contracts of ``pyproject.toml``.

The audiences (visitors, farmers, staff, api) never import one another, they stand over the
shared ``notices`` and ``web`` layers and the domain (``base``), the domain has no HTTP or
template code in it, and no two modules or packages import each other in a cycle. The same
contracts are shown to break on a copy of the tree that breaks each of them. And what follows a
change (offers to the waiting list, visitors told) is left to ``notices.followups``."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from reservations.settings import PROJECT_ROOT

SOURCE = PROJECT_ROOT / "src" / "reservations"
LINT = Path(sys.executable).with_name("lint-imports")


def lint(source_root: Path) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` over the package found in ``source_root``, with the project's contracts."""
    return subprocess.run(
        [str(LINT), str(PROJECT_ROOT / "pyproject.toml"), "--no-cache"],
        cwd=PROJECT_ROOT,
        env={**os.environ, "PYTHONPATH": str(source_root)},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_contracts_are_kept() -> None:
    result = lint(SOURCE.parent)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 kept, 0 broken" in result.stdout


@pytest.fixture
def tree_copy(tmp_path: Path) -> Path:
    """A copy of the package, to break."""
    shutil.copytree(SOURCE, tmp_path / "reservations", ignore=shutil.ignore_patterns("locale"))
    return tmp_path


BREAKS = {
    "one audience imports another": (
        "staff/home.py",
        "from reservations.visitors import forms as _visitors_forms  # noqa: F401",
        "Layers",
    ),
    "the domain imports web code": (
        "base/rules/booking.py",
        "from reservations.web import forms as _web_forms  # noqa: F401",
        "Layers",
    ),
    "the domain imports a template engine": (
        "base/reads/board.py",
        "import jinja2 as _jinja2  # noqa: F401",
        "The domain has no HTTP",
    ),
    "two modules import each other": (
        "staff/programme_sheet.py",
        "from reservations.staff import programme as _programme  # noqa: F401",
        "No import cycles",
    ),
}


@pytest.mark.parametrize("break_name", BREAKS)
def test_a_broken_rule_is_found(tree_copy: Path, break_name: str) -> None:
    module, line, contract = BREAKS[break_name]
    path = tree_copy / "reservations" / module
    text = path.read_text()
    head, _, body = text.partition("from __future__ import annotations\n")
    path.write_text(f"{head}from __future__ import annotations\n{line}\n{body}")
    result = lint(tree_copy)
    assert result.returncode == 1, result.stdout + result.stderr
    broken = result.stdout.split("Broken contracts", 1)[1]
    assert contract in broken


#: The steps that follow a change: only ``notices.followups`` runs them for the site and tick.
FOLLOW_UP_STEPS = re.compile(
    r"\b(offer_freed_places|expire_offers|waitlist\.tick|notify_slot_cancelled"
    r"|notify_booking_cancelled|untold_cancellations|queue_booking_moved)\b"
)


def test_the_audiences_and_tick_leave_what_follows_a_change_to_followups() -> None:
    """A handler that listed follow-ups itself could forget one (a waiting list left unserved):
    each calls the one function of ``notices.followups`` named after its change instead."""
    audiences = ("visitors", "farmers", "staff", "api")
    callers = [*(p for a in audiences for p in (SOURCE / a).rglob("*.py")), SOURCE / "cli.py"]
    listed = {
        f"{path.relative_to(SOURCE)}: {found.group(0)}"
        for path in callers
        for found in FOLLOW_UP_STEPS.finditer(path.read_text())
    }
    assert listed == set()


#: The domain's changes that free places or call visits off: each has a follow-up.
CHANGES_WITH_FOLLOW_UPS = re.compile(
    r"\b(cancel_booking|cancel_by_visitor|change_party|move_booking|withdraw|remove_entry"
    r"|edit_slots|cancel_slots?)\("
)


def test_every_module_that_frees_places_or_cancels_runs_its_follow_ups() -> None:
    """The other side of the rule above: a handler that frees places or calls a visit off and
    calls no follow-up at all (as the API's cancellation once did) leaves a waiting list
    unserved or visitors untold."""
    audiences = ("visitors", "farmers", "staff", "api")
    callers = [*(p for a in audiences for p in (SOURCE / a).rglob("*.py")), SOURCE / "cli.py"]
    forgetful = {
        str(path.relative_to(SOURCE))
        for path in callers
        if CHANGES_WITH_FOLLOW_UPS.search(text := path.read_text()) and "followups." not in text
    }
    assert forgetful == set()
    changing = {p.name for p in callers if CHANGES_WITH_FOLLOW_UPS.search(p.read_text())}
    assert {"bookings.py", "manage.py", "waitlist.py", "day_sheet.py", "planning.py"} <= changing
