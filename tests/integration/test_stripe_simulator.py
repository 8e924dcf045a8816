"""The Stripe simulator over HTTP, through the real `stripe` SDK as production uses it.

Each test starts its own simulator on a free port (tiny webhook retry delays, so retries take
milliseconds) and, when it needs webhooks, a tiny local receiver that answers as it is told.
"""

import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast

import pytest
import requests
import stripe
from stripe.params import TransferCreateParams
from stripe.params.checkout import SessionCreateParams

from devstack.dynamodb_local import free_port
from devstack.stripe_sim.server import StripeSimulator
from devstack.template import ROOT

SECRET = "whsec_simulator_tests"
KEY = "sk_test_simulator"


@dataclass
class Received:
    body: str
    signature: str


class Receiver:
    """A webhook endpoint: answers each POST with the next scripted status (then 200), records it."""

    def __init__(self) -> None:
        self.statuses: list[int] = []
        self.received: list[Received] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"])).decode()
                receiver.received.append(Received(body, self.headers["Stripe-Signature"]))
                self.send_response(receiver.statuses.pop(0) if receiver.statuses else 200)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/v1/webhooks/stripe"

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(self.received) >= count, [json.loads(r.body)["type"] for r in self.received]
        return self.received

    def events(self) -> list[stripe.Event]:
        return [stripe.Webhook.construct_event(r.body, r.signature, SECRET) for r in self.received]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.server.shutdown()
    found.server.server_close()


@pytest.fixture
def sim(receiver: Receiver) -> Iterator[StripeSimulator]:
    simulator = StripeSimulator(
        port=0, webhook_url=receiver.url, webhook_secret=SECRET, retry_delay=0.01, max_attempts=4
    )
    with simulator:
        yield simulator


@pytest.fixture
def client(sim: StripeSimulator) -> stripe.StripeClient:
    return stripe.StripeClient(
        KEY, base_addresses={"api": sim.base_url, "connect": sim.base_url}, max_network_retries=0
    )


def control(sim: StripeSimulator, path: str, body: dict[str, Any] | None = None) -> Any:
    answer = requests.post(f"{sim.base_url}{path}", json=body or {}, timeout=5)
    assert answer.status_code == 200, answer.text
    return answer.json()


def session_params(**extra: Any) -> SessionCreateParams:
    """What production sends, typed by the SDK's parameters for the pinned version."""
    params: SessionCreateParams = {
        "mode": "payment",
        "success_url": "http://app.test/checkout/success?session_id={CHECKOUT_SESSION_ID}",
        "cancel_url": "http://app.test/checkout/cancelled",
        "client_reference_id": "or_1",
        "metadata": {"order_id": "or_1", "coins": "700"},
        "payment_intent_data": {"metadata": {"order_id": "or_1", "coins": "700"}},
        "allowed_payment_method_types": ["card"],
        "line_items": [
            {
                "quantity": 1,
                "price_data": {"currency": "usd", "unit_amount": 999, "product_data": {"name": "700 coins"}},
            }
        ],
    }
    return cast(SessionCreateParams, {**params, **extra})


def payable_account(sim: StripeSimulator, client: stripe.StripeClient) -> str:
    account = client.v1.accounts.create(
        params={"type": "express", "country": "US", "capabilities": {"transfers": {"requested": True}}}
    )
    control(sim, f"/_sim/accounts/{account.id}/complete")
    return account.id


def paid_charge(sim: StripeSimulator, client: stripe.StripeClient) -> str:
    """A session paid through /_sim; its charge's id, found as production would find it."""
    session = client.v1.checkout.sessions.create(params=session_params())
    control(sim, f"/_sim/checkout/sessions/{session.id}/pay")
    intent = client.v1.checkout.sessions.retrieve(
        session.id, params={"expand": ["payment_intent"]}
    ).payment_intent
    assert isinstance(intent, stripe.PaymentIntent)
    return str(intent.latest_charge)


def transfer_params(destination: str, group: str = "wd_1") -> TransferCreateParams:
    return {
        "amount": 2000,
        "currency": "usd",
        "destination": destination,
        "transfer_group": group,
        "metadata": {"withdrawal_id": group},
        "description": f"Creator payout {group}",
    }


# ---------------------------------------------------------------------- checkout


