"""`make check-ledger`: the ledger checker against the local stack's table and Stripe simulator.

Prints one line per discrepancy (a table: kind, subject, detail) and exits 1 on any, 0 when the
ledger is clean. Points at `make dev`'s defaults; DYNAMODB_URL, TABLE, STRIPE_URL and SINCE/UNTIL
(Unix seconds) override them, so it can also read another table or Stripe itself (STRIPE_API_KEY).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from coins.ledger import DiamondRate
from coins.ledger_check import CheckReport, check
from coins.repository.audit import AuditRepository
from coins.stripe_adapter import StripePayments, StripeSettings
from devstack.dynamodb_local import local_client
from devstack.local_env import LOCAL_LIVE_STRIPE_KEY, LOCAL_STRIPE_KEY


def render(report: CheckReport) -> str:
    rows = [(d.kind.value, d.subject, d.detail) for d in report.discrepancies]
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(("kind", "subject", "detail"))]
    lines = [
        "  ".join(h.ljust(w) for h, w in zip(("kind", "subject", "detail"), widths, strict=True)),
        *("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows),
    ]
    verdict = "clean" if report.clean else f"{len(rows)} discrepancies"
    window = "" if report.since is None else f", Stripe from {report.since} to {report.until or 'now'}"
    return ("\n".join(lines) + "\n" if rows else "") + f"{report.items_read} items read{window}: {verdict}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make check-ledger", description=__doc__)
    parser.add_argument("--dynamodb-url", default="http://127.0.0.1:8000")
    parser.add_argument("--table", default="coins-local")
    parser.add_argument("--stripe-url", default="http://127.0.0.1:12111", help="'none' skips reconciliation")
    parser.add_argument("--since", type=int, default=0)
    parser.add_argument("--until", type=int)
    parser.add_argument("--segments", type=int, default=4, help="parallel Scan segments")
    parser.add_argument(
        "--settle-within-minutes",
        type=int,
        default=10,
        help="a gift sent longer ago than this and still in flight is a discrepancy (the local stack settles in seconds)",
    )
    parser.add_argument("--diamonds-per-coin", default=os.environ.get("DIAMONDS_PER_COIN", "1/2"))
    parser.add_argument(
        "--livemode", action="store_true", help="the simulator runs in live mode (a live key)"
    )
    args = parser.parse_args(argv)
    audit = AuditRepository(args.table, client=local_client(args.dynamodb_url))
    stripe = None
    if args.stripe_url != "none":
        base = None if "api.stripe.com" in args.stripe_url else args.stripe_url
        key = os.environ.get("STRIPE_API_KEY") or (
            LOCAL_LIVE_STRIPE_KEY if args.livemode else LOCAL_STRIPE_KEY
        )
        stripe = StripePayments(StripeSettings(key, base))
    report = check(
        audit.read_ledger(segments=args.segments),
        diamonds_per_coin=DiamondRate.parse(args.diamonds_per_coin).diamonds_per_coin,
        stripe=stripe,
        since=args.since,
        until=args.until,
        gifts_sent_before=int(time.time()) - 60 * args.settle_within_minutes,
    )
    print(render(report))
    return 0 if report.clean else 1


if __name__ == "__main__":
    sys.exit(main())
