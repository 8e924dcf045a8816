"""Handlers called in this process at once behave as separate Lambda containers would.

Lambda runs one request at a time per container, each container a process of its own; the tests
run overlapping requests on threads of one process (devstack.in_process.load_handler and
devstack.containers). Each request must see only its own event and flush only its own metrics.
"""

import json
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from devstack.in_process import load_handler
from tests.support.apigw import FakeLambdaContext, HandlerClient, http_event

CALLS = 48


def grant_event(user: str) -> dict[str, Any]:
    return http_event(
        "POST",
        "/v1/admin/adjustments",
        sub="admin-1",
        groups=("admins",),
        body={"user_id": user, "unit": "coins", "amount": 5, "reason": "test grant"},
        headers={"Idempotency-Key": f"grant-{user}"},
    )


def at_once(call: Callable[[int], dict[str, Any]]) -> list[dict[str, Any]]:
    """CALLS calls on 12 threads, started together so that they overlap."""
    start = threading.Barrier(12)

    def after_the_barrier(n: int) -> dict[str, Any]:
        if n < 12:
            start.wait()
        return call(n)

    with ThreadPoolExecutor(max_workers=12) as pool:
        return list(pool.map(after_the_barrier, range(CALLS)))


def test_overlapping_calls_of_one_handler_each_answer_their_own_request(
    ledger_table: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given one handler of the admin function, called by many threads at once (as the local
    # gateway and the webhook tests do), each granting coins to another user
    handler = load_handler("AdminFunction")

    # When the grants overlap
    answers = at_once(lambda n: handler(grant_event(f"user-{n}"), FakeLambdaContext()))

    # Then each is answered for its own user (its own request, not another thread's), none fails
    # (Powertools' resolver keeps its route per app: one app per request in flight)
    assert [a["statusCode"] for a in answers] == [201] * CALLS
    assert [json.loads(a["body"])["user_id"] for a in answers] == [f"user-{n}" for n in range(CALLS)]
    # And every request flushed its own metric once: none lost, none emptied by another's flush
    flushed = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert sum(sum(doc.get("LedgerAdjustments", [])) for doc in flushed) == CALLS


def test_threads_with_containers_of_their_own_read_their_own_requests(ledger_table: str) -> None:
    # Given the test client, which gives each thread a container (a copy of the module) of its own
    api = HandlerClient()

    # When the threads' requests overlap
    answers = at_once(lambda n: {"body": api.wallet(f"user-{n}").body})

    # Then each thread is answered for the caller of its own request: Powertools keeps the request
    # on its resolver class, shared by every app in the process, unless each app keeps its own
    assert [a["body"]["user_id"] for a in answers] == [f"user-{n}" for n in range(CALLS)]
