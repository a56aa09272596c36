"""The one gate of the farmers' pages: the secret in the path names the provider, and every
handler receives that provider (``farm``) and nothing else to scope its reads and writes."""

from __future__ import annotations

from litestar.di import NamedDependency
from litestar.params import FromPath

from reservations.base.errors import UnknownLink
from reservations.base.infra.db import Database
from reservations.base.rules.provider_links import ProviderRef, provider_for_token

#: Private pages: no search engine, no Referer leaking the secret, no shared cache.
PRIVATE_HEADERS = {
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
}


async def provide_farm(secret: FromPath[str], db: NamedDependency[Database]) -> ProviderRef:
    """The provider of this link; an unknown or rotated link is a 404 that tells the farmer to
    ask the office (and not whether the link ever existed)."""
    provider = await provider_for_token(db, secret)
    if provider is None:
        raise UnknownLink()
    return provider
