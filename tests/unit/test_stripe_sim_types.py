"""The simulator holds what it accepts and answers to the pinned API version's types, read from the
installed SDK (devstack/stripe_sim/sdk_types.py), and so does every call the adapter makes."""

import inspect
import json
from typing import Any

import pytest
import stripe
from werkzeug.test import Client

from coins.stripe_adapter import StripePayments, StripeSettings
from devstack.stripe_sim.errors import StripeError
from devstack.stripe_sim.sdk_types import check_params, defines, request_params, shape_errors
from devstack.stripe_sim.server import StripeSimulator
from tests.support.in_process_stripe import InProcessStripe

AUTH = {"Authorization": "Bearer sk_test_unit"}
SIM_URL = "http://sim.test"


@pytest.fixture
def sim() -> StripeSimulator:
    return StripeSimulator(port=0, public_url=SIM_URL)  # never started: no socket


@pytest.fixture
def http(sim: StripeSimulator) -> Client:
    return Client(sim.app)


def call(http: Client, method: str, path: str, data: dict[str, str] | None = None) -> tuple[int, Any]:
    if method == "GET":
        found = http.get(path, query_string=data, headers=AUTH)
    else:
        found = http.post(path, data=data or {}, headers=AUTH)
    return found.status_code, json.loads(found.data)


def session_form(**extra: str) -> dict[str, str]:
    return {
        "mode": "payment",
        "success_url": "http://app.test/ok",
        "line_items[0][quantity]": "1",
        "line_items[0][price_data][currency]": "usd",
        "line_items[0][price_data][unit_amount]": "999",
        "line_items[0][price_data][product_data][name]": "700 coins",
        **extra,
    }


def test_the_pinned_version_is_endive() -> None:
    assert stripe.api_version == "2026-10-28.endive"


# ---------------------------------------------------------------- requests


def test_payment_method_types_on_a_checkout_session_is_refused_as_endive_refuses_it(http: Client) -> None:
    status, body = call(
        http, "POST", "/v1/checkout/sessions", session_form(**{"payment_method_types[0]": "card"})
    )

    assert status == 400
    assert body == {
        "error": {
            "type": "invalid_request_error",
            "code": "parameter_unknown",
            "doc_url": "https://stripe.com/docs/error-codes/parameter-unknown",
            "message": "Received unknown parameter: payment_method_types",
            "param": "payment_method_types",
        }
    }


def test_allowed_payment_method_types_filters_what_the_session_offers(http: Client) -> None:
    status, session = call(
        http, "POST", "/v1/checkout/sessions", session_form(**{"allowed_payment_method_types[0]": "konbini"})
    )

    assert status == 200
    assert (session["allowed_payment_method_types"], session["payment_method_types"]) == (
        ["konbini"],
        ["konbini"],
    )


@pytest.mark.parametrize(
    ("path", "form", "param", "code"),
    [
        ("/v1/accounts", {"type": "express", "bank_account": "btok_1"}, "bank_account", "parameter_unknown"),
        (
            "/v1/checkout/sessions",
            session_form(**{"line_items[0][price_data][colour]": "red"}),
            "line_items[0][price_data][colour]",
            "parameter_unknown",
        ),
        ("/v1/transfers", {"amount": "100", "currency": "usd"}, "destination", "parameter_missing"),
        (
            "/v1/account_links",
            {"account": "acct_1", "type": "account_onboarding", "x": "1"},
            "x",
            "parameter_unknown",
        ),
        ("/v1/refunds", {"charge": "ch_1", "amount": "1.5"}, "amount", "parameter_invalid_integer"),
    ],
    ids=["account-bank_account", "nested-unknown", "transfer-destination", "link-unknown", "refund-amount"],
)
def test_parameters_the_pinned_types_do_not_define_are_refused_by_name(
    http: Client, path: str, form: dict[str, str], param: str, code: str
) -> None:
    status, body = call(http, "POST", path, form)

    assert (status, body["error"]["type"], body["error"]["code"], body["error"]["param"]) == (
        400,
        "invalid_request_error",
        code,
        param,
    )


def test_an_endpoint_the_sdk_never_calls_has_no_types() -> None:
    assert request_params("POST", "/v1/transfers/{id}/reversals").__name__ == "TransferReversalCreateParams"
    with pytest.raises(LookupError):
        request_params("POST", "/v1/charges/{id}/unrefund")


def test_the_request_options_the_sdk_sends_as_headers_are_not_parameters() -> None:
    with pytest.raises(StripeError, match="unknown parameter: idempotency_key"):
        check_params({"idempotency_key": "k"}, request_params("POST", "/v1/transfers"))


# ---------------------------------------------------------------- objects


