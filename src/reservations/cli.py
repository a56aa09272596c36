"""The ``reservations`` command: serve, migrate, import a season, load the demo, report, tick."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import sys
from collections.abc import Awaitable, Callable
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

import click
from sqlalchemy.engine import make_url

from reservations.base import clock
from reservations.base.infra import db as db_module
from reservations.base.infra.db import Database
from reservations.settings import Settings, ensure_secret_key_file, secret_key_file

T = TypeVar("T")


def _run(work: Callable[[Database], Awaitable[T]], settings: Settings) -> T:
    """Run one piece of async work on a Database opened and closed around it."""

    async def main() -> T:
        database = Database(settings.database_url)
        try:
            return await work(database)
        finally:
            await database.dispose()

    return asyncio.run(main())


@click.group()
@click.version_option(package_name="reservations")
@click.pass_context
def main(context: click.Context) -> None:
    """Booking and scheduling of farm visits and animations.

    The database is RESERVATIONS_DATABASE_URL (default: reservations.sqlite3 here).
    """
    context.obj = Settings.from_env()


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--demo", is_flag=True, help="Load the demo data first if the database is empty.")
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Server processes (PostgreSQL; keep 1 on SQLite).",
)
@click.option("--access-log/--no-access-log", default=True, show_default=True)
@click.pass_obj
def serve(
    settings: Settings, host: str, port: int, demo: bool, workers: int, access_log: bool
) -> None:
    """Apply the migrations, then serve the web application."""
    import uvicorn

    from reservations.base.infra.log_masking import with_masking

    settings = _one_key_for_every_worker(settings, demo=demo, workers=workers)
    settings = _public_url_of(settings, host, port)
    if demo:
        settings = _demo_mail_with_live_links(settings)
    db_module.upgrade(settings.database_url)
    if demo:
        _load_demo_if_empty(settings)
    click.echo(f"Serving on http://{host}:{port}/  (API schema: http://{host}:{port}/schema)")
    uvicorn.run(
        "reservations.app:create_app",
        factory=True,
        workers=workers,
        host=host,
        port=port,
        # The application believes forwarded addresses itself, from trusted proxies only
        # (web/client_address.py), so that tests and every ASGI server see the same rule.
        proxy_headers=False,
        access_log=access_log,
        log_config=with_masking(uvicorn.config.LOGGING_CONFIG),  # no live link in a log line
        log_level="info",
    )


def _public_url_of(settings: Settings, host: str, port: int) -> Settings:
    """Without RESERVATIONS_PUBLIC_URL, the links in emails, QR codes and feeds point at this
    server itself (``--host``, ``--port``), not at the default port."""
    if os.environ.get("RESERVATIONS_PUBLIC_URL"):
        return settings
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    url = f"http://{shown}:{port}"
    os.environ["RESERVATIONS_PUBLIC_URL"] = url  # the server's processes read it
    return dataclasses.replace(settings, public_url=url)


def _demo_mail_with_live_links(settings: Settings) -> Settings:
    """The demo's emails in the mail folder carry live links (a waiting-list offer, an
    invitation to move can be followed from there), on the demo's own database only and
    unless told otherwise."""
    told = os.environ.get("RESERVATIONS_MAIL_DIR_LIVE_LINKS") is not None
    if settings.smtp_host or told or _demo_own_file(settings) is None:
        return settings  # mail to a server, said otherwise, or a database its owner chose
    os.environ["RESERVATIONS_MAIL_DIR_LIVE_LINKS"] = "1"  # the workers read the environment
    click.echo(f"Demo: the emails written to {settings.mail_dir}/ carry live links.")
    return Settings.from_env()


def _one_key_for_every_worker(settings: Settings, *, demo: bool, workers: int) -> Settings:
    """Every worker and restart must share the secret key, or forms fail their CSRF check and
    sessions and manage tokens stop opening. The demo keeps a generated key in a local file;
    otherwise several workers without a key are refused, and one worker is warned."""
    if not settings.secret_key_is_random:
        return settings
    if demo:
        path = secret_key_file()
        if ensure_secret_key_file(path):
            click.echo(f"Demo: a new secret key was written to {path} (kept for restarts).")
        # The workers are new processes: they read the key from the environment.
        os.environ["RESERVATIONS_SECRET_KEY"] = path.read_text().strip()
        return Settings.from_env()
    if workers > 1:
        raise click.UsageError(
            "RESERVATIONS_SECRET_KEY is not set: each of the workers would pick its own key "
            "and refuse the others' forms and sessions. Set RESERVATIONS_SECRET_KEY (or "
            "RESERVATIONS_SECRET_KEY_FILE) to a long random value, e.g. "
            "python3 -c 'import secrets; print(secrets.token_urlsafe(32))'."
        )
    click.echo(
        "Warning: RESERVATIONS_SECRET_KEY is not set; a random key is used until this process "
        "stops (sessions, forms, idempotent retries and the links of queued emails do not "
        "survive a restart, and `tick` cannot send this process's emails).",
        err=True,
    )
    return settings


def _load_demo_if_empty(settings: Settings, *, today: date | None = None) -> None:
    """``serve --demo``: the demo into an empty database; a demo made on an earlier day made
    again for today (its programme would have decision times already past), when the database
    is the demo's own file; a database configured by its owner is never touched."""
    from reservations.base.seeding.demo import database_is_empty, made_on

    async def work(database: Database) -> date | None:
        if await database_is_empty(database):
            click.echo("Loading the demo data ...")
            click.echo(f"Demo data loaded: {await _load_demo(database, settings, today)}")
            return None
        made = await made_on(database)
        return made if made is not None and made < (today or clock.today()) else None

    made = _run(work, settings)
    if made is None:
        return
    own_file = _demo_own_file(settings)
    if own_file is None:
        click.echo(
            f"The demo data were made on {made}: their decision times are past. This database "
            "was chosen in RESERVATIONS_DATABASE_URL, so it is left as it is; empty it to make "
            "the demo again for today."
        )
        return
    click.echo(
        f"The demo data were made on {made}; making them again for today "
        f"({today or clock.today()})."
    )
    kept = _set_aside(own_file, made)
    click.echo(f"The previous demo database is kept as {kept}.")
    db_module.upgrade(settings.database_url)

    async def again(database: Database) -> None:
        click.echo(f"Demo data loaded: {await _load_demo(database, settings, today)}")

    _run(again, settings)


