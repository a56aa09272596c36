"""The public pages read most (the programme, the embed, the kiosk), kept rendered and gzipped
in each worker under the database's fingerprint of their days (``base.reads.freshness``).

A kept page must be the same for every visitor who asks the same thing: it is rendered with no
request at all (``request`` is None in its context, so a template reaching for one fails
loudly), its language links are built from the page's own normalised query, and these pages
carry no CSRF token, session, flash message or nonce. It is packed once when kept, not at
every answer (and still never a page with a form's secret: BREACH).
"""

from __future__ import annotations

import gzip
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from jinja2 import Environment
from litestar import Request, Response
from litestar.datastructures import Headers
from litestar.enums import MediaType

from reservations.base.reads.freshness import AnswerCache

#: Smaller pages are not worth packing (as Litestar's compression middleware judged it).
MINIMUM_PACKED_SIZE = 500
GZIP_LEVEL = 9


@dataclass(frozen=True)
class RenderedPage:
    html: bytes
    #: The same page gzipped, or None when it is too small to be worth it.
    gzipped: bytes | None


def render(environment: Environment, name: str, context: dict[str, Any]) -> RenderedPage:
    html = environment.get_template(name).render(request=None, **context).encode()
    packed = gzip.compress(html, GZIP_LEVEL, mtime=0) if len(html) >= MINIMUM_PACKED_SIZE else None
    return RenderedPage(html, packed)


def accepts_gzip(headers: Headers) -> bool:
    """The client takes gzip (``Accept-Encoding``: gzip, or ``*``, not with ``q=0``)."""
    for part in headers.get("accept-encoding", "").split(","):
        name, _, parameters = part.partition(";")
        if name.strip().lower() not in ("gzip", "x-gzip", "*"):
            continue
        quality = parameters.strip().removeprefix("q=").strip()
        try:
            return not parameters.strip() or float(quality) > 0
        except ValueError:
            return True
    return False


def page_response(request: Request[Any, Any, Any], page: RenderedPage) -> Response[bytes]:
    headers = {"Vary": "Accept-Encoding"}
    if page.gzipped is not None and accepts_gzip(request.headers):
        headers["Content-Encoding"] = "gzip"
        return Response(page.gzipped, media_type=MediaType.HTML, headers=headers)
    return Response(page.html, media_type=MediaType.HTML, headers=headers)


async def kept_page(
    request: Request[Any, Any, Any],
    *,
    environment: Environment,
    cache: AnswerCache[Any],
    key: Hashable,
    changes_at: datetime | None,
    now: datetime,
    build: Callable[[], Awaitable[tuple[str, dict[str, Any]]]],
) -> Response[bytes]:
    """The page kept under ``key`` until ``changes_at``, or rendered (template name and
    context from ``build``) and kept."""

    async def rendered() -> RenderedPage:
        name, context = await build()
        return render(environment, name, context)

    return page_response(request, await cache.kept(key, now, changes_at, rendered))
