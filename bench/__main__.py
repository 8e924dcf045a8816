"""`make bench`: issue 8's figures, each a ratio against a baseline measured in the same run or a
count that does not depend on speed; written to bench/results/ and docs/performance.md.

1. Cold start of every function and of each way to trace (fresh processes, before anything else
   runs, against `import boto3` + a DynamoDB client).
2. On DynamoDB Local and the Stripe simulator, through the deployed handlers: DynamoDB work per
   gift (and its share of the settlement from the table's stream), purchase credit, withdrawal
   and payout (metered on the client); p50/p99 gift latency against a bare GetItem; gift
   throughput against raw boto3 replays of the handler's own calls and against the old design;
   one hot creator under injected transaction conflicts; the payout batch at two sizes.
3. What a gift stores in the table and writes to the logs (bench/footprint.py).
4. Cost per million gifts on AWS from those counts, and a month's bill with every line item
   (bench/cost.py), written to docs/deploy.md.
5. The books: the audit's time and memory per million items on DuckDB at two table sizes (built as
   export files), and the monthly cost of exports and audits (`--only-books` runs just this part);
   the hourly windowed check's time and memory at two table sizes with the same traffic in its
   window, and the monthly cost of the hourly checks (bench/books_check.py).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import report
from bench.books import bench_audit as bench_books
from bench.books_check import bench_check
from bench.coldstart import bench_cold_starts
from bench.cost import price
from bench.footprint import bench_footprint
from bench.gifts import (
    bench_hot_creator,
    bench_latency,
    bench_throughput,
    bench_work_per_operation,
    log,
    with_settlement,
)
from bench.hot_settlement import bench_hot_settlement
from bench.instruments import ITEM_WRITE_UNITS_PER_SECOND
from bench.payout_batch import bench_payout_batch
from bench.stack import BENCH_ABUSE_LIMITS, Api, local_stack
from coins.config import Settings


def settlement_ceiling(settlement: dict[str, Any]) -> dict[str, Any]:
    """Gifts a second one creator can receive, bounded by the settlement's writes to their items.

    Off the request path, the creator's pending shards take one transactional write per settlement
    chunk; a shard takes ITEM_WRITE_UNITS_PER_SECOND / 2 such writes a second (an item up to 1 KB
    costs 2 units in a transaction). Gifts per chunk are measured: the busy-creator batch's gifts
    over its TransactWriteItems.
    """
    shards = Settings.from_env().creator_shards
    chunks = settlement["operations"].get("TransactWriteItems", 0)
    gifts_per_chunk = settlement["gifts"] / chunks if chunks else 0.0
    per_shard = ITEM_WRITE_UNITS_PER_SECOND / 2
    return {
        "creator_shards": shards,
        "gifts_per_chunk_measured": round(gifts_per_chunk, 1),
        "chunk_writes_per_second_per_shard": per_shard,
        "modelled_ceiling_per_creator": round(shards * per_shard * gifts_per_chunk),
    }


def with_the_last_run(args: argparse.Namespace, measure: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """One part measured on its own (--only-books, --only-payouts): `measure` puts its figures into
    the last run's (bench/results/latest.json, or --output's), and all are written back together."""
    previous = report.load(args.output)
    measure(previous)
    print(report.write(previous, output=args.output, update_doc=not args.no_doc))
    return previous


def measure_books(results: dict[str, Any], book_sizes: list[int], check_sizes: list[int]) -> None:
    """--only-books: the audit at `book_sizes` (none: the last audit's kept) and the hourly check."""
    if book_sizes:
        log(f"the books at {book_sizes} items")
        results["books"] = bench_books(book_sizes) | {
            "run_at": datetime.now(UTC).isoformat(timespec="seconds")
        }
    if check_sizes:
        log(f"the hourly check at {check_sizes} items")
        results["books"]["check"] = bench_check(check_sizes)
        price(results)  # the month's bill prices the hourly checks from their figures


def measure_payouts(results: dict[str, Any], sizes: list[int], *, workers: int) -> None:
    """--only-payouts: the payout batch at `sizes` due withdrawals, on a stack of its own."""
    log(f"payout batch at {sizes}")
    with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull), local_stack() as stack:
        results["payout_batch"] = bench_payout_batch(stack, Api(), sizes, workers=workers)
    results["payout_batch_run_at"] = datetime.now(UTC).isoformat(timespec="seconds")


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--cold-rounds", type=int, default=3, help="fresh processes per function in each cold-start block"
    )
    parser.add_argument(
        "--cold-blocks", type=int, default=5, help="cold-start blocks (each ratio is the median of theirs)"
    )
    parser.add_argument(
        "--cold-functions",
        default="",
        help="only these functions' cold starts, comma-separated (default: all)",
    )
    parser.add_argument("--threads", type=int, default=8, help="concurrent gift senders for throughput")
    parser.add_argument("--gifts-per-block", type=int, default=160)
    parser.add_argument(
        "--rounds",
        type=int,
        default=5,
        help="throughput blocks (each kind once a block; the ratio is their median)",
    )
    parser.add_argument("--latency-samples", type=int, default=300, help="gifts one at a time, for p50/p99")
    parser.add_argument("--settle-batch", type=int, default=200, help="gifts to one creator settled at once")
    parser.add_argument(
        "--settle-fans", type=int, default=40, help="fans sending the live-stream settlement batch's gifts"
    )
    parser.add_argument("--hot-senders", type=int, default=32)
    parser.add_argument("--hot-gifts", type=int, default=8, help="gifts per hot sender")
    parser.add_argument("--hot-rate", type=float, default=10_000, help="modelled gifts/s to the hot creator")
    parser.add_argument(
        "--hot-shards", type=int, default=32, help="stream shards settling the hot creator's gifts at once"
    )
    parser.add_argument(
        "--payout-sizes", default="1000,10000", help="due withdrawals, comma-separated; '' skips"
    )
    parser.add_argument("--payout-workers", type=int, default=4)
    parser.add_argument(
        "--only-payouts",
        action="store_true",
        help="only the payout batch (at --payout-sizes), kept with the last run's other figures in "
        "bench/results/latest.json (the longest part, run on its own when the rest is already measured)",
    )
    parser.add_argument(
        "--output", type=Path, default=None, help="where to write the figures (default: bench/results/)"
    )
    parser.add_argument(
        "--no-doc", action="store_true", help="leave docs/performance.md as it is (a trial run)"
    )
    parser.add_argument(
        "--books-sizes", default="100000,1000000", help="table sizes (items) the audit is timed at; '' skips"
    )
    parser.add_argument(
        "--check-sizes",
        default="100000,1000000",
        help="table sizes (items) the hourly check is measured at, the same traffic in its window; '' skips",
    )
    parser.add_argument(
        "--only-books",
        action="store_true",
        help="only the books' figures, kept with the last run's others in bench/results/latest.json "
        "(with --books-sizes '', only the check's, the last audit's kept)",
    )
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    book_sizes = [int(s) for s in args.books_sizes.split(",") if s.strip()]
    check_sizes = [int(s) for s in args.check_sizes.split(",") if s.strip()]
    if args.only_books:
        return with_the_last_run(args, lambda previous: measure_books(previous, book_sizes, check_sizes))
    if args.only_payouts:
        sizes = [int(s) for s in args.payout_sizes.split(",") if s.strip()]
        return with_the_last_run(
            args, lambda previous: measure_payouts(previous, sizes, workers=args.payout_workers)
        )

    results: dict[str, Any] = {
        "run_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "make bench"
        if argv is None and len(sys.argv) == 1
        else "python -m bench " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": report.machine(),
        "load_average_before": report.load_average(),
        "abuse_limits": BENCH_ABUSE_LIMITS,
    }
    log(f"cold starts: {args.cold_blocks} blocks of {args.cold_rounds} rounds")
    only = [f.strip() for f in args.cold_functions.split(",") if f.strip()] or None
    results["cold_start"] = bench_cold_starts(args.cold_rounds, only, blocks=args.cold_blocks)

    # The handlers print their metrics (EMF) to stdout, as Lambda would log them: not ours to show.
    with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull), local_stack() as stack:
        api = Api()
        log("DynamoDB work per operation")
        results["work_per_operation"] = bench_work_per_operation(
            stack, api, stack.instruments, settle_batch=args.settle_batch, settle_fans=args.settle_fans
        )
        log("gift latency")
        results["latency"] = bench_latency(stack, api, stack.instruments, samples=args.latency_samples)
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
            stack.settlement.settle,
            senders=args.hot_senders,
            gifts_per_sender=args.hot_gifts,
            observed_gifts=4 * args.hot_senders,
            modelled_rate=args.hot_rate,
        )
        work = results["work_per_operation"]
        results["whole_gift"] = {
            gift: {
                "busy_creator": with_settlement(work[gift], work["settlement_busy_creator"]),
                "lone_gift": with_settlement(work[gift], work["settlement_lone_gift"]),
                "live_stream": with_settlement(work[gift], work["settlement_live_stream"]),
            }
            for gift in ("gift", "gift_rose")
        }
        results["hot_creator"]["settlement_model"] = settlement_ceiling(work["settlement_busy_creator"])
        log(f"one hot creator's settlement: {args.hot_shards} stream shards at once")
        results["hot_creator"]["settlement_under_contention"] = bench_hot_settlement(
            stack,
            api,
            shards=args.hot_shards,
            fans=args.hot_senders,
            gifts_per_fan=args.hot_gifts,
            live_stream=work["settlement_live_stream"],
            rate=args.hot_rate,
        )
        log("what a gift stores and logs")
        results["footprint"] = bench_footprint(stack, api, gifts=args.settle_batch, fans=args.settle_fans)
        price(results)
        sizes = [int(s) for s in args.payout_sizes.split(",") if s.strip()]
        if sizes:
            # The figures so far are written first: the payout batch is the longest part.
            results["load_average_after"] = report.load_average()
            report.write(results, output=args.output, update_doc=not args.no_doc)
            log(f"payout batch at {sizes}")
            results["payout_batch"] = bench_payout_batch(stack, api, sizes, workers=args.payout_workers)

    if book_sizes:
        measure_books(results, book_sizes, check_sizes)  # prices the month again with the checks' figures
    results["load_average_after"] = report.load_average()
    print(report.write(results, output=args.output, update_doc=not args.no_doc))
    return results


if __name__ == "__main__":
    main()
