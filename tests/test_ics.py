"""The .ics of a visit: read back by icalendar, and checked line by line against RFC 5545 by a
small reader written here, so a fault shared by icalendar's writer and reader still shows."""

from __future__ import annotations

import calendar as gregorian
import re
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar, vDuration

from reservations.notices import ics
from reservations.notices.ics import as_attachment, booking_uid, calendar_for_visit, slot_uid

PARIS = ZoneInfo("Europe/Paris")
STAMP = datetime(2026, 5, 2, 9, 15, tzinfo=UTC)
DESCRIPTION = (
    "Visite de la chèvrerie du Mas, traite à 17 h; dégustation de pélardons.\n"
    "Chaussures fermées conseillées, chiens non admis. Größe der Gruppe: höchstens 15 Personen; "
    "rendez-vous devant la grange 🐐."
)


def visit(**overrides: object) -> bytes:
    fields: dict[str, object] = {
        "uid": booking_uid("K7QM-42ZD"),
        "title": "Visite de la chèvrerie",
        "description": DESCRIPTION,
        "location": "Mas de la Barque, 48220 Vialas",
        "starts_at": datetime(2026, 7, 12, 8, 0, tzinfo=UTC),
        "ends_at": datetime(2026, 7, 12, 10, 0, tzinfo=UTC),
        "url": "https://reservations.example.org/manage/abc?lang=fr",
        "sequence": 3,
        "latitude": 44.3842,
        "longitude": 3.8265,
        "stamp": STAMP,
    }
    fields.update(overrides)
    return calendar_for_visit(**fields)  # type: ignore[arg-type]


# --- an independent reader of the raw text ----------------------------------------------------


def physical_lines(data: bytes) -> list[bytes]:
    assert data.endswith(b"\r\n")
    assert data.count(b"\n") == data.count(b"\r\n"), "every line ends with CRLF"
    return data[:-2].split(b"\r\n")


def logical_lines(data: bytes) -> list[str]:
    """Unfold (RFC 5545 3.1): a line starting with a space or tab continues the previous one."""
    lines: list[bytes] = []
    for line in physical_lines(data):
        if line[:1] in (b" ", b"\t"):
            lines[-1] += line[1:]
        else:
            lines.append(line)
    return [line.decode("utf-8") for line in lines]


def components(lines: list[str]) -> list[tuple[str, dict[str, list[str]]]]:
    """Every component as (path, {property name with parameters: [values]}); checks nesting."""
    stack: list[tuple[str, dict[str, list[str]]]] = []
    found: list[tuple[str, dict[str, list[str]]]] = []
    for line in lines:
        name, _, value = line.partition(":")
        if name == "BEGIN":
            path = "/".join([p for p, _ in stack[-1:]] + [value])
            stack.append((path, {}))
        elif name == "END":
            path, properties = stack.pop()
            assert path.rsplit("/", 1)[-1] == value, f"END:{value} closes {path}"
            found.append((path, properties))
        else:
            assert stack, f"property outside any component: {line}"
            stack[-1][1].setdefault(name, []).append(value)
    assert not stack, "every BEGIN has its END"
    return found


def only(found: list[tuple[str, dict[str, list[str]]]], path: str) -> dict[str, list[str]]:
    matches = [properties for p, properties in found if p == path]
    assert len(matches) == 1, f"{len(matches)} {path}"
    return matches[0]


def unescape(text: str) -> str:
    return re.sub(r"\\([\\;,nN])", lambda m: "\n" if m[1] in "nN" else m[1], text)


def parse_offset(text: str) -> timedelta:
    sign = -1 if text[0] == "-" else 1
    return sign * timedelta(hours=int(text[1:3]), minutes=int(text[3:5]))


def last_sunday(year: int, month: int) -> date:
    last = date(year, month, gregorian.monthrange(year, month)[1])
    return last - timedelta(days=(last.weekday() - 6) % 7)


