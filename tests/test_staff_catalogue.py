"""The catalogue pages of the back office on each database: providers created and edited by an
administrator only, days off recorded by any staff member, activities created, edited, archived
and restored; prices typed in euros kept in cents; every refused form shown again with the values
as typed and each message beside its field; every change audited with before and after."""

from __future__ import annotations

import html
import re
from datetime import time, timedelta

import pytest
from sqlalchemy import select

from reservations.base import clock
from reservations.base.models import (
    Activity,
    AuditEntry,
    CancelReason,
    Provider,
    ProviderDayOff,
)
from reservations.base.reads import catalogue_pages
from reservations.base.rules import activities, slots
from reservations.base.rules.activities import InvalidPrice
from tests.factories import make_activity, make_slot
from tests.staff_support import csrf
from tests.test_accessibility import problems
from tests.test_visitors import text_of

NEW_PROVIDER = {
    "name": "Chèvrerie du Mas",
    "village": "Vialas",
    "sector": "Mont Lozère",
    "email": "mas@example.org",
    "phone": "04 66 00 00 00",
    "languages": ["fr", "en"],
    "daily_cap": "25",
}
NEW_ACTIVITY = {
    "kind": "farm_visit",
    "title_fr": "Visite de la chèvrerie",
    "title_en": "Goat farm visit",
    "title_de": "",
    "title_nl": "",
    "description_fr": "Traite et fromages.",
    "description_en": "",
    "description_de": "",
    "description_nl": "",
    "accessibility_fr": "Chemin en terre.",
    "accessibility_en": "",
    "accessibility_de": "",
    "accessibility_nl": "",
    "meeting_point": "Devant la bergerie",
    "latitude": "44,352134",
    "longitude": "3.8762",
    "min_age": "",
    "duration_minutes": "120",
    "default_capacity": "15",
    "default_min_participants": "4",
    "price_adult": "8,50",
    "price_child": "4.5",
    "cutoff_minutes": "90",
    "decision_days_before": "1",
    "decision_time": "18:00",
}


async def post(client, path: str, data: dict):  # type: ignore[no-untyped-def]
    await client.get("/staff/catalogue")  # a page first, as a browser would: the CSRF cookie
    return await client.post(
        path, data={**data, "_csrf_token": csrf(client)}, follow_redirects=False
    )


async def audit_of(db, action: str) -> list[AuditEntry]:  # type: ignore[no-untyped-def]
    async with db.reading() as session:
        return list(
            await session.scalars(
                select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
            )
        )


async def one(db, model, **where):  # type: ignore[no-untyped-def]
    async with db.reading() as session:
        return await session.scalar(select(model).filter_by(**where))


def field_error(response, name: str) -> str:  # type: ignore[no-untyped-def]
    """The message shown beside one field, as a person reads it."""
    found = re.search(rf'<p class="field-error" id="{name}-error">([^<]*)</p>', response.text)
    assert found, f"no message beside {name}"
    return html.unescape(found.group(1)).replace("\u202f", " ").replace("\xa0", " ")


def accessible(response) -> None:  # type: ignore[no-untyped-def]
    assert problems(response.text, "fr") == []


# --- providers ---------------------------------------------------------------------------------


async def test_an_administrator_creates_a_provider_then_edits_it(admin, db):
    client, account = admin
    page = await client.get("/staff/catalogue/providers/new")
    assert page.status_code == 200
    accessible(page)

    created = await post(client, "/staff/catalogue/providers", NEW_PROVIDER)
    assert created.status_code == 303, created.text[:2000]
    provider = await one(db, Provider, name="Chèvrerie du Mas")
    assert created.headers["location"] == f"/staff/catalogue/providers/{provider.id}?done=created"
    assert (provider.village, provider.sector, provider.email, provider.phone) == (
        "Vialas", "Mont Lozère", "mas@example.org", "04 66 00 00 00",
    )  # fmt: skip
    assert (provider.languages, provider.daily_cap) == (["fr", "en"], 25)
    [entry] = await audit_of(db, "provider.created")
    assert entry.actor == f"staff:{account.email}"
    assert entry.data["after"]["name"] == "Chèvrerie du Mas" and entry.data["before"] is None

    shown = await client.get(created.headers["location"])
    assert "Créé." in text_of(shown)
    accessible(shown)
    assert 'value="Chèvrerie du Mas"' in shown.text and 'value="25"' in shown.text

    edited = await post(
        client,
        f"/staff/catalogue/providers/{provider.id}",
        {**NEW_PROVIDER, "daily_cap": "", "phone": "06 11 22 33 44", "languages": ["fr"]},
    )
    assert edited.headers["location"].endswith("?done=saved")
    provider = await one(db, Provider, id=provider.id)
    assert (provider.daily_cap, provider.phone, provider.languages) == (
        None,
        "06 11 22 33 44",
        ["fr"],
    )
    [change] = await audit_of(db, "provider.updated")
    assert change.data == {
        "provider_id": provider.id,
        "before": {"phone": "04 66 00 00 00", "languages": ["fr", "en"], "daily_cap": 25},
        "after": {"phone": "06 11 22 33 44", "languages": ["fr"], "daily_cap": None},
    }

    again = await post(
        client,
        f"/staff/catalogue/providers/{provider.id}",
        {**NEW_PROVIDER, "daily_cap": "", "phone": "06 11 22 33 44", "languages": ["fr"]},
    )
    assert again.headers["location"].endswith("?done=unchanged")
    assert len(await audit_of(db, "provider.updated")) == 1


