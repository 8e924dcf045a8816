"""The seeded lifecycle simulation on moto: a seed replays the same run. The many seeds make test
runs are on DynamoDB Local (tests/integration/test_simulation.py): moto copies the whole table on
every transaction, which makes it the slower engine for whole lifecycles."""

from tests.simulation.lifecycle import Backend, run_seed


def test_a_seed_replays_the_same_run(moto_table: str) -> None:
    # Given one seed run twice
    first = run_seed(7, steps=12, backend=Backend(), check_every=0)
    second = run_seed(7, steps=12, backend=Backend(), check_every=0)

    # Then the same steps met the same faults and ended the same way, with a clean ledger
    assert first.error is None
    assert second.error is None
    assert first.log == second.log
    assert any("crashed" in line for line in first.log), "the seed should meet at least one crash"