def transitions_from_vtimezone(
    observances: list[dict[str, list[str]]], year: int
) -> list[tuple[datetime, timedelta]]:
    """The UTC instants where the offset changes in ``year``, from the VTIMEZONE's own rules
    (only the form written here: yearly, BYMONTH, BYDAY=-1SU)."""
    changes = []
    for observance in observances:
        rule = dict(part.split("=") for part in observance["RRULE"][0].split(";"))
        assert rule["FREQ"] == "YEARLY" and rule["BYDAY"] == "-1SU", rule
        onset = datetime.strptime(observance["DTSTART"][0], "%Y%m%dT%H%M%S")
        day = last_sunday(year, int(rule["BYMONTH"]))
        local = datetime.combine(day, onset.time())
        offset_from = parse_offset(observance["TZOFFSETFROM"][0])
        instant = (local - offset_from).replace(tzinfo=UTC)  # onset is in the offset before
        changes.append((instant, parse_offset(observance["TZOFFSETTO"][0])))
    return sorted(changes)


def zoneinfo_transitions(year: int) -> list[tuple[datetime, timedelta]]:
    """The same from the system's tz database, minute by minute around each change."""
    changes = []
    instant = datetime(year, 1, 1, tzinfo=UTC)
    previous = instant.astimezone(PARIS).utcoffset()
    while instant.year == year:
        offset = instant.astimezone(PARIS).utcoffset()
        if offset != previous:
            assert offset is not None
            step = instant - timedelta(hours=1)
            while step.astimezone(PARIS).utcoffset() == previous:
                step += timedelta(minutes=1)
            changes.append((step, offset))
            previous = offset
        instant += timedelta(hours=1)
    return changes


# --- the tests -----------------------------------------------------------------------------------


def test_reads_back_with_icalendar() -> None:
    parsed = Calendar.from_ical(visit())
    assert str(parsed["VERSION"]) == "2.0"
    assert str(parsed["METHOD"]) == "PUBLISH"
    assert str(parsed["PRODID"])
    [event] = parsed.walk("VEVENT")
    assert str(event["UID"]) == "booking-K7QM-42ZD@reservations"
    assert str(event["SUMMARY"]) == "Visite de la chèvrerie"
    assert str(event["DESCRIPTION"]) == DESCRIPTION
    assert str(event["LOCATION"]) == "Mas de la Barque, 48220 Vialas"
    assert str(event["URL"]) == "https://reservations.example.org/manage/abc?lang=fr"
    assert str(event["STATUS"]) == "CONFIRMED"
    assert int(event["SEQUENCE"]) == 3
    assert (event["GEO"].latitude, event["GEO"].longitude) == (44.3842, 3.8265)
    assert event.decoded("DTSTART") == datetime(2026, 7, 12, 8, 0, tzinfo=UTC)
    assert event.decoded("DTEND") == datetime(2026, 7, 12, 10, 0, tzinfo=UTC)
    assert event.decoded("DTSTAMP") == STAMP
    [timezone] = parsed.walk("VTIMEZONE")
    assert str(timezone["TZID"]) == "Europe/Paris"


def test_raw_text_follows_rfc_5545() -> None:
    data = visit()
    for line in physical_lines(data):
        assert len(line) <= 75, f"{len(line)} octets: {line!r}"
        line.decode("utf-8")  # folding never splits a character
    found = components(logical_lines(data))
    assert [path for path, _ in found] == [
        "VCALENDAR/VTIMEZONE/DAYLIGHT",
        "VCALENDAR/VTIMEZONE/STANDARD",
        "VCALENDAR/VTIMEZONE",
        "VCALENDAR/VEVENT",
        "VCALENDAR",
    ]
    head = only(found, "VCALENDAR")
    assert head["VERSION"] == ["2.0"] and head["METHOD"] == ["PUBLISH"] and head["PRODID"]
    event = only(found, "VCALENDAR/VEVENT")
    assert event["DTSTART;TZID=Europe/Paris"] == ["20260712T100000"]  # 08:00 UTC in CEST
    assert event["DTEND;TZID=Europe/Paris"] == ["20260712T120000"]
    assert event["DTSTAMP"] == ["20260502T091500Z"]
    assert event["UID"] == ["booking-K7QM-42ZD@reservations"]
    assert event["GEO"] == ["44.3842;3.8265"]
    assert event["SEQUENCE"] == ["3"]
    assert event["STATUS"] == ["CONFIRMED"]
    assert [unescape(v) for v in event["DESCRIPTION"]] == [DESCRIPTION]
    assert [unescape(v) for v in event["LOCATION"]] == ["Mas de la Barque, 48220 Vialas"]
    assert only(found, "VCALENDAR/VTIMEZONE")["TZID"] == ["Europe/Paris"]