def test_a_created_session_reads_back_open_unpaid_with_its_hosted_page(
    sim: StripeSimulator, client: stripe.StripeClient
) -> None:
    created = client.v1.checkout.sessions.create(params=session_params())

    found = client.v1.checkout.sessions.retrieve(created.id)

    assert found.id.startswith("cs_test_")
    assert (found.status, found.payment_status, found.payment_intent) == ("open", "unpaid", None)
    assert (found.amount_total, found.currency) == (999, "usd")
    assert found.metadata is not None
    assert found.metadata.to_dict() == {"order_id": "or_1", "coins": "700"}
    assert (found.client_reference_id, found.livemode) == ("or_1", False)
    assert found.url == f"{sim.base_url}/checkout/{created.id}"


def test_paying_sends_a_signed_completed_event_the_sdk_verifies_and_nothing_forged_passes(
    sim: StripeSimulator, client: stripe.StripeClient, receiver: Receiver
) -> None:
    session = client.v1.checkout.sessions.create(params=session_params())

    control(sim, f"/_sim/checkout/sessions/{session.id}/pay")

    delivery = receiver.wait_for(1)[0]
    event = stripe.Webhook.construct_event(delivery.body, delivery.signature, SECRET)
    assert (event.type, event.livemode, event.api_version) == (
        "checkout.session.completed",
        False,
        stripe.api_version,
    )
    paid = event.data.object
    assert (paid["id"], paid["status"], paid["payment_status"]) == (session.id, "complete", "paid")
    assert paid["metadata"]["order_id"] == "or_1"
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(delivery.body.replace("999", "9990"), delivery.signature, SECRET)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(delivery.body, delivery.signature, "whsec_someone_else")


def test_the_payment_has_an_intent_and_charge_with_the_sessions_amount_currency_and_metadata(
    sim: StripeSimulator, client: stripe.StripeClient
) -> None:
    session = client.v1.checkout.sessions.create(params=session_params())
    control(sim, f"/_sim/checkout/sessions/{session.id}/pay")

    intent = client.v1.payment_intents.retrieve(
        str(client.v1.checkout.sessions.retrieve(session.id).payment_intent)
    )
    charge = client.v1.charges.retrieve(str(intent.latest_charge))

    assert (intent.status, intent.amount, intent.currency) == ("succeeded", 999, "usd")
    assert (charge.status, charge.paid, charge.amount, charge.currency) == ("succeeded", True, 999, "usd")
    assert charge.metadata.to_dict() == intent.metadata.to_dict() == {"order_id": "or_1", "coins": "700"}
    listed = client.v1.checkout.sessions.list(params={"payment_intent": intent.id})
    assert [s.id for s in listed.data] == [session.id]


@pytest.mark.parametrize(
    ("outcome", "event_type", "payment_status"),
    [
        ("async_succeed", "checkout.session.async_payment_succeeded", "paid"),
        ("async_fail", "checkout.session.async_payment_failed", "unpaid"),
    ],
)
def test_a_delayed_payment_completes_unpaid_then_settles(
    sim: StripeSimulator,
    client: stripe.StripeClient,
    receiver: Receiver,
    outcome: str,
    event_type: str,
    payment_status: str,
) -> None:
    session = client.v1.checkout.sessions.create(
        params=session_params(allowed_payment_method_types=["konbini"])
    )

    control(sim, f"/_sim/checkout/sessions/{session.id}/pay", {"async": True})
    control(sim, f"/_sim/checkout/sessions/{session.id}/{outcome}")

    receiver.wait_for(2)
    completed, settled = receiver.events()
    assert (completed.type, completed.data.object["payment_status"]) == (
        "checkout.session.completed",
        "unpaid",
    )
    assert (settled.type, settled.data.object["payment_status"]) == (event_type, payment_status)
    assert client.v1.checkout.sessions.retrieve(session.id).payment_status == payment_status


def test_expiring_a_session_emits_expired_and_the_api_refuses_a_second_expiry(
    sim: StripeSimulator, client: stripe.StripeClient, receiver: Receiver
) -> None:
    session = client.v1.checkout.sessions.create(params=session_params())

    expired = client.v1.checkout.sessions.expire(session.id)

    assert (expired.status, expired.url) == ("expired", None)
    receiver.wait_for(1)
    assert receiver.events()[0].type == "checkout.session.expired"
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.checkout.sessions.expire(session.id)


