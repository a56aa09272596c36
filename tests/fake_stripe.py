"""A small fake of Stripe's API on loopback, for the tests and the demo: nothing touches the
network, and the real ``stripe`` library talks to it (``RESERVATIONS_STRIPE_API_BASE``).

No maintained fake fits offline: stripe-mock is a Go binary downloaded from GitHub (no network
here) and answers fixed fixtures without state, so a paid session never becomes paid;
localstripe (PyPI) is unmaintained since 2021 and has no Checkout Sessions. This one keeps the
few objects we use, with state:

- ``POST /v1/checkout/sessions``, ``GET /v1/checkout/sessions/{id}``,
  ``POST /v1/checkout/sessions/{id}/expire``, ``POST /v1/refunds``: form-encoded requests as
  the library sends them, Stripe's JSON objects and error shapes back, ``Idempotency-Key`` as
  Stripe treats it (the same key and parameters: the first answer again, nothing created; the
  same key with other parameters: ``idempotency_error``);
- a hosted checkout page, ``GET /pay/{id}``, whose "Pay" button completes the session, sends
  the signed ``checkout.session.completed`` event to ``webhook_url`` (signed as Stripe signs:
  ``t=<unix time>,v1=<HMAC-SHA256 of "t.payload" under the endpoint's secret>``) and sends the
  browser on to ``success_url``;
- error injection: ``fail_next(path, times, status)`` answers Stripe's 5xx error; ``down``
  drops every connection without an answer.

Run alone for the demo: ``python -m tests.fake_stripe --port 12111 --webhook-url
http://127.0.0.1:8000/payments/stripe/webhook`` (it prints the settings to use).
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import html
import itertools
import json
import secrets
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

TEST_SECRET_KEY = "sk_test_fake"
TEST_WEBHOOK_SECRET = "whsec_test_fake"
API_VERSION = "2025-09-30.clover"
_numbers = itertools.count(1)


def sign(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """The ``Stripe-Signature`` header Stripe sends with ``payload``."""
    stamp = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{stamp}.".encode() + payload, hashlib.sha256)
    return f"t={stamp},v1={mac.hexdigest()}"


def _id(prefix: str) -> str:
    return f"{prefix}_test_{next(_numbers):04d}{secrets.token_hex(8)}"


def _nested(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """``line_items[0][price_data][currency]=eur`` and the like, as nested dicts and lists."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        parts = key.replace("]", "").split("[")
        node: Any = root
        for part, following in zip(parts, parts[1:], strict=False):
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return _lists(root)


def _lists(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    if node and all(key.isdigit() for key in node):
        return [_lists(node[key]) for key in sorted(node, key=int)]
    return {key: _lists(value) for key, value in node.items()}


@dataclass
class Failure:
    path: str
    times: int
    status: int


@dataclass
class FakeStripe:
    """The fake's state, shared by its handler threads (under ``lock``)."""

    webhook_url: str | None = None
    webhook_secret: str = TEST_WEBHOOK_SECRET
    secret_key: str = TEST_SECRET_KEY
    base_url: str = ""
    down: bool = False
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    refunds: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Every API request: (method, path, idempotency key or None, params).
    requests: list[tuple[str, str, str | None, dict[str, Any]]] = field(default_factory=list)
    #: Events delivered to the webhook: (event, HTTP status answered).
    delivered: list[tuple[dict[str, Any], int]] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    _idempotent: dict[str, tuple[str, int, dict[str, Any]]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    # --- what the tests use ---------------------------------------------------------------

    def fail_next(self, path: str, times: int = 1, status: int = 503) -> None:
        """The next ``times`` API requests whose path starts with ``path`` fail with ``status``."""
        with self.lock:
            self.failures.append(Failure(path, times, status))

    def event(self, kind: str, obj: dict[str, Any], *, event_id: str | None = None) -> dict:
        return {
            "id": event_id or _id("evt"),
            "object": "event",
            "api_version": API_VERSION,
            "created": int(time.time()),
            "livemode": False,
            "pending_webhooks": 1,
            "type": kind,
            "data": {"object": obj},
        }

    def signed(self, event: dict[str, Any], *, timestamp: int | None = None) -> tuple[bytes, str]:
        """The body and ``Stripe-Signature`` header of a delivery of ``event``."""
        payload = json.dumps(event).encode()
        return payload, sign(payload, self.webhook_secret, timestamp)

    def send_event(self, event: dict[str, Any]) -> int:
        """Deliver ``event`` to ``webhook_url`` as Stripe does; the status answered."""
        assert self.webhook_url, "no webhook_url to deliver to"
        payload, signature = self.signed(event)
        request = urllib.request.Request(
            self.webhook_url,
            data=payload,
            method="POST",
            headers={"Content-Type": "application/json", "Stripe-Signature": signature},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310 - loopback
                status = answer.status
        except urllib.error.HTTPError as refused:
            status = refused.code
        self.delivered.append((event, status))
        return status

    def pay(self, session_id: str, *, deliver: bool = True) -> dict[str, Any]:
        """The visitor pays on the hosted page: the session completes; its event is delivered
        to ``webhook_url`` when there is one and ``deliver``. The event is returned."""
        with self.lock:
            session = self.sessions[session_id]
            if session["status"] == "open":
                session.update(status="complete", payment_status="paid", payment_intent=_id("pi"))
                session["amount_refunded"] = 0
            completed = self.event("checkout.session.completed", json.loads(json.dumps(session)))
        if deliver and self.webhook_url:
            self.send_event(completed)
        return completed

    def session_by_reference(self, reference: str) -> dict[str, Any]:
        return next(s for s in self.sessions.values() if s["client_reference_id"] == reference)

    # --- the API --------------------------------------------------------------------------

    def answer(
        self, method: str, path: str, key: str | None, params: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        with self.lock:
            self.requests.append((method, path, key, params))
            for failure in self.failures:
                if failure.times > 0 and path.startswith(failure.path):
                    failure.times -= 1
                    return failure.status, _error("api_error", "Injected failure.")
            if key is not None and method == "POST":
                fingerprint = json.dumps([path, params], sort_keys=True)
                if key in self._idempotent:
                    earlier, status, body = self._idempotent[key]
                    if earlier != fingerprint:
                        return 400, _error(
                            "idempotency_error",
                            "Keys for idempotent requests can only be used with the same "
                            "parameters they were first used with.",
                        )
                    return status, body
            status, body = self._route(method, path, params)
            if key is not None and method == "POST":
                self._idempotent[key] = (fingerprint, status, body)
            return status, body

    def _route(self, method: str, path: str, params: dict[str, Any]) -> tuple[int, dict]:
        parts = path.strip("/").split("/")
        if parts[:3] == ["v1", "checkout", "sessions"]:
            if len(parts) == 3 and method == "POST":
                return self._create_session(params)
            session = self.sessions.get(parts[3]) if len(parts) > 3 else None
            if session is None:
                return 404, _error("invalid_request_error", "No such checkout.session")
            if len(parts) == 4 and method == "GET":
                return 200, session
            if parts[4:] == ["expire"] and method == "POST":
                if session["status"] != "open":
                    return 400, _error(
                        "invalid_request_error", "Only open sessions can be expired."
                    )
                session.update(status="expired", url=None)
                return 200, session
        if parts == ["v1", "refunds"] and method == "POST":
            return self._refund(params)
        return 404, _error("invalid_request_error", f"Unrecognized request URL ({path}).")

    def _create_session(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        lines = params.get("line_items") or []
        try:
            total = sum(
                int(line["quantity"]) * int(line["price_data"]["unit_amount"]) for line in lines
            )
            currency = lines[0]["price_data"]["currency"]
        except (KeyError, IndexError, ValueError, TypeError):
            return 400, _error("invalid_request_error", "Invalid line_items.")
        session_id = _id("cs")
        now = int(time.time())
        session = {
            "id": session_id,
            "object": "checkout.session",
            "mode": params.get("mode", "payment"),
            "status": "open",
            "payment_status": "unpaid",
            "amount_total": total,
            "currency": currency,
            "customer_email": params.get("customer_email"),
            "client_reference_id": params.get("client_reference_id"),
            "locale": params.get("locale"),
            "metadata": params.get("metadata") or {},
            "line_items": lines,
            "success_url": params.get("success_url"),
            "cancel_url": params.get("cancel_url"),
            "created": now,
            "expires_at": int(params.get("expires_at") or now + 24 * 3600),
            "payment_intent": None,
            "livemode": False,
            "url": f"{self.base_url}/pay/{session_id}",
        }
        self.sessions[session_id] = session
        return 200, session

    def _refund(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        intent = params.get("payment_intent")
        paid = next(
            (s for s in self.sessions.values() if intent and s["payment_intent"] == intent), None
        )
        if paid is None:
            return 404, _error("invalid_request_error", f"No such payment_intent: '{intent}'")
        amount = int(params.get("amount") or paid["amount_total"] - paid["amount_refunded"])
        if amount <= 0 or amount > paid["amount_total"] - paid["amount_refunded"]:
            return 400, _error(
                "invalid_request_error",
                f"Refund amount ({amount}) is greater than unrefunded amount on charge.",
            )
        paid["amount_refunded"] += amount
        refund = {
            "id": _id("re"),
            "object": "refund",
            "amount": amount,
            "currency": paid["currency"],
            "payment_intent": intent,
            "status": "succeeded",
            "metadata": params.get("metadata") or {},
            "created": int(time.time()),
        }
        self.refunds[refund["id"]] = refund
        return 200, refund


def _error(kind: str, message: str) -> dict[str, Any]:
    return {"error": {"type": kind, "message": message}}


class _Handler(BaseHTTPRequestHandler):
    fake: FakeStripe  # set on the server's handler class

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    def _drop_if_down(self) -> bool:
        if self.fake.down:
            self.close_connection = True
            self.connection.close()
            return True
        return False

    def _params(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else urlsplit(self.path).query
        return _nested(parse_qsl(body, keep_blank_values=True))

    def _send(self, status: int, body: bytes, content_type: str, **headers: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _api(self, method: str) -> None:
        if self._drop_if_down():
            return
        path = urlsplit(self.path).path
        if path.startswith("/pay/"):
            self._checkout_page(method, path.removeprefix("/pay/"))
            return
        if self.headers.get("Authorization") != f"Bearer {self.fake.secret_key}":
            status, answer = 401, _error("invalid_request_error", "Invalid API Key provided.")
        else:
            status, answer = self.fake.answer(
                method, path, self.headers.get("Idempotency-Key"), self._params()
            )
        self._send(status, json.dumps(answer).encode(), "application/json")

    def _checkout_page(self, method: str, session_id: str) -> None:
        session = self.fake.sessions.get(session_id)
        if session is None:
            self._send(404, b"no such checkout", "text/plain")
            return
        if method == "POST":
            self.fake.pay(session_id)
            target = str(session["success_url"]).replace("{CHECKOUT_SESSION_ID}", session_id)
            self._send(303, b"", "text/plain", Location=target)
            return
        euros = f"{session['amount_total'] / 100:.2f} {str(session['currency']).upper()}"
        cancel = html.escape(
            str(session["cancel_url"]).replace("{CHECKOUT_SESSION_ID}", session_id)
        )
        page = (
            "<!doctype html><html lang=en><meta charset=utf-8><title>Fake Stripe checkout</title>"
            f"<h1>Pay {html.escape(euros)}</h1><p>Session {html.escape(session_id)}: "
            f"{html.escape(session['status'])}</p>"
            f"<form method=post action='/pay/{html.escape(session_id)}'>"
            "<button id=pay type=submit>Pay</button></form>"
            f"<p><a id=cancel href='{cancel}'>Cancel</a></p></html>"
        )
        self._send(200, page.encode(), "text/html; charset=utf-8")

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self._api("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._api("POST")

    def do_DELETE(self) -> None:  # noqa: N802
        self._api("DELETE")


class RunningFake:
    """The fake serving on 127.0.0.1 in a thread: ``with RunningFake() as fake: ...``."""

    def __init__(self, port: int = 0, **options: Any) -> None:
        self.fake = FakeStripe(**options)
        handler = type("Handler", (_Handler,), {"fake": self.fake})
        self.server = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self.server.daemon_threads = True
        self.fake.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeStripe:
        self._thread.start()
        return self.fake

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def main() -> None:
    parser = argparse.ArgumentParser(description="A fake Stripe API on loopback")
    parser.add_argument("--port", type=int, default=12111)
    parser.add_argument("--webhook-url", default="http://127.0.0.1:8000/payments/stripe/webhook")
    options = parser.parse_args()
    with RunningFake(options.port, webhook_url=options.webhook_url) as fake:
        print("Fake Stripe on", fake.base_url, "- run the site with:")
        print(f"  RESERVATIONS_STRIPE_API_BASE={fake.base_url}")
        print(f"  RESERVATIONS_STRIPE_SECRET_KEY={TEST_SECRET_KEY}")
        print(f"  RESERVATIONS_STRIPE_WEBHOOK_SECRET={TEST_WEBHOOK_SECRET}")
        print("Events go to", fake.webhook_url, flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
