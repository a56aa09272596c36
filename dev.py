#!/usr/bin/env python3
"""Set-up and run, with nothing but Python >= 3.11 on the machine.

    python3 dev.py demo          # the demo server on http://127.0.0.1:8000 (SQLite, demo data)
    python3 dev.py test          # the test suite (extra arguments go to pytest)
    python3 dev.py translations  # extract the texts to translate into the .po catalogs

All create `.venv/` on first use and install the locked dependencies
(`requirements.lock`, hash-checked) plus this project in editable mode; the
install is redone only when the lock file or pyproject.toml changes. `demo` and
`test` compile the message catalogs first (`pybabel compile`).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".installed-from"
LOCALE_DIR = ROOT / "src" / "reservations" / "locale"
POT = LOCALE_DIR / "messages.pot"


def _inputs_digest() -> str:
    digest = hashlib.sha256()
    for name in ("requirements.lock", "pyproject.toml"):
        digest.update((ROOT / name).read_bytes())
    return digest.hexdigest()


def ensure_environment() -> None:
    if sys.version_info < (3, 11):
        sys.exit(f"Python >= 3.11 is needed; this is {sys.version.split()[0]}.")
    wanted = _inputs_digest()
    if STAMP.exists() and STAMP.read_text() == wanted:
        return
    if not (BIN / "python").exists():
        print("Creating .venv/ ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    pip = [str(BIN / "python"), "-m", "pip", "--disable-pip-version-check", "-q"]
    print("Installing the locked dependencies ...", flush=True)
    subprocess.run(
        [*pip, "install", "--require-hashes", "-r", str(ROOT / "requirements.lock")], check=True
    )
    subprocess.run([*pip, "install", "--no-deps", "-e", str(ROOT)], check=True)
    STAMP.write_text(wanted)


def pybabel(*args: str) -> None:
    subprocess.run([str(BIN / "pybabel"), "-q", *args], cwd=ROOT, check=True)


def compile_catalogs() -> None:
    """The .mo files are built from the .po catalogs, never committed."""
    pybabel("compile", "-d", str(LOCALE_DIR), "-D", "messages")


def update_catalogs() -> None:
    """Extract the texts of src/ and templates/ (babel.cfg) and merge them into each catalog;
    new or changed texts are then to translate (tests/test_i18n.py lists them)."""
    pybabel(
        "extract",
        "-F",
        "babel.cfg",
        "-o",
        str(POT),
        "--no-location",
        "--sort-output",
        "--project=reservations",
        "--copyright-holder=reservations contributors",
        ".",
    )
    pybabel(
        "update",
        "-i",
        str(POT),
        "-d",
        str(LOCALE_DIR),
        "-D",
        "messages",
        "--ignore-obsolete",
        "--no-fuzzy-matching",
    )


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"demo", "test", "translations"}:
        print(__doc__)
        return 2
    ensure_environment()
    command, rest = argv[0], argv[1:]
    if command == "translations":
        update_catalogs()
        return 0
    compile_catalogs()
    if command == "demo":
        args = [str(BIN / "reservations"), "serve", "--demo", *rest]
    else:
        args = [str(BIN / "python"), "-m", "pytest", *rest]
    os.chdir(ROOT)
    return subprocess.call(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
