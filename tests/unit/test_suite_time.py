"""The README's figure for what `make test` takes is bench/results/make_test.json's, which
`python -m bench.suite_time` writes from a timed `.ci/run`: parsed from what the run printed."""

import json

import pytest

from bench import suite_time
from bench.cost_docs import between

LOG = """\
........................................................................ [ 96%]
....................................................s..                  [100%]
=========================== short test summary info ============================
SKIPPED [1] tests/unit/test_least_privilege.py:269: needs every tier's calls in one run
================= 1566 passed, 1 skipped in 1084.12s (0:18:04) =================
make test: 1176 s after the installs, exit 1 (load average 1.18 2.66 4.12)
make: *** [Makefile:162: test] Error 1
"""


def test_the_run_is_read_from_what_make_test_and_pytest_printed() -> None:
    # Given the end of a `.ci/run` log, when it is parsed
    parsed = suite_time.parse_log("==== 3 passed in 1.00s ====\n" + LOG)
    # Then the last summary counts (not an earlier sub-run's), with the recipe's own figures
    assert parsed == {
        "after_installs_seconds": 1176,
        "exit": 1,
        "load_average_at_end": [1.18, 2.66, 4.12],
        "pytest_seconds": 1084.12,
        "tests": {"passed": 1566, "skipped": 1},
    }


def test_an_unfinished_run_is_refused() -> None:
    with pytest.raises(ValueError, match="did the run finish"):
        suite_time.parse_log(LOG.split("make test:")[0])


def test_the_block_says_the_goal_is_not_met_when_over_or_failed() -> None:
    result = suite_time.record(LOG, wall_seconds=1260, load_before=[0.5, 0.4, 0.3], commit="abcdef1234")
    text = suite_time.readme_block(result)
    assert "**21.0 minutes in all**" in text
    assert "over the 12-minute goal" in text
    assert "1,566 passed, 1 skipped; exit 1" in text


def test_the_readme_shows_the_recorded_run() -> None:
    result = json.loads(suite_time.RESULT.read_text())
    assert between(suite_time.README.read_text(), suite_time.MARKERS) == suite_time.readme_block(result)


def test_the_cores_busy_share_is_the_busy_ticks_over_all_ticks_between_two_readings() -> None:
    # Given /proc/stat's totals before and after a run: 300 of 400 ticks busy in between
    before, after = (1_000, 5_000), (1_300, 5_400)

    # Then the run kept the cores 75% busy, and the block says so
    assert suite_time.busy_share(before, after) == 0.75
    busy, total = suite_time.cpu_times()
    assert 0 < busy <= total
