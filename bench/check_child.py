"""One windowed ledger check in a fresh process, so its peak memory is its own:
`python -m bench.check_child TABLE_FILE SINCE UNTIL NOW SETTLE_WITHIN [--baseline | --metered]`.

Runs coins.ledger_check.check_window, the hourly check's own function, over the table in
TABLE_FILE (bench.table_file) through a boto3 client, without Stripe (its reconciliation reads what
Stripe lists for the window, not the table). Prints one JSON line: seconds, CPU seconds, peak
resident memory, the items the check read and its findings. `--baseline` only makes the client and
reads one item (what any process that reads the table pays); `--metered` also meters every call as
AWS bills it (bench.meter), apart from the timed run so the meter's bookkeeping is not in its time.
"""

from __future__ import annotations

import json
import sys
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

from bench.meter import CapacityMeter, TableSchema
from bench.peak_memory import peak_rss_mb
from bench.table_file import TableFile
from coins.ledger_check import check_window
from coins.repository.changes import ChangeRepository
from devstack.template import table_definition

TABLE_NAME = "bench-ledger"


def main(argv: list[str]) -> dict[str, Any]:
    path, since, until, now, settle_within = Path(argv[0]), *(int(a) for a in argv[1:5])
    table = TableFile(path, TABLE_NAME)
    started, cpu = time.perf_counter(), time.process_time()
    client = table.client()
    result: dict[str, Any] = {}
    if "--baseline" in argv:
        client.get_item(
            TableName=TABLE_NAME, Key={"PK": {"S": "LEDGER#CONFIG"}, "SK": {"S": "CREATOR_SHARDS"}}
        )
        result |= {"items_read": 1, "findings": 0}
    else:
        meter = CapacityMeter(
            table.client(), [TableSchema.from_description({"TableName": TABLE_NAME, **table_definition()})]
        )
        if "--metered" in argv:
            meter.install(client.meta.events)
        with meter.measuring() as measured:
            report = check_window(
                ChangeRepository(TABLE_NAME, client=client),
                diamonds_per_coin=Fraction(1, 2),
                stripe=None,
                since=since,
                until=until,
                now=now,
                settle_within=settle_within,
            )
        result |= {
            "items_read": report.items_read,
            "findings": len(report.discrepancies),
            "first_findings": [f"{d.kind.value} {d.subject}: {d.detail}" for d in report.discrepancies[:3]],
        }
        if "--metered" in argv:
            result["calls"] = measured.operations()
            result["sequential_calls"] = measured.sequential_calls
            result["read_units"] = str(measured.read_units)
            result["read_units_by_operation"] = {
                operation: str(sum((c.read_units for c in measured.calls if c.operation == operation), 0))
                for operation in measured.operations()
            }
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu
    result |= {
        "seconds": round(seconds, 3),
        "cpu_seconds": round(cpu_seconds, 3),
        # The table file's answers are DynamoDB's work, not the check's: out of its CPU.
        "table_file_seconds": round(table.answer_seconds, 3),
        "client_cpu_seconds": round(cpu_seconds - table.answer_cpu_seconds, 3),
        "peak_rss_mb": peak_rss_mb(),
    }
    return result


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:])))
