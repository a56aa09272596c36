"""The back office (``/staff``) for the office's staff: login, the at-risk board, season
planning, counter and phone bookings, reports, the catalogue and the audit trail.

Every route here but the login page needs a logged-in account (``auth.session_middleware``);
each handler is thin over the shared domain in ``reservations.base``.
"""

from __future__ import annotations

from litestar import Router

from reservations.settings import Settings
from reservations.staff.auth import PREFIX, session_middleware
from reservations.staff.booking_money import BookingMoneyController
from reservations.staff.bookings import BookingController
from reservations.staff.catalogue import CatalogueController
from reservations.staff.home import HomeController
from reservations.staff.login import LoginController
from reservations.staff.planning import PlanningController
from reservations.staff.programme import PrintedProgrammeController
from reservations.staff.reports import ReportsController
from reservations.staff.resellers import ResellersController
from reservations.staff.slots import SlotController
from reservations.web.forms import MAX_FORM_BODY
from reservations.web.locale import LocaleMiddleware


def router(settings: Settings) -> Router:
    return Router(
        path=PREFIX,
        request_max_body_size=MAX_FORM_BODY,
        route_handlers=[
            LoginController,
            HomeController,
            ReportsController,
            PrintedProgrammeController,
            BookingController,
            BookingMoneyController,
            SlotController,
            CatalogueController,
            PlanningController,
            ResellersController,
        ],
        middleware=[LocaleMiddleware(), session_middleware(settings)],
        include_in_schema=False,
    )
