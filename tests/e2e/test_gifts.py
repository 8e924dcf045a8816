"""The newcomer's tour over HTTP: grant coins, send gifts, read both wallets and histories."""

import time
from typing import Any

import pytest
import requests

from tests.e2e.conftest import LocalStack, eventually


def gift(stack: LocalStack, http: requests.Session, fan: str, body: Any, key: str) -> requests.Response:
    # Fans are adults (sending gifts takes 18, from the token's birthdate).
    headers = {**stack.headers(fan, birthdate="1998-04-02"), "Idempotency-Key": key}
    return http.post(f"{stack.api}/v1/gifts", headers=headers, json=body)


def test_a_fan_granted_coins_sends_gifts_and_both_see_it(
    local_stack: LocalStack, http: requests.Session
) -> None:
    api = local_stack.api
    creator = local_stack.headers("tour-creator", birthdate="1990-01-01")
    fan = local_stack.headers("tour-fan", birthdate="1998-04-02")
    admin = local_stack.headers("tour-admin", groups=("admins",))
    # The creator becomes one and goes live (as the README's tour does)
    assert http.post(f"{api}/v1/creator/profile", headers=creator).json()["creator"] is True
    started = http.post(
        f"{api}/v1/streams", headers={**creator, "Idempotency-Key": "tour-stream"}, json={"title": "tour"}
    )
    assert started.status_code == 201
    stream_id = started.json()["stream_id"]
    granted = http.post(
        f"{api}/v1/admin/adjustments",
        headers={**admin, "Idempotency-Key": "tour-grant"},
        json={"user_id": "tour-fan", "unit": "coins", "amount": 500, "reason": "welcome bonus"},
    )
    assert granted.status_code == 201

    body = {"creator_id": "tour-creator", "gift_id": "finger_heart", "quantity": 3, "stream_id": stream_id}
    sent = gift(local_stack, http, "tour-fan", body, "tour-gift-1")
    again = gift(local_stack, http, "tour-fan", body, "tour-gift-1")

    assert sent.status_code == again.status_code == 201
    assert sent.json() == again.json()
    assert sent.json()["coins_balance"] == 485
    assert http.get(f"{api}/v1/wallet", headers=fan).json()["coins"] == 485
    # The creator's side is settled from the table's stream, within seconds.
    pending = eventually(
        lambda: http.get(f"{api}/v1/wallet", headers=creator).json()["diamonds"]["pending"], 7
    )
    assert pending == 7  # 7.5 diamonds, the half carried
    fan_history = http.get(f"{api}/v1/wallet/transactions", headers=fan, params={"limit": 10}).json()["items"]
    assert [(i["code"], i["amount"]) for i in fan_history] == [("gift", -15), ("adjustment", 500)]
    creator_history = http.get(f"{api}/v1/wallet/transactions", headers=creator).json()["items"]
    assert [(i["code"], i["amount"], i["counterparty_id"]) for i in creator_history] == [
        ("gift", 7, "tour-fan")
    ]
    # The gift reaches the live stream through the outbox (the table's stream), once.
    deadline = time.monotonic() + 10
    shown: list[dict[str, Any]] = []
    while time.monotonic() < deadline and not shown:
        shown = http.get(f"{api}/_local/live/{stream_id}").json()["gifts"]
        time.sleep(0.2)
    assert [(g["transfer_id"], g["gift_id"], g["quantity"], g["creator_id"]) for g in shown] == [
        (sent.json()["transfer_id"], "finger_heart", 3, "tour-creator")
    ]
    gifts = http.get(f"{api}/v1/catalog/gifts", headers=fan).json()["gifts"]
    assert {"id": "universe", "name": "Universe", "coins": 34999, "kind": "exclusive"} in gifts
    # The stream's totals and its top gifters come from the same settlement; ended, it keeps them
    expected = [{"rank": 1, "fan_id": "tour-fan", "coins": 15, "gifts": 1}]
    top = eventually(
        lambda: http.get(f"{api}/v1/streams/{stream_id}/top", headers=fan).json()["items"], expected
    )
    assert top == expected
    ended = http.post(f"{api}/v1/streams/{stream_id}/end", headers=creator).json()
    assert (ended["status"], ended["totals"]) == ("ended", {"gifts": 1, "coins": 15, "diamonds": 7})


@pytest.mark.parametrize(
    ("raw", "label"),
    [
        ('{"creator_id": "bad-creator", "gift_id": "rose", "quantity": 1, "stream_id": "s"', "bad JSON"),
        ('{"creator_id": "bad-creator", "gift_id": "rose", "quantity": -3, "stream_id": "s"}', "negative"),
        ('{"creator_id": "bad-creator", "gift_id": "rose", "quantity": 0, "stream_id": "s"}', "zero"),
        ('{"creator_id": "bad-creator", "gift_id": "rose", "quantity": 1001, "stream_id": "s"}', "too many"),
        (
            '{"creator_id": "bad-creator", "gift_id": "rose", "quantity": 1e308, "stream_id": "s"}',
            "huge float",
        ),
        (
            '{"creator_id": "bad-creator", "gift_id": "rose", "quantity": 99999999999999999999999, "stream_id": "s"}',
            "huge",
        ),
        (
            '{"creator_id": "bad-creator", "gift_id": "rose", "quantity": 1, "stream_id": "s", "fan_id": "x"}',
            "unknown field",
        ),
    ],
)
def test_bad_input_is_400_and_writes_nothing(
    local_stack: LocalStack, http: requests.Session, raw: str, label: str
) -> None:
    api = local_stack.api
    http.get(f"{api}/v1/wallet", headers=local_stack.headers("bad-creator"))
    http.post(
        f"{api}/v1/admin/adjustments",
        headers={**local_stack.headers("bad-admin", groups=("admins",)), "Idempotency-Key": "bad-seed"},
        json={"user_id": "bad-fan", "unit": "coins", "amount": 50, "reason": "seed coins"},
    )

    answer = http.post(
        f"{api}/v1/gifts",
        headers={
            **local_stack.headers("bad-fan"),
            "Idempotency-Key": f"bad-{label}",
            "Content-Type": "application/json",
        },
        data=raw,
    )

    assert answer.status_code == 400, label
    assert answer.json()["error"]["code"] == "invalid_request"
    assert http.get(f"{api}/v1/wallet", headers=local_stack.headers("bad-fan")).json()["coins"] == 50
    history = http.get(f"{api}/v1/wallet/transactions", headers=local_stack.headers("bad-creator")).json()
    assert history["items"] == []
