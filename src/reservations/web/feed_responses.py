"""Conditional GET, for every audience: calendar feeds (the farmers' private feed, the public
programme) and the public API's availability. Calendar apps poll every few minutes: a poll that
sends back the ``ETag`` or ``Last-Modified`` it got and finds nothing new gets ``304 Not
Modified``, and the answer is not even built. Litestar 2 does not do this by itself.

A poll that misses its 304 (a new subscriber, an app that keeps no ETag) may still find the
body built already: ``BuiltFeeds`` keeps the last bodies of each worker by their ETag, which
covers everything the bytes depend on, so a hit costs the validator's statement and a lookup.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
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
#: What one worker keeps of built feeds: a programme of a thousand events is about 0.6 MB,
#: and each language, sector and kind is one more.
BUILT_FEEDS_BYTES = 16 * 1024 * 1024


class BuiltFeeds:
    """The bodies last built, by ETag, least recently used first out past ``max_bytes``."""

    def __init__(self, max_bytes: int = BUILT_FEEDS_BYTES) -> None:
        self.max_bytes = max_bytes
        self._bodies: OrderedDict[str, bytes] = OrderedDict()
        self._size = 0

    def get(self, tag: str) -> bytes | None:
        body = self._bodies.get(tag)
        if body is not None:
            self._bodies.move_to_end(tag)
        return body

    def put(self, tag: str, body: bytes) -> None:
        if len(body) > self.max_bytes:
            return
        self._size += len(body) - len(self._bodies.pop(tag, b""))
        self._bodies[tag] = body
        while self._size > self.max_bytes:
            self._size -= len(self._bodies.popitem(last=False)[1])

    def __len__(self) -> int:
        return len(self._bodies)


def built_feeds(request: Request[Any, Any, Any]) -> BuiltFeeds:
    """The application's cache (one per worker process, one per app in tests)."""
    state = request.app.state
    cache = state.get("built_feeds")
    if cache is None:
        cache = state["built_feeds"] = BuiltFeeds()
    return cache


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
    cache: BuiltFeeds | None = None,
) -> Response[bytes]:
    """The feed, or a 304 with the same validators when the client holds it already; with
    ``cache``, the body built before under the same ``tag`` when there is one."""

    async def built() -> bytes:
        body = cache.get(tag) if cache is not None else None
        if body is None:
            body = await build()
            if cache is not None:
                cache.put(tag, body)
        return body

    return await conditional_response(
        request,
        tag=tag,
        last_modified=last_modified,
        cache_control=cache_control,
        media_type=MEDIA_TYPE,
        build=built,
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
