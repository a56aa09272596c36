"""``/staff/planning``: generate an activity's slots for a season from a recurrence, preview
first (the dates to create, and each date left out with why), then create; and
``/staff/planning/slots``: the upcoming slots, to change the capacity or minimum of several at
once or to cancel them, telling every booked visitor.

"Create" acts on the very form that was previewed: the preview carries a fingerprint of the
form, and a form changed since then gets a new preview instead. The dates are worked out again
when creating (a day off recorded meanwhile is respected), and creating twice creates nothing
more.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment
from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER, HTTP_422_UNPROCESSABLE_ENTITY

from reservations import i18n
from reservations.base import clock
from reservations.base.errors import DomainError
from reservations.base.infra.db import Database
from reservations.base.models import CancelReason
from reservations.base.reads import advice, catalogue_pages
from reservations.base.rules import season
from reservations.base.rules.season import Exclusion, Recurrence, Rules, SlotChange
from reservations.i18n import N_
from reservations.notices import followups, words
from reservations.settings import Settings
from reservations.staff import inputs
from reservations.staff.auth import PREFIX
from reservations.staff.reports import percent
from reservations.web import inputs as web_inputs
from reservations.web.forms import CONFIRM_CANCEL, TOO_LONG, Form
from reservations.web.http_status import status_of
from reservations.web.inputs import whole_number

SLOTS_PATH = f"{PREFIX}/planning/slots"
PLAN_FIELDS = (
    "activity_id",
    "first_day",
    "last_day",
    "at",
    "rule",
    "skip_saturdays",
    "skip_holidays",
    "moved",
    "previewed",
)
#: At most this many moved days in one plan (a season's dates).
MAX_MOVED = 400
FILTER_FIELDS = ("activity_id", "first_day", "last_day")
BULK_FIELDS = (*FILTER_FIELDS, "capacity", "min_participants", "reason", "message", "confirm")
#: Days the slot list shows when no period is asked for.
LISTED_DAYS = 92
MESSAGE_MAX = 1000

EXCLUSIONS = {
    Exclusion.TOO_LATE: N_("Too late: it has started, or its go/no-go time has come"),
    Exclusion.ALREADY_PLANNED: N_("Already planned"),
    Exclusion.DAY_OFF: N_("The provider's day off"),
    Exclusion.PUBLIC_HOLIDAY: N_("Public holiday"),
    Exclusion.CHANGEOVER_SATURDAY: N_("Changeover Saturday (July and August)"),
}
WEEKDAYS = (
    N_("Monday"),
    N_("Tuesday"),
    N_("Wednesday"),
    N_("Thursday"),
    N_("Friday"),
    N_("Saturday"),
    N_("Sunday"),
)
WEEKDAY_VALUES = {str(n) for n in range(7)}
#: Why staff call slots off, in the order the form offers them.
STAFF_REASONS = (
    CancelReason.STAFF,
    CancelReason.PROVIDER,
    CancelReason.ILLNESS,
    CancelReason.WEATHER,
    CancelReason.FIRE_RISK,
    CancelReason.OTHER,
)
CHOOSE_ACTIVITY = N_("Please choose an activity.")
CHOOSE_REASON = N_("Please choose why the slots are called off.")
FORM_CHANGED = N_(
    "The form changed since the preview: here is the preview of what it asks now. "
    "Check it, then create."
)


def holiday_language() -> str:
    """The language the ``holidays`` package names French holidays in, for this reader."""
    return "en_US" if i18n.current() == "en" else "fr"


def next_season(today: date) -> tuple[date, date]:
    """July and August of this year, or of the next once July has begun."""
    year = today.year if today < date(today.year, 7, 1) else today.year + 1
    return date(year, 7, 1), date(year, 8, 31)


# --- The generation form ----------------------------------------------------------------------


@dataclass(frozen=True)
class PlanRequest:
    activity_id: int
    recurrence: Recurrence
    rules: Rules

    def fingerprint(self) -> str:
        """Tells whether "create" is sent with the very form that was previewed."""
        r = self.recurrence
        canonical = [
            self.activity_id,
            r.first_day,
            r.last_day,
            r.at,
            sorted(r.weekdays),
            r.rule.strip(),
            self.rules.skip_changeover_saturdays,
            self.rules.skip_public_holidays,
            sorted(self.rules.moved),
        ]
        return hashlib.sha256(json.dumps(canonical, default=str).encode()).hexdigest()[:20]


def blank_plan_form(activity_id: str, today: date) -> Form:
    first, last = next_season(today)
    return Form(
        {
            "activity_id": activity_id,
            "first_day": first.isoformat(),
            "last_day": last.isoformat(),
            "at": "10:00",
            "weekdays": "",
            "rule": "",
            "skip_saturdays": "yes",
            "skip_holidays": "yes",
            "moved": "",
            "previewed": "",
        }
    )


def moved_days(text: str) -> tuple[tuple[date, date], ...]:
    """``2030-09-07>2030-09-05,…``: the weak days moved to their better day (what the preview's
    "use the better days" button sends). Anything unreadable is left out."""
    pairs = []
    for pair in (text or "").split(",")[:MAX_MOVED]:
        old, _, new = pair.partition(">")
        old_day, new_day = web_inputs.day(old.strip()), web_inputs.day(new.strip())
        if old_day and new_day and abs((new_day - old_day).days) <= advice.NEAREST_BETTER_DAYS:
            pairs.append((old_day, new_day))
    return tuple(pairs)


def suggested_moves(judged: list[advice.DateAdvice]) -> str:
    """The preview's better days, as ``moved`` reads them."""
    return ",".join(
        f"{clock.local_date(d.starts_at).isoformat()}>{d.better_day.isoformat()}"
        for d in judged
        if d.better_day is not None
    )