async def test_a_refused_provider_form_keeps_the_values_and_says_what_is_wrong(admin, db):
    client, _ = admin
    refused = await post(
        client,
        "/staff/catalogue/providers",
        {
            "name": "",
            "village": "Vialas",
            "sector": "Atlantide",
            "email": "pas-une-adresse",
            "phone": "",
            "daily_cap": "0",
        },
    )
    assert refused.status_code == 422
    assert field_error(refused, "name") == "Veuillez remplir ce champ."
    assert field_error(refused, "sector").startswith("Choisissez l’un des secteurs de l’office")
    assert "Mont Lozère, Vallée Française" in field_error(refused, "sector")
    assert (
        field_error(refused, "email")
        == "« pas-une-adresse » ne ressemble pas à une adresse e-mail."
    )
    assert field_error(refused, "languages").startswith("Choisissez au moins une langue")
    assert field_error(refused, "daily_cap").startswith("Le plafond journalier est un nombre")
    assert 'value="Vialas"' in refused.text and 'value="pas-une-adresse"' in refused.text
    assert 'value="0"' in refused.text
    accessible(refused)

    not_a_number = await post(
        client, "/staff/catalogue/providers", {**NEW_PROVIDER, "daily_cap": "vingt"}
    )
    assert not_a_number.status_code == 422
    assert field_error(not_a_number, "daily_cap") == "Saisissez un nombre entier, 0 ou plus."
    assert 'value="vingt"' in not_a_number.text

    await make_activity(db, provider_name="Élevage des Bastides")
    taken = await post(
        client, "/staff/catalogue/providers", {**NEW_PROVIDER, "name": "élevage des BASTIDES"}
    )
    assert taken.status_code == 422
    assert (
        field_error(taken, "name")
        == "Il existe déjà un prestataire nommé « élevage des BASTIDES »."
    )
    async with db.reading() as session:
        assert (
            await session.scalar(select(Provider.id).where(Provider.sector == "Atlantide")) is None
        )
    assert await audit_of(db, "provider.created") == []


async def test_only_an_administrator_creates_or_edits_a_provider(staff, db):
    client, _ = staff
    activity = await make_activity(db, provider_name="Ferme du Pont")
    refused = await client.get("/staff/catalogue/providers/new")
    assert refused.status_code == 403
    assert "Seul un administrateur de l’espace de l’office peut faire cela." in refused.text
    assert (await post(client, "/staff/catalogue/providers", NEW_PROVIDER)).status_code == 403
    update = await post(client, f"/staff/catalogue/providers/{activity.provider_id}", NEW_PROVIDER)
    assert update.status_code == 403
    assert await one(db, Provider, name="Chèvrerie du Mas") is None
    assert (await one(db, Provider, id=activity.provider_id)).name == "Ferme du Pont"

    page = await client.get(f"/staff/catalogue/providers/{activity.provider_id}")
    assert page.status_code == 200
    assert "Seul un administrateur peut modifier les coordonnées" in text_of(page)
    assert f'action="/staff/catalogue/providers/{activity.provider_id}"' not in page.text
    assert f'action="/staff/catalogue/providers/{activity.provider_id}/days-off"' in page.text
    accessible(page)
    overview = await client.get("/staff/catalogue")
    assert (
        "Ferme du Pont" in overview.text and "/staff/catalogue/providers/new" not in overview.text
    )
    accessible(overview)


