"""Pictures: uploaded by staff on an activity's or a farm's catalogue page, checked (type by
content, size, dimensions, decompression bombs, damaged files), stripped of their metadata,
turned upright, resized (never enlarged) into WebP and JPEG, served with a year's cache, and
shown with ``srcset``/``sizes`` and alt text in the reader's language on the programme, the
visit page, the embed and the kiosk; the programme fetches all its covers in one SELECT.
Every test runs on SQLite and PostgreSQL."""

from __future__ import annotations

import html
import io
import re
import struct
import zlib
from datetime import timedelta

import pytest
from litestar.testing import AsyncTestClient
from PIL import Image, ImageCms
from sqlalchemy import event, select

from reservations.app import create_app
from reservations.base import clock
from reservations.base.infra import images
from reservations.base.models import Activity, AuditEntry, Picture, PictureRendition
from reservations.base.reads import pictures as picture_reads
from reservations.base.rules import pictures
from reservations.base.rules.pictures import Owner, TooManyPictures
from reservations.base.seeding.demo import load_demo
from tests.factories import make_slot
from tests.staff_support import csrf
from tests.test_visitors import site_settings

ORIENTATION, GPS = 0x0112, 0x8825
MARK = (0, 0, 255)  # a blue corner, to see where the picture's top-left went


def photo(
    width: int = 1600,
    height: int = 1200,
    *,
    orientation: int | None = None,
    fmt: str = "JPEG",
    colour: tuple[int, int, int] = (200, 60, 40),
) -> bytes:
    """A photo as a phone sends it: a blue top-left corner, EXIF with a GPS position and an
    orientation, an ICC profile."""
    image = Image.new("RGB", (width, height), colour)
    image.paste(MARK, (0, 0, width // 4, height // 4))
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    if orientation:
        exif[ORIENTATION] = orientation
    exif.get_ifd(GPS).update({1: "N", 2: (44.0, 21.0, 7.5), 3: "E", 4: (3.0, 52.0, 34.0)})
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    out = io.BytesIO()
    image.save(out, fmt, exif=exif.tobytes(), icc_profile=icc, quality=90)
    return out.getvalue()


def bomb_png(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width`` × ``height`` pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 1024))
        + chunk(b"IEND", b"")
    )


async def post_picture(client, activity_id: int, data: bytes, name: str = "photo.jpg", **alt):  # type: ignore[no-untyped-def]
    client.headers["accept-language"] = "en"  # the back office speaks French by default
    await client.get(f"/staff/catalogue/activities/{activity_id}")  # the CSRF cookie
    return await client.post(
        f"/staff/catalogue/activities/{activity_id}/pictures",
        data={"_csrf_token": csrf(client), **{f"alt_{k}": v for k, v in alt.items()}},
        files={"file": (name, data, "image/jpeg")},
        follow_redirects=False,
    )


async def pictures_of(db, activity_id: int) -> list[picture_reads.PictureView]:  # type: ignore[no-untyped-def]
    return await picture_reads.of_owner(db, activity_id=activity_id)


