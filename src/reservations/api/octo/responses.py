"""Every OCTO answer: JSON, with the capabilities it was written with (``Octo-Capabilities``)."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response

from reservations.api.octo.requests import capabilities_of


def answer(request: Request[Any, Any, Any], body: Any) -> Response[Any]:
    return Response(
        body,
        headers={
            "Octo-Capabilities": ", ".join(sorted(capabilities_of(request))),
            "Content-Language": "fr-FR",
        },
    )
