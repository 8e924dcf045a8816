"""Integration tier: DynamoDB Local (Amazon's engine) and the Stripe simulator, on free ports.

Handlers loaded with devstack.in_process.load_handler run in this process, held to their template's
IAM statements while they run (a call the deployed function would be denied fails here too, unless
DEVSTACK_PERMISSIONS=off), and each decision is recorded for the least-privilege check.
"""

import threading
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from werkzeug.serving import make_server

from coins.repository import READ_TIMEOUT_VARIABLE
from devstack.dynamodb_local import SHORT_RUN_JVM, DynamoDBLocal, create_table, free_port, local_client
from devstack.gateway import Gateway
from devstack.local_env import LOCAL_STRIPE_KEY, LOCAL_WEBHOOK_SECRET
from devstack.stripe_sim.server import StripeSimulator
from tests.support.contention import Contention
from tests.support.permissions import permission_log

# Collected before any test runs: every tier of this run records into the same file.
permission_log()


def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    """Tests that read what every other test recorded (the least-privilege check) run last."""
    last = [i for i in items if getattr(getattr(i, "function", None), "runs_after_every_tier", False)]
    items[:] = [i for i in items if i not in last] + last


@pytest.fixture(scope="session")
def dynamodb_local() -> Iterator[DynamoDBLocal]:
    with DynamoDBLocal(jvm_options=SHORT_RUN_JVM) as engine:
        yield engine


@pytest.fixture
def ledger_table(dynamodb_local: DynamoDBLocal, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh table from template.yaml's definition; the handlers and services find it by env."""
    name = f"coins-{uuid.uuid4().hex[:12]}"
    client = local_client(dynamodb_local.endpoint_url)
    create_table(client, name)
    monkeypatch.setenv("TABLE_NAME", name)
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", dynamodb_local.endpoint_url)
    # DynamoDB Local on a loaded machine can queue a burst of transactions past DynamoDB's 5 s
    # (coins.repository._dynamo): the tests wait for its answer rather than retry into the queue.
    monkeypatch.setenv(READ_TIMEOUT_VARIABLE, "60")
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


@pytest.fixture
def contention(ledger_table: str) -> Iterator[Contention]:
    if boto3.DEFAULT_SESSION is None:
        boto3.setup_default_session()
    session = boto3.DEFAULT_SESSION
    assert session is not None
    state = Contention()
    # An answer from a before-call handler is taken as DynamoDB's (botocore's own hook for stubs).
    answer: Any = state.answer
    session.events.register("before-call.dynamodb.TransactWriteItems", answer)
    yield state
    session.events.unregister("before-call.dynamodb.TransactWriteItems", answer)