def opened(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def field_error(answer, name: str = "file") -> str:  # type: ignore[no-untyped-def]
    found = re.search(rf'<p class="field-error" id="{name}-error">([^<]+)</p>', answer.text)
    assert found, answer.text[-3000:]
    return html.unescape(found.group(1))


@pytest.fixture
async def client(db):  # type: ignore[no-untyped-def]
    async with AsyncTestClient(app=create_app(site_settings(db), database=db)) as test_client:
        yield test_client


# --- uploads -------------------------------------------------------------------------------


async def test_a_phone_photo_is_stored_upright_in_webp_and_jpeg_sizes_without_its_metadata(
    db, staff
):
    client, account = staff
    slot = await make_slot(db)
    original = photo(1600, 1200, orientation=6)  # stored landscape, to be shown turned right
    assert opened(original).getexif()[ORIENTATION] == 6  # the test's photo does carry it all

    answer = await post_picture(client, slot.activity_id, original, fr="Chèvres au pré")
    assert answer.status_code == 303
    assert answer.headers["location"].endswith("?done=picture_added#pictures")

    async with db.reading() as session:
        picture = (await session.scalars(select(Picture))).one()
        renditions = list(
            await session.scalars(
                select(PictureRendition).order_by(PictureRendition.width, PictureRendition.format)
            )
        )
        audit = (
            await session.scalars(select(AuditEntry).where(AuditEntry.action == "picture.added"))
        ).one()
    # Orientation 6: the 1600 × 1200 pixels stand as 1200 wide, 1600 high.
    assert (picture.width, picture.height) == (1200, 1600)
    assert picture.alt == {"fr": "Chèvres au pré"}
    assert [(r.width, r.format) for r in renditions] == [
        (w, f) for w in (320, 640, 1024) for f in ("jpg", "webp")
    ]
    for rendition in renditions:
        image = opened(rendition.data)
        assert image.format == {"jpg": "JPEG", "webp": "WEBP"}[rendition.format]
        expected_height = round(1600 * rendition.width / 1200)
        assert (
            image.size == (rendition.width, expected_height) == (rendition.width, rendition.height)
        )
        assert rendition.width <= picture.width
        assert len(image.getexif()) == 0, rendition.format
        assert not {"exif", "icc_profile", "xmp", "XML:com.adobe.xmp"} & set(image.info)
        assert b"PhoneMaker" not in rendition.data and b"GPS" not in rendition.data
        # Turned a quarter to the right: the blue top-left corner is now top-right.
        w, h = image.size
        top_right = image.convert("RGB").getpixel((w - 5, 5))
        top_left = image.convert("RGB").getpixel((5, 5))
        assert top_right[2] > 200 and top_right[0] < 60, top_right
        assert top_left[0] > 150 and top_left[2] < 100, top_left
    assert audit.actor == f"staff:{account.email}"
    assert audit.data["activity_id"] == slot.activity_id and audit.data["provider_id"] is None
    assert audit.data["after"]["width"] == 1200 and audit.data["after"]["alt"]["fr"]


async def test_a_picture_is_never_enlarged(db):
    slot = await make_slot(db)
    owner = Owner(activity_id=slot.activity_id)
    await pictures.add_picture(db, owner, photo(500, 400, fmt="PNG"), {}, actor="test")
    await pictures.add_picture(db, owner, photo(320, 240, colour=(1, 2, 3)), {}, actor="test")
    await pictures.add_picture(db, owner, photo(3000, 1000, colour=(9, 9, 9)), {}, actor="test")
    async with db.reading() as session:
        rows = (
            await session.execute(
                select(Picture.width, PictureRendition.width)
                .join(PictureRendition, PictureRendition.picture_id == Picture.id)
                .where(PictureRendition.format == "webp")
                .order_by(Picture.position, PictureRendition.width)
            )
        ).all()
    widths: dict[int, list[int]] = {}
    for original, width in rows:
        widths.setdefault(original, []).append(width)
    assert widths == {500: [320, 500], 320: [320], 3000: [320, 640, 1024]}


def _not_a_picture() -> bytes:
    return b"Dear office,\nhere is the photo.\n" * 20


def _gif() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (800, 600), (0, 128, 0)).save(out, "GIF")
    return out.getvalue()


