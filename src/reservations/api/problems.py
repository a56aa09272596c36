"""Every error of the API as an RFC 9457 problem (``application/problem+json``), with a message a
person understands, in the asker's language (``Accept-Language``: French, English, German or
Dutch; English when it names none of them); an unexpected failure is logged and answered with a
plain 500 problem, never a stack trace. ``code`` and ``field`` stay the same in every language:
programs read those."""

from __future__ import annotations

import logging
import re
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi import ResponseSpec
from litestar.plugins.problem_details import ProblemDetailsException
from litestar.status_codes import (
    HTTP_400_BAD_REQUEST,
    HTTP_422_UNPROCESSABLE_ENTITY,
    HTTP_500_INTERNAL_SERVER_ERROR,
    HTTP_503_SERVICE_UNAVAILABLE,
)

from reservations import i18n
from reservations.base.errors import DomainError
from reservations.base.infra.unavailable import is_database_unavailable
from reservations.i18n import N_
from reservations.web.http_status import status_of

logger = logging.getLogger(__name__)

PROBLEM_TYPE_BASE = "https://reservations.example/problems/"
PROBLEM_MEDIA_TYPE = "application/problem+json"
#: Seconds a client should wait before retrying when the database is unavailable.
RETRY_AFTER_SECONDS = 5


class FieldProblem(msgspec.Struct):
    field: str
    expected: str


class ProblemDetails(msgspec.Struct):
    """An RFC 9457 problem: ``code`` names the refusal (``not_enough_places``, ``invalid_request``
    ...), ``detail`` says it to a person. Some problems add members: ``field`` (the field at
    fault), ``errors`` (each invalid field and what it should hold), ``remaining`` and
    ``requested`` (places), ``maximum`` (the largest party or period)..."""

    type: str
    title: str
    status: int
    detail: str
    code: str
    instance: str | None = None
    field: str | None = None
    errors: list[FieldProblem] | None = None


#: What each status means on this API, for the OpenAPI document.
_MEANINGS = {
    400: "Malformed request: the body is not JSON, or not UTF-8",
    404: "Not found: no such visit, booking or address",
    409: "Refused by the state of things: full, closed, cancelled, or an Idempotency-Key "
    "reused for another request",
    413: "The body is too large",
    422: "Invalid request: a field is missing, of the wrong type, out of its bounds, or the "
    "rules refuse it (party size, email, period); `errors` lists the fields",
    429: "Too many requests from this client: wait a minute",
    503: "The database is unavailable for a moment: retry after `Retry-After` seconds",
}


def problem_responses(*statuses: int) -> dict[int, ResponseSpec]:
    """The OpenAPI ``responses`` of a handler for the problems it may answer."""
    return {
        status: ResponseSpec(
            data_container=ProblemDetails,
            description=_MEANINGS[status],
            media_type=PROBLEM_MEDIA_TYPE,
            generate_examples=False,
        )
        for status in statuses
    }


#: What each field of a request should hold, said plainly (for body and query validation).
FIELD_HINTS = {
    "slot_id": N_("the number of a visit"),
    "adults": N_("a whole number, 0 or more"),
    "children": N_("a whole number, 0 or more"),
    "name": N_("the name the booking is made for"),
    "email": N_("an email address"),
    "phone": N_("a phone number (at most 40 characters)"),
    "locale": N_("one of fr, en, de, nl"),
    "from": N_("a date written YYYY-MM-DD, from 2000-01-01 to 2199-12-31"),
    "to": N_("a date written YYYY-MM-DD, from 2000-01-01 to 2199-12-31, not before from"),
    "kind": N_("farm_visit or animation"),
    "provider": N_(
        "a provider's number or exact name (at most 200 characters, no control characters)"
    ),
    "sector": N_("a sector's exact name (at most 200 characters, no control characters)"),
    "lang": N_("fr, en, de or nl"),
    "Idempotency-Key": N_("at most 200 characters"),
}


def asker_locale(request: Request[Any, Any, Any]) -> str:
    """The language the problem is written in: the first of ours ``Accept-Language`` names."""
    return i18n.from_accept_language(request.headers.get("accept-language")) or "en"