#: The files SQLite keeps beside a database (write-ahead log, shared memory, rollback journal).
_SQLITE_SIDE = ("-wal", "-shm", "-journal")


def _set_aside(database: Path, made: date) -> Path:
    """Rename the old demo database (and the files SQLite keeps beside it) rather than delete
    it: the default file may hold more than the demo. Returns the new name."""
    kept = database.with_name(f"{database.name}.made-{made.isoformat()}")
    for end in ("", *_SQLITE_SIDE):
        old = database.with_name(database.name + end)
        if old.exists():
            old.replace(kept.with_name(kept.name + end))
    return kept


def _demo_own_file(settings: Settings) -> Path | None:
    """The demo's SQLite file when the database is the default one (the demo's own), else None."""
    if settings.database_url != Settings.database_url:
        return None
    name = make_url(settings.database_url).database
    return Path(name).resolve() if name else None


async def _load_demo(database: Database, settings: Settings, today: date | None) -> Any:
    """The demo, and what its changes are followed by as anywhere else: the visitors of the
    visit called off for the weather are emailed (queued in the outbox)."""
    from reservations.base.seeding.demo import load_demo
    from reservations.notices import followups

    summary = await load_demo(database, today=today)
    for slot_id, booking_ids in summary.cancelled.items():
        await followups.slot_cancelled(database, settings, slot_id, booking_ids)
    return summary


@main.group()
def db() -> None:
    """Database maintenance."""


@db.command()
@click.pass_obj
def upgrade(settings: Settings) -> None:
    """Apply every pending migration."""
    db_module.upgrade(settings.database_url)
    click.echo("Database is up to date.")