async def test_days_off_are_recorded_for_a_period_then_removed(staff, db):
    client, account = staff
    activity = await make_activity(db)
    first = clock.today() + timedelta(days=40)
    planned = await make_slot(
        db, activity=activity, starts_at=clock.local_datetime(first + timedelta(days=1), time(10))
    )
    path = f"/staff/catalogue/providers/{activity.provider_id}/days-off"
    added = await post(
        client,
        path,
        {
            "first_day": first.isoformat(),
            "last_day": (first + timedelta(days=2)).isoformat(),
            "note": "Foire",
        },
    )
    assert added.status_code == 303
    async with db.reading() as session:
        days = list(await session.scalars(select(ProviderDayOff).order_by(ProviderDayOff.day)))
    assert [(d.day, d.note) for d in days] == [
        (first + timedelta(days=n), "Foire") for n in range(3)
    ]
    [entry] = await audit_of(db, "provider.days_off_added")
    assert entry.actor == f"staff:{account.email}"
    assert entry.data["after"]["days"] == [
        (first + timedelta(days=n)).isoformat() for n in range(3)
    ]

    assert added.headers["location"].endswith("?done=days_off#days-off")
    page = await client.get(added.headers["location"])
    assert "Jours de repos enregistrés." in text_of(page)
    # The day with a slot still planned says so (1), the others 0.
    counts = re.findall(
        r'<td>(?:<span class="places-few">)?(\d+)(?:</span>)?</td>\s*<td>\s*<form', page.text
    )
    assert counts == ["0", "1", "0"], planned.id
    accessible(page)

    again = await post(client, path, {"first_day": first.isoformat(), "last_day": "", "note": ""})
    assert again.status_code == 422
    assert (
        field_error(again, "first_day") == "Chaque jour de cette période est déjà un jour de repos."
    )
    backwards = await post(
        client,
        path,
        {
            "first_day": first.isoformat(),
            "last_day": (first - timedelta(days=1)).isoformat(),
            "note": "x",
        },
    )
    assert backwards.status_code == 422
    assert field_error(backwards, "last_day").startswith("Le dernier jour de repos doit être")
    assert 'value="x"' in backwards.text
    accessible(backwards)

    removed = await post(client, f"{path}/{days[1].id}/remove", {})
    assert removed.status_code == 303
    async with db.reading() as session:
        left = list(await session.scalars(select(ProviderDayOff.day).order_by(ProviderDayOff.day)))
    assert left == [first, first + timedelta(days=2)]
    [entry] = await audit_of(db, "provider.day_off_removed")
    assert entry.data["before"] == {"day": (first + timedelta(days=1)).isoformat(), "note": "Foire"}
    other = await make_activity(db)
    elsewhere = await post(
        client, f"/staff/catalogue/providers/{other.provider_id}/days-off/{days[0].id}/remove", {}
    )
    assert elsewhere.status_code == 404  # a day off of another provider


# --- activities --------------------------------------------------------------------------------


async def test_staff_create_an_activity_with_prices_in_euros(staff, db):
    client, account = staff
    farm = await make_activity(db)
    form = await client.get(f"/staff/catalogue/providers/{farm.provider_id}/activities/new")
    assert form.status_code == 200
    accessible(form)
    created = await post(
        client, f"/staff/catalogue/providers/{farm.provider_id}/activities", NEW_ACTIVITY
    )
    assert created.status_code == 303, created.text[:3000]
    activity = await one(db, Activity, name="Visite de la chèvrerie")
    assert created.headers["location"] == f"/staff/catalogue/activities/{activity.id}?done=created"
    assert (activity.price_adult_cents, activity.price_child_cents) == (850, 450)
    assert activity.title == {"fr": "Visite de la chèvrerie", "en": "Goat farm visit"}
    assert activity.description == {"fr": "Traite et fromages."}
    assert (activity.latitude, activity.longitude) == (44.352134, 3.8762)
    assert (activity.default_capacity, activity.default_min_participants) == (15, 4)
    assert (activity.duration_minutes, activity.cutoff_minutes, activity.min_age) == (120, 90, None)
    assert (activity.decision_days_before, activity.decision_time) == (1, time(18, 0))
    [entry] = await audit_of(db, "activity.created")
    assert (
        entry.actor == f"staff:{account.email}" and entry.data["after"]["price_adult_cents"] == 850
    )

    page = await client.get(created.headers["location"])
    assert 'value="8,50"' in page.text and 'value="4,50"' in page.text
    assert 'value="18:00"' in page.text
    assert 'value="44.352134"' in page.text and 'value="3.8762"' in page.text
    accessible(page)

    edited = await post(
        client,
        f"/staff/catalogue/activities/{activity.id}",
        {**NEW_ACTIVITY, "price_adult": "9", "title_de": "Besuch der Ziegenfarm"},
    )
    assert edited.headers["location"].endswith("?done=saved")
    activity = await one(db, Activity, id=activity.id)
    assert activity.price_adult_cents == 900 and activity.title["de"] == "Besuch der Ziegenfarm"
    [change] = await audit_of(db, "activity.updated")
    assert change.data["before"] == {
        "title": {"fr": "Visite de la chèvrerie", "en": "Goat farm visit"},
        "price_adult_cents": 850,
    }
    assert change.data["after"]["price_adult_cents"] == 900


