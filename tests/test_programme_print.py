"""The printable programme of a sector and a fortnight (``/staff/programme`` and its PDF), on
each database: the right slots, by day, with every fact the office prints, in French with its
accents, “œ” and typographic apostrophes, whatever the reader's language. The PDF's text is read
back by a small reader written here from the PDF specification (streams, ToUnicode maps),
independent of the library that wrote it."""

from __future__ import annotations

import re
import tomllib
import zlib
from datetime import date, datetime, time, timedelta

from sqlalchemy import update

from reservations.base import clock
from reservations.base.models import Activity, ActivityKind, CancelReason
from reservations.base.rules import slots
from reservations.settings import PROJECT_ROOT
from reservations.staff.programme_pdf import FONT_FILES
from reservations.staff.programme_sheet import french_period
from tests.factories import make_activity, make_slot
from tests.test_visitors import PUBLIC_URL

ML, VF = "Mont Lozère", "Vallée Française"
FIRST = date(2027, 7, 1)  # a Thursday
OFFICE_PHONE = "+33 4 65 71 00 10"  # the default of Settings

# --- reading a PDF's text --------------------------------------------------------------------

_ESCAPES = {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"b": b"\b", b"f": b"\f"}


def _objects(data: bytes) -> dict[int, bytes]:
    found = re.finditer(rb"(\d+) 0 obj(.*?)endobj", data, re.DOTALL)
    return {int(m.group(1)): m.group(2) for m in found}


def _stream(body: bytes) -> bytes:
    found = re.search(rb"stream\r?\n(.*?)\r?\nendstream", body, re.DOTALL)
    assert found, body[:200]
    raw = found.group(1)
    return zlib.decompress(raw) if b"/FlateDecode" in body[: found.start()] else raw


def _literal(raw: bytes) -> bytes:
    """A PDF literal string's bytes, its backslash escapes undone."""
    out, i = bytearray(), 0
    while i < len(raw):
        if raw[i : i + 1] != b"\\":
            out += raw[i : i + 1]
            i += 1
            continue
        octal = re.match(rb"[0-7]{1,3}", raw[i + 1 :])
        if octal:
            out.append(int(octal.group(0), 8))
            i += 1 + len(octal.group(0))
        else:
            out += _ESCAPES.get(raw[i + 1 : i + 2], raw[i + 1 : i + 2])
            i += 2
    return bytes(out)


def _to_unicode(cmap: bytes) -> dict[int, str]:
    mapping = {}
    for block in re.findall(rb"beginbfchar(.*?)endbfchar", cmap, re.DOTALL):
        for source, target in re.findall(rb"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>", block):
            mapping[int(source, 16)] = bytes.fromhex(target.decode()).decode("utf-16-be")
    for block in re.findall(rb"beginbfrange(.*?)endbfrange", cmap, re.DOTALL):
        pattern = rb"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>"
        for low, high, target in re.findall(pattern, block):
            for offset, code in enumerate(range(int(low, 16), int(high, 16) + 1)):
                mapping[code] = chr(int(target, 16) + offset)
    return mapping


def pdf_lines(data: bytes) -> list[str]:
    """The text shown by each ``Tj`` of the pages, in order, decoded through the ToUnicode map
    of the font in use (two-byte codes, as Type0 fonts with Identity-H encoding write them)."""
    objects = _objects(data)
    fonts: dict[bytes, dict[int, str]] = {}
    for body in objects.values():
        for name, number in re.findall(rb"/(F\d+)\s+(\d+) 0 R", body):
            to_unicode = re.search(rb"/ToUnicode (\d+) 0 R", objects[int(number)])
            if to_unicode:
                fonts[name] = _to_unicode(_stream(objects[int(to_unicode.group(1))]))
    lines: list[str] = []
    operators = rb"/(F\d+)\s+[\d.]+\s+Tf|\(((?:\\.|[^\\)])*)\)\s*Tj"
    for body in objects.values():
        if not re.search(rb"/Type /Page\b", body):
            continue
        for number in re.findall(rb"/Contents (\d+) 0 R", body):
            font: dict[int, str] = {}
            for op in re.finditer(operators, _stream(objects[int(number)]), re.DOTALL):
                if op.group(1):
                    font = fonts[op.group(1)]
                    continue
                raw = _literal(op.group(2))
                codes = [int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw), 2)]
                lines.append("".join(font[code] for code in codes))
    return lines


