"""Season planning's pure half: a recurrence expanded into start times (RFC 5545 through
dateutil, wall-clock times in Europe/Paris), and the dates left out with their reasons. Every
expected date below is written by hand from a calendar, never computed by the code under test."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from reservations.base.errors import SlotAlreadyHeld, SlotCancelled
from reservations.base.models import Slot, SlotStatus
from reservations.base.rules import season
from reservations.base.rules.activities import MinimumAboveCapacity
from reservations.base.rules.season import (
    CapacityBelowBooked,
    Excluded,
    Exclusion,
    Facts,
    InvalidPlanPeriod,
    InvalidRule,
    NothingToChange,
    NoWeekday,
    Recurrence,
    Rules,
    SlotChange,
    SlotStarted,
    TooManyDates,
)

TUESDAY, WEDNESDAY, THURSDAY, SATURDAY, SUNDAY = 1, 2, 3, 5, 6
LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)


def utc(day: str, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(date.fromisoformat(day), time(hour, minute), UTC)


def summer(*days: str, hour: int = 10, minute: int = 0) -> list[datetime]:
    """Paris summer time is UTC+2: 10:00 there is 08:00 UTC."""
    return [utc(day, hour - 2, minute) for day in days]


def facts(**values: object) -> Facts:
    return Facts(now=values.pop("now", LONG_AGO), **values)  # type: ignore[arg-type]


# Tuesdays and Thursdays of July and August 2027, from a calendar: 1 July 2027 is a Thursday,
# 1 August a Sunday.
TUESDAYS_AND_THURSDAYS_2027 = summer(
    "2027-07-01", "2027-07-06", "2027-07-08", "2027-07-13", "2027-07-15", "2027-07-20",
    "2027-07-22", "2027-07-27", "2027-07-29", "2027-08-03", "2027-08-05", "2027-08-10",
    "2027-08-12", "2027-08-17", "2027-08-19", "2027-08-24", "2027-08-26", "2027-08-31",
)  # fmt: skip
JULY_AUGUST_2027 = Recurrence(
    date(2027, 7, 1), date(2027, 8, 31), time(10, 0), weekdays=(TUESDAY, THURSDAY)
)


def test_tuesdays_and_thursdays_of_july_and_august_at_ten():
    assert season.occurrences(JULY_AUGUST_2027) == TUESDAYS_AND_THURSDAYS_2027


def test_a_day_off_is_left_out_with_its_note_and_the_holidays_fall_on_other_days():
    holidays = season.public_holidays(date(2027, 7, 1), date(2027, 8, 31))
    plan = season.plan(
        JULY_AUGUST_2027,
        Rules(),
        facts(public_holidays=holidays, days_off={date(2027, 8, 12): "Fête du village"}),
    )
    # 14 July 2027 is a Wednesday and 15 August a Sunday: no Tuesday or Thursday is a holiday.
    assert holidays == {date(2027, 7, 14): "Fête nationale", date(2027, 8, 15): "Assomption"}
    assert plan.excluded == [Excluded(utc("2027-08-12", 8), Exclusion.DAY_OFF, "Fête du village")]
    assert plan.dates == [d for d in TUESDAYS_AND_THURSDAYS_2027 if d != utc("2027-08-12", 8)]
    assert len(plan.dates) == 17


def test_holidays_are_left_out_when_they_fall_on_the_chosen_days():
    wednesdays_and_sundays = Recurrence(
        date(2027, 7, 10), date(2027, 8, 20), time(14, 30), weekdays=(WEDNESDAY, SUNDAY)
    )
    holidays = season.public_holidays(date(2027, 7, 10), date(2027, 8, 20))
    plan = season.plan(wednesdays_and_sundays, Rules(), facts(public_holidays=holidays))
    assert plan.excluded == [
        Excluded(utc("2027-07-14", 12, 30), Exclusion.PUBLIC_HOLIDAY, "Fête nationale"),
        Excluded(utc("2027-08-15", 12, 30), Exclusion.PUBLIC_HOLIDAY, "Assomption"),
    ]
    assert plan.dates == summer(
        "2027-07-11", "2027-07-18", "2027-07-21", "2027-07-25", "2027-07-28", "2027-08-01",
        "2027-08-04", "2027-08-08", "2027-08-11", "2027-08-18", hour=14, minute=30,
    )  # fmt: skip
    kept = season.plan(
        wednesdays_and_sundays, Rules(skip_public_holidays=False), facts(public_holidays=holidays)
    )
    assert kept.excluded == [] and len(kept.dates) == 12


def test_the_changeover_saturday_is_left_out_in_july_and_august_only():
    every_day = Recurrence(date(2027, 6, 24), date(2027, 7, 5), time(9, 0), rule="FREQ=DAILY")
    plan = season.plan(every_day, Rules(), facts())
    # 26 June 2027 is a Saturday (kept: June), 3 July is one (left out).
    assert plan.excluded == [Excluded(utc("2027-07-03", 7), Exclusion.CHANGEOVER_SATURDAY)]
    assert utc("2027-06-26", 7) in plan.dates and len(plan.dates) == 11
    september = Recurrence(date(2027, 8, 28), date(2027, 9, 4), time(9, 0), weekdays=(SATURDAY,))
    assert season.plan(september, Rules(), facts()).dates == [utc("2027-09-04", 7)]
    assert season.plan(september, Rules(skip_changeover_saturdays=False), facts()).dates == [
        utc("2027-08-28", 7),
        utc("2027-09-04", 7),
    ]


def test_each_date_left_out_gets_the_first_reason_that_applies():
    saturday_14_july_2029 = date(2029, 7, 14)  # a Saturday, a holiday, and a day off below
    at = utc("2029-07-14", 8)
    recurrence = Recurrence(saturday_14_july_2029, saturday_14_july_2029, time(10), (SATURDAY,))
    holidays = season.public_holidays(saturday_14_july_2029, saturday_14_july_2029)
    cases = [
        (facts(public_holidays=holidays), Exclusion.PUBLIC_HOLIDAY),
        (
            facts(public_holidays=holidays, days_off={saturday_14_july_2029: None}),
            Exclusion.DAY_OFF,
        ),
        (
            facts(public_holidays=holidays, days_off={saturday_14_july_2029: ""}, planned={at}),
            Exclusion.ALREADY_PLANNED,
        ),
        (facts(now=at, planned=frozenset({at})), Exclusion.TOO_LATE),
        # Decided the day before at 18:00 (16:00 UTC in July): from then on, too late.
        (
            facts(now=utc("2029-07-13", 16), decided_at=lambda s: s - timedelta(hours=16)),
            Exclusion.TOO_LATE,
        ),
        (
            facts(now=utc("2029-07-13", 15, 59), decided_at=lambda s: s - timedelta(hours=16)),
            Exclusion.CHANGEOVER_SATURDAY,
        ),
    ]
    for known, reason in cases:
        [excluded] = season.plan(recurrence, Rules(), known).excluded
        assert excluded.reason == reason
    nothing_but_saturday = season.plan(recurrence, Rules(skip_public_holidays=False), facts())
    assert [e.reason for e in nothing_but_saturday.excluded] == [Exclusion.CHANGEOVER_SATURDAY]


def test_ten_oclock_stays_ten_oclock_across_the_changes_of_summer_time():
    # Summer time ends on Sunday 31 October 2027 and starts on Sunday 28 March 2027.
    autumn = Recurrence(date(2027, 10, 19), date(2027, 11, 9), time(10), weekdays=(TUESDAY,))
    assert season.occurrences(autumn) == [
        utc("2027-10-19", 8), utc("2027-10-26", 8), utc("2027-11-02", 9), utc("2027-11-09", 9),
    ]  # fmt: skip
    spring = Recurrence(date(2027, 3, 23), date(2027, 3, 30), time(10), weekdays=(TUESDAY,))
    assert season.occurrences(spring) == [utc("2027-03-23", 9), utc("2027-03-30", 8)]


def test_an_experts_rule_follows_rfc_5545():
    def dates(rule: str, first: str = "2027-07-01", last: str = "2027-08-31") -> list[datetime]:
        r = Recurrence(date.fromisoformat(first), date.fromisoformat(last), time(10), rule=rule)
        return season.occurrences(r)

    # Every other week, weeks starting on Monday: the week of Thursday 1 July counts first, and
    # its Tuesday (29 June) is before the start.
    assert dates("FREQ=WEEKLY;INTERVAL=2;BYDAY=TU") == summer(
        "2027-07-13", "2027-07-27", "2027-08-10", "2027-08-24"
    )
    assert dates("RRULE:FREQ=WEEKLY;BYDAY=TU,TH;COUNT=3") == summer(
        "2027-07-01", "2027-07-06", "2027-07-08"
    )
    assert dates("FREQ=WEEKLY;BYDAY=TU;UNTIL=20270720T235959Z") == summer(
        "2027-07-06", "2027-07-13", "2027-07-20"
    )
    assert dates("freq=daily;byhour=10,15;byminute=30", last="2027-07-02") == [
        utc("2027-07-01", 8, 30), utc("2027-07-01", 13, 30),
        utc("2027-07-02", 8, 30), utc("2027-07-02", 13, 30),
    ]  # fmt: skip
    # The period bounds a rule whatever it says; first Sunday of each month:
    assert dates("FREQ=MONTHLY;BYDAY=1SU", last="2027-09-30") == summer(
        "2027-07-04", "2027-08-01", "2027-09-05"
    )


def test_a_rule_that_never_matches_gives_no_date():
    # 30 February: dateutil looks for it up to the year 9999, then stops.
    never = "FREQ=WEEKLY;BYMONTH=2;BYMONTHDAY=30"
    impossible = Recurrence(date(2027, 1, 1), date(2027, 12, 31), time(10), rule=never)
    assert season.occurrences(impossible) == []


@pytest.mark.parametrize(
    "rule",
    [
        "FREQ=WEEKLY;BYDAY=XX",
        "FREQ=HOURLY",
        "FREQ=MINUTELY;BYDAY=TU",
        "DTSTART:20270101T090000\nRRULE:FREQ=DAILY",
        "FREQ=WEEKLY;BYDAY=TU\nEXDATE:20270706T100000",
        "BYDAY=TU",
        "FREQ=WEEKLY;UNTIL=20270720",  # a local UNTIL with a zoned start (RFC 5545 3.3.10)
        "hello",
    ],
)
def test_a_rule_that_cannot_be_read_is_refused_on_its_field(rule: str):
    with pytest.raises(InvalidRule) as refused:
        season.occurrences(Recurrence(date(2027, 7, 1), date(2027, 8, 31), time(10), rule=rule))
    assert refused.value.field == "rule"


def test_a_period_and_days_are_needed_and_the_dates_are_bounded():
    with pytest.raises(NoWeekday):
        season.occurrences(Recurrence(date(2027, 7, 1), date(2027, 8, 31), time(10)))
    with pytest.raises(InvalidPlanPeriod):
        season.occurrences(Recurrence(date(2027, 8, 31), date(2027, 7, 1), time(10), (TUESDAY,)))
    with pytest.raises(InvalidPlanPeriod):
        season.occurrences(Recurrence(date(2027, 1, 1), date(2028, 1, 2), time(10), (TUESDAY,)))
    every_hour = ";BYHOUR=" + ",".join(str(h) for h in range(24))
    with pytest.raises(TooManyDates):
        season.occurrences(
            Recurrence(
                date(2027, 1, 1), date(2027, 12, 31), time(0), rule="FREQ=DAILY" + every_hour
            )
        )
    one_year = Recurrence(date(2027, 1, 1), date(2027, 12, 31), time(10), rule="FREQ=DAILY")
    assert len(season.occurrences(one_year)) == 365


def test_public_holidays_are_named_in_french_or_in_english():
    assert season.public_holidays(date(2027, 7, 14), date(2027, 7, 14), "en_US") == {
        date(2027, 7, 14): "National Day"
    }
    may_2027 = season.public_holidays(date(2027, 5, 1), date(2027, 5, 31))
    assert sorted(may_2027) == [
        date(2027, 5, 1),
        date(2027, 5, 6),
        date(2027, 5, 8),
        date(2027, 5, 17),
    ]


# --- what a bulk change refuses, slot by slot -------------------------------------------------


def slot(**values: object) -> Slot:
    starts_at = values.pop("starts_at", utc("2027-07-06", 8))
    defaults = {"capacity": 10, "booked": 8, "min_participants": 4, "status": SlotStatus.SCHEDULED}
    return Slot(starts_at=starts_at, **{**defaults, **values})


@pytest.mark.parametrize(
    ("change", "values", "refusal"),
    [
        (SlotChange(capacity=7), {}, CapacityBelowBooked),
        (SlotChange(capacity=8), {}, None),
        (SlotChange(capacity=12, min_participants=12), {}, None),
        (SlotChange(min_participants=11), {}, MinimumAboveCapacity),
        (SlotChange(capacity=6, min_participants=2), {"booked": 6}, None),
        (SlotChange(capacity=5), {"min_participants": 6, "booked": 0}, MinimumAboveCapacity),
        (SlotChange(capacity=12), {"status": SlotStatus.CANCELLED, "booked": 0}, SlotCancelled),
        (SlotChange(capacity=12), {"status": SlotStatus.HELD}, SlotAlreadyHeld),
        (SlotChange(capacity=12), {"starts_at": LONG_AGO + timedelta(days=1)}, SlotStarted),
    ],
)
def test_a_slot_refuses_a_change_it_cannot_take(change, values, refusal):
    now = LONG_AGO + timedelta(days=2)
    found = season.refusal_of_change(slot(**values), change, now)
    assert (None if found is None else type(found)) is refusal


def test_a_capacity_refusal_names_the_people_booked():
    found = season.refusal_of_change(slot(booked=9), SlotChange(capacity=5), LONG_AGO)
    assert isinstance(found, CapacityBelowBooked)
    assert found.text == "9 people are already booked: the capacity cannot go below that."


def test_a_change_needs_something_to_change():
    with pytest.raises(NothingToChange):
        season.check_change(SlotChange())
    with pytest.raises(season.CapacityTooSmall):
        season.check_change(SlotChange(capacity=0))
    with pytest.raises(MinimumAboveCapacity):
        season.check_change(SlotChange(capacity=4, min_participants=5))
