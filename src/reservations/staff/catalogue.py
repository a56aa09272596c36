"""``/staff/catalogue``: the providers and their activities. Creating and editing a provider is
for administrators; any staff member records a provider's days off and creates, edits, archives
and restores activities. A refused form comes back with the values as typed and each message
beside its field (422); a saved one redirects (post/redirect/get) with a word on what was done.

Any staff member also adds pictures to an activity (its cover first) and a portrait to a farm,
describes them in each language, orders and deletes them (``rules.pictures``); an upload is a
multipart form, CSRF token included, of at most ``MAX_UPLOAD_BODY``.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template
from litestar.status_codes import (
    HTTP_303_SEE_OTHER,
    HTTP_413_REQUEST_ENTITY_TOO_LARGE,
    HTTP_422_UNPROCESSABLE_ENTITY,
)

from reservations import i18n
from reservations.base.errors import DomainError, ErrorKind
from reservations.base.infra import images
from reservations.base.infra.db import Database
from reservations.base.models import ActivityKind
from reservations.base.reads import catalogue_pages
from reservations.base.rules import activities, pictures, providers
from reservations.base.rules.activities import ActivityFields
from reservations.base.rules.catalogue_checks import InvalidFields
from reservations.base.rules.pictures import Owner, PictureNotFound
from reservations.base.rules.providers import ProviderFields
from reservations.i18n import N_
from reservations.settings import SUPPORTED_LOCALES, Settings
from reservations.staff import inputs
from reservations.staff.auth import PREFIX, admin_only
from reservations.web.error_pages import html_error
from reservations.web.forms import Form
from reservations.web.http_status import status_of

BASE = f"{PREFIX}/catalogue"

#: What a redirect after a change says on the page it lands on.
DONE = {
    "created": N_("Created."),
    "saved": N_("Saved."),
    "unchanged": N_("Nothing to save: no value was changed."),
    "archived": N_("The activity is archived: it is off the programme and the planning."),
    "restored": N_("The activity is back in the programme and the planning."),
    "days_off": N_("Days off recorded."),
    "day_off_removed": N_("Day off removed."),
    "picture_added": N_("Picture added."),
    "picture_described": N_("Picture description saved."),
    "picture_moved": N_("Pictures reordered."),
    "picture_deleted": N_("Picture deleted."),
}

PROVIDER_FIELDS = ("name", "village", "sector", "email", "phone", "daily_cap")
PER_LANGUAGE = ("title", "description", "accessibility", "directions")
ACTIVITY_FIELDS = (
    "kind",
    *(f"{text}_{code}" for text in PER_LANGUAGE for code in SUPPORTED_LOCALES),
    "meeting_point",
    "latitude",
    "longitude",
    "min_age",
    "duration_minutes",
    "default_capacity",
    "default_min_participants",
    "price_adult",
    "price_child",
    "cutoff_minutes",
    "late_refund_percent",
    "decision_days_before",
    "decision_time",
)
DAY_OFF_FIELDS = ("first_day", "last_day", "note")
ALT_FIELDS = tuple(f"alt_{code}" for code in SUPPORTED_LOCALES)
#: An upload's body: the largest picture taken, and room for the rest of its form. More is
#: answered 413 with the reason (``picture_too_large``) before it is read.
MAX_UPLOAD_BODY = images.MAX_UPLOAD_BYTES + 64 * 1024
ALT_REFUSED = N_("The picture's description could not be saved: see the message beside it.")
NO_FILE = N_("Choose a picture to send (a photo in JPEG, PNG or WebP format).")


def upload_form(submitted: Any = None) -> Form:
    """The upload form (its alt texts as typed), blank without ``submitted``."""
    if submitted is None:
        return Form({name: "" for name in ALT_FIELDS})
    return inputs.form_of(submitted, ALT_FIELDS)


def alt_of(form: Form) -> dict[str, str]:
    return {code: form.values[f"alt_{code}"] for code in SUPPORTED_LOCALES}


def picture_too_large(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """A body larger than any upload may be, refused before it is read: the back office's
    error page says why (nothing was saved), in 413."""
    response = html_error(request, images.PictureFileTooLarge())
    response.status_code = HTTP_413_REQUEST_ENTITY_TOO_LARGE
    return response


def done_message(done: str | None) -> str | None:
    return i18n.gettext(DONE[done]) if done in DONE else None


# --- Providers' forms -------------------------------------------------------------------------


def provider_form(fields: ProviderFields | None = None) -> Form:
    if fields is None:
        return Form({name: "" for name in PROVIDER_FIELDS} | {"languages": "fr"})
    return Form(
        {
            "name": fields.name,
            "village": fields.village,
            "sector": fields.sector,
            "email": fields.email or "",
            "phone": fields.phone or "",
            "daily_cap": "" if fields.daily_cap is None else str(fields.daily_cap),
            "languages": ",".join(fields.languages),
        }
    )


def provider_submitted(submitted: Any, settings: Settings) -> tuple[Form, ProviderFields | None]:
    """The form as typed, and the provider it describes (None while it has problems). Every
    problem is found at once: reading the numbers, then the domain's rules."""
    form = inputs.form_of(submitted, PROVIDER_FIELDS, multi=("languages",))
    daily_cap = inputs.whole(form, "daily_cap", optional=True)
    fields = ProviderFields(
        name=form.values["name"],
        village=form.values["village"],
        sector=form.values["sector"],
        email=form.values["email"] or None,
        phone=form.values["phone"] or None,
        languages=tuple(inputs.ticked(form, "languages")),
        daily_cap=daily_cap,
    )
    for problem in providers.provider_problems(fields, settings.sectors):
        inputs.refused(form, problem)
    return form, fields if form.valid else None


