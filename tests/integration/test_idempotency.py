"""The idempotency matrix on DynamoDB Local: one key, many concurrent tries, one effect."""

from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.support.apigw import ApiResponse, HandlerClient
from tests.support.settlement import settle_gifts

TRIES = 50


@pytest.fixture
def api(ledger_table: str) -> HandlerClient:
    """Given a creator live on a stream and a fan with 1,000 coins."""
    client = HandlerClient()
    client.go_live("creator-1")
    assert client.grant("admin-1", "fan-1", 1000, key="seed").status == 201
    return client


def _concurrently(calls: Sequence[Callable[..., ApiResponse]]) -> list[ApiResponse]:
    with ThreadPoolExecutor(max_workers=16) as pool:
        return list(pool.map(lambda call: call(), calls))


def test_the_same_gift_sent_50_times_at_once_debits_once_and_answers_alike(api: HandlerClient) -> None:
    responses = _concurrently([lambda: api.send_gift("fan-1", "creator-1", "perfume", 2, key="once")] * TRIES)

    assert {r.status for r in responses} == {201}
    assert len({str(r.body) for r in responses}) == 1
    assert responses[0].body["coins_balance"] == 960
    assert api.wallet("fan-1").body["coins"] == 960
    settle_gifts()
    assert api.wallet("creator-1").body["diamonds"]["pending"] == 20


def test_the_same_key_with_two_bodies_at_once_commits_one_and_refuses_the_other(api: HandlerClient) -> None:
    calls = [
        (lambda q=quantity: api.send_gift("fan-1", "creator-1", "perfume", q, key="contested"))
        for quantity in [1, 2] * (TRIES // 2)
    ]
    responses = _concurrently(calls)

    committed = [r for r in responses if r.status == 201]
    refused = [r for r in responses if r.status == 422]
    assert len(committed) + len(refused) == TRIES, Counter(r.status for r in responses)
    assert len({str(r.body) for r in committed}) == 1
    assert {r.body["error"]["code"] for r in refused} == {"idempotency_key_reused"}
    spent = committed[0].body["coins_spent"]
    assert api.wallet("fan-1").body["coins"] == 1000 - spent


def test_an_adjustment_retried_50_times_at_once_is_applied_once(api: HandlerClient) -> None:
    responses = _concurrently([lambda: api.grant("admin-1", "fan-2", 70, key="bonus")] * TRIES)

    assert {r.status for r in responses} == {201}
    assert len({str(r.body) for r in responses}) == 1
    assert api.wallet("fan-2").body["coins"] == 70


def test_keys_are_per_user_so_two_fans_may_use_the_same_key(api: HandlerClient) -> None:
    api.grant("admin-1", "fan-2", 10, key="seed-2")

    first = api.send_gift("fan-1", "creator-1", "rose", 1, key="shared-key")
    second = api.send_gift("fan-2", "creator-1", "rose", 1, key="shared-key")

    assert first.status == second.status == 201
    assert first.body["transfer_id"] != second.body["transfer_id"]
