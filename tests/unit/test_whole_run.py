"""The controller's whole-run least-privilege check (tests/support/whole_run.py), on a fake session."""

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from devstack.permissions import PERMISSION_LOG_VARIABLE
from devstack.template import ROOT
from tests.support import whole_run


class FakeConfig:
    def __init__(self, args: list[str], **options: Any) -> None:
        self.args = args
        self.options = {"numprocesses": 2, "dist": "load", "keyword": "", "markexpr": "", "deselect": None}
        self.options.update(options)
        self.pluginmanager = SimpleNamespace(get_plugin=lambda name: None)

    def getoption(self, name: str, default: Any = None) -> Any:
        return self.options.get(name, default)


def finish(config: FakeConfig, decisions: list[dict[str, Any]], log: Path) -> int:
    log.write_text("".join(json.dumps(d) + "\n" for d in decisions), encoding="utf-8")
    session = SimpleNamespace(config=config, exitstatus=pytest.ExitCode.OK)
    whole_run.pytest_sessionfinish(session, pytest.ExitCode.OK)  # type: ignore[arg-type]
    return int(session.exitstatus)


def refused_call() -> dict[str, Any]:
    return {
        "function": "GiftSendFunction",
        "action": "dynamodb:DeleteItem",
        "resource": "arn:aws:dynamodb:us-east-1:000000000000:table/coins-local",
        "leading_key_prefixes": ["ACCT#"],
        "allowed": False,
        "statement": None,
        "actions": ["dynamodb:DeleteItem"],
        "resources": [],
        "keys": [],
    }


def test_only_a_parallel_run_of_every_test_file_is_checked() -> None:
    assert whole_run.covers_every_test_file(FakeConfig([str(ROOT / "tests")]))  # type: ignore[arg-type]
    assert not whole_run.covers_every_test_file(FakeConfig([str(ROOT / "tests" / "unit")]))  # type: ignore[arg-type]
    assert not whole_run.covers_every_test_file(FakeConfig([str(ROOT / "tests")], keyword="gift"))  # type: ignore[arg-type]
    assert not whole_run.runs_workers(FakeConfig([], numprocesses=0))  # type: ignore[arg-type]


def test_a_refused_call_fails_the_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given every worker's decisions in one file, one of them refused
    log = tmp_path / "decisions.jsonl"
    monkeypatch.setenv(PERMISSION_LOG_VARIABLE, str(log))

    # When the whole suite has passed on two workers
    status = finish(FakeConfig([str(ROOT / "tests")]), [refused_call()], log)

    # Then the run fails
    assert status == pytest.ExitCode.TESTS_FAILED


def test_a_run_that_recorded_nothing_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = tmp_path / "decisions.jsonl"
    monkeypatch.setenv(PERMISSION_LOG_VARIABLE, str(log))
    assert finish(FakeConfig([str(ROOT / "tests")]), [], log) == pytest.ExitCode.TESTS_FAILED


def test_a_partial_run_is_not_judged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = tmp_path / "decisions.jsonl"
    monkeypatch.setenv(PERMISSION_LOG_VARIABLE, str(log))
    assert finish(FakeConfig([str(ROOT / "tests" / "unit")]), [refused_call()], log) == pytest.ExitCode.OK
