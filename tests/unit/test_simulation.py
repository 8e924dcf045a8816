"""The seeded lifecycle simulation on moto: a seed replays the same run. The many seeds make test
runs are on DynamoDB Local (tests/integration/test_simulation.py): moto copies the whole table on
every transaction, which makes it the slower engine for whole lifecycles."""

import argparse
import tempfile
from pathlib import Path

import pytest

import tests.simulation.report as simulate
from tests.simulation.lifecycle import Backend, SeedResult, run_seed


def test_a_seed_replays_the_same_run(moto_table: str) -> None:
    # Given one seed run twice
    first = run_seed(7, steps=12, backend=Backend(), check_every=0)
    second = run_seed(7, steps=12, backend=Backend(), check_every=0)

    # Then the same steps met the same faults and ended the same way, with a clean ledger
    assert first.error is None
    assert second.error is None
    assert first.log == second.log
    assert any("crashed" in line for line in first.log), "the seed should meet at least one crash"
    assert "  webhook account.updated: 200 account_updated" in first.log, "each webhook's answer is logged"


def test_a_failure_that_does_not_replay_is_reported_with_its_log(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a seed that failed once but passes when replayed alone (a timing-dependent failure)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(simulate, "run_seed", lambda seed, **_: SeedResult(seed, 3, None, None, []))
    failed = SeedResult(5, 3, None, "invariants broken at the end", ["step 0: gift", "  step 0: crashed"])
    args = argparse.Namespace(steps=3, engine="moto", check_every=1)

    # When it is reported
    simulate.report_failure(failed, args, Backend(), None)

    # Then the report says so, points at the failing run's log and replays every step
    said = capsys.readouterr().err
    assert "seed 5 FAILED: invariants broken at the end" in said
    assert "depends on timing" in said
    assert "ONLY=0,1,2" in said
    assert (tmp_path / "coins-simulation-seed-5.log").read_text() == "step 0: gift\n  step 0: crashed\n"
