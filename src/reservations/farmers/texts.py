"""Which language a provider reads (its calendar feed and morning email)."""

from __future__ import annotations

from reservations import i18n


def provider_locale(languages: list[str] | None, requested: str | None = None) -> str:
    """``requested`` if the site has it, else the first of the provider's languages that it
    has, else French."""
    for code in [requested, *(languages or [])]:
        found = i18n.supported(code)
        if found:
            return found
    return i18n.DEFAULT_LOCALE
