"""The hourly ledger check's figures (issue 23): its time and memory at two table sizes with the same
traffic in its window, and the monthly cost of the hourly checks at 1M, 100M and 1B gifts a month.

Each table is a history of `size` items (bench.ledger_files, one gift a second from 2026-01-01)
and, months later, the same block of traffic (TRAFFIC_ITEMS items of another seeded ledger, its
own fans and creators) in the check's window: the same window's items at every size, only the
history beside them differs. The check is coins.ledger_check.check_window, the function the
hourly LedgerCheckerFunction runs, with that function's window (LedgerCheckRequest's defaults),
through a real boto3 client answered from the table in a SQLite file (bench.table_file: DynamoDB
Local cannot be loaded with a million items in a benchmark's time here; that module says why, and
what of DynamoDB it follows; tests/integration/test_bench_table_file.py holds it to DynamoDB Local
on a table both can hold). So what is measured is the check's own work: every request it makes,
botocore serializing and parsing it, and the checker, in a fresh process (bench.check_child) for
its own peak memory, against a baseline in the same run: a fresh process reading one item of the
same table. The file's answering (SQLite's B-tree look-ups, DynamoDB's side) runs in that process
too: its time is reported apart and taken out of the check's CPU. What is not measured is
DynamoDB's time to answer, which on AWS depends on the items a call returns, not on the table's
size; the cost model assumes bench.cost's latency per call. The check's reads are metered as AWS
bills them (bench.meter) and must be the same at every size, or the bench fails.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from itertools import chain
from pathlib import Path
from typing import Any

from bench.check_child import TABLE_NAME
from bench.cost import AWS_OTHER_CALL_MILLISECONDS, FULL_VCPU_MB, MONTH_SECONDS, PRICES
from bench.ledger_files import START, synthetic_ledger
from bench.table_file import TableFile
from coins.models.ledger_check import LedgerCheckRequest
from coins.repository.ledger.keys import CHANGE_SHARDS

TRAFFIC_ITEMS = 10_000
TRAFFIC_SEED = 623
TRAFFIC_START = datetime(2026, 9, 1, tzinfo=UTC)
GIFTS_A_MONTH = (1_000_000, 100_000_000, 1_000_000_000)
HOUR = 3600


def _field_default(name: str) -> int:
    default = LedgerCheckRequest.model_fields[name].default
    assert isinstance(default, int)
    return default


def check_window() -> dict[str, int]:
    """The scheduled check's window, as LedgerCheckerFunction runs it (LedgerCheckRequest's defaults):
    the last `window_hours` ending `lag_minutes` ago, read from `settle_within` before its start."""
    return {
        "window_seconds": _field_default("window_hours") * HOUR,
        "lag_seconds": _field_default("lag_minutes") * 60,
        "settle_within_seconds": _field_default("settle_within_minutes") * 60,
    }


def read_span_seconds(window: dict[str, int]) -> int:
    """How much of the ledger's changes one run reads: from `settle_within` before the window to now."""
    return window["settle_within_seconds"] + window["window_seconds"] + window["lag_seconds"]


