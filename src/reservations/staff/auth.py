"""Staff login with Litestar's built-ins: an encrypted cookie session (``CookieBackendConfig``,
only under ``/staff``) and ``SessionAuth``'s middleware, which refuses every ``/staff`` route to a
request without a logged-in account, but the login page. Roles are checked by guards.

The cookie holds only a random session token; the account is found by that token in
``staff_session`` on every request (one query), so logging out or disabling the account ends the
session on the server, whichever process of the server answers."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from litestar import Request, Response
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import DefineMiddleware
from litestar.middleware.session.client_side import CookieBackendConfig
from litestar.response import Redirect
from litestar.security.session_auth import SessionAuth
from litestar.types import ASGIApp

from reservations.base.errors import AdminsOnly
from reservations.base.rules.accounts import SESSION_LIFETIME, StaffRef, staff_for_session
from reservations.settings import Settings

PREFIX = "/staff"
LOGIN_PATH = f"{PREFIX}/login"
SESSION_SECONDS = int(SESSION_LIFETIME.total_seconds())
#: What the cookie session holds: the token of a row of ``staff_session``.
SESSION_KEY = "staff_token"
#: Longer than any token we mint: anything else in a cookie is not looked up.
_MAX_TOKEN_LENGTH = 100

Handler = Callable[[Request[Any, Any, Any], Any], Response[Any]]


def _session_secret(settings: Settings) -> bytes:
    """A 32-byte AES key of its own, derived from the application's secret."""
    return hashlib.sha256(b"staff-session\x00" + settings.secret_key.encode()).digest()


async def _current_staff(
    session: dict[str, Any], connection: ASGIConnection[Any, Any, Any, Any]
) -> StaffRef | None:
    token = session_token(session)
    if token is None:
        return None
    return await staff_for_session(connection.app.state.db, token)


def session_token(session: dict[str, Any]) -> str | None:
    """The token a cookie session carries, if it carries a plausible one."""
    token = session.get(SESSION_KEY)
    if isinstance(token, str) and 0 < len(token) <= _MAX_TOKEN_LENGTH:
        return token
    return None


def session_middleware(settings: Settings) -> DefineMiddleware:
    """The session, then ``SessionAuth``, for the /staff router only: the rest of the site
    carries no session. The login page is the one staff page open without a session."""
    return DefineMiddleware(_session_then_auth, settings=settings)


def _session_then_auth(app: ASGIApp, settings: Settings) -> ASGIApp:
    # Built when the app is built: the router's middleware is deep-copied at registration, and
    # the cookie backend's cipher cannot be.
    sessions = CookieBackendConfig(
        secret=_session_secret(settings),
        key="staff_session",
        path=PREFIX,
        max_age=SESSION_SECONDS,
        httponly=True,
        samesite="lax",
        secure=settings.public_url.startswith("https://"),
    )
    auth = SessionAuth[StaffRef, Any](
        retrieve_user_handler=_current_staff,
        session_backend_config=sessions,
        exclude=[rf"^{LOGIN_PATH}$"],
    )
    return sessions.middleware(auth.middleware(app))


def admin_only(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Guard of what only administrators do (accounts, providers and their links)."""
    user = connection.user
    if not isinstance(user, StaffRef):
        raise NotAuthorizedException()
    if not user.is_admin:
        raise AdminsOnly()


def login_redirect(fallback: Handler) -> Handler:
    """A back-office page asked without a session goes to the login page, then comes back;
    everywhere else a 401 is what ``fallback`` makes of it."""

    def handler(request: Request[Any, Any, Any], exc: NotAuthorizedException) -> Response[Any]:
        path = request.url.path
        if path == PREFIX or path.startswith(f"{PREFIX}/"):
            target = f"{path}?{request.url.query}" if request.url.query else path
            return Redirect(f"{LOGIN_PATH}?{urlencode({'next_path': target})}", status_code=303)
        return fallback(request, exc)

    return handler
