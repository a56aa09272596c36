"""``/staff/resellers``, for administrators: the resellers selling through the OCTO API, a new
key (shown once, on the page that answers the form: only its hash is kept) and revoking one."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER, HTTP_422_UNPROCESSABLE_ENTITY

from reservations import i18n
from reservations.base.errors import DomainError
from reservations.base.infra.db import Database
from reservations.base.reads.resellers import all_resellers
from reservations.base.rules.resellers import add_reseller, revoke_reseller
from reservations.i18n import N_
from reservations.settings import Settings
from reservations.staff import inputs
from reservations.staff.auth import admin_only
from reservations.web.forms import Form

PATH = "/staff/resellers"
FIELDS = ("name", "test")
DONE = {"revoked": N_("The key is revoked: it stops working at once.")}


async def _page(
    db: Database,
    settings: Settings,
    form: Form,
    *,
    key: str | None = None,
    done: str | None = None,
    status_code: int = 200,
) -> Template:
    return Template(
        template_name="staff/resellers.html",
        context={
            "resellers": await all_resellers(db),
            "form": form,
            "key": key,
            "endpoint": f"{settings.public_url}/octo",
            "done": i18n.gettext(DONE[done]) if done in DONE else None,
        },
        status_code=status_code,
        # A key is shown once: never kept by a browser's or a proxy's cache.
        headers={"Cache-Control": "no-store"},
    )


class ResellersController(Controller):
    path = "/resellers"
    guards = [admin_only]

    @get("/", name="staff_resellers")
    async def index(
        self,
        db: NamedDependency[Database],
        settings: NamedDependency[Settings],
        done: FromQuery[str | None] = None,
    ) -> Template:
        return await _page(db, settings, Form({"name": "", "test": ""}), done=done)

    @post("/", name="staff_reseller_add")
    async def add(
        self,
        request: Request[Any, Any, Any],
        db: NamedDependency[Database],
        settings: NamedDependency[Settings],
    ) -> Template:
        form = inputs.form_of(await request.form(), FIELDS)
        name = form.text("name")
        if inputs.required(form, "name") and form.valid:
            try:
                _, key = await add_reseller(
                    db, name, test_mode=form.values["test"] == "1", actor=request.user.actor
                )
            except DomainError as exc:
                inputs.refused(form, exc)
            else:
                return await _page(db, settings, Form({"name": "", "test": ""}), key=key)
        return await _page(db, settings, form, status_code=HTTP_422_UNPROCESSABLE_ENTITY)

    @post("/{reseller_id:int}/revoke", name="staff_reseller_revoke")
    async def revoke(
        self,
        request: Request[Any, Any, Any],
        reseller_id: FromPath[int],
        db: NamedDependency[Database],
    ) -> Redirect:
        try:
            await revoke_reseller(db, reseller_id=reseller_id, actor=request.user.actor)
        except DomainError:
            pass  # revoked already (a second click), or gone: the list says how it stands
        return Redirect(f"{PATH}?done=revoked", status_code=HTTP_303_SEE_OTHER)
