"""Secrets handed to people (manage links) and the short references read out on the phone.

A token is 256 random bits, shown once and stored only as its SHA-256. A booking made with an
Idempotency-Key gets a token derived from the server's secret key and that request instead, so
that a retry can be answered with the same token without the token ever being stored.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

#: Crockford's base32 without look-alikes (no I, L, O, U): easy to read out on the phone.
_REFERENCE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_token() -> str:
    return secrets.token_urlsafe(32)


def derived_token(secret_key: str, *parts: str) -> str:
    message = "\x00".join(("manage-token", *parts)).encode()
    digest = hmac.new(secret_key.encode(), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def digest(value: str) -> str:
    """The stored form of a token or key: its SHA-256, hex."""
    return hashlib.sha256(value.encode()).hexdigest()


def new_reference() -> str:
    """8 characters (40 bits) in two groups, e.g. ``K7QM-42ZD``; the database keeps them unique."""
    bits = secrets.randbits(40)  # 8 characters of 5 bits each, one call to the OS's source
    chars = "".join(_REFERENCE_ALPHABET[(bits >> shift) & 31] for shift in range(35, -1, -5))
    return f"{chars[:4]}-{chars[4:]}"
