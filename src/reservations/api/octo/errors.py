"""OCTO's errors: ``{"error": CODE, "errorMessage": "...", <the id at fault>}``, HTTP 400 (401
and 403 for a missing or refused key, 429 over the key's rate limit, 503 while the database is
unreachable, 500 for a fault of ours), in English, the language of the protocol.

A domain refusal is worded by its own rule (``DomainError.text``) and given the OCTO code of its
kind: a full or closed visit, or a cancellation after the cut-off, is ``UNPROCESSABLE_ENTITY``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.status_codes import (
    HTTP_400_BAD_REQUEST,
    HTTP_401_UNAUTHORIZED,
    HTTP_403_FORBIDDEN,
    HTTP_404_NOT_FOUND,
    HTTP_429_TOO_MANY_REQUESTS,
    HTTP_500_INTERNAL_SERVER_ERROR,
    HTTP_503_SERVICE_UNAVAILABLE,
)

from reservations.base.errors import DomainError, ErrorKind, ResellerBookingNotFound
from reservations.base.infra.unavailable import is_database_unavailable

logger = logging.getLogger(__name__)

PREFIX = "/octo"
BAD_REQUEST = "BAD_REQUEST"
UNPROCESSABLE_ENTITY = "UNPROCESSABLE_ENTITY"
INVALID_PRODUCT_ID = "INVALID_PRODUCT_ID"
INVALID_OPTION_ID = "INVALID_OPTION_ID"
INVALID_UNIT_ID = "INVALID_UNIT_ID"
INVALID_AVAILABILITY_ID = "INVALID_AVAILABILITY_ID"
INVALID_BOOKING_UUID = "INVALID_BOOKING_UUID"
UNAUTHORIZED = "UNAUTHORIZED"
FORBIDDEN = "FORBIDDEN"
INTERNAL_SERVER_ERROR = "INTERNAL_SERVER_ERROR"

_STATUS = {UNAUTHORIZED: HTTP_401_UNAUTHORIZED, FORBIDDEN: HTTP_403_FORBIDDEN}
#: The field of the body that names what an ``INVALID_*`` code is about.
_ID_FIELD = {
    INVALID_PRODUCT_ID: "productId",
    INVALID_OPTION_ID: "optionId",
    INVALID_UNIT_ID: "unitId",
    INVALID_AVAILABILITY_ID: "availabilityId",
    INVALID_BOOKING_UUID: "uuid",
}


class OctoError(Exception):
    """A refusal in OCTO's words; ``value`` is the id at fault, for the ``INVALID_*`` codes."""

    def __init__(self, code: str, message: str, value: str | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.value = code, message, value

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.code, "errorMessage": self.message}
        if self.code in _ID_FIELD:
            body[_ID_FIELD[self.code]] = self.value or ""
        return body

    @property
    def status(self) -> int:
        return _STATUS.get(self.code, HTTP_400_BAD_REQUEST)


def bad_request(message: str) -> OctoError:
    return OctoError(BAD_REQUEST, message)


def of_domain(error: DomainError) -> OctoError:
    """A domain refusal as OCTO says it: unknown booking, bad input, or refused by the state of
    things (full, closed, too late)."""
    if isinstance(error, ResellerBookingNotFound):
        return OctoError(INVALID_BOOKING_UUID, error.text, error.params.get("uuid"))
    if error.kind == ErrorKind.INVALID:
        return bad_request(error.text)
    return OctoError(UNPROCESSABLE_ENTITY, error.text)


def respond(error: OctoError, headers: Mapping[str, str] | None = None) -> Response[Any]:
    return Response(error.body(), status_code=error.status, headers=dict(headers or {}))


def _answer(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """Any exception raised under ``/octo``, answered in OCTO's words."""
    if isinstance(exc, OctoError):
        return respond(exc)
    if isinstance(exc, DomainError):
        return respond(of_domain(exc))
    if isinstance(exc, ValidationException):
        return respond(bad_request(f"The request is not valid: {exc.detail}"))
    if isinstance(exc, HTTPException):
        if exc.status_code == HTTP_429_TOO_MANY_REQUESTS:
            error = OctoError("TOO_MANY_REQUESTS", "Too many requests with this key: slow down.")
            return Response(error.body(), status_code=429, headers=exc.headers or {})
        if exc.status_code == HTTP_404_NOT_FOUND:
            error = OctoError("NOT_FOUND", f"There is no OCTO endpoint {request.url.path}.")
            return Response(error.body(), status_code=404)
        message = f"{exc.detail or 'The request could not be carried out'}."
        return Response(bad_request(message).body(), status_code=exc.status_code)
    if is_database_unavailable(exc):
        logger.warning("database unavailable on %s %s: %s", request.method, request.url.path, exc)
        error = OctoError(INTERNAL_SERVER_ERROR, "The database is unreachable; try again soon.")
        return Response(error.body(), status_code=HTTP_503_SERVICE_UNAVAILABLE)
    logger.exception("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    error = OctoError(INTERNAL_SERVER_ERROR, "Something went wrong on our side; try again.")
    return Response(error.body(), status_code=HTTP_500_INTERNAL_SERVER_ERROR)


Handler = Callable[[Request[Any, Any, Any], Any], Response[Any]]


def under_octo(handlers: Mapping[Any, Handler]) -> dict[Any, Handler]:
    """The application's exception handlers, answering in OCTO's words under ``/octo``."""

    def dispatch(other: Handler) -> Handler:
        def handler(request: Request[Any, Any, Any], exc: Any) -> Response[Any]:
            path = request.url.path
            if path == PREFIX or path.startswith(PREFIX + "/"):
                return _answer(request, exc)
            return other(request, exc)

        return handler

    return {kind: dispatch(handler) for kind, handler in handlers.items()}