def test_long_texts_are_folded_within_75_octets() -> None:
    long_title = "Découverte des châtaigneraies et de la fabrication du pélardon " * 6
    data = visit(title=long_title, description="é" * 200 + "🐐" * 40)
    lines = physical_lines(data)
    assert max(len(line) for line in lines) <= 75
    assert any(line.startswith(b" ") for line in lines), "long lines are folded"
    for line in lines:
        line.decode("utf-8")
    event = only(components(logical_lines(data)), "VCALENDAR/VEVENT")
    assert event["SUMMARY"] == [long_title]
    assert event["DESCRIPTION"] == ["é" * 200 + "🐐" * 40]


@pytest.mark.parametrize(
    ("starts_utc", "local_text"),
    [
        (datetime(2026, 3, 28, 9, 0, tzinfo=UTC), "20260328T100000"),  # the day before: CET
        (datetime(2026, 3, 29, 8, 0, tzinfo=UTC), "20260329T100000"),  # summer time from 02:00
        (datetime(2026, 10, 24, 8, 0, tzinfo=UTC), "20261024T100000"),  # still CEST
        (datetime(2026, 10, 25, 9, 0, tzinfo=UTC), "20261025T100000"),  # back to CET at 03:00
        (datetime(2027, 1, 15, 13, 30, tzinfo=UTC), "20270115T143000"),
        (datetime(2026, 3, 29, 1, 30, tzinfo=UTC), "20260329T033000"),  # just after the change
    ],
)
def test_local_times_across_daylight_saving(starts_utc: datetime, local_text: str) -> None:
    ends_utc = starts_utc + timedelta(hours=2)
    data = visit(starts_at=starts_utc, ends_at=ends_utc)
    found = components(logical_lines(data))
    event = only(found, "VCALENDAR/VEVENT")
    assert event["DTSTART;TZID=Europe/Paris"] == [local_text]
    # The embedded VTIMEZONE alone turns that wall-clock time back into the same instant.
    observances = [props for path, props in found if path.startswith("VCALENDAR/VTIMEZONE/")]
    local = datetime.strptime(local_text, "%Y%m%dT%H%M%S")
    offset = offset_at(observances, local)
    assert (local - offset).replace(tzinfo=UTC) == starts_utc
    [vevent] = Calendar.from_ical(data).walk("VEVENT")
    assert vevent.decoded("DTSTART") == starts_utc
    assert vevent.decoded("DTEND") == ends_utc


def offset_at(observances: list[dict[str, list[str]]], local: datetime) -> timedelta:
    """The offset in force at a local wall-clock time, by the VTIMEZONE's rules."""
    changes = transitions_from_vtimezone(observances, local.year)
    offset = changes[-1][1]  # what the previous year ended with
    for instant, after in changes:
        if (local - after).replace(tzinfo=UTC) >= instant:
            offset = after
    return offset


def test_vtimezone_matches_the_tz_database_for_years() -> None:
    found = components(logical_lines(visit()))
    observances = [props for path, props in found if path.startswith("VCALENDAR/VTIMEZONE/")]
    for year in range(2025, 2036):
        assert transitions_from_vtimezone(observances, year) == zoneinfo_transitions(year), year


def test_vtimezone_read_by_icalendar_gives_paris_offsets() -> None:
    [timezone] = Calendar.from_ical(visit()).walk("VTIMEZONE")
    tz = timezone.to_tz(lookup_tzid=False)  # from the definition, not the name
    for instant in (
        datetime(2026, 3, 29, 0, 59, tzinfo=UTC),
        datetime(2026, 3, 29, 1, 0, tzinfo=UTC),
        datetime(2026, 7, 1, 12, 0, tzinfo=UTC),
        datetime(2026, 10, 25, 0, 59, tzinfo=UTC),
        datetime(2026, 10, 25, 1, 0, tzinfo=UTC),
        datetime(2027, 12, 24, 18, 0, tzinfo=UTC),
    ):
        assert instant.astimezone(tz).utcoffset() == instant.astimezone(PARIS).utcoffset()


