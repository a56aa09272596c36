"""The farmers' side: a private link per provider (no password) opens its day sheet, where the
farmer records attendance and calls off a visit, and its calendar feed.

Everything here is reached under ``/farm/{secret}`` and receives the provider as ``farm`` from
``access.provide_farm``: one gate, so no handler can reach another provider's slots.
"""

from __future__ import annotations

from litestar import Router
from litestar.di import Provide

from reservations.farmers.access import PRIVATE_HEADERS, provide_farm
from reservations.farmers.day_sheet import DaySheetController
from reservations.farmers.feed import FeedController
from reservations.web.forms import MAX_FORM_BODY
from reservations.web.links import PREFIX
from reservations.web.locale import LocaleMiddleware


def router() -> Router:
    return Router(
        path=PREFIX + "/{secret:str}",
        request_max_body_size=MAX_FORM_BODY,
        route_handlers=[DaySheetController, FeedController],
        dependencies={"farm": Provide(provide_farm)},
        middleware=[LocaleMiddleware()],
        response_headers=PRIVATE_HEADERS,
        include_in_schema=False,
    )
