"""The OCTO API under ``/octo``: resellers read our products and availability and hold,
confirm and cancel bookings with their own keys (``reservations reseller add``)."""

from __future__ import annotations

from litestar import Router
from litestar.di import Provide

from reservations.api.octo.access import identify, provide_octo_db, provide_reseller, require_key
from reservations.api.octo.availability import AvailabilityController
from reservations.api.octo.bookings import BookingsController
from reservations.api.octo.catalogue import CatalogueController
from reservations.api.octo.sandbox import Sandbox
from reservations.web import rate_limit

__all__ = ["Sandbox", "router"]


def router() -> Router:
    return Router(
        path="/octo",
        route_handlers=[CatalogueController, AvailabilityController, BookingsController],
        guards=[require_key],
        dependencies={
            "reseller": Provide(provide_reseller, sync_to_thread=False),
            "octo_db": Provide(provide_octo_db),
        },
        opt=rate_limit.bucket("octo", per_key=identify),
        include_in_schema=False,
    )
