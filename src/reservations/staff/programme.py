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

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Annotated, Any

from litestar import Controller, Response, get
from litestar.di import NamedDependency
from litestar.params import FromQuery, QueryParameter
from litestar.response import Template
from litestar.status_codes import HTTP_422_UNPROCESSABLE_ENTITY

from reservations import i18n
from reservations.base import clock
from reservations.base.infra.db import Database
from reservations.base.models import SlotStatus
from reservations.base.reads.public_programme import (
    ProgrammeSelection,
    programme_entries,
)
from reservations.i18n import N_
from reservations.settings import Settings
from reservations.staff.programme_pdf import render_pdf
from reservations.staff.programme_sheet import DAYS, Sheet, build_sheet
from reservations.web import inputs
from reservations.web.forms import Form

#: The cancelled visits stay, marked cancelled: a printed sheet outlives the day it is printed.
LISTED = (SlotStatus.SCHEDULED, SlotStatus.CONFIRMED, SlotStatus.HELD, SlotStatus.CANCELLED)
BAD_SECTOR = N_("Please choose one of the office's sectors.")
BAD_DATE = N_("Please give the first day as a date, e.g. 2027-07-01.")


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
        found = inputs.day(form.values["from"])
        if found is None:
            form.add_error("from", i18n.gettext(BAD_DATE))
        else:
            first_day = found
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
