"""Settings read from the environment (``RESERVATIONS_*``), one frozen object per process."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

#: The checkout's top folder: templates/, migrations/ and alembic.ini live there.
PROJECT_ROOT = Path(__file__).resolve().parents[2]

DEFAULT_SECTORS = ("Mont Lozère", "Vallée Française", "Vallée Longue et Calbertois")


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise SystemExit(f"{name} must be a whole number, not {raw!r}") from None


#: How often ``serve`` runs the due work, unless RESERVATIONS_TICK_SECONDS says otherwise.
DEFAULT_TICK_SECONDS = 60


def _seconds(name: str, default: int) -> int:
    seconds = _int(name, default)
    if seconds < 0:
        raise SystemExit(f"{name} must be 0 (off) or a number of seconds, not {seconds}")
    return seconds


def _hour(name: str, default: int) -> int:
    hour = _int(name, default)
    if not 0 <= hour <= 23:
        raise SystemExit(f"{name} must be an hour from 0 to 23, not {hour}")
    return hour


def _list(name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    raw = os.environ.get(name)
    if not raw:
        return default
    return tuple(part.strip() for part in raw.split(",") if part.strip())


@dataclass(frozen=True)
class Settings:
    database_url: str = "sqlite+aiosqlite:///reservations.sqlite3"
    #: Signs sessions and CSRF tokens and derives idempotent manage tokens: every process of
    #: one site must share it. From RESERVATIONS_SECRET_KEY, else the file named by
    #: RESERVATIONS_SECRET_KEY_FILE (default var/secret_key: ``serve --demo`` writes it), else
    #: a random key for this process only (``secret_key_is_random``; ``serve`` refuses several
    #: workers then).
    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(32), repr=False)
    secret_key_is_random: bool = False
    sectors: tuple[str, ...] = DEFAULT_SECTORS
    #: The most people one booking may hold; larger groups call the office.
    max_party_size: int = 15
    #: Connections each server process keeps open to PostgreSQL, and how many more it may open
    #: in a burst: workers x (pool + overflow) + the CLI's one must stay under the server's
    #: ``max_connections`` (100 by default). Overflow connections are closed as soon as they
    #: are returned, so a burst above the pool pays PostgreSQL's connection start-up on every
    #: request (half the booking rate, measured): a pool without overflow is the default. A request that waits longer than the timeout for a
    #: connection gets a 503 "try again" answer.
    db_pool_size: int = 20
    db_max_overflow: int = 0
    db_pool_timeout_seconds: int = 10
    #: Public answers (availability, programme, embed, kiosk) each server process keeps, the
    #: least recently used dropped first (0: none kept, each read built again). An answer is
    #: kept under the database's fingerprint of its days, read at every request: never stale.
    public_cache_entries: int = 256
    #: Booking and cancelling requests allowed per client and minute (0: no limit).
    booking_rate_limit: int = 20
    #: Web origins allowed to read the JSON API from a browser (the office's websites).
    cors_origins: tuple[str, ...] = ()
    #: Reverse proxies (addresses or networks) whose ``Forwarded`` / ``X-Forwarded-For`` is
    #: believed for the client's address (rate limits, logs). Nobody else's is.
    trusted_proxies: tuple[str, ...] = ("127.0.0.1", "::1")
    #: The office's phone, given to visitors who must call (after the cut-off, large groups).
    office_phone: str = "+33 4 65 71 00 10"
    #: Where the site is reached: links in emails and QR codes start with it.
    public_url: str = "http://127.0.0.1:8000"
    #: Outgoing mail. Without an SMTP host, messages are written as .eml files to mail_dir.
    mail_from: str = "Office de tourisme <reservations@localhost>"
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_username: str = ""
    smtp_password: str = field(default="", repr=False)
    smtp_starttls: bool = True
    mail_dir: str = "var/mail"
    #: The .eml files of mail_dir carry live links instead of placeholders (the demo: its
    #: offers and invitations can be followed from the folder). Never on a shared machine.
    mail_dir_live_links: bool = False
    #: How long a waiting-list offer of freed places stays open, in minutes.
    waitlist_offer_minutes: int = 720
    #: From this local (Paris) hour, ``tick`` sends each provider with visitors its day sheet.
    morning_email_hour: int = 7
    #: How long an online booking of a paid visit holds its places while the visitor pays.
    payment_hold_minutes: int = 15
    #: Stripe: without a secret key, paid visits are paid on site. The webhook secret checks
    #: the signature of Stripe's events; the API base is Stripe's unless a test server's.
    stripe_secret_key: str = field(default="", repr=False)
    stripe_webhook_secret: str = field(default="", repr=False)
    stripe_api_base: str = "https://api.stripe.com"
    #: The server runs the due work (``tick``) by itself this often, one process at a time;
    #: 0: never (cron or the systemd timer runs ``reservations tick``). Read from the
    #: environment it is 60; a ``Settings`` built in code (the tests') runs nothing by itself.
    tick_seconds: int = 0
    #: Resellers (the OCTO API, ``/octo``): requests each key may send a minute (0: no limit),
    #: how long a hold lasts when the reseller does not say, and where the sandbox that test
    #: keys book lives (SQLite files, one a day, made from the demo data).
    reseller_rate_limit: int = 600
    reseller_hold_minutes: int = 30
    octo_sandbox_dir: str = "var/octo-sandbox"

    @property
    def payments_online(self) -> bool:
        """Paid visits are paid online when booked online (else on site)."""
        return bool(self.stripe_secret_key)

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ.get
        defaults = cls()
        secret_key = env("RESERVATIONS_SECRET_KEY") or _key_from_file(secret_key_file())
        return cls(
            database_url=env("RESERVATIONS_DATABASE_URL") or defaults.database_url,
            secret_key=secret_key or defaults.secret_key,
            secret_key_is_random=not secret_key,
            sectors=_list("RESERVATIONS_SECTORS", DEFAULT_SECTORS),
            max_party_size=_int("RESERVATIONS_MAX_PARTY_SIZE", defaults.max_party_size),
            db_pool_size=_int("RESERVATIONS_DB_POOL_SIZE", defaults.db_pool_size),
            db_max_overflow=_int("RESERVATIONS_DB_MAX_OVERFLOW", defaults.db_max_overflow),
            db_pool_timeout_seconds=_int(
                "RESERVATIONS_DB_POOL_TIMEOUT", defaults.db_pool_timeout_seconds
            ),
            public_cache_entries=_int(
                "RESERVATIONS_PUBLIC_CACHE_ENTRIES", defaults.public_cache_entries
            ),
            booking_rate_limit=_int("RESERVATIONS_BOOKING_RATE_LIMIT", defaults.booking_rate_limit),
            cors_origins=_list("RESERVATIONS_CORS_ORIGINS", ()),
            trusted_proxies=_list("RESERVATIONS_TRUSTED_PROXIES", defaults.trusted_proxies),
            office_phone=env("RESERVATIONS_OFFICE_PHONE") or defaults.office_phone,
            public_url=(env("RESERVATIONS_PUBLIC_URL") or defaults.public_url).rstrip("/"),
            mail_from=env("RESERVATIONS_MAIL_FROM") or defaults.mail_from,
            smtp_host=env("RESERVATIONS_SMTP_HOST") or "",
            smtp_port=_int("RESERVATIONS_SMTP_PORT", defaults.smtp_port),
            smtp_username=env("RESERVATIONS_SMTP_USERNAME") or "",
            smtp_password=env("RESERVATIONS_SMTP_PASSWORD") or "",
            smtp_starttls=(env("RESERVATIONS_SMTP_STARTTLS") or "1").lower()
            not in {"0", "false", "no"},
            mail_dir=env("RESERVATIONS_MAIL_DIR") or defaults.mail_dir,
            mail_dir_live_links=(env("RESERVATIONS_MAIL_DIR_LIVE_LINKS") or "").lower()
            in {"1", "true", "yes"},
            waitlist_offer_minutes=_int(
                "RESERVATIONS_WAITLIST_OFFER_MINUTES", defaults.waitlist_offer_minutes
            ),
            morning_email_hour=_hour(
                "RESERVATIONS_MORNING_EMAIL_HOUR", defaults.morning_email_hour
            ),
            payment_hold_minutes=_int(
                "RESERVATIONS_PAYMENT_HOLD_MINUTES", defaults.payment_hold_minutes
            ),
            tick_seconds=_seconds("RESERVATIONS_TICK_SECONDS", DEFAULT_TICK_SECONDS),
            reseller_rate_limit=_int(
                "RESERVATIONS_RESELLER_RATE_LIMIT", defaults.reseller_rate_limit
            ),
            reseller_hold_minutes=_int(
                "RESERVATIONS_RESELLER_HOLD_MINUTES", defaults.reseller_hold_minutes
            ),
            octo_sandbox_dir=env("RESERVATIONS_OCTO_SANDBOX_DIR") or defaults.octo_sandbox_dir,
            stripe_secret_key=env("RESERVATIONS_STRIPE_SECRET_KEY") or "",
            stripe_webhook_secret=env("RESERVATIONS_STRIPE_WEBHOOK_SECRET") or "",
            stripe_api_base=(
                env("RESERVATIONS_STRIPE_API_BASE") or defaults.stripe_api_base
            ).rstrip("/"),
        )


def secret_key_file() -> Path:
    return Path(os.environ.get("RESERVATIONS_SECRET_KEY_FILE") or "var/secret_key")


def _key_from_file(path: Path) -> str:
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        return ""


def ensure_secret_key_file(path: Path) -> bool:
    """Write a new random key to ``path`` (owner-only) unless one is there; True if written.
    The demo's workers and restarts then agree on one key."""
    if _key_from_file(path):
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(secrets.token_urlsafe(32) + "\n")
    return True


#: The languages visitors can use, French first (the default).
SUPPORTED_LOCALES = ("fr", "en", "de", "nl")
