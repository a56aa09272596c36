"""The OpenAPI document as the API really behaves, for what Litestar cannot derive from the
types: the party-size rule (``1 <= adults + children <= max_party_size``, a setting) and the
refusal of unknown fields in the booking body. Without them a client generated from the
document would send bodies that come back 422."""

from __future__ import annotations

import copy
from typing import Any

from litestar import Request
from litestar.openapi.plugins import JsonRenderPlugin, RedocRenderPlugin

BOOKING_IN = "BookingIn"


def party_rule(max_party_size: int) -> list[dict[str, Any]]:
    """``adults + children`` from 1 to ``max_party_size`` in JSON Schema, which has no sums:
    one branch per number of adults, bounding the children (``children`` defaults to 0, so it
    is required when there is no adult)."""
    branches: list[dict[str, Any]] = []
    for adults in range(max_party_size + 1):
        branch: dict[str, Any] = {
            "properties": {
                "adults": {"const": adults},
                "children": {
                    "minimum": 1 if adults == 0 else 0,
                    "maximum": max_party_size - adults,
                },
            }
        }
        if adults == 0:
            branch["required"] = ["children"]
        branches.append(branch)
    return branches


#: OpenAPI links: how a client goes from a slot listed to its booking, and from a booking made
#: to reading or cancelling it (also what lets schemathesis chain calls with real ids).
_BOOKING_LINKS = {
    "ReadBooking": {
        "operationId": "ApiV1BookingsManageTokenReadBooking",
        "parameters": {"manage_token": "$response.body#/manage_token"},
    },
    "CancelBooking": {
        "operationId": "ApiV1BookingsManageTokenCancelBooking",
        "parameters": {"manage_token": "$response.body#/manage_token"},
    },
}
_SLOT_LINKS = {
    "BookFirstSlot": {
        "operationId": "ApiV1BookingsCreateBooking",
        "requestBody": {
            "slot_id": "$response.body#/0/id",
            "adults": 1,
            "name": "Jan de Vries",
            "email": "jan@example.nl",
        },
    },
}


def _without_litestar_400(operation: dict[str, Any]) -> None:
    """Litestar documents a 400 ``application/json`` for any handler with parameters; this API
    answers invalid parameters with a 422 problem, and a 400 only for an unreadable body."""
    bad_request = operation["responses"].get("400", {})
    if "application/json" in bad_request.get("content", {}):
        del operation["responses"]["400"]


def complete(document: dict[str, Any], max_party_size: int) -> dict[str, Any]:
    """A copy of Litestar's document with what it cannot derive."""
    completed = copy.deepcopy(document)
    for path, item in completed["paths"].items():
        if path.startswith("/api/"):
            for operation in item.values():
                _without_litestar_400(operation)
    paths = completed["paths"]
    paths["/api/v1/availability"]["get"]["responses"]["200"]["links"] = _SLOT_LINKS
    paths["/api/v1/bookings"]["post"]["responses"]["201"]["links"] = _BOOKING_LINKS
    booking_in = completed["components"]["schemas"][BOOKING_IN]
    created = completed["paths"]["/api/v1/bookings"]["post"]["responses"]["201"]
    created["headers"]["Idempotent-Replayed"]["schema"] = {"type": "string", "enum": ["true"]}
    booking_in["additionalProperties"] = False
    booking_in["anyOf"] = party_rule(max_party_size)
    booking_in["description"] = (
        f"A booking request: at least 1 person and at most {max_party_size} in all "
        "(adults + children; for a larger group, call the tourist office). Unknown fields are "
        "refused."
    )
    return completed


class CompletedJsonRenderPlugin(JsonRenderPlugin):
    """``/schema/openapi.json``: Litestar's document, completed (once) by ``complete``."""

    def __init__(self, max_party_size: int) -> None:
        super().__init__()
        self.max_party_size = max_party_size
        self._rendered: bytes | None = None

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        if self._rendered is None:
            self._rendered = self.render_json(
                request, complete(openapi_schema, self.max_party_size)
            )
        return self._rendered


#: Redoc, shipped in ``static/vendor`` (see its README): the reference works offline.
REDOC_JS = "/static/vendor/redoc-2.5.4.standalone.js"


class OfflineRedocRenderPlugin(RedocRenderPlugin):
    """The API reference from the app's own files: Redoc reads ``/schema/openapi.json`` by
    itself (no inline script, no web font, nothing from another origin)."""

    def __init__(self) -> None:
        super().__init__(js_url=REDOC_JS, google_fonts=False, path="/redoc")

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        title = openapi_schema["info"]["title"]
        return (
            "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
            '<meta name=viewport content="width=device-width, initial-scale=1">'
            f"<title>{title}</title></head><body>"
            '<redoc spec-url="/schema/openapi.json" hide-download-button></redoc>'
            f'<script src="{REDOC_JS}"></script></body></html>'
        ).encode()
