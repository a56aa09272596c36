"""The application factory: one Litestar app over one ``Database``."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from litestar import Litestar, Request, Router
from litestar.config.cors import CORSConfig
from litestar.config.csrf import CSRFConfig
from litestar.datastructures import State
from litestar.di import Provide
from litestar.exceptions import HTTPException, NotAuthorizedException, NotFoundException
from litestar.logging import LoggingConfig
from litestar.middleware.rate_limit import RateLimitConfig
from litestar.openapi import OpenAPIConfig
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from reservations import __version__, farmers, staff
from reservations.api import octo
from reservations.api.availability import AvailabilityController
from reservations.api.bookings import BookingController
from reservations.api.octo import errors as octo_errors
from reservations.api.openapi import CompletedJsonRenderPlugin, OfflineRedocRenderPlugin
from reservations.api.problems import EXCEPTION_HANDLERS
from reservations.api.stripe_webhook import StripeWebhookController
from reservations.base.infra import log_masking
from reservations.base.infra.db import Database
from reservations.base.infra.stripe_gateway import gateway_for
from reservations.base.reads.freshness import AnswerCache
from reservations.base.rules.booking import BookingPolicy
from reservations.base.rules.payments import BookingDesk, PaymentSettings
from reservations.scheduler import Scheduler
from reservations.settings import Settings
from reservations.staff import auth as staff_auth
from reservations.visitors import router as visitors_router
from reservations.web import inputs
from reservations.web.client_address import believe_trusted_proxies, parse_networks
from reservations.web.error_pages import by_audience
from reservations.web.rate_limit import ForgivingRateLimitMiddleware
from reservations.web.security_headers import security_headers
from reservations.web.static import static_router
from reservations.web.templating import make_environment, template_config

logger = logging.getLogger(__name__)


def app_wide(values: dict[str, Any]) -> dict[str, Provide]:
    """The app's long-lived values as dependencies that cost nothing per request: a provider
    without parameters (one taking ``state`` has Litestar build and check a ``State`` at every
    request), its value cached after the first call."""

    def constant(value: Any) -> Callable[[], Any]:
        return lambda: value

    return {
        name: Provide(constant(value), sync_to_thread=False, use_cache=True)
        for name, value in values.items()
    }


def _rate_limit(settings: Settings) -> RateLimitConfig | None:
    """Per-client limit on the handlers marked ``rate_limited`` (booking, cancelling, the staff
    login), per key on the resellers' API, one bucket per kind (``web/rate_limit.py``, which
    reads each bucket's limit from the settings)."""
    limits = (settings.booking_rate_limit, settings.reseller_rate_limit)
    if max(limits) <= 0:
        return None

    async def only_marked_handlers(request: Request[Any, Any, Any]) -> bool:
        return bool(request.route_handler.opt.get("rate_limited"))

    return RateLimitConfig(
        rate_limit=("minute", max(limits)),
        check_throttle_handler=only_marked_handlers,
        middleware_class=ForgivingRateLimitMiddleware,
        set_rate_limit_headers=False,
    )


def _csrf(settings: Settings) -> CSRFConfig:
    """Every form of the site carries a token; the JSON API takes no cookies, so it needs none."""
    return CSRFConfig(
        secret=settings.secret_key,
        cookie_name="csrftoken",
        cookie_secure=settings.public_url.startswith("https://"),
        cookie_httponly=True,
        cookie_samesite="lax",
        # No forms there, so no cookie: the API, the embed and kiosk pages, calendar feeds.
        # Stripe's webhook is signed by Stripe instead.
        exclude=[
            "^/api/",
            "^/schema",
            "^/embed",
            "^/kiosk",
            r"\.ics$",
            "^/payments/stripe/webhook",
            "^/octo",  # resellers send their key, no cookie
        ],
    )


