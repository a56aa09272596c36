"""What the back office's payment handlers need from the settings: the payment settings the
domain takes (``payments.PaymentSettings``) and the Stripe gateway. Without Stripe configured,
paid visits are paid at the counter or on site, and the pages offer no payment link."""

from __future__ import annotations

from reservations.base.infra.stripe_gateway import StripeGateway, gateway_for
from reservations.base.rules.payments import PaymentSettings
from reservations.settings import Settings


def payment_settings(settings: Settings) -> PaymentSettings:
    return PaymentSettings(
        online=settings.payments_online,
        hold_minutes=settings.payment_hold_minutes,
        public_url=settings.public_url,
    )


def gateway(settings: Settings) -> StripeGateway:
    """The Stripe gateway; only asked for with Stripe configured (``payments_online``: the
    pages offer no payment link nor online refund without it)."""
    found = gateway_for(settings)
    if found is None:
        raise RuntimeError("Stripe is not configured (RESERVATIONS_STRIPE_SECRET_KEY)")
    return found
