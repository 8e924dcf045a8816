"""The seeded lifecycle simulation on DynamoDB Local, with concurrent requests: bursts of gifts from
the same fans at once and one webhook delivered three times at once, besides every other fault.
The invariants are checked after every step."""

import os

from devstack.dynamodb_local import DynamoDBLocal
from tests.simulation.lifecycle import Backend, run_seeds

SEEDS = int(os.environ.get("SIMULATION_LOCAL_SEEDS", "4"))
STEPS = 40


def test_seeds_with_concurrent_requests_keep_every_invariant_after_every_step(
    dynamodb_local: DynamoDBLocal,
) -> None:
    backend = Backend(dynamodb_local.endpoint_url)

    results = list(
        run_seeds(range(1000, 1000 + SEEDS), steps=STEPS, backend=backend, check_every=1, per_table=SEEDS)
    )

    failed = [
        f"seed {r.seed}: {r.error}\n  replay and shorten: make simulate STEPS={STEPS} SEED={r.seed}"
        for r in results
        if r.error is not None
    ]
    assert len(results) == SEEDS
    assert failed == [], "\n".join(failed)
    assert any("burst" in line for r in results for line in r.log)
