"""Money in the season report, on each database: payments, refunds and holds written straight
to the tables, and the figures expected worked out by hand here (see the comments beside each
row), by channel and by farm; then the staff page and its CSV in French and English, and the
CLI."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, update

from reservations import i18n
from reservations.base import clock
from reservations.base.infra.db import Database
from reservations.base.models import (
    Activity,
    ActivityKind,
    Booking,
    BookingStatus,
    Channel,
    Payment,
    PaymentMethod,
    PaymentStatus,
    Refund,
    RefundReason,
    RefundStatus,
)
from reservations.base.reads.revenue import revenue_as_csv, revenue_as_table, revenue_report
from tests.factories import make_activity, make_slot
from tests.live_server import server_environment

AMANDIERS, PIC = "Ferme des Amandiers", "Bergerie du Pic"
WEB, COUNTER, PHONE, RESELLER = Channel.WEB, Channel.COUNTER, Channel.PHONE, Channel.RESELLER
CONFIRMED, CANCELLED = BookingStatus.CONFIRMED, BookingStatus.CANCELLED
PENDING, EXPIRED = BookingStatus.PENDING_PAYMENT, BookingStatus.EXPIRED
STRIPE, CASH, CHEQUE = PaymentMethod.STRIPE, PaymentMethod.CASH, PaymentMethod.CHEQUE
TERMINAL, ON_SITE = PaymentMethod.CARD_TERMINAL, PaymentMethod.ON_SITE
PAID, OPEN, FAILED = PaymentStatus.PAID, PaymentStatus.OPEN, PaymentStatus.FAILED


async def _booking(
    db: Database,
    slot_id: int,
    channel: Channel,
    status: BookingStatus,
    adults: int,
    children: int = 0,
    *,
    hold_ends: datetime | None = None,
    payments: list[tuple[PaymentMethod, PaymentStatus, int]] = (),  # type: ignore[assignment]
    refunds: list[tuple[RefundStatus, int]] = (),  # type: ignore[assignment]
) -> None:
    """A booking, its payments, and refunds of its first payment, written as rows."""
    async with db.writing() as session:
        booking = Booking(
            reference=uuid.uuid4().hex[:9].upper(),
            slot_id=slot_id,
            adults=adults,
            children=children,
            name="Inès Martin",
            email="ines@example.org",
            channel=channel,
            status=status,
            hold_expires_at=hold_ends,
            manage_token_hash=uuid.uuid4().hex * 2,
        )
        session.add(booking)
        await session.flush()
        rows = [
            Payment(
                booking_id=booking.id,
                method=method,
                status=state,
                amount_cents=cents,
                recorded_by="test",
                paid_at=clock.now() if state is PAID else None,
            )
            for method, state, cents in payments
        ]
        session.add_all(rows)
        await session.flush()
        session.add_all(
            Refund(
                booking_id=booking.id,
                payment_id=rows[0].id,
                amount_cents=cents,
                status=state,
                reason=RefundReason.STAFF,
                idempotency_key=uuid.uuid4().hex,
                requested_by="test",
            )
            for state, cents in refunds
        )


async def _priced_activity(
    db: Database, name: str, kind: ActivityKind, adult: int, child: int
) -> Activity:
    activity = await make_activity(db, provider_name=name, kind=kind)
    async with db.writing() as session:
        await session.execute(
            update(Activity)
            .where(Activity.id == activity.id)
            .values(price_adult_cents=adult, price_child_cents=child)
        )
    return activity


@pytest.fixture
def now() -> datetime:
    """The report's time, taken when each test starts (holds are set around it): the real
    clock's second, since the staff page reads the real clock a moment later and must see
    the same holds running. Taken at import, it went stale in a long run."""
    return clock.now().replace(microsecond=0)


@pytest.fixture
async def money(db: Database, now: datetime) -> Database:
    """Two farms in 2030 (one visit each), one of them also in 2029. Prices: Amandiers 5 € an
    adult, 3 € a child (a farm visit); Pic 8 € and 4 € (an animation)."""
    amandiers = await _priced_activity(db, AMANDIERS, ActivityKind.FARM_VISIT, 500, 300)
    pic = await _priced_activity(db, PIC, ActivityKind.ANIMATION, 800, 400)
    a = (await make_slot(db, activity=amandiers, starts_at=datetime(2030, 7, 10, 8, tzinfo=UTC))).id
    b = (await make_slot(db, activity=pic, starts_at=datetime(2030, 8, 5, 8, tzinfo=UTC))).id
    old = (
        await make_slot(db, activity=amandiers, starts_at=datetime(2029, 7, 10, 8, tzinfo=UTC))
    ).id
    soon, later = now + timedelta(minutes=10), now + timedelta(hours=1)

    # Amandiers, 2030
    await _booking(  # web: 13 € paid, 3 € refunded
        db,
        a,
        WEB,
        CONFIRMED,
        2,
        1,
        payments=[(STRIPE, PAID, 1300)],
        refunds=[(RefundStatus.SUCCEEDED, 300)],
    )
    await _booking(db, a, COUNTER, CONFIRMED, 1, payments=[(CASH, PAID, 500)])  # counter: 5 € cash
    await _booking(  # web, cancelled by the visitor: 10 € paid, all of it refunded
        db,
        a,
        WEB,
        CANCELLED,
        2,
        payments=[(STRIPE, PAID, 1000)],
        refunds=[(RefundStatus.SUCCEEDED, 1000)],
    )
    await _booking(  # web hold lapsed a minute ago, not marked expired yet: nothing
        db,
        a,
        WEB,
        PENDING,
        2,
        hold_ends=now - timedelta(minutes=1),
        payments=[(STRIPE, OPEN, 1000)],
    )
    await _booking(db, a, WEB, PENDING, 1, hold_ends=now)  # ends at the report's time: lapsed
    await _booking(db, a, RESELLER, PENDING, 1, 1, hold_ends=later)  # running: 2 people, 8 €
    # Pic, 2030
    await _booking(  # phone: 24 € on the card terminal, 8 € refund pending
        db,
        b,
        PHONE,
        CONFIRMED,
        3,
        payments=[(TERMINAL, PAID, 2400)],
        refunds=[(RefundStatus.PENDING, 800)],
    )
    await _booking(  # web hold running: 3 people, 8 + 2 × 4 = 16 € at stake; its checkout open
        db, b, WEB, PENDING, 1, 2, hold_ends=soon, payments=[(STRIPE, OPEN, 1600)]
    )
    await _booking(  # expired hold, its checkout expired: nothing
        db,
        b,
        WEB,
        EXPIRED,
        2,
        hold_ends=now - timedelta(hours=1),
        payments=[(STRIPE, PaymentStatus.EXPIRED, 1600)],
    )
    await _booking(  # web: a failed payment, then 8 € paid; a failed refund counts nowhere
        db,
        b,
        WEB,
        CONFIRMED,
        1,
        payments=[(STRIPE, PAID, 800), (STRIPE, FAILED, 800)],
        refunds=[(RefundStatus.FAILED, 800)],
    )
    await _booking(db, b, COUNTER, CONFIRMED, 2, payments=[(ON_SITE, PAID, 1600)])  # 16 € on site
    await _booking(db, b, COUNTER, CONFIRMED, 1, payments=[(CHEQUE, OPEN, 800)])  # cheque not in
    # Amandiers, 2029: another season
    await _booking(
        db,
        old,
        WEB,
        CONFIRMED,
        1,
        payments=[(STRIPE, PAID, 9999)],
        refunds=[(RefundStatus.SUCCEEDED, 111)],
    )
    await _booking(db, old, WEB, PENDING, 1, hold_ends=soon)
    return db


def figures(
    paid: dict[PaymentMethod, int], refunded: int, pending: int, holds: tuple[int, int, int]
) -> dict[str, Any]:
    revenue = sum(paid.values())
    return {
        "revenue_cents": revenue,
        "revenue_by_method": {m.value: paid.get(m, 0) for m in PaymentMethod},
        "refunded_cents": refunded,
        "refunds_pending_cents": pending,
        "net_cents": revenue - refunded,
        "unpaid_holds": dict(zip(("bookings", "people", "amount_cents"), holds, strict=True)),
    }


NONE = (0, 0, 0)
# Worked out from the rows above: paid 13 + 5 + 10 + 24 + 8 + 16 = 76 €, of which Stripe
# 13 + 10 + 8 = 31 €; refunded 3 + 10 = 13 €; pending 8 €; holds running: Pic's web one
# (3 people, 16 €) and Amandiers' reseller one (2 people, 8 €).
EXPECTED_2030 = {
    **figures({STRIPE: 3100, CASH: 500, TERMINAL: 2400, ON_SITE: 1600}, 1300, 800, (2, 5, 2400)),
    "by_channel": {
        "web": figures({STRIPE: 3100}, 1300, 0, (1, 3, 1600)),
        "counter": figures({CASH: 500, ON_SITE: 1600}, 0, 0, NONE),
        "phone": figures({TERMINAL: 2400}, 0, 800, NONE),
        "reseller": figures({}, 0, 0, (1, 2, 800)),
    },
    "by_provider": {
        PIC: figures({TERMINAL: 2400, STRIPE: 800, ON_SITE: 1600}, 0, 800, (1, 3, 1600)),
        AMANDIERS: figures({STRIPE: 2300, CASH: 500}, 1300, 0, (1, 2, 800)),
    },
}


async def test_the_money_of_a_season_by_channel_and_by_farm(money, now):
    report = await revenue_report(money, 2030, now=now)
    assert report == {"season": 2030, "kind": None, "at": now.isoformat(), **EXPECTED_2030}
    assert list(report["by_channel"]) == ["web", "counter", "phone", "reseller"]
    assert list(report["by_provider"]) == [PIC, AMANDIERS]  # code-point order
    assert all(type(v) is int for v in report["revenue_by_method"].values())
    assert json.loads(json.dumps(report)) == report

    earlier = await revenue_report(money, 2029, now=now)
    assert {k: earlier[k] for k in EXPECTED_2030} == {
        **figures({STRIPE: 9999}, 111, 0, (1, 1, 500)),
        "by_channel": {"web": figures({STRIPE: 9999}, 111, 0, (1, 1, 500))},
        "by_provider": {AMANDIERS: figures({STRIPE: 9999}, 111, 0, (1, 1, 500))},
    }


async def test_a_hold_holds_only_until_its_end(money, now):
    """Half an hour before, the hold that lapsed a minute ago and the one ending at the
    report's time were running (2 adults, 10 €; 1 adult, 5 €); two hours after, none is."""
    before = await revenue_report(money, 2030, now=now - timedelta(minutes=30))
    assert before["unpaid_holds"] == {"bookings": 4, "people": 8, "amount_cents": 3900}
    assert before["by_provider"][AMANDIERS]["unpaid_holds"] == {
        "bookings": 3,
        "people": 5,
        "amount_cents": 2300,
    }
    after = await revenue_report(money, 2030, now=now + timedelta(hours=2))
    assert after["unpaid_holds"] == {"bookings": 0, "people": 0, "amount_cents": 0}
    assert "reseller" not in after["by_channel"]  # it had a hold only
    assert after["revenue_cents"] == EXPECTED_2030["revenue_cents"]