def plan_submitted(submitted: Any, *, moved: str | None = None) -> tuple[Form, PlanRequest | None]:
    form = inputs.form_of(submitted, PLAN_FIELDS, multi=("weekdays",))
    if moved:
        form.values["moved"] = str(moved).strip()
    activity_id = inputs.whole(form, "activity_id", optional=True)
    if activity_id is None:
        form.errors.pop("activity_id", None)
        form.add_error("activity_id", i18n.gettext(CHOOSE_ACTIVITY))
    first_day, last_day = inputs.day(form, "first_day"), inputs.day(form, "last_day")
    at = inputs.clock_time(form, "at")
    weekdays = tuple(int(d) for d in inputs.ticked(form, "weekdays") if d in WEEKDAY_VALUES)
    if activity_id is None or first_day is None or last_day is None or at is None:
        return form, None
    request = PlanRequest(
        activity_id,
        Recurrence(first_day, last_day, at, weekdays=weekdays, rule=form.values["rule"]),
        Rules(
            skip_changeover_saturdays=form.values["skip_saturdays"] == "yes",
            skip_public_holidays=form.values["skip_holidays"] == "yes",
            moved=moved_days(form.values["moved"]),
        ),
    )
    try:
        season.check_recurrence(request.recurrence)
    except DomainError as exc:
        inputs.refused(form, exc)
    return form, request if form.valid else None


def excluded_text(excluded: season.Excluded) -> str:
    text = i18n.gettext(EXCLUSIONS[excluded.reason])
    if not excluded.detail:
        return text
    return i18n.gettext("{reason}: {detail}").format(reason=text, detail=excluded.detail)


