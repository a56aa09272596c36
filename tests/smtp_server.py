"""A real SMTP server on loopback (aiosmtpd) that keeps what it receives, for tests that read the
mail a visitor gets. ``with smtp_server() as server:`` always stops it."""

from __future__ import annotations

import email
import email.policy
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope

from reservations.settings import Settings

HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


@dataclass
class Collector:
    """An aiosmtpd handler keeping every envelope it accepts."""

    envelopes: list[Envelope] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Envelope) -> str:
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"

    def messages(self) -> list[EmailMessage]:
        return [
            email.message_from_bytes(
                e.original_content or e.content,  # type: ignore[arg-type]
                policy=email.policy.default,
            )  # type: ignore[misc]
            for e in self.envelopes
        ]


@dataclass
class SmtpServer:
    port: int
    handler: Collector

    def environment(self) -> dict[str, str]:
        """What a server process needs to send its mail here."""
        return {
            "RESERVATIONS_SMTP_HOST": HOST,
            "RESERVATIONS_SMTP_PORT": str(self.port),
            "RESERVATIONS_SMTP_STARTTLS": "0",
        }

    def settings(self, **changes: object) -> Settings:
        """The same, for sending in-process, with the tests' secret key (``live_server``'s and
        ``site_settings``'): the SMTP transport opens the outbox's sealed links with it."""
        options: dict[str, object] = {
            "smtp_host": HOST,
            "smtp_port": self.port,
            "smtp_starttls": False,
            "secret_key": "test",
        }
        return Settings(**{**options, **changes})  # type: ignore[arg-type]


@contextmanager
def smtp_server() -> Iterator[SmtpServer]:
    handler = Collector()
    controller = Controller(handler, hostname=HOST, port=free_port())
    controller.start()
    try:
        yield SmtpServer(controller.port, handler)
    finally:
        controller.stop()
