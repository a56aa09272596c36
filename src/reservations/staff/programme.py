"""``/staff/programme``: the fortnightly programme of one sector, as the office prints it for
its counters and partners' notice boards: an HTML page with a print stylesheet, and the same
as a PDF (``/staff/programme.pdf``, see ``programme_pdf``). Both are made from the slots, by
day: time, activity, farm and village, meeting point, price, and where to book.

The programme itself is a French document whatever the language of the staff member's screen
(the office prints it in French): its texts are written here in French, and dates, times and
prices are formatted in French. Only the controls around it (the sector and date form) follow
the reader's language. Cancelled slots are left out; the others (not decided yet, going ahead,
or already held for a past fortnight) are listed.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import date, timedelta
from itertools import groupby
from typing import Annotated, Any

from babel.dates import format_date
from litestar import Controller, Response, get
from litestar.di import NamedDependency
from litestar.params import FromQuery, QueryParameter
from litestar.response import Template
from litestar.status_codes import HTTP_422_UNPROCESSABLE_ENTITY

from reservations import i18n
from reservations.base import clock
from reservations.base.db import Database
from reservations.base.models import ActivityKind, SlotStatus
from reservations.base.public_programme import (
    ProgrammeEntry,
    ProgrammeSelection,
    programme_entries,
)
from reservations.i18n import N_
from reservations.settings import Settings
from reservations.staff.programme_pdf import render_pdf
from reservations.visitors.calendar_feed import price_text, visit_url
from reservations.visitors.forms import Form

DAYS = 14
LISTED = (SlotStatus.SCHEDULED, SlotStatus.CONFIRMED, SlotStatus.HELD)
BAD_SECTOR = N_("Please choose one of the office's sectors.")
BAD_DATE = N_("Please give the first day as a date, e.g. 2027-07-01.")

#: The programme's own texts, in French (see the module's docstring).
TITLE = "Visites de fermes et animations"
KINDS = {ActivityKind.FARM_VISIT: "Visite de ferme", ActivityKind.ANIMATION: "Animation"}
BOOKING = "Réservation obligatoire auprès de l’office de tourisme\u00a0: {phone}, ou en ligne\u00a0: {url}"
MEETING = "Rendez-vous\u00a0: {place}"
MINIMUM = "maintenue à partir de {minimum} participants"
BOOK = "Réserver\u00a0:"
NOTHING = "Aucune visite ni animation n’est prévue dans ce secteur pendant cette quinzaine."


@dataclass(frozen=True)
class SheetEntry:
    time: str
    title: str
    #: "Visite de ferme · Ferme du Mas, Vialas"
    what: str
    #: "Rendez-vous : parking du temple", or None when the activity has no meeting point.
    meeting: str | None
    #: "Adultes 5,00 €, enfants 3,00 € · maintenue à partir de 4 participants"
    terms: str
    booking_url: str
    book: str = BOOK


@dataclass(frozen=True)
class SheetDay:
    day: date
    heading: str
    entries: list[SheetEntry]


@dataclass(frozen=True)
class Sheet:
    """The programme of a sector and a fortnight, every text ready to print, in French."""

    title: str
    sector: str
    first_day: date
    last_day: date
    period: str
    booking: str
    days: list[SheetDay]
    empty_text: str = NOTHING

    @property
    def filename(self) -> str:
        ascii_name = unicodedata.normalize("NFKD", self.sector).encode("ascii", "ignore").decode()
        slug = "-".join("".join(c if c.isalnum() else " " for c in ascii_name.lower()).split())
        return f"programme-{slug}-{self.first_day.isoformat()}.pdf"


def french_day(day: date, *, year: bool = False) -> str:
    """ "jeudi 1er juillet", "vendredi 2 juillet 2027": the first of the month is "1er"."""
    text = format_date(day, "EEEE d MMMM" + (" y" if year else ""), locale="fr")
    if day.day == 1:
        text = text.replace(" 1 ", " 1er ", 1)
    return text


def french_period(first: date, last: date) -> str:
    """ "du jeudi 1er au mercredi 14 juillet 2027", with the months and years needed."""
    end = french_day(last, year=True)
    if first.year != last.year:
        start = french_day(first, year=True)
    elif first.month != last.month:
        start = french_day(first)
    else:
        start = french_day(first).rsplit(" ", 1)[0]
    return f"du {start} au {end}"


def build_sheet(
    entries: list[ProgrammeEntry], sector: str, first_day: date, settings: Settings
) -> Sheet:
    """The printable programme of ``entries`` (one sector, in start order), in French."""
    last_day = first_day + timedelta(days=DAYS - 1)
    with i18n.use_locale("fr"):
        days = [
            SheetDay(day, french_day(day).capitalize(), [_entry(e, settings) for e in group])
            for day, group in groupby(entries, key=lambda e: e.starts_on)
        ]
    return Sheet(
        title=TITLE,
        sector=sector,
        first_day=first_day,
        last_day=last_day,
        period=french_period(first_day, last_day).capitalize(),
        booking=BOOKING.format(phone=settings.office_phone, url=settings.public_url),
        days=days,
    )


def _entry(entry: ProgrammeEntry, settings: Settings) -> SheetEntry:
    terms = [price_text(entry.price_adult_cents, entry.price_child_cents)]
    if entry.min_participants > 1:
        terms.append(MINIMUM.format(minimum=entry.min_participants))
    return SheetEntry(
        time=f"{i18n.clock_time(entry.starts_at)} – {i18n.clock_time(entry.ends_at)}",
        title=entry.title_in("fr"),
        what=f"{KINDS[entry.kind]} · {entry.provider}, {entry.village}",
        meeting=MEETING.format(place=entry.meeting_point) if entry.meeting_point else None,
        terms=" · ".join(terms),
        booking_url=visit_url(settings.public_url, entry.id),
    )


@dataclass(frozen=True)
class ProgrammeQuery:
    sector: str
    first_day: date


def read_query(
    sector: str | None, first: str | None, sectors: tuple[str, ...], today: date
) -> tuple[Form, ProgrammeQuery]:
    """The sector (one of the office's; the first by default) and the first day (today by
    default); a form with the errors beside each field when either is unreadable."""
    form = Form(values={"sector": (sector or "").strip(), "from": (first or "").strip()})
    chosen = form.values["sector"] or sectors[0]
    if chosen not in sectors:
        form.add_error("sector", i18n.gettext(BAD_SECTOR))
    first_day = today
    if form.values["from"]:
        try:
            first_day = date.fromisoformat(form.values["from"])
        except ValueError:
            form.add_error("from", i18n.gettext(BAD_DATE))
    form.values["sector"], form.values["from"] = chosen, form.values["from"] or today.isoformat()
    return form, ProgrammeQuery(chosen, first_day)


async def sheet_for(db: Database, query: ProgrammeQuery, settings: Settings) -> Sheet:
    selection = ProgrammeSelection(
        first_day=query.first_day,
        last_day=query.first_day + timedelta(days=DAYS - 1),
        sector=query.sector,
        statuses=LISTED,
    )
    entries = await programme_entries(db, selection)
    return build_sheet(entries, query.sector, query.first_day, settings)


class PrintedProgrammeController(Controller):
    path = "/"

    @get("/programme", name="staff_programme")
    async def programme(
        self,
        db: NamedDependency[Database],
        settings: NamedDependency[Settings],
        sector: FromQuery[str | None] = None,
        first: Annotated[str | None, QueryParameter(name="from")] = None,
    ) -> Template:
        form, query = read_query(sector, first, settings.sectors, clock.today())
        context: dict[str, Any] = {"form": form, "sectors": settings.sectors, "sheet": None}
        if not form.valid:
            return Template(
                "staff/programme.html", context=context, status_code=HTTP_422_UNPROCESSABLE_ENTITY
            )
        context["sheet"] = await sheet_for(db, query, settings)
        return Template("staff/programme.html", context=context)

    @get("/programme.pdf", name="staff_programme_pdf")
    async def programme_pdf(
        self,
        db: NamedDependency[Database],
        settings: NamedDependency[Settings],
        sector: FromQuery[str | None] = None,
        first: Annotated[str | None, QueryParameter(name="from")] = None,
    ) -> Response[bytes]:
        form, query = read_query(sector, first, settings.sectors, clock.today())
        if not form.valid:
            return Response(
                "\n".join(form.errors.values()).encode(),
                media_type="text/plain",
                status_code=HTTP_422_UNPROCESSABLE_ENTITY,
            )
        sheet = await sheet_for(db, query, settings)
        return Response(
            render_pdf(sheet),
            media_type="application/pdf",
            headers={"Content-Disposition": f'inline; filename="{sheet.filename}"'},
        )
