"""The OCTO schema harness (``tests/octo_spec.py``) fails and passes where it should: the spec's
own examples validate (with a few listed exceptions, the spec's own defects), and bodies broken
in one known way are refused with that fault at its JSON path. Plain tests: no database."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

from tests.octo_spec import (
    assert_valid,
    capability_ids,
    component,
    json_schema,
    response_schema,
    spec,
)


def _examples() -> list[tuple[str, str, str, str, Any]]:
    """(method, path, status, example name, value) of every JSON response example in the spec."""
    found = []
    for path, operations in spec()["paths"].items():
        for method, operation in operations.items():
            for status, response in operation.get("responses", {}).items():
                content = (response.get("content") or {}).get("application/json") or {}
                for name, example in (content.get("examples") or {}).items():
                    found.append((method.upper(), path, status, name, example["value"]))
    return found


EXAMPLES = _examples()
SUCCESS_EXAMPLES = [example for example in EXAMPLES if example[2] == "200"]
ERROR_EXAMPLES = [example for example in EXAMPLES if example[2] == "400"]


def _id(example: tuple[str, str, str, str, Any]) -> str:
    method, path, status, name, _ = example
    return f"{method} {path} {status} {name}"


def _example(method: str, path: str, name: str, status: str = "200") -> Any:
    """A deep copy of one example's value (tests break them freely)."""
    for example in EXAMPLES:
        if example[:4] == (method, path, status, name):
            return copy.deepcopy(example[4])
    raise KeyError(f"no example {name!r} for {method} {path} {status}")


#: An empty string is no URI (RFC 3986 needs at least a scheme), so ``format: uri`` refuses it.
EMPTY_MEDIA_SRC = re.compile(
    r'^\$(\[0\])?(\.options\[\d+\])?\.media\[\d+\]\.src: "" is not a "uri"'
)

#: Official examples that do not validate, each with the pattern every one of its errors must
#: match (so any new fault in them still fails the suite). The ``octo/content`` examples give
#: their media ``"src": ""``, where the spec says ``type: string, format: uri`` ("the URL of the
#: media file... stable and publicly accessible").
KNOWN_INVALID = {
    ("GET", "/products/", "Products with octo/content"): EMPTY_MEDIA_SRC,
    ("GET", "/products/{id}", "Product with octo/content"): EMPTY_MEDIA_SRC,
    ("GET", "/supplier/", "Supplier with octo/content"): EMPTY_MEDIA_SRC,
}


def _errors(failure: pytest.ExceptionInfo[AssertionError]) -> list[str]:
    """The error lines of an ``assert_valid`` failure (after its heading line)."""
    return [line.strip() for line in str(failure.value).splitlines()[1:]]


def _check_example(example: tuple[str, str, str, str, Any], capabilities: set[str]) -> None:
    method, path, status, name, value = example
    schema = response_schema(path, method, int(status))
    known = KNOWN_INVALID.get((method, path, name))
    if known is None:
        assert_valid(value, schema, capabilities=capabilities)
        return
    with pytest.raises(AssertionError) as failure:
        assert_valid(value, schema, capabilities=capabilities)
    unexplained = [line for line in _errors(failure) if not known.search(line)]
    assert not unexplained, f"{name}: errors beyond its known defect: {unexplained}"


@pytest.mark.parametrize("example", SUCCESS_EXAMPLES, ids=_id)
def test_the_specs_success_examples_validate(example: tuple[str, str, str, str, Any]) -> None:
    _check_example(example, set())


@pytest.mark.parametrize("example", ERROR_EXAMPLES, ids=_id)
def test_the_specs_error_examples_validate(example: tuple[str, str, str, str, Any]) -> None:
    _check_example(example, set())


#: The examples whose names claim a capability (the spec spells octo/pricing "octo/pricng" in
#: them), validated with that capability too.
CLAIMED = re.compile(r"octo/(pricing|pricng|content)")