def _truncated() -> bytes:
    data = photo(1600, 1200)
    return data[: len(data) // 2]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (_not_a_picture, "This file is not a picture we can use."),
        (_gif, "This file is not a picture we can use."),
        (lambda: photo(200, 150), "This picture is too small: 200 pixels wide, at least 320"),
        (lambda: bomb_png(9000, 200), "This picture is too big: 9000 × 200 pixels"),
        (lambda: bomb_png(40_000, 40_000), "This picture has far too many pixels"),
        (
            lambda: bomb_png(6000, 5000),
            "This PNG or WebP picture is too big: 6000 × 5000 pixels, at most 24 million",
        ),
        (_truncated, "This picture seems damaged or incomplete"),
        (lambda: b"", "Choose a picture to send"),
    ],
    ids=[
        "text-named-jpg",
        "gif",
        "too-small",
        "too-wide",
        "bomb",
        "png-too-many-to-decode",
        "truncated",
        "empty",
    ],
)
async def test_a_refused_file_comes_back_with_the_reason_and_the_descriptions_kept(
    db, staff, make, message
):
    client, _ = staff
    slot = await make_slot(db)
    answer = await post_picture(client, slot.activity_id, make(), fr="Le troupeau", nl="Kudde")
    assert answer.status_code == 422
    assert field_error(answer).startswith(message)
    assert 'value="Le troupeau"' in answer.text and 'value="Kudde"' in answer.text
    assert await pictures_of(db, slot.activity_id) == []


async def test_a_file_over_8_mb_is_refused_by_the_form_and_a_larger_body_before_it_is_read(
    db, staff
):
    client, _ = staff
    slot = await make_slot(db)
    just_over = photo(800, 600) + b"\0" * (images.MAX_UPLOAD_BYTES - 10_000)
    assert images.MAX_UPLOAD_BYTES < len(just_over) < images.MAX_UPLOAD_BYTES + 64 * 1024
    answer = await post_picture(client, slot.activity_id, just_over, fr="Gardé")
    assert answer.status_code == 413
    assert field_error(answer).startswith("This file is too large: at most 8 MB.")
    assert 'value="Gardé"' in answer.text

    huge = b"\xff" * (images.MAX_UPLOAD_BYTES + 200 * 1024)
    answer = await post_picture(client, slot.activity_id, huge)
    assert answer.status_code == 413
    assert "This file is too large: at most 8 MB." in html.unescape(answer.text)
    assert "Back to the back office" in answer.text  # the back office's page, not a crash
    assert await pictures_of(db, slot.activity_id) == []


async def test_the_same_picture_twice_and_a_seventh_are_refused(db):
    slot = await make_slot(db)
    owner = Owner(activity_id=slot.activity_id)
    files = [photo(400, 300, colour=(n * 40, 0, 0)) for n in range(pictures.MAX_PER_OWNER + 1)]
    for data in files[:-1]:
        await pictures.add_picture(db, owner, data, {}, actor="t")
    with pytest.raises(TooManyPictures):
        await pictures.add_picture(db, owner, files[-1], {}, actor="t")
    await pictures.remove(db, owner, (await pictures_of(db, slot.activity_id))[0].id, actor="t")
    with pytest.raises(pictures.SamePicture):
        await pictures.add_picture(db, owner, files[1], {}, actor="t")
    assert len(await pictures_of(db, slot.activity_id)) == pictures.MAX_PER_OWNER - 1


# --- staff only, CSRF --------------------------------------------------------------------------


async def test_only_logged_in_staff_upload_and_only_with_the_forms_token(db, client, staff):
    slot = await make_slot(db)
    await client.get("/staff/login")
    anonymous = await client.post(
        f"/staff/catalogue/activities/{slot.activity_id}/pictures",
        data={"_csrf_token": client.cookies["csrftoken"]},
        files={"file": ("photo.jpg", photo(800, 600), "image/jpeg")},
        follow_redirects=False,
    )
    assert anonymous.status_code in (302, 303)
    assert "/staff/login" in anonymous.headers["location"]

    logged_in, _ = staff
    await logged_in.get(f"/staff/catalogue/activities/{slot.activity_id}")
    no_token = await logged_in.post(
        f"/staff/catalogue/activities/{slot.activity_id}/pictures",
        files={"file": ("photo.jpg", photo(800, 600), "image/jpeg")},
        follow_redirects=False,
    )
    assert no_token.status_code == 403
    assert await pictures_of(db, slot.activity_id) == []

    # The token in the multipart form is read (the form works).
    assert (await post_picture(logged_in, slot.activity_id, photo(800, 600))).status_code == 303
    assert len(await pictures_of(db, slot.activity_id)) == 1


