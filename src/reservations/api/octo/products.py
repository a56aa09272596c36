"""A product named in a request, found or refused with its OCTO code."""

from __future__ import annotations

from reservations.api.octo import requests
from reservations.api.octo.errors import INVALID_PRODUCT_ID, OctoError
from reservations.base.infra.db import Database
from reservations.base.reads.products import Product, list_products


async def product_of(db: Database, product_id: str | None, option_id: str | None) -> Product:
    found = await list_products(db, product_id=requests.product_id(product_id))
    if not found:
        raise OctoError(INVALID_PRODUCT_ID, "There is no product with this id.", product_id)
    requests.check_option(option_id)
    return found[0]
