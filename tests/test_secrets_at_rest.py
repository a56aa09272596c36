"""No live secret at rest (issue 10, finding 5): after a whole visitor flow on the real server
(book, join the waiting list, cancel, the offer, the claim, the manage links, a farmer's link,
``reservations tick`` sending the mail to a folder and to a real SMTP server), no table, no file
of the mail folder and no log line holds a secret that opens a booking, a waiting-list entry or
a farm; and the links in the mail the SMTP server received still work. Then the pieces: the
outbox's sealed links (placeholders of the same length, an .ics's folds kept, another secret
key refused, the secrets deleted once sent or abandoned) and the log filter."""

from __future__ import annotations

import email
import email.policy
import logging
import re
import subprocess
import sys
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path

import httpx
from sqlalchemy import select, update

from reservations.base import clock
from reservations.base.infra import log_masking, outbox, secret_links
from reservations.base.infra.db import Database
from reservations.base.infra.mailer import (
    MAX_ATTEMPTS,
    FolderTransport,
    SmtpTransport,
    deliver_due,
)
from reservations.base.models import Base, OutboxMessage
from reservations.base.rules.provider_links import issue_link
from reservations.web import links
from tests.factories import make_activity, make_slot
from tests.live_server import LiveServer, server_environment
from tests.smtp_server import SmtpServer
from tests.test_visitors import CSRF, upcoming

SECRET = r"[A-Za-z0-9_-]{43}"
LINK = re.compile(
    r"https?://[^/\s\"<>]+(?P<path>/(?:manage|waitlist|farm|move)/(?P<secret>" + SECRET + "))"
)


# --- the whole flow on the real server --------------------------------------------------------


