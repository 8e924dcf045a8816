"""`make payouts`: the payout schedule fired once against the running local stack, and its queue drained.

Deployed, an EventBridge schedule invokes PayoutSchedulerFunction, which matures diamonds and puts one
message per due withdrawal on the payout queue; the queue's event source mapping hands them to
PayoutWorkerFunction, which pays each with a Stripe transfer. Here the same two functions run, each
in its own process with its own environment and IAM statements (devstack.runtime), against the
local stack's table, queue, secrets and Stripe: the schedule is fired once, then the queue is drained
as the event source mapping would (BatchSize, MaximumConcurrency, partial batch failures). `--as-of`
moves the scheduler's clock (to mature diamonds without waiting a week).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from coins.ledger import whole_diamonds
from coins.repository.payouts import PayoutRepository
from devstack.deployment import local_functions
from devstack.dynamodb_local import local_client
from devstack.event_sources import drain, scheduled_event, sqs_sources
from devstack.local_aws import aws_client
from devstack.local_env import (
    DEFAULT_API_URL,
    DEFAULT_AWS_URL,
    DEFAULT_DYNAMODB_URL,
    DEFAULT_STRIPE_URL,
    DEFAULT_TABLE,
    LocalServices,
    secret_parameters,
    stack_values,
)
from devstack.runtime import LocalRuntime

SCHEDULER = "PayoutSchedulerFunction"
WORKER = "PayoutWorkerFunction"


class StackNotRunning(RuntimeError):
    pass


def stack_secrets(aws_url: str) -> tuple[dict[str, str], dict[str, dict[str, Any]]]:
    """The secrets `make dev` created on its AWS endpoint: name -> ARN, name -> value."""
    client = aws_client("secretsmanager", aws_url)
    arns: dict[str, str] = {}
    values: dict[str, dict[str, Any]] = {}
    for name in secret_parameters().values():
        try:
            found = client.get_secret_value(SecretId=name)
        except client.exceptions.ResourceNotFoundException as exc:
            raise StackNotRunning(f"no secret {name} at {aws_url}") from exc
        except Exception as exc:
            raise StackNotRunning(
                f"the local AWS endpoint {aws_url} does not answer: is `make dev` running?"
            ) from exc
        arns[name] = found["ARN"]
        values[name] = json.loads(found["SecretString"])
    return arns, values


def run_batch(
    services: LocalServices,
    *,
    as_of: datetime | None = None,
    console: Console | None = None,
    permissions: str = "enforce",
    record: Path | None = None,
    function_log: list[str] | None = None,
) -> Counter[str]:
    """Fires the schedule, drains the queue; returns the count of each step and withdrawal outcome."""
    console = console or Console()
    arns, secrets = stack_secrets(services.aws_url or DEFAULT_AWS_URL)
    # The mode `make dev` runs in is the mode of the keys it stored (live: StripeLivemode=true).
    live = any(str(s.get("api_key", "")).startswith(("sk_live_", "rk_live_")) for s in secrets.values())
    services = replace(services, secret_arns=arns, stripe_livemode=live)
    functions = local_functions(
        services,
        secrets=secrets,
        permissions=permissions != "off",
        enforce=permissions == "enforce",
        record=record,
    )
    log = function_log if function_log is not None else []
    counts: Counter[str] = Counter()
    values = stack_values(services)
    with LocalRuntime(
        {name: functions[name] for name in (SCHEDULER, WORKER)},
        output=lambda function, line: log.append(f"{function} | {line}"),
    ) as runtime:
        with console.status("the payout schedule: maturing diamonds, queueing due withdrawals"):
            scheduled = runtime.invoke_once(
                SCHEDULER, scheduled_event("PayoutBatch", services.region, as_of), clock_as_of=as_of
            )
        # The scheduler counts millidiamonds; whole diamonds are shown, as everywhere.
        counts["diamonds matured"] = whole_diamonds(int(scheduled["matured"]))
        counts["withdrawals queued"] = int(scheduled["queued"])
        sqs = aws_client("sqs", services.aws_url or DEFAULT_AWS_URL)
        bodies: list[str] = []
        for source in sqs_sources(functions[WORKER].spec, values):
            with console.status(f"paying: draining the payout queue into {WORKER}"):
                report = drain(runtime, source, sqs, region=services.region)
            counts["payout messages delivered"] += report.delivered
            counts["payout messages returned to the queue"] += report.returned
            bodies += report.bodies or []
    payouts = PayoutRepository(services.table, client=local_client(services.dynamodb_url))
    for body in dict.fromkeys(bodies):
        message = json.loads(body)
        withdrawal = payouts.get_withdrawal(message["user_id"], message["withdrawal_id"])
        status = "missing" if withdrawal is None else str(withdrawal.status)
        counts[f"  {'retry later' if status == 'reserved' else status}"] += 1
    return counts


def summary(counts: Mapping[str, int]) -> Table:
    table = Table(title="payout batch")
    table.add_column("step")
    table.add_column("count", justify="right")
    for step, count in counts.items():
        table.add_row(step, str(count))
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--as-of", help="run the schedule as if it were this UTC date or time (ISO 8601)")
    parser.add_argument("--table", default=os.environ.get("TABLE_NAME", DEFAULT_TABLE))
    parser.add_argument(
        "--dynamodb-url", default=os.environ.get("AWS_ENDPOINT_URL_DYNAMODB", DEFAULT_DYNAMODB_URL)
    )
    parser.add_argument("--stripe-url", default=os.environ.get("STRIPE_API_BASE", DEFAULT_STRIPE_URL))
    parser.add_argument("--aws-url", default=os.environ.get("LOCAL_AWS_URL", DEFAULT_AWS_URL))
    parser.add_argument("--permissions", choices=["enforce", "warn", "off"], default="enforce")
    parser.add_argument("--permission-log", help="append each permission decision to this file (JSON lines)")
    parser.add_argument("--verbose", action="store_true", help="print the functions' logs")
    args = parser.parse_args(argv)
    as_of = datetime.fromisoformat(args.as_of).replace(tzinfo=UTC) if args.as_of else None
    services = LocalServices(
        table=args.table,
        dynamodb_url=args.dynamodb_url,
        api_url=DEFAULT_API_URL,
        stripe_url=args.stripe_url or None,
        aws_url=args.aws_url,
    )
    console = Console()
    log: list[str] = []
    try:
        counts = run_batch(
            services,
            as_of=as_of,
            console=console,
            permissions=args.permissions,
            record=Path(args.permission_log).resolve() if args.permission_log else None,
            function_log=log,
        )
    except StackNotRunning as exc:
        print(f"{exc}\nStart the local stack first: make dev", file=sys.stderr)
        return 2
    retry = counts.get("  retry later", 0) or counts.get("payout messages returned to the queue", 0)
    if args.verbose or retry:
        print("\n".join(log))
    console.print(summary(counts))
    return 1 if retry else 0


if __name__ == "__main__":
    raise SystemExit(main())
