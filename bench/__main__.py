"""`make bench`: issue 8's figures, each a ratio against a baseline measured in the same run or a
count that does not depend on speed; written to bench/results/ and docs/performance.md.

1. Cold start of every function and of each way to trace (fresh processes, before anything else
   runs, against `import boto3` + a DynamoDB client).
2. On DynamoDB Local and the Stripe simulator, through the deployed handlers: DynamoDB work per
   gift, purchase credit, withdrawal and payout (metered on the client); gift throughput against
   raw boto3 replays of the handler's own calls and against the old design; one hot creator
   under injected transaction conflicts; the payout batch at two sizes.
3. Cost per million gifts on AWS from those counts.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import warnings
from datetime import UTC, datetime
from typing import Any

from bench import report
from bench.coldstart import bench_cold_starts
from bench.cost import cost_per_million_gifts
from bench.gifts import bench_hot_creator, bench_throughput, bench_work_per_operation, log
from bench.payout_batch import bench_payout_batch
from bench.stack import Api, local_stack
from devstack.template import functions, load_template


def gift_function_memory_mb() -> int:
    globals_ = load_template()["Globals"]["Function"]
    return int(functions()["GiftSendFunction"].get("MemorySize", globals_.get("MemorySize", 128)))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cold-rounds", type=int, default=11, help="fresh processes per function (median)")
    parser.add_argument("--threads", type=int, default=8, help="concurrent gift senders for throughput")
    parser.add_argument("--gifts-per-block", type=int, default=160)
    parser.add_argument("--rounds", type=int, default=3, help="throughput blocks of each kind")
    parser.add_argument("--hot-senders", type=int, default=32)
    parser.add_argument("--hot-gifts", type=int, default=8, help="gifts per hot sender")
    parser.add_argument("--hot-rate", type=float, default=10_000, help="modelled gifts/s to the hot creator")
    parser.add_argument(
        "--payout-sizes", default="1000,10000", help="due withdrawals, comma-separated; '' skips"
    )
    parser.add_argument("--payout-workers", type=int, default=4)
    args = parser.parse_args()
    warnings.filterwarnings("ignore", message="No application metrics to publish")

    results: dict[str, Any] = {
        "run_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "make bench",
        "machine": report.machine(),
        "load_average_before": report.load_average(),
    }
    log(f"cold starts: {args.cold_rounds} rounds")
    results["cold_start"] = bench_cold_starts(args.cold_rounds)

    # The handlers print their metrics (EMF) to stdout, as Lambda would log them: not ours to show.
    with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull), local_stack() as stack:
        api = Api()
        log("DynamoDB work per operation")
        results["work_per_operation"] = bench_work_per_operation(stack, api, stack.instruments)
        log("gift throughput")
        results["throughput"] = bench_throughput(
            stack,
            api,
            stack.instruments,
            threads=args.threads,
            per_block=args.gifts_per_block,
            rounds=args.rounds,
        )
        log("one hot creator")
        results["hot_creator"] = bench_hot_creator(
            api,
            stack.instruments,
            senders=args.hot_senders,
            gifts_per_sender=args.hot_gifts,
            observed_gifts=4 * args.hot_senders,
            modelled_rate=args.hot_rate,
        )
        sizes = [int(s) for s in args.payout_sizes.split(",") if s.strip()]
        if sizes:
            log(f"payout batch at {sizes}")
            results["payout_batch"] = bench_payout_batch(stack, api, sizes, workers=args.payout_workers)

    handler_cpu_ms = results["throughput"]["handler_process_cpu_ms_per_gift"]
    memory = gift_function_memory_mb()
    results["cost_per_million_gifts"] = {
        "finger_heart": cost_per_million_gifts(results["work_per_operation"]["gift"], handler_cpu_ms, memory),
        "rose": cost_per_million_gifts(results["work_per_operation"]["gift_rose"], handler_cpu_ms, memory),
    }
    results["load_average_after"] = report.load_average()
    print(report.write(results))


if __name__ == "__main__":
    main()
