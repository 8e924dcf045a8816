"""The seeded lifecycle simulation on moto: many short seeds, each checked as it goes and at its end.

moto serves one call at a time, so these seeds have no concurrency; the DynamoDB Local seeds
(tests/integration/test_simulation.py) add concurrent requests. `make simulate` runs thousands.
"""

import os

from tests.simulation.lifecycle import Backend, run_seed, run_seeds

SEEDS = int(os.environ.get("SIMULATION_SEEDS", "200"))
STEPS = 8
CHECK_EVERY = 4


def test_every_seed_keeps_the_invariants_and_reconciles_with_stripe(moto_table: str) -> None:
    # Given SEEDS seeded lifecycles with crashes, throttles, conflicts, Stripe failures and
    # duplicated, delayed and reordered webhooks
    results = list(
        run_seeds(range(SEEDS), steps=STEPS, backend=Backend(), check_every=CHECK_EVERY, per_table=1)
    )

    # Then every one ends with a clean ledger that matches Stripe
    failed = [
        f"seed {r.seed}: {r.error}\n  replay and shorten: make simulate ENGINE=moto STEPS={STEPS} SEED={r.seed}"
        for r in results
        if r.error is not None
    ]
    assert len(results) == SEEDS
    assert failed == [], "\n".join(failed)


def test_a_seed_replays_the_same_run(moto_table: str) -> None:
    # Given one seed run twice
    first = run_seed(7, steps=20, backend=Backend(), check_every=0)
    second = run_seed(7, steps=20, backend=Backend(), check_every=0)

    # Then the same steps met the same faults and ended the same way
    assert first.error is None
    assert second.error is None
    assert first.log == second.log
    assert any("crashed" in line for line in first.log), "the seed should meet at least one crash"
