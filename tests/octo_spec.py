"""Our OCTO responses checked against the official OCTO OpenAPI description (vendored in
``tests/data/octo-openapi.yaml``, see ``tests/data/README.md``) by a JSON Schema validator
(``jsonschema_rs``, Draft 2020-12, formats checked).

``response_schema`` and ``component`` return schemas as the spec writes them (OpenAPI 3.0
dialect, ``$ref`` into ``#/components/schemas``); ``assert_valid`` converts them, with the
whole of ``components.schemas`` as ``$defs``, into JSON Schema for the requested capabilities:

- ``nullable: true`` also admits null, whatever else the schema says (``enum``, ``allOf: [$ref]``
  beside it...): the schema becomes ``{"if": {"type": "null"}, "else": <schema>}``, so a
  non-null value still gets the schema's own, precise errors;
- a property marked ``x-capability-data: {capability: C, required: true}`` is added to its
  object's ``required`` when C was requested, and stays optional otherwise;
- ``$ref`` siblings are ignored (OpenAPI 3.0), boolean ``exclusiveMinimum``/``exclusiveMaximum``
  become numbers, ``int32``/``int64`` become bounds, OpenAPI-only formats (``float``, ``byte``...)
  are dropped; any other format must be one the validator knows (unknown formats are errors,
  not silently skipped);
- vendor keys (``x-*``), ``example``, ``discriminator``, ``xml`` and ``externalDocs`` are
  dropped; a keyword OpenAPI 3.0 does not define is refused, so a new spec cannot slip
  something past the conversion;
- additional properties stay allowed, as in the spec.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import jsonschema_rs
import yaml

SPEC_PATH = Path(__file__).parent / "data" / "octo-openapi.yaml"

_COMPONENT_REF = "#/components/schemas/"
_DEFS_REF = "#/$defs/"
_DRAFT = "https://json-schema.org/draft/2020-12/schema"

#: Keywords of the OpenAPI 3.0 Schema Object that carry over to JSON Schema as they are.
_KEPT = frozenset(
    {
        "title",
        "description",
        "default",
        "deprecated",
        "readOnly",
        "writeOnly",
        "type",
        "enum",
        "format",
        "multipleOf",
        "maximum",
        "minimum",
        "exclusiveMaximum",
        "exclusiveMinimum",
        "maxLength",
        "minLength",
        "pattern",
        "maxItems",
        "minItems",
        "uniqueItems",
        "maxProperties",
        "minProperties",
        "required",
    }
)
#: Keywords holding subschemas, converted in turn.
_ONE_SUBSCHEMA = frozenset({"items", "not", "additionalProperties"})
_SUBSCHEMA_LISTS = frozenset({"allOf", "anyOf", "oneOf"})
#: OpenAPI-only keywords with no validation meaning, dropped (with ``x-*``).
_DROPPED = frozenset({"example", "examples", "discriminator", "xml", "externalDocs"})
#: OpenAPI formats with no JSON Schema counterpart that add nothing checkable here.
_OPENAPI_ONLY_FORMATS = frozenset({"float", "double", "byte", "binary", "password"})
_INTEGER_BOUNDS = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}


class _SpecLoader(yaml.SafeLoader):
    """YAML without timestamp resolution: ``2022-06-30`` stays the string JSON would carry."""


_SpecLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


@functools.cache
def spec() -> dict[str, Any]:
    """The vendored OCTO OpenAPI description, parsed once (do not mutate it)."""
    with SPEC_PATH.open(encoding="utf-8") as handle:
        return yaml.load(handle, Loader=_SpecLoader)  # a SafeLoader subclass


def response_schema(path: str, method: str, status: int = 200) -> dict[str, Any]:
    """The schema of the ``application/json`` response of ``method path`` for ``status``, as
    the spec writes it. ``path`` is a spec path (``/bookings/{uuid}``), with or without its
    trailing slash. Every status >= 400 maps to the spec's ``"400"`` response, where it lists
    all its errors (we answer UNAUTHORIZED with 401, FORBIDDEN with 403...)."""
    paths = spec()["paths"]
    key = _spec_path(path, paths)
    operations = paths[key]
    operation = operations.get(method.lower())
    if not isinstance(operation, dict) or "responses" not in operation:
        known = sorted(m.upper() for m, op in operations.items() if isinstance(op, dict))
        raise KeyError(f"the OCTO spec has no {method.upper()} {key} (it has {known})")
    responses = operation["responses"]
    code = "400" if status >= 400 else str(status)
    if code not in responses:
        raise KeyError(
            f"the OCTO spec has no {code} response for {method.upper()} {key} "
            f"(it has {sorted(responses)})"
        )
    content = responses[code].get("content") or {}
    if "application/json" not in content:
        raise KeyError(f"the {code} response of {method.upper()} {key} has no application/json")
    return copy.deepcopy(content["application/json"]["schema"])


def component(name: str) -> dict[str, Any]:
    """The named schema of ``components.schemas`` (``Booking``, ``ErrorBadRequest``...), as the
    spec writes it."""
    schemas = spec()["components"]["schemas"]
    if name not in schemas:
        raise KeyError(f"the OCTO spec has no schema {name!r}")
    return copy.deepcopy(schemas[name])


def capability_ids() -> frozenset[str]:
    """The capabilities that ``x-capability-data`` marks properties with in the spec."""
    return _capability_ids()


def json_schema(
    schema_or_name: Mapping[str, Any] | str, *, capabilities: Iterable[str] = frozenset()
) -> dict[str, Any]:
    """The JSON Schema (Draft 2020-12, self-contained: all components in ``$defs``) that
    ``assert_valid`` validates with: a spec schema, or a component's name."""
    return json.loads(_json_schema_text(_fragment_text(schema_or_name), _caps(capabilities)))