def drive_every_object(http: Client, sim: StripeSimulator) -> None:
    """A payment refunded in part and disputed, one settling later, one expired; a Connect account
    onboarded and restricted; a transfer and its reversal."""
    _, session = call(http, "POST", "/v1/checkout/sessions", session_form())
    sim.sim.pay_session(session["id"])
    charge = sim.sim.session_charge(session["id"])
    sim.sim.refund(charge, amount=100)
    dispute = sim.sim.dispute(charge)
    sim.sim.close_dispute(dispute["id"], "lost")
    _, later = call(http, "POST", "/v1/checkout/sessions", session_form())
    sim.sim.pay_session(later["id"], delayed=True)
    sim.sim.settle_delayed_payment(later["id"], succeeded=False)
    _, expiring = call(http, "POST", "/v1/checkout/sessions", session_form())
    sim.sim.expire_session(expiring["id"])
    _, account = call(
        http, "POST", "/v1/accounts", {"type": "express", "capabilities[transfers][requested]": "true"}
    )
    sim.sim.complete_account(account["id"])
    _, transfer = call(
        http, "POST", "/v1/transfers", {"amount": "500", "currency": "usd", "destination": account["id"]}
    )
    call(http, "POST", f"/v1/transfers/{transfer['id']}/reversals", {"amount": "200"})
    sim.sim.restrict_account(account["id"])


def test_every_object_and_event_the_simulator_makes_is_shaped_as_the_pinned_version(
    http: Client, sim: StripeSimulator
) -> None:
    drive_every_object(http, sim)

    kinds = {obj["object"] for obj in sim.store.objects.values()}
    assert {"checkout.session", "payment_intent", "charge", "refund", "dispute", "account"} <= kinds
    assert {"transfer", "transfer_reversal"} <= kinds
    for obj in sim.store.objects.values():
        _, shown = call(http, "GET", f"/v1/{_collection(obj['object'])}/{obj['id']}")
        assert shape_errors(shown if "id" in shown else obj) == [], obj["id"]
    for stored in sim.events():
        assert shape_errors(stored.event) == [], stored.type
        assert shape_errors(stored.event["data"]["object"]) == [], stored.type


def _collection(kind: str) -> str:
    if kind == "transfer_reversal":
        return "nothing"  # no retrieve route: the stored object itself is checked
    return {"checkout.session": "checkout/sessions"}.get(kind, f"{kind}s")


def test_accounts_refunds_and_reversals_have_no_livemode_and_disputes_say_how_evidence_went(
    http: Client, sim: StripeSimulator
) -> None:
    drive_every_object(http, sim)

    for kind in ("account", "refund", "transfer_reversal"):
        assert not defines(kind, "livemode")
        assert all("livemode" not in obj for obj in sim.store.all(kind))
    assert all(obj["livemode"] is False for obj in sim.store.all("charge"))
    (dispute,) = sim.store.all("dispute")
    assert dispute["evidence_details"]["submission_method"] == "not_submitted"


def test_shape_errors_name_a_field_the_version_lacks_or_requires() -> None:
    refund = {"object": "refund", "id": "re_1", "livemode": False}
    dispute_details = {"due_by": None, "has_evidence": False, "past_due": False, "submission_count": 0}

    assert "refund.livemode: not a field of Refund" in shape_errors(refund)
    errors = shape_errors({"object": "dispute", "evidence_details": dispute_details})
    assert (
        "dispute.evidence_details.submission_method: required by Dispute.EvidenceDetails, missing" in errors
    )


# ---------------------------------------------------------------- the adapter


def test_every_call_the_adapter_makes_is_one_the_pinned_types_define(sim: StripeSimulator) -> None:
    payments = StripePayments(StripeSettings("sk_test_unit", SIM_URL), http_client=InProcessStripe(sim))
    called: set[str] = set()

    def use(name: str, **kwargs: Any) -> Any:
        called.add(name)
        return getattr(payments, name)(**kwargs)

    session = use(
        "create_checkout_session",
        order_id="or_1",
        user_id="fan",
        package_id="coins_700",
        coins=700,
        amount=999,
        currency="usd",
        payment_method="card",
        success_url="http://app.test/ok",
        cancel_url="http://app.test/cancel",
        idempotency_key="k1",
    )
    account = use("create_connect_account", user_id="creator", country="US", idempotency_key="k2")
    use(
        "create_onboarding_link",
        account_id=account.id,
        refresh_url="http://a.test/r",
        return_url="http://a.test/d",
    )
    sim.sim.pay_session(session.id)
    sim.sim.dispute(sim.sim.session_charge(session.id))
    sim.sim.complete_account(account.id)
    use(
        "create_transfer",
        amount=500,
        currency="usd",
        destination=account.id,
        transfer_group="wd_1",
        metadata={"withdrawal_id": "wd_1"},
        idempotency_key="k3",
    )
    use("find_transfer", transfer_group="wd_1")
    use("retrieve_session", session_id=session.id)
    window = {"since": sim.now() - 60, "until": sim.now() + 60}
    for listing in (
        "sessions_created",
        "charges_created",
        "disputes_created",
        "transfers_created",
        "balance_transactions_created",
    ):
        assert use(listing, **window), listing

    public = {
        name
        for name, member in inspect.getmembers(StripePayments, inspect.isfunction)
        if not name.startswith("_")
    }
    assert called == public, "a new adapter method needs its call held to the types here"
    requests = list(sim.store.requests)
    assert requests
    assert all(r.status == 200 for r in requests), [(r.path, r.status) for r in requests]
    for logged in requests:
        template = sim.app.api.router.template(logged.method, logged.path)
        assert template is not None, logged.path
        check_params(logged.params, request_params(logged.method, template))