async def test_staff_describe_reorder_and_delete_pictures_each_change_audited(db, staff):
    client, account = staff
    slot = await make_slot(db)
    for n in range(3):
        answer = await post_picture(
            client, slot.activity_id, photo(640, 480, colour=(n * 40, 90, 90)), fr=f"Photo {n}"
        )
        assert answer.status_code == 303
    first, second, third = await pictures_of(db, slot.activity_id)
    base = f"/staff/catalogue/activities/{slot.activity_id}/pictures"
    page = await client.get(f"/staff/catalogue/activities/{slot.activity_id}")
    assert page.text.count('<li id="picture-') == 3
    assert f'action="{base}/{third.id}/first"' in page.text

    async def send(picture_id: int, action: str, **data: str):  # type: ignore[no-untyped-def]
        return await client.post(
            f"{base}/{picture_id}/{action}",
            data={"_csrf_token": csrf(client), **data},
            follow_redirects=False,
        )

    assert (await send(third.id, "first")).status_code == 303
    covers = await picture_reads.covers(db, [slot.activity_id])
    assert covers[slot.activity_id].id == third.id
    assert (await send(first.id, "down")).status_code == 303
    assert [p.id for p in await pictures_of(db, slot.activity_id)] == [
        third.id,
        second.id,
        first.id,
    ]

    described = await send(second.id, "alt", alt_fr="Le fromage", alt_de="Der Käse", alt_en="")
    assert described.status_code == 303
    too_long = await send(second.id, "alt", alt_fr="x" * 301)
    assert too_long.status_code == 422
    assert "at most 300 characters" in too_long.text

    assert (await send(third.id, "delete")).status_code == 303
    left = await pictures_of(db, slot.activity_id)
    assert [(p.id, p.position) for p in left] == [(second.id, 0), (first.id, 1)]
    assert left[0].alt == {"fr": "Le fromage", "de": "Der Käse"}
    assert (await send(third.id, "delete")).status_code == 404  # already gone: said, no crash
    assert (await send(first.id, "rotate")).status_code == 404

    async with db.reading() as session:
        entries = list(
            await session.scalars(
                select(AuditEntry)
                .where(AuditEntry.action.like("picture.%"))
                .order_by(AuditEntry.id)
            )
        )
        left_renditions = await session.scalars(select(PictureRendition.picture_id).distinct())
        assert set(left_renditions) == {second.id, first.id}
    assert [e.action for e in entries] == [
        "picture.added",
        "picture.added",
        "picture.added",
        "picture.moved",
        "picture.moved",
        "picture.described",
        "picture.deleted",
    ]
    assert {e.actor for e in entries} == {f"staff:{account.email}"}
    assert entries[5].data["before"] == {"alt": {"fr": "Photo 1"}}
    assert entries[6].data["before"]["alt"] == {"fr": "Photo 2"}


