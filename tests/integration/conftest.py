"""Integration tier: DynamoDB Local (Amazon's engine) and the Stripe simulator, on free ports."""

import threading
import uuid
from collections.abc import Iterator

import pytest
from werkzeug.serving import make_server

from devstack.dynamodb_local import DynamoDBLocal, create_table, free_port, local_client
from devstack.gateway import Gateway
from devstack.local_env import LOCAL_STRIPE_KEY, LOCAL_WEBHOOK_SECRET
from devstack.stripe_sim.server import StripeSimulator


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


@pytest.fixture(scope="session")
def stripe_simulator() -> Iterator[StripeSimulator]:
    """The local Stripe on a free port; tests that need webhooks point it at a gateway."""
    with StripeSimulator(port=0, webhook_secret=LOCAL_WEBHOOK_SECRET, retry_delay=0.05) as simulator:
        yield simulator


@pytest.fixture
def stripe_env(stripe_simulator: StripeSimulator, monkeypatch: pytest.MonkeyPatch) -> StripeSimulator:
    """The functions' Stripe settings pointed at the simulator, which starts each test empty."""
    stripe_simulator.store.reset()
    stripe_simulator.webhook_url = None
    monkeypatch.setenv("STRIPE_API_BASE", stripe_simulator.base_url)
    monkeypatch.setenv("STRIPE_API_KEY", LOCAL_STRIPE_KEY)
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRETS", LOCAL_WEBHOOK_SECRET)
    return stripe_simulator


@pytest.fixture
def gateway(ledger_table: str, stripe_env: StripeSimulator) -> Iterator[str]:
    """The local gateway in a thread, receiving the simulator's webhooks like the deployed API."""
    server = make_server("127.0.0.1", free_port(), Gateway(), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}"
    stripe_env.webhook_url = f"{url}/v1/webhooks/stripe"
    yield url
    stripe_env.webhook_url = None
    server.shutdown()
    server.server_close()
