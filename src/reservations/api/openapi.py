"""The OpenAPI document as the API really behaves, for what Litestar cannot derive from the
types: the party-size rule (``1 <= adults + children <= max_party_size``, a setting) and the
refusal of unknown fields in the booking body. Without them a client generated from the
document would send bodies that come back 422."""

from __future__ import annotations

import copy
from typing import Any

from litestar import Request
from litestar.openapi.plugins import JsonRenderPlugin

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


def complete(document: dict[str, Any], max_party_size: int) -> dict[str, Any]:
    """A copy of Litestar's document with the booking body's cross-field rules."""
    completed = copy.deepcopy(document)
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