@main.command("import-history")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_obj
def import_history(settings: Settings, csv_file: Path) -> None:
    """Import a past season kept as a spreadsheet (CSV, one row per planned slot)."""
    from reservations.base.seeding.history import HistoryImportError
    from reservations.base.seeding.history import import_history as run_import

    db_module.upgrade(settings.database_url)
    try:
        summary = _run(lambda database: run_import(database, csv_file), settings)
    except HistoryImportError as error:
        click.echo(
            f"Nothing was imported: {len(error.problems)} problem(s) in {csv_file}:", err=True
        )
        for line, message in error.problems:
            click.echo(f"  line {line}: {message}", err=True)
        sys.exit(1)
    click.echo(f"Imported {csv_file}: {summary}")


@main.command()
@click.pass_obj
def demo(settings: Settings) -> None:
    """Load the demo providers, the 2021 and 2022 seasons and an upcoming programme."""
    from reservations.base.seeding.demo import database_is_empty

    db_module.upgrade(settings.database_url)

    async def work(database: Database) -> Any:
        if not await database_is_empty(database):
            raise click.ClickException(
                "The database already holds data; the demo loads into an empty one."
            )
        return await _load_demo(database, settings, None)

    click.echo(f"Demo data loaded: {_run(work, settings)}")


@main.command()
@click.option("--season", required=True, type=int, help="A calendar year, e.g. 2022.")
@click.option("--kind", type=click.Choice(["farm_visit", "animation"]), default=None)
@click.option(
    "--format",
    "output",
    type=click.Choice(["table", "json", "csv", "revenue-csv"]),
    default="table",
    help="csv: the season's groups; revenue-csv: its money by channel and provider (cents).",
)
@click.pass_obj
def report(settings: Settings, season: int, kind: str | None, output: str) -> None:
    """The season report: planned, held, cancelled, fill and attendance, by group; then the
    revenue, refunds and unpaid holds, by channel and provider."""
    from reservations.base.models import ActivityKind
    from reservations.base.reads.reports import report_as_csv, report_as_table, season_report
    from reservations.base.reads.revenue import revenue_as_csv, revenue_as_table, revenue_report

    chosen = ActivityKind(kind) if kind else None

    async def work(database: Database) -> tuple[dict[str, Any], dict[str, Any]]:
        return (
            await season_report(database, season, kind=chosen),
            await revenue_report(database, season, kind=chosen),
        )

    figures, money = _run(work, settings)
    if output == "json":
        click.echo(json.dumps({**figures, "revenue": money}, indent=2, ensure_ascii=False))
    elif output == "csv":
        click.echo(report_as_csv(figures), nl=False)
    elif output == "revenue-csv":
        click.echo(revenue_as_csv(money), nl=False)
    else:
        click.echo(report_as_table(figures) + "\n" + revenue_as_table(money))


@main.group()
def provider() -> None:
    """The providers' private links."""


@provider.command()
@click.argument("name")
@click.option("--rotate", is_flag=True, help="Replace the link: the old one stops working at once.")
@click.pass_obj
def link(settings: Settings, name: str, rotate: bool) -> None:
    """Issue the private link of provider NAME (its day sheet and calendar feed) and print it.

    The link is shown once: only its hash is kept. Send it to the farmer (SMS, email)."""
    from reservations.base.errors import DomainError
    from reservations.base.rules.provider_links import issue_link
    from reservations.web.links import day_sheet_url

    db_module.upgrade(settings.database_url)
    try:
        secret = _run(lambda database: issue_link(database, name, rotate=rotate), settings)
    except DomainError as error:
        raise click.ClickException(error.text) from None
    click.echo(day_sheet_url(settings.public_url, secret))


@main.group()
def reseller() -> None:
    """Resellers' keys to the OCTO API (/octo)."""


@reseller.command("add")
@click.argument("name")
@click.option(
    "--test", "test_mode", is_flag=True, help="A test key: it books the sandbox, never real places."
)
@click.pass_obj
def reseller_add(settings: Settings, name: str, test_mode: bool) -> None:
    """Make reseller NAME and print its API key, once: only its hash is kept. A revoked
    reseller gets a new key."""
    from reservations.base.errors import DomainError
    from reservations.base.rules.resellers import add_reseller

    db_module.upgrade(settings.database_url)
    try:
        _, key = _run(lambda database: add_reseller(database, name, test_mode=test_mode), settings)
    except DomainError as error:
        raise click.ClickException(error.text) from None
    kind = "a test key, for the sandbox" if test_mode else "a live key"
    click.echo(f"API key of {name.strip()} ({kind}), shown only now:")
    click.echo(key)
    click.echo(f"OCTO endpoint: {settings.public_url}/octo (Authorization: Bearer <key>)")