# ---------------------------------------------------------------------- refunds and disputes


def test_refunds_update_the_charge_and_emit_refund_created_and_charge_refunded_until_fully_refunded(
    sim: StripeSimulator, client: stripe.StripeClient, receiver: Receiver
) -> None:
    charge_id = paid_charge(sim, client)

    partial = control(sim, f"/_sim/charges/{charge_id}/refund", {"amount": 400})
    rest = control(sim, f"/_sim/charges/{charge_id}/refund")

    assert (partial["object"], partial["amount"], rest["amount"]) == ("refund", 400, 599)
    assert client.v1.refunds.retrieve(rest["id"]).charge == charge_id
    charge = client.v1.charges.retrieve(charge_id)
    assert (charge.amount_refunded, charge.refunded) == (999, True)
    receiver.wait_for(5)
    refunded = [e.data.object for e in receiver.events() if e.type == "charge.refunded"]
    assert [(c["amount_refunded"], c["refunded"]) for c in refunded] == [(400, False), (999, True)]
    assert refunded[0]["metadata"]["order_id"] == "or_1"
    created = [e.data.object for e in receiver.events() if e.type == "refund.created"]
    assert [(r["id"], r["status"]) for r in created] == [
        (partial["id"], "succeeded"),
        (rest["id"], "succeeded"),
    ]


@pytest.mark.parametrize(
    ("closed_as", "funds_events"),
    [
        ("won", ["charge.dispute.funds_withdrawn", "charge.dispute.funds_reinstated"]),
        ("lost", ["charge.dispute.funds_withdrawn"]),
    ],
)
def test_a_chargeback_withdraws_the_charge_amount_then_closes(
    sim: StripeSimulator,
    client: stripe.StripeClient,
    receiver: Receiver,
    closed_as: str,
    funds_events: list[str],
) -> None:
    session = client.v1.checkout.sessions.create(params=session_params())
    control(sim, f"/_sim/checkout/sessions/{session.id}/pay")

    dispute = control(sim, f"/_sim/checkout/sessions/{session.id}/dispute")
    control(sim, f"/_sim/disputes/{dispute['id']}/close", {"status": closed_as})

    receiver.wait_for(3 + len(funds_events))
    disputes = [e for e in receiver.events() if e.type.startswith("charge.dispute.")]
    created, closed = disputes[0], next(e for e in disputes if e.type == "charge.dispute.closed")
    assert created.type == "charge.dispute.created"
    assert (created.data.object["status"], created.data.object["amount"]) == ("needs_response", 999)
    assert (closed.type, closed.data.object["status"]) == ("charge.dispute.closed", closed_as)
    assert [e.type for e in disputes if "funds" in e.type] == funds_events
    found = client.v1.disputes.retrieve(dispute["id"])
    assert found.status == closed_as
    assert [t.amount for t in found.balance_transactions] == [-999, 999][: len(funds_events)]


# ---------------------------------------------------------------------- idempotency


def test_the_same_key_and_parameters_replay_the_first_session(client: stripe.StripeClient) -> None:
    first = client.v1.checkout.sessions.create(
        params=session_params(), options={"idempotency_key": "order-1"}
    )

    again = client.v1.checkout.sessions.create(
        params=session_params(), options={"idempotency_key": "order-1"}
    )

    assert again.id == first.id
    assert again.last_response is not None
    assert again.last_response.headers["Idempotent-Replayed"] == "true"


def test_the_same_key_with_other_parameters_raises_idempotency_error(client: stripe.StripeClient) -> None:
    client.v1.checkout.sessions.create(params=session_params(), options={"idempotency_key": "order-1"})

    with pytest.raises(stripe.IdempotencyError):
        client.v1.checkout.sessions.create(
            params=session_params(client_reference_id="or_2"), options={"idempotency_key": "order-1"}
        )


