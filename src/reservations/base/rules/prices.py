"""What a party pays for a visit: the one price computation (checkout lines, amounts due,
the check of what Stripe says was paid). Money is in integer euro cents."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PriceLine:
    #: "adult" or "child": the category, worded by the caller in the visitor's language.
    category: str
    quantity: int
    unit_cents: int

    @property
    def total_cents(self) -> int:
        return self.quantity * self.unit_cents


@dataclass(frozen=True)
class Price:
    lines: tuple[PriceLine, ...]

    @property
    def total_cents(self) -> int:
        return sum(line.total_cents for line in self.lines)

    @property
    def is_free(self) -> bool:
        return self.total_cents == 0


def price_of(adults: int, children: int, *, adult_cents: int, child_cents: int) -> Price:
    """The price of a party at an activity's prices: one line per category with people in
    it (a free category still shows, at 0, so that a checkout lists everyone)."""
    lines = [
        PriceLine("adult", adults, adult_cents),
        PriceLine("child", children, child_cents),
    ]
    return Price(tuple(line for line in lines if line.quantity > 0))