#: With octo/pricing, the spec marks Option.pricingFrom AND Option.pricing, Unit.pricingFrom AND
#: Unit.pricing all ``required: true``; its own pricing examples carry only some of them
#: (pricingFrom on units, for instance), so they fail with the capability, on those only.
PRICING_BOTH_WAYS = re.compile(
    r'^\$(\[0\])?\.options\[\d+\](\.units\[\d+\])?: "(pricing|pricingFrom)" is a required property'
)
KNOWN_INVALID_WITH_CLAIMED_CAPABILITY = {
    ("GET", "/products/", "Products with octo/pricng (pricing per unit)"),
    ("GET", "/products/", "Products with octo/pricng (pricing per booking)"),
    ("GET", "/products/{id}", "Product with octo/pricng (pricing per unit)"),
    ("GET", "/products/{id}", "Product with octo/pricng (pricing per booking)"),
}


@pytest.mark.parametrize(
    "example", [example for example in SUCCESS_EXAMPLES if CLAIMED.search(example[3])], ids=_id
)
def test_examples_claiming_a_capability_validate_with_it(
    example: tuple[str, str, str, str, Any],
) -> None:
    method, path, _status, name, value = example
    capability = "octo/content" if "content" in name else "octo/pricing"
    if (method, path, name) not in KNOWN_INVALID_WITH_CLAIMED_CAPABILITY:
        _check_example(example, {capability})
        return
    with pytest.raises(AssertionError) as failure:
        assert_valid(value, response_schema(path, method), capabilities={capability})
    unexplained = [line for line in _errors(failure) if not PRICING_BOTH_WAYS.search(line)]
    assert not unexplained, f"{name}: errors beyond its known defect: {unexplained}"


def test_the_spec_has_examples_to_check() -> None:
    # Guards the walk itself: an empty or mis-walked spec would make the tests above vacuous.
    assert len(SUCCESS_EXAMPLES) >= 20
    assert len(ERROR_EXAMPLES) >= 40
    assert {path for _, path, *_ in SUCCESS_EXAMPLES} >= {
        "/availability/",
        "/availability/calendar",
        "/bookings/",
        "/bookings/{uuid}",
        "/products/",
        "/products/{id}",
        "/supplier/",
    }


# --- bodies broken on purpose -----------------------------------------------------------------


def _booking() -> dict[str, Any]:
    booking = _example("GET", "/bookings/{uuid}", "Booking example")
    assert_valid(booking, "Booking")  # the starting point is valid
    return booking


def _refusal(body: Any, schema: Any, **options: Any) -> list[str]:
    with pytest.raises(AssertionError) as failure:
        assert_valid(body, schema, **options)
    return _errors(failure)


def test_a_booking_status_outside_the_enum_is_refused() -> None:
    booking = _booking()
    booking["status"] = "NOT_A_STATUS"
    errors = _refusal(booking, response_schema("/bookings/{uuid}", "GET"))
    assert len(errors) == 1
    assert errors[0].startswith('$.status: "NOT_A_STATUS" is not one of')


def test_a_booking_uuid_must_be_a_uuid() -> None:
    booking = _booking()
    booking["uuid"] = "not-a-uuid"
    assert _refusal(booking, "Booking") == [
        '$.uuid: "not-a-uuid" is not a "uuid" (schema: $defs/Booking/properties/uuid/format)'
    ]


def test_a_booking_timestamp_must_be_a_date_time() -> None:
    booking = _booking()
    booking["utcCreatedAt"] = "yesterday"
    errors = _refusal(booking, "Booking")
    assert errors == [
        (
            '$.utcCreatedAt: "yesterday" is not a "date-time" '
            "(schema: $defs/Booking/properties/utcCreatedAt/format)"
        )
    ]


def test_every_error_is_listed_with_its_path() -> None:
    booking = _booking()
    booking["status"] = "NOT_A_STATUS"
    booking["utcCreatedAt"] = "yesterday"
    booking["unitItems"][1]["status"] = "SOLD"
    del booking["contact"]
    errors = _refusal(booking, "Booking")
    paths = sorted(line.split(":")[0] for line in errors)
    assert paths == ["$", "$.status", "$.unitItems[1].status", "$.utcCreatedAt"]
    assert '$: "contact" is a required property (schema: $defs/Booking/required)' in errors


