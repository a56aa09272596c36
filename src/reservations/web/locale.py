"""The language of each visitor request: ``?lang=`` (then remembered in a cookie), the cookie,
``Accept-Language``, French. Set for the whole request, template rendering included."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.datastructures import Cookie, MutableScopeHeaders
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from reservations import i18n

COOKIE_MAX_AGE = 365 * 24 * 3600


def locale_of(request: Request[Any, Any, Any]) -> str:
    return i18n.negotiate(
        request.query_params.get("lang"),
        request.cookies.get(i18n.COOKIE),
        request.headers.get("accept-language"),
    )


def _language_cookie(code: str, secure: bool) -> str:
    cookie = Cookie(
        key=i18n.COOKIE,
        value=code,
        max_age=COOKIE_MAX_AGE,
        path="/",
        samesite="lax",
        httponly=True,
        secure=secure,
    )
    return cookie.to_header(header="")


class LocaleMiddleware(ASGIMiddleware):
    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        request: Request[Any, Any, Any] = Request(scope)
        chosen = i18n.supported(request.query_params.get("lang"))
        remember = chosen is not None and chosen != request.cookies.get(i18n.COOKIE)
        secure = request.url.scheme == "https"

        async def send_with_language(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])  # type: ignore[typeddict-item]
                headers = MutableScopeHeaders.from_message(message)  # type: ignore[arg-type]
                # The same address answers in several languages: caches must keep them apart.
                headers.add("vary", "Accept-Language, Cookie")
                if remember and chosen:
                    headers.add("set-cookie", _language_cookie(chosen, secure))
            await send(message)

        with i18n.use_locale(locale_of(request)):
            await next_app(scope, receive, send_with_language)
