"""Pictures of the activities (at most ``MAX_PER_OWNER`` each, the first is the cover) and the
farms' portraits, as staff upload them in the back office: added, described for those who
cannot see them (alt text per language), put in order, deleted; each change in one transaction
with its audit entry.

Where the bytes live: in the database, in ``picture_rendition`` (a few tens of kilobytes per
size and format, six rows a picture). A small office has a few dozen pictures, a few megabytes:
the database's backup is then the whole site's backup, several server processes (or a new
machine) serve the same pictures with no shared disk to set up, and a picture and its sizes
are written, or deleted, in the same transaction as its audit entry, so there is never a file
without its row nor a row without its file. The renditions are made once, at upload; serving
one is a primary-key read of bytes that browsers then keep for a year (their addresses carry
the picture's content hash and never change).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import anyio
from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from reservations.base import clock
from reservations.base.errors import N_, DomainError, ErrorKind
from reservations.base.infra import images
from reservations.base.infra.db import Database
from reservations.base.models import Activity, Picture, PictureRendition, Provider
from reservations.base.rules import audit
from reservations.base.rules.activities import ActivityNotFound
from reservations.base.rules.catalogue_checks import InvalidFields, TooLong, check, load
from reservations.base.rules.providers import load_provider
from reservations.settings import SUPPORTED_LOCALES

#: Pictures an activity (or a farm) may have: enough for a gallery, few enough for a light page.
MAX_PER_OWNER = 6
MAX_ALT = 300
#: Uploads prepared at once (each takes a core for a moment).
PREPARING_THREADS = 2


class TooManyPictures(DomainError):
    kind = ErrorKind.CONFLICT
    code = "too_many_pictures"
    title = N_("Too many pictures")
    message = N_("There are already {maximum} pictures here: delete one before adding another.")


class SamePicture(DomainError):
    kind = ErrorKind.CONFLICT
    code = "same_picture"
    title = N_("Picture already here")
    message = N_("This picture is already here.")


class PictureNotFound(DomainError):
    kind = ErrorKind.NOT_FOUND
    code = "picture_not_found"
    title = N_("Unknown picture")
    message = N_("There is no picture with this number (it may have just been deleted).")


@dataclass(frozen=True)
class Owner:
    """Whose pictures: an activity's or a farm's (exactly one of the two)."""

    activity_id: int | None = None
    provider_id: int | None = None

    def __post_init__(self) -> None:
        if (self.activity_id is None) == (self.provider_id is None):
            raise ValueError("a picture belongs to an activity or to a provider, not both")

    def of(self):  # type: ignore[no-untyped-def]
        """The condition on ``Picture`` for this owner's pictures."""
        if self.activity_id is not None:
            return Picture.activity_id == self.activity_id
        return Picture.provider_id == self.provider_id

    def ids(self) -> dict[str, int | None]:
        return {"activity_id": self.activity_id, "provider_id": self.provider_id}


def alt_problems(alt: Mapping[str, str]) -> list[DomainError]:
    return [
        TooLong(field=f"alt_{code}", maximum=MAX_ALT)
        for code in SUPPORTED_LOCALES
        if len(alt.get(code, "")) > MAX_ALT
    ]


def clean_alt(alt: Mapping[str, str]) -> dict[str, str]:
    """The alt texts given, trimmed, empty ones left out (the page falls back on French, then
    on the activity's title)."""
    texts = {code: " ".join(str(alt.get(code, "")).split()) for code in SUPPORTED_LOCALES}
    return {code: text for code, text in texts.items() if text}


async def _lock_owner(session: AsyncSession, owner: Owner) -> None:
    """Lock the activity or farm: two uploads at once get positions one after the other and
    cannot both pass the limit."""
    if owner.activity_id is not None:
        await load(session, Activity, owner.activity_id, ActivityNotFound(), lock=True)
    else:
        assert owner.provider_id is not None
        await load_provider(session, owner.provider_id, lock=True)


async def _owner_changed(session: AsyncSession, owner: Owner) -> None:
    """Stamp the activity or farm as changed: the public pages that show its pictures know
    their answers changed by its ``updated_at`` (``reads.freshness``); a picture has none."""
    model = Activity if owner.activity_id is not None else Provider
    owner_id = owner.activity_id if owner.activity_id is not None else owner.provider_id
    await session.execute(update(model).where(model.id == owner_id).values(updated_at=clock.now()))


_limiter: anyio.CapacityLimiter | None = None


async def _prepared(data: bytes) -> images.Prepared:
    global _limiter
    if _limiter is None:
        _limiter = anyio.CapacityLimiter(PREPARING_THREADS)
    return await anyio.to_thread.run_sync(images.prepare, data, limiter=_limiter)


