"""Logs without live secrets: the access log and the application's logs mask the secret of every
manage, waiting-list and farm address (``secret_links.SECRET_IN_PATH``) and the value of query
parameters that carry one (``token=``, ``secret=``, ``key=`` ...), because a log line is kept
on disk and read by more people than the link's holder.

``MaskSecrets`` is a ``logging.Filter`` put on handlers (a filter on a logger misses the records
that propagate to it): ``with_masking`` adds it to a ``dictConfig`` (uvicorn's, in ``serve``),
``install`` to the handlers already configured (Litestar's, in ``create_app``).
"""

from __future__ import annotations

import copy
import logging
import re
from collections.abc import Mapping
from typing import Any

from reservations.base.infra.secret_links import SECRET_IN_PATH

MASK = "[masked]"
_SECRET_QUERY = re.compile(
    r"(?i)(?P<name>[?&;](?:[a-z0-9_.-]*token|[a-z0-9_.-]*secret|[a-z0-9_.-]*key|claim)=)"
    r"[^&;#\s\"'<>]+"
)
_FILTER_NAME = "mask_secrets"


def mask(text: str) -> str:
    """``text`` with the secrets of its links and secret query values replaced by ``MASK``."""
    text = SECRET_IN_PATH.sub(lambda match: match["prefix"] + MASK, text)
    return _SECRET_QUERY.sub(lambda match: match["name"] + MASK, text)


def _masked(value: Any) -> Any:
    if isinstance(value, str):
        return mask(value)
    if value is None or isinstance(value, (int, float, bool)):
        return value
    shown = str(value)
    masked = mask(shown)
    return value if masked == shown else masked


class MaskSecrets(logging.Filter):
    """Masks the message, its arguments (one by one: uvicorn's access formatter reads them by
    position) and the traceback of every record; lets every record through."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = mask(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_masked(argument) for argument in record.args)
        elif isinstance(record.args, Mapping):
            record.args = {key: _masked(value) for key, value in record.args.items()}
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask(record.exc_text)
        if record.stack_info:
            record.stack_info = mask(record.stack_info)
        return True


def with_masking(config: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a ``logging.config.dictConfig`` dict whose every handler masks secrets."""
    masked = copy.deepcopy(dict(config))
    masked.setdefault("filters", {})[_FILTER_NAME] = {"()": MaskSecrets}
    for handler in masked.get("handlers", {}).values():
        filters = handler.setdefault("filters", [])
        if _FILTER_NAME not in filters:
            filters.append(_FILTER_NAME)
    return masked


def install() -> None:
    """Put ``MaskSecrets`` on every handler configured now (the root's and every logger's)."""
    loggers: list[logging.Logger] = [logging.getLogger()]
    loggers += [
        logger
        for logger in logging.Logger.manager.loggerDict.values()
        if isinstance(logger, logging.Logger)
    ]
    for logger in loggers:
        for handler in logger.handlers:
            if not any(isinstance(existing, MaskSecrets) for existing in handler.filters):
                handler.addFilter(MaskSecrets())
