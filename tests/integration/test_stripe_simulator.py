"""The Stripe simulator speaks Stripe as the real SDK expects it: objects, errors, keys, webhooks."""

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest
import requests
import stripe

from devstack.dynamodb_local import free_port
from devstack.local_env import LOCAL_STRIPE_KEY, LOCAL_WEBHOOK_SECRET
from devstack.stripe_sim.server import StripeSimulator


@pytest.fixture
def sim(stripe_simulator: StripeSimulator) -> StripeSimulator:
    stripe_simulator.store.reset()
    stripe_simulator.webhook_url = None
    return stripe_simulator


@pytest.fixture
def client(sim: StripeSimulator) -> stripe.StripeClient:
    base = {"api": sim.base_url, "connect": sim.base_url}
    return stripe.StripeClient(LOCAL_STRIPE_KEY, base_addresses=base, max_network_retries=0)  # type: ignore[arg-type]


class Receiver:
    """A webhook endpoint that answers with the statuses it is told to, recording what it got."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = statuses
        self.received: list[tuple[str, str]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"])).decode()
                receiver.received.append((body, self.headers["Stripe-Signature"]))
                self.send_response(receiver.statuses.pop(0) if receiver.statuses else 200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", free_port()), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"

    def wait_for(self, count: int, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(self.received) >= count, self.received


@pytest.fixture
def receiver(sim: StripeSimulator) -> Iterator[Receiver]:
    found = Receiver([])
    sim.webhook_url = found.url
    yield found
    sim.webhook_url = None
    found.server.shutdown()


def session_params(**extra: Any) -> dict[str, Any]:
    return {
        "mode": "payment",
        "success_url": "http://app.test/ok?session_id={CHECKOUT_SESSION_ID}",
        "cancel_url": "http://app.test/cancel",
        "client_reference_id": "or_1",
        "metadata": {"order_id": "or_1"},
        "payment_intent_data": {"metadata": {"order_id": "or_1"}},
        "line_items": [
            {
                "quantity": 1,
                "price_data": {"currency": "usd", "unit_amount": 999, "product_data": {"name": "700 coins"}},
            }
        ],
        **extra,
    }


def test_a_checkout_session_is_created_read_back_and_paid_with_a_signed_event(
    sim: StripeSimulator, client: stripe.StripeClient, receiver: Receiver
) -> None:
    session = client.v1.checkout.sessions.create(params=session_params())  # type: ignore[arg-type]
    assert (session.status, session.payment_status, session.amount_total) == ("open", "unpaid", 999)
    assert client.v1.checkout.sessions.retrieve(session.id).url == session.url

    requests.post(f"{sim.base_url}/_sim/checkout/sessions/{session.id}/pay", timeout=5)
    receiver.wait_for(1)

    body, signature = receiver.received[0]
    event = stripe.Webhook.construct_event(body, signature, LOCAL_WEBHOOK_SECRET)
    assert event.type == "checkout.session.completed"
    assert event.data.object["payment_status"] == "paid"
    assert event.data.object["metadata"]["order_id"] == "or_1"
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(body.replace("999", "1"), signature, LOCAL_WEBHOOK_SECRET)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(body, signature, "whsec_another")
    charge = client.v1.charges.retrieve(
        client.v1.payment_intents.retrieve(event.data.object["payment_intent"]).latest_charge  # type: ignore[arg-type]
    )
    assert (charge.amount, charge.metadata["order_id"]) == (999, "or_1")


def test_the_same_idempotency_key_replays_and_another_body_is_refused(
    sim: StripeSimulator, client: stripe.StripeClient
) -> None:
    first = client.v1.checkout.sessions.create(params=session_params(), options={"idempotency_key": "k1"})  # type: ignore[arg-type]
    again = client.v1.checkout.sessions.create(params=session_params(), options={"idempotency_key": "k1"})  # type: ignore[arg-type]
    assert again.id == first.id
    with pytest.raises(stripe.IdempotencyError):
        client.v1.checkout.sessions.create(
            params=session_params(client_reference_id="or_2"),  # type: ignore[arg-type]
            options={"idempotency_key": "k1"},
        )

    requests.post(f"{sim.base_url}/_sim/clock/advance", json={"seconds": 25 * 3600}, timeout=5)
    forgotten = client.v1.checkout.sessions.create(params=session_params(), options={"idempotency_key": "k1"})  # type: ignore[arg-type]
    assert forgotten.id != first.id  # Stripe forgets keys after 24 hours


def test_errors_come_in_stripes_format(sim: StripeSimulator, client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.checkout.sessions.create(params={"mode": "payment"})
    assert missing.value.code == "parameter_missing"
    with pytest.raises(stripe.InvalidRequestError) as unknown:
        client.v1.checkout.sessions.retrieve("cs_test_nope")
    assert unknown.value.code == "resource_missing"
    with pytest.raises(stripe.AuthenticationError):
        stripe.StripeClient("sk_live_wrong", base_addresses={"api": sim.base_url}).v1.accounts.retrieve(
            "acct_1"
        )


def test_transfers_need_an_account_that_can_receive_payouts(
    sim: StripeSimulator, client: stripe.StripeClient
) -> None:
    account = client.v1.accounts.create(params={"type": "express", "country": "US"})
    params: Any = {"amount": 500, "currency": "usd", "destination": account.id, "transfer_group": "wd_1"}
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.transfers.create(params=params)
    assert refused.value.code == "insufficient_capabilities_for_transfer"

    requests.post(f"{sim.base_url}/_sim/accounts/{account.id}/complete", timeout=5)
    made = client.v1.transfers.create(params=params)

    listed = client.v1.transfers.list(params={"transfer_group": "wd_1"})
    assert [t.id for t in listed.data] == [made.id]
    assert client.v1.transfers.list(params={"transfer_group": "other"}).data == []


def test_a_failure_after_commit_leaves_the_transfer_made_but_unanswered(
    sim: StripeSimulator, client: stripe.StripeClient
) -> None:
    account = client.v1.accounts.create(params={"type": "express", "country": "US"})
    requests.post(f"{sim.base_url}/_sim/accounts/{account.id}/complete", timeout=5)
    requests.post(
        f"{sim.base_url}/_sim/fail_next", json={"path": "/v1/transfers", "after_commit": True}, timeout=5
    )
    params: Any = {"amount": 500, "currency": "usd", "destination": account.id, "transfer_group": "wd_2"}

    with pytest.raises(stripe.APIError):
        client.v1.transfers.create(params=params, options={"idempotency_key": "wd_2"})
    retried = client.v1.transfers.create(params=params, options={"idempotency_key": "wd_2"})

    assert [t["id"] for t in sim.transfers()] == [retried.id]


def test_failed_deliveries_are_retried_and_any_event_can_be_redelivered(
    sim: StripeSimulator, client: stripe.StripeClient, receiver: Receiver
) -> None:
    receiver.statuses = [500, 500]
    account = client.v1.accounts.create(params={"type": "express", "country": "US"})
    requests.post(f"{sim.base_url}/_sim/accounts/{account.id}/complete", timeout=5)
    receiver.wait_for(3)
    event_id = json.loads(receiver.received[0][0])["id"]
    attempts = [d for e in sim.events() if e.event["id"] == event_id for d in e.deliveries]
    assert [a.status for a in attempts] == [500, 500, 200]

    requests.post(f"{sim.base_url}/_sim/events/{event_id}/redeliver", timeout=5)
    receiver.wait_for(4)
    assert json.loads(receiver.received[3][0])["id"] == event_id


def test_the_hosted_page_offers_pay_fail_and_cancel(
    sim: StripeSimulator, client: stripe.StripeClient
) -> None:
    session = client.v1.checkout.sessions.create(params=session_params())  # type: ignore[arg-type]
    page = requests.get(session.url or "", timeout=5).text
    assert all(f"id={button}" in page for button in ("pay", "fail", "cancel"))

    paid = requests.post(session.url or "", data={"action": "pay"}, allow_redirects=False, timeout=5)

    assert paid.status_code == 303
    assert paid.headers["Location"] == f"http://app.test/ok?session_id={session.id}"
    assert client.v1.checkout.sessions.retrieve(session.id).payment_status == "paid"
