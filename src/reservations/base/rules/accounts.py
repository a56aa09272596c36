"""Office staff accounts: argon2 password hashes (argon2-cffi), and a lock after repeated
failed logins so that a password cannot be guessed online.

The login counts failures with one conditional UPDATE, so parallel guesses cannot slip past the
limit; an unknown email costs the same hash verification as a known one, so timing does not
tell which emails have accounts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import case, literal, select, update
from sqlalchemy.exc import IntegrityError

from reservations.base import clock
from reservations.base.errors import (
    AccountLocked,
    InvalidEmail,
    LoginFailed,
    PasswordTooShort,
    StaffAlreadyExists,
)
from reservations.base.infra.db import Database
from reservations.base.models import StaffRole, StaffUser, UTCDateTime
from reservations.base.rules import audit, contacts

#: Failed logins in a row that lock an account, and for how long.
MAX_FAILED_LOGINS = 5
LOCK_DURATION = timedelta(minutes=15)
MIN_PASSWORD_LENGTH = 10

_hasher = PasswordHasher()
#: Verified against when the email is unknown: the same work as for a real account.
_DUMMY_HASH = _hasher.hash("not a password of anyone")


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
    db: Database, email: str, password: str, *, now: datetime | None = None
) -> StaffRef:
    """The account for these credentials, or ``LoginFailed`` (wrong email or password, without
    saying which) or ``AccountLocked``."""
    now = now or clock.now()
    async with db.reading() as session:
        user = await session.scalar(
            select(StaffUser).where(
                StaffUser.email == normalised(email), StaffUser.disabled_at.is_(None)
            )
        )
    if user is None:
        _verify(_DUMMY_HASH, password)
        raise LoginFailed()
    if user.locked_until is not None and user.locked_until > now:
        raise AccountLocked(until=user.locked_until)
    if not _verify(user.password_hash, password):
        await _count_failure(db, user.id, now)
        raise LoginFailed()
    values: dict[str, object] = {"failed_logins": 0, "locked_until": None, "last_login_at": now}
    if _hasher.check_needs_rehash(user.password_hash):
        values["password_hash"] = _hasher.hash(password)
    async with db.writing() as session:
        await session.execute(update(StaffUser).where(StaffUser.id == user.id).values(**values))
    return _ref(user)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


async def _count_failure(db: Database, user_id: int, now: datetime) -> None:
    """One more failure; the one that reaches the limit locks the account and starts again."""
    reached = StaffUser.failed_logins + 1 >= MAX_FAILED_LOGINS
    async with db.writing() as session:
        await session.execute(
            update(StaffUser)
            .where(StaffUser.id == user_id)
            .values(
                failed_logins=case((reached, 0), else_=StaffUser.failed_logins + 1),
                locked_until=case(
                    (reached, literal(now + LOCK_DURATION, UTCDateTime())),
                    else_=StaffUser.locked_until,
                ),
            )
        )


async def staff_by_id(db: Database, staff_id: int) -> StaffRef | None:
    """The account a session names, if it still exists and is not disabled."""
    async with db.reading() as session:
        user = await session.scalar(
            select(StaffUser).where(StaffUser.id == staff_id, StaffUser.disabled_at.is_(None))
        )
    return _ref(user) if user is not None else None