def problem(
    request: Request[Any, Any, Any],
    status: int,
    title: str,
    detail: str,
    *,
    code: str,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response[dict[str, Any]]:
    """``title`` and ``detail`` are English messages (msgids), written here in the asker's
    language; ``detail`` may name ``{parameters}`` filled from ``detail_params``."""
    params = extra.pop("detail_params", {})
    refusal: DomainError | None = extra.pop("refusal", None)
    with i18n.use_locale(asker_locale(request)):
        title = i18n.gettext(title)
        # A domain refusal is written by its own rule (its plural forms); other details here.
        detail = i18n.error_text(refusal) if refusal else i18n.gettext(detail).format(**params)
    response = ProblemDetailsException(
        status_code=status,
        title=title,
        detail=detail,
        type_=PROBLEM_TYPE_BASE + code,
        instance=request.url.path,
        headers=headers,
        extra={"code": code, **extra},
    ).to_response(request)
    response.headers["Content-Language"] = asker_locale(request)
    response.headers["Vary"] = "Accept-Language"
    return response


def domain_error_handler(request: Request[Any, Any, Any], exc: DomainError) -> Response[Any]:
    extra: dict[str, Any] = {"field": exc.field} if exc.field else {}
    return problem(
        request,
        status_of(exc),
        exc.title,
        exc.text,
        code=exc.code,
        refusal=exc,
        **extra,
        **exc.params,
    )


def validation_error_handler(
    request: Request[Any, Any, Any], exc: ValidationException
) -> Response[Any]:
    with i18n.use_locale(asker_locale(request)):
        fields = [(name, _said(hint)) for name, hint in _invalid_fields(exc.extra)]
    hints = "; ".join(f"{name}: {expected}" for name, expected in fields)
    return problem(
        request,
        HTTP_422_UNPROCESSABLE_ENTITY,
        N_("Invalid request"),
        N_("Please check: {hints}."),
        code="invalid_request",
        detail_params={"hints": hints},
        errors=[{"field": name, "expected": expected} for name, expected in fields],
    )


def _said(hint: str | tuple[str, int]) -> str:
    """A hint in the current language (a length limit carries its number)."""
    if isinstance(hint, tuple):
        return i18n.gettext(hint[0]).format(maximum=hint[1])
    return i18n.gettext(hint)


#: Handler argument names that differ from the query parameter people send.
_QUERY_NAMES = {"first_day": "from", "last_day": "to"}


TOO_LONG = N_("at most {maximum} characters")


def _invalid_fields(extra: Any) -> list[tuple[str, str | tuple[str, int]]]:
    """(field, what it should hold: a msgid) from Litestar's validation details."""
    fields: list[tuple[str, str | tuple[str, int]]] = []
    for item in extra if isinstance(extra, list) else []:
        key, message = str(item.get("key", "")), str(item.get("message", ""))
        longest = re.search(r"length <= (\d+)", message)
        if key == "data":  # the body as a whole: the message names the field, if any
            named = re.search(r"field `([^`]+)`|at `\$\.([A-Za-z_]+)`", message)
            name = named and (named.group(1) or named.group(2))
            if not name:
                fields.append(("body", N_("a JSON object")))
            elif "unknown field" in message:
                fields.append((name, N_("nothing: this field is not known")))
            elif longest:
                fields.append((name, (TOO_LONG, int(longest.group(1)))))
            else:
                fields.append((name, FIELD_HINTS.get(name, N_("a value"))))
        else:
            name = _QUERY_NAMES.get(key, key)
            if longest:
                fields.append((name, (TOO_LONG, int(longest.group(1)))))
            else:
                fields.append((name, FIELD_HINTS.get(name, N_("a valid value"))))
    return fields or [("request", N_("a valid request"))]


_PLAIN_HTTP_DETAILS = {
    404: N_("Nothing here: check the address."),
    405: N_("This method is not allowed here."),
    429: N_("Too many requests: please wait a minute and try again."),
}


def malformed_body_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """A body that is not UTF-8 (msgspec raises ``UnicodeDecodeError``, not a decode error)."""
    return problem(
        request,
        HTTP_400_BAD_REQUEST,
        N_("Malformed request"),
        N_("The request body could not be read (it is not UTF-8 text): send a JSON object."),
        code="malformed_request",
    )


def database_unavailable(request: Request[Any, Any, Any]) -> Response[Any]:
    return problem(
        request,
        HTTP_503_SERVICE_UNAVAILABLE,
        N_("Service unavailable"),
        N_(
            "The service cannot reach its database for a moment; nothing was changed. Please "
            "try again in {seconds} seconds."
        ),
        code="unavailable",
        detail_params={"seconds": RETRY_AFTER_SECONDS},
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def http_error_handler(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    if exc.status_code == HTTP_400_BAD_REQUEST:  # a body that is not JSON at all
        return problem(
            request,
            HTTP_400_BAD_REQUEST,
            N_("Malformed request"),
            N_("The request body could not be read ({reason}): send a JSON object."),
            code="malformed_request",
            detail_params={"reason": exc.detail},
        )
    title = exc.detail or "Error"
    detail = _PLAIN_HTTP_DETAILS.get(exc.status_code, title)
    return problem(
        request,
        exc.status_code,
        title,
        detail.replace("{", "{{").replace("}", "}}"),
        code=f"http_{exc.status_code}",
        headers=exc.headers,
    )


def unexpected_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    if is_database_unavailable(exc):
        logger.warning("database unavailable on %s %s: %s", request.method, request.url.path, exc)
        return database_unavailable(request)
    logger.exception("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem(
        request,
        HTTP_500_INTERNAL_SERVER_ERROR,
        N_("Internal error"),
        N_("Something went wrong on our side; nothing was changed. Please try again later."),
        code="internal_error",
    )


EXCEPTION_HANDLERS = {
    DomainError: domain_error_handler,
    ValidationException: validation_error_handler,
    HTTPException: http_error_handler,
    UnicodeDecodeError: malformed_body_handler,
    Exception: unexpected_error_handler,
}