# --- Activities' forms ------------------------------------------------------------------------

#: An activity's defaults as a new one's form shows them.
NEW_ACTIVITY = ActivityFields(kind=ActivityKind.FARM_VISIT, title={})


def activity_form(fields: ActivityFields) -> Form:
    values = {
        "kind": fields.kind.value,
        "meeting_point": fields.meeting_point or "",
        "latitude": _coordinate(fields.latitude),
        "longitude": _coordinate(fields.longitude),
        "min_age": "" if fields.min_age is None else str(fields.min_age),
        "duration_minutes": str(fields.duration_minutes),
        "default_capacity": str(fields.default_capacity),
        "default_min_participants": str(fields.default_min_participants),
        "price_adult": activities.euros_from_cents(fields.price_adult_cents),
        "price_child": activities.euros_from_cents(fields.price_child_cents),
        "cutoff_minutes": str(fields.cutoff_minutes),
        "late_refund_percent": str(fields.late_refund_percent),
        "decision_days_before": str(fields.decision_days_before),
        "decision_time": fields.decision_time.strftime("%H:%M"),
    }
    for text in PER_LANGUAGE:
        texts = getattr(fields, text)
        for code in SUPPORTED_LOCALES:
            values[f"{text}_{code}"] = texts.get(code, "")
    return Form(values)


def _coordinate(value: float | None) -> str:
    """As typed back, without losing a digit nor writing an exponent."""
    return "" if value is None else f"{value:.8f}".rstrip("0").rstrip(".")


def _price(form: Form, name: str) -> int:
    try:
        return activities.cents_from_euros(form.values[name], name)
    except DomainError as exc:
        inputs.refused(form, exc)
        return 0


