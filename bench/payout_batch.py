"""The payout batch at 1,000 and 10,000 due withdrawals: does the time per payout stay flat?

Set-up: one creator goes the whole public way (Connect onboarding on the Stripe simulator, a gift
that left diamonds pending past the maturing window, diamonds made available, ten withdrawals
reserved); then the table gets as many more such creators as the size needs by copying that
creator's items under new creator and withdrawal ids (BatchWriteItem, in parallel). Copying what
the code wrote, rather than writing items of our own, keeps the set-up right whatever the data
model becomes; the copies share the template's index buckets and its Stripe account, which the
batch does not mind (the Stripe simulator pays every transfer to that one account).

The batch then runs as deployed: the scheduler's steps (mature every creator's due pending
diamonds, list what is due) in this process, and the worker's handler paying SQS batches of 10
on a few containers at once, as the queue's event source would.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.gifts import GIFT, log, ok
from bench.stack import ADULT, Api, LocalStack
from coins.config import Settings
from coins.wiring import build_services, services

SQS_BATCH = 10  # the worker's event source batch size (and the scheduler's SendMessageBatch size)
# Each creator has this many withdrawals due (4,000 diamonds, $20, each: the daily cap of $1,000
# allows 50), so that 10,000 due withdrawals need 1,000 creators' items, which DynamoDB Local
# can take in minutes; both sizes have the same mix, so the figure is how the batch scales.
WITHDRAWALS_PER_CREATOR = 10
TEMPLATE = "payout-template"


def _scan(stack: LocalStack) -> Iterator[dict[str, Any]]:
    paginator = stack.client.get_paginator("scan")
    for page in paginator.paginate(TableName=stack.table):
        yield from page.get("Items", [])


def _empty_shard(item: dict[str, Any]) -> bool:
    return item.get("balance") == {"N": "0"} and item.get("by_day") == {"M": {}}


def set_up_template(stack: LocalStack, api: Api) -> list[str]:
    """One creator with reserved withdrawals and diamonds pending past the window; the withdrawals."""
    stream_id = api.go_live(TEMPLATE)
    account = ok(api.call("POST", "/v1/creator/onboarding", user=TEMPLATE)).body["account_id"]
    stack.sim_post(f"/_sim/accounts/{account}/complete")
    for event in stack.sim.events("account.updated"):
        if event["data"]["object"]["id"] == account:
            ok(api.deliver_stripe_event(event))
    fan = "payout-fan"
    ok(api.grant(fan, 1_000))
    # A gift from before the maturing window, through the gift service on a clock set back.
    settings = Settings.from_env()
    earlier = datetime.now(UTC) - timedelta(days=settings.maturity_days + 2)
    build_services(settings, clock=lambda: earlier).gifts.send_gift(
        fan_id=fan,
        creator_id=TEMPLATE,
        gift_id=GIFT,
        quantity=1,
        stream_id=stream_id,
        idempotency_key="aged",
        birthdate=ADULT,
    )
    ok(api.grant(TEMPLATE, 100_000, unit="diamonds", source="corrections"))
    withdrawals = []
    for n in range(WITHDRAWALS_PER_CREATOR):
        reply = api.call(
            "POST", "/v1/creator/withdrawals", user=TEMPLATE, key=f"payout-{n}", body={"diamonds": 4000}
        )
        withdrawals.append(ok(reply).body["withdrawal_id"])
    return withdrawals


def copy_creators(stack: LocalStack, withdrawal_ids: Sequence[str], count: int, *, threads: int = 8) -> int:
    """`count` more creators like the template: its items under new creator and withdrawal ids."""
    # The creator's own items (profile, accounts, withdrawals, daily cap); not its history rows,
    # which the batch never reads, nor the pending shards that never received a diamond (the batch
    # asks for them and finds them missing, as cheap as finding them empty).
    template = [
        item
        for item in _scan(stack)
        if TEMPLATE in item["PK"]["S"] and not item["PK"]["S"].startswith("HIST#") and not _empty_shard(item)
    ]
    text = json.dumps(template)

    def copies(n: int) -> list[dict[str, Any]]:
        copied = text.replace(TEMPLATE, f"payout-{n:05d}")
        for withdrawal_id in withdrawal_ids:
            copied = copied.replace(
                withdrawal_id, withdrawal_id[:3] + uuid.uuid4().hex[: len(withdrawal_id) - 3]
            )
        items: list[dict[str, Any]] = json.loads(copied)
        return items

    def write(numbers: Sequence[int]) -> None:
        items = [item for n in numbers for item in copies(n)]
        for start in range(0, len(items), 25):
            requests: Any = {stack.table: [{"PutRequest": {"Item": i}} for i in items[start : start + 25]]}
            while requests:
                answer = stack.client.batch_write_item(RequestItems=requests)
                requests = answer.get("UnprocessedItems") or None

    chunks = [range(n, min(n + 50, count + 1)) for n in range(1, count + 1, 50)]
    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(write, chunks))
    return len(template)


def run_batch(stack: LocalStack, api: Api, *, workers: int) -> dict[str, Any]:
    """The scheduler's two steps, then the worker paying every due withdrawal, phase by phase."""
    batch = services().payout_batch
    phases: dict[str, dict[str, Any]] = {}
    due: list[dict[str, str]] = []

    def mature() -> Any:
        return batch.mature_due().matured

    def list_due() -> Any:
        due.extend({"user_id": d.user_id, "withdrawal_id": d.withdrawal_id} for d in batch.due())
        return len(due)

    def pay() -> Any:
        batches = [due[n : n + SQS_BATCH] for n in range(0, len(due), SQS_BATCH)]

        def one(numbered: tuple[int, list[dict[str, str]]]) -> int:
            container, messages = numbered
            answer = api.pay_withdrawals(messages, container=container % workers)
            return len(answer.get("batchItemFailures", []))

        with ThreadPoolExecutor(max_workers=workers) as pool:
            return sum(pool.map(one, enumerate(batches)))

    outcome: dict[str, Any] = {}
    for name, step in (("mature", mature), ("list_due", list_due), ("pay", pay)):
        cpu_before, started = stack.cpu.read(), time.perf_counter()
        with stack.instruments.counter.counting() as calls:
            outcome[name] = step()
        spent = stack.cpu.read() - cpu_before
        phases[name] = {
            "seconds": time.perf_counter() - started,
            "cpu_functions_and_dynamodb": spent.stack,
            "cpu_functions": spent.functions,
            "cpu_dynamodb": spent.dynamodb,
            "cpu_stripe_simulator": spent.stripe,
            "dynamodb_calls": dict(calls),
        }
    return {
        "matured_diamonds": outcome["mature"],
        "due": len(due),
        "failed": outcome["pay"],
        "sqs_send_message_batch_calls": math.ceil(len(due) / SQS_BATCH),
        "phases": phases,
    }


