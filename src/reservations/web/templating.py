"""The one Jinja environment of the site and its emails: templates from the top-level
``templates/`` folder, autoescaped when named ``*.html`` (emails' ``*.txt`` stay plain), with
the i18n callables and filters installed once (see ``reservations.i18n``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from litestar import Request
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.template import TemplateConfig

from reservations import i18n
from reservations.settings import PROJECT_ROOT

TEMPLATES = PROJECT_ROOT / "templates"


def lang_url(
    request: Request[Any, Any, Any] | None,
    code: str,
    path: str | None = None,
    query: Sequence[tuple[str, str]] | None = None,
) -> str:
    """This page (or ``path``) in another language: its query kept, ``lang`` replaced. A page
    kept rendered for every visitor (``web.page_cache``) gives its ``path`` and its own
    normalised ``query``, so that nothing of one request's address shows in another's page."""
    if query is None:
        assert request is not None
        query = request.query_params.multi_items()
    params = [(k, v) for k, v in query if k != "lang"]
    params.append(("lang", code))
    return f"{path or request.url.path}?{urlencode(params)}"  # type: ignore[union-attr]


def osm_url(latitude: float, longitude: float) -> str:
    return (
        f"https://www.openstreetmap.org/?mlat={latitude:.5f}&mlon={longitude:.5f}"
        f"#map=16/{latitude:.5f}/{longitude:.5f}"
    )


def make_environment() -> Environment:
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"], default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    i18n.install(environment)
    environment.globals.update(lang_url=lang_url, osm_url=osm_url)
    return environment


def template_config(environment: Environment) -> TemplateConfig[JinjaTemplateEngine]:
    return TemplateConfig(instance=JinjaTemplateEngine.from_environment(environment))


def render(environment: Environment, name: str, **context: Any) -> str:
    """A template rendered outside a request (emails, error pages)."""
    return environment.get_template(name).render(**context)