def activity_submitted(submitted: Any) -> tuple[Form, ActivityFields | None]:
    """The form as typed, and the activity it describes (None while it has problems)."""
    form = inputs.form_of(submitted, ACTIVITY_FIELDS)
    try:
        kind = ActivityKind(form.values["kind"])
    except ValueError:
        form.add_error("kind", i18n.gettext(inputs.REQUIRED))
        kind = ActivityKind.FARM_VISIT

    def number(name: str, default: int) -> int:
        value = inputs.whole(form, name)
        return default if value is None else value

    texts = {
        text: {code: form.values[f"{text}_{code}"] for code in SUPPORTED_LOCALES}
        for text in PER_LANGUAGE
    }
    fields = ActivityFields(
        kind=kind,
        title=texts["title"],
        description=texts["description"],
        accessibility=texts["accessibility"],
        directions=texts["directions"],
        meeting_point=form.values["meeting_point"] or None,
        latitude=inputs.decimal(form, "latitude"),
        longitude=inputs.decimal(form, "longitude"),
        min_age=inputs.whole(form, "min_age", optional=True),
        duration_minutes=number("duration_minutes", 1),
        default_capacity=number("default_capacity", 1),
        default_min_participants=number("default_min_participants", 0),
        price_adult_cents=_price(form, "price_adult"),
        price_child_cents=_price(form, "price_child"),
        cutoff_minutes=number("cutoff_minutes", 0),
        # Left empty: nothing refunded after the cut-off (the default of a new activity).
        late_refund_percent=inputs.whole(form, "late_refund_percent", optional=True) or 0,
        decision_days_before=number("decision_days_before", 0),
        decision_time=inputs.clock_time(form, "decision_time") or NEW_ACTIVITY.decision_time,
    )
    for problem in activities.activity_problems(fields):
        inputs.refused(form, problem)
    # Prices are typed in euros but checked in cents: the message goes beside the euros.
    for cents, euros in (
        ("price_adult_cents", "price_adult"),
        ("price_child_cents", "price_child"),
    ):
        if cents in form.errors:
            form.add_error(euros, form.errors.pop(cents))
    return form, fields if form.valid else None


# --- Pages ------------------------------------------------------------------------------------


def _provider_template(
    page: catalogue_pages.ProviderPage | None,
    form: Form,
    settings: Settings,
    *,
    day_off_form: Form | None = None,
    done: str | None = None,
    status_code: int = 200,
    picture_form: Form | None = None,
    error: str | None = None,
    typed_alts: dict[int, Form] | None = None,
) -> Template:
    return Template(
        template_name="staff/catalogue_provider.html",
        context={
            "page": page,
            "picture_form": picture_form or upload_form(),
            "typed_alts": typed_alts or {},
            "error": error,
            "form": form,
            "day_off_form": day_off_form or Form({name: "" for name in DAY_OFF_FIELDS}),
            "sectors": settings.sectors,
            "languages": providers.PROVIDER_LANGUAGES,
            "language_labels": {c: i18n.language_name(c) for c in providers.PROVIDER_LANGUAGES},
            "done": done_message(done),
        },
        status_code=status_code,
    )


def _activity_template(
    form: Form,
    *,
    provider_id: int,
    provider: str,
    activity: catalogue_pages.ActivityPage | None = None,
    done: str | None = None,
    error: str | None = None,
    status_code: int = 200,
    picture_form: Form | None = None,
    typed_alts: dict[int, Form] | None = None,
) -> Template:
    return Template(
        template_name="staff/catalogue_activity.html",
        context={
            "form": form,
            "picture_form": picture_form or upload_form(),
            "typed_alts": typed_alts or {},
            "provider_id": provider_id,
            "provider": provider,
            "activity": activity,
            "kinds": list(ActivityKind),
            "done": done_message(done),
            "error": error,
        },
        status_code=status_code,
    )


def _to(path: str, done: str, anchor: str = "") -> Redirect:
    return Redirect(f"{path}?done={done}{anchor}", status_code=HTTP_303_SEE_OTHER)


