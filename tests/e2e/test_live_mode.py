"""The local stack run as a prod stack runs (`make dev LIVEMODE=1`): StripeLivemode=true in every
function, live restricted keys (rk_live_) in every secret, and Stripe (its simulator) in live mode
answering and sending `livemode: true`. A purchase, a gift and a payout go through end to end."""

from collections.abc import Iterator

import pytest
import requests

from devstack.local_env import LOCAL_LIVE_STRIPE_KEY, LOCAL_STRIPE_KEY
from tests.e2e.conftest import LocalStack, eventually, running_stack


@pytest.fixture(scope="module")
def live_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with running_stack(tmp_path_factory.mktemp("jwt-live"), "coins-e2e-live", "--stripe-livemode") as stack:
        yield stack


def stripe_get(stack: LocalStack, path: str, key: str) -> requests.Response:
    return requests.get(f"{stack.stripe}{path}", headers={"Authorization": f"Bearer {key}"}, timeout=10)


def test_a_live_deployment_takes_a_purchase_a_gift_and_a_payout_end_to_end(
    live_stack: LocalStack, http: requests.Session
) -> None:
    api, sim = live_stack.api, live_stack.stripe
    assert "LIVE MODE" in "".join(live_stack.output)
    fan = live_stack.headers("live-fan", birthdate="1991-02-03")
    creator = live_stack.headers("live-creator", birthdate="1990-05-17")
    admin = live_stack.headers("live-admin", groups=("admins",))

    def wallet(headers: dict[str, str]) -> int:
        return int(http.get(f"{api}/v1/wallet", headers=headers).json()["coins"])

    # Given a fan who buys 700 coins: Checkout opens a live session with the function's live key
    opened = http.post(
        f"{api}/v1/checkout",
        headers={**fan, "Idempotency-Key": "live-order-1"},
        json={"package_id": "coins_700"},
    )
    assert opened.status_code == 201, opened.text
    session_id = opened.json()["session_id"]
    assert session_id.startswith("cs_live_")
    assert stripe_get(live_stack, f"/v1/checkout/sessions/{session_id}", LOCAL_STRIPE_KEY).status_code == 401
    session = stripe_get(live_stack, f"/v1/checkout/sessions/{session_id}", LOCAL_LIVE_STRIPE_KEY).json()
    assert session["livemode"] is True
    # When they pay, the live webhook (livemode: true) is taken and credits the coins
    assert http.post(f"{sim}/_sim/checkout/sessions/{session_id}/pay").status_code == 200
    assert eventually(lambda: wallet(fan), 700) == 700

    # And a creator onboards (a live Connect account), goes live and receives gifts
    onboarding = http.post(f"{api}/v1/creator/onboarding", headers=creator)
    assert onboarding.status_code in (200, 201), onboarding.text
    account = onboarding.json()["account_id"]
    assert http.post(f"{sim}/_sim/accounts/{account}/complete").status_code == 200
    stream = http.post(f"{api}/v1/streams", headers={**creator, "Idempotency-Key": "live-stream"}, json={})
    assert stream.status_code == 201
    granted = http.post(
        f"{api}/v1/admin/adjustments",
        headers={**admin, "Idempotency-Key": "live-budget"},
        json={"user_id": "live-fan", "unit": "coins", "amount": 5300, "reason": "test budget"},
    )
    assert granted.status_code in (200, 201), granted.text
    for n in range(6):
        sent = http.post(
            f"{api}/v1/gifts",
            headers={**fan, "Idempotency-Key": f"live-gift-{n}"},
            json={
                "creator_id": "live-creator",
                "gift_id": "galaxy",
                "quantity": 1,
                "stream_id": stream.json()["stream_id"],
            },
        )
        assert sent.status_code == 201, sent.text
    assert wallet(fan) == 0
    pending = eventually(
        lambda: http.get(f"{api}/v1/creator/earnings", headers=creator).json()["diamonds"]["pending"], 3000
    )
    assert pending == 3000

    # Then the payout batch (PayoutWorker with its live key) pays the withdrawal with a live transfer
    live_stack.run_payouts(as_of="2099-01-01")
    withdrawal = http.post(
        f"{api}/v1/creator/withdrawals",
        headers={**creator, "Idempotency-Key": "live-payday"},
        json={"diamonds": 3000},
    )
    assert withdrawal.status_code == 201, withdrawal.text
    assert "paid" in live_stack.run_payouts()
    (transfer,) = [t for t in http.get(f"{sim}/_sim/transfers").json()["data"] if t["destination"] == account]
    assert (transfer["amount"], transfer["currency"], transfer["livemode"]) == (1500, "usd", True)
    payouts = http.get(f"{api}/v1/creator/earnings", headers=creator).json()["payouts"]
    assert [(p["status"], p["transfer_id"]) for p in payouts] == [("paid", transfer["id"])]

    # Every event Stripe sent was a live one, and the webhook took every one of them
    events = http.get(f"{sim}/_sim/events").json()["data"]
    assert {e["event"]["type"] for e in events} >= {"checkout.session.completed", "account.updated"}
    assert all(e["event"]["livemode"] is True for e in events)
    assert all(e["deliveries"] and e["deliveries"][-1]["status"] == 200 for e in events), events
