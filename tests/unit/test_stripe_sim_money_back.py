"""Refunds and disputes in the simulator send what Stripe sends (devstack/stripe_sim/money_back.py):
inquiries, chargebacks under review, prevented disputes, funds withdrawn and reinstated, pending
refunds that succeed or fail; each driven by a /_sim control, as tests and the simulation use them."""

import json
from typing import Any

import pytest
from werkzeug.test import Client

from devstack.stripe_sim.sdk_types import shape_errors
from devstack.stripe_sim.server import StripeSimulator

AUTH = {"Authorization": "Bearer sk_test_unit"}


@pytest.fixture
def sim() -> StripeSimulator:
    return StripeSimulator(port=0, public_url="http://sim.test")


@pytest.fixture
def http(sim: StripeSimulator) -> Client:
    return Client(sim.app)


def control(http: Client, path: str, body: dict[str, Any] | None = None, *, status: int = 200) -> Any:
    found = http.post(path, json=body or {})
    assert found.status_code == status, found.text
    return json.loads(found.data)


def paid_charge(http: Client, sim: StripeSimulator, amount: int = 999) -> str:
    form = {
        "mode": "payment",
        "line_items[0][quantity]": "1",
        "line_items[0][price_data][currency]": "usd",
        "line_items[0][price_data][unit_amount]": str(amount),
        "line_items[0][price_data][product_data][name]": "coins",
    }
    session = json.loads(http.post("/v1/checkout/sessions", data=form, headers=AUTH).data)
    control(http, f"/_sim/checkout/sessions/{session['id']}/pay")
    return sim.sim.session_charge(session["id"])


def events_after(sim: StripeSimulator, count: int) -> list[tuple[str, str | None]]:
    """(type, status of the object) of each event since the first `count`, each shaped as the version."""
    found = sim.events()[count:]
    for stored in found:
        assert shape_errors(stored.event["data"]["object"]) == [], stored.type
    return [(s.type, s.event["data"]["object"].get("status")) for s in found]


# ---------------------------------------------------------------- disputes


def test_an_inquiry_moves_no_money_goes_under_review_and_closes(http: Client, sim: StripeSimulator) -> None:
    charge = paid_charge(http, sim)
    start = len(sim.events())

    inquiry = control(http, f"/_sim/charges/{charge}/dispute", {"inquiry": True})
    control(http, f"/_sim/disputes/{inquiry['id']}/submit_evidence")
    closed = control(http, f"/_sim/disputes/{inquiry['id']}/close", {"status": "warning_closed"})

    assert events_after(sim, start) == [
        ("charge.dispute.created", "warning_needs_response"),
        ("charge.dispute.updated", "warning_under_review"),
        ("charge.dispute.closed", "warning_closed"),
    ]
    assert (closed["is_charge_refundable"], closed["balance_transactions"]) == (True, [])
    assert closed["payment_method_details"]["card"]["case_type"] == "inquiry"
    assert closed["evidence_details"]["submission_method"] == "manual"


def test_a_chargeback_withdraws_funds_with_the_fee_and_a_won_one_reinstates_them(
    http: Client, sim: StripeSimulator
) -> None:
    charge = paid_charge(http, sim)
    start = len(sim.events())

    dispute = control(http, f"/_sim/charges/{charge}/dispute")
    control(http, f"/_sim/disputes/{dispute['id']}/submit_evidence")
    won = control(http, f"/_sim/disputes/{dispute['id']}/close", {"status": "won"})

    assert events_after(sim, start) == [
        ("charge.dispute.created", "needs_response"),
        ("charge.dispute.funds_withdrawn", "needs_response"),
        ("charge.dispute.updated", "under_review"),
        ("charge.dispute.closed", "won"),
        ("charge.dispute.funds_reinstated", "won"),
    ]
    withdrawal, reinstatement = won["balance_transactions"]
    assert (withdrawal["amount"], withdrawal["fee"], withdrawal["net"]) == (-999, 1500, -2499)
    assert (withdrawal["reporting_category"], withdrawal["source"]) == ("dispute", dispute["id"])
    assert (reinstatement["amount"], reinstatement["reporting_category"]) == (999, "dispute_reversal")
    assert won["is_charge_refundable"] is False