def bench_payout_batch(stack: LocalStack, api: Api, sizes: Sequence[int], *, workers: int) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for size in sizes:
        stack.use_new_table(f"payouts{size}")
        started = time.perf_counter()
        withdrawal_ids = set_up_template(stack, api)
        creators = math.ceil(size / WITHDRAWALS_PER_CREATOR)
        items = copy_creators(stack, withdrawal_ids, creators - 1)
        set_up = time.perf_counter() - started
        due = creators * WITHDRAWALS_PER_CREATOR
        log(
            f"payout batch: {creators} creators, {due} withdrawals set up in {set_up:.0f}s ({items} items each)"
        )
        run = run_batch(stack, api, workers=workers)
        if run["due"] != due or run["failed"]:
            raise RuntimeError(f"the payout batch did not pay {due}: {run}")
        phases = run.pop("phases")
        per_payout: dict[str, dict[str, Any]] = {}
        for name, phase in phases.items():
            per_payout[name] = {
                "milliseconds": round(phase["seconds"] * 1000 / due, 3),
                "cpu_ms_functions_and_dynamodb": round(phase["cpu_functions_and_dynamodb"] * 1000 / due, 3),
                "cpu_ms_functions": round(phase["cpu_functions"] * 1000 / due, 3),
                "cpu_ms_dynamodb": round(phase["cpu_dynamodb"] * 1000 / due, 3),
                "cpu_ms_stripe_simulator": round(phase["cpu_stripe_simulator"] * 1000 / due, 3),
                "dynamodb_calls": {k: round(v / due, 3) for k, v in phase["dynamodb_calls"].items()},
            }
        per_payout["total"] = {
            key: round(sum(p[key] for p in per_payout.values()), 3)
            for key in (
                "milliseconds",
                "cpu_ms_functions_and_dynamodb",
                "cpu_ms_functions",
                "cpu_ms_dynamodb",
                "cpu_ms_stripe_simulator",
            )
        }
        results[str(size)] = {
            **run,
            "creators": creators,
            "set_up_seconds": round(set_up, 1),
            "items_per_creator": items,
            "per_payout": per_payout,
        }
        log(f"payout batch: {due} paid in {sum(p['seconds'] for p in phases.values()):.0f}s")
    small, large = (results[str(s)]["per_payout"] for s in (min(sizes), max(sizes)))

    def growth(figure: str) -> dict[str, float]:
        return {
            phase: round(large[phase][figure] / small[phase][figure], 2)
            for phase in small
            if small[phase][figure]
        }

    def calls(per_payout: dict[str, dict[str, Any]]) -> float:
        total = 0.0
        for phase in per_payout.values():
            total += sum(
                float(n) for op, n in phase.get("dynamodb_calls", {}).items() if op != "items_returned"
            )
        return total

    return {
        "sizes": list(sizes),
        "workers": workers,
        "by_size": results,
        "large_over_small": {
            "milliseconds": growth("milliseconds"),
            "cpu_functions_and_dynamodb": growth("cpu_ms_functions_and_dynamodb"),
            "cpu_functions": growth("cpu_ms_functions"),
            "cpu_dynamodb": growth("cpu_ms_dynamodb"),
            "cpu_stripe_simulator": growth("cpu_ms_stripe_simulator"),
            "dynamodb_calls_per_payout": round(calls(large) / calls(small), 2),
        },
    }
