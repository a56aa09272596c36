"""The back office's resellers page (administrators): a key made and shown once, listed with
what its reseller sold, revoked; on each database."""

from __future__ import annotations

import re

from litestar.testing import AsyncTestClient
from sqlalchemy import select

from reservations.app import create_app
from reservations.base.models import AuditEntry, Reseller
from reservations.base.rules.booking import BookingPolicy
from reservations.base.rules.reseller_bookings import Guest, Reservation, UnitItem, confirm, reserve
from reservations.base.rules.resellers import add_reseller
from tests.cli_support import cli_environment, run_cli
from tests.factories import make_slot
from tests.staff_support import csrf
from tests.test_visitors import site_settings

KEY = re.compile(r"rsv_(live|test)_[A-Za-z0-9_-]{43}")


async def post(client: AsyncTestClient, path: str, data: dict[str, str]):  # type: ignore[no-untyped-def]
    await client.get("/staff/resellers")
    return await client.post(
        path, data={**data, "_csrf_token": csrf(client)}, follow_redirects=False
    )


async def octo_status(db, key: str) -> int:  # type: ignore[no-untyped-def]
    async with AsyncTestClient(app=create_app(site_settings(db), database=db)) as client:
        answer = await client.get("/octo/products", headers={"Authorization": f"Bearer {key}"})
        return answer.status_code


async def test_an_administrator_makes_a_key_that_is_shown_once_and_works(admin, db):
    client, account = admin
    made = await post(client, "/staff/resellers", {"name": "  Gîtes de Lozère ", "test": ""})
    assert made.status_code == 200 and made.headers["cache-control"] == "no-store"
    (key,) = {found.group(0) for found in KEY.finditer(made.text)}
    assert key.startswith("rsv_live_")
    assert await octo_status(db, key) == 200
    listed = await client.get("/staff/resellers")
    assert "Gîtes de Lozère" in listed.text and key not in listed.text
    async with db.reading() as session:
        stored = await session.scalar(select(Reseller).where(Reseller.name == "Gîtes de Lozère"))
        entries = (await session.scalars(select(AuditEntry.actor))).all()
    assert stored is not None and key not in stored.key_hash and not stored.test_mode
    assert f"staff:{account.email}" in entries


async def test_a_test_key_and_the_bookings_sold_are_listed(admin, db):
    client, _ = admin
    made = await post(client, "/staff/resellers", {"name": "Intégrateur", "test": "1"})
    assert KEY.search(made.text).group(0).startswith("rsv_test_")
    seller, _key = await add_reseller(db, "Marketplace")
    slot = await make_slot(db, capacity=10)
    policy = BookingPolicy(secret_key="test")
    booking_uuid = "7a0d1c7e-2f54-4a53-8f8e-5b1e0e6f0a11"
    units = (UnitItem("adult"), UnitItem("adult"), UnitItem("child"))
    await reserve(db, seller, Reservation(booking_uuid, slot.id, units, 30), policy)
    await confirm(db, seller, booking_uuid, Guest(full_name="Ada Lovelace"))
    page = (await client.get("/staff/resellers")).text
    row = page[page.index("Marketplace") :].split("</tr>")[0]
    assert re.findall(r'<td class="number">(\d+)</td>', row) == ["1", "3"]
    assert "test (bac à sable)" in page


async def test_an_empty_or_taken_name_is_refused_with_the_form_kept(admin, db):
    client, _ = admin
    empty = await post(client, "/staff/resellers", {"name": "   ", "test": "1"})
    assert empty.status_code == 422 and "Veuillez remplir ce champ." in empty.text
    await add_reseller(db, "Marketplace")
    taken = await post(client, "/staff/resellers", {"name": "Marketplace", "test": "1"})
    assert taken.status_code == 422
    assert "Le revendeur « Marketplace » a déjà une clé" in taken.text
    assert 'value="Marketplace"' in taken.text and not KEY.search(taken.text)


async def test_revoking_stops_the_key_at_once_and_a_new_one_can_be_made(admin, db):
    client, _ = admin
    reseller, key = await add_reseller(db, "Marketplace")
    revoked = await post(client, f"/staff/resellers/{reseller.id}/revoke", {})
    assert revoked.status_code == 303
    assert await octo_status(db, key) == 403
    again = await post(client, f"/staff/resellers/{reseller.id}/revoke", {})
    assert again.status_code == 303  # a second click changes nothing
    page = (await client.get(revoked.headers["location"])).text
    assert "La clé est révoquée" in page and "révoquée le" in page
    made = await post(client, "/staff/resellers", {"name": "Marketplace", "test": ""})
    assert await octo_status(db, KEY.search(made.text).group(0)) == 200


async def test_staff_who_are_not_administrators_are_refused(staff, db):
    client, _ = staff
    assert (await client.get("/staff/resellers")).status_code == 403
    await client.get("/staff/")
    refused = await client.post("/staff/resellers", data={"name": "X", "_csrf_token": csrf(client)})
    assert refused.status_code == 403
    async with db.reading() as session:
        assert await session.scalar(select(Reseller.id)) is None
    assert "/staff/resellers" not in (await client.get("/staff/")).text


async def test_the_cli_makes_lists_and_revokes_keys(db):
    environment = cli_environment(db.url)

    async def cli(*arguments: str) -> tuple[int, str]:
        return await run_cli(environment, "reseller", *arguments)

    code, output = await cli("add", "Gîtes de Lozère")
    assert code == 0, output
    (key,) = {found.group(0) for found in KEY.finditer(output)}
    assert "https://visites.example/octo" in output and await octo_status(db, key) == 200
    code, output = await cli("add", "Gîtes de Lozère")
    assert code != 0 and "already has a key" in output and "Traceback" not in output
    code, output = await cli("add", "Intégrateur", "--test")
    assert code == 0 and KEY.search(output).group(0).startswith("rsv_test_")
    code, output = await cli("list")
    assert code == 0 and "Gîtes de Lozère\tlive\tactive" in output and key not in output
    code, output = await cli("revoke", "Gîtes de Lozère")
    assert code == 0 and await octo_status(db, key) == 403
    code, output = await cli("revoke", "Gîtes de Lozère")
    assert code != 0 and "already revoked" in output
    code, output = await cli("revoke", "Nobody")
    assert code != 0 and "Nobody" in output
