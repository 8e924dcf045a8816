"""The simulator reads parameters as Stripe does: the SDK's bracket encoding, typed and checked."""

from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest
from stripe._encode import _api_encode

from devstack.stripe_sim.errors import StripeError
from devstack.stripe_sim.forms import decode_form
from devstack.stripe_sim.params import as_currency, as_int, metadata, reject_unknown, require


def sdk_encoded(params: dict[str, Any]) -> list[tuple[str, str]]:
    """The pairs the stripe SDK puts on the wire for these parameters."""
    return parse_qsl(urlencode(list(_api_encode(params))))


def test_nested_objects_and_indexed_lists_decode_to_what_the_sdk_encoded() -> None:
    # Given the parameters our checkout code sends
    params = {
        "mode": "payment",
        "metadata": {"order_id": "or_1", "coins": 700},
        "payment_method_types": ["card", "konbini"],
        "line_items": [
            {
                "quantity": 1,
                "price_data": {"currency": "usd", "unit_amount": 999, "product_data": {"name": "700"}},
            },
            {
                "quantity": 2,
                "price_data": {"currency": "usd", "unit_amount": 5, "product_data": {"name": "b"}},
            },
        ],
        "capabilities": {"transfers": {"requested": True}},
        "expand": ["payment_intent"],
    }

    # When the SDK's encoding is decoded
    decoded = decode_form(sdk_encoded(params))

    # Then the structure comes back, every leaf as the string Stripe receives
    assert decoded == {
        "mode": "payment",
        "metadata": {"order_id": "or_1", "coins": "700"},
        "payment_method_types": ["card", "konbini"],
        "line_items": [
            {
                "quantity": "1",
                "price_data": {"currency": "usd", "unit_amount": "999", "product_data": {"name": "700"}},
            },
            {
                "quantity": "2",
                "price_data": {"currency": "usd", "unit_amount": "5", "product_data": {"name": "b"}},
            },
        ],
        "capabilities": {"transfers": {"requested": "true"}},
        "expand": ["payment_intent"],
    }


def test_empty_brackets_append_to_a_list_in_order() -> None:
    assert decode_form([("expand[]", "a"), ("expand[]", "b.c")]) == {"expand": ["a", "b.c"]}


def test_indexes_sort_numerically_not_as_text() -> None:
    pairs = [(f"items[{i}]", str(i)) for i in (10, 2, 1, 0)]
    assert decode_form(pairs) == {"items": ["0", "1", "2", "10"]}


@pytest.mark.parametrize(
    "pairs",
    [
        [("a]b", "x")],
        [("a[b", "x")],
        [("[a]", "x")],
        [("a[][b]", "x")],
        [("a", "1"), ("a[b]", "2")],
        [("a[b]", "2"), ("a", "1")],
    ],
    ids=[
        "stray-close",
        "unclosed",
        "no-name",
        "empty-index-inside",
        "value-then-object",
        "object-then-value",
    ],
)
def test_names_stripe_could_not_parse_are_refused(pairs: list[tuple[str, str]]) -> None:
    with pytest.raises(ValueError, match="parameter"):
        decode_form(pairs)


def test_integers_are_decimal_strings_and_the_error_names_the_nested_parameter() -> None:
    assert as_int("42", "amount") == 42
    with pytest.raises(StripeError) as refused:
        as_int("4.2", "line_items[0][quantity]")
    assert refused.value.body["error"] == {
        "type": "invalid_request_error",
        "message": "Invalid integer: 4.2",
        "code": "parameter_invalid_integer",
        "doc_url": "https://stripe.com/docs/error-codes/parameter-invalid-integer",
        "param": "line_items[0][quantity]",
    }
    assert not refused.value.replayable  # Stripe saves no idempotent result for invalid parameters


def test_a_missing_nested_parameter_is_named_in_bracket_syntax() -> None:
    with pytest.raises(StripeError) as refused:
        require({"price_data": {}}, "quantity", "line_items[0]")
    assert (refused.value.status, refused.value.code, refused.value.param) == (
        400,
        "parameter_missing",
        "line_items[0][quantity]",
    )


def test_unknown_parameters_are_refused_as_stripe_does() -> None:
    with pytest.raises(StripeError) as refused:
        reject_unknown({"amount": "1", "amout": "1"}, {"amount"})
    assert (refused.value.code, refused.value.message) == (
        "parameter_unknown",
        "Received unknown parameter: amout",
    )


def test_currencies_are_lowercased_and_checked() -> None:
    assert as_currency("USD", "currency") == "usd"
    with pytest.raises(StripeError, match="Invalid currency"):
        as_currency("dollars", "currency")


def test_metadata_drops_emptied_keys_and_enforces_stripes_limits() -> None:
    assert metadata({"metadata": {"a": "1", "b": ""}}) == {"a": "1"}
    assert metadata({"metadata": ""}) == {}
    with pytest.raises(StripeError, match="at most 500"):
        metadata({"metadata": {"a": "x" * 501}})
    with pytest.raises(StripeError, match="at most 40"):
        metadata({"metadata": {"k" * 41: "x"}})
