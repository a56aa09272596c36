"""The per-client rate limit of booking, cancelling and logging in: Litestar's
``RateLimitMiddleware``, made to spare people:

- each kind of handler has its own bucket (its ``rate_limited`` option names it: a clerk
  logging in at the counter does not use up the visitors' bookings from the office's network);
- on a visitor's form (a handler marked ``forgiving``), a form sent back for a mistake (422: a
  field to correct) gives its request back: correcting a typo is not a try that counts (the
  staff login is not forgiving: a wrong password counts);
- over the limit, a handler marked ``keeps_form`` (booking, joining a waiting list: forms with
  much typed in them) is still called, told so (``over_limit``, which it must check first), and
  shows the form again with what was typed and a 429, instead of an error page that loses it.

A bucket marked ``per_key`` (the resellers' API) counts each valid API key's requests, not each
address's, with its own limit (``Settings.reseller_rate_limit``): two resellers behind one
address do not share it, and one reseller's several servers do. Its ``identify`` callable
names the key's owner (None for no key or a wrong one, which are counted by address: guessing
keys is limited too). A request with no bearer key
is counted by its address.

A request takes its place in the bucket before it runs (under the middleware's lock), so a
burst of concurrent requests cannot pass the limit together.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from litestar import Request
from litestar.exceptions import TooManyRequestsException
from litestar.middleware.rate_limit import DURATION_VALUES, RateLimitMiddleware
from litestar.serialization import encode_json
from litestar.status_codes import HTTP_422_UNPROCESSABLE_ENTITY
from litestar.types import Message, Receive, Scope, Send

#: The ``opt`` key marking rate-limited handlers; its value names the bucket.
OPTION = "rate_limited"
#: The ``opt`` keys of the visitors' form handlers (see above).
FORGIVING = "forgiving"
KEEPS_FORM = "keeps_form"
PER_KEY = "per_key"
_OVER = "reservations_over_rate_limit"


#: Names who sends a request by its key (None: nobody we know), for a ``per_key`` bucket.
Identify = Callable[[Request[Any, Any, Any]], Awaitable[str | None]]


def bucket(
    name: str,
    *,
    forgiving: bool = False,
    keeps_form: bool = False,
    per_key: Identify | None = None,
) -> dict[str, Any]:
    """A handler's ``opt`` for the bucket ``name``."""
    return {
        OPTION: name,
        FORGIVING: forgiving or keeps_form,
        KEEPS_FORM: keeps_form,
        PER_KEY: per_key,
    }


def over_limit(request: Request[Any, Any, Any]) -> bool:
    """True when a form handler runs although its client is over the limit."""
    return bool(request.scope.get("state", {}).get(_OVER))


def bearer_key(header: str) -> str | None:
    """The key of an ``Authorization: Bearer <key>`` header, read as the OCTO API's guard reads
    it (any case of the scheme, spaces around the key), so that one key is one bucket however
    it is spelt; None for a header that is no bearer key (counted by address instead)."""
    scheme, _space, key = header.partition(" ")
    key = key.strip()
    return key if scheme.lower() == "bearer" and key else None


class ForgivingRateLimitMiddleware(RateLimitMiddleware):
    async def _bucket_of(self, request: Request[Any, Any, Any]) -> str:
        name = request.route_handler.opt.get(OPTION)
        identify = request.route_handler.opt.get(PER_KEY)
        who = await identify(request) if identify else None
        if who:
            return f"{who}::{name}"
        return f"{self.cache_key_from_request(request)}::{name}"

    def _maximum(self, request: Request[Any, Any, Any]) -> int:
        """The requests a minute the handler's bucket allows (0: no limit)."""
        if request.route_handler.opt.get(PER_KEY):
            return int(request.app.state.settings.reseller_rate_limit)
        return int(request.app.state.settings.booking_rate_limit)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        app = scope["litestar_app"]
        request: Request[Any, Any, Any] = app.request_class(scope)
        maximum = self._maximum(request) if request.route_handler.opt.get(OPTION) else 0
        if maximum <= 0 or not await self.should_check_request(request=request):
            await self.app(scope, receive, send)
            return
        store = self.config.get_store_from_app(app)
        key = await self._bucket_of(request)
        async with self._lock:
            cache_object = await self.retrieve_cached_history(key, store)
            over = len(cache_object.history) >= maximum
            if not over:
                await self.set_cached_history(key=key, cache_object=cache_object, store=store)
        forgiving = bool(request.route_handler.opt.get(FORGIVING))
        if over:
            if not request.route_handler.opt.get(KEEPS_FORM):
                raise TooManyRequestsException(
                    headers=self.create_response_headers(cache_object=cache_object)
                )
            scope.setdefault("state", {})[_OVER] = True  # type: ignore[typeddict-item]
            await self.app(scope, receive, send)
            return
        status: dict[str, int] = {}

        async def noting_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        await self.app(scope, receive, noting_status)
        if forgiving and status.get("code") == HTTP_422_UNPROCESSABLE_ENTITY:
            await self._give_back(key, store)

    async def _give_back(self, key: str, store: Any) -> None:
        """A mistake to correct: the request's place in the bucket is given back."""
        async with self._lock:
            cache_object = await self.retrieve_cached_history(key, store)
            if cache_object.history:
                cache_object.history = cache_object.history[1:]  # the newest is this one's
                expires = DURATION_VALUES[self.unit]
                await store.set(key, encode_json(cache_object), expires_in=expires)
