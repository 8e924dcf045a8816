"""Integration tier: DynamoDB Local (Amazon's engine) started by the tests on a free port."""

import uuid
from collections.abc import Iterator

import pytest

from devstack.dynamodb_local import DynamoDBLocal, create_table, local_client


@pytest.fixture(scope="session")
def dynamodb_local() -> Iterator[DynamoDBLocal]:
    with DynamoDBLocal() as engine:
        yield engine


@pytest.fixture
def ledger_table(dynamodb_local: DynamoDBLocal, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh table from template.yaml's definition; the handlers and services find it by env."""
    name = f"coins-{uuid.uuid4().hex[:12]}"
    client = local_client(dynamodb_local.endpoint_url)
    create_table(client, name)
    monkeypatch.setenv("TABLE_NAME", name)
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", dynamodb_local.endpoint_url)
    yield name
    client.delete_table(TableName=name)
