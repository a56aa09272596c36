"""The waiting list on the site: joining from a full visit's page
(``POST /waitlist/join/{slot_id}``) and the entry's link (``/waitlist/{token}``): see the
entry, claim the places on offer, leave.

Claiming and leaving happen only on POST: mail scanners open links, and opening one must change
nothing. The token is the secret: these pages are never cached and send no referrer."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jinja2 import Environment
from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template
from litestar.status_codes import (
    HTTP_303_SEE_OTHER,
    HTTP_422_UNPROCESSABLE_ENTITY,
    HTTP_429_TOO_MANY_REQUESTS,
)

from reservations import i18n
from reservations.base import clock
from reservations.base.errors import BookingClosed, DomainError
from reservations.base.infra.db import Database
from reservations.base.models import WaitlistStatus
from reservations.base.reads import catalogue, pictures
from reservations.base.reads.catalogue import SlotDetail
from reservations.base.rules import waitlist as waitlist_service
from reservations.base.rules.booking import BookingPolicy
from reservations.base.rules.payments import PaymentSettings
from reservations.base.rules.waitlist import EmailRequired, OfferExpired, WaitlistView
from reservations.notices import emails, followups, waitlist_emails
from reservations.notices.calendar import party_text
from reservations.settings import Settings
from reservations.visitors import forms
from reservations.visitors.manage import PRIVATE
from reservations.visitors.visits import RATE_LIMITED, RATE_LIMITED_FORM, slot_page
from reservations.web import links, rate_limit
from reservations.web.forms import TOO_MANY_TRIES, Form
from reservations.web.http_status import status_of

JOIN_FIELDS = ("adults", "children", "name", "email")
DONE_MESSAGES = ("joined", "withdrawn")


def blank_join_form(values: Mapping[str, str] | None = None) -> Form:
    """The join form, prefilled with what was typed in the booking form, if anything."""
    values = values or {}
    return Form({name: str(values.get(name) or "") for name in JOIN_FIELDS})


def read_join_form(submitted: Mapping[str, str]) -> Form:
    form = blank_join_form(submitted)
    form.cleaned["adults"] = form.whole_number("adults", "party")
    form.cleaned["children"] = form.whole_number("children", "party")
    form.cleaned["name"] = form.text("name")
    form.cleaned["email"] = form.text("email")
    if not form.cleaned["email"]:
        form.refused(EmailRequired(field="email"))
    return form


def _overrides(
    exc: DomainError, slot: SlotDetail, entry: WaitlistView | None = None
) -> dict[str, str]:
    """Times in a refusal, written for the reader."""
    if isinstance(exc, BookingClosed):
        return {"cutoff": i18n.moment(slot.booking_cutoff_at)}
    if isinstance(exc, OfferExpired) and entry is not None and entry.offer_expires_at:
        return {"expired_at": i18n.moment(entry.offer_expires_at)}
    return {}


def entry_page(
    token: str,
    entry: WaitlistView,
    slot: SlotDetail,
    settings: Settings,
    *,
    done: str | None = None,
    refusal: str | None = None,
    status_code: int = 200,
) -> Template:
    offer_open = (
        entry.status == WaitlistStatus.OFFERED
        and entry.offer_expires_at is not None
        and clock.now() < entry.offer_expires_at
    )
    return Template(
        template_name="visitors/waitlist.html",
        context={
            "token": token,
            "entry": entry,
            "slot": slot,
            "party": party_text(entry.adults, entry.children),
            "offer_open": offer_open,
            "offer_ran_out": entry.status == WaitlistStatus.EXPIRED
            or (entry.status == WaitlistStatus.OFFERED and not offer_open),
            "live": entry.status in (WaitlistStatus.WAITING, WaitlistStatus.OFFERED),
            "done": done if done in DONE_MESSAGES else None,
            "refusal": refusal,
            "office_phone": settings.office_phone,
        },
        headers=PRIVATE,
        status_code=status_code,
    )


async def _load(db: Database, token: str) -> tuple[WaitlistView, SlotDetail]:
    entry = await waitlist_service.find(db, token)
    return entry, await catalogue.slot_detail(db, entry.slot_id, published_only=False)


class WaitlistController(Controller):
    @post("/waitlist/join/{slot_id:int}", opt=RATE_LIMITED_FORM, name="waitlist-join")
    async def join(
        self,
        request: Request[Any, Any, Any],
        slot_id: FromPath[int],
        db: NamedDependency[Database],
        booking_policy: NamedDependency[BookingPolicy],
        settings: NamedDependency[Settings],
        payment_settings: NamedDependency[PaymentSettings],
        jinja: NamedDependency[Environment],
    ) -> Template | Redirect:
        slot = await catalogue.slot_detail(db, slot_id)
        form = read_join_form(await request.form())
        status = HTTP_422_UNPROCESSABLE_ENTITY
        if rate_limit.over_limit(request):
            form.add_error("", i18n.gettext(TOO_MANY_TRIES))
            status = HTTP_429_TOO_MANY_REQUESTS
        elif form.valid:
            try:
                receipt = await waitlist_service.join(
                    db,
                    slot_id,
                    adults=form.cleaned["adults"],
                    children=form.cleaned["children"],
                    name=form.cleaned["name"],
                    email=form.cleaned["email"],
                    locale=i18n.current(),
                    policy=booking_policy,
                    notify=waitlist_emails.join_notifier(settings, jinja),
                )
            except DomainError as exc:
                slot = await catalogue.slot_detail(db, slot_id)  # places left may have changed
                form.refused(exc, **_overrides(exc, slot))
            else:
                return Redirect(
                    f"/waitlist/{receipt.token}?done=joined", status_code=HTTP_303_SEE_OTHER
                )
        blank = forms.blank_booking_form()
        gallery = await pictures.gallery(db, slot.activity_id, slot.provider_id)
        page = slot_page(
            slot, blank, booking_policy, settings, payment_settings, status, gallery=gallery
        )
        page.context["waitlist_form"] = form
        return page

    @get("/waitlist/{token:str}", name="waitlist-entry")
    async def show(
        self,
        token: FromPath[str],
        db: NamedDependency[Database],
        settings: NamedDependency[Settings],
        done: FromQuery[str | None] = None,
    ) -> Template:
        entry, slot = await _load(db, token)
        return entry_page(token, entry, slot, settings, done=done)

    @post("/waitlist/{token:str}", opt=RATE_LIMITED, name="waitlist-act")
    async def act(
        self,
        request: Request[Any, Any, Any],
        token: FromPath[str],
        db: NamedDependency[Database],
        booking_policy: NamedDependency[BookingPolicy],
        settings: NamedDependency[Settings],
        jinja: NamedDependency[Environment],
    ) -> Template | Redirect:
        """One POST for both buttons (``action``: ``claim`` or ``withdraw``)."""
        entry, slot = await _load(db, token)
        action = (await request.form()).get("action")
        if action not in ("claim", "withdraw"):
            unknown = HTTP_422_UNPROCESSABLE_ENTITY
            return entry_page(token, entry, slot, settings, status_code=unknown)
        try:
            if action == "withdraw":
                await waitlist_service.withdraw(db, token)
                await followups.left_waiting_list(db, settings, entry.slot_id, environment=jinja)
                return Redirect(f"/waitlist/{token}?done=withdrawn", status_code=HTTP_303_SEE_OTHER)
            receipt = await waitlist_service.claim(db, token, booking_policy)
        except DomainError as exc:
            entry, slot = await _load(db, token)
            refusal = i18n.error_text(exc, **_overrides(exc, slot, entry))
            return entry_page(
                token, entry, slot, settings, refusal=refusal, status_code=status_of(exc)
            )
        slot = await catalogue.slot_detail(db, receipt.booking.slot_id, published_only=False)
        await emails.queue_booking_confirmed(
            db,
            jinja,
            receipt.booking,
            slot,
            links.manage_url(settings.public_url, receipt.manage_token),
            settings,
        )
        return Redirect(
            links.manage_path(receipt.manage_token) + "/confirmation",
            status_code=HTTP_303_SEE_OTHER,
        )