def assert_valid(
    body: Any,
    schema_or_name: Mapping[str, Any] | str,
    *,
    capabilities: Iterable[str] = frozenset(),
) -> None:
    """Raise AssertionError listing every way ``body`` (decoded JSON) breaks the schema (a spec
    schema from ``response_schema``/``component``, or a component's name), each with its JSON
    path. Properties that a requested capability makes required are required."""
    caps = _caps(capabilities)
    validator = _validator(_fragment_text(schema_or_name), caps)
    problems = list(dict.fromkeys(_describe(error) for error in validator.iter_errors(body)))
    if problems:
        what = schema_or_name if isinstance(schema_or_name, str) else "the response schema"
        with_caps = f" with capabilities {sorted(caps)}" if caps else ""
        raise AssertionError(
            f"{len(problems)} OCTO schema violation(s) against {what}{with_caps}:\n  "
            + "\n  ".join(problems)
        )


# --- the conversion ---------------------------------------------------------------------------


def _spec_path(path: str, paths: Mapping[str, Any]) -> str:
    bare = "/" + path.strip("/")
    for candidate in (path, bare, bare + "/"):
        if candidate in paths:
            return candidate
    raise KeyError(f"the OCTO spec has no path {path!r} (it has {sorted(paths)})")


@functools.cache
def _capability_ids() -> frozenset[str]:
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            data = node.get("x-capability-data")
            if isinstance(data, dict) and "capability" in data:
                found.add(data["capability"])
            for key, value in node.items():
                if key not in _DROPPED:
                    walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(spec())
    return frozenset(found)


def _caps(capabilities: Iterable[str]) -> frozenset[str]:
    if isinstance(capabilities, str):
        raise TypeError("capabilities is a set of capability ids, not one string")
    caps = frozenset(capabilities)
    unknown = caps - _capability_ids()
    if unknown:
        raise ValueError(
            f"capabilities unknown to the OCTO spec: {sorted(unknown)} "
            f"(it knows {sorted(_capability_ids())})"
        )
    return caps


def _fragment_text(schema_or_name: Mapping[str, Any] | str) -> str:
    """A hashable key for a spec schema: a name stands for a ``$ref`` to that component."""
    if isinstance(schema_or_name, str):
        component(schema_or_name)  # a clear KeyError for an unknown name
        fragment: Mapping[str, Any] = {"$ref": _COMPONENT_REF + schema_or_name}
    else:
        fragment = schema_or_name
    return json.dumps(fragment, sort_keys=True)


@functools.cache
def _definitions(caps: frozenset[str]) -> dict[str, Any]:
    return {
        name: _convert(schema, caps, f"components.schemas.{name}")
        for name, schema in spec()["components"]["schemas"].items()
    }


