"""A creator onboards, earns diamonds from gifts, they mature, are withdrawn and paid by the batch."""

import requests

from tests.e2e.conftest import LocalStack, eventually


def test_a_creator_is_paid_by_the_payout_batch(local_stack: LocalStack, http: requests.Session) -> None:
    api, sim = local_stack.api, local_stack.stripe
    creator = local_stack.headers("payout-creator", birthdate="1990-05-17")
    fans = [local_stack.headers(f"payout-fan-{n}", birthdate="1992-03-04") for n in range(2)]
    admin = local_stack.headers("payout-admin", groups=("admins",))

    # Given an onboarded creator (onboarding makes them a creator) whose Connect account Stripe has
    # completed, live on a stream
    onboarding = http.post(f"{api}/v1/creator/onboarding", headers=creator).json()
    assert http.post(f"{api}/v1/creator/onboarding", headers=creator).json() == onboarding
    assert http.post(f"{sim}/_sim/accounts/{onboarding['account_id']}/complete").status_code == 200
    stream = http.post(f"{api}/v1/streams", headers={**creator, "Idempotency-Key": "payday"}, json={})
    assert stream.status_code == 201
    # ... who received 12,000 diamonds' worth of gifts (24,000 coins at 1 diamond per 2 coins) from
    # two fans (each under the 20,000 coins a day that puts a gifter under review)
    for n in range(2):
        http.post(
            f"{api}/v1/admin/adjustments",
            headers={**admin, "Idempotency-Key": f"payout-coins-{n}"},
            json={"user_id": f"payout-fan-{n}", "unit": "coins", "amount": 15000, "reason": "test budget"},
        )
    for n in range(12):
        sent = http.post(
            f"{api}/v1/gifts",
            headers={**fans[n % 2], "Idempotency-Key": f"payout-gift-{n}"},
            json={
                "creator_id": "payout-creator",
                "gift_id": "galaxy",
                "quantity": 2,
                "stream_id": stream.json()["stream_id"],
            },
        )
        assert sent.status_code == 201
    pending = eventually(
        lambda: http.get(f"{api}/v1/creator/earnings", headers=creator).json()["diamonds"]["pending"], 12000
    )
    assert pending == 12000

    # When the batch runs after the holding window, they mature and can be withdrawn
    early = http.post(
        f"{api}/v1/creator/withdrawals",
        headers={**creator, "Idempotency-Key": "too-early"},
        json={"diamonds": 5000},
    )
    assert (early.status_code, early.json()["error"]["code"]) == (409, "insufficient_funds")
    local_stack.run_payouts(as_of="2099-01-01")
    earnings = http.get(f"{api}/v1/creator/earnings", headers=creator).json()
    assert earnings["diamonds"] == {"available": 12000, "pending": 0, "reserved": 0}
    assert earnings["value"]["available"] == 6000  # $60.00 at $0.005 a diamond

    withdrawal = http.post(
        f"{api}/v1/creator/withdrawals",
        headers={**creator, "Idempotency-Key": "payday-1"},
        json={"diamonds": 10001},
    )
    assert withdrawal.status_code == 201
    assert (withdrawal.json()["diamonds"], withdrawal.json()["amount"]) == (10000, 5000)

    # Then the next batch pays it with one Stripe transfer, and a re-run pays nothing more
    report = local_stack.run_payouts()
    assert "paid" in report
    local_stack.run_payouts()
    transfers = http.get(f"{sim}/_sim/transfers").json()["data"]
    mine = [t for t in transfers if t["destination"] == onboarding["account_id"]]
    assert [(t["amount"], t["currency"]) for t in mine] == [(5000, "usd")]
    earnings = http.get(f"{api}/v1/creator/earnings", headers=creator).json()
    assert earnings["diamonds"] == {"available": 2000, "pending": 0, "reserved": 0}
    assert [(p["status"], p["transfer_id"]) for p in earnings["payouts"]] == [("paid", mine[0]["id"])]


def test_minors_and_unfinished_accounts_cannot_cash_out(
    local_stack: LocalStack, http: requests.Session
) -> None:
    api = local_stack.api
    minor = local_stack.headers("young-creator", birthdate="2015-01-01")
    pending = local_stack.headers("slow-creator", birthdate="1990-01-01")

    refused = http.post(f"{api}/v1/creator/onboarding", headers=minor)
    http.post(f"{api}/v1/creator/onboarding", headers=pending)
    unfinished = http.post(
        f"{api}/v1/creator/withdrawals", headers={**pending, "Idempotency-Key": "w"}, json={"diamonds": 5000}
    )

    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "not_eligible")
    assert (unfinished.status_code, unfinished.json()["error"]["code"]) == (403, "not_eligible")
