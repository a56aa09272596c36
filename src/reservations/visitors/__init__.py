"""The visitors' site: server-rendered pages in four languages over the shared domain.

Pages: the programme (``/``), a visit and its booking form (``/visits/{id}``), the
confirmation and the manage link (``/manage/{token}``), the return from Stripe's checkout
(``/payments/return/{reference}``), and the pictures they show (``/pictures/...``). Templates
live in the top-level ``templates/visitors`` and ``templates/emails``; the language of each
request is set by ``LocaleMiddleware``.
"""

from __future__ import annotations

from litestar import Router

from reservations.visitors.calendar_feed import CalendarFeedController
from reservations.visitors.embed import EmbedController
from reservations.visitors.kiosk import KioskController
from reservations.visitors.manage import ManageController
from reservations.visitors.move_invitation import MoveInvitationController
from reservations.visitors.payments import PaymentReturnController
from reservations.visitors.pictures import PictureController
from reservations.visitors.programme import ProgrammeController
from reservations.visitors.visits import VisitController
from reservations.visitors.waitlist import WaitlistController
from reservations.web.forms import MAX_FORM_BODY
from reservations.web.locale import LocaleMiddleware


def router() -> Router:
    return Router(
        path="/",
        request_max_body_size=MAX_FORM_BODY,
        route_handlers=[
            ProgrammeController,
            VisitController,
            ManageController,
            MoveInvitationController,
            PaymentReturnController,
            EmbedController,
            KioskController,
            WaitlistController,
            CalendarFeedController,
            PictureController,
        ],
        middleware=[LocaleMiddleware()],
        include_in_schema=False,
    )
