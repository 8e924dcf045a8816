"""The local stack the benchmarks run on, and the deployed handlers called in-process as Lambda would.

DynamoDB Local and the Stripe simulator on free ports, a table made from template.yaml, the
functions' environment from template.yaml pointed at them; requests go through each function's
own handler with the event API Gateway (or SQS) would send, so the figures include the handler.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import requests
from aws_lambda_powertools.event_handler.api_gateway import BaseRouter

from bench.cpu import StackCpu
from bench.instruments import Instruments
from bench.meter import TableSchema
from coins.wiring import services
from devstack.dynamodb_local import DynamoDBLocal, create_table, free_port, local_client, streams_client
from devstack.gateway import api_gateway_event
from devstack.in_process import LambdaHandler, load_function_module, load_handler
from devstack.local_env import LOCAL_WEBHOOK_SECRET, function_environment
from devstack.runtime import LocalContext
from devstack.stripe_sim.signing import signature_header
from devstack.template import ROOT, functions, http_routes

# Every benchmark caller's token is an adult's: gifts, creators and payouts have age rules.
ADULT = "1990-01-01"

# A bench fan sends hundreds of gifts a minute to one creator (300 latency samples in a row, the
# throughput blocks), far past a real fan's abuse limits (coins.abuse: a burst of 100, then 120 a
# minute; 3,600 gifts an hour to one creator). The limits stay on, so every gift still reads,
# computes and writes them (the meter counts them), only set as high as their bounds allow.
BENCH_ABUSE_LIMITS = {
    "WRITE_BURST": "10000",
    "WRITE_RATE_PER_MINUTE": "600000",
    "GIFT_PAIR_MAX_GIFTS": "1000000000",
    "GIFT_PAIR_MAX_COINS": "1000000000000",
}


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any


class SimulatorProcess:
    """The Stripe simulator in a process of its own (`python -m devstack.stripe_sim`), so that the
    CPU it spends standing in for Stripe is told apart from the functions' own."""

    def __init__(self) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> SimulatorProcess:
        self._process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "devstack.stripe_sim", "--port", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(requests.ConnectionError):
                requests.get(f"{self.base_url}/_sim/clock", timeout=2)
                return self
            time.sleep(0.1)
        raise RuntimeError("the Stripe simulator did not start")

    def __exit__(self, *_: object) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)

    def events(self, event_type: str) -> list[dict[str, Any]]:
        answer = requests.get(f"{self.base_url}/_sim/events", timeout=30)
        answer.raise_for_status()
        return [e["event"] for e in answer.json()["data"] if e["event"]["type"] == event_type]


