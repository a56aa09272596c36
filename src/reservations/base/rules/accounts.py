"""Office staff accounts: argon2 password hashes (argon2-cffi), a lock after repeated failed
logins so that a password cannot be guessed online, and sessions kept on the server.

The lock holds under parallel guesses: each attempt is counted by one INSERT ... ON CONFLICT DO
UPDATE ... RETURNING *before* its password is checked, so the sixth of twenty simultaneous
guesses is refused without hashing. Attempts are counted per (email, client address), known email
or not: an unknown email gets the same answers as a real one, and a guesser elsewhere cannot lock
out a clerk at the counter. argon2 runs in worker threads (a few at most), never on the event
loop, so a login does not stall other requests.

A session is a random token in the (encrypted) cookie and its SHA-256 in ``staff_session``:
logging out or disabling the account deletes it, so a copied cookie stops working.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

import anyio
from anyio.lowlevel import RunVar
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import case, delete, literal, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from reservations.base import clock
from reservations.base.errors import (
    AccountLocked,
    InvalidEmail,
    LoginFailed,
    PasswordTooShort,
    StaffAlreadyExists,
)
from reservations.base.infra import tokens
from reservations.base.infra.db import Database
from reservations.base.models import (
    LoginThrottle,
    StaffRole,
    StaffSession,
    StaffUser,
    UTCDateTime,
)
from reservations.base.rules import audit, contacts

#: Failed logins (per email and client address) that lock further attempts, and for how long.
#: Attempts older than ``LOCK_DURATION`` are forgotten.
MAX_FAILED_LOGINS = 5
LOCK_DURATION = timedelta(minutes=15)
MIN_PASSWORD_LENGTH = 10
#: A work day: a session left open on a counter computer ends by itself.
SESSION_LIFETIME = timedelta(hours=10)
#: Threads hashing at once (argon2 takes 64 MiB and tens of ms of CPU each): a crowd of logins
#: waits for these instead of taking every worker thread of the server.
HASHING_THREADS = 2

_Result = TypeVar("_Result")
_hasher = PasswordHasher()
#: Verified against when the email is unknown: the same work as for a real account.
_DUMMY_HASH = _hasher.hash("not a password of anyone")
#: One limiter per event loop (anyio's own recipe for its default thread limiter).
_hashing_limiter: RunVar[anyio.CapacityLimiter] = RunVar("staff_login_hashing")


@dataclass(frozen=True)
class StaffRef:
    """Who is logged in; what the session keeps is only ``id``."""

    id: int
    email: str
    role: StaffRole

    @property
    def is_admin(self) -> bool:
        return self.role == StaffRole.ADMIN

    @property
    def actor(self) -> str:
        """How the audit trail names this person."""
        return f"staff:{self.email}"


def _ref(user: StaffUser) -> StaffRef:
    return StaffRef(id=user.id, email=user.email, role=user.role)


def normalised(email: str) -> str:
    return email.strip().lower()


async def add_staff(
    db: Database, email: str, password: str, role: StaffRole = StaffRole.STAFF, *, actor: str
) -> StaffRef:
    if not contacts.is_email(email.strip()):
        raise InvalidEmail(field="email", email=email)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise PasswordTooShort(field="password", minimum=MIN_PASSWORD_LENGTH)
    user = StaffUser(email=normalised(email), password_hash=_hasher.hash(password), role=role)
    try:
        async with db.writing() as session:
            session.add(user)
            await session.flush()
            audit.record(session, actor, "staff.added", email=user.email, role=role.value)
    except IntegrityError:
        raise StaffAlreadyExists(field="email", email=normalised(email)) from None
    return _ref(user)


async def authenticate(
    db: Database,
    email: str,
    password: str,
    *,
    client: str,
    secret_key: str,
    now: datetime | None = None,
) -> StaffRef:
    """The account for these credentials, or ``LoginFailed`` (wrong email or password, without
    saying which) or ``AccountLocked`` (too many attempts for this email from this client,
    whether the email has an account or not). ``secret_key`` keys the digest that names the
    (email, client) pair in the table."""
    now = now or clock.now()
    email = normalised(email)
    key = throttle_key(secret_key, email, client)
    locked_until = await _reserve_attempt(db, key, now)
    if locked_until is not None:
        raise AccountLocked(until=locked_until)
    async with db.reading() as session:
        user = await session.scalar(
            select(StaffUser).where(StaffUser.email == email, StaffUser.disabled_at.is_(None))
        )
    if user is None:
        await _in_thread(_verify, _DUMMY_HASH, password)
        raise LoginFailed()
    if not await _in_thread(_verify, user.password_hash, password):
        raise LoginFailed()  # already counted by _reserve_attempt
    values: dict[str, object] = {"last_login_at": now}
    if _hasher.check_needs_rehash(user.password_hash):
        values["password_hash"] = await _in_thread(_hasher.hash, password)
    async with db.writing() as session:
        await session.execute(update(StaffUser).where(StaffUser.id == user.id).values(**values))
        await session.execute(delete(LoginThrottle).where(LoginThrottle.key_digest == key))
    return _ref(user)


def throttle_key(secret_key: str, email: str, client: str) -> str:
    """What ``login_throttle`` stores for a pair: an HMAC, not the email of a stranger."""
    message = "\x00".join(("login-throttle", normalised(email), client)).encode()
    return hmac.new(secret_key.encode(), message, hashlib.sha256).hexdigest()


async def _reserve_attempt(db: Database, key: str, now: datetime) -> datetime | None:
    """Count one attempt, in one statement that concurrent attempts queue on; ``None`` if it may
    go on to the password check, else the end of the lock. The attempt that reaches the limit
    starts the lock; attempts after it are refused until the lock ends, and then count anew."""
    insert = postgresql.insert if db.dialect == "postgresql" else sqlite.insert
    expired = LoginThrottle.expires_at <= now
    renewed = literal(now + LOCK_DURATION, UTCDateTime())
    statement = (
        insert(LoginThrottle)
        .values(key_digest=key, attempts=1, expires_at=now + LOCK_DURATION)
        .on_conflict_do_update(
            index_elements=[LoginThrottle.key_digest],
            set_={
                # Bounded: past the limit the count stays at limit + 1.
                "attempts": case(
                    (expired, 1),
                    (LoginThrottle.attempts >= MAX_FAILED_LOGINS, MAX_FAILED_LOGINS + 1),
                    else_=LoginThrottle.attempts + 1,
                ),
                "expires_at": case(
                    (expired, renewed),
                    (LoginThrottle.attempts + 1 == MAX_FAILED_LOGINS, renewed),
                    else_=LoginThrottle.expires_at,
                ),
            },
        )
        .returning(LoginThrottle.attempts, LoginThrottle.expires_at)
    )
    async with db.writing_connection() as connection:
        attempts, expires_at = (await connection.execute(statement)).one()
    return expires_at if attempts > MAX_FAILED_LOGINS else None


async def _in_thread(function: Callable[..., _Result], *args: object) -> _Result:
    """Run CPU-heavy ``function`` (argon2) in a worker thread, a few at a time."""
    try:
        limiter = _hashing_limiter.get()
    except LookupError:
        limiter = anyio.CapacityLimiter(HASHING_THREADS)
        _hashing_limiter.set(limiter)
    return await anyio.to_thread.run_sync(function, *args, limiter=limiter)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


async def open_session(db: Database, staff: StaffRef, *, now: datetime | None = None) -> str:
    """A new session for ``staff``: the token for the cookie (the table keeps its SHA-256).
    Ended sessions and attempts past their lock are cleared on the way."""
    now = now or clock.now()
    token = tokens.new_token()
    async with db.writing() as session:
        await session.execute(delete(StaffSession).where(StaffSession.expires_at <= now))
        await session.execute(delete(LoginThrottle).where(LoginThrottle.expires_at <= now))
        session.add(
            StaffSession(
                token_digest=tokens.digest(token),
                staff_id=staff.id,
                created_at=now,
                expires_at=now + SESSION_LIFETIME,
            )
        )
    return token


async def staff_for_session(
    db: Database, token: str, *, now: datetime | None = None
) -> StaffRef | None:
    """The account a session token opens: one query, ``None`` once the session was ended, has
    expired, or its account was disabled."""
    now = now or clock.now()
    async with db.reading_connection() as connection:
        row = (
            await connection.execute(
                select(StaffUser.id, StaffUser.email, StaffUser.role)
                .join(StaffSession, StaffSession.staff_id == StaffUser.id)
                .where(
                    StaffSession.token_digest == tokens.digest(token),
                    StaffSession.expires_at > now,
                    StaffUser.disabled_at.is_(None),
                )
            )
        ).one_or_none()
    return StaffRef(id=row.id, email=row.email, role=row.role) if row is not None else None


async def end_session(db: Database, token: str) -> None:
    """Logging out: the token opens nothing any more, wherever the cookie was copied."""
    async with db.writing() as session:
        await session.execute(
            delete(StaffSession).where(StaffSession.token_digest == tokens.digest(token))
        )


async def disable_staff(
    db: Database, staff_id: int, *, actor: str, now: datetime | None = None
) -> None:
    """An account that can no longer log in; its open sessions end now."""
    now = now or clock.now()
    async with db.writing() as session:
        await session.execute(
            update(StaffUser)
            .where(StaffUser.id == staff_id, StaffUser.disabled_at.is_(None))
            .values(disabled_at=now)
        )
        await session.execute(delete(StaffSession).where(StaffSession.staff_id == staff_id))
        audit.record(session, actor, "staff.disabled", staff_id=staff_id)