def plain(text: str) -> str:
    text = re.sub(r"<[^>]+>", " ", text).replace("\xa0", " ").replace("\u202f", " ")
    return re.sub(r"\s+", " ", text).replace("&#39;", "'").replace("&amp;", "&")


# --- the data --------------------------------------------------------------------------------


async def titled(db, sector: str, title: str, **fields: object) -> Activity:  # type: ignore[no-untyped-def]
    activity = await make_activity(db, sector=sector)
    values = {"name": title, "title": {"fr": title, "en": f"{title} (en)"}, **fields}
    async with db.writing() as session:
        await session.execute(update(Activity).where(Activity.id == activity.id).values(values))
    for key, value in values.items():
        setattr(activity, key, value)
    return activity


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return clock.local_datetime(day, time(hour, minute))


async def fortnight(db):  # type: ignore[no-untyped-def]
    """Slots of Mont Lozère in and around the fortnight from 1 July 2027, and others."""
    hive = await titled(
        db,
        ML,
        "Au cœur de la ruche",
        meeting_point="Parking près du temple, Saint-Andéol",
        price_adult_cents=800,
        price_child_cents=500,
    )
    sheep = await titled(
        db, ML, "L’écho des bergères", kind=ActivityKind.ANIMATION, duration_minutes=120
    )
    valley = await titled(db, VF, "Châtaignes d’antan")
    listed = {
        "first_morning": await make_slot(db, activity=hive, starts_at=at(FIRST, 10)),
        "first_evening": await make_slot(db, activity=sheep, starts_at=at(FIRST, 17, 30)),
        "last_day": await make_slot(db, activity=hive, starts_at=at(FIRST + timedelta(13), 9)),
    }
    left_out = {
        "day_before": await make_slot(db, activity=hive, starts_at=at(FIRST - timedelta(1), 10)),
        "day_after": await make_slot(db, activity=hive, starts_at=at(FIRST + timedelta(14), 10)),
        "other_sector": await make_slot(db, activity=valley, starts_at=at(FIRST, 11)),
        "cancelled": await make_slot(db, activity=sheep, starts_at=at(FIRST + timedelta(3), 17)),
    }
    await slots.cancel_slot(db, left_out["cancelled"].id, CancelReason.WEATHER, actor="test")
    return listed, left_out


QUERY = {"sector": ML, "from": FIRST.isoformat()}


async def test_the_print_view_lists_the_fortnight_by_day_in_french(staff, db):
    client, _ = staff
    listed, left_out = await fortnight(db)
    page = await client.get("/staff/programme", params={**QUERY, "lang": "en"})
    assert page.status_code == 200, page.text
    assert 'lang="fr"' in page.text, "the document is marked as French"
    assert ">Sector<" in page.text, "the controls follow the reader's language"
    text = plain(page.text)
    assert "Mont Lozère — Du jeudi 1er au mercredi 14 juillet 2027" in text
    assert f"office de tourisme : {OFFICE_PHONE}" in text
    # By day, in time order; a day without slot is left out.
    assert re.search(
        r"Jeudi 1er juillet 10:00 – 11:30 Au cœur de la ruche .*"
        r"17:30 – 19:30 L’écho des bergères .*Mercredi 14 juillet 09:00 – 10:30 Au cœur",
        text,
    ), text
    assert "Vendredi 2 juillet" not in text
    assert "Visite de ferme · " in text and "Animation · " in text
    assert "Rendez-vous : Parking près du temple, Saint-Andéol" in text
    assert "Adultes 8,00 €, enfants 5,00 €" in text and "Gratuit" in text
    for slot in listed.values():
        assert f'href="{PUBLIC_URL}/visits/{slot.id}"' in page.text
    for slot in left_out.values():
        assert f'/visits/{slot.id}"' not in page.text
    assert "Châtaignes" not in text
    assert "@media print" in (await client.get("/static/staff.css")).text