async def test_the_kind_filter_keeps_the_farm_visits(money, now):
    report = await revenue_report(money, 2030, kind=ActivityKind.FARM_VISIT, now=now)
    assert report["by_provider"] == {AMANDIERS: EXPECTED_2030["by_provider"][AMANDIERS]}
    assert report["revenue_cents"] == 2800 and report["net_cents"] == 1500
    assert list(report["by_channel"]) == ["web", "counter", "reseller"]


async def test_an_empty_season_is_zeros(db, now):
    report = await revenue_report(db, 2031, now=now)
    assert report["revenue_cents"] == report["net_cents"] == 0
    assert report["by_channel"] == report["by_provider"] == {}


async def test_the_statements_do_not_grow_with_the_bookings(money, now):
    seen: list[str] = []

    @event.listens_for(money.engine.sync_engine, "before_cursor_execute")
    def _count(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append(statement)

    await revenue_report(money, 2030, now=now)
    assert len(seen) == 3  # payments, refunds, holds


async def test_amounts_are_written_by_babel_in_the_readers_language():
    with i18n.use_locale("fr"):
        assert re.fullmatch(r"12,50[\xa0\u202f]€", i18n.money(1250))
        assert re.fullmatch(r"1[\xa0\u202f]234,05[\xa0\u202f]€", i18n.money(123405))
    with i18n.use_locale("en"):
        assert i18n.money(1250) == "€12.50"
    with i18n.use_locale("de"):
        assert re.fullmatch(r"12,50[\xa0\u202f]€", i18n.money(1250))


def plain(html: str) -> str:
    text = re.sub(r"<[^>]+>", " ", html).replace("\xa0", " ").replace("\u202f", " ")
    return re.sub(r"\s+", " ", text)


async def test_the_staff_report_shows_the_revenue_section(money, staff):
    client, _ = staff
    french = await client.get("/staff/reports", params={"season": "2030", "lang": "fr"})
    assert french.status_code == 200, french.text
    text = plain(french.text)
    assert "Recettes" in text
    assert "Encaissé 76,00 € Remboursé 13,00 € Remboursements en attente 8,00 €" in text
    assert "Net 63,00 €" in text
    assert "Non payées 2 (5 personnes, 24,00 € en jeu)" in text
    assert "Carte bancaire en ligne (Stripe) 31,00 €" in text
    assert "Chèque 0,00 €" in text
    by_channel = text.split("Recettes par canal de réservation")[-1].split("Recettes par ferme")[0]
    by_farm = text.split("Recettes par ferme ou organisateur")[-1]
    assert "En ligne 31,00 € 13,00 € 0,00 € 18,00 € 1 3 16,00 €" in by_channel
    assert "Par téléphone 24,00 € 0,00 € 8,00 € 24,00 € 0 0 0,00 €" in by_channel
    assert f"{PIC} 48,00 € 0,00 € 8,00 € 48,00 € 1 3 16,00 €" in by_farm
    assert f"{AMANDIERS} 28,00 € 13,00 € 0,00 € 15,00 € 1 2 8,00 €" in by_farm

    english = plain(
        (await client.get("/staff/reports", params={"season": "2030", "lang": "en"})).text
    )
    assert "Money received €76.00 Refunded €13.00 Refunds pending €8.00 Net €63.00" in english
    assert "Unpaid holds 2 (5 people, €24.00 at stake)" in english
    for locale in ("de", "nl"):
        page = await client.get("/staff/reports", params={"season": "2030", "lang": locale})
        assert page.status_code == 200
        assert {"de": "Einnahmen", "nl": "Inkomsten"}[locale] in plain(page.text)

    answer = await client.get("/staff/reports/revenue.csv", params={"season": "2030"})
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/csv; charset=utf-8"
    assert 'filename="report-2030-revenue.csv"' in answer.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(answer.content.decode("utf-8-sig"))))
    assert [(r["scope"], r["key"]) for r in rows] == [
        ("season", "2030"),
        ("channel", "web"),
        ("channel", "counter"),
        ("channel", "phone"),
        ("channel", "reseller"),
        ("provider", PIC),
        ("provider", AMANDIERS),
    ]
    assert rows[0]["revenue_cents"] == "7600" and rows[0]["revenue_stripe_cents"] == "3100"
    assert rows[0]["unpaid_hold_cents"] == "2400" and rows[0]["net_cents"] == "6300"