async def test_a_farm_gets_its_portrait_and_visit_pages_show_it_as_the_host(db, staff, client):
    logged_in, _ = staff
    logged_in.headers["accept-language"] = "en"
    slot = await make_slot(db)
    async with db.reading() as session:
        activity = await session.get(Activity, slot.activity_id)
    assert activity is not None
    provider_id = activity.provider_id
    await logged_in.get(f"/staff/catalogue/providers/{provider_id}")
    answer = await logged_in.post(
        f"/staff/catalogue/providers/{provider_id}/pictures",
        data={"_csrf_token": csrf(logged_in), "alt_fr": "La ferme et ses chèvres"},
        files={"file": ("ferme.png", photo(900, 900, fmt="PNG"), "image/png")},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    page = await logged_in.get(f"/staff/catalogue/providers/{provider_id}")
    assert page.text.count('<li id="picture-') == 1 and "Portrait" in page.text

    visit = await client.get(f"/visits/{slot.id}", headers={"accept-language": "en"})
    assert "Your host" in visit.text
    assert 'alt="La ferme et ses chèvres"' in html.unescape(visit.text)


# --- what visitors see -------------------------------------------------------------------------


async def test_alt_text_follows_the_visitors_language_then_french_then_the_title(db, client):
    goats = await make_slot(db)
    untitled = await make_slot(db, starts_at=goats.starts_at + timedelta(hours=3))
    alt = {"fr": "Des chèvres au pré", "de": "Ziegen auf der Weide"}
    await pictures.add_picture(
        db, Owner(activity_id=goats.activity_id), photo(800, 600), alt, actor="t"
    )
    await pictures.add_picture(
        db,
        Owner(activity_id=untitled.activity_id),
        photo(800, 600, colour=(5, 5, 5)),
        {},
        actor="t",
    )

    def alts(answer) -> list[str]:  # type: ignore[no-untyped-def]
        return [html.unescape(a) for a in re.findall(r'<img [^>]*alt="([^"]*)"', answer.text)]

    german = await client.get("/", headers={"accept-language": "de-DE,de;q=0.9"})
    english = await client.get("/", headers={"accept-language": "en"})
    async with db.reading() as session:
        activity = await session.get(Activity, untitled.activity_id)
    assert activity is not None
    title = activity.title["en"]
    assert alts(german)[0] == "Ziegen auf der Weide"
    assert alts(english) == ["Des chèvres au pré", title]


async def test_renditions_are_served_with_a_years_cache_and_unknown_ones_are_404(db, client):
    slot = await make_slot(db)
    owner = Owner(activity_id=slot.activity_id)
    picture_id = await pictures.add_picture(db, owner, photo(1200, 900), {}, actor="t")
    (view,) = await pictures_of(db, slot.activity_id)
    assert view.id == picture_id

    for extension, media_type in (("webp", "image/webp"), ("jpg", "image/jpeg")):
        answer = await client.get(view.url(640, extension))
        assert answer.status_code == 200
        assert answer.headers["content-type"] == media_type
        assert answer.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert opened(answer.content).size == (640, 480)
        etag = answer.headers["etag"]
        again = await client.get(view.url(640, extension), headers={"if-none-match": etag})
        assert again.status_code == 304 and again.content == b""
        head = await client.head(view.url(640, extension))
        assert head.status_code == 200 and head.content == b""
    other_version = "0" * picture_reads.VERSION_LENGTH
    for path in (
        f"/pictures/{picture_id}/{other_version}/640.webp",
        f"/pictures/{picture_id}/{view.version}/800.webp",
        f"/pictures/{picture_id}/{view.version}/640.gif",
        f"/pictures/{picture_id}/{view.version}/640",
        f"/pictures/{picture_id + 1}/{view.version}/640.jpg",
        f"/pictures/99999999999999/{view.version}/640.jpg",
    ):
        assert (await client.get(path)).status_code == 404, path


async def test_the_visit_page_shows_its_cover_at_once_and_the_others_lazily(db, client):
    slot = await make_slot(db)
    owner = Owner(activity_id=slot.activity_id)
    for n in range(3):
        await pictures.add_picture(
            db, owner, photo(1600, 1000, colour=(n * 50, 80, 80)), {}, actor="t"
        )
    cover, *others = await pictures_of(db, slot.activity_id)
    page = (await client.get(f"/visits/{slot.id}")).text
    tags = re.findall(r"<picture[^>]*>.*?</picture>", page, re.S)
    assert len(tags) == 3
    first = tags[0]
    assert f'srcset="{cover.url(320, "webp")} 320w, {cover.url(640, "webp")} 640w, ' in first
    assert f'{cover.url(1024, "webp")} 1024w"' in first
    assert 'type="image/webp"' in first and f'src="{cover.url(640, "jpg")}"' in first
    assert 'width="1600" height="1000"' in first and "sizes=" in first
    assert 'fetchpriority="high"' in first and 'loading="lazy"' not in first
    assert all('loading="lazy"' in tag and 'decoding="async"' in tag for tag in tags[1:])


async def test_embed_and_kiosk_show_the_covers(db, client):
    slot = await make_slot(db, starts_at=clock.now().replace(microsecond=0) + timedelta(hours=2))
    await pictures.add_picture(
        db, Owner(activity_id=slot.activity_id), photo(800, 600), {"fr": "Le pré"}, actor="t"
    )
    (view,) = await pictures_of(db, slot.activity_id)
    for path in ("/embed", "/kiosk"):
        page = await client.get(path)
        assert page.status_code == 200
        assert view.url(320, "webp") in page.text and 'alt="Le pré"' in html.unescape(page.text)


async def test_the_demo_programme_has_its_pictures_under_100_kb_in_one_select(db, client):
    await load_demo(db)
    seen: list[str] = []

    @event.listens_for(db.engine.sync_engine, "before_cursor_execute")
    def count(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        seen.append(statement)

    async def programme(days: int) -> tuple[str, list[str]]:
        seen.clear()
        last = (clock.today() + timedelta(days=days)).isoformat()
        answer = await client.get(f"/?to={last}")
        assert answer.status_code == 200
        return answer.text, list(seen)

    week, week_statements = await programme(7)
    whole, whole_statements = await programme(60)
    event.remove(db.engine.sync_engine, "before_cursor_execute", count)

    entries = re.findall(r'<li class="slot.*?</li>', whole, re.S)
    assert len(entries) > 40
    assert all("<picture" in entry for entry in entries)  # every demo activity has a cover
    assert len(whole.encode()) < 100_000
    picture_selects = [s for s in whole_statements if "picture" in s.lower()]
    assert len(picture_selects) == 1
    assert len(whole_statements) == len(week_statements)  # no statement per slot
    assert len(week.encode()) < len(whole.encode())

    async with db.reading() as session:
        portraits = await session.scalars(select(Picture).where(Picture.provider_id.is_not(None)))
        assert len(portraits.all()) >= 1
        alts = await session.scalars(select(Picture.alt))
        assert all(set(alt) == {"fr", "en", "de", "nl"} for alt in alts)


async def test_pages_with_pictures_meet_the_accessibility_basics(db, client, staff):
    from tests.test_accessibility import problems

    logged_in, _ = staff
    slot = await make_slot(db)
    for n in range(2):
        await pictures.add_picture(
            db,
            Owner(activity_id=slot.activity_id),
            photo(800, 600, colour=(n * 90, 9, 9)),
            {"fr": f"Photo {n}"},
            actor="t",
        )
    refused = await post_picture(logged_in, slot.activity_id, b"not a picture", fr="Gardé")
    assert refused.status_code == 422
    pages = {
        "programme": await client.get("/", headers={"accept-language": "de"}),
        "visit": await client.get(f"/visits/{slot.id}", headers={"accept-language": "de"}),
        "embed": await client.get("/embed"),
        "kiosk": await client.get("/kiosk"),
        "staff activity": await logged_in.get(f"/staff/catalogue/activities/{slot.activity_id}"),
        "refused upload": refused,
    }
    for name, answer in pages.items():
        lang = {"programme": "de", "visit": "de", "embed": "fr", "kiosk": "fr"}.get(name, "en")
        assert problems(answer.text, lang) == [], name


def test_a_phones_multi_picture_jpeg_is_taken_from_its_first_picture() -> None:
    """Many phones and cameras save MPO files (a JPEG with more pictures after it)."""
    first = Image.new("RGB", (800, 600), (30, 120, 60))
    second = Image.new("RGB", (800, 600), (200, 30, 30))
    out = io.BytesIO()
    first.save(out, "MPO", save_all=True, append_images=[second])
    assert Image.open(io.BytesIO(out.getvalue())).format == "MPO"
    prepared = images.prepare(out.getvalue())
    assert (prepared.width, prepared.height) == (800, 600)
    largest = Image.open(io.BytesIO(prepared.renditions[-1].data)).convert("RGB")
    red, green, _ = largest.getpixel((400, 300))
    assert green > red  # the first picture's green, not the second's red