async def test_the_pdf_holds_the_same_programme_with_its_accents(staff, db):
    client, _ = staff
    listed, left_out = await fortnight(db)
    answer = await client.get("/staff/programme.pdf", params=QUERY)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/pdf"
    assert answer.content.startswith(b"%PDF-")
    assert "programme-mont-lozere-2027-07-01.pdf" in answer.headers["content-disposition"]
    lines = [line.replace("\xa0", " ").replace("\u202f", " ") for line in pdf_lines(answer.content)]
    text = "\n".join(lines)
    assert "Mont Lozère — Du jeudi 1er au mercredi 14 juillet 2027" in lines
    assert lines.index("Jeudi 1er juillet") < lines.index("Au cœur de la ruche")
    assert lines.index("Au cœur de la ruche") < lines.index("L’écho des bergères")
    assert lines.index("L’écho des bergères") < lines.index("Mercredi 14 juillet")
    assert lines.count("Au cœur de la ruche") == 2
    assert "Rendez-vous : Parking près du temple, Saint-Andéol" in lines
    assert "Adultes 8,00 €, enfants 5,00 €" in text
    assert f"office de tourisme : {OFFICE_PHONE}" in text
    for slot in listed.values():
        assert f"Réserver : {PUBLIC_URL}/visits/{slot.id}" in lines
    for slot in left_out.values():
        assert f"/visits/{slot.id}\n" not in text + "\n"
    assert "Châtaignes d’antan" not in text
    # The text is set in the embedded Unicode font, not in a latin-1 core font.
    assert b"/FontFile2" in answer.content and b"DejaVuSansCondensed" in answer.content
    assert b"/Helvetica" not in answer.content


async def test_an_empty_fortnight_says_so(staff, db):
    client, _ = staff
    answer = await client.get("/staff/programme.pdf", params={"sector": VF, "from": "2027-07-01"})
    assert answer.status_code == 200
    assert any("Aucune visite ni animation" in line for line in pdf_lines(answer.content))
    page = await client.get("/staff/programme", params={"sector": VF, "from": "2027-07-01"})
    assert "Aucune visite ni animation n’est prévue" in plain(page.text)


async def test_bad_sector_or_date_is_refused_beside_its_field(staff, db):
    client, _ = staff
    page = await client.get("/staff/programme", params={"sector": "Nowhere", "from": "1 July"})
    assert page.status_code == 422
    assert 'id="sector-error"' in page.text and 'id="from-error"' in page.text
    assert 'value="1 July"' in page.text, "the value typed is kept"
    pdf = await client.get("/staff/programme.pdf", params={"sector": "Nowhere"})
    assert pdf.status_code == 422
    default = await client.get("/staff/programme")
    assert default.status_code == 200, "the first sector and today by default"


def test_the_font_is_shipped_with_the_package():
    """On a clean machine the PDF's font comes from the installed package: the files are in
    the package folder, covered by its package-data, with their licence."""
    pyproject = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = pyproject["tool"]["setuptools"]["package-data"]["reservations"]
    package = PROJECT_ROOT / "src" / "reservations"
    shipped = {path for pattern in patterns for path in package.glob(pattern)}
    for path in FONT_FILES.values():
        assert path.is_file() and path in shipped, path
    assert next(iter(FONT_FILES.values())).parent / "LICENSE-DejaVu.txt" in shipped


