"""Hooks on every DynamoDB client this process makes: the capacity meter, a call recorder, and
injected transaction conflicts.

They are registered on boto3's default session before any client exists, so the clients the
functions build for themselves carry them too: the benchmarks observe the handlers' DynamoDB
calls without reaching into how the handlers make them.
"""

from __future__ import annotations

import copy
import math
import random
import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import boto3

from bench.meter import CapacityMeter, TableSchema
from devstack.dynamodb_local import LOCAL_KEY, LOCAL_REGION

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

SHARD_SUFFIX = re.compile(r"#\d+$")
ITEM_WRITE_UNITS_PER_SECOND = 1000  # what one partition (and so one item) takes at most


@dataclass
class RecordedCall:
    operation: str
    params: dict[str, Any]
    # For a TransactWriteItems: each action's item as it was just before the call (None for a
    # Put, or for an item that did not exist), so that a replay can start from the same state.
    before: list[dict[str, Any] | None] = field(default_factory=list)


@dataclass
class Recording:
    calls: list[RecordedCall] = field(default_factory=list)


class CallRecorder:
    """Keeps a copy of the parameters of every DynamoDB call made inside `recording()`, and of the
    items a transaction updates as they were before it."""

    def __init__(self, inspector: DynamoDBClient, key_names: Sequence[str] = ("PK", "SK")) -> None:
        self._inspector = inspector
        self._key_names = key_names
        self._current: Recording | None = None
        self._lock = threading.Lock()

    @contextmanager
    def recording(self) -> Iterator[Recording]:
        recording = Recording()
        self._current = recording
        try:
            yield recording
        finally:
            self._current = None

    def before_call(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        if self._current is None:
            return
        call = RecordedCall(model.name, copy.deepcopy(params))
        if model.name == "TransactWriteItems":
            for action in params.get("TransactItems", []):
                ((kind, body),) = action.items()
                if kind == "Put":
                    call.before.append(None)
                    continue
                found = self._inspector.get_item(
                    TableName=body["TableName"], Key=body["Key"], ConsistentRead=True
                )
                call.before.append(found.get("Item"))
        with self._lock:
            self._current.calls.append(call)


def item_keys(params: Mapping[str, Any], key_names: Sequence[str]) -> list[str]:
    """'PK|SK' of each item a TransactWriteItems touches, in order."""
    keys = []
    for action in params.get("TransactItems", []):
        ((kind, body),) = action.items()
        source = body["Item"] if kind == "Put" else body["Key"]
        keys.append("|".join(str(next(iter(source[n].values()))) for n in key_names))
    return keys


def item_group(key: str) -> str:
    """The items a key is one shard of: its partition key without a trailing '#<shard>'."""
    partition = key.split("|", 1)[0]
    return SHARD_SUFFIX.sub("#*", partition)


def distinct_population(draws: int, distinct: int) -> float:
    """How many items there are, when `draws` uniform picks among them found `distinct` different
    ones (the count whose expected distinct picks is `distinct`); infinite when no pick repeated."""
    if distinct >= draws:
        return math.inf
    low, high = float(distinct), 1e9
    for _ in range(200):
        middle = (low + high) / 2
        expected = middle * (1 - (1 - 1 / middle) ** draws)
        low, high = (middle, high) if expected < distinct else (low, middle)
    return float(round((low + high) / 2))


@dataclass(frozen=True)
class ItemGroup:
    """Items that gifts from different senders share: the shards of one account, say."""

    name: str  # the partition key with its trailing shard number as '*'
    items: float  # how many distinct items (math.inf: each gift writes a new one)
    partitions: float  # how many distinct partition keys
    write_units: int  # what one gift's transaction spends on one of them
    of_the_creator: bool


@dataclass(frozen=True)
class ConflictModel:
    """How often DynamoDB would refuse a gift's transaction for contention, at a given load.

    An item (and a partition) takes at most 1,000 write units a second; a transactional write of
    an item up to 1 KB spends 2, so it holds the item for 2 ms. Gifts arrive at `gifts_per_second`
    and each lands on one random item of every shared group, so an item sees Poisson arrivals at
    `gifts_per_second / items`; a transaction is refused when another one reached the same item
    less than the hold time before it: probability 1 - exp(-rate * hold). Items only one sender
    writes (its own coins, the gift's own records) never conflict with another sender.
    """

    gifts_per_second: float
    groups: Sequence[ItemGroup]

    def group(self, name: str) -> ItemGroup | None:
        return next((g for g in self.groups if g.name == name), None)

    def conflict_probability(self, name: str) -> float:
        group = self.group(name)
        if group is None or math.isinf(group.items):
            return 0.0
        hold = group.write_units / ITEM_WRITE_UNITS_PER_SECOND
        return 1 - math.exp(-self.gifts_per_second / group.items * hold)

    def ceiling(self, *, of_the_creator: bool) -> float | None:
        """Gifts a second at which the busiest shared partition spends its 1,000 write units."""
        limits = [
            g.partitions * ITEM_WRITE_UNITS_PER_SECOND / g.write_units
            for g in self.groups
            if g.of_the_creator == of_the_creator
        ]
        return min(limits) if limits else None


class Refused:
    status_code = 400
    headers: Mapping[str, str] = {}
    content = b""


class ConflictInjector:
    """Refuses TransactWriteItems with TransactionConflict as the model says DynamoDB would."""

    def __init__(self, model: ConflictModel, key_names: Sequence[str], seed: int = 8) -> None:
        self.model = model
        self._key_names = key_names
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self.attempts = 0
        self.injected = 0

    def before_parameter_build(
        self, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any
    ) -> None:
        if model.name == "TransactWriteItems":
            context["conflict_keys"] = item_keys(params, self._key_names)

    def before_call(self, model: Any, context: dict[str, Any], **_: Any) -> tuple[Any, dict[str, Any]] | None:
        keys = context.get("conflict_keys")
        if model.name != "TransactWriteItems" or keys is None:
            return None
        with self._lock:
            self.attempts += 1
            conflicts = [self._random.random() < self.model.conflict_probability(item_group(k)) for k in keys]
            if not any(conflicts):
                return None
            self.injected += 1
        reasons = [
            {"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"}
            if hit
            else {"Code": "None"}
            for hit in conflicts
        ]
        parsed = {
            "Error": {"Code": "TransactionCanceledException", "Message": "Transaction cancelled (injected)"},
            "CancellationReasons": reasons,
            "ResponseMetadata": {"HTTPStatusCode": 400, "RetryAttempts": 0},
        }
        return Refused(), parsed


class Injector(Protocol):
    """What the hooks ask of an injector: keys before the call, an answer instead of it, and (for
    one that tracks calls in flight) the call's end."""

    def before_parameter_build(
        self, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any
    ) -> None: ...

    def before_call(
        self, model: Any, context: dict[str, Any], **_: Any
    ) -> tuple[Any, dict[str, Any]] | None: ...


class CallCounter:
    """Counts DynamoDB calls by operation, and the items they returned, inside `counting()`: cheap
    enough to leave on for thousands of operations (the meter reads every item it sees written)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._current: dict[str, int] | None = None

    @contextmanager
    def counting(self) -> Iterator[dict[str, int]]:
        counts: dict[str, int] = {}
        self._current = counts
        try:
            yield counts
        finally:
            self._current = None

    def after_call(self, parsed: Mapping[str, Any], model: Any, **_: Any) -> None:
        if self._current is None:
            return
        returned = len(parsed.get("Items", [])) + sum(len(v) for v in parsed.get("Responses", {}).values())
        with self._lock:
            self._current[model.name] = self._current.get(model.name, 0) + 1
            self._current["items_returned"] = self._current.get("items_returned", 0) + returned


class Instruments:
    """The hooks, registered once on boto3's default session; each part is switched on when needed."""

    def __init__(self, inspector_endpoint: str) -> None:
        inspector = _inspector(inspector_endpoint)
        self.meter = CapacityMeter(inspector, [])
        self.recorder = CallRecorder(inspector)
        self.counter = CallCounter()
        self.injector: Injector | None = None
        boto3.setup_default_session()
        events = boto3.DEFAULT_SESSION.events  # type: ignore[union-attr]
        self.meter.install(events)
        events.register("before-parameter-build.dynamodb", self.recorder.before_call)
        events.register("after-call.dynamodb", self.counter.after_call)
        events.register("before-parameter-build.dynamodb", self._inject_parameters)
        events.register("before-call.dynamodb", self._inject_call)  # type: ignore[arg-type]  # answers the call
        events.register("after-call.dynamodb", self._call_ended)

    def add_table(self, schema: TableSchema) -> None:
        self.meter.add_schema(schema)

    def _inject_parameters(self, **kwargs: Any) -> None:
        if self.injector is not None:
            self.injector.before_parameter_build(**kwargs)

    def _inject_call(self, **kwargs: Any) -> tuple[Any, dict[str, Any]] | None:
        return self.injector.before_call(**kwargs) if self.injector is not None else None

    def _call_ended(self, **kwargs: Any) -> None:
        ended = getattr(self.injector, "after_call", None)
        if ended is not None:
            ended(**kwargs)


def _inspector(endpoint: str) -> DynamoDBClient:
    """A client on a session of its own: the meter's own reads are never metered or recorded."""
    client: DynamoDBClient = boto3.session.Session().client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name=LOCAL_REGION,
        aws_access_key_id=LOCAL_KEY,
        aws_secret_access_key=LOCAL_KEY,
    )
    return client
