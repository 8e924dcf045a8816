"""`make payouts`: the scheduled payout batch, run once in-process against the local stack.

Deployed, the scheduler function matures diamonds and queues one SQS message per due withdrawal,
and the worker function pays them. Here the same two steps run in this process, with a progress
bar and a summary table. `--as-of` moves the batch's clock (to mature diamonds without waiting).
"""

import argparse
import os
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from coins.config import Settings
from coins.ledger import whole_diamonds
from coins.stripe_adapter import PaymentProviderError
from coins.wiring import build_services
from devstack.local_env import (
    DEFAULT_API_URL,
    DEFAULT_DYNAMODB_URL,
    DEFAULT_STRIPE_URL,
    DEFAULT_TABLE,
    function_environment,
)


def clock_at(as_of: datetime | None) -> Callable[[], datetime]:
    if as_of is None:
        return lambda: datetime.now(UTC)
    offset = as_of - datetime.now(UTC)
    return lambda: datetime.now(UTC) + offset


def run_batch(as_of: datetime | None = None, console: Console | None = None) -> Counter[str]:
    """Matures diamonds, then pays every due withdrawal; returns how many ended each way."""
    console = console or Console()
    services = build_services(Settings.from_env(), clock=clock_at(as_of))
    batch = services.payout_batch
    with console.status("maturing pending diamonds"):
        matured = batch.mature_all()
    due = list(batch.due())
    outcomes: Counter[str] = Counter()
    with Progress(console=console, transient=False) as progress:
        task = progress.add_task("paying withdrawals", total=len(due))
        for withdrawal in due:
            try:
                outcomes[batch.pay(withdrawal)] += 1
            except PaymentProviderError:
                outcomes["retry_later"] += 1  # left reserved; the next run tries again
            progress.advance(task)
    table = Table(title="payout batch")
    table.add_column("step")
    table.add_column("count", justify="right")
    table.add_row("diamonds matured", str(whole_diamonds(matured)))
    table.add_row("withdrawals due", str(len(due)))
    for outcome, count in sorted(outcomes.items()):
        table.add_row(f"  {outcome}", str(count))
    console.print(table)
    return outcomes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--as-of", help="run as if it were this UTC date or time (ISO 8601)")
    args = parser.parse_args()
    # The local stack's function environment; TABLE_NAME and the service addresses may point elsewhere.
    os.environ.update(
        function_environment(
            table=os.environ.get("TABLE_NAME", DEFAULT_TABLE),
            dynamodb_url=os.environ.get("AWS_ENDPOINT_URL_DYNAMODB", DEFAULT_DYNAMODB_URL),
            api_url=DEFAULT_API_URL,
            stripe_url=os.environ.get("STRIPE_API_BASE", DEFAULT_STRIPE_URL),
        )
    )
    os.environ["POWERTOOLS_LOG_LEVEL"] = "WARNING"
    as_of = datetime.fromisoformat(args.as_of).replace(tzinfo=UTC) if args.as_of else None
    outcomes = run_batch(as_of)
    raise SystemExit(1 if outcomes.get("retry_later") else 0)


if __name__ == "__main__":
    main()
