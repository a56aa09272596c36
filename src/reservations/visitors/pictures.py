"""``/pictures/{id}/{version}/{width}.{webp|jpg}``: one encoded size of a picture, as every
page shows them (the back office's too). An address never changes what it names (``version``
is the start of the picture's content hash), so browsers and proxies keep it a year without
asking again (``immutable``); one who asks anyway with its ``ETag`` gets a 304. Anything
unknown is a 404, never a guess."""

from __future__ import annotations

import re
from typing import Any

from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.status_codes import HTTP_304_NOT_MODIFIED

from reservations.base.infra.db import Database
from reservations.base.reads import pictures

CACHE_CONTROL = "public, max-age=31536000, immutable"
_FILE = re.compile(r"^([1-9][0-9]{1,4})\.(webp|jpg)$")
_VERSION = re.compile(r"^[0-9a-f]{%d}$" % pictures.VERSION_LENGTH)


class PictureController(Controller):
    path = pictures.PREFIX

    @get("/{picture_id:int}/{version:str}/{file:str}", name="picture")
    async def picture(
        self,
        request: Request[Any, Any, Any],
        picture_id: FromPath[int],
        version: FromPath[str],
        file: FromPath[str],
        db: NamedDependency[Database],
    ) -> Response[bytes]:
        found = _FILE.match(file)
        if found is None or not _VERSION.match(version):
            raise NotFoundException()
        served = await pictures.rendition(
            db, picture_id, version, int(found.group(1)), found.group(2)
        )
        if served is None:
            raise NotFoundException()
        headers = {"cache-control": CACHE_CONTROL, "etag": served.etag}
        asked = request.headers.get("if-none-match", "")
        if served.etag in {tag.strip().removeprefix("W/") for tag in asked.split(",")}:
            return Response(b"", status_code=HTTP_304_NOT_MODIFIED, headers=headers)
        return Response(served.data, media_type=served.media_type, headers=headers)