def _summed_balances(items: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """The items, the balance items of the accounts both ledgers hold (the system's) summed into one."""
    balances: dict[tuple[str, str], dict[str, Any]] = {}
    for item in items:
        if item["SK"]["S"] != "BAL":
            yield item
            continue
        key = (item["PK"]["S"], item["SK"]["S"])
        if key in balances:
            total = int(balances[key]["balance"]["N"]) + int(item["balance"]["N"])
            balances[key] = balances[key] | {"balance": {"N": str(total)}}
        else:
            balances[key] = item
    yield from balances.values()


def build_table(path: Path, size: int) -> dict[str, Any]:
    """`size` items of history and the traffic block, in a table file; the counts of each."""
    window = check_window()
    if START + timedelta(seconds=size) >= TRAFFIC_START - timedelta(seconds=read_span_seconds(window)):
        raise ValueError(f"{size} items of history reach into the check's window")
    history: dict[str, int] = {}
    traffic: dict[str, int] = {}
    items = TableFile(path, TABLE_NAME).write(table_items(size, history=history, traffic=traffic))
    return {"items": items, "history_gifts": history["gifts"], "traffic": traffic}


def table_items(
    size: int,
    *,
    traffic_items: int = TRAFFIC_ITEMS,
    history: dict[str, int] | None = None,
    traffic: dict[str, int] | None = None,
) -> Iterator[dict[str, Any]]:
    """The table's items: about `size` - `traffic_items` of history, then the traffic block in the
    check's window (`history` and `traffic` receive each ledger's counts)."""
    return _summed_balances(
        chain(
            synthetic_ledger(max(0, size - traffic_items), counts=history),
            synthetic_ledger(
                traffic_items, seed=TRAFFIC_SEED, start=TRAFFIC_START, names="t-", counts=traffic
            ),
        )
    )


def _child(path: Path, moments: dict[str, int], *extra: str) -> dict[str, Any]:
    arguments = [str(moments[k]) for k in ("since", "until", "now", "settle_within")]
    done = subprocess.run(  # noqa: S603 (this interpreter, our own module and paths)
        [sys.executable, "-m", "bench.check_child", str(path), *arguments, *extra],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def moments() -> dict[str, int]:
    """The run's since, until and now (Unix seconds): the traffic block starts where its reads do."""
    window = check_window()
    now = int(TRAFFIC_START.timestamp()) + read_span_seconds(window)
    until = now - window["lag_seconds"]
    return {
        "since": until - window["window_seconds"],
        "until": until,
        "now": now,
        "settle_within": window["settle_within_seconds"],
    }


def bench_check(sizes: list[int]) -> dict[str, Any]:
    runs = []
    at = moments()
    for size in sizes:
        with tempfile.TemporaryDirectory(prefix="check-bench-") as folder:
            path = Path(folder) / "table.sqlite"
            started = time.perf_counter()
            built = build_table(path, size)
            built_seconds = time.perf_counter() - started
            baseline = _child(path, at, "--baseline")
            check = _child(path, at)
            metered = _child(path, at, "--metered")
        if check["findings"] or metered["findings"]:
            raise AssertionError(f"the window of the table of {size} items is not clean: {check}")
        runs.append(
            {
                "items": built["items"],
                "table_file_built_seconds": round(built_seconds, 1),
                "traffic_gifts": built["traffic"]["gifts"],
                "baseline": baseline,
                "check": check,
                "reads": {
                    k: metered[k]
                    for k in (
                        "calls",
                        "sequential_calls",
                        "read_units",
                        "read_units_by_operation",
                        "items_read",
                    )
                },
                "check_memory_over_baseline_mb": round(check["peak_rss_mb"] - baseline["peak_rss_mb"], 1),
            }
        )
    small, large = runs[0], runs[-1]
    if small["reads"] != large["reads"] or small["check"]["items_read"] != large["check"]["items_read"]:
        raise AssertionError(
            f"the same window read differently at {small['items']} and {large['items']} items"
        )
    return {
        "window": check_window() | {"read_span_seconds": read_span_seconds(check_window())},
        "traffic_items": TRAFFIC_ITEMS,
        "sizes": runs,
        "items_ratio_large_over_small": round(large["items"] / small["items"], 2),
        "seconds_ratio_large_over_small": round(
            large["check"]["seconds"] / max(small["check"]["seconds"], 0.001), 2
        ),
        "client_cpu_ratio_large_over_small": round(
            large["check"]["client_cpu_seconds"] / max(small["check"]["client_cpu_seconds"], 0.001), 2
        ),
        "memory_ratio_large_over_small": round(
            large["check"]["peak_rss_mb"] / max(small["check"]["peak_rss_mb"], 0.1), 2
        ),
        "cost": check_cost(large, **_checker_limits()),
        "run_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _checker_limits() -> dict[str, int]:
    from devstack.template import function_specs

    spec = function_specs()["LedgerCheckerFunction"]
    return {"memory_mb": spec.memory_mb, "timeout_seconds": spec.timeout_seconds}


def _money(value: Decimal) -> str:
    return str(value.quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN))


def check_cost(run: dict[str, Any], *, memory_mb: int, timeout_seconds: int) -> dict[str, Any]:
    """A month of hourly checks at each volume, from one measured run's reads and CPU per gift.

    One run reads the changes of `read_span_seconds` (LedgerCheckRequest's window, lag and
    settle_within). Its read units, calls one after another, CPU and memory above the baseline all
    follow the gifts it reads: each is the measured run's per traffic gift times the gifts in a
    run's span at the volume, with each change-index Query's minimum of half a read unit (one per
    shard and hour of the span) as a floor. Lambda bills the CPU at the function's vCPU share
    (bench.cost) plus AWS_OTHER_CALL_MILLISECONDS for each call it waits on. A run fits the
    function when its billed time is within the function's timeout and the baseline process's
    memory and the run's within its memory size.
    """
    window = check_window()
    span = read_span_seconds(window)
    runs_a_month = Decimal(MONTH_SECONDS) / HOUR
    gifts = Decimal(run["traffic_gifts"])
    reads = run["reads"]
    units_per_gift = Decimal(reads["read_units"]) / gifts
    calls_per_gift = Decimal(reads["sequential_calls"]) / gifts
    cpu_ms_per_gift = Decimal(str(run["check"]["client_cpu_seconds"])) * 1000 / gifts
    memory_per_gift = Decimal(str(run["check_memory_over_baseline_mb"])) / gifts
    baseline_mb = Decimal(str(run["baseline"]["peak_rss_mb"]))
    share = min(Decimal(1), Decimal(memory_mb) / FULL_VCPU_MB)
    hours_touched = -(-span // HOUR) + 1
    floor_units = Decimal(CHANGE_SHARDS * hours_touched) / 2
    rows = {}
    for count in GIFTS_A_MONTH:
        read = Decimal(count) / Decimal(MONTH_SECONDS) * span  # gifts in one run's span
        units = max(floor_units, units_per_gift * read)
        billed_ms = cpu_ms_per_gift * read / share + calls_per_gift * read * AWS_OTHER_CALL_MILLISECONDS
        reads_dollars = units * runs_a_month / 1_000_000 * PRICES["dynamodb_read_request_unit_per_million"]
        lambda_dollars = runs_a_month * (
            Decimal(memory_mb) / 1024 * billed_ms / 1000 * PRICES["lambda_arm64_gb_second"]
            + PRICES["lambda_request_per_million"] / 1_000_000
        )
        memory = memory_per_gift * read
        rows[f"{count:,} gifts a month"] = {
            "gifts_read_per_run": int(read),
            "read_units_per_run": float(units.quantize(Decimal("0.1"))),
            "billed_seconds_per_run": float((billed_ms / 1000).quantize(Decimal("0.1"))),
            "memory_mb_above_baseline_per_run": float(memory.quantize(Decimal("0.1"))),
            "fits_the_function": billed_ms / 1000 <= timeout_seconds and baseline_mb + memory <= memory_mb,
            "dynamodb_reads": _money(reads_dollars),
            "lambda": _money(lambda_dollars),
            "total": _money(reads_dollars + lambda_dollars),
        }
    return {
        "assumes": f"{runs_a_month:.0f} runs a month (hourly), each reading {span / HOUR:g} hours of changes; "
        f"LedgerCheckerFunction's {memory_mb:,} MB; {AWS_OTHER_CALL_MILLISECONDS} ms on AWS per call waited on",
        "read_units_per_gift": float(units_per_gift.quantize(Decimal("0.001"))),
        "calls_one_after_another_per_gift": float(calls_per_gift.quantize(Decimal("0.0001"))),
        "cpu_ms_per_gift": float(cpu_ms_per_gift.quantize(Decimal("0.001"))),
        "memory_mb": memory_mb,
        "timeout_seconds": timeout_seconds,
        "baseline_mb": float(baseline_mb),
        "months": rows,
    }
