"""The whole-run least-privilege check when the suite runs in parallel (`pytest tests -n 2`).

Serially, tests/unit/test_least_privilege.py runs last and reads what every tier recorded. Under
pytest-xdist no test can know that the other workers have finished, so the controller does it:
before the workers start it names one decisions file they all inherit and append to (a line per
call, appended whole), and when they are done and every test passed it holds template.yaml against
the file. A refused call or an unused grant fails the run, reported like a test's failure.
"""

from pathlib import Path

import pytest

from devstack.least_privilege import read_decisions, refused_calls, unused_grants
from devstack.template import ROOT
from tests.support.permissions import permission_log

TIERS = ("e2e", "integration", "unit")


def runs_workers(config: pytest.Config) -> bool:
    """This process is xdist's controller, with workers to wait for."""
    if hasattr(config, "workerinput"):
        return False
    return (
        bool(config.getoption("numprocesses", default=None))
        and config.getoption("dist", default="no") != "no"
    )


def covers_every_test_file(config: pytest.Config) -> bool:
    """The run was given the whole suite (the controller collects nothing itself, so read its args)."""
    if config.getoption("keyword") or config.getoption("markexpr") or config.getoption("deselect"):
        return False
    given = [Path(str(arg).split("::")[0]).resolve() for arg in config.args]
    if any("::" in str(arg) for arg in config.args):
        return False
    every_file = [p for tier in TIERS for p in (ROOT / "tests" / tier).glob("test_*.py")]
    return all(any(path == g or g in path.parents for g in given) for path in every_file)


def pytest_configure(config: pytest.Config) -> None:
    if runs_workers(config):
        permission_log()  # sets the variable the workers (and the stacks they start) inherit


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    if not runs_workers(config) or exitstatus != pytest.ExitCode.OK or not covers_every_test_file(config):
        return
    decisions = read_decisions(permission_log())  # the file pytest_configure named
    problems = [f"refused: {call}" for call in refused_calls(decisions)]
    problems += [f"granted but never used: {grant}" for grant in unused_grants(decisions)]
    if not decisions:
        problems = ["no permission decision was recorded"]
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_sep("=", "least privilege over the whole run", red=bool(problems), green=not problems)
        for line in problems or [f"{len(decisions)} calls checked: every grant used, no call refused"]:
            reporter.write_line(line)
    if problems:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
