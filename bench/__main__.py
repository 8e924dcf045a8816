"""`make bench`: the gift path and the payout batch on the local stack, against same-run baselines.

These machines are noisy, so every figure is also given as a ratio to a baseline measured in the
same process a moment before: a bare one-item DynamoDB transaction for the gift path, a bare Stripe
transfer call for the payout batch. Results go to bench/results/latest.json and latest.md.
"""

import argparse
import json
import os
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests
import stripe

from coins.admin import AdjustmentUnit
from coins.config import Settings
from coins.payment_events import PaymentEvent
from coins.wiring import Services, build_services
from devstack.dynamodb_local import DynamoDBLocal, create_table, local_client
from devstack.local_env import LOCAL_STRIPE_KEY, function_environment
from devstack.stripe_sim.server import StripeSimulator

RESULTS = Path(__file__).parent / "results"


def timed(work: Callable[[], Any], count: int, threads: int = 1) -> float:
    """Seconds for `count` calls of work spread over `threads`."""
    started = time.perf_counter()
    if threads == 1:
        for _ in range(count):
            work()
    else:
        with ThreadPoolExecutor(max_workers=threads) as pool:
            list(pool.map(lambda _: work(), range(count)))
    return time.perf_counter() - started


def bench_gifts(app: Services, gifts: int, threads: int) -> dict[str, Any]:
    client = app.repository.client
    table = app.settings.table_name

    def bare_transaction() -> None:
        client.transact_write_items(
            TransactItems=[
                {
                    "Update": {
                        "TableName": table,
                        "Key": {"PK": {"S": f"BENCH#{uuid.uuid4().hex[:6]}"}, "SK": {"S": "X"}},
                        "UpdateExpression": "ADD n :one",
                        "ExpressionAttributeValues": {":one": {"N": "1"}},
                    }
                }
            ]
        )

    app.wallets.wallet("bench-creator")
    app.creator_profiles.become_creator(user_id="bench-creator", birthdate="1990-01-01")
    stream_id = str(
        app.streams.start(creator_id="bench-creator", title=None, idempotency_key="bench")["stream_id"]
    )
    fans = [f"bench-fan-{n}" for n in range(threads)]
    for fan in fans:
        app.admin.adjust(
            admin_id="bench-admin",
            user_id=fan,
            unit=AdjustmentUnit.COINS,
            amount=gifts * 5,
            reason="bench",
            source=None,
            idempotency_key=f"bench-{fan}",
        )
    keys = iter(range(10**9))

    def send() -> None:
        n = next(keys)
        app.gifts.send_gift(
            fan_id=fans[n % threads],
            creator_id="bench-creator",
            gift_id="finger_heart",
            quantity=1,
            stream_id=stream_id,
            idempotency_key=f"g{n}",
            birthdate="1990-01-01",
        )

    baseline = timed(bare_transaction, gifts, threads)
    measured = timed(send, gifts, threads)
    return {
        "gifts": gifts,
        "threads": threads,
        "gifts_per_second": round(gifts / measured, 1),
        "bare_transactions_per_second": round(gifts / baseline, 1),
        "gift_time_over_bare_transaction": round(measured / baseline, 2),
    }


def bench_payouts(app: Services, sim: StripeSimulator, creators: int) -> dict[str, Any]:
    base = {"api": sim.base_url, "connect": sim.base_url}
    raw = stripe.StripeClient(LOCAL_STRIPE_KEY, base_addresses=base)  # type: ignore[arg-type]
    users = [f"bench-creator-{n:04d}" for n in range(creators)]
    started = time.perf_counter()
    with requests.Session() as http:
        for user in users:
            account = app.creators.onboard(user_id=user, country="US", birthdate="1990-01-01")["account_id"]
            http.post(f"{sim.base_url}/_sim/accounts/{account}/complete", timeout=10)
    for stored in sim.events():  # account.updated, as the webhook would deliver them
        app.webhooks.handle(PaymentEvent.model_validate(stored.event))
    for user in users:
        app.admin.adjust(
            admin_id="bench-admin",
            user_id=user,
            unit=AdjustmentUnit.DIAMONDS,
            amount=2400,
            reason="bench",
            source=None,
            idempotency_key=f"seed-{user}",
        )
        app.creators.withdraw(user_id=user, birthdate="1990-01-01", diamonds=2400, idempotency_key="bench")
    setup = time.perf_counter() - started
    profile = app.payouts.get_profile(users[0])
    assert profile is not None
    destination = str(profile.account_id)

    def bare_transfer() -> None:
        raw.v1.transfers.create(params={"amount": 100, "currency": "usd", "destination": destination})

    baseline = timed(bare_transfer, min(creators, 200))
    baseline_per_call = baseline / min(creators, 200)
    started = time.perf_counter()
    due = list(app.payout_batch.due())
    outcomes = [app.payout_batch.pay(d) for d in due]
    batch = time.perf_counter() - started
    per_payout = batch / len(due)
    return {
        "creators": creators,
        "paid": outcomes.count("paid"),
        "setup_seconds": round(setup, 1),
        "batch_seconds": round(batch, 2),
        "milliseconds_per_payout": round(per_payout * 1000, 2),
        "milliseconds_per_bare_stripe_transfer": round(baseline_per_call * 1000, 2),
        "payout_time_over_bare_stripe_transfer": round(per_payout / baseline_per_call, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--gifts", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--creators", type=int, default=1000)
    args = parser.parse_args()
    with DynamoDBLocal() as dynamodb, StripeSimulator(port=0) as sim:
        table = f"bench-{uuid.uuid4().hex[:8]}"
        create_table(local_client(dynamodb.endpoint_url), table)
        os.environ.update(
            function_environment(
                table=table,
                dynamodb_url=dynamodb.endpoint_url,
                api_url="http://127.0.0.1:3000",
                stripe_url=sim.base_url,
            )
        )
        os.environ["POWERTOOLS_LOG_LEVEL"] = "ERROR"
        app = build_services(Settings.from_env())
        results: dict[str, Any] = {
            "run_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine_cores": os.cpu_count(),
            "gift_path": bench_gifts(app, args.gifts, args.threads),
            "payout_batch": bench_payouts(app, sim, args.creators),
        }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "latest.json").write_text(json.dumps(results, indent=2) + "\n")
    lines = [
        "# Benchmark figures (make bench)",
        "",
        f"Run at {results['run_at']} on {results['machine_cores']} cores.",
        "",
    ]
    for section in ("gift_path", "payout_batch"):
        lines += [f"## {section}", "", "| figure | value |", "| --- | --- |"]
        lines += [f"| {k} | {v} |" for k, v in results[section].items()]
        lines.append("")
    (RESULTS / "latest.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