def test_a_key_is_forgotten_once_the_clock_has_moved_24_hours(
    sim: StripeSimulator, client: stripe.StripeClient
) -> None:
    first = client.v1.checkout.sessions.create(
        params=session_params(), options={"idempotency_key": "order-1"}
    )

    control(sim, "/_sim/clock/advance", {"seconds": 24 * 3600})
    later = client.v1.checkout.sessions.create(
        params=session_params(), options={"idempotency_key": "order-1"}
    )

    assert later.id != first.id
    assert later.created >= first.created + 24 * 3600  # objects are stamped with the simulator's clock


def test_concurrent_requests_under_one_key_make_one_transfer(
    sim: StripeSimulator, client: stripe.StripeClient
) -> None:
    destination = payable_account(sim, client)

    def pay(key: str) -> str:
        return client.v1.transfers.create(
            params=transfer_params(destination), options={"idempotency_key": key}
        ).id

    with ThreadPoolExecutor(max_workers=8) as pool:
        same_key = set(pool.map(pay, ["wd_1"] * 16))
        distinct = set(pool.map(pay, [f"wd_{n}" for n in range(2, 10)]))

    assert len(same_key) == 1
    assert len(distinct) == 8
    assert len(sim.transfers()) == 9


# ---------------------------------------------------------------------- Connect and transfers


def test_a_new_account_cannot_be_paid_until_onboarding_completes(
    sim: StripeSimulator, client: stripe.StripeClient, receiver: Receiver
) -> None:
    account = client.v1.accounts.create(
        params={
            "type": "express",
            "country": "US",
            "email": "creator@example.com",
            "capabilities": {"transfers": {"requested": True}},
            "metadata": {"user_id": "creator-1"},
        }
    )
    assert account.id.startswith("acct_")
    assert (account.payouts_enabled, account.charges_enabled, account.details_submitted) == (
        False,
        False,
        False,
    )
    assert account.requirements is not None
    assert account.requirements.currently_due

    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.transfers.create(params=transfer_params(account.id))
    assert (refused.value.http_status, refused.value.code) == (400, "insufficient_capabilities_for_transfer")

    control(sim, f"/_sim/accounts/{account.id}/complete")

    enabled = client.v1.accounts.retrieve(account.id)
    assert (enabled.payouts_enabled, enabled.capabilities and enabled.capabilities.transfers) == (
        True,
        "active",
    )
    assert client.v1.transfers.create(params=transfer_params(account.id)).destination == account.id
    receiver.wait_for(1)
    updated = receiver.events()[0]
    assert (updated.type, updated.data.object["payouts_enabled"]) == ("account.updated", True)