async def test_an_empty_revenue_section_says_so(staff):
    client, _ = staff
    page = await client.get("/staff/reports", params={"season": "2031", "lang": "en"})
    assert page.status_code == 200
    text = plain(page.text)
    assert "Money received €0.00" in text
    assert text.count("Nothing to show.") >= 2


async def test_the_plain_renderings(money, now):
    report = await revenue_report(money, 2030, now=now)
    table = revenue_as_table(report)
    assert "Paid 76.00 · refunded 13.00 · refunds pending 8.00 · net 63.00" in table
    assert "stripe 31.00 · cash 5.00 · cheque 0.00 · card terminal 24.00 · on site 16.00" in table
    assert "2 bookings, 5 people, 24.00 at stake" in table
    section = table.split("Revenue by provider\n")[1].splitlines()
    assert len({len(line) for line in section}) == 1  # aligned
    assert section[1].split()[-8:] == ["Pic", "48.00", "0.00", "8.00", "48.00", "1", "3", "16.00"]
    rows = list(csv.DictReader(io.StringIO(revenue_as_csv(report))))
    web = rows[1]
    assert (web["scope"], web["key"], web["refunded_cents"]) == ("channel", "web", "1300")
    assert web["revenue_cash_cents"] == "0" and web["unpaid_hold_people"] == "3"


async def test_the_command_line_report_has_the_money(money, database_url):
    def run(*options: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "reservations", "report", "--season", "2030", *options],
            env=server_environment(database_url),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    table = run()
    assert "Season 2030" in table and "Paid 76.00 · refunded 13.00" in table
    assert (
        json.loads(run("--format", "json"))["revenue"]["by_channel"]["phone"][
            "refunds_pending_cents"
        ]
        == 800
    )
    rows = list(csv.DictReader(io.StringIO(run("--format", "revenue-csv"))))
    assert rows[0]["revenue_cents"] == "7600"
    assert run("--format", "csv").splitlines()[0].startswith("scope,key,slots_planned")
