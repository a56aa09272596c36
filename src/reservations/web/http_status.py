"""The HTTP status of each kind of domain refusal: one table for every web layer (the JSON API
and the visitors' pages), so a refusal answers alike wherever it is met."""

from __future__ import annotations

from litestar.status_codes import (
    HTTP_403_FORBIDDEN,
    HTTP_404_NOT_FOUND,
    HTTP_409_CONFLICT,
    HTTP_422_UNPROCESSABLE_ENTITY,
    HTTP_503_SERVICE_UNAVAILABLE,
)

from reservations.base.errors import DomainError, ErrorKind

STATUS_OF_KIND = {
    ErrorKind.INVALID: HTTP_422_UNPROCESSABLE_ENTITY,
    ErrorKind.NOT_FOUND: HTTP_404_NOT_FOUND,
    ErrorKind.CONFLICT: HTTP_409_CONFLICT,
    ErrorKind.FORBIDDEN: HTTP_403_FORBIDDEN,
    ErrorKind.UNAVAILABLE: HTTP_503_SERVICE_UNAVAILABLE,
}


def status_of(exc: DomainError) -> int:
    return STATUS_OF_KIND[exc.kind]