def test_a_transfer_to_an_unknown_account_is_refused(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.transfers.create(params=transfer_params("acct_1NoSuchAccount"))

    assert (refused.value.http_status, refused.value.code, refused.value.param) == (
        400,
        "account_invalid",
        "destination",
    )


def test_a_restricted_account_stops_receiving_transfers(
    sim: StripeSimulator, client: stripe.StripeClient
) -> None:
    destination = payable_account(sim, client)

    control(sim, f"/_sim/accounts/{destination}/restrict")

    with pytest.raises(stripe.InvalidRequestError):
        client.v1.transfers.create(params=transfer_params(destination))


def test_the_onboarding_link_page_completes_the_account_and_returns_to_the_app(
    sim: StripeSimulator, client: stripe.StripeClient
) -> None:
    account = client.v1.accounts.create(params={"type": "express", "country": "JP"})
    link = client.v1.account_links.create(
        params={
            "account": account.id,
            "refresh_url": "http://app.test/onboarding/retry",
            "return_url": "http://app.test/onboarding/done",
            "type": "account_onboarding",
        }
    )
    assert link.url == f"{sim.base_url}/connect/onboard/{account.id}"
    assert "id=complete" in requests.get(link.url, timeout=5).text

    done = requests.post(link.url, allow_redirects=False, timeout=5)

    assert (done.status_code, done.headers["Location"]) == (303, "http://app.test/onboarding/done")
    assert client.v1.accounts.retrieve(account.id).payouts_enabled is True


def test_transfers_list_by_transfer_group_and_destination(
    sim: StripeSimulator, client: stripe.StripeClient
) -> None:
    first, second = payable_account(sim, client), payable_account(sim, client)
    made = client.v1.transfers.create(params=transfer_params(first, "wd_1"))
    client.v1.transfers.create(params=transfer_params(second, "wd_2"))

    by_group = client.v1.transfers.list(params={"transfer_group": "wd_1", "limit": 1})
    by_destination = client.v1.transfers.list(params={"destination": second})

    assert ([t.id for t in by_group.data], by_group.has_more, by_group.url) == (
        [made.id],
        False,
        "/v1/transfers",
    )
    assert [t.transfer_group for t in by_destination.data] == ["wd_2"]
    assert client.v1.transfers.list(params={"transfer_group": "wd_3"}).data == []


def test_reversing_a_transfer_emits_transfer_reversed(
    sim: StripeSimulator, client: stripe.StripeClient, receiver: Receiver
) -> None:
    transfer = client.v1.transfers.create(params=transfer_params(payable_account(sim, client)))

    reversal = control(sim, f"/_sim/transfers/{transfer.id}/reverse", {"amount": 500})

    assert (reversal["object"], reversal["amount"], reversal["transfer"]) == (
        "transfer_reversal",
        500,
        transfer.id,
    )
    found = client.v1.transfers.retrieve(transfer.id)
    assert (found.amount_reversed, found.reversed) == (500, False)
    receiver.wait_for(3)
    reversed_event = receiver.events()[-1]
    assert (reversed_event.type, reversed_event.data.object["amount_reversed"]) == ("transfer.reversed", 500)


# ---------------------------------------------------------------------- failure injection


def test_a_lost_answer_after_commit_leaves_the_transfer_made_and_a_retry_finds_it(
    sim: StripeSimulator, client: stripe.StripeClient
) -> None:
    destination = payable_account(sim, client)
    control(sim, "/_sim/fail_next", {"path": "/v1/transfers", "after_commit": True})

    with pytest.raises(stripe.APIError):
        client.v1.transfers.create(params=transfer_params(destination), options={"idempotency_key": "wd_1"})

    assert len(sim.transfers()) == 1
    retried = client.v1.transfers.create(
        params=transfer_params(destination), options={"idempotency_key": "wd_1"}
    )
    assert [t["id"] for t in sim.transfers()] == [retried.id]


def test_a_dropped_connection_after_commit_is_a_connection_error_with_the_transfer_made(
    sim: StripeSimulator, client: stripe.StripeClient
) -> None:
    destination = payable_account(sim, client)
    control(sim, "/_sim/fail_next", {"path": "/v1/transfers", "after_commit": True, "drop": True})

    with pytest.raises(stripe.APIConnectionError):
        client.v1.transfers.create(params=transfer_params(destination), options={"idempotency_key": "wd_1"})

    assert [t["transfer_group"] for t in sim.transfers()] == ["wd_1"]
    assert client.v1.transfers.list(params={"transfer_group": "wd_1"}).data[0].id == sim.transfers()[0]["id"]


def test_an_injected_rate_limit_raises_the_sdks_rate_limit_error(
    sim: StripeSimulator, client: stripe.StripeClient
) -> None:
    control(sim, "/_sim/fail_next", {"method": "GET", "path": "/v1/events", "status": 429})

    with pytest.raises(stripe.RateLimitError):
        client.v1.events.list()
    assert client.v1.events.list().data == []


# ---------------------------------------------------------------------- webhooks


def test_failed_deliveries_are_retried_with_backoff_and_every_attempt_is_recorded(
    sim: StripeSimulator, client: stripe.StripeClient, receiver: Receiver
) -> None:
    receiver.statuses = [500, 503]
    session = client.v1.checkout.sessions.create(params=session_params())

    control(sim, f"/_sim/checkout/sessions/{session.id}/pay")

    receiver.wait_for(3)
    assert sim.wait_for_deliveries()
    stored = requests.get(f"{sim.base_url}/_sim/events", timeout=5).json()["data"][0]
    attempts = stored["deliveries"]
    assert [(a["attempt"], a["status"]) for a in attempts] == [(1, 500), (2, 503), (3, 200)]
    # Backoff doubles from retry_delay (0.01 s): the gaps are at least 0.01 s, then 0.02 s.
    assert attempts[1]["at"] - attempts[0]["at"] >= 0.01
    assert attempts[2]["at"] - attempts[1]["at"] >= 0.02
    assert {json.loads(r.body)["id"] for r in receiver.received} == {stored["event"]["id"]}
    assert stored["event"]["pending_webhooks"] == 0


def test_an_unreachable_endpoint_is_tried_max_attempts_times(
    sim: StripeSimulator, client: stripe.StripeClient, receiver: Receiver
) -> None:
    sim.webhook_url = "http://127.0.0.1:9/unreachable"  # the discard port: connection refused
    account = client.v1.accounts.create(params={"type": "express"})

    control(sim, f"/_sim/accounts/{account.id}/complete")

    assert sim.wait_for_deliveries()
    [stored] = sim.events()
    assert [d.status for d in stored.deliveries] == [None] * 4
    assert all(d.error for d in stored.deliveries)


def test_an_event_can_be_redelivered_with_the_same_id_and_a_fresh_signature(
    sim: StripeSimulator, client: stripe.StripeClient, receiver: Receiver
) -> None:
    account = client.v1.accounts.create(params={"type": "express"})
    control(sim, f"/_sim/accounts/{account.id}/complete")
    first = receiver.wait_for(1)[0]
    event_id = json.loads(first.body)["id"]

    control(sim, f"/_sim/events/{event_id}/redeliver")

    again = receiver.wait_for(2)[1]
    assert json.loads(again.body)["id"] == event_id
    assert stripe.Webhook.construct_event(again.body, again.signature, SECRET).id == event_id
    assert sim.wait_for_deliveries()  # the attempt is recorded once its answer is back
    original, redelivered = sim.events()[0].deliveries
    assert (original.redelivery, redelivered.redelivery) == (False, True)
    assert redelivered.signed_at >= original.signed_at  # signed when sent, not when first sent
    assert again.signature == f"t={redelivered.signed_at},v1={again.signature.split('v1=')[1]}"


def test_paused_delivery_holds_events_then_sends_them_in_creation_order(
    sim: StripeSimulator, client: stripe.StripeClient, receiver: Receiver
) -> None:
    control(sim, "/_sim/delivery", {"paused": True})
    sessions = [client.v1.checkout.sessions.create(params=session_params()) for _ in range(3)]
    for session in sessions:
        control(sim, f"/_sim/checkout/sessions/{session.id}/pay")
    time.sleep(0.1)
    assert receiver.received == []

    control(sim, "/_sim/delivery", {"paused": False})

    receiver.wait_for(3)
    assert [e.data.object["id"] for e in receiver.events()] == [s.id for s in sessions]
    newest_first = client.v1.events.list(params={"type": "checkout.session.completed"})
    assert [e.data.object["id"] for e in newest_first.data] == [s.id for s in reversed(sessions)]


def test_without_a_webhook_url_events_are_only_stored(
    sim: StripeSimulator, client: stripe.StripeClient
) -> None:
    sim.webhook_url = None
    session = client.v1.checkout.sessions.create(params=session_params())

    control(sim, f"/_sim/checkout/sessions/{session.id}/pay")

    assert sim.wait_for_deliveries()
    [stored] = sim.events()
    assert (stored.type, stored.deliveries, stored.event["pending_webhooks"]) == (
        "checkout.session.completed",
        [],
        0,
    )
    assert client.v1.events.retrieve(stored.id).type == "checkout.session.completed"


# ---------------------------------------------------------------------- auth and errors


@pytest.mark.parametrize("key", ["", "sk_live_not_here", "pk_test_publishable"])
def test_requests_without_a_test_secret_key_raise_authentication_error(
    sim: StripeSimulator, key: str
) -> None:
    client = stripe.StripeClient(key or "x", base_addresses={"api": sim.base_url}, max_network_retries=0)
    if not key:  # no Authorization header at all, which the SDK never sends
        answer = requests.get(f"{sim.base_url}/v1/events", timeout=5)
        assert (answer.status_code, answer.json()["error"]["type"]) == (401, "invalid_request_error")
        return

    with pytest.raises(stripe.AuthenticationError):
        client.v1.events.list()


def test_missing_parameters_and_unknown_ids_raise_stripes_errors(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.checkout.sessions.create(params={"mode": "payment"})
    with pytest.raises(stripe.InvalidRequestError) as unknown:
        client.v1.charges.retrieve("ch_3NoSuchCharge")

    assert (missing.value.http_status, missing.value.code, missing.value.param) == (
        400,
        "parameter_missing",
        "line_items",
    )
    assert (unknown.value.http_status, unknown.value.code) == (404, "resource_missing")


# ---------------------------------------------------------------------- the hosted checkout page


def test_the_hosted_page_offers_pay_fail_and_cancel_and_pay_redirects_and_emits(
    sim: StripeSimulator, client: stripe.StripeClient, receiver: Receiver
) -> None:
    session = client.v1.checkout.sessions.create(params=session_params())
    page = requests.get(session.url or "", timeout=5)
    assert page.headers["Content-Type"].startswith("text/html")
    for button, label in (("pay", "Pay"), ("fail", "Fail"), ("cancel", "Cancel")):
        assert f"id={button} name=action value={button} type=submit>{label}</button>" in page.text
    assert "9.99 USD" in page.text

    paid = requests.post(session.url or "", data={"action": "pay"}, allow_redirects=False, timeout=5)

    assert paid.status_code == 303
    assert paid.headers["Location"] == f"http://app.test/checkout/success?session_id={session.id}"
    receiver.wait_for(1)
    assert receiver.events()[0].type == "checkout.session.completed"
    assert client.v1.checkout.sessions.retrieve(session.id).payment_status == "paid"
    assert "is complete" in requests.get(f"{sim.base_url}/checkout/{session.id}", timeout=5).text


def test_fail_on_the_hosted_page_declines_without_an_event_and_cancel_returns_to_the_app(
    sim: StripeSimulator, client: stripe.StripeClient, receiver: Receiver
) -> None:
    session = client.v1.checkout.sessions.create(params=session_params())

    declined = requests.post(session.url or "", data={"action": "fail"}, timeout=5)
    cancelled = requests.post(session.url or "", data={"action": "cancel"}, allow_redirects=False, timeout=5)

    assert "Your card was declined" in declined.text
    assert (cancelled.status_code, cancelled.headers["Location"]) == (
        303,
        "http://app.test/checkout/cancelled",
    )
    assert client.v1.checkout.sessions.retrieve(session.id).status == "open"
    assert sim.wait_for_deliveries()
    assert (sim.events(), receiver.received) == ([], [])


# ---------------------------------------------------------------------- the command line


def test_the_command_line_entry_point_serves_until_terminated() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "devstack.stripe_sim", "--port", "0", "--webhook-secret", SECRET],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()
        base_url = banner.split()[3]
        assert requests.get(f"{base_url}/_sim/clock", timeout=5).json()["offset"] == 0
    finally:
        process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=10) == 0


