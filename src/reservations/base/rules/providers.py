"""The farms and other providers as staff keep them: their names, sector, contacts and languages,
their daily cap, and their days off. Validation gives every problem of a form at once; every
change writes an audit entry with the values before and after, in the same transaction."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from reservations.base.errors import N_, DomainError, ErrorKind, InvalidEmail, InvalidPhone
from reservations.base.infra.db import Database
from reservations.base.models import Provider, ProviderDayOff
from reservations.base.rules import audit, contacts
from reservations.base.rules.catalogue_checks import (
    InvalidFields,
    Required,
    TooLong,
    changes,
    check,
    flush_or,
    load,
    same_name,
)

#: Languages a provider may speak with visitors (the site's four, and two more often met).
PROVIDER_LANGUAGES = ("fr", "en", "de", "nl", "es", "it")
#: The longest texts the columns hold.
MAX_LENGTHS = {
    "name": 200,
    "village": 200,
    "email": 320,
    "phone": 40,
    "note": 200,
}
#: A day off range at most this long.
MAX_DAYS_OFF_AT_ONCE = 92


class UnknownSector(DomainError):
    code = "unknown_sector"
    title = N_("Unknown sector")
    message = N_("Choose one of the office's sectors: {choices}.")


class NoLanguage(DomainError):
    code = "no_language"
    title = N_("No language")
    message = N_("Choose at least one language among: {choices}.")


class DailyCapNotPositive(DomainError):
    code = "daily_cap_not_positive"
    title = N_("Invalid daily cap")
    message = N_("The daily cap is a number of people above 0; leave it empty for no cap.")


class ProviderNameTaken(DomainError):
    kind = ErrorKind.CONFLICT
    code = "provider_name_taken"
    title = N_("Name already used")
    message = N_("There is already a provider named “{name}”.")


class NoSuchProvider(DomainError):
    kind = ErrorKind.NOT_FOUND
    code = "provider_id_not_found"
    title = N_("Unknown provider")
    message = N_("There is no provider with this number.")


class InvalidDaysOff(DomainError):
    code = "invalid_days_off"
    title = N_("Invalid days")
    message = N_(
        "The last day off must be on or after the first one, and at most {maximum} days later."
    )


class DayOffTaken(DomainError):
    kind = ErrorKind.CONFLICT
    code = "day_off_taken"
    title = N_("Already a day off")
    message = N_("Every day of this period is already a day off.")


class DayOffNotFound(DomainError):
    kind = ErrorKind.NOT_FOUND
    code = "day_off_not_found"
    title = N_("Unknown day off")
    message = N_("This day off does not exist (any more).")


# --- Providers --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProviderFields:
    name: str
    village: str
    sector: str
    email: str | None = None
    phone: str | None = None
    languages: tuple[str, ...] = ("fr",)
    daily_cap: int | None = None

    def as_record(self) -> dict[str, Any]:
        return {**asdict(self), "languages": list(self.languages)}


def _texts(values: Mapping[str, str | None], required: Sequence[str]) -> list[DomainError]:
    problems: list[DomainError] = []
    for name, value in values.items():
        if not (value or "").strip():
            if name in required:
                problems.append(Required(field=name))
        elif len(value or "") > MAX_LENGTHS[name]:
            problems.append(TooLong(field=name, maximum=MAX_LENGTHS[name]))
    return problems


def provider_problems(fields: ProviderFields, sectors: Sequence[str]) -> list[DomainError]:
    """Everything wrong with ``fields`` that can be seen without the database."""
    problems = _texts(
        {
            "name": fields.name,
            "village": fields.village,
            "email": fields.email,
            "phone": fields.phone,
        },
        required=("name", "village"),
    )
    if fields.sector not in sectors:
        problems.append(UnknownSector(field="sector", choices=", ".join(sectors)))
    if fields.email and not contacts.is_email(fields.email):
        problems.append(InvalidEmail(field="email", email=fields.email))
    if fields.phone and not contacts.is_phone(fields.phone):
        problems.append(InvalidPhone(field="phone", phone=fields.phone))
    if not fields.languages or any(code not in PROVIDER_LANGUAGES for code in fields.languages):
        problems.append(NoLanguage(field="languages", choices=", ".join(PROVIDER_LANGUAGES)))
    if fields.daily_cap is not None and fields.daily_cap < 1:
        problems.append(DailyCapNotPositive(field="daily_cap"))
    return problems


def fields_of_provider(provider: Provider) -> ProviderFields:
    return ProviderFields(
        name=provider.name,
        village=provider.village,
        sector=provider.sector,
        email=provider.email,
        phone=provider.phone,
        languages=tuple(provider.languages or ()),
        daily_cap=provider.daily_cap,
    )


async def _name_taken(session: AsyncSession, name: str, provider_id: int | None) -> bool:
    """Whether another provider has this name (a few dozen providers: read their names)."""
    others = await session.scalars(select(Provider.name).where(Provider.id != (provider_id or 0)))
    return any(same_name(name, other) for other in others)


def _apply_provider(provider: Provider, fields: ProviderFields) -> None:
    provider.name = fields.name.strip()
    provider.village = fields.village.strip()
    provider.sector = fields.sector
    provider.email = (fields.email or "").strip() or None
    provider.phone = (fields.phone or "").strip() or None
    provider.languages = list(fields.languages)
    provider.daily_cap = fields.daily_cap


async def create_provider(
    db: Database, fields: ProviderFields, *, sectors: Sequence[str], actor: str
) -> int:
    check(provider_problems(fields, sectors))
    async with db.writing() as session:
        if await _name_taken(session, fields.name.strip(), None):
            raise InvalidFields([ProviderNameTaken(field="name", name=fields.name.strip())])
        provider = Provider()
        _apply_provider(provider, fields)
        session.add(provider)
        await flush_or(session, ProviderNameTaken(field="name", name=provider.name))
        audit.record(
            session,
            actor,
            "provider.created",
            provider_id=provider.id,
            before=None,
            after=fields_of_provider(provider).as_record(),
        )
        return provider.id


async def update_provider(
    db: Database,
    provider_id: int,
    fields: ProviderFields,
    *,
    sectors: Sequence[str],
    actor: str,
) -> bool:
    """Returns whether anything changed (nothing is written otherwise)."""
    check(provider_problems(fields, sectors))
    async with db.writing() as session:
        provider = await load_provider(session, provider_id, lock=True)
        if await _name_taken(session, fields.name.strip(), provider_id):
            raise InvalidFields([ProviderNameTaken(field="name", name=fields.name.strip())])
        before = fields_of_provider(provider).as_record()
        _apply_provider(provider, fields)
        after = fields_of_provider(provider).as_record()
        if before == after:
            return False
        await flush_or(session, ProviderNameTaken(field="name", name=provider.name))
        audit.record(
            session,
            actor,
            "provider.updated",
            provider_id=provider_id,
            **changes(before, after),
        )
        return True


async def load_provider(session: AsyncSession, provider_id: int, *, lock: bool = False) -> Provider:
    return await load(session, Provider, provider_id, NoSuchProvider(), lock=lock)


# --- Days off ---------------------------------------------------------------------------------


async def add_days_off(
    db: Database,
    provider_id: int,
    first_day: date,
    last_day: date | None = None,
    *,
    note: str | None,
    actor: str,
) -> list[date]:
    """Mark a day, or each day of a period, as a day off; days already off are left as they
    are. Returns the days added."""
    last_day = last_day or first_day
    span = (last_day - first_day).days
    if span < 0 or span >= MAX_DAYS_OFF_AT_ONCE:
        raise InvalidFields([InvalidDaysOff(field="last_day", maximum=MAX_DAYS_OFF_AT_ONCE - 1)])
    note = (note or "").strip() or None
    if note and len(note) > MAX_LENGTHS["note"]:
        raise InvalidFields([TooLong(field="note", maximum=MAX_LENGTHS["note"])])
    wanted = [first_day + timedelta(days=n) for n in range(span + 1)]
    async with db.writing() as session:
        await load_provider(session, provider_id, lock=True)
        taken = set(
            await session.scalars(
                select(ProviderDayOff.day).where(
                    ProviderDayOff.provider_id == provider_id,
                    ProviderDayOff.day.in_(wanted),
                )
            )
        )
        added = [day for day in wanted if day not in taken]
        if not added:
            raise InvalidFields([DayOffTaken(field="first_day")])
        session.add_all(
            ProviderDayOff(provider_id=provider_id, day=day, note=note) for day in added
        )
        audit.record(
            session,
            actor,
            "provider.days_off_added",
            provider_id=provider_id,
            before=None,
            after={"days": [day.isoformat() for day in added], "note": note},
        )
    return added


async def remove_day_off(db: Database, provider_id: int, day_off_id: int, *, actor: str) -> date:
    async with db.writing() as session:
        await load_provider(session, provider_id, lock=True)
        day_off = await session.scalar(
            select(ProviderDayOff).where(
                ProviderDayOff.id == day_off_id, ProviderDayOff.provider_id == provider_id
            )
        )
        if day_off is None:
            raise DayOffNotFound()
        await session.delete(day_off)
        audit.record(
            session,
            actor,
            "provider.day_off_removed",
            provider_id=provider_id,
            before={"day": day_off.day.isoformat(), "note": day_off.note},
            after=None,
        )
        return day_off.day
