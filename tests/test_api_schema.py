"""The JSON API against its own OpenAPI document, on a real server (``tests/live_server.py``) on
each database: schemathesis with every check it has (no 5xx, statuses, content types, bodies and
headers as documented, schema-valid requests accepted, invalid ones refused, OPTIONS and
``Allow``...), over all its phases (examples, coverage, fuzzing, stateful through the document's
links), deterministic and bounded; then a targeted phase that books real slots with generated
valid bodies, and the slots' counters checked against their bookings afterwards."""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
from collections import Counter
from dataclasses import dataclass

import httpx
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.engine import Status, StopReason
from schemathesis.engine import events as engine_events
from sqlalchemy import func, select

from reservations.api.schemas import EMAIL_PATTERN
from reservations.base.models import Booking, BookingStatus, Slot
from reservations.base.rules import contacts
from tests.factories import make_slot
from tests.live_server import live_server

#: Examples per operation and phase: about 1,000 requests a run, well under a minute each.
MAX_EXAMPLES = 30

#: ``positive_data_acceptance`` expects a schema-valid request to be accepted. On
#: ``/availability`` a 422 ``invalid_period`` is allowed too: ``from`` <= ``to`` and a span of at
#: most 366 days relate two parameters, which JSON Schema cannot state (the operation's
#: description does). ``use_after_free`` is off for reading a booking: DELETE cancels a
#: booking, which stays readable with status ``cancelled`` (documented on the DELETE; visitors
#: and apps show it), so a 200 after it is the contract, not a freed resource. Everything else
#: is checked as schemathesis ships it.
CONFIG = f"""
[generation]
max-examples = {MAX_EXAMPLES}
deterministic = true

[checks]
enabled = true

[[operations]]
include-path = "/api/v1/availability"
checks.positive_data_acceptance.expected-statuses = ["2xx", "404", "422"]

[[operations]]
include-path = "/api/v1/bookings/{{manage_token}}"
include-method = "GET"
checks.use_after_free.enabled = false
"""


@dataclass
class Run:
    requests: int
    statuses: Counter[int]
    failures: list[str]
    seconds: float
    stop_reason: StopReason


def run_schemathesis(base_url: str) -> Run:
    schema = schemathesis.openapi.from_url(
        base_url + "/schema/openapi.json", config=schemathesis.Config.from_str(CONFIG)
    )
    schema.config.base_url = base_url
    statuses: Counter[int] = Counter()
    failures: list[str] = []
    requests, stop_reason, started = 0, StopReason.COMPLETED, time.monotonic()
    for event in schemathesis.engine.from_schema(schema).execute():
        if isinstance(event, (engine_events.ScenarioFinished, engine_events.FuzzScenarioFinished)):
            recorder = event.recorder
            for interaction in recorder.interactions.values():
                requests += 1
                if interaction.response is not None:
                    statuses[interaction.response.status_code] += 1
            for case_id, checks in recorder.checks.items():
                for check in checks:
                    if check.status == Status.FAILURE:
                        case = recorder.cases[case_id].value
                        failures.append(
                            f"{check.name} on {case.method} {case.formatted_path}: "
                            f"{check.failure_info.failure if check.failure_info else ''}"
                        )
        elif isinstance(event, engine_events.NonFatalError):
            failures.append(f"error on {event.label}: {event.value!r}")
        elif isinstance(event, engine_events.FatalError):
            failures.append(f"fatal: {event.exception!r}")
        elif isinstance(event, engine_events.EngineFinished):
            stop_reason = event.stop_reason
            failures.extend(str(failure) for failure in event.failures)
    return Run(requests, statuses, failures, time.monotonic() - started, stop_reason)


async def test_schemathesis_finds_nothing(db, database_url) -> None:
    """Two slots exist, so the stateful phase follows the links from the list to real
    bookings, reads and cancels them."""
    slots = [await make_slot(db, capacity=4), await make_slot(db, capacity=30)]
    with live_server(database_url) as server:
        run = await asyncio.to_thread(run_schemathesis, server.base_url)
        log = server.output()
    print(
        f"schemathesis: {run.requests} requests in {run.seconds:.1f} s, "
        f"statuses {dict(sorted(run.statuses.items()))}"
    )
    assert run.failures == []
    assert run.stop_reason == StopReason.COMPLETED
    assert not [status for status in run.statuses if status >= 500]
    assert "Traceback" not in log
    # It got past the validation to the rules: bookings were made and refused.
    assert run.statuses[201] > 0 and run.statuses[422] > 0 and run.statuses[404] > 0
    await assert_counters_match_bookings(db, [slot.id for slot in slots])


