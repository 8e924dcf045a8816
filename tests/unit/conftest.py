"""Unit tier: no network. DynamoDB is moto's in-process fake; sockets are blocked."""

from collections.abc import Iterator
from typing import TYPE_CHECKING

import boto3
import pytest
from moto import mock_aws
from pytest_socket import disable_socket, enable_socket

from coins.config import Settings
from coins.wiring import Services, build_services
from devstack.in_process import load_function_module
from devstack.template import functions, table_definition
from tests.support.apigw import HandlerClient
from tests.support.fakes import FakeCheckoutProvider
from tests.support.moto_transactions import cheap_transaction_rollback
from tests.support.settlement import forget_unit_stream
from tests.support.stripe_events import WEBHOOK_SECRET

if TYPE_CHECKING:
    from coins.wiring import Services

TABLE = "coins-unit"


@pytest.fixture(scope="session", autouse=True)
def handlers_imported() -> None:
    # Every handler is imported once, before sockets are blocked, as each container would at init.
    for logical_id in functions():
        load_function_module(logical_id)


@pytest.fixture(scope="session", autouse=True)
def moto_transactions_cost_what_they_write() -> Iterator[None]:
    with cheap_transaction_rollback():
        yield


@pytest.fixture(autouse=True)
def no_network(handlers_imported: None) -> Iterator[None]:
    disable_socket(allow_unix_socket=True)
    yield
    enable_socket()


@pytest.fixture
def moto_table(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("TABLE_NAME", TABLE)
    forget_unit_stream(TABLE)
    with mock_aws():
        boto3.client("dynamodb").create_table(TableName=TABLE, **table_definition())
        yield TABLE


@pytest.fixture
def api(moto_table: str) -> HandlerClient:
    return HandlerClient()


@pytest.fixture
def stripe_shop(api: HandlerClient, monkeypatch: pytest.MonkeyPatch) -> "Services":
    """The services with Stripe's keys set and a fake Checkout, for tests that deliver webhooks."""
    # Imported here, not at collection: the handlers are imported first, as containers do.

    monkeypatch.setenv("STRIPE_API_KEY", "sk_test_unit")
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRETS", WEBHOOK_SECRET)
    provider = FakeCheckoutProvider()
    return build_services(Settings.from_env(), payments=lambda: provider)  # type: ignore[arg-type,return-value]
