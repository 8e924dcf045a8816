"""The gift path and the other money paths: DynamoDB work per operation, gift throughput against
raw baselines, and one hot creator under injected transaction conflicts.

Everything goes through the deployed handlers and public routes; DynamoDB work is observed on the
clients' hooks (bench/instruments.py), never asked of the code, so the figures stay comparable
when the gift's design changes.
"""

from __future__ import annotations

import copy
import json
import math
import os
import random
import re
import statistics
import sys
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from bench.instruments import (
    ConflictInjector,
    ConflictModel,
    Instruments,
    ItemGroup,
    RecordedCall,
    distinct_population,
    item_group,
    item_keys,
)
from bench.meter import Measurement
from bench.old_gift import ConflictTally, OldGiftDesign, transact_with_retries
from bench.spread import spread
from bench.stack import Api, LocalStack, Reply
from coins.config import Settings
from coins.ledger import whole_diamonds
from coins.wiring import services
from devstack.dynamodb_local import LOCAL_KEY, LOCAL_REGION, create_table

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

# A Finger Heart (5 coins, 2 diamonds at 1/2) credits the creator: the write issue 8 measures.
GIFT, GIFT_NAME, GIFT_COINS, GIFT_DIAMONDS = "finger_heart", "Finger Heart", 5, 2
ROSE = "rose"  # 1 coin: most gifts; under the old design it credits no whole diamond
# Settlement batches of each shape settled without the meter, for the function's own CPU (median).
UNMETERED_SETTLEMENT_RUNS = 3


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def ok(reply: Reply, *statuses: int) -> Reply:
    if reply.status not in (statuses or (200, 201)):
        raise RuntimeError(f"unexpected answer {reply.status}: {reply.body}")
    return reply


def work_of(m: Measurement) -> dict[str, Any]:
    return {
        "calls": m.call_count,
        "sequential_calls": m.sequential_calls,
        "write_units": m.write_units,
        "index_write_units": m.index_write_units,
        "total_write_units": m.write_units + m.index_write_units,
        "read_units": float(m.read_units),
        "items_read": m.items_read,
        "operations": m.operations(),
        "failed_calls": m.failed_calls,
    }


def per_gift(work: dict[str, Any], gifts: int) -> dict[str, float]:
    return {
        key: round(work[key] / gifts, 4)
        for key in ("calls", "write_units", "index_write_units", "total_write_units", "read_units")
    }


def with_settlement(gift: dict[str, Any], settlement: dict[str, Any]) -> dict[str, Any]:
    """A gift's request-path work plus its share of the settlement's: the gift's whole cost."""
    share = settlement["per_gift"]
    return {
        "request_write_units": gift["total_write_units"],
        "settlement_write_units": share["total_write_units"],
        "total_write_units": round(gift["total_write_units"] + share["total_write_units"], 3),
        "read_units": round(gift["read_units"] + share["read_units"], 3),
        "settled_per_batch": settlement["gifts"],
        "settlement_calls_per_batch": settlement["calls"],
        "settlement_operations_per_batch": settlement["operations"],
    }


def measured(instruments: Instruments, action: Callable[[], Reply]) -> tuple[Reply, dict[str, Any]]:
    with instruments.meter.measuring() as m:
        reply = ok(action())
    return reply, work_of(m)