class CatalogueController(Controller):
    path = "/catalogue"

    @get("/", name="staff_catalogue")
    async def overview(self, db: NamedDependency[Database]) -> Template:
        return Template(
            template_name="staff/catalogue.html",
            context={"providers": await catalogue_pages.overview(db)},
        )

    # --- providers ---

    @get("/providers/new", name="staff_provider_new", guards=[admin_only])
    async def new_provider(self, settings: NamedDependency[Settings]) -> Template:
        return _provider_template(None, provider_form(), settings)

    @post("/providers", name="staff_provider_create", guards=[admin_only])
    async def create_provider(
        self,
        request: Request[Any, Any, Any],
        db: NamedDependency[Database],
        settings: NamedDependency[Settings],
    ) -> Template | Redirect:
        form, fields = provider_submitted(await request.form(), settings)
        if fields is not None:
            try:
                provider_id = await providers.create_provider(
                    db, fields, sectors=settings.sectors, actor=request.user.actor
                )
            except DomainError as exc:
                inputs.refused(form, exc)
            else:
                return _to(f"{BASE}/providers/{provider_id}", "created")
        return _provider_template(None, form, settings, status_code=HTTP_422_UNPROCESSABLE_ENTITY)

    @get("/providers/{provider_id:int}", name="staff_provider")
    async def provider(
        self,
        provider_id: FromPath[int],
        db: NamedDependency[Database],
        settings: NamedDependency[Settings],
        done: FromQuery[str | None] = None,
    ) -> Template:
        page = await catalogue_pages.provider_page(db, provider_id)
        return _provider_template(page, provider_form(page.fields), settings, done=done)

    @post("/providers/{provider_id:int}", name="staff_provider_update", guards=[admin_only])
    async def update_provider(
        self,
        request: Request[Any, Any, Any],
        provider_id: FromPath[int],
        db: NamedDependency[Database],
        settings: NamedDependency[Settings],
    ) -> Template | Redirect:
        page = await catalogue_pages.provider_page(db, provider_id)
        form, fields = provider_submitted(await request.form(), settings)
        if fields is not None:
            try:
                changed = await providers.update_provider(
                    db, provider_id, fields, sectors=settings.sectors, actor=request.user.actor
                )
            except DomainError as exc:
                inputs.refused(form, exc)
            else:
                return _to(f"{BASE}/providers/{provider_id}", "saved" if changed else "unchanged")
        return _provider_template(page, form, settings, status_code=HTTP_422_UNPROCESSABLE_ENTITY)

    @post("/providers/{provider_id:int}/days-off", name="staff_days_off_add")
    async def add_days_off(
        self,
        request: Request[Any, Any, Any],
        provider_id: FromPath[int],
        db: NamedDependency[Database],
        settings: NamedDependency[Settings],
    ) -> Template | Redirect:
        page = await catalogue_pages.provider_page(db, provider_id)
        form = inputs.form_of(await request.form(), DAY_OFF_FIELDS)
        first_day = inputs.day(form, "first_day")
        last_day = inputs.day(form, "last_day", optional=True)
        if first_day is not None and form.valid:
            try:
                await providers.add_days_off(
                    db,
                    provider_id,
                    first_day,
                    last_day,
                    note=form.values["note"],
                    actor=request.user.actor,
                )
            except DomainError as exc:
                inputs.refused(form, exc)
            else:
                return _to(f"{BASE}/providers/{provider_id}", "days_off", "#days-off")
        return _provider_template(
            page,
            provider_form(page.fields),
            settings,
            day_off_form=form,
            status_code=HTTP_422_UNPROCESSABLE_ENTITY,
        )

    @post(
        "/providers/{provider_id:int}/days-off/{day_off_id:int}/remove",
        name="staff_day_off_remove",
    )
    async def remove_day_off(
        self,
        request: Request[Any, Any, Any],
        provider_id: FromPath[int],
        day_off_id: FromPath[int],
        db: NamedDependency[Database],
    ) -> Redirect:
        await providers.remove_day_off(db, provider_id, day_off_id, actor=request.user.actor)
        return _to(f"{BASE}/providers/{provider_id}", "day_off_removed", "#days-off")

    # --- activities ---

    @get("/providers/{provider_id:int}/activities/new", name="staff_activity_new")
    async def new_activity(
        self, provider_id: FromPath[int], db: NamedDependency[Database]
    ) -> Template:
        provider = await catalogue_pages.provider_name(db, provider_id)
        return _activity_template(
            activity_form(NEW_ACTIVITY), provider_id=provider_id, provider=provider
        )

    @post("/providers/{provider_id:int}/activities", name="staff_activity_create")
    async def create_activity(
        self,
        request: Request[Any, Any, Any],
        provider_id: FromPath[int],
        db: NamedDependency[Database],
    ) -> Template | Redirect:
        provider = await catalogue_pages.provider_name(db, provider_id)
        form, fields = activity_submitted(await request.form())
        if fields is not None:
            try:
                activity_id = await activities.create_activity(
                    db, provider_id, fields, actor=request.user.actor
                )
            except DomainError as exc:
                inputs.refused(form, exc)
            else:
                return _to(f"{BASE}/activities/{activity_id}", "created")
        return _activity_template(
            form,
            provider_id=provider_id,
            provider=provider,
            status_code=HTTP_422_UNPROCESSABLE_ENTITY,
        )

    @get("/activities/{activity_id:int}", name="staff_activity")
    async def activity(
        self,
        activity_id: FromPath[int],
        db: NamedDependency[Database],
        done: FromQuery[str | None] = None,
    ) -> Template:
        page = await catalogue_pages.activity_page(db, activity_id)
        return _activity_template(
            activity_form(page.fields),
            provider_id=page.provider_id,
            provider=page.provider,
            activity=page,
            done=done,
        )

    @post("/activities/{activity_id:int}", name="staff_activity_update")
    async def update_activity(
        self,
        request: Request[Any, Any, Any],
        activity_id: FromPath[int],
        db: NamedDependency[Database],
    ) -> Template | Redirect:
        page = await catalogue_pages.activity_page(db, activity_id)
        form, fields = activity_submitted(await request.form())
        if fields is not None:
            try:
                changed = await activities.update_activity(
                    db, activity_id, fields, actor=request.user.actor
                )
            except DomainError as exc:
                inputs.refused(form, exc)
            else:
                return _to(f"{BASE}/activities/{activity_id}", "saved" if changed else "unchanged")
        return _activity_template(
            form,
            provider_id=page.provider_id,
            provider=page.provider,
            activity=page,
            status_code=HTTP_422_UNPROCESSABLE_ENTITY,
        )

    @post("/activities/{activity_id:int}/archive", name="staff_activity_archive")
    async def archive(
        self,
        request: Request[Any, Any, Any],
        activity_id: FromPath[int],
        db: NamedDependency[Database],
    ) -> Template | Redirect:
        return await self._set_archived(request, db, activity_id, archived=True)

    @post("/activities/{activity_id:int}/restore", name="staff_activity_restore")
    async def restore(
        self,
        request: Request[Any, Any, Any],
        activity_id: FromPath[int],
        db: NamedDependency[Database],
    ) -> Template | Redirect:
        return await self._set_archived(request, db, activity_id, archived=False)

    async def _set_archived(
        self, request: Request[Any, Any, Any], db: Database, activity_id: int, *, archived: bool
    ) -> Template | Redirect:
        try:
            await activities.set_archived(db, activity_id, archived, actor=request.user.actor)
        except DomainError as exc:
            page = await catalogue_pages.activity_page(db, activity_id)
            return _activity_template(
                activity_form(page.fields),
                provider_id=page.provider_id,
                provider=page.provider,
                activity=page,
                error=i18n.error_text(exc),
                status_code=status_of(exc),
            )
        return _to(f"{BASE}/activities/{activity_id}", "archived" if archived else "restored")

    # --- pictures (an activity's, a farm's portrait) ---

    @post(
        "/activities/{activity_id:int}/pictures",
        name="staff_activity_picture_add",
        request_max_body_size=MAX_UPLOAD_BODY,
        exception_handlers={RequestEntityTooLarge: picture_too_large},
    )
    async def add_activity_picture(
        self,
        request: Request[Any, Any, Any],
        activity_id: FromPath[int],
        db: NamedDependency[Database],
        settings: NamedDependency[Settings],
    ) -> Template | Redirect:
        return await _add_picture(request, db, settings, Owner(activity_id=activity_id))

    @post(
        "/providers/{provider_id:int}/pictures",
        name="staff_provider_picture_add",
        request_max_body_size=MAX_UPLOAD_BODY,
        exception_handlers={RequestEntityTooLarge: picture_too_large},
    )
    async def add_provider_picture(
        self,
        request: Request[Any, Any, Any],
        provider_id: FromPath[int],
        db: NamedDependency[Database],
        settings: NamedDependency[Settings],
    ) -> Template | Redirect:
        return await _add_picture(request, db, settings, Owner(provider_id=provider_id))

    @post(
        "/activities/{activity_id:int}/pictures/{picture_id:int}/{action:str}",
        name="staff_activity_picture_change",
    )
    async def change_activity_picture(
        self,
        request: Request[Any, Any, Any],
        activity_id: FromPath[int],
        picture_id: FromPath[int],
        action: FromPath[str],
        db: NamedDependency[Database],
        settings: NamedDependency[Settings],
    ) -> Template | Redirect:
        owner = Owner(activity_id=activity_id)
        return await _change_picture(request, db, settings, owner, picture_id, action)

    @post(
        "/providers/{provider_id:int}/pictures/{picture_id:int}/{action:str}",
        name="staff_provider_picture_change",
    )
    async def change_provider_picture(
        self,
        request: Request[Any, Any, Any],
        provider_id: FromPath[int],
        picture_id: FromPath[int],
        action: FromPath[str],
        db: NamedDependency[Database],
        settings: NamedDependency[Settings],
    ) -> Template | Redirect:
        owner = Owner(provider_id=provider_id)
        return await _change_picture(request, db, settings, owner, picture_id, action)