def answer_head_as_get(app: ASGIApp) -> ASGIApp:
    """HEAD on every GET address (RFC 9110: same status and headers, no body). Litestar 2 routes
    HEAD only to handlers declared for it (``@head`` must return no body) and answers 405
    elsewhere, so HEAD runs here as the GET of the same address, before routing, and the body
    is dropped on the way out."""

    async def asgi(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await app(scope, receive, send)
            return

        async def headers_only(message: Message) -> None:
            if message["type"] != "http.response.body":
                await send(message)
            elif not message.get("more_body", False):
                await send({"type": "http.response.body", "body": b"", "more_body": False})

        await app({**scope, "method": "GET"}, receive, headers_only)  # type: ignore[typeddict-item]

    return asgi


def _exception_handlers() -> dict[Any, Any]:
    """Problem details under /api and /schema, friendly pages in the reader's language elsewhere,
    and the back office's login page for a staff page asked without a session."""
    handlers = by_audience(EXCEPTION_HANDLERS)
    handlers[NotAuthorizedException] = staff_auth.login_redirect(handlers[HTTPException])
    return octo_errors.under_octo(handlers)


async def no_id_beyond_the_database(request: Request[Any, Any, Any]) -> None:
    """A whole number in a path (``/visits/{slot_id:int}``...) beyond the columns' range names
    nothing: a 404 like any unknown record, before a query PostgreSQL would refuse."""
    for value in request.path_params.values():
        if isinstance(value, int) and not 0 <= value <= inputs.MAX_INTEGER:
            raise NotFoundException()


def create_app(settings: Settings | None = None, *, database: Database | None = None) -> Litestar:
    settings = settings or Settings.from_env()
    db = database or Database(
        settings.database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout_seconds=settings.db_pool_timeout_seconds,
    )
    policy = BookingPolicy(secret_key=settings.secret_key, max_party_size=settings.max_party_size)

    scheduler = Scheduler(db, settings)

    async def start_scheduler() -> None:
        scheduler.start()

    async def stop_scheduler() -> None:
        await scheduler.stop()

    sandbox = octo.Sandbox(settings.octo_sandbox_dir)

    async def close_database() -> None:
        await sandbox.close()
        if database is None:  # the caller owns a database it passed in
            await db.dispose()

    api = Router(path="/api/v1", route_handlers=[AvailabilityController, BookingController])
    rate_limit = _rate_limit(settings)
    jinja = make_environment()
    payment_settings = PaymentSettings(
        online=settings.payments_online,
        hold_minutes=settings.payment_hold_minutes,
        public_url=settings.public_url,
    )
    stripe_gateway = gateway_for(settings)
    shared = {
        "db": db,
        "booking_policy": policy,
        "settings": settings,
        "jinja": jinja,
        "stripe_gateway": stripe_gateway,
        "payment_settings": payment_settings,
        "booking_desk": BookingDesk(db, policy, payment_settings, stripe_gateway),
        "public_answers": AnswerCache(settings.public_cache_entries),
    }
    app = Litestar(
        route_handlers=[
            api,
            octo.router(),
            visitors_router(),
            farmers.router(),
            staff.router(settings),
            static_router(),
            StripeWebhookController,
        ],
        state=State({**shared, "scheduler": scheduler, "octo_sandbox": sandbox}),
        dependencies=app_wide(shared),
        # Problem details under /api and /schema; friendly pages in the visitor's language
        # everywhere else.
        exception_handlers=_exception_handlers(),  # type: ignore[arg-type]
        middleware=[rate_limit.middleware] if rate_limit else [],
        template_config=template_config(jinja),
        csrf_config=_csrf(settings),
        # The programme, the embed and the kiosk are gzipped once, when kept rendered
        # (web.page_cache); no other answer is compressed here (BREACH: pages with a form's
        # secret; pictures and fonts are packed already). A reverse proxy may compress more.
        cors_config=CORSConfig(allow_origins=list(settings.cors_origins), allow_methods=["GET"])
        if settings.cors_origins
        else None,
        openapi_config=OpenAPIConfig(
            title="reservations",
            version=__version__,
            description=(
                "Farm visits and animations of a rural tourism office: availability and bookings."
            ),
            path="/schema",
            render_plugins=[
                OfflineRedocRenderPlugin(),
                CompletedJsonRenderPlugin(settings.max_party_size),
            ],
        ),
        logging_config=LoggingConfig(
            root={"level": "INFO", "handlers": ["queue_listener"]},
            log_exceptions="never",  # unexpected errors are logged once, by the 500 handler
        ),
        before_request=no_id_beyond_the_database,
        on_startup=[start_scheduler],
        # The due work finishes its run before the database closes.
        on_shutdown=[stop_scheduler, close_database],
        debug=False,
    )
    log_masking.install()  # Litestar's handlers, now configured: no live link in a log line
    # Around the router (the ``middleware`` list runs after it): HEAD must be GET when routed,
    # and every answer, 404s included, gets the security headers.
    app.asgi_handler = security_headers(answer_head_as_get(app.asgi_handler), settings)
    # Outermost: the rate limit, the login throttle and the access log read the address it sets.
    app.asgi_handler = believe_trusted_proxies(
        app.asgi_handler, parse_networks(settings.trusted_proxies)
    )
    return app
