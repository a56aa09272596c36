"""Who is asking: a reseller's key (``Authorization: Bearer <key>``) names the reseller, and its
kind names the database (a test key: the sandbox; a live key: the office's own). The guard runs
before every handler under ``/octo``: nothing is answered without a key that opens it."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.handlers import BaseRouteHandler

from reservations.api.octo.errors import FORBIDDEN, UNAUTHORIZED, OctoError
from reservations.base.infra.db import Database
from reservations.base.rules.resellers import ResellerRef, reseller_of_key
from reservations.web.rate_limit import bearer_key

#: Keys are made by ``reservations reseller add``; anything longer is not one of ours.
_MAX_KEY = 200
_RESELLER = "octo_reseller"


async def _reseller_of(connection: ASGIConnection[Any, Any, Any, Any]) -> ResellerRef | None:
    """The owner of the request's key, looked up once a request (the rate limit asks first)."""
    if _RESELLER not in connection.state:
        key = bearer_key(connection.headers.get("authorization", ""))
        found = None
        if key is not None and len(key) <= _MAX_KEY:
            found = await reseller_of_key(connection.app.state.db, key)
        connection.state[_RESELLER] = found
    reseller: ResellerRef | None = connection.state[_RESELLER]
    return reseller


async def identify(request: Request[Any, Any, Any]) -> str | None:
    """Whose bucket of the rate limit a request counts in: its reseller's, for a valid key."""
    reseller = await _reseller_of(request)
    return None if reseller is None else f"reseller:{reseller.id}"


async def require_key(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    if bearer_key(connection.headers.get("authorization", "")) is None:
        raise OctoError(
            UNAUTHORIZED, "Send your API key in the Authorization header: Bearer <key>."
        )
    if await _reseller_of(connection) is None:
        raise OctoError(FORBIDDEN, "This API key is not valid, or it has been revoked.")


def provide_reseller(request: Request[Any, Any, Any]) -> ResellerRef:
    reseller: ResellerRef = request.state[_RESELLER]
    return reseller


async def provide_octo_db(reseller: NamedDependency[ResellerRef], state: State) -> Database:
    """The database the reseller's key works on: the sandbox for a test key."""
    if reseller.test_mode:
        database: Database = await state.octo_sandbox.database(reseller)
        return database
    live: Database = state.db
    return live