def same_every_time(samples: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One operation measured several times: the figures, and whether they varied."""
    first = dict(samples[0])
    varied = [k for k in first if any(s[k] != first[k] for s in samples[1:])]
    if varied:
        for key in varied:
            values = [s[key] for s in samples]
            if all(isinstance(v, int | float) for v in values):
                first[key] = statistics.median(values)
            else:  # the most frequent, the others kept beside it
                texts = [json.dumps(v, sort_keys=True) for v in values]
                first[key] = values[texts.index(max(texts, key=texts.count))]
                first[f"{key}_seen"] = values
    first["samples"] = len(samples)
    first["varied"] = varied
    return first


# ------------------------------------------------------------------------------ work per operation


def bench_work_per_operation(
    stack: LocalStack, api: Api, instruments: Instruments, *, settle_batch: int = 200, settle_fans: int = 40
) -> dict[str, Any]:
    """Calls, sequential calls, write and read units of one gift, purchase credit, withdrawal, payout."""
    creator, fan, buyer = "count-creator", "count-fan", "count-buyer"
    api.go_live(creator)
    ok(api.grant(fan, 100_000))
    ok(api.send_gift(fan, creator, "warm-up", GIFT))
    out: dict[str, Any] = {}

    def gifts(gift_id: str) -> dict[str, Any]:
        def send(key: str) -> Callable[[], Reply]:
            return lambda: api.send_gift(fan, creator, key, gift_id)

        return same_every_time([measured(instruments, send(f"{gift_id}-{n}"))[1] for n in range(5)])

    out["gift"] = gifts(GIFT)
    out["gift_rose"] = gifts(ROSE)

    # The creator's side, settled from the stream by GiftSettlementFunction: once for a lone gift
    # (a quiet creator, one gift per batch), once for a batch of `settle_batch` gifts to one
    # creator from one fan, and once for as many from `settle_fans` fans (a live stream: the
    # settlement's top-gifter boards and spending counters are written per fan in a batch), each
    # divided by the gifts it settled.
    stream_fans = [f"count-stream-fan-{n}" for n in range(max(1, settle_fans))]
    for stream_fan in stream_fans:
        ok(api.grant(stream_fan, 100_000))
    stack.settlement.settle()  # what the gifts above left: not measured
    shapes = (
        ("settlement_lone_gift", 1, [fan]),
        ("settlement_busy_creator", settle_batch, [fan]),
        ("settlement_live_stream", settle_batch, stream_fans),
    )
    for name, count, senders in shapes:

        def batch(run: str, count: int = count, senders: list[str] = senders, name: str = name) -> Any:
            for n in range(count):
                ok(api.send_gift(senders[n % len(senders)], creator, f"{name}-{run}-{n}", GIFT))
            return stack.settlement.pending()

        events = batch("metered")
        cpu_before = time.thread_time()
        with instruments.meter.measuring() as m:
            settled = stack.settlement.settle(events)
        cpu_ms = (time.thread_time() - cpu_before) * 1000
        if settled != count:
            raise RuntimeError(f"{name}: {settled} gifts settled, {count} sent")
        # The CPU the function spends deployed: the same batch again with the meter idle (metered,
        # it reads every item a call writes, before and after, which costs many times the handler).
        unmetered = []
        for run in range(UNMETERED_SETTLEMENT_RUNS):
            events = batch(f"unmetered-{run}")
            cpu_before = time.thread_time()
            stack.settlement.settle(events)
            unmetered.append((time.thread_time() - cpu_before) * 1000)
        out[name] = {
            **work_of(m),
            "gifts": count,
            "fans": min(count, len(senders)),
            "cpu_ms": round(cpu_ms, 2),
            "unmetered_cpu_ms": round(statistics.median(unmetered), 2),
            "unmetered_cpu_ms_seen": [round(v, 2) for v in unmetered],
            "per_gift": per_gift(work_of(m), count),
        }
    out["wallet_read_fan"] = measured(instruments, lambda: api.open_wallet(fan))[1]
    out["wallet_read_creator"] = measured(instruments, lambda: api.open_wallet(creator))[1]
    history = "/v1/wallet/transactions"
    out["history_page_fan"] = measured(instruments, lambda: api.call("GET", history, user=fan))[1]
    out["history_page_creator"] = measured(instruments, lambda: api.call("GET", history, user=creator))[1]

    # A purchase: checkout opened, paid on the simulator, its webhook credits the coins.
    package = ok(api.call("GET", "/v1/catalog/packages", user=buyer)).body["packages"][0]["id"]
    checkout = ok(api.call("POST", "/v1/checkout", user=buyer, key="buy-1", body={"package_id": package}))
    session_id = checkout.body["session_id"]
    stack.sim_post(f"/_sim/checkout/sessions/{session_id}/pay")
    completed = next(
        e for e in stack.sim.events("checkout.session.completed") if e["data"]["object"]["id"] == session_id
    )
    out["purchase_credit"] = measured(instruments, lambda: api.deliver_stripe_event(completed))[1]

    # A withdrawal: onboarded (account completed on the simulator), diamonds available, reserved.
    account = ok(api.call("POST", "/v1/creator/onboarding", user=creator)).body["account_id"]
    stack.sim_post(f"/_sim/accounts/{account}/complete")
    for event in stack.sim.events("account.updated"):
        if event["data"]["object"]["id"] == account:
            ok(api.deliver_stripe_event(event))
    ok(api.grant(creator, 100_000, unit="diamonds", source="corrections"))
    out["withdrawal"] = measured(
        instruments,
        lambda: api.call(
            "POST", "/v1/creator/withdrawals", user=creator, key="wd-1", body={"diamonds": 4000}
        ),
    )[1]

    # Its payout: the worker paying one queued withdrawal (a Stripe transfer, then the ledger).
    due = [d for d in services().payout_batch.due() if d.user_id == creator]
    message = {"user_id": due[0].user_id, "withdrawal_id": due[0].withdrawal_id}
    with instruments.meter.measuring() as m:
        answer = api.pay_withdrawals([message])
    if answer.get("batchItemFailures"):
        raise RuntimeError(f"the payout failed: {answer}")
    out["payout"] = work_of(m)
    return out


# ------------------------------------------------------------------------------ throughput


_ASSIGNED = re.compile(r"(#\w+)\s*=\s*(:\w+)")


def _key_of(key: dict[str, Any]) -> str:
    return json.dumps(key, sort_keys=True)


class ReplayState:
    """The items one raw sender's replays write, as they last left them.

    The gift debits the fan with a compare-and-set on what it read (balance and version), so a
    recorded transaction cannot be sent again as it was: each replay sets the expected values to
    the item's current ones and the new ones to current + what the recorded gift added, exactly as
    the handler does after its read. `forget()` at the start of a block makes the first replay
    read the item once (the handler's gifts moved it on in between).
    """

    def __init__(self, client: DynamoDBClient) -> None:
        self._client = client
        self._items: dict[str, dict[str, Any]] = {}

    def forget(self) -> None:
        self._items.clear()

    def learn(self, key: dict[str, Any], item: dict[str, Any]) -> None:
        self._items[_key_of(key)] = dict(item)

    def current(self, table: str, key: dict[str, Any]) -> dict[str, Any]:
        if _key_of(key) not in self._items:
            found = self._client.get_item(TableName=table, Key=key, ConsistentRead=True)
            self._items[_key_of(key)] = dict(found.get("Item", {}))
        return self._items[_key_of(key)]

    def rebase(self, update: dict[str, Any], before: dict[str, Any] | None) -> dict[str, Any]:
        """An Update action of the recording, made to apply to the item as it is now."""
        if before is None:
            return update
        rebased = copy.deepcopy(update)
        names = update.get("ExpressionAttributeNames", {})
        values = rebased.get("ExpressionAttributeValues", {})
        now = self.current(update["TableName"], update["Key"])
        # `#attr = :value` in the condition, where :value was the item's value then: now's.
        for name, value in _ASSIGNED.findall(update.get("ConditionExpression", "")):
            attribute = names.get(name, name)
            if before.get(attribute) == update["ExpressionAttributeValues"].get(value) and attribute in now:
                values[value] = now[attribute]
        # `SET #attr = :value` of a number: now's value moved by what the recorded gift moved it.
        written: dict[str, Any] = {}
        for name, value in _ASSIGNED.findall(update.get("UpdateExpression", "")):
            attribute = names.get(name, name)
            old, new = before.get(attribute, {}), update["ExpressionAttributeValues"].get(value, {})
            if "N" in old and "N" in new and "N" in now.get(attribute, {}):
                values[value] = {"N": str(int(now[attribute]["N"]) + int(new["N"]) - int(old["N"]))}
            written[attribute] = values[value]
        rebased["_written"] = written
        return rebased

    def committed(self, key: dict[str, Any], written: dict[str, Any]) -> None:
        self._items.setdefault(_key_of(key), {}).update(written)


@dataclass(frozen=True)
class GiftTemplate:
    """The DynamoDB calls one handler gift made, to replay with raw boto3 under a new transfer id."""

    transfer_id: str
    calls: list[RecordedCall]

    def replay(
        self, client: DynamoDBClient, state: ReplayState, tally: ConflictTally, *, transactions_only: bool
    ) -> None:
        new_id = self.transfer_id[:3] + uuid.uuid4().hex[: len(self.transfer_id) - 3]
        for call in self.calls:
            if transactions_only and call.operation != "TransactWriteItems":
                continue
            params = json.loads(json.dumps(call.params).replace(self.transfer_id, new_id))
            if call.operation == "TransactWriteItems":
                params.pop("ClientRequestToken", None)
                items = []
                updates: list[tuple[dict[str, Any], dict[str, Any]]] = []
                for action, before in zip(params["TransactItems"], call.before, strict=True):
                    if "Update" in action:
                        rebased = state.rebase(action["Update"], before)
                        updates.append((rebased["Key"], rebased.pop("_written", {})))
                        action = {"Update": rebased}
                    items.append(action)
                transact_with_retries(client, items, tally)
                for key, written in updates:
                    state.committed(key, written)
            else:
                method = getattr(client, _snake(call.operation))
                try:
                    answer = method(**params)
                except ClientError as exc:
                    if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                        raise
                    continue
                if call.operation == "GetItem" and "Item" in answer:
                    # The handler's read: what its transaction compares with.
                    state.learn(params["Key"], answer["Item"])


def _snake(operation: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in operation).lstrip("_")


def raw_client(stack: LocalStack) -> DynamoDBClient:
    """Plain boto3 on a session of its own, configured like the functions' client."""
    client: DynamoDBClient = boto3.session.Session().client(
        "dynamodb",
        endpoint_url=stack.dynamodb.endpoint_url,
        region_name=LOCAL_REGION,
        aws_access_key_id=LOCAL_KEY,
        aws_secret_access_key=LOCAL_KEY,
        config=Config(
            retries={"mode": "standard", "max_attempts": 4}, max_pool_connections=64, tcp_keepalive=True
        ),
    )
    return client


def in_threads(threads: int, count: int, work: Callable[[int, int], None]) -> float:
    """Seconds for `count` calls of work(thread, n), spread evenly over `threads`."""
    per_thread = count // threads

    def run(thread: int) -> None:
        for n in range(per_thread):
            work(thread, n)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(run, range(threads)))
    return time.perf_counter() - started


def bench_throughput(
    stack: LocalStack, api: Api, instruments: Instruments, *, threads: int, per_block: int, rounds: int
) -> dict[str, Any]:
    """Gifts a second through the handler, against raw boto3 replays of its calls and the old design.

    The four run in turn, block after block, on the same threads and table, so that whatever else
    the machine does falls on all of them alike.
    """
    creator = "tp-creator"
    fans = [f"tp-fan-{t}" for t in range(threads)]
    api.go_live(creator)
    for fan in fans:
        ok(api.grant(fan, 1_000_000))
    templates: dict[str, list[GiftTemplate]] = defaultdict(list)
    for fan in fans:
        # A first gift gives the fan's item its version, which the recorded ones then compare.
        ok(api.send_gift(fan, creator, "tpl-first", GIFT))
        for n in range(4):  # several, so replays spread over shards as the handler's gifts do
            with instruments.recorder.recording() as recording:
                reply = ok(api.send_gift(fan, creator, f"tpl-{n}", GIFT))
            templates[fan].append(GiftTemplate(reply.body["transfer_id"], recording.calls))
    client = raw_client(stack)
    # The old design on a table of its own: its transfers are gifts of another shape, which the
    # live settlement from this table's stream must never see.
    old_table = f"{stack.table}-old-design"
    create_table(stack.client, old_table)
    old = OldGiftDesign(
        client,
        old_table,
        creator_shards=int(os.environ.get("CREATOR_SHARDS", "16")),
        system_shards=int(os.environ.get("SYSTEM_SHARDS", "64")),
    )
    old_fans = [f"old-fan-{t}" for t in range(threads)]
    old.open_accounts(fans=old_fans, creator="old-creator", coins=1_000_000)
    replays = ConflictTally()
    states = [ReplayState(client) for _ in range(threads)]

    kinds: dict[str, Callable[[int, int], None]] = {
        "handler": lambda t, n: None,
        "raw_transaction": lambda t, n: templates[fans[t]][n % 4].replay(
            client, states[t], replays, transactions_only=True
        ),
        "raw_all_calls": lambda t, n: templates[fans[t]][n % 4].replay(
            client, states[t], replays, transactions_only=False
        ),
        "old_design": lambda t, n: old.send_gift(
            old_fans[t],
            "old-creator",
            gift_id=GIFT,
            gift_name=GIFT_NAME,
            coins=GIFT_COINS,
            diamonds=GIFT_DIAMONDS,
        ),
    }
    block = [0]

    def handler_gift(t: int, n: int) -> None:
        ok(api.send_gift(fans[t], creator, f"b{block[0]}-{n}", GIFT, container=t))

    kinds["handler"] = handler_gift
    seconds: dict[str, float] = dict.fromkeys(kinds, 0.0)
    own_cpu: dict[str, float] = dict.fromkeys(kinds, 0.0)
    dynamodb_cpu: dict[str, float] = dict.fromkeys(kinds, 0.0)
    # Each round is a block: the four kinds one after another, so each block's ratios compare
    # runs made under the same load.
    blocks: list[dict[str, tuple[float, float]]] = []
    for round_ in range(rounds):
        this_block: dict[str, tuple[float, float]] = {}
        for kind, work in kinds.items():
            block[0] += 1
            for state in states:
                state.forget()
            before = stack.cpu.read()
            took = in_threads(threads, per_block, work)
            spent = stack.cpu.read() - before
            seconds[kind] += took
            own_cpu[kind] += spent.functions
            dynamodb_cpu[kind] += spent.dynamodb
            this_block[kind] = (took, spent.functions + spent.dynamodb)
        blocks.append(this_block)
        log(
            f"throughput round {round_ + 1}/{rounds}: "
            + ", ".join(f"{k} {v:.1f}s" for k, v in seconds.items())
        )
    gifts = (per_block // threads) * threads * rounds
    rate = {kind: gifts / s for kind, s in seconds.items()}
    cpu_ms = {kind: (own_cpu[kind] + dynamodb_cpu[kind]) * 1000 / gifts for kind in kinds}

    def block_ratios(over: str, under: str, *, cpu: bool = False) -> dict[str, Any]:
        # Throughput: the same gifts in less time is more; CPU: less CPU for `under` is more.
        if cpu:
            return spread([b[over][1] / b[under][1] for b in blocks])
        return spread([b[under][0] / b[over][0] for b in blocks])

    spreads = {
        "handler_over_raw_transaction": block_ratios("handler", "raw_transaction"),
        "handler_over_raw_all_calls": block_ratios("handler", "raw_all_calls"),
        "handler_over_old_design": block_ratios("handler", "old_design"),
        "cpu_raw_transaction_over_handler": block_ratios("raw_transaction", "handler", cpu=True),
    }
    return {
        "gift": GIFT,
        "threads": threads,
        "gifts_per_kind": gifts,
        "blocks": rounds,
        "gifts_per_second": {k: round(v, 1) for k, v in rate.items()},
        # Each ratio is the median of its blocks' (spreads: min, max, quartiles, every block's).
        "handler_over_raw_transaction": spreads["handler_over_raw_transaction"]["median"],
        "handler_over_raw_all_calls": spreads["handler_over_raw_all_calls"]["median"],
        "handler_over_old_design": spreads["handler_over_old_design"]["median"],
        "raw_transaction_over_old_design": round(rate["raw_transaction"] / rate["old_design"], 2),
        "spreads": spreads,
        "cpu_ms_per_gift": {k: round(v, 2) for k, v in cpu_ms.items()},
        "cpu_raw_transaction_over_handler": spreads["cpu_raw_transaction_over_handler"]["median"],
        "cpu_old_design_over_handler": round(cpu_ms["old_design"] / cpu_ms["handler"], 2),
        "handler_process_cpu_ms_per_gift": round(own_cpu["handler"] * 1000 / gifts, 2),
        "conflicts_seen_by_raw_baselines": replays.conflicts + old.tally.conflicts,
        "calls_per_handler_gift": [c.operation for c in templates[fans[0]][0].calls],
    }


# ------------------------------------------------------------------------------ latency


def _percentile(samples: Sequence[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, math.ceil(fraction * len(ordered)) - 1)]


def bench_latency(stack: LocalStack, api: Api, instruments: Instruments, *, samples: int) -> dict[str, Any]:
    """One sender, one request at a time: a gift through the handler, against a bare GetItem of the
    fan's coin item (the gift's first call, alone) and raw boto3 making the gift's own calls.

    The three alternate, sample after sample, so a burst of load elsewhere falls on all of them.
    """
    creator, fan = "lat-creator", "lat-fan"
    api.go_live(creator)
    ok(api.grant(fan, 10_000_000))
    ok(api.send_gift(fan, creator, "lat-first", GIFT))
    with instruments.recorder.recording() as recording:
        reply = ok(api.send_gift(fan, creator, "lat-template", GIFT))
    template = GiftTemplate(reply.body["transfer_id"], recording.calls)
    reads = [c for c in template.calls if c.operation in ("GetItem", "BatchGetItem")]
    if not reads:
        raise RuntimeError(f"the gift made no read to compare with: {[c.operation for c in template.calls]}")
    client = raw_client(stack)
    state = ReplayState(client)
    tally = ConflictTally()
    first_read = reads[0]
    read = getattr(client, _snake(first_read.operation))
    timings: dict[str, list[float]] = {"gift": [], "bare_get_item": [], "raw_gift_calls": []}
    for n in range(samples):
        started = time.perf_counter()
        read(**first_read.params)
        timings["bare_get_item"].append(time.perf_counter() - started)
        started = time.perf_counter()
        ok(api.send_gift(fan, creator, f"lat-{n}", GIFT))
        timings["gift"].append(time.perf_counter() - started)
        state.forget()  # the handler's gift moved the fan's item on; the raw calls read it again
        started = time.perf_counter()
        template.replay(client, state, tally, transactions_only=False)
        timings["raw_gift_calls"].append(time.perf_counter() - started)
    out: dict[str, Any] = {
        "samples": samples,
        "baseline": f"bare {first_read.operation} of the fan's coin item",
    }
    for name, values in timings.items():
        out[f"{name}_ms"] = {
            "p50": round(_percentile(values, 0.50) * 1000, 2),
            "p99": round(_percentile(values, 0.99) * 1000, 2),
        }
    for fraction, label in ((0.50, "p50"), (0.99, "p99")):
        gift = _percentile(timings["gift"], fraction)
        out[f"gift_over_bare_get_item_{label}"] = round(
            gift / _percentile(timings["bare_get_item"], fraction), 2
        )
        out[f"gift_over_raw_gift_calls_{label}"] = round(
            gift / _percentile(timings["raw_gift_calls"], fraction), 2
        )
    return out


# ------------------------------------------------------------------------------ a hot creator


def bench_hot_creator(
    api: Api,
    instruments: Instruments,
    settle: Callable[[], int],
    *,
    senders: int,
    gifts_per_sender: int,
    observed_gifts: int,
    modelled_rate: float,
) -> dict[str, Any]:
    """32 senders to one creator, TransactionConflict injected as real items would produce it."""
    creator = "hot-creator"
    fans = [f"hot-fan-{n}" for n in range(senders)]
    api.go_live(creator)
    start_coins = 100_000
    for fan in fans:
        ok(api.grant(fan, start_coins))
    accepted: dict[str, list[dict[str, Any]]] = defaultdict(list)

    # 1. Which items do gifts from different senders share? Observed, never assumed.
    touched: dict[str, list[set[str]]] = defaultdict(list)  # group -> the items each gift touched
    senders_of: dict[str, set[str]] = defaultdict(set)
    for n in range(observed_gifts):
        fan = fans[n % senders]
        with instruments.recorder.recording() as recording:
            # On the sender's own container: each is loaded here, not in the timed phases.
            reply = ok(api.send_gift(fan, creator, f"observe-{n}", GIFT, container=n % senders))
            accepted[fan].append(reply.body)
        for call in recording.calls:
            if call.operation == "TransactWriteItems":
                by_group: dict[str, set[str]] = defaultdict(set)
                for key in item_keys(call.params, ("PK", "SK")):
                    by_group[item_group(key)].add(key)
                for group, keys in by_group.items():
                    touched[group].append(keys)
                    senders_of[group].add(fan)
    units_of: dict[str, int] = {}
    with instruments.meter.measuring() as m:
        accepted[fans[0]].append(ok(api.send_gift(fans[0], creator, "observe-units", GIFT)).body)
    for record in m.calls:
        for key, units in record.written:
            units_of[item_group(key)] = units_of.get(item_group(key), 0) + units
    groups = []
    for group, per_gift in touched.items():
        if len(senders_of[group]) < 2:
            continue  # only one sender writes it: never contended by another
        items = {key for keys in per_gift for key in keys}
        partitions = {key.split("|", 1)[0] for key in items}
        groups.append(
            ItemGroup(
                name=group,
                items=distinct_population(len(per_gift), len(items)),
                partitions=distinct_population(len(per_gift), len(partitions)),
                write_units=units_of.get(group, 2),
                of_the_creator=creator in group,
            )
        )
    model = ConflictModel(modelled_rate, groups)

    # 2. The senders, each retrying a refused gift with the same key as an app would: first with
    # nothing injected (the baseline, same senders and creator), then under the modelled conflicts.
    injector = ConflictInjector(model, key_names=("PK", "SK"))
    refused = [0]
    statuses: dict[int, int] = {}
    lost: list[str] = []
    lock = threading.Lock()

    def sender(index: int, phase: str) -> None:
        fan = fans[index]
        for n in range(gifts_per_sender):
            key = f"{phase}-{n}"
            for attempt in range(60):
                reply = api.send_gift(fan, creator, key, GIFT, container=index)
                with lock:
                    statuses[reply.status] = statuses.get(reply.status, 0) + 1
                if reply.status == 201:
                    with lock:
                        accepted[fan].append(reply.body)
                    break
                if reply.status not in (429, 500, 503):
                    raise RuntimeError(f"gift refused for good: {reply.status} {reply.body}")
                with lock:
                    refused[0] += 1
                time.sleep(random.uniform(0, 0.002 * min(attempt + 1, 10)))
            else:
                with lock:
                    lost.append(f"{fan}/{key}")

    def all_senders(phase: str) -> float:
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=senders) as pool:
            list(pool.map(lambda index: sender(index, phase), range(senders)))
        return time.perf_counter() - started

    free_seconds = all_senders("free")
    instruments.injector = injector
    try:
        elapsed = all_senders("hot")
    finally:
        instruments.injector = None
    sent = senders * gifts_per_sender

    # 3. Nothing lost, nothing twice: every accepted gift moved exactly its coins and diamonds.
    coins_off = 0
    off_by_fan: dict[str, int] = {}
    for fan in fans:
        spent = sum(int(r["coins_spent"]) for r in accepted[fan])
        off = ok(api.open_wallet(fan)).body["coins"] - (start_coins - spent)
        if off:
            off_by_fan[fan] = off
        coins_off += abs(off)
    # The creator's share is carried exactly (millidiamonds) and rounded once, on the balance: the
    # receipts' whole diamonds each round down, so the sum is taken of the exact shares.
    rate = Settings.from_env().diamond_rate
    credited = whole_diamonds(
        sum(rate.millidiamonds_for(int(r["coins_spent"])) for rs in accepted.values() for r in rs)
    )
    diamonds_off = credited
    for _ in range(60):  # a creator credited off the request path shows it within seconds
        settle()
        diamonds = ok(api.open_wallet(creator)).body["diamonds"]
        diamonds_off = abs(credited - int(diamonds["pending"]) - int(diamonds["available"]))
        if diamonds_off == 0:
            break
        time.sleep(0.5)
    distinct = {r["transfer_id"] for rs in accepted.values() for r in rs}
    return {
        "senders": senders,
        "gifts_sent": 2 * sent,
        "gifts_per_phase": sent,
        "gifts_lost": len(lost),
        "coins_mismatch": coins_off,
        "coins_mismatch_by_fan": off_by_fan,
        "statuses_seen": dict(statuses),
        "diamonds_mismatch": diamonds_off,
        "duplicate_receipts": sum(len(rs) for rs in accepted.values()) - len(distinct),
        "transaction_attempts": injector.attempts,
        "conflicts_injected": injector.injected,
        "retries_per_gift": round((injector.attempts - sent) / sent, 2),
        "refusals_seen_by_senders_per_gift": round(refused[0] / sent, 3),
        "seconds": round(elapsed, 1),
        "gifts_per_second_under_conflicts": round(sent / elapsed, 1),
        "gifts_per_second_without_conflicts": round(sent / free_seconds, 1),
        "throughput_under_conflicts_over_without": round(free_seconds / elapsed, 2),
        "model": {
            "modelled_gifts_per_second_to_the_creator": modelled_rate,
            "gifts_observed": observed_gifts,
            "shared_groups": {
                g.name: {
                    "items": _rounded(g.items),
                    "partitions": _rounded(g.partitions),
                    "write_units_per_gift": g.write_units,
                    "conflict_probability": round(model.conflict_probability(g.name), 3),
                }
                for g in groups
            },
        },
        # No item of the creator's shared between senders: nothing of this creator's caps the rate.
        "modelled_ceiling_per_creator": _rounded(model.ceiling(of_the_creator=True)) or "unbounded",
        "modelled_ceiling_platform_wide": _rounded(model.ceiling(of_the_creator=False)),
    }


def _rounded(value: float | None) -> int | str | None:
    if value is not None and math.isinf(value):
        return "unbounded"
    return None if value is None else round(value)
