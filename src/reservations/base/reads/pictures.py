"""The pictures the pages show: the covers of the activities of a list (one SELECT for all of
them, however long the list), an activity's gallery with its farm's portrait (one SELECT), one
owner's pictures for the back office, and one encoded size to serve.

A picture's addresses are ``/pictures/{id}/{version}/{width}.{webp|jpg}``: ``version`` is the
start of its content hash, so an address always names the same bytes (browsers keep them a
year) and a picture deleted then replaced is never served from a stale cache."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import func, or_, select

from reservations.base.infra import images
from reservations.base.infra.db import Database
from reservations.base.models import Picture, PictureRendition

VERSION_LENGTH = 12
PREFIX = "/pictures"


@dataclass(frozen=True)
class PictureView:
    id: int
    activity_id: int | None
    provider_id: int | None
    position: int
    #: Per locale; ``alt_in`` picks one.
    alt: dict[str, str]
    width: int
    height: int
    version: str

    @property
    def widths(self) -> tuple[int, ...]:
        return images.rendition_widths(self.width)

    def url(self, width: int, extension: str = "jpg") -> str:
        return f"{PREFIX}/{self.id}/{self.version}/{width}.{extension}"

    def srcset(self, extension: str, largest: int | None = None) -> str:
        """``srcset`` of the sizes up to ``largest`` pixels wide (all of them: None), at least
        the smallest."""
        widths = [w for w in self.widths if largest is None or w <= largest] or [self.widths[0]]
        return ", ".join(f"{self.url(w, extension)} {w}w" for w in widths)

    def fallback_width(self, largest: int | None = None) -> int:
        """The size of the plain ``src`` (browsers without ``srcset``): 640, or less."""
        target = min(640, largest or 640)
        return max([w for w in self.widths if w <= target] or [self.widths[0]])

    def height_at(self, width: int) -> int:
        return images.height_at(width, self.width, self.height)

    def alt_in(self, locale: str, fallback: str = "") -> str:
        """In the reader's language, else in French, else ``fallback`` (the activity's or the
        farm's name)."""
        return self.alt.get(locale) or self.alt.get("fr") or fallback


COLUMNS = (
    Picture.id,
    Picture.activity_id,
    Picture.provider_id,
    Picture.position,
    Picture.alt,
    Picture.width,
    Picture.height,
    Picture.content_hash,
)


def _view(row) -> PictureView:  # type: ignore[no-untyped-def]
    return PictureView(
        id=row.id,
        activity_id=row.activity_id,
        provider_id=row.provider_id,
        position=row.position,
        alt=dict(row.alt or {}),
        width=row.width,
        height=row.height,
        version=row.content_hash[:VERSION_LENGTH],
    )


async def covers(db: Database, activity_ids: Iterable[int]) -> dict[int, PictureView]:
    """The cover (first picture) of each of these activities that has one: one SELECT."""
    ids = sorted(set(activity_ids))
    if not ids:
        return {}
    first = (
        select(
            *COLUMNS,
            func.row_number()
            .over(partition_by=Picture.activity_id, order_by=(Picture.position, Picture.id))
            .label("rank"),
        )
        .where(Picture.activity_id.in_(ids))
        .subquery()
    )
    query = select(*(first.c[column.key] for column in COLUMNS)).where(first.c.rank == 1)
    async with db.reading_connection() as connection:
        rows = (await connection.execute(query)).all()
    return {row.activity_id: _view(row) for row in rows}


@dataclass(frozen=True)
class Gallery:
    """What a visit's page shows: the activity's pictures (the cover first) and the farm's
    portrait."""

    pictures: list[PictureView]
    portrait: PictureView | None

    @property
    def cover(self) -> PictureView | None:
        return self.pictures[0] if self.pictures else None

    @property
    def others(self) -> list[PictureView]:
        return self.pictures[1:]


async def gallery(db: Database, activity_id: int, provider_id: int) -> Gallery:
    """An activity's pictures and its farm's portrait: one SELECT."""
    query = (
        select(*COLUMNS)
        .where(or_(Picture.activity_id == activity_id, Picture.provider_id == provider_id))
        .order_by(Picture.position, Picture.id)
    )
    async with db.reading_connection() as connection:
        views = [_view(row) for row in (await connection.execute(query)).all()]
    portraits = [v for v in views if v.provider_id == provider_id]
    return Gallery(
        pictures=[v for v in views if v.activity_id == activity_id],
        portrait=portraits[0] if portraits else None,
    )


async def of_owner(
    db: Database, *, activity_id: int | None = None, provider_id: int | None = None
) -> list[PictureView]:
    """One activity's or one farm's pictures, in order (the back office)."""
    owner = (
        Picture.activity_id == activity_id
        if activity_id is not None
        else Picture.provider_id == provider_id
    )
    query = select(*COLUMNS).where(owner).order_by(Picture.position, Picture.id)
    async with db.reading_connection() as connection:
        return [_view(row) for row in (await connection.execute(query)).all()]


@dataclass(frozen=True)
class Served:
    data: bytes
    media_type: str
    #: Strong: the bytes of an address never change.
    etag: str


async def rendition(
    db: Database, picture_id: int, version: str, width: int, extension: str
) -> Served | None:
    """The bytes at a picture's address, or None (no such picture, size or format, or an
    address of a picture since replaced)."""
    if extension not in images.FORMATS or len(version) != VERSION_LENGTH:
        return None
    query = (
        select(PictureRendition.data, Picture.content_hash)
        .join(Picture, Picture.id == PictureRendition.picture_id)
        .where(
            PictureRendition.picture_id == picture_id,
            PictureRendition.width == width,
            PictureRendition.format == extension,
        )
    )
    async with db.reading_connection() as connection:
        row = (await connection.execute(query)).first()
    if row is None or row.content_hash[:VERSION_LENGTH] != version:
        return None
    return Served(
        data=row.data,
        media_type=images.FORMATS[extension],
        etag=f'"{row.content_hash[:VERSION_LENGTH]}-{width}-{extension}"',
    )
