"""Friendly error pages for every audience's pages (the visitors', the farmers', the back office's
layout), in the reader's language; the JSON API (and its schema) keep their problem details. No
stack trace ever reaches a visitor."""

from __future__ import annotations

import html
import logging
from collections.abc import Callable, Mapping
from typing import Any

from litestar import Request, Response
from litestar.enums import MediaType
from litestar.exceptions import HTTPException
from litestar.status_codes import (
    HTTP_403_FORBIDDEN,
    HTTP_404_NOT_FOUND,
    HTTP_405_METHOD_NOT_ALLOWED,
    HTTP_413_REQUEST_ENTITY_TOO_LARGE,
    HTTP_429_TOO_MANY_REQUESTS,
    HTTP_500_INTERNAL_SERVER_ERROR,
    HTTP_503_SERVICE_UNAVAILABLE,
)

from reservations import i18n
from reservations.base.errors import DomainError
from reservations.base.infra.unavailable import is_database_unavailable
from reservations.i18n import N_
from reservations.web.http_status import status_of
from reservations.web.locale import locale_of
from reservations.web.templating import render

logger = logging.getLogger(__name__)

Handler = Callable[[Request[Any, Any, Any], Any], Response[Any]]

#: Paths answered with problem details (application/problem+json), not HTML.
API_PREFIXES = ("/api/", "/schema")

_PAGES: dict[int, tuple[str, str]] = {
    HTTP_404_NOT_FOUND: (
        N_("Page not found"),
        N_(
            "There is nothing at this address. It may have been mistyped, or the page may "
            "have moved."
        ),
    ),
    HTTP_403_FORBIDDEN: (
        N_("This form has expired"),
        N_(
            "For your security, the form could not be accepted. Please go back, reload the "
            "page and send the form again."
        ),
    ),
    HTTP_405_METHOD_NOT_ALLOWED: (
        N_("Page not found"),
        N_("This page cannot be used this way. Please start again from the programme."),
    ),
    HTTP_413_REQUEST_ENTITY_TOO_LARGE: (
        N_("This form is too long"),
        N_(
            "What was sent is much longer than this form takes, and nothing was changed. "
            "Please go back, shorten the text and send the form again."
        ),
    ),
    HTTP_429_TOO_MANY_REQUESTS: (
        N_("Too many attempts"),
        N_("Please wait a minute before trying again."),
    ),
    HTTP_500_INTERNAL_SERVER_ERROR: (
        N_("Something went wrong"),
        N_(
            "Something went wrong on our side and nothing was changed. Please try again in a "
            "moment, or call the tourist office on {phone}."
        ),
    ),
    HTTP_503_SERVICE_UNAVAILABLE: (
        N_("The site is very busy"),
        N_(
            "Your request could not be handled just now and nothing was changed. Please try "
            "again in a moment, or call the tourist office on {phone}."
        ),
    ),
}
_OTHER = (
    N_("Something is not right"),
    N_("This request could not be carried out. Please start again from the programme."),
)


def is_api(request: Request[Any, Any, Any]) -> bool:
    path = request.url.path
    return path == "/api" or path.startswith(API_PREFIXES)


def _describe(exc: Exception, phone: str) -> tuple[int, str, str]:
    """Status, title and message (translated) of an error shown to a visitor."""
    if isinstance(exc, DomainError):
        return status_of(exc), i18n.gettext(exc.title), i18n.error_text(exc)
    if isinstance(exc, HTTPException):
        status = exc.status_code
    elif is_database_unavailable(exc):
        status = HTTP_503_SERVICE_UNAVAILABLE
    else:
        status = HTTP_500_INTERNAL_SERVER_ERROR
    title, message = _PAGES.get(status, _OTHER)
    return status, i18n.gettext(title), i18n.gettext(message).format(phone=phone)


def _error_template(request: Request[Any, Any, Any]) -> str:
    """The back office keeps its own layout and menu; everyone else sees the visitors' one."""
    path = request.url.path
    return (
        "staff/error.html"
        if path == "/staff" or path.startswith("/staff/")
        else "visitors/error.html"
    )


def html_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    if is_database_unavailable(exc):
        logger.warning("database unavailable on %s %s: %s", request.method, request.url.path, exc)
    elif not isinstance(exc, (DomainError, HTTPException)):
        logger.exception(
            "unexpected error on %s %s", request.method, request.url.path, exc_info=exc
        )
    settings = request.app.state.settings
    phone = settings.office_phone
    headers = dict(exc.headers or {}) if isinstance(exc, HTTPException) else {}
    with i18n.use_locale(locale_of(request)):
        status, title, message = _describe(exc, phone)
        try:
            body = render(
                request.app.state.jinja,
                _error_template(request),
                request=request,
                status=status,
                title=title,
                message=message,
                office_phone=phone,
            )
        except Exception:  # the page itself failed: a plain one, still without details
            logger.exception("could not render the error page")
            body = f"<!doctype html><title>{html.escape(title)}</title><p>{html.escape(message)}"
    return Response(body, status_code=status, media_type=MediaType.HTML, headers=headers)


def by_audience(api_handlers: Mapping[type[Exception], Handler]) -> dict[Any, Handler]:
    """The application's exception handlers: problem details under ``/api`` and ``/schema``,
    a friendly page everywhere else."""

    def dispatch(api_handler: Handler) -> Handler:
        def handler(request: Request[Any, Any, Any], exc: Any) -> Response[Any]:
            return api_handler(request, exc) if is_api(request) else html_error(request, exc)

        return handler

    return {kind: dispatch(handler) for kind, handler in api_handlers.items()}