@functools.cache
def _json_schema_text(fragment_text: str, caps: frozenset[str]) -> str:
    root = _convert(json.loads(fragment_text), caps, "the schema")
    document = {"$schema": _DRAFT, **root, "$defs": _definitions(caps)}
    return json.dumps(document)


@functools.cache
def _validator(fragment_text: str, caps: frozenset[str]) -> Any:
    document = json.loads(_json_schema_text(fragment_text, caps))
    return jsonschema_rs.Draft202012Validator(
        document, validate_formats=True, ignore_unknown_formats=False
    )


def _convert(node: Any, caps: frozenset[str], where: str) -> dict[str, Any]:
    """One OpenAPI 3.0 Schema Object as JSON Schema 2020-12 (see the module's docstring)."""
    if not isinstance(node, dict):
        raise TypeError(f"{where}: a schema must be an object, not {node!r}")
    if "$ref" in node:  # OpenAPI 3.0: the siblings of a $ref are ignored
        ref = node["$ref"]
        if not isinstance(ref, str) or not ref.startswith(_COMPONENT_REF):
            raise ValueError(f"{where}: unsupported $ref {ref!r}")
        return {"$ref": _DEFS_REF + ref[len(_COMPONENT_REF) :]}
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key.startswith("x-") or key in _DROPPED or key == "nullable":
            continue
        if key == "properties":
            out[key] = {
                name: _convert(sub, caps, f"{where}.properties.{name}")
                for name, sub in value.items()
            }
        elif key in _ONE_SUBSCHEMA:
            out[key] = value if isinstance(value, bool) else _convert(value, caps, f"{where}.{key}")
        elif key in _SUBSCHEMA_LISTS:
            out[key] = [_convert(sub, caps, f"{where}.{key}[{i}]") for i, sub in enumerate(value)]
        elif key in _KEPT:
            out[key] = copy.deepcopy(value)
        else:
            raise ValueError(f"{where}: keyword {key!r} is not OpenAPI 3.0's, no conversion known")
    _require_by_capability(node, out, caps)
    _numbers_and_formats(out)
    if node.get("nullable") is True:
        return {"if": {"type": "null"}, "else": out}
    return out


def _require_by_capability(node: dict[str, Any], out: dict[str, Any], caps: frozenset[str]) -> None:
    required = list(out.get("required", []))
    for name, sub in (node.get("properties") or {}).items():
        data = sub.get("x-capability-data") if isinstance(sub, dict) else None
        if (
            isinstance(data, dict)
            and data.get("required") is True
            and data.get("capability") in caps
            and name not in required
        ):
            required.append(name)
    # OpenAPI 3.0: a writeOnly property in "required" is required in requests only.
    properties = node.get("properties") or {}
    required = [
        name
        for name in required
        if not (isinstance(properties.get(name), dict) and properties[name].get("writeOnly"))
    ]
    if required:
        out["required"] = required
    else:
        out.pop("required", None)


def _numbers_and_formats(out: dict[str, Any]) -> None:
    for exclusive, bound in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        # OpenAPI 3.0: a flag on the bound; JSON Schema: the bound itself.
        if isinstance(out.get(exclusive), bool) and out.pop(exclusive) and bound in out:
            out[exclusive] = out.pop(bound)
    fmt = out.get("format")
    if fmt in _INTEGER_BOUNDS:
        low, high = _INTEGER_BOUNDS[out.pop("format")]
        out["minimum"] = max(out.get("minimum", low), low)
        out["maximum"] = min(out.get("maximum", high), high)
    elif fmt in _OPENAPI_ONLY_FORMATS:
        del out["format"]


# --- reporting --------------------------------------------------------------------------------

_IDENTIFIER = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*\Z")
_LONGEST_MESSAGE = 400


def _json_path(parts: Iterable[str | int]) -> str:
    path = "$"
    for part in parts:
        if isinstance(part, int):
            path += f"[{part}]"
        elif _IDENTIFIER.match(part):
            path += f".{part}"
        else:
            path += f"[{json.dumps(part)}]"
    return path


def _describe(error: Any) -> str:
    message = error.message
    if len(message) > _LONGEST_MESSAGE:
        message = message[: _LONGEST_MESSAGE - 1] + "…"
    keyword = "/".join(str(part) for part in error.schema_path)
    return f"{_json_path(error.instance_path)}: {message} (schema: {keyword})"