def _owner_path(owner: Owner) -> str:
    if owner.activity_id is not None:
        return f"{BASE}/activities/{owner.activity_id}"
    return f"{BASE}/providers/{owner.provider_id}"


async def _owner_page(
    db: Database,
    settings: Settings,
    owner: Owner,
    *,
    picture_form: Form | None = None,
    error: str | None = None,
    typed_alts: dict[int, Form] | None = None,
    status_code: int,
) -> Template:
    """The activity's or the farm's page again, with the upload form or a picture's
    descriptions as sent, or a refusal."""
    if owner.activity_id is not None:
        page = await catalogue_pages.activity_page(db, owner.activity_id)
        return _activity_template(
            activity_form(page.fields),
            provider_id=page.provider_id,
            provider=page.provider,
            activity=page,
            picture_form=picture_form,
            error=error,
            typed_alts=typed_alts,
            status_code=status_code,
        )
    assert owner.provider_id is not None
    provider_page = await catalogue_pages.provider_page(db, owner.provider_id)
    return _provider_template(
        provider_page,
        provider_form(provider_page.fields),
        settings,
        picture_form=picture_form,
        error=error,
        typed_alts=typed_alts,
        status_code=status_code,
    )


async def _add_picture(
    request: Request[Any, Any, Any], db: Database, settings: Settings, owner: Owner
) -> Template | Redirect:
    submitted = await request.form()
    form = upload_form(submitted)
    upload = submitted.get("file")
    data = b""
    if isinstance(upload, UploadFile):
        data = await upload.read(images.MAX_UPLOAD_BYTES + 1)  # one byte more: too large
    if not data:
        form.add_error("file", i18n.gettext(NO_FILE))
    status = HTTP_422_UNPROCESSABLE_ENTITY
    if form.valid:
        try:
            await pictures.add_picture(db, owner, data, alt_of(form), actor=request.user.actor)
        except DomainError as exc:
            if exc.kind == ErrorKind.NOT_FOUND and exc.field is None:
                raise  # no such activity or farm: the 404 page
            inputs.refused(form, exc)
            if isinstance(exc, images.PictureFileTooLarge):
                status = HTTP_413_REQUEST_ENTITY_TOO_LARGE
        else:
            return _to(_owner_path(owner), "picture_added", "#pictures")
    return await _owner_page(db, settings, owner, picture_form=form, status_code=status)


