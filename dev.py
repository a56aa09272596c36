#!/usr/bin/env python3
"""Set-up and run, with nothing but Python >= 3.11 on the machine.

    python3 dev.py demo          # the demo server on http://127.0.0.1:8000 (SQLite, demo data)
    python3 dev.py demo --fake-stripe  # the same, paying online on a fake Stripe on loopback
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
        "-k",
        "N_plural:1,2",  # base/errors.py: messages with a singular and a plural
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
    os.chdir(ROOT)
    if command == "demo":
        if "--fake-stripe" in rest:
            rest.remove("--fake-stripe")
            return with_fake_stripe([str(BIN / "reservations"), "serve", "--demo", *rest])
        return subprocess.call([str(BIN / "reservations"), "serve", "--demo", *rest])
    return subprocess.call([str(BIN / "python"), "-m", "pytest", *rest])


def with_fake_stripe(serve: list[str], port: int = 12111) -> int:
    """Run the demo with paid visits paid online: the tests' fake Stripe server on loopback
    (its hosted checkout page has a "Pay" button; it signs and sends the webhook as Stripe
    does), and the site configured for it. Nothing leaves the machine."""
    site_port = serve[serve.index("--port") + 1] if "--port" in serve else "8000"
    fake = subprocess.Popen(
        [
            str(BIN / "python"),
            "-m",
            "tests.fake_stripe",
            "--port",
            str(port),
            "--webhook-url",
            f"http://127.0.0.1:{site_port}/payments/stripe/webhook",
        ]
    )
    environment = {
        **os.environ,
        "RESERVATIONS_STRIPE_API_BASE": f"http://127.0.0.1:{port}",
        "RESERVATIONS_STRIPE_SECRET_KEY": "sk_test_fake",
        "RESERVATIONS_STRIPE_WEBHOOK_SECRET": "whsec_test_fake",
    }
    try:
        return subprocess.call(serve, env=environment)
    finally:
        fake.terminate()
        fake.wait()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