# ---------------------------------------------------------------------- kept state (make dev)


def test_events_still_owed_a_delivery_are_delivered_after_a_restart(
    receiver: Receiver, tmp_path: Path
) -> None:
    # Given a simulator keeping its state, whose webhook endpoint is down when a payment completes
    down = f"http://127.0.0.1:{free_port()}/v1/webhooks/stripe"
    first = StripeSimulator(
        port=0, webhook_url=down, webhook_secret=SECRET, retry_delay=60, max_attempts=4, data_dir=tmp_path
    )
    with first:
        client = stripe.StripeClient(KEY, base_addresses={"api": first.base_url}, max_network_retries=0)
        session = client.v1.checkout.sessions.create(params=session_params())
        first.sim.pay_session(session.id)
        deadline = time.monotonic() + 5
        while not first.events()[0].deliveries and time.monotonic() < deadline:
            time.sleep(0.01)
    (owed,) = first.events()
    assert [d.status for d in owed.deliveries] == [None]

    # When it restarts (`make dev` again) with the endpoint up
    with StripeSimulator(
        port=0, webhook_url=receiver.url, webhook_secret=SECRET, retry_delay=0.01, data_dir=tmp_path
    ) as again:
        # Then the event is delivered as its second attempt, and the session is still there
        (received,) = receiver.wait_for(1)
        assert json.loads(received.body)["id"] == owed.id
        assert again.wait_for_deliveries()
        (kept,) = again.events()
        assert [(d.attempt, d.status) for d in kept.deliveries] == [(1, None), (2, 200)]
        assert kept.event["pending_webhooks"] == 0
        assert again.object(session.id)["status"] == "complete"  # type: ignore[index]