def test_an_inquiry_may_be_followed_by_a_chargeback_but_a_charge_takes_one_chargeback(
    http: Client, sim: StripeSimulator
) -> None:
    charge = paid_charge(http, sim)
    inquiry = control(http, f"/_sim/charges/{charge}/dispute", {"inquiry": True})
    control(http, f"/_sim/disputes/{inquiry['id']}/close", {"status": "warning_closed"})

    chargeback = control(http, f"/_sim/charges/{charge}/dispute", {"amount": 500})
    again = control(http, f"/_sim/charges/{charge}/dispute", status=400)

    assert (chargeback["status"], chargeback["amount"]) == ("needs_response", 500)
    assert again["error"]["code"] == "charge_disputed"
    wrong = control(
        http, f"/_sim/disputes/{chargeback['id']}/close", {"status": "warning_closed"}, status=400
    )
    assert wrong["error"]["param"] == "status"


def test_a_prevented_dispute_is_closed_as_it_is_made_and_moves_no_money(
    http: Client, sim: StripeSimulator
) -> None:
    charge = paid_charge(http, sim)
    start = len(sim.events())

    prevented = control(http, f"/_sim/charges/{charge}/dispute", {"prevented": True})

    assert events_after(sim, start) == [
        ("charge.dispute.created", "prevented"),
        ("charge.dispute.closed", "prevented"),
    ]
    assert prevented["balance_transactions"] == []
    assert control(http, f"/_sim/disputes/{prevented['id']}/close", {"status": "won"}, status=400)


# ---------------------------------------------------------------- refunds


def test_a_charged_back_charge_cannot_be_refunded_but_one_under_inquiry_can(
    http: Client, sim: StripeSimulator
) -> None:
    charged_back, inquired = paid_charge(http, sim), paid_charge(http, sim)
    control(http, f"/_sim/charges/{charged_back}/dispute")
    control(http, f"/_sim/charges/{inquired}/dispute", {"inquiry": True})

    refused = http.post("/v1/refunds", data={"charge": charged_back}, headers=AUTH)
    refunded = http.post("/v1/refunds", data={"charge": inquired}, headers=AUTH)

    assert refused.status_code == 400
    assert json.loads(refused.data)["error"] == {
        "type": "invalid_request_error",
        "code": "charge_disputed",
        "doc_url": "https://stripe.com/docs/error-codes/charge-disputed",
        "message": f"Charge {charged_back} has been charged back; cannot issue a refund.",
    }
    assert (refunded.status_code, json.loads(refunded.data)["status"]) == (200, "succeeded")


def test_a_pending_refund_succeeds_later(http: Client, sim: StripeSimulator) -> None:
    charge = paid_charge(http, sim)
    start = len(sim.events())

    refund = control(http, f"/_sim/charges/{charge}/refund", {"amount": 300, "pending": True})
    control(http, f"/_sim/refunds/{refund['id']}/succeed")

    assert events_after(sim, start) == [
        ("refund.created", "pending"),
        ("charge.refunded", "succeeded"),
        ("refund.updated", "succeeded"),
    ]
    updated = sim.events()[-1].event["data"]
    assert updated["previous_attributes"] == {"status": "pending"}
    assert sim.object(charge)["amount_refunded"] == 300  # type: ignore[index]


def test_a_pending_refund_that_fails_gives_the_charge_its_amount_back(
    http: Client, sim: StripeSimulator
) -> None:
    charge = paid_charge(http, sim)
    start = len(sim.events())

    refund = control(http, f"/_sim/charges/{charge}/refund", {"pending": True})
    failed = control(
        http, f"/_sim/refunds/{refund['id']}/fail", {"failure_reason": "expired_or_canceled_card"}
    )

    assert events_after(sim, start) == [
        ("refund.created", "pending"),
        ("charge.refunded", "succeeded"),
        ("refund.updated", "failed"),
        ("refund.failed", "failed"),
    ]
    assert (failed["failure_reason"], failed["failure_balance_transaction"][:4]) == (
        "expired_or_canceled_card",
        "txn_",
    )
    after = sim.object(charge)
    assert after is not None
    assert (after["amount_refunded"], after["refunded"], after["refunds"]["data"][0]["status"]) == (
        0,
        False,
        "failed",
    )
    again = control(http, f"/_sim/refunds/{refund['id']}/succeed", status=400)
    assert "only a pending refund" in again["error"]["message"]