async def _change_picture(
    request: Request[Any, Any, Any],
    db: Database,
    settings: Settings,
    owner: Owner,
    picture_id: int,
    action: str,
) -> Template | Redirect:
    """``alt`` (its descriptions), ``first``, ``up``, ``down`` (its place), ``delete``."""
    actor = request.user.actor
    submitted = await request.form()
    form = inputs.form_of(submitted, ALT_FIELDS)
    try:
        if action == "alt":
            if form.valid:  # else unusable characters: said beside their field, taken out
                await pictures.describe(db, owner, picture_id, alt_of(form), actor=actor)
            done = "picture_described"
        elif action in ("first", "up", "down"):
            await pictures.move(db, owner, picture_id, action, actor=actor)
            done = "picture_moved"
        elif action == "delete":
            await pictures.remove(db, owner, picture_id, actor=actor)
            done = "picture_deleted"
        else:
            raise NotFoundException()
    except InvalidFields as exc:
        inputs.refused(form, exc)
    except PictureNotFound as exc:
        return await _owner_page(
            db, settings, owner, error=i18n.error_text(exc), status_code=status_of(exc)
        )
    if not form.valid:
        return await _owner_page(
            db,
            settings,
            owner,
            error=i18n.gettext(ALT_REFUSED),
            typed_alts={picture_id: form},
            status_code=HTTP_422_UNPROCESSABLE_ENTITY,
        )
    return _to(_owner_path(owner), done, "#pictures")
