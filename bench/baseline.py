"""Today's code beside this one, in the same run: the engine as it was at a git revision
(``BEFORE``: main before the speed work of issue 14), taken out of git into a temporary folder
and served by the same Python and the same libraries, on a database of its own that its own
migrations built. So a "2× less CPU" is two servers measured minutes apart, not a figure copied
from an older run."""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: The last commit of main before issue 14 changed the code it measures.
BEFORE = "51b2ce5"


@cache
def source(revision: str = BEFORE) -> Path:
    """A folder holding ``src/``, ``templates/``, ``migrations/`` and ``alembic.ini`` as they were at
    ``revision`` (removed when the benchmark ends)."""
    folder = Path(tempfile.mkdtemp(prefix=f"reservations-{revision}-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    archive = subprocess.run(
        [
            "git",
            "-C",
            str(ROOT),
            "archive",
            revision,
            "src",
            "templates",
            "migrations",
            "alembic.ini",
        ],
        check=True,
        capture_output=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder


def environment(revision: str = BEFORE) -> dict[str, str]:
    """What makes ``python -m reservations`` run that revision's code."""
    return {"PYTHONPATH": str(source(revision) / "src")}


def migrate(database_url: str, revision: str = BEFORE) -> None:
    """Build the database with that revision's own migrations."""
    subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from reservations.base.infra import db; db.upgrade(sys.argv[1])",
            database_url,
        ],
        env={**os.environ, **environment(revision)},
        check=True,
    )
