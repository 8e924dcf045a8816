"""Contention, throttling and lost answers injected between the repository and DynamoDB Local."""

from typing import Any

import pytest
from botocore.exceptions import ClientError, ConnectionClosedError

from coins.errors import Busy
from coins.repository import default_client
from coins.wiring import Services
from tests.support.contention import conflict_on_the_last_item
from tests.support.settlement import fund, services_on, settle_gifts
from tests.support.streams import ADULT, live_stream_of


class FlakyDynamoDB:
    """Wraps the real client; fails the next TransactWriteItems calls the way DynamoDB can."""

    def __init__(self, real: Any) -> None:
        self._real = real
        self.failures: list[str] = []
        self.tokens: list[str | None] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def transact_write_items(self, **kwargs: Any) -> Any:
        self.tokens.append(kwargs.get("ClientRequestToken"))
        failure = self.failures.pop(0) if self.failures else None
        if failure == "conflict":
            raise conflict_on_the_last_item(kwargs)
        if failure == "throttle":
            raise ClientError(
                {"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "TransactWriteItems"
            )
        answer = self._real.transact_write_items(**kwargs)
        if failure == "lost_answer":
            # Committed, but the caller never hears it.
            raise ConnectionClosedError(endpoint_url="http://dynamodb")
        return answer


@pytest.fixture
def flaky(ledger_table: str) -> FlakyDynamoDB:
    return FlakyDynamoDB(default_client())


@pytest.fixture
def services(flaky: FlakyDynamoDB) -> Services:
    """Given a creator and a fan with 100 coins, on a client that fails on demand."""
    built = services_on(flaky, max_attempts=5)
    fund(built, ["fan-1"], ["creator-1"], 100)
    return built


def send_perfume(services: Services, key: str = "gift-1") -> Any:
    return services.gifts.send_gift(
        fan_id="fan-1",
        creator_id="creator-1",
        gift_id="perfume",
        quantity=1,
        stream_id=live_stream_of("creator-1"),
        idempotency_key=key,
        birthdate=ADULT,
    )


@pytest.mark.parametrize(
    "failures", [["conflict"], ["conflict", "conflict", "conflict"], ["throttle", "conflict"]]
)
def test_contention_and_throttling_are_retried_into_exactly_one_gift(
    services: Services, flaky: FlakyDynamoDB, failures: list[str]
) -> None:
    flaky.failures = list(failures)

    receipt = send_perfume(services)

    assert receipt["coins_balance"] == 80
    assert services.wallets.wallet("fan-1").coins == 80
    settle_gifts(services)
    assert services.wallets.wallet("creator-1").diamonds_pending == 10


def test_a_commit_whose_answer_was_lost_is_acknowledged_not_repeated(
    services: Services, flaky: FlakyDynamoDB
) -> None:
    flaky.tokens.clear()
    flaky.failures = ["lost_answer"]

    receipt = send_perfume(services)

    # The retry reused the client request token, so DynamoDB acknowledged the first commit.
    assert len(flaky.tokens) == 2
    assert flaky.tokens[0] == flaky.tokens[1]
    assert receipt["coins_balance"] == 80
    assert services.wallets.wallet("fan-1").coins == 80


def test_a_cancelled_attempt_is_retried_under_a_new_token(services: Services, flaky: FlakyDynamoDB) -> None:
    flaky.tokens.clear()
    flaky.failures = ["conflict"]

    send_perfume(services)

    assert len(flaky.tokens) == 2
    assert flaky.tokens[0] != flaky.tokens[1]


def test_when_retries_run_out_the_caller_is_told_to_retry_and_nothing_moved(
    services: Services, flaky: FlakyDynamoDB
) -> None:
    flaky.failures = ["conflict"] * 5

    with pytest.raises(Busy):
        send_perfume(services)

    assert services.wallets.wallet("fan-1").coins == 100
    # The client retries with the same key later and it goes through once.
    assert send_perfume(services)["coins_balance"] == 80
    assert send_perfume(services)["coins_balance"] == 80