def test_a_nullable_reference_takes_null_or_a_valid_object_only() -> None:
    # Booking.cancellation is {type: object, allOf: [$ref BookingCancellation], nullable: true}.
    booking = _booking()
    booking["cancellation"] = None
    assert_valid(booking, "Booking")
    cancelled = _example("POST", "/bookings/{uuid}/cancel", "CANCELLED Booking example")
    booking["cancellation"] = cancelled["cancellation"]
    assert booking["cancellation"] is not None
    assert_valid(booking, "Booking")

    booking["cancellation"] = {}
    errors = _refusal(booking, "Booking")
    assert sorted(errors) == sorted(
        f'$.cancellation: "{name}" is a required property '
        "(schema: $defs/BookingCancellation/required)"
        for name in ("refund", "reason", "utcCancelledAt")
    )
    booking["cancellation"] = {**cancelled["cancellation"], "utcCancelledAt": "yesterday"}
    assert [line.split(" (")[0] for line in _refusal(booking, "Booking")] == [
        '$.cancellation.utcCancelledAt: "yesterday" is not a "date-time"'
    ]
    booking["cancellation"] = "CANCELLED"
    assert _refusal(booking, "Booking")


def test_nullable_scalars_take_null_and_their_type_only() -> None:
    booking = _booking()
    booking["utcExpiresAt"] = None
    booking["notes"] = None
    assert_valid(booking, "Booking")
    booking["utcExpiresAt"] = "soon"
    booking["notes"] = 42
    errors = [line.split(" (")[0] for line in _refusal(booking, "Booking")]
    assert sorted(errors) == [
        '$.notes: 42 is not of type "string"',
        '$.utcExpiresAt: "soon" is not a "date-time"',
    ]


def test_a_product_needs_its_options() -> None:
    product = _example("GET", "/products/{id}", "Product example")
    assert_valid(product, response_schema("/products/{id}", "GET"))
    del product["options"]
    assert _refusal(product, response_schema("/products/{id}", "GET")) == [
        '$: "options" is a required property (schema: $defs/Product/required)'
    ]


def test_pricing_properties_are_required_with_the_pricing_capability_only() -> None:
    example = _example("GET", "/products/{id}", "Product with octo/pricng (pricing per unit)")
    missing = '$: "defaultCurrency" is a required property (schema: $defs/Product/required)'
    # The example itself is refused with octo/pricing, for its options (see
    # KNOWN_INVALID_WITH_CLAIMED_CAPABILITY), but not for its defaultCurrency.
    assert missing not in _refusal(example, "Product", capabilities={"octo/pricing"})

    del example["defaultCurrency"]
    assert_valid(example, "Product")
    assert_valid(example, response_schema("/products/{id}", "GET"))
    assert missing in _refusal(example, "Product", capabilities={"octo/pricing"})
    assert missing in _refusal(
        example, response_schema("/products/{id}", "GET"), capabilities={"octo/pricing"}
    )
    # The content capability leaves pricing properties optional.
    errors = _refusal(example, "Product", capabilities={"octo/content"})
    assert missing not in errors


def test_content_properties_stay_optional_without_the_content_capability() -> None:
    product = _example("GET", "/products/{id}", "Product example")
    assert "title" not in product
    assert_valid(product, "Product")
    errors = _refusal(product, "Product", capabilities={"octo/content"})
    assert '$: "title" is a required property (schema: $defs/Product/required)' in errors


def test_additional_properties_are_allowed_as_in_the_spec() -> None:
    booking = _booking()
    booking["ourOwnExtra"] = {"anything": [1, 2]}
    assert_valid(booking, "Booking")


# --- the harness's lookups --------------------------------------------------------------------