def _plan_page(
    db_choices: list[catalogue_pages.ActivityChoice],
    form: Form,
    *,
    plan: season.Plan | None = None,
    judged: list[advice.DateAdvice] | None = None,
    suggestions: str = "",
    fingerprint: str = "",
    notice: str | None = None,
    status_code: int = 200,
) -> Template:
    return Template(
        template_name="staff/planning.html",
        context={
            "form": form,
            "activities": db_choices,
            "weekdays": [i18n.gettext(name) for name in WEEKDAYS],
            "plan": plan,
            "judged": judged or [],
            "suggestions": suggestions,
            "percent": percent,
            "excluded_text": excluded_text,
            "fingerprint": fingerprint,
            "notice": notice,
        },
        status_code=status_code,
    )


# --- The slot list and its bulk form ----------------------------------------------------------


@dataclass(frozen=True)
class SlotFilter:
    activity_id: int | None
    first_day: date
    last_day: date

    def query(self, **extra: object) -> str:
        params: dict[str, object] = {
            "first_day": self.first_day.isoformat(),
            "last_day": self.last_day.isoformat(),
        }
        if self.activity_id is not None:
            params["activity_id"] = self.activity_id
        params.update(extra)
        return urlencode(params)


def slot_filter(values: Any, today: date) -> tuple[Form, SlotFilter]:
    """The list's filter from a query or a posted form; what cannot be read falls back to the
    next ``LISTED_DAYS`` days (the message says so beside the field)."""
    form = inputs.form_of(values, FILTER_FIELDS)
    activity_id = inputs.whole(form, "activity_id", optional=True)
    first_day = inputs.day(form, "first_day", optional=True) or today
    last_day = inputs.day(form, "last_day", optional=True) or first_day + timedelta(
        days=LISTED_DAYS
    )
    if not 0 <= (last_day - first_day).days < season.MAX_PLAN_DAYS:
        longest = season.MAX_PLAN_DAYS - 1
        form.add_error("last_day", i18n.error_text(season.InvalidPlanPeriod(maximum=longest)))
        last_day = first_day + timedelta(days=LISTED_DAYS)
    return form, SlotFilter(activity_id, first_day, last_day)


@dataclass(frozen=True)
class Outcome:
    """What the list says after a bulk action."""

    message: str
    refusals: dict[int, str]


def refusal_texts(refusals: list[season.SlotRefusal]) -> dict[int, str]:
    return {r.slot_id: i18n.error_text(r.error) for r in refusals}


async def _slots_page(
    db: Database,
    chosen: SlotFilter,
    filter_form: Form,
    bulk_form: Form,
    *,
    outcome: Outcome | None = None,
    status_code: int = 200,
) -> Template:
    slots = await season.upcoming_slots(
        db,
        first_day=chosen.first_day,
        last_day=chosen.last_day,
        activity_id=chosen.activity_id,
    )
    return Template(
        template_name="staff/planning_slots.html",
        context={
            "filter_form": filter_form,
            "chosen": chosen,
            "form": bulk_form,
            "selected": set(inputs.ticked(bulk_form, "slot_ids")),
            "slots": slots,
            "listed_max": season.MAX_LISTED,
            "is_live": season.is_live,
            "activities": await catalogue_pages.activity_choices(db),
            "reasons": [(r.value, words.label(words.CANCEL_REASON, r)) for r in STAFF_REASONS],
            "outcome": outcome,
            "status_label": lambda status: words.label(words.SLOT_STATUS, status),
        },
        status_code=status_code,
    )


def _blank_bulk_form() -> Form:
    return Form({name: "" for name in (*BULK_FIELDS, "slot_ids")})


def _done(counts: dict[str, int]) -> str | None:
    """The sentence of what a plan or a bulk action did, from its counts (``offered`` is said
    only when not zero)."""
    texts = {
        "created": i18n.ngettext(
            "%(num)d slot created.", "%(num)d slots created.", counts.get("created", 0)
        ),
        "edited": i18n.ngettext(
            "%(num)d slot changed.", "%(num)d slots changed.", counts.get("edited", 0)
        ),
        "offered": i18n.ngettext(
            "Freed places offered to %(num)d party on the waiting list.",
            "Freed places offered to %(num)d parties on the waiting list.",
            counts.get("offered", 0),
        ),
        "cancelled": i18n.ngettext(
            "%(num)d slot cancelled.", "%(num)d slots cancelled.", counts.get("cancelled", 0)
        ),
        "told": i18n.ngettext(
            "%(num)d visitor told by email.",
            "%(num)d visitors told by email.",
            counts.get("told", 0),
        ),
    }
    parts = [
        texts[name] % {"num": counts[name]}
        for name in COUNTED
        if name in counts and (counts[name] or name != "offered")
    ]
    return " ".join(parts) or None