async def test_a_refused_activity_form_keeps_the_values_and_says_what_is_wrong(staff, db):
    client, _ = staff
    farm = await make_activity(db)
    path = f"/staff/catalogue/providers/{farm.provider_id}/activities"
    refused = await post(
        client,
        path,
        {
            **NEW_ACTIVITY,
            "title_fr": "",
            "title_en": "Goat farm visit",
            "price_adult": "8,5,0",
            "default_capacity": "10",
            "default_min_participants": "12",
            "latitude": "44.3",
            "longitude": "",
            "decision_time": "25:00",
            "decision_days_before": "30",
        },
    )
    assert refused.status_code == 422
    assert field_error(refused, "title_fr") == "Veuillez remplir ce champ."
    assert field_error(refused, "price_adult").startswith("Écrivez un montant en euros")
    assert field_error(refused, "default_min_participants") == (
        "Le minimum (12) ne peut pas dépasser la capacité (10)."
    )
    assert field_error(refused, "latitude") == (
        "Indiquez la latitude et la longitude, ou aucune des deux."
    )
    assert field_error(refused, "decision_time") == "Saisissez une heure, par exemple 10:00."
    assert field_error(refused, "decision_days_before") == "Saisissez un nombre entre 0 et 14."
    for kept in ('value="8,5,0"', 'value="12"', 'value="Goat farm visit"', 'value="25:00"'):
        assert kept in refused.text
    assert "Traite et fromages." in refused.text
    accessible(refused)

    await post(client, path, NEW_ACTIVITY)
    taken = await post(client, path, {**NEW_ACTIVITY, "title_fr": "visite de la CHÈVRERIE"})
    assert taken.status_code == 422
    assert field_error(taken, "title_fr") == (
        "Ce prestataire a déjà une activité dont le titre français est « visite de la CHÈVRERIE »."
    )
    async with db.reading() as session:
        names = list(
            await session.scalars(
                select(Activity.name).where(Activity.provider_id == farm.provider_id)
            )
        )
    assert sorted(names) == sorted([farm.name, "Visite de la chèvrerie"])


async def test_an_activity_is_archived_once_its_upcoming_slots_are_cancelled(staff, db):
    client, account = staff
    slot = await make_slot(db)
    activity_id = slot.activity_id
    refused = await post(client, f"/staff/catalogue/activities/{activity_id}/archive", {})
    assert refused.status_code == 409
    assert "Cette activité a encore 1 créneau à venir non annulé :" in text_of(refused)
    accessible(refused)
    assert (await one(db, Activity, id=activity_id)).archived_at is None

    await slots.cancel_slot(db, slot.id, CancelReason.STAFF, actor="test")
    archived = await post(client, f"/staff/catalogue/activities/{activity_id}/archive", {})
    assert archived.headers["location"].endswith("?done=archived")
    assert (await one(db, Activity, id=activity_id)).archived_at is not None
    assert activity_id not in {c.id for c in await catalogue_pages.activity_choices(db)}
    planning = await client.get("/staff/planning")
    assert f'<option value="{activity_id}"' not in planning.text
    overview = await client.get("/staff/catalogue")
    assert "archivée" in text_of(overview)

    restored = await post(client, f"/staff/catalogue/activities/{activity_id}/restore", {})
    assert restored.headers["location"].endswith("?done=restored")
    assert (await one(db, Activity, id=activity_id)).archived_at is None
    actions = [e.action for e in await audit_of(db, "activity.archived")] + [
        e.action for e in await audit_of(db, "activity.restored")
    ]
    assert actions == ["activity.archived", "activity.restored"]
    assert (await audit_of(db, "activity.archived"))[0].actor == f"staff:{account.email}"


async def test_unknown_providers_and_activities_are_404_pages(staff):
    client, _ = staff
    for path in ("/staff/catalogue/providers/999", "/staff/catalogue/activities/999"):
        answer = await client.get(path)
        assert answer.status_code == 404
        assert "Aucun" in text_of(answer)


@pytest.mark.parametrize(
    ("typed", "cents"),
    [("8,50", 850), ("8.50", 850), ("8", 800), ("0", 0), ("", 0), ("12,5", 1250), ("8,05", 805),
     (" 7,20 € ", 720)],
)  # fmt: skip
def test_prices_typed_in_euros_are_kept_in_cents(typed: str, cents: int):
    assert activities.cents_from_euros(typed, "price") == cents


@pytest.mark.parametrize("typed", ["8,5,0", "-3", "8,505", "huit", "1.000,00", "8.5e2"])
def test_a_price_that_is_not_an_amount_is_refused(typed: str):
    with pytest.raises(InvalidPrice):
        activities.cents_from_euros(typed, "price")
