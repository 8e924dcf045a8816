"""Unit tier: no network. DynamoDB is moto's in-process fake; sockets are blocked."""

from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws
from pytest_socket import disable_socket, enable_socket

from devstack.template import functions, load_function_module, table_definition
from tests.support.apigw import HandlerClient
from tests.support.settlement import forget_unit_stream

TABLE = "coins-unit"


@pytest.fixture(scope="session", autouse=True)
def handlers_imported() -> None:
    # Every handler is imported once, before sockets are blocked, as each container would at init.
    for logical_id in functions():
        load_function_module(logical_id)


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