def test_paths_are_found_with_or_without_their_trailing_slash() -> None:
    assert response_schema("/bookings", "post") == response_schema("/bookings/", "POST")
    assert response_schema("/bookings/{uuid}/", "get") == response_schema("/bookings/{uuid}", "get")
    assert response_schema("/supplier", "get") == {"$ref": "#/components/schemas/Supplier"}
    assert response_schema("/availability/calendar", "post")["type"] == "array"


def test_every_error_status_reads_the_specs_400_response() -> None:
    error_400 = response_schema("/bookings/{uuid}", "GET", 400)
    assert "anyOf" in error_400
    for status in (401, 403, 404, 422, 500):
        assert response_schema("/bookings/{uuid}", "GET", status) == error_400
    unauthorized = {"error": "UNAUTHORIZED", "errorMessage": "No API key"}
    assert_valid(unauthorized, response_schema("/products/", "GET", 401))
    assert_valid(unauthorized, "ErrorUnauthorized")
    errors = _refusal({"error": "UNAUTHORIZED"}, "ErrorUnauthorized")
    assert [line.split(" (")[0] for line in errors] == ['$: "errorMessage" is a required property']
    _refusal({"error": "UNAUTHORIZED"}, response_schema("/products/", "GET", 401))


def test_unknown_lookups_are_refused_loudly() -> None:
    with pytest.raises(KeyError, match="no path"):
        response_schema("/nowhere", "GET")
    with pytest.raises(KeyError, match="no DELETE"):
        response_schema("/bookings/{uuid}", "DELETE")
    with pytest.raises(KeyError, match="no 201 response"):
        response_schema("/bookings/", "POST", 201)
    with pytest.raises(KeyError, match="no schema"):
        component("Nope")
    with pytest.raises(KeyError, match="no schema"):
        assert_valid({}, "Nope")
    with pytest.raises(ValueError, match="unknown"):
        assert_valid({}, "Booking", capabilities={"octo/pricng"})
    assert capability_ids() == {"octo/pricing", "octo/content"}


def test_component_is_the_spec_s_schema() -> None:
    booking = component("Booking")
    cancellation = booking["properties"]["cancellation"]
    assert {key: cancellation[key] for key in ("type", "allOf", "nullable")} == {
        "type": "object",
        "allOf": [{"$ref": "#/components/schemas/BookingCancellation"}],
        "nullable": True,
    }
    booking["properties"].clear()  # a copy: the cached spec is untouched
    assert component("Booking")["properties"]


def _keys(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = set()
        for key, value in node.items():
            if key == "properties":
                for sub in value.values():
                    found |= _keys(sub)
            else:
                found.add(key)
                found |= _keys(value)
        return found
    if isinstance(node, list):
        return set().union(*(_keys(value) for value in node)) if node else set()
    return set()


def test_the_json_schema_has_no_openapi_leftovers() -> None:
    schema = json_schema("Booking", capabilities={"octo/pricing"})
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    keys = _keys(schema)
    assert not {key for key in keys if key.startswith("x-")}
    assert not keys & {"nullable", "example", "examples", "discriminator"}
    assert "additionalProperties" not in keys
    assert "pricing" in schema["$defs"]["Booking"]["required"]
    assert "pricing" not in json_schema("Booking")["$defs"]["Booking"]["required"]


def test_openapi_3_0_numbers_become_json_schema_numbers() -> None:
    fragment = {"type": "integer", "format": "int32", "minimum": 0, "exclusiveMinimum": True}
    converted = json_schema(fragment)
    assert {key: converted[key] for key in ("type", "exclusiveMinimum", "maximum")} == {
        "type": "integer",
        "exclusiveMinimum": 0,
        "maximum": 2**31 - 1,
    }
    assert "format" not in converted
    assert_valid(1, fragment)
    _refusal(0, fragment)
    _refusal(2**31, fragment)
    # The spec's one int32: Capability.revision.
    capability = _example("GET", "/capabilities/", "Capabilities")[0]
    assert_valid(capability, "Capability")
    capability["revision"] = 2**31
    assert [line.split(":")[0] for line in _refusal(capability, "Capability")] == ["$.revision"]