@reseller.command("revoke")
@click.argument("name")
@click.pass_obj
def reseller_revoke(settings: Settings, name: str) -> None:
    """Stop the key of reseller NAME at once; its bookings stay."""
    from reservations.base.errors import DomainError
    from reservations.base.rules.resellers import revoke_reseller

    db_module.upgrade(settings.database_url)
    try:
        _run(lambda database: revoke_reseller(database, name), settings)
    except DomainError as error:
        raise click.ClickException(error.text) from None
    click.echo(f"The key of {name} is revoked.")


@reseller.command("list")
@click.pass_obj
def reseller_list(settings: Settings) -> None:
    """The resellers, their kind of key and whether it is revoked."""
    from reservations.base.reads.resellers import all_resellers

    db_module.upgrade(settings.database_url)
    for row in _run(all_resellers, settings):
        kind = "test" if row.test_mode else "live"
        state = f"revoked {clock.display(row.revoked_at)}" if row.revoked_at else "active"
        sold = f"{row.bookings} bookings, {row.people} people"
        click.echo(f"{row.name}\t{kind}\t{state}\t{sold}\tsince {clock.display(row.created_at)}")


@main.group()
def staff() -> None:
    """Back-office accounts."""


@staff.command("add")
@click.argument("email")
@click.option("--admin", is_flag=True, help="Administrator: also manages accounts and providers.")
@click.password_option(help="Asked for when not given (typed twice, not shown).")
@click.pass_obj
def staff_add(settings: Settings, email: str, admin: bool, password: str) -> None:
    """Create the back-office account EMAIL."""
    from reservations.base.errors import DomainError
    from reservations.base.models import StaffRole
    from reservations.base.rules.accounts import add_staff

    db_module.upgrade(settings.database_url)
    role = StaffRole.ADMIN if admin else StaffRole.STAFF
    try:
        account = _run(
            lambda database: add_staff(database, email, password, role, actor="cli"), settings
        )
    except DomainError as error:
        raise click.ClickException(error.text) from None
    click.echo(
        f"Account {account.email} ({account.role.value}) created: log in at "
        f"{settings.public_url}/staff/login"
    )


@main.command()
@click.pass_obj
def tick(settings: Settings) -> None:
    """Run what is due: go/no-go decisions, then the outgoing mail (safe to run every minute;
    ``serve`` runs it by itself every RESERVATIONS_TICK_SECONDS unless that is 0)."""
    from reservations.due_work import run_due_work

    async def work(database: Database) -> Any:
        return await run_due_work(database, settings)

    done = _run(work, settings)
    decisions, offers, delivery = done.decisions, done.offers, done.delivery
    day_sheets, money = done.day_sheets, (done.refunds_sent, done.checkouts_ended)
    click.echo(
        f"go/no-go: {len(decisions.confirmed)} confirmed, {len(decisions.cancelled)} cancelled "
        f"({len(decisions.bookings_cancelled)} bookings cancelled with them)"
    )
    click.echo(f"waiting list: {offers.expired} offers ran out, {len(offers.offers)} new offers")
    click.echo(f"day sheets: {day_sheets} queued for the providers with visitors today")
    if settings.payments_online:
        click.echo(f"payments: {money[0]} refunds sent, {money[1]} unpaid checkouts ended")
    retry = f" ({delivery.failed - delivery.gave_up} to retry later)" if delivery.failed else ""
    click.echo(f"mail: {delivery.sent} sent, {delivery.failed} failed{retry}")
    if delivery.abandoned:
        click.echo(
            f"mail: {delivery.abandoned} message(s) abandoned after repeated failures "
            "(see outbox_message.last_error)",
            err=True,
        )
