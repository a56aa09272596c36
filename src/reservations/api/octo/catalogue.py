"""``/octo/supplier``, ``/octo/capabilities`` and ``/octo/products``: who we are and what we sell."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from litestar.params import FromPath

from reservations.api.octo import requests, shapes
from reservations.api.octo.products import product_of
from reservations.api.octo.responses import answer
from reservations.base.infra.db import Database
from reservations.base.reads.products import list_products
from reservations.settings import Settings


class CatalogueController(Controller):
    @get("/supplier", sync_to_thread=False)
    def supplier(
        self, request: Request[Any, Any, Any], settings: NamedDependency[Settings]
    ) -> Response[Any]:
        return answer(request, shapes.supplier(settings))

    @get("/capabilities", sync_to_thread=False)
    def capabilities(self, request: Request[Any, Any, Any]) -> Response[Any]:
        return answer(request, shapes.capabilities())

    @get("/products")
    async def products(
        self,
        request: Request[Any, Any, Any],
        octo_db: NamedDependency[Database],
        settings: NamedDependency[Settings],
    ) -> Response[Any]:
        asked = shapes.Asked(requests.capabilities_of(request))
        found = await list_products(octo_db)
        return answer(request, [shapes.product(item, asked, settings) for item in found])

    @get("/products/{product_id:str}")
    async def product(
        self,
        request: Request[Any, Any, Any],
        product_id: FromPath[str],
        octo_db: NamedDependency[Database],
        settings: NamedDependency[Settings],
    ) -> Response[Any]:
        asked = shapes.Asked(requests.capabilities_of(request))
        found = await product_of(octo_db, product_id, requests.OPTION_ID)
        return answer(request, shapes.product(found, asked, settings))