async def add_picture(
    db: Database, owner: Owner, data: bytes, alt: Mapping[str, str], *, actor: str
) -> int:
    """Check the file, make its sizes and add it last (the first one is the cover). Refusals:
    ``images.PictureRefused`` (the file), ``TooManyPictures``, ``SamePicture``, a too long alt
    text (``InvalidFields``)."""
    check(alt_problems(alt))
    texts = clean_alt(alt)
    async with db.reading() as session:  # a clear refusal before the work of resizing
        await _count_or_refuse(session, owner)
    prepared = await _prepared(data)
    async with db.writing() as session:
        await _lock_owner(session, owner)
        count = await _count_or_refuse(session, owner)
        same = await session.scalar(
            select(Picture.id).where(owner.of(), Picture.content_hash == prepared.content_hash)
        )
        if same is not None:
            raise SamePicture(field="file")
        last = await session.scalar(select(func.max(Picture.position)).where(owner.of()))
        picture = Picture(
            **owner.ids(),
            position=0 if last is None else last + 1,
            alt=texts,
            width=prepared.width,
            height=prepared.height,
            content_hash=prepared.content_hash,
            created_by=actor,
        )
        session.add(picture)
        await session.flush()
        session.add_all(
            PictureRendition(
                picture_id=picture.id,
                width=rendition.width,
                height=rendition.height,
                format=rendition.format,
                data=rendition.data,
            )
            for rendition in prepared.renditions
        )
        await _owner_changed(session, owner)
        audit.record(
            session,
            actor,
            "picture.added",
            picture_id=picture.id,
            **owner.ids(),
            after={
                "alt": texts,
                "width": prepared.width,
                "height": prepared.height,
                "content_hash": prepared.content_hash,
                "position": picture.position,
                "pictures_before": count,
            },
        )
        return picture.id


async def _count_or_refuse(session: AsyncSession, owner: Owner) -> int:
    count = await session.scalar(select(func.count(Picture.id)).where(owner.of())) or 0
    if count >= MAX_PER_OWNER:
        raise TooManyPictures(field="file", maximum=MAX_PER_OWNER)
    return count


async def _picture(session: AsyncSession, picture_id: int, owner: Owner) -> Picture:
    """The picture, if it is ``owner``'s (an address naming another's is an unknown one)."""
    found = await session.scalar(
        select(Picture)
        .where(Picture.id == picture_id, owner.of())
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if found is None:
        raise PictureNotFound()
    return found


async def describe(
    db: Database, owner: Owner, picture_id: int, alt: Mapping[str, str], *, actor: str
) -> bool:
    """Change a picture's alt texts; whether anything changed."""
    problems = alt_problems(alt)
    if problems:
        raise InvalidFields(problems)
    texts = clean_alt(alt)
    async with db.writing() as session:
        await _lock_owner(session, owner)
        picture = await _picture(session, picture_id, owner)
        before = dict(picture.alt or {})
        if before == texts:
            return False
        picture.alt = texts
        await _owner_changed(session, owner)
        audit.record(
            session,
            actor,
            "picture.described",
            picture_id=picture_id,
            **owner.ids(),
            before={"alt": before},
            after={"alt": texts},
        )
        return True


async def _ordered(session: AsyncSession, owner: Owner) -> list[int]:
    return list(
        await session.scalars(
            select(Picture.id).where(owner.of()).order_by(Picture.position, Picture.id)
        )
    )


async def _renumber(session: AsyncSession, ids: list[int]) -> None:
    for position, picture_id in enumerate(ids):
        await session.execute(
            update(Picture).where(Picture.id == picture_id).values(position=position)
        )


async def move(db: Database, owner: Owner, picture_id: int, to: str, *, actor: str) -> bool:
    """Move a picture ``"first"`` (the cover), ``"up"`` or ``"down"`` one place; whether its
    place changed."""
    async with db.writing() as session:
        await _lock_owner(session, owner)
        await _picture(session, picture_id, owner)
        ids = await _ordered(session, owner)
        before = ids.index(picture_id)
        after = {"first": 0, "up": before - 1, "down": before + 1}.get(to, before)
        after = min(max(after, 0), len(ids) - 1)
        if after == before:
            return False
        ids.insert(after, ids.pop(before))
        await _renumber(session, ids)
        await _owner_changed(session, owner)
        audit.record(
            session,
            actor,
            "picture.moved",
            picture_id=picture_id,
            **owner.ids(),
            before={"position": before},
            after={"position": after},
        )
        return True


async def remove(db: Database, owner: Owner, picture_id: int, *, actor: str) -> None:
    """Delete a picture and its sizes; the next one becomes the cover if it was."""
    async with db.writing() as session:
        await _lock_owner(session, owner)
        picture = await _picture(session, picture_id, owner)
        record = {
            "alt": dict(picture.alt or {}),
            "content_hash": picture.content_hash,
            "position": picture.position,
        }
        await session.execute(
            delete(PictureRendition).where(PictureRendition.picture_id == picture_id)
        )
        await session.delete(picture)
        await session.flush()
        await _renumber(session, await _ordered(session, owner))
        await _owner_changed(session, owner)
        audit.record(
            session,
            actor,
            "picture.deleted",
            picture_id=picture_id,
            **owner.ids(),
            before=record,
            after=None,
        )