def run_tick(database_url: str, site: LiveServer, extra: dict[str, str]) -> str:
    """``reservations tick`` as cron runs it; its output."""
    done = subprocess.run(
        [sys.executable, "-m", "reservations", "tick"],
        env=server_environment(
            database_url,
            {"RESERVATIONS_PUBLIC_URL": site.base_url, "RESERVATIONS_SMTP_HOST": "", **extra},
        ),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


async def csrf(client: httpx.AsyncClient, path: str) -> str:
    page = await client.get(path)
    assert page.status_code == 200, page.text
    found = CSRF.search(page.text)
    assert found, f"no form on {path}"
    return found.group(1)


async def book(client: httpx.AsyncClient, slot_id: int, name: str, mail: str) -> str:
    """Book 2 adults and 1 child through the visit's form; the manage token (from the redirect)."""
    token = await csrf(client, f"/visits/{slot_id}?lang=en")
    fields = {"adults": "2", "children": "1", "name": name, "email": mail, "phone": ""}
    answer = await client.post(f"/visits/{slot_id}", data={**fields, "_csrf_token": token})
    assert answer.status_code == 303, answer.text
    found = re.fullmatch(r"/manage/([^/]+)/confirmation", answer.headers["location"])
    assert found, answer.headers["location"]
    return found.group(1)


def received(smtp: SmtpServer, since: int) -> list[EmailMessage]:
    return smtp.handler.messages()[since:]


def links_in(message: EmailMessage) -> list[re.Match[str]]:
    """The secret links of a received message: in its text, its HTML and its calendar file (its
    lines unfolded)."""
    parts = []
    for part in message.walk():
        if part.get_content_maintype() == "text":
            content = part.get_content()
            parts.append(re.sub(r"\r?\n[ \t]", "", content))
    return [match for text in parts for match in LINK.finditer(text)]


def secret_of(message: EmailMessage, prefix: str) -> str:
    found = {m["secret"] for m in links_in(message) if m["path"].startswith(prefix)}
    assert len(found) == 1, (prefix, found, message)
    return found.pop()


async def everything_stored(db: Database) -> str:
    """Every value of every column of every table, as text."""
    chunks = []
    async with db.reading() as session:
        for table in Base.metadata.sorted_tables:
            for row in (await session.execute(select(table))).all():
                chunks.extend(repr(value) for value in row)
    return "\n".join(chunks)


def files_under(folder: Path) -> str:
    return "\n".join(
        path.read_bytes().decode("utf-8", "replace") for path in folder.rglob("*") if path.is_file()
    )


async def test_after_a_whole_visitor_flow_no_secret_is_at_rest_and_the_mailed_links_work(
    db, database_url, site, smtp, tmp_path
):
    activity = await make_activity(db, provider_name="Ferme du Secret", capacity=3)
    full = await make_slot(db, activity=activity, capacity=3, starts_at=upcoming(days=3))
    other = await make_slot(db, activity=activity, capacity=10, starts_at=upcoming(days=4))
    farm = await issue_link(db, "Ferme du Secret")  # what `reservations provider link` prints
    mail_dir = tmp_path / "mail"
    folder = {"RESERVATIONS_MAIL_DIR": str(mail_dir)}
    to_smtp = {**smtp.environment(), "RESERVATIONS_MAIL_DIR": str(mail_dir)}
    outputs = []

    async with (
        httpx.AsyncClient(base_url=site.base_url, timeout=30) as anne,
        httpx.AsyncClient(base_url=site.base_url, timeout=30) as els,
        httpx.AsyncClient(base_url=site.base_url, timeout=30) as carl,
    ):
        # Anne takes the last places; Els joins the waiting list.
        anne_token = await book(anne, full.id, "Anne Martin", "anne@example.org")
        token = await csrf(els, f"/visits/{full.id}?lang=nl")
        fields = {"adults": "2", "children": "0", "name": "Els Peeters", "email": "els@example.be"}
        joined = await els.post(f"/waitlist/join/{full.id}", data={**fields, "_csrf_token": token})
        assert joined.status_code == 303, joined.text
        entry_token = re.fullmatch(r"/waitlist/([^/?]+)\?done=joined", joined.headers["location"])
        assert entry_token
        # The demo's way: no SMTP host, the mail goes to the folder.
        outputs.append(run_tick(database_url, site, folder))
        eml = sorted(mail_dir.glob("*.eml"))
        assert len(eml) == 2, eml

        # Carl books another date; Anne cancels from her manage page: Els is offered the places.
        carl_token = await book(carl, other.id, "Carl Weber", "carl@example.de")
        token = await csrf(anne, f"/manage/{anne_token}")
        cancelled = await anne.post(
            f"/manage/{anne_token}",
            data={"action": "cancel", "confirm": "yes", "_csrf_token": token},
        )
        assert cancelled.status_code == 303, cancelled.text
        outputs.append(run_tick(database_url, site, to_smtp))
        got = {str(m["To"]): m for m in received(smtp, 0)}
        # Anne's cancellation is confirmed to her; Carl's booking; Els's offer.
        assert set(got) == {"anne@example.org", "carl@example.de", "els@example.be"}
        assert secret_of(got["carl@example.de"], "/manage/") == carl_token
        claim_token = secret_of(got["els@example.be"], "/waitlist/")
        assert claim_token != entry_token.group(1)

        # Els claims with the link of her email; the confirmation comes with its manage link.
        [claim_link] = {
            m.group() for m in links_in(got["els@example.be"]) if "/waitlist/" in m["path"]
        }
        token = await csrf(els, claim_link.removeprefix(site.base_url))
        claimed = await els.post(claim_link, data={"action": "claim", "_csrf_token": token})
        assert claimed.status_code == 303, claimed.text
        els_token = re.fullmatch(r"/manage/([^/]+)/confirmation", claimed.headers["location"])
        assert els_token
        outputs.append(run_tick(database_url, site, to_smtp))
        [confirmation] = received(smtp, 3)
        assert str(confirmation["To"]) == "els@example.be"
        assert secret_of(confirmation, "/manage/") == els_token.group(1)

        # The links of the mail received work: each manage page opens its booking.
        for message, name in ((got["carl@example.de"], "Carl Weber"), (confirmation, "Els")):
            [manage_link] = {m.group() for m in links_in(message) if "/manage/" in m["path"]}
            page = await carl.get(manage_link)
            assert page.status_code == 200 and name in page.text
            ics = await carl.get(manage_link + "/calendar.ics")
            assert ics.status_code == 200 and "BEGIN:VEVENT" in ics.text

        # The farmer opens the day sheet of the visit and the calendar feed.
        day = clock.local_date(other.starts_at)
        sheet = await carl.get(links.day_sheet_url(site.base_url, farm, day))
        assert sheet.status_code == 200 and "Carl Weber" in sheet.text
        feed = await carl.get(links.feed_url(site.base_url, farm))
        assert feed.status_code == 200 and "BEGIN:VCALENDAR" in feed.text

    secrets = {
        "Anne's manage": anne_token,
        "Els's entry": entry_token.group(1),
        "Els's claim": claim_token,
        "Els's manage": els_token.group(1),
        "Carl's manage": carl_token,
        "the farm's": farm,
    }
    stored, mail_files, log = await everything_stored(db), files_under(mail_dir), site.output()
    for what, secret in secrets.items():
        assert secret not in stored, f"{what} link is in the database"
        assert secret not in mail_files, f"{what} link is in a mail file"
        assert secret not in log, f"{what} link is in the server's log"
        assert all(secret not in output for output in outputs), f"{what} link in tick's output"
    # The log was on and does show the requests, masked; the folder shows placeholders.
    for prefix in ("/manage/", "/waitlist/", "/farm/"):
        assert f"{prefix}{log_masking.MASK}" in log, prefix
    assert "/manage/[secret-0" in mail_files and "/waitlist/[secret-0" in mail_files
    # Sent: nothing sealed is left either.
    async with db.reading() as session:
        left = await session.scalars(select(OutboxMessage.link_secrets))
        assert set(left) == {None}


# --- the outbox's sealed links ----------------------------------------------------------------

KEY = "test"
TOKEN = "Abcdefghijklmnopqrstuvwxyz0123456789_-ABCDE"
OTHER = "Zyxwvutsrqponmlkjihgfedcba9876543210-_ZYXWV"


def calendar_with(url: str) -> str:
    """A calendar whose long lines are folded at 75 octets, as icalendar writes them."""
    line = f"DESCRIPTION:To change or cancel your booking: {url}"
    folded = "\r\n ".join(line[i : i + 74] for i in range(0, len(line), 74))
    return f"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nURL:{url}\r\n{folded}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"


async def queue(db: Database, key: str = KEY, dedup: str = "booking-confirmed:1") -> None:
    manage = f"https://example.org/manage/{TOKEN}"
    async with db.writing() as session:
        await outbox.enqueue(
            session,
            dedup_key=dedup,
            to="anne@example.org",
            subject="Booking confirmed",
            text=f"Manage: {manage}\nOffer: https://example.org/waitlist/{OTHER}\nAgain: {manage}",
            html=f'<a href="{manage}">manage</a>',
            attachments=[
                {
                    "filename": "K7QM-42ZD.ics",
                    "content_type": "text/calendar; method=PUBLISH",
                    "content": calendar_with(manage),
                }
            ],
            secret_key=key,
        )


async def rows(db: Database) -> list[OutboxMessage]:
    async with db.reading() as session:
        return list(await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


async def test_the_outbox_keeps_placeholders_and_the_smtp_transport_sends_the_live_links(db, smtp):
    await queue(db)
    [row] = await rows(db)
    stored = repr((row.subject, row.text_body, row.html_body, row.attachments, row.link_secrets))
    assert TOKEN not in stored and OTHER not in stored
    assert secret_links.placeholder(0, len(TOKEN)) in row.text_body
    assert secret_links.placeholder(1, len(OTHER)) in row.text_body
    # The calendar keeps its folds: same line lengths as the live one.
    live_calendar = calendar_with(f"https://example.org/manage/{TOKEN}")
    stored_lines = row.attachments[0]["content"].split("\r\n")
    assert [len(line) for line in stored_lines] == [len(x) for x in live_calendar.split("\r\n")]

    report = await deliver_due(db, SmtpTransport(smtp.settings()))
    assert (report.sent, report.failed) == (1, 0)
    [message] = smtp.handler.messages()
    text = message.get_body(("plain",)).get_content()
    assert text.count(f"https://example.org/manage/{TOKEN}") == 2
    assert f"https://example.org/waitlist/{OTHER}" in text
    assert f'href="https://example.org/manage/{TOKEN}"' in message.get_body(("html",)).get_content()
    [calendar] = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
    assert calendar.get_content().replace("\r\n", "\n") == live_calendar.replace("\r\n", "\n")
    [sent] = await rows(db)
    assert sent.sent_at is not None and sent.link_secrets is None  # nothing left to open


async def test_a_retry_after_a_failed_attempt_still_sends_the_live_link(db, smtp):
    await queue(db)
    now = clock.now()
    down = SmtpTransport(smtp.settings(smtp_port=1))  # nothing listens there
    assert (await deliver_due(db, down, now=now)).failed == 1
    [row] = await rows(db)
    assert row.link_secrets is not None  # kept for the next attempt
    report = await deliver_due(db, SmtpTransport(smtp.settings()), now=now + timedelta(hours=1))
    assert report.sent == 1
    [message] = smtp.handler.messages()
    assert f"/manage/{TOKEN}" in message.get_body(("plain",)).get_content()


async def test_the_mail_folder_shows_placeholders_only(db, tmp_path):
    await queue(db)
    report = await deliver_due(db, FolderTransport(tmp_path))
    assert report.sent == 1
    [path] = list(tmp_path.glob("*.eml"))
    parsed = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    text = parsed.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert TOKEN not in path.read_text() and TOKEN not in text
    assert f"/manage/{secret_links.placeholder(0, len(TOKEN))}" in text


async def test_a_message_sealed_under_another_key_is_not_sent_with_a_dead_link(db, smtp):
    await queue(db, key="another key")
    report = await deliver_due(db, SmtpTransport(smtp.settings()))
    assert (report.sent, report.failed) == (0, 1)
    assert smtp.handler.messages() == []
    [row] = await rows(db)
    assert "RESERVATIONS_SECRET_KEY" in (row.last_error or "")


async def test_an_abandoned_message_loses_its_sealed_links(db, smtp):
    await queue(db)
    async with db.writing() as session:
        await session.execute(update(OutboxMessage).values(attempts=MAX_ATTEMPTS - 1))
    down = SmtpTransport(smtp.settings(smtp_port=1))
    report = await deliver_due(db, down)
    assert report.gave_up == 1
    [row] = await rows(db)
    assert row.sent_at is None and row.link_secrets is None


async def test_a_secret_link_queued_without_the_key_is_masked_for_good(db, smtp):
    """A message that should hold no secret link (a cancellation, whose note someone typed)
    never stores nor sends one."""
    await queue(db, key="")
    [row] = await rows(db)
    assert row.link_secrets is None and TOKEN not in row.text_body
    assert (await deliver_due(db, SmtpTransport(smtp.settings()))).sent == 1
    [message] = smtp.handler.messages()
    text = message.get_body(("plain",)).get_content()
    assert TOKEN not in text and f"/manage/{secret_links.placeholder(0, len(TOKEN))}" in text


async def test_a_message_queued_before_sealing_is_masked_once_sent(db, smtp):
    """Rows written by the old code (live links, nothing sealed) go out as they are, then keep
    placeholders only."""
    async with db.writing() as session:
        session.add(
            OutboxMessage(
                dedup_key="booking-confirmed:9",
                to_address="anne@example.org",
                subject="Old",
                text_body=f"https://example.org/manage/{TOKEN}",
                html_body=None,
                attachments=[],
            )
        )
    assert (await deliver_due(db, SmtpTransport(smtp.settings()))).sent == 1
    [message] = smtp.handler.messages()
    assert TOKEN in message.get_body(("plain",)).get_content()
    [row] = await rows(db)
    assert TOKEN not in row.text_body and "/manage/[secret-0" in row.text_body


def test_every_secret_link_the_site_builds_is_recognised():
    """``secret_links`` knows every address that carries a secret (``web.links`` builds them)."""
    site = "https://example.org"
    built = [
        links.manage_url(site, TOKEN),
        links.manage_path(TOKEN),
        links.waitlist_url(site, TOKEN),
        links.day_sheet_url(site, TOKEN),
        links.day_sheet_url(site, TOKEN, clock.local_date(clock.now())),
        links.feed_url(site, TOKEN),
        links.webcal_url(site, TOKEN),
    ]
    for url in built:
        _, _, found = secret_links.hide([url], [])
        assert found == [TOKEN], url
        assert TOKEN not in log_masking.mask(url), url
    assert secret_links.hide([links.visit_url(site, 3), "/waitlist/join/3"], [])[2] == []


# --- the log filter ---------------------------------------------------------------------------


def test_the_log_filter_masks_paths_queries_arguments_and_tracebacks():
    records = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(self.format(record))

    handler = Keep()
    handler.addFilter(log_masking.MaskSecrets())
    logger = logging.getLogger("tests.secrets_at_rest")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        # uvicorn's access line: the arguments are read by position.
        logger.warning(
            '%s - "%s %s HTTP/%s" %d',
            "127.0.0.1:5000",
            "GET",
            f"/farm/{TOKEN}/calendar.ics?token={OTHER}&day=2026-12-02",
            "1.1",
            200,
        )
        logger.warning(f"opened /waitlist/{TOKEN}")
        try:
            raise RuntimeError(f"no booking at /manage/{TOKEN}")
        except RuntimeError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    joined = "\n".join(records)
    assert TOKEN not in joined and OTHER not in joined
    assert (
        f"/farm/{log_masking.MASK}/calendar.ics?token={log_masking.MASK}&day=2026-12-02" in joined
    )
    assert f"/waitlist/{log_masking.MASK}" in joined
    assert f"no booking at /manage/{log_masking.MASK}" in joined