class StreamSettlement:
    """GiftSettlementFunction fed from DynamoDB Local's stream, as Lambda's event source would feed it.

    `settle()` reads each stream shard from where the last call stopped, keeps the gift inserts
    (the template's filter), and calls the function's handler with one event per shard and batch of
    up to BATCH records (the event source's BatchSize), naming the shard as a tumbling window does.
    Reading the stream is not DynamoDB table work (and not billed per read from Lambda), so only
    the handler's own calls reach the meter.
    """

    BATCH = 1000

    def __init__(self, endpoint_url: str, table: str, handler: LambdaHandler) -> None:
        self._streams = streams_client(endpoint_url)
        self._arn = local_client(endpoint_url).describe_table(TableName=table)["Table"]["LatestStreamArn"]
        self._handler = handler
        self._after: dict[str, str] = {}  # shard -> last sequence number handed over

    def pending(self) -> list[dict[str, Any]]:
        """The events the stream holds now that no earlier call handed over."""
        events = []
        shards = self._streams.describe_stream(StreamArn=self._arn)["StreamDescription"]["Shards"]
        for shard in shards:
            shard_id = shard["ShardId"]
            start: dict[str, Any] = (
                {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": self._after[shard_id]}
                if shard_id in self._after
                else {"ShardIteratorType": "TRIM_HORIZON"}
            )
            iterator = self._streams.get_shard_iterator(StreamArn=self._arn, ShardId=shard_id, **start)[
                "ShardIterator"
            ]
            records: list[dict[str, Any]] = []
            while iterator:
                answer = self._streams.get_records(ShardIterator=iterator, Limit=self.BATCH)
                page = answer.get("Records", [])
                if not page:
                    break
                records += page
                iterator = answer.get("NextShardIterator")
            if records:
                self._after[shard_id] = records[-1]["dynamodb"]["SequenceNumber"]
            gifts = [r for r in records if r.get("eventName") == "INSERT" and _is_gift(r)]
            for n in range(0, len(gifts), self.BATCH):
                events.append({"Records": gifts[n : n + self.BATCH], "shardId": shard_id})
        return events

    def settle(self, events: Sequence[Mapping[str, Any]] | None = None) -> int:
        """Hands the events (by default every pending one) to the function; the gifts settled."""
        settled = 0
        for event in self.pending() if events is None else events:
            answer = self._handler(dict(event), _context("GiftSettlementFunction"))
            if answer.get("batchItemFailures"):
                raise RuntimeError(f"settling gifts failed: {answer}")
            settled += len(event["Records"])
        return settled


def _is_gift(record: Mapping[str, Any]) -> bool:
    return bool(record.get("dynamodb", {}).get("NewImage", {}).get("kind", {}).get("S") == "gift")


class LocalStack:
    def __init__(self, dynamodb: DynamoDBLocal, sim: SimulatorProcess) -> None:
        self.dynamodb = dynamodb
        self.sim = sim
        # Before any client exists: every client made from here on carries the hooks.
        self.instruments = Instruments(dynamodb.endpoint_url)
        self.cpu = StackCpu()
        self.client = local_client(dynamodb.endpoint_url)
        self.table = ""
        self.settlement: StreamSettlement

    def use_new_table(self, label: str) -> str:
        """Creates a fresh table and points the functions at it (as a new deployment would be)."""
        self.table = f"bench-{label}-{uuid.uuid4().hex[:6]}"
        create_table(self.client, self.table)
        described = self.client.describe_table(TableName=self.table)["Table"]
        self.instruments.add_table(TableSchema.from_description(described))
        os.environ["TABLE_NAME"] = self.table
        services.cache_clear()
        self.settlement = StreamSettlement(
            self.dynamodb.endpoint_url, self.table, load_handler("GiftSettlementFunction")
        )
        return self.table

    def sim_post(self, path: str) -> Any:
        answer = requests.post(f"{self.sim.base_url}{path}", timeout=30)
        answer.raise_for_status()
        return answer.json() if answer.content else None


@contextmanager
def local_stack() -> Iterator[LocalStack]:
    with DynamoDBLocal() as dynamodb, SimulatorProcess() as sim:
        os.environ.update(
            function_environment(
                table="unset",
                dynamodb_url=dynamodb.endpoint_url,
                api_url="http://127.0.0.1:9",
                stripe_url=sim.base_url,
            )
        )
        os.environ["POWERTOOLS_LOG_LEVEL"] = "ERROR"
        os.environ.update(BENCH_ABUSE_LIMITS)
        stack = LocalStack(dynamodb, sim)
        stack.use_new_table("main")
        yield stack


class Api:
    """Calls the deployed functions' handlers in-process, with the events API Gateway and SQS send.

    A Lambda container runs one request at a time, and Powertools' resolver keeps the request on
    the app object; so concurrent callers each pass their own `container` number and get their own
    copy of the function's module (its own app), as separate containers would.
    """

    def __init__(self) -> None:
        _flush_metrics_one_at_a_time()
        self._handlers: dict[tuple[str, int], LambdaHandler] = {}
        self._routes = {(r.method, r.path): r.function for r in http_routes()}
        self._lock = threading.Lock()
        self._live_streams: dict[str, str] = {}

    def handler(self, function: str, container: int = 0) -> LambdaHandler:
        with self._lock:
            if (function, container) not in self._handlers:
                module = (
                    load_function_module(function) if container == 0 else _container_copy(function, container)
                )
                _own_current_event(module)
                attribute = functions()[function]["Handler"].rsplit(".", 1)[1]
                self._handlers[(function, container)] = getattr(module, attribute)
            return self._handlers[(function, container)]

    def call(
        self,
        method: str,
        path: str,
        *,
        user: str | None,
        body: Any = None,
        raw_body: str | None = None,
        key: str | None = None,
        groups: Sequence[str] = (),
        country: str = "US",
        birthdate: str = ADULT,
        headers: Mapping[str, str] | None = None,
        container: int = 0,
        route: str | None = None,
    ) -> Reply:
        """`route` is the template's path when `path` fills in its parameters."""
        function = self._routes[(method, route or path)]
        claims: dict[str, Any] | None = None
        if user is not None:
            claims = {"sub": user, "token_use": "access", "country": country, "birthdate": birthdate}
            if groups:
                claims["cognito:groups"] = list(groups)
        all_headers = {"content-type": "application/json", **(headers or {})}
        if key is not None:
            all_headers["idempotency-key"] = key
        text = raw_body if raw_body is not None else ("" if body is None else json.dumps(body))
        event = api_gateway_event(
            method=method,
            path=path,
            route_path=route or path,
            headers=all_headers,
            body=text.encode(),
            claims=claims,
        )
        raw = self.handler(function, container)(event, _context(function))
        return Reply(raw["statusCode"], json.loads(raw["body"]) if raw.get("body") else None)

    # ------------------------------------------------------------------ the routes the benchmarks use

    def open_wallet(self, user: str) -> Reply:
        return self.call("GET", "/v1/wallet", user=user)

    def grant(self, user: str, amount: int, *, unit: str = "coins", source: str = "promotions") -> Reply:
        asked = self.call(
            "POST",
            "/v1/admin/adjustments",
            user="bench-admin",
            groups=("admins",),
            key=f"grant-{uuid.uuid4().hex}",
            body={"user_id": user, "unit": unit, "amount": amount, "reason": "benchmark", "source": source},
        )
        if asked.status != 202:
            return asked
        # Above the approval threshold (a bench fan's millions of coins): a second admin approves.
        return self.call(
            "POST",
            f"/v1/admin/adjustments/{asked.body['adjustment_id']}/approve",
            route="/v1/admin/adjustments/{adjustment_id}/approve",
            user="bench-admin-2",
            groups=("admins",),
        )

    def go_live(self, creator: str) -> str:
        """The creator opens a wallet, becomes a creator (an adult's token) and starts a live stream:
        only creators receive gifts, and only during a live stream. Returns the stream's id."""
        _expect(self.open_wallet(creator), 200)
        _expect(self.call("POST", "/v1/creator/profile", user=creator), 200)
        started = _expect(self.call("POST", "/v1/streams", user=creator, key=f"live-{creator}", body={}), 201)
        stream_id = str(started.body["stream_id"])
        with self._lock:
            self._live_streams[creator] = stream_id
        return stream_id

    def send_gift(
        self, fan: str, creator: str, key: str, gift_id: str = "rose", quantity: int = 1, container: int = 0
    ) -> Reply:
        """A gift during the creator's live stream (`go_live` first); the fan's token is an adult's."""
        stream_id = self._live_streams[creator]
        return self.call(
            "POST",
            "/v1/gifts",
            user=fan,
            key=key,
            body={"creator_id": creator, "gift_id": gift_id, "quantity": quantity, "stream_id": stream_id},
            container=container,
        )

    def deliver_stripe_event(self, event: Mapping[str, Any]) -> Reply:
        payload = json.dumps(event)
        signature = signature_header(payload, LOCAL_WEBHOOK_SECRET, int(time.time()))
        return self.call(
            "POST",
            "/v1/webhooks/stripe",
            user=None,
            raw_body=payload,
            headers={"stripe-signature": signature},
        )

    def pay_withdrawals(self, messages: Sequence[Mapping[str, str]], container: int = 0) -> Any:
        """The payout worker with one SQS batch of due-withdrawal messages."""
        event = {
            "Records": [
                {
                    "messageId": str(uuid.uuid4()),
                    "receiptHandle": "bench",
                    "body": json.dumps(dict(message)),
                    "attributes": {},
                    "messageAttributes": {},
                    "md5OfBody": "",
                    "eventSource": "aws:sqs",
                    "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:bench",
                    "awsRegion": "us-east-1",
                }
                for message in messages
            ]
        }
        return self.handler("PayoutWorkerFunction", container)(event, _context("PayoutWorkerFunction"))


def _expect(reply: Reply, status: int) -> Reply:
    if reply.status != status:
        raise RuntimeError(f"unexpected answer {reply.status}: {reply.body}")
    return reply


def _container_copy(function: str, container: int) -> ModuleType:
    """The function's handler module imported once more, under a name of its own."""
    props = functions()[function]
    module_name, _ = props["Handler"].rsplit(".", 1)
    path = ROOT / props["CodeUri"] / f"{module_name}.py"
    spec = importlib.util.spec_from_file_location(f"_bench_{function}_{container}", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _flush_metrics_one_at_a_time() -> None:
    """Powertools' Metrics is one object per process, flushed by every invocation as it ends: in
    Lambda one at a time, here by concurrent containers, where one flush could empty the set
    between another's check and its serialization (SchemaValidationError). A lock restores the
    one-at-a-time flush; the metrics themselves are the handlers' own, unchanged."""
    # Imported here, not at the top: Metrics reads its namespace from the environment when the
    # module is first imported, and local_stack() sets the functions' environment first.
    from coins.observability import metrics

    provider = metrics.provider
    if getattr(provider, "_bench_locked", False):
        return
    flush = provider.flush_metrics
    lock = threading.Lock()

    def locked_flush(raise_on_empty_metrics: bool = False) -> None:
        with lock:
            flush(raise_on_empty_metrics=raise_on_empty_metrics)

    provider.flush_metrics = locked_flush  # type: ignore[method-assign]
    provider._bench_locked = True  # type: ignore[attr-defined]


def _own_current_event(module: ModuleType) -> None:
    """Gives the module's app its own current event, as a container of its own has.

    Powertools' resolver keeps the request on its class (`BaseRouter.current_event`), shared by
    every app in the process: harmless in Lambda, where a process serves one request at a time,
    but containers served concurrently in one process would read each other's requests (a sender
    answered with another sender's gift). The proxy event is also kept on the app instance, which
    `app.current_event` finds before the class's.
    """
    app = getattr(module, "app", None)
    if not isinstance(app, BaseRouter):
        return
    to_proxy_event = app._to_proxy_event  # type: ignore[attr-defined]

    def own_proxy_event(event: dict[str, Any]) -> Any:
        proxy = to_proxy_event(event)
        app.__dict__["current_event"] = proxy
        return proxy

    app._to_proxy_event = own_proxy_event  # type: ignore[attr-defined]


def lambda_context(function: str) -> LocalContext:
    """A fresh invocation's context for one of the template's functions."""
    return _context(function)


def _context(function: str) -> LocalContext:
    return LocalContext(
        function_name=function, aws_request_id=str(uuid.uuid4()), deadline=time.monotonic() + 30
    )
