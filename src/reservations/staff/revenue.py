"""The "Revenue" section of ``/staff/reports``: ``revenue.revenue_report``'s figures named and
formatted in the reader's language (amounts by Babel in euros, ``i18n.money``), and its CSV
table (``/staff/reports/revenue.csv``, amounts in cents as the CLI writes them)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reservations import i18n
from reservations.base.models import Channel, PaymentMethod
from reservations.base.reads import revenue
from reservations.i18n import N_
from reservations.notices import words

#: The CSV table's name under ``/staff/reports/``.
TABLE = "revenue"
#: How a payment was made, in the report's tables.
PAYMENT_METHOD_IN_REPORT = {
    PaymentMethod.STRIPE: N_("Online card payment (Stripe)"),
    PaymentMethod.CASH: N_("Cash"),
    PaymentMethod.CHEQUE: N_("Cheque"),
    PaymentMethod.CARD_TERMINAL: N_("Card terminal"),
    PaymentMethod.ON_SITE: N_("Paid on site"),
}


def revenue_context(figures: Mapping[str, Any]) -> dict[str, Any]:
    """What the section shows: the totals, the paid amounts by method, and both groupings as
    (label, metrics) rows."""
    return {
        "revenue": figures,
        "revenue_methods": [
            (i18n.gettext(label), figures["revenue_by_method"][method.value])
            for method, label in PAYMENT_METHOD_IN_REPORT.items()
        ],
        "revenue_channels": [
            (words.label(words.CHANNEL_IN_REPORT, Channel(key)), m)
            for key, m in figures["by_channel"].items()
        ],
        "revenue_providers": list(figures["by_provider"].items()),
        "money": i18n.money,
    }


def revenue_csv(figures: Mapping[str, Any]) -> str:
    return revenue.revenue_as_csv(figures)