# --- the targeted phase: valid bodies on real slots ----------------------------------------------

#: Names and emails as people type them (any script, spaces inside), within the documented rules.
names = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Zl", "Zp")),
    min_size=1,
    max_size=60,
).filter(lambda name: name.strip() != "")
emails = st.from_regex(EMAIL_PATTERN, fullmatch=True).filter(lambda email: len(email) <= 254)
phones = st.none() | st.from_regex(r"\+?[0-9]{2}( [0-9]{2}){3,5}", fullmatch=True)


@st.composite
def booking_bodies(draw: st.DrawFn, slot_ids: list[int], max_party: int) -> dict[str, object]:
    adults = draw(st.integers(0, max_party))
    children = draw(st.integers(1 if adults == 0 else 0, max_party - adults))
    return {
        "slot_id": draw(st.sampled_from(slot_ids)),
        "adults": adults,
        "children": children,
        "name": draw(names),
        "email": draw(emails),
        "phone": draw(phones),
        "locale": draw(st.sampled_from(["fr", "en", "de", "nl"])),
    }


MAX_PARTY = 15  # the default ``max_party_size`` the live server runs with
TARGETED_EXAMPLES = 60


async def test_valid_bookings_on_real_slots_never_oversell(db, database_url) -> None:
    """Generated valid bodies on three small slots: each answer is a booking (201) or the slot
    refusing it for lack of places (409), never anything else; some retries reuse an
    Idempotency-Key. Afterwards each slot's counter is the sum of its live bookings, within its
    capacity."""
    slots = [await make_slot(db, capacity=capacity) for capacity in (3, 10, 80)]
    slot_ids = [slot.id for slot in slots]
    answers: Counter[int] = Counter()
    with live_server(database_url) as server, httpx.Client(base_url=server.base_url) as client:

        @settings(
            max_examples=TARGETED_EXAMPLES,
            derandomize=True,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        )
        @given(body=booking_bodies(slot_ids, MAX_PARTY), retry=st.booleans())
        def book(body: dict[str, object], retry: bool) -> None:
            key = hashlib.sha256(repr(body).encode()).hexdigest()
            headers = {"Idempotency-Key": key} if retry else {}
            for _attempt in range(2 if retry else 1):
                response = client.post("/api/v1/bookings", json=body, headers=headers)
                answers[response.status_code] += 1
                assert response.status_code in (201, 409), response.text
                if response.status_code == 409:
                    assert response.headers["content-type"].startswith("application/problem+json")
                    assert response.json()["code"] == "not_enough_places", response.text
                else:
                    assert response.json()["adults"] == body["adults"]

        await asyncio.to_thread(book)
    print(f"targeted bookings: answers {dict(answers)}")
    assert answers[201] > 0 and answers[409] > 0
    await assert_counters_match_bookings(db, slot_ids)


async def assert_counters_match_bookings(db, slot_ids: list[int]) -> None:  # type: ignore[no-untyped-def]
    async with db.reading() as session:
        for slot_id in slot_ids:
            slot = await session.get(Slot, slot_id)
            assert slot is not None
            live = await session.scalar(
                select(func.coalesce(func.sum(Booking.adults + Booking.children), 0)).where(
                    Booking.slot_id == slot_id, Booking.status != BookingStatus.CANCELLED
                )
            )
            assert slot.booked == live <= slot.capacity, (slot_id, slot.booked, live)


# --- the documented formats agree with the rules ------------------------------------------------


@settings(max_examples=300, derandomize=True, database=None)
@given(
    email=st.from_regex(EMAIL_PATTERN, fullmatch=True).filter(
        lambda email: len(email) <= contacts.MAX_EMAIL_LENGTH  # the schema's maxLength
    )
)
def test_every_email_the_schema_allows_is_one_the_rules_accept(email: str) -> None:
    """The API documents (and enforces) EMAIL_PATTERN and a maxLength of MAX_EMAIL_LENGTH; the
    rules check ``contacts.is_email``: a client following the document must never be refused
    by the rules."""
    assert contacts.is_email(email), email


def test_documented_locales_are_the_supported_ones() -> None:
    from typing import get_args

    from reservations.api.schemas import Locale
    from reservations.settings import SUPPORTED_LOCALES

    assert get_args(Locale) == SUPPORTED_LOCALES


def test_email_pattern_refuses_what_the_issue_found() -> None:
    for email in ("a,victim@evil.example", "jan\x00@example.nl", "no-at-sign", "a@b", "a b@c.fr"):
        assert not re.search(EMAIL_PATTERN, email), email