#: The counts a redirect carries, in the order they are said.
COUNTED = ("created", "edited", "offered", "cancelled", "told")


def _counts(query: Any) -> dict[str, int]:
    found = {}
    for name in COUNTED:
        value = str(query.get(name) or "")
        number = whole_number(value)
        if number is not None:
            found[name] = number
    return found


class PlanningController(Controller):
    path = "/planning"

    @get("/", name="staff_planning")
    async def form(
        self, request: Request[Any, Any, Any], db: NamedDependency[Database]
    ) -> Template:
        activity_id = str(request.query_params.get("activity_id") or "")
        return _plan_page(
            await catalogue_pages.activity_choices(db),
            blank_plan_form(activity_id if whole_number(activity_id) else "", clock.today()),
        )

    @post("/", name="staff_planning_generate")
    async def generate(
        self, request: Request[Any, Any, Any], db: NamedDependency[Database]
    ) -> Template | Redirect:
        submitted = await request.form()
        # "Use the better days": the preview's suggestions, accepted in one step.
        form, plan_request = plan_submitted(submitted, moved=submitted.get("use_better_days"))
        choices = await catalogue_pages.activity_choices(db)
        if plan_request is None:
            return _plan_page(choices, form, status_code=HTTP_422_UNPROCESSABLE_ENTITY)
        fingerprint = plan_request.fingerprint()
        wants_create = submitted.get("action") == "create"
        notice = None
        if wants_create and form.values["previewed"] != fingerprint:
            wants_create, notice = False, i18n.gettext(FORM_CHANGED)
        args = (db, plan_request.activity_id, plan_request.recurrence, plan_request.rules)
        try:
            if not wants_create:
                plan = await season.preview(*args, language=holiday_language())
                period = (plan_request.recurrence.first_day, plan_request.recurrence.last_day)
                judged = await advice.advise_plan(
                    db, plan_request.activity_id, plan.dates, period, locale=i18n.current()
                )
                return _plan_page(
                    choices,
                    form,
                    plan=plan,
                    judged=judged,
                    suggestions=suggested_moves(judged),
                    fingerprint=fingerprint,
                    notice=notice,
                )
            created = await season.create(
                *args, actor=request.user.actor, language=holiday_language()
            )
        except DomainError as exc:
            return _plan_page(choices, inputs.refused(form, exc), status_code=status_of(exc))
        recurrence = plan_request.recurrence
        listed = SlotFilter(plan_request.activity_id, recurrence.first_day, recurrence.last_day)
        return Redirect(
            f"{SLOTS_PATH}?{listed.query(created=len(created.slot_ids))}",
            status_code=HTTP_303_SEE_OTHER,
        )

    @get("/slots", name="staff_planning_slots")
    async def slots(
        self, request: Request[Any, Any, Any], db: NamedDependency[Database]
    ) -> Template:
        filter_form, chosen = slot_filter(request.query_params, clock.today())
        message = _done(_counts(request.query_params))
        return await _slots_page(
            db,
            chosen,
            filter_form,
            _blank_bulk_form(),
            outcome=Outcome(message, {}) if message else None,
            status_code=200 if filter_form.valid else HTTP_422_UNPROCESSABLE_ENTITY,
        )

    @post("/slots", name="staff_planning_bulk")
    async def bulk(
        self,
        request: Request[Any, Any, Any],
        db: NamedDependency[Database],
        settings: NamedDependency[Settings],
        jinja: NamedDependency[Environment],
    ) -> Template | Redirect:
        submitted = await request.form()
        filter_form, chosen = slot_filter(submitted, clock.today())
        form = inputs.form_of(submitted, BULK_FIELDS, multi=("slot_ids",))
        slot_ids = [
            n for v in inputs.ticked(form, "slot_ids") if (n := whole_number(v)) is not None
        ]
        if not slot_ids:
            inputs.refused(form, season.NoSlotSelected(field="slot_ids"))
        actor = request.user.actor
        try:
            if submitted.get("action") == "cancel":
                done = await _cancel(db, settings, form, slot_ids, actor)
            else:
                done = await _edit(db, settings, jinja, form, slot_ids, actor)
        except season.SlotsRefused as exc:
            outcome = Outcome(i18n.error_text(exc), refusal_texts(exc.refusals))
            return await _slots_page(
                db, chosen, filter_form, form, outcome=outcome, status_code=status_of(exc)
            )
        except DomainError as exc:
            return await _slots_page(
                db, chosen, filter_form, inputs.refused(form, exc), status_code=status_of(exc)
            )
        if done is None:
            return await _slots_page(
                db, chosen, filter_form, form, status_code=HTTP_422_UNPROCESSABLE_ENTITY
            )
        counts, refusals = done
        if refusals:  # changed meanwhile: say what was done and what was not
            outcome = Outcome(_done(counts) or "", refusal_texts(refusals))
            return await _slots_page(
                db, chosen, filter_form, _blank_bulk_form(), outcome=outcome, status_code=409
            )
        return Redirect(f"{SLOTS_PATH}?{chosen.query(**counts)}", status_code=HTTP_303_SEE_OTHER)


