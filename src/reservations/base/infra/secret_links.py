"""Live links kept out of the outbox: the secrets in an email are swapped for placeholders when it
is queued, kept sealed beside it, and put back only on the way to the mail server.

A manage, waiting-list, farm or move-invitation link carries a secret in its path (``SECRET_IN_PATH``; the
builders are in ``web.links``), and only its hash is in its own table. So that the outbox does
not undo that, ``hide`` replaces each such secret in a message's texts and attachments with a
placeholder of the same length (``[secret-0......]``: an .ics keeps its line folds) and
``seal`` encrypts the secrets (AES-GCM, a key derived from ``RESERVATIONS_SECRET_KEY`` with
HKDF, the message's dedup key as associated data). ``reveal`` is the inverse, at send time.

Why seal rather than drop: a message is sent at least once, by another process (``tick``), and
after a crash or a refused connection it is sent again; each attempt must carry the link the
visitor needs (a claim link exists nowhere else). The sealed secrets are deleted once the message
is sent or abandoned; the placeholders stay, so what was sent can still be read. The catch: the
server and ``tick`` must share the same secret key, the rule already for sessions and idempotent
retries; a message sealed under another key fails with ``SealedUnderAnotherKey`` (retried, then
abandoned), never goes out with a dead link.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
from collections.abc import Callable, Iterable, Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

#: The addresses whose next path segment is a secret: a booking's manage page, a waiting-list
#: entry (and its claim), a farm's private pages and feed, an invitation to move a booking.
SECRET_PREFIXES = ("/manage/", "/waitlist/", "/farm/", "/move/")
#: A secret in a path: the characters of ``tokens.new_token`` (URL-safe base64), 16 or more of
#: them (every secret we issue has 43), so ``/waitlist/join/3`` is left alone.
SECRET_IN_PATH = re.compile(
    r"(?P<prefix>/(?:manage|waitlist|farm|move)/)(?P<secret>[A-Za-z0-9_-]{16,})(?![A-Za-z0-9_-])"
)
PLACEHOLDER = re.compile(r"\[secret-(?P<index>\d+)\.*\]")
_VERSION = "v1"
_INFO = b"reservations outbox links v1"
#: A line fold of RFC 5545 / RFC 5322: a line break followed by one space or tab.
_FOLD = re.compile(r"\r?\n[ \t]")


class SealedUnderAnotherKey(Exception):
    """The message's links were sealed with another secret key: it cannot be sent with them."""


def placeholder(index: int, length: int) -> str:
    """``[secret-<index>....]`` padded with dots to ``length`` characters."""
    head = f"[secret-{index}"
    return head + "." * max(length - len(head) - 1, 0) + "]"


def _key(secret_key: str) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO)
    return hkdf.derive(secret_key.encode())


def _key_id(key: bytes) -> str:
    return hashlib.sha256(b"key-id\x00" + key).hexdigest()[:12]


def seal(secret_key: str, secrets: Sequence[str], context: str) -> str:
    """``v1.<key id>.<nonce + ciphertext>``, bound to ``context`` (the dedup key)."""
    key = _key(secret_key)
    nonce = os.urandom(12)
    sealed = AESGCM(key).encrypt(nonce, json.dumps(list(secrets)).encode(), context.encode())
    return f"{_VERSION}.{_key_id(key)}.{base64.urlsafe_b64encode(nonce + sealed).decode()}"


def unseal(secret_key: str, sealed: str, context: str) -> list[str]:
    version, key_id, payload = sealed.split(".", 2)
    key = _key(secret_key)
    if version != _VERSION or key_id != _key_id(key):
        raise SealedUnderAnotherKey(
            "the message's links were sealed with another RESERVATIONS_SECRET_KEY: "
            "the server and `reservations tick` must share one"
        )
    raw = base64.urlsafe_b64decode(payload)
    try:
        opened = AESGCM(key).decrypt(raw[:12], raw[12:], context.encode())
    except InvalidTag as error:
        raise SealedUnderAnotherKey("the message's sealed links do not open") from error
    return [str(secret) for secret in json.loads(opened)]


def _across_folds(content: str, change: Callable[[str], str]) -> str:
    """``change`` applied to ``content`` with its line folds taken out, then put back where they
    were; ``change`` must keep the length (placeholders do)."""
    folds = [(match.start(), match.group()) for match in _FOLD.finditer(content)]
    if not folds:
        return change(content)
    unfolded = _FOLD.sub("", content)
    changed = change(unfolded)
    assert len(changed) == len(unfolded), "a change across folds must keep the length"
    pieces, position, removed = [], 0, 0
    for start, fold in folds:
        logical = start - removed
        pieces.append(changed[position:logical])
        pieces.append(fold)
        position, removed = logical, removed + len(fold)
    pieces.append(changed[position:])
    return "".join(pieces)


def _is_folded(attachment: dict[str, str]) -> bool:
    return attachment.get("content_type", "").lower().startswith("text/calendar")


class _Hider:
    """Collects the secrets found, one placeholder each (the same secret twice: one index)."""

    def __init__(self) -> None:
        self.secrets: list[str] = []

    def __call__(self, text: str) -> str:
        return SECRET_IN_PATH.sub(self._replace, text)

    def _replace(self, match: re.Match[str]) -> str:
        secret = match["secret"]
        if secret not in self.secrets:
            self.secrets.append(secret)
        return match["prefix"] + placeholder(self.secrets.index(secret), len(secret))


def _each_part(
    texts: Iterable[str | None], attachments: Iterable[dict[str, str]], change: Callable[[str], str]
) -> tuple[list[str | None], list[dict[str, str]]]:
    changed_texts = [None if text is None else change(text) for text in texts]
    changed_attachments = []
    for attachment in attachments:
        content = attachment.get("content", "")
        new = _across_folds(content, change) if _is_folded(attachment) else change(content)
        changed_attachments.append({**attachment, "content": new})
    return changed_texts, changed_attachments


def hide(
    texts: Sequence[str | None], attachments: Sequence[dict[str, str]]
) -> tuple[list[str | None], list[dict[str, str]], list[str]]:
    """The texts and attachments with every secret link's secret replaced by a placeholder,
    and the secrets in placeholder order."""
    hider = _Hider()
    hidden_texts, hidden_attachments = _each_part(texts, attachments, hider)
    return hidden_texts, hidden_attachments, hider.secrets


def reveal(
    texts: Sequence[str | None], attachments: Sequence[dict[str, str]], secrets: Sequence[str]
) -> tuple[list[str | None], list[dict[str, str]]]:
    """The inverse of ``hide``: each placeholder back to its secret."""

    def back(text: str) -> str:
        def one(match: re.Match[str]) -> str:
            index = int(match["index"])
            secret = secrets[index] if index < len(secrets) else None
            return (
                secret
                if secret is not None and len(secret) == len(match.group())
                else (match.group())
            )

        return PLACEHOLDER.sub(one, text)

    return _each_part(texts, attachments, back)
