"""Security headers on every response, error pages and HEAD included: one ASGI wrapper around the
whole application, so no route, error handler or static file can miss them.

- A Content-Security-Policy without ``'unsafe-inline'``: the pages have no script and take their
  styles from ``/static`` (no ``<style>`` element, no ``style=`` attribute), so anything injected
  into a page is not run. Framing is refused everywhere except ``/embed``, which the origins of
  ``RESERVATIONS_CORS_ORIGINS`` (or any site, with none configured) may frame.
- With Stripe configured, the booking and manage pages may also send their forms on to Stripe's
  checkout (``form-action``): Chromium applies ``form-action`` to the redirects that follow a
  POST, and booking a paid visit, or "pay now", answers with a redirect to the checkout.
- ``Referrer-Policy: same-origin``: manage, waiting-list and farm links carry their secret in the
  path; no other site ever sees it in a Referer (those pages send ``no-referrer`` themselves).
- ``Cache-Control: no-store`` on what shows personal data or secrets (farm day sheets, manage and
  waiting-list pages, the back office, the booking API, answers to a form), unless the response
  chose its own (static files, calendar feeds and their ``ETag``/304 keep theirs).
- HSTS only when the site is public over https.

A header a response sets itself wins: a route that needs a stricter value says so where it is.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from litestar.types import ASGIApp, Message, Receive, Scope, Send

from reservations.settings import Settings

#: The pages' policy; ``{frame_ancestors}`` is filled per audience.
PAGE_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; font-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action {form_action}; "
    "frame-ancestors {frame_ancestors}"
)
#: The API's documentation (Redoc, under /schema, from the app's own files) styles itself at
#: run time and searches in a worker it makes from a blob. It shows no personal data and takes
#: no input; nothing comes from another origin.
DOCS_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "font-src 'self' data:; img-src 'self' data:; worker-src 'self' blob:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
#: No page needs a device or a payment API.
PERMISSIONS_POLICY = "camera=(), microphone=(), geolocation=(), payment=(), usb=()"
HSTS = "max-age=31536000"

EMBED = "/embed"
DOCS = "/schema"
#: Paths whose answers show a visitor's or a farm's data, or a secret link: never stored.
PRIVATE = ("/farm", "/manage", "/move", "/waitlist", "/staff", "/api/v1/bookings", "/payments")
#: Pages whose forms are answered with a redirect to Stripe's checkout (book, pay now).
TO_CHECKOUT = ("/visits", "/manage")
#: Stripe's API and its hosted checkout pages live on two origins.
STRIPE_API = "api.stripe.com"
STRIPE_CHECKOUT = "https://checkout.stripe.com"
SAFE_METHODS = frozenset({"GET", "HEAD"})


def frame_ancestors(settings: Settings) -> str:
    """Who may frame ``/embed``: the office's origins; with none configured, anyone (it is
    public, read-only content)."""
    return " ".join(("'self'", *settings.cors_origins)) if settings.cors_origins else "*"


def checkout_origin(settings: Settings) -> str | None:
    """The origin of Stripe's checkout pages, where a booking's form may be sent on to; None
    without Stripe. Stripe's own API: checkout.stripe.com; another API base (the tests' fake
    Stripe) serves its checkout pages itself."""
    if not settings.payments_online:
        return None
    parts = urlsplit(settings.stripe_api_base)
    if parts.hostname == STRIPE_API:
        return STRIPE_CHECKOUT
    return f"{parts.scheme}://{parts.netloc}"


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + "/")


def is_private(path: str, method: str) -> bool:
    """Personal data or a secret: the back office, the farms' and visitors' private links, the
    booking API, and any answer to a form (it may repeat what was typed)."""
    return method not in SAFE_METHODS or any(_under(path, prefix) for prefix in PRIVATE)


class SecurityHeaders:
    """The headers of one response, chosen from its path and method."""

    def __init__(self, settings: Settings) -> None:
        common = [
            ("x-content-type-options", "nosniff"),
            ("referrer-policy", "same-origin"),
            ("permissions-policy", PERMISSIONS_POLICY),
        ]
        if settings.public_url.startswith("https://"):
            common.append(("strict-transport-security", HSTS))
        self._common = [(name.encode(), value.encode()) for name, value in common]
        self._page = (
            b"content-security-policy",
            PAGE_POLICY.format(form_action="'self'", frame_ancestors="'none'").encode(),
        )
        checkout = checkout_origin(settings)
        self._to_checkout = (
            (
                b"content-security-policy",
                PAGE_POLICY.format(
                    form_action=f"'self' {checkout}", frame_ancestors="'none'"
                ).encode(),
            )
            if checkout
            else self._page
        )
        self._embed = (
            b"content-security-policy",
            PAGE_POLICY.format(
                form_action="'self'", frame_ancestors=frame_ancestors(settings)
            ).encode(),
        )
        self._docs = (b"content-security-policy", DOCS_POLICY.encode())

    def for_request(self, path: str, method: str) -> list[tuple[bytes, bytes]]:
        headers = list(self._common)
        if _under(path, EMBED):
            headers.append(self._embed)  # framed by other sites: no X-Frame-Options
        else:
            if _under(path, DOCS):
                headers.append(self._docs)
            elif any(_under(path, prefix) for prefix in TO_CHECKOUT):
                headers.append(self._to_checkout)
            else:
                headers.append(self._page)
            headers.append((b"x-frame-options", b"DENY"))
        if is_private(path, method):
            headers.append((b"cache-control", b"no-store"))
        return headers


def _added(
    existing: Iterable[tuple[bytes, bytes]], defaults: list[tuple[bytes, bytes]]
) -> list[tuple[bytes, bytes]]:
    """The response's headers, then each default it does not set itself."""
    headers = list(existing)
    present = {name.lower() for name, _ in headers}
    return headers + [(name, value) for name, value in defaults if name not in present]


def security_headers(app: ASGIApp, settings: Settings) -> ASGIApp:
    """Wrap the application (outside the router, so 404s and 405s get the headers too)."""
    chosen = SecurityHeaders(settings)

    async def asgi(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        defaults = chosen.for_request(scope["path"], str(scope.get("method", "GET")))

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = _added(message.get("headers", ()), defaults)
                message = {**message, "headers": headers}  # type: ignore[typeddict-item]
            await send(message)

        await app(scope, receive, with_headers)

    return asgi
