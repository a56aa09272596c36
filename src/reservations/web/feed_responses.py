"""Conditional GET, for every audience: calendar feeds (the farmers' private feed, the public
programme) and the public API's availability. Calendar apps poll every few minutes: a poll that
sends back the ``ETag`` or ``Last-Modified`` it got and finds nothing new gets ``304 Not
Modified``, and the answer is not even built. Litestar 2 does not do this by itself.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any

from litestar import Request, Response
from litestar.datastructures import Headers
from litestar.status_codes import HTTP_304_NOT_MODIFIED

from reservations import __version__

#: Litestar adds ``; charset=utf-8`` to text/* types.
MEDIA_TYPE = "text/calendar"


def etag(*parts: str) -> str:
    """A strong ETag from everything a body depends on (the data's version, its language, the
    addresses in it...) and this version of the code."""
    text = "\n".join((__version__, *parts))
    return '"' + hashlib.sha256(text.encode()).hexdigest()[:32] + '"'


def not_modified(headers: Headers, tag: str, last_modified: datetime | None = None) -> bool:
    """RFC 9110, 13.1: If-None-Match (weak comparison, ``*``) decides when present; otherwise
    If-Modified-Since, at the one-second precision of HTTP dates (not without a
    ``last_modified``)."""
    if_none_match = headers.get("if-none-match")
    if if_none_match is not None:
        tags = {part.strip().removeprefix("W/") for part in if_none_match.split(",")}
        return "*" in tags or tag.removeprefix("W/") in tags
    if_modified_since = headers.get("if-modified-since")
    if not if_modified_since or last_modified is None:
        return False
    try:
        since = parsedate_to_datetime(if_modified_since)
    except (TypeError, ValueError):
        return False
    if since.tzinfo is None:  # "-0000": UTC all the same
        since = since.replace(tzinfo=UTC)
    return last_modified.replace(microsecond=0) <= since


async def calendar_response(
    request: Request[Any, Any, Any],
    *,
    tag: str,
    last_modified: datetime,
    cache_control: str,
    build: Callable[[], Awaitable[bytes]],
) -> Response[bytes]:
    """The feed, or a 304 with the same validators when the client holds it already."""
    return await conditional_response(
        request,
        tag=tag,
        last_modified=last_modified,
        cache_control=cache_control,
        media_type=MEDIA_TYPE,
        build=build,
    )


async def conditional_response(
    request: Request[Any, Any, Any],
    *,
    tag: str,
    cache_control: str,
    media_type: str,
    build: Callable[[], Awaitable[bytes]],
    last_modified: datetime | None = None,
) -> Response[bytes]:
    """The body ``build`` makes, or a 304 with the same validators when the client holds it
    already (then nothing is built)."""
    headers = {"ETag": tag, "Cache-Control": cache_control}
    if last_modified is not None:
        headers["Last-Modified"] = format_datetime(
            last_modified.astimezone(UTC).replace(microsecond=0), usegmt=True
        )
    if not_modified(request.headers, tag, last_modified):
        return Response(b"", status_code=HTTP_304_NOT_MODIFIED, headers=headers)
    return Response(await build(), media_type=media_type, headers=headers)