#: What a bulk action did (counts for the message), and slots it could not do after all.
Done = tuple[dict[str, int], list[season.SlotRefusal]]


async def _edit(
    db: Database,
    settings: Settings,
    jinja: Environment,
    form: Form,
    slot_ids: list[int],
    actor: str,
) -> Done | None:
    """New capacity and/or minimum, then the places a larger capacity frees are offered to
    the waiting list. None while the form has problems."""
    capacity = inputs.whole(form, "capacity", optional=True)
    minimum = inputs.whole(form, "min_participants", optional=True)
    if not form.valid:
        return None
    edited = await season.edit_slots(db, slot_ids, SlotChange(capacity, minimum), actor=actor)
    offered = await followups.capacity_changed(db, settings, edited, environment=jinja)
    return {"edited": len(edited.changed), "offered": offered}, []


async def _cancel(
    db: Database, settings: Settings, form: Form, slot_ids: list[int], actor: str
) -> Done | None:
    """Cancel the slots, then tell their booked visitors (once each: the outbox dedups, and
    ``tick`` tells whoever this missed). None while the form has problems."""
    reason = _reason(form)
    message = form.values["message"]
    if len(message) > MESSAGE_MAX:
        form.add_error("message", i18n.gettext(TOO_LONG).format(maximum=MESSAGE_MAX))
    if form.values["confirm"] != "yes":
        form.add_error("confirm", i18n.gettext(CONFIRM_CANCEL))
    if reason is None or not form.valid:
        return None
    cancelled = await season.cancel_slots(
        db, slot_ids, reason, actor=actor, message=message or None
    )
    told = 0
    for slot_id, booking_ids in cancelled.bookings.items():
        told += await followups.slot_cancelled(db, settings, slot_id, booking_ids)
    return {"cancelled": len(cancelled.bookings), "told": told}, cancelled.refusals


def _reason(form: Form) -> CancelReason | None:
    try:
        reason = CancelReason(form.values["reason"])
    except ValueError:
        reason = None
    if reason not in STAFF_REASONS:
        form.add_error("reason", i18n.gettext(CHOOSE_REASON))
        return None
    return reason
