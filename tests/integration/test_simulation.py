"""The seeded lifecycle simulation on DynamoDB Local (docs/testing.md).

Many short seeds, checked halfway and at the end (reconciled with Stripe); and a few long ones with
concurrent requests (bursts of gifts from the same fans at once, one webhook delivered three
times at once), checked after every step. `make simulate` runs thousands, and longer mixes.

Every seed has its own table on the session's DynamoDB Local and its own Stripe simulator; two
seeds run at a time (SIMULATION_WORKERS), so Python and DynamoDB Local's JVM keep both cores busy.
"""

import os

from devstack.dynamodb_local import DynamoDBLocal
from tests.simulation.lifecycle import Backend, SeedResult, run_seeds

SHORT_SEEDS = int(os.environ.get("SIMULATION_SEEDS", "200"))
SHORT_STEPS = int(os.environ.get("SIMULATION_STEPS", "8"))
LONG_SEEDS = int(os.environ.get("SIMULATION_LONG_SEEDS", "3"))
LONG_STEPS = 40
WORKERS = int(os.environ.get("SIMULATION_WORKERS", "2"))


def failures(results: list[SeedResult], steps: int, check_every: int) -> list[str]:
    return [
        f"seed {r.seed}: {r.error}\n  replay and shorten: make simulate STEPS={steps} "
        f"CHECK_EVERY={check_every} SEED={r.seed}"
        for r in results
        if r.error is not None
    ]


def test_short_seeds_keep_the_invariants_and_reconcile_with_stripe(dynamodb_local: DynamoDBLocal) -> None:
    # Given SHORT_SEEDS seeded lifecycles with crashes, throttles, conflicts, Stripe failures and
    # duplicated, delayed and reordered webhooks
    backend = Backend(dynamodb_local.endpoint_url)

    results = list(
        run_seeds(range(SHORT_SEEDS), steps=SHORT_STEPS, backend=backend, check_every=4, workers=WORKERS)
    )

    # Then every one ends with a clean ledger that matches Stripe
    assert len(results) == SHORT_SEEDS
    assert failures(results, SHORT_STEPS, 4) == []


def test_long_seeds_with_concurrent_requests_keep_every_invariant_after_every_step(
    dynamodb_local: DynamoDBLocal,
) -> None:
    backend = Backend(dynamodb_local.endpoint_url)

    seeds = range(1000, 1000 + LONG_SEEDS)
    results = list(run_seeds(seeds, steps=LONG_STEPS, backend=backend, check_every=1, workers=WORKERS))

    assert len(results) == LONG_SEEDS
    assert failures(results, LONG_STEPS, 1) == []
    assert any(line.endswith("burst") for r in results for line in r.log)