def test_the_period_is_written_as_the_office_writes_it():
    assert french_period(date(2027, 7, 1), date(2027, 7, 14)) == (
        "du jeudi 1er au mercredi 14 juillet 2027"
    )
    assert french_period(date(2027, 6, 24), date(2027, 7, 7)) == (
        "du jeudi 24 juin au mercredi 7 juillet 2027"
    )
    assert french_period(date(2027, 12, 27), date(2028, 1, 9)) == (
        "du lundi 27 décembre 2027 au dimanche 9 janvier 2028"
    )


# --- full and cancelled visits -----------------------------------------------------------------


async def full_and_cancelled(db):  # type: ignore[no-untyped-def]
    """A visit booked to its last place and one called off for the weather, in the fortnight,
    beside one still taking bookings."""
    from reservations.base.rules import booking as booking_service
    from reservations.base.rules.booking import BookingPolicy, BookingRequest

    hive = await titled(db, ML, "Au cœur de la ruche")
    full = await make_slot(db, activity=hive, starts_at=at(FIRST, 10), capacity=3)
    request = BookingRequest(full.id, 2, 1, "Jan de Vries", "jan@example.nl", locale="nl")
    await booking_service.book(
        db, request, BookingPolicy(secret_key="test"), actor="test", now=at(FIRST - timedelta(7), 8)
    )
    called_off = await make_slot(db, activity=hive, starts_at=at(FIRST + timedelta(2), 10))
    await slots.cancel_slot(db, called_off.id, CancelReason.WEATHER, actor="test")
    open_ = await make_slot(db, activity=hive, starts_at=at(FIRST + timedelta(4), 10))
    return full, called_off, open_


async def test_the_print_view_marks_full_and_cancelled_visits_without_a_link(staff, db):
    client, _ = staff
    full, called_off, open_ = await full_and_cancelled(db)
    for lang in ("fr", "en"):  # the sheet is French whatever the reader's language
        page = await client.get("/staff/programme", params={**QUERY, "lang": lang})
        assert page.status_code == 200
        days = re.findall(
            r'<h3 class="day-heading" id="day-([\d-]+)">(.*?)</section>', page.text, re.S
        )
        entries = {day: plain(body) for day, body in days}
        assert "Complet" in entries[FIRST.isoformat()]
        assert "Réserver" not in entries[FIRST.isoformat()]
        assert "Annulée" in entries[(FIRST + timedelta(2)).isoformat()]
        assert "Réserver" not in entries[(FIRST + timedelta(2)).isoformat()]
        assert "Réserver" in entries[(FIRST + timedelta(4)).isoformat()]
        assert f'/visits/{full.id}"' not in page.text
        assert f'/visits/{called_off.id}"' not in page.text
        assert f'href="{PUBLIC_URL}/visits/{open_.id}"' in page.text
        assert page.text.count('class="entry entry-cancelled"') == 1


async def test_the_pdf_marks_full_and_cancelled_visits_without_a_link(staff, db):
    client, _ = staff
    full, called_off, open_ = await full_and_cancelled(db)
    answer = await client.get("/staff/programme.pdf", params=QUERY)
    assert answer.status_code == 200
    lines = [line.replace("\xa0", " ").replace("\u202f", " ") for line in pdf_lines(answer.content)]
    first, third, fifth = (
        lines.index(f"{day[0].upper()}{day[1:]}")
        for day in ("jeudi 1er juillet", "samedi 3 juillet", "lundi 5 juillet")
    )
    assert "Complet" in lines[first:third] and "Annulée" in lines[third:fifth]
    assert f"Réserver : {PUBLIC_URL}/visits/{open_.id}" in lines[fifth:]
    text = "\n".join(lines) + "\n"
    assert f"/visits/{full.id}\n" not in text and f"/visits/{called_off.id}\n" not in text
    for slot in (full, called_off):  # not even as a link annotation
        assert b"/visits/%d)" % slot.id not in answer.content
    assert b"/visits/%d)" % open_.id in answer.content
