"""``/staff/login`` and ``/staff/logout``. A refused login shows the form again with the email
kept and one message that does not say whether the email has an account; failed attempts are
counted per (email, client address). Logging out ends the session on the server."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import FromQuery
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER, HTTP_422_UNPROCESSABLE_ENTITY

from reservations import i18n
from reservations.base.errors import AccountLocked, DomainError
from reservations.base.rules import accounts
from reservations.staff.auth import LOGIN_PATH, PREFIX, SESSION_KEY, session_token
from reservations.web import rate_limit
from reservations.web.forms import Form
from reservations.web.http_status import status_of

#: The login is rate-limited per client like booking (the app's RateLimitConfig).
RATE_LIMITED = rate_limit.bucket("staff-login")


def safe_next(target: str | None) -> str:
    """Where to go after logging in: a back-office page only, never another site."""
    if target and (target == PREFIX or target.startswith((f"{PREFIX}/", f"{PREFIX}?"))):
        return target
    return f"{PREFIX}/"


def client_address(request: Request[Any, Any, Any]) -> str:
    """The address failed logins are counted for: the client as the trusted proxies saw it
    (``web/client_address.py`` has already put it in the scope), like the rate limit's."""
    return request.client.host if request.client else ""


def _login_page(form: Form, next_path: str, status_code: int = 200) -> Template:
    return Template(
        template_name="staff/login.html",
        context={"form": form, "next_path": next_path},
        status_code=status_code,
    )


class LoginController(Controller):
    path = "/"

    @get("/login", name="staff_login_form")
    async def form(self, next_path: FromQuery[str | None] = None) -> Template:
        return _login_page(Form({"email": ""}), safe_next(next_path))

    @post("/login", name="staff_login", opt=RATE_LIMITED)
    async def login(self, request: Request[Any, Any, Any]) -> Template | Redirect:
        submitted = await request.form()
        email = str(submitted.get("email") or "").strip()
        next_path = safe_next(str(submitted.get("next_path") or ""))
        form = Form({"email": email})
        if not form.valid:  # unusable text (a NUL...): refused beside the field, never queried
            return _login_page(form, next_path, HTTP_422_UNPROCESSABLE_ENTITY)
        db = request.app.state.db
        try:
            staff = await accounts.authenticate(
                db,
                email,
                str(submitted.get("password") or ""),
                client=client_address(request),
                secret_key=request.app.state.settings.secret_key,
            )
        except DomainError as exc:
            overrides = (
                {"until": i18n.moment(exc.params["until"])}
                if isinstance(exc, AccountLocked)
                else {}
            )
            form.add_error("", i18n.error_text(exc, **overrides))
            return _login_page(form, next_path, status_of(exc))
        previous = session_token(request.session)
        if previous is not None:
            await accounts.end_session(db, previous)
        request.set_session({SESSION_KEY: await accounts.open_session(db, staff)})
        return Redirect(next_path, status_code=HTTP_303_SEE_OTHER)

    @post("/logout", name="staff_logout")
    async def logout(self, request: Request[Any, Any, Any]) -> Redirect:
        token = session_token(request.session)
        if token is not None:
            await accounts.end_session(request.app.state.db, token)
        request.clear_session()
        return Redirect(LOGIN_PATH, status_code=HTTP_303_SEE_OTHER)