def test_uids_are_stable_and_distinct() -> None:
    assert booking_uid("K7QM-42ZD") == booking_uid("K7QM-42ZD") == "booking-K7QM-42ZD@reservations"
    assert booking_uid("K7QM-42ZD") != booking_uid("K7QM-42ZE")
    assert slot_uid(42) == "slot-42@reservations"
    assert slot_uid(42) != booking_uid("42")
    first = Calendar.from_ical(visit(stamp=STAMP))
    later = Calendar.from_ical(
        visit(stamp=STAMP + timedelta(days=3), sequence=4, status="CANCELLED")
    )
    [before], [after] = first.walk("VEVENT"), later.walk("VEVENT")
    assert str(before["UID"]) == str(after["UID"])
    assert (int(after["SEQUENCE"]), str(after["STATUS"])) == (4, "CANCELLED")


def test_optional_fields_are_left_out() -> None:
    event = only(
        components(logical_lines(visit(url=None, latitude=None, longitude=None))),
        "VCALENDAR/VEVENT",
    )
    assert "GEO" not in event and "URL" not in event


def test_given_times_in_any_zone_mean_the_same_instants() -> None:
    new_york = ZoneInfo("America/New_York")
    starts = datetime(2026, 7, 12, 4, 0, tzinfo=new_york)  # 10:00 in Paris
    event = only(
        components(logical_lines(visit(starts_at=starts, ends_at=starts + timedelta(hours=2)))),
        "VCALENDAR/VEVENT",
    )
    assert event["DTSTART;TZID=Europe/Paris"] == ["20260712T100000"]


@pytest.mark.parametrize(
    "overrides",
    [
        {"starts_at": datetime(2026, 7, 12, 10, 0)},
        {"ends_at": datetime(2026, 7, 12, 7, 0, tzinfo=UTC)},
        {"status": "MAYBE"},
    ],
)
def test_refuses_bad_input(overrides: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        visit(**overrides)


def test_as_attachment_keeps_the_calendar() -> None:
    data = visit()
    attachment = as_attachment(data, "visite.ics")
    assert attachment["filename"] == "visite.ics"
    assert attachment["content_type"].startswith("text/calendar")
    assert "method=PUBLISH" in attachment["content_type"]
    assert attachment["content"].encode("utf-8") == data


def _feed_events() -> list[ics.CalendarEvent]:
    starts = datetime(2026, 7, 14, 8, 0, tzinfo=UTC)
    return [
        ics.CalendarEvent(
            uid=slot_uid(number),
            title=f"Visite n°{number} — chèvres, brebis ; fromage",
            description="Très long texte, avec des virgules, des ; et des accents é à ü. " * 4
            + "\nhttps://example.org/visits/1",
            location="Mas de la Barque, Vialas",
            starts_at=starts + timedelta(days=number),
            ends_at=starts + timedelta(days=number, hours=2),
            stamp=starts - timedelta(days=30),
            url=f"https://example.org/visits/{number}" if number % 2 else None,
            status=ics.STATUSES[number % 3],
            sequence=number,
            latitude=44.33 if number else None,
            longitude=3.89 if number else None,
        )
        for number in range(4)
    ]


def test_a_feed_is_the_calendar_icalendar_writes_with_its_events_and_each_is_built_once() -> None:
    events = _feed_events()
    whole = ics._calendar()
    whole.add("name", "Visites")
    whole.add("x-wr-calname", "Visites")
    whole.add("x-wr-timezone", "Europe/Paris")
    whole.add("refresh-interval", vDuration(timedelta(hours=1)), parameters={"VALUE": "DURATION"})
    whole.add("x-published-ttl", vDuration(timedelta(hours=1)))
    for event in events:
        whole.add_component(ics._event(event))

    assert ics.calendar_feed(events, name="Visites") == whole.to_ical()
    hits = ics._event_ical.cache_info().hits
    assert ics.calendar_feed(events[1:], name="Visites").count(b"BEGIN:VEVENT") == 3
    assert ics._event_ical.cache_info().hits == hits + 3
    with pytest.raises(ValueError):
        ics.calendar_feed([replace(events[0], status="MAYBE")], name="Visites")
