"""docs/testing.md's long-seed figure is the committed results file's, rendered, never typed.

`make simulate SEEDS=N LONG=1` writes docs/results/simulation-long-seeds.json and the page's block
from it (tests/simulation/results.py); a figure edited by hand, or a results file committed without
its block, fails here.
"""

import json
from datetime import UTC, datetime

from tests.simulation import results


def test_the_long_seed_figure_is_what_the_committed_results_render() -> None:
    recorded = json.loads(results.LONG_RESULTS.read_text())

    assert results.between(results.TESTING_DOC.read_text()) == results.render(recorded)


def test_the_record_has_seeds_steps_failures_durations_and_commit() -> None:
    recorded = json.loads(results.LONG_RESULTS.read_text())

    assert recorded["steps"] == results.LONG_STEPS
    assert recorded["check_every"] == 1
    assert recorded["seeds"]["ran"] == len(recorded["durations"]["by_seed"]) > 0
    assert recorded["seeds"]["clean"] + len(recorded["failures"]) == recorded["seeds"]["ran"]
    assert recorded["commit"] not in ("", "unknown")


def test_a_run_renders_its_failures_and_why_it_stopped() -> None:
    # Given a run of three seeds, one failed, stopped by its time budget
    run = results.LongRun(
        command="make simulate SEEDS=10 LONG=1 MINUTES=1",
        engine="dynamodb-local",
        steps=60,
        check_every=1,
        workers=2,
        requested=list(range(10)),
        started=datetime(2026, 12, 7, tzinfo=UTC),
    )
    run.add(0, 40.0, None)
    run.add(1, 50.0, "invariants broken after step 3 (gift):\n  unit_not_zero: coin: 5")
    run.add(2, 45.0, None)
    run.stopped = "the time budget of 1 minutes ran out"

    # When it is recorded and rendered
    recorded = run.as_json(elapsed=70.0)
    text = results.render(recorded)

    # Then the figure says what ran, what failed and why it stopped, from the record alone
    assert recorded["seeds"] == {"requested": 10, "first": 0, "ran": 3, "clean": 2, "failed": [1]}
    assert recorded["durations"]["wall_seconds_per_seed"] == 23.33
    assert recorded["durations"]["seed_seconds_median"] == 45.0
    assert "| 3 of 10 (seeds 0 to 2) | 60, checked after every step | 2 | 1 |" in text
    assert "- seed 1: invariants broken after step 3 (gift):" in text
    assert "Stopped before every seed ran: the time budget of 1 minutes ran out." in text
