"""`make test`'s workers keep the tests that share a module-scoped fixture together.

pytest-xdist documents `--dist loadgroup` as "all tests with same xdist_group name run in the same
worker". pytest 9.2 with pytest-xdist 3.8 broke that without a word (pytest-xdist issue #1386): the
fuzzer's module fixture was set up on both workers, each saw a third of the requests, and make test
failed on the run's size, or a benchmark ran twice. This runs the project's grouping plugin under
xdist with the Makefile's own arguments and fails if a module's tests are split again.
"""

import json
import re
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path

from devstack.template import ROOT

GROUPED_TESTS = 24  # enough that ungrouped tests would be spread over both workers


def makefile_xdist_args() -> list[str]:
    found = re.search(r"^XDIST_ARGS \?= (.+)$", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert found is not None, "Makefile has no XDIST_ARGS"
    return [a for a in shlex.split(found.group(1)) if not a.startswith("--durations")]


def test_tests_sharing_a_module_fixture_run_on_one_worker_which_sets_it_up_once(tmp_path: Path) -> None:
    # Given two modules whose tests share a module-scoped fixture, beside tests that share nothing
    record = tmp_path / "record.jsonl"
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["tests.support.xdist_groups"]\n')
    shared = textwrap.dedent(
        f"""
        import json, os, time
        import pytest

        def note(**fields):
            with open({str(record)!r}, "a") as f:
                f.write(json.dumps({{"worker": os.environ["PYTEST_XDIST_WORKER"], **fields}}) + "\\n")

        @pytest.fixture(scope="module")
        def expensive():
            note(kind="setup", module=__name__)
            yield

        @pytest.mark.parametrize("n", range({GROUPED_TESTS}))
        def test_shares(expensive, n):
            time.sleep(0.01)
            note(kind="test", module=__name__)
        """
    )
    (tmp_path / "test_first.py").write_text(shared)
    (tmp_path / "test_second.py").write_text(shared)
    (tmp_path / "test_alone.py").write_text(
        "import pytest, time\n\n@pytest.mark.parametrize('n', range(24))\ndef test_alone(n):\n    time.sleep(0.01)\n"
    )

    # When they run as make test runs them
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            str(tmp_path),
            "-q",
            "-p",
            "no:cacheprovider",
            "-n",
            "2",
            *makefile_xdist_args(),
        ],
        cwd=tmp_path,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr

    # Then each module's tests ran on one worker, which set the fixture up once
    lines = [json.loads(line) for line in record.read_text().splitlines()]
    for module in ("test_first", "test_second"):
        setups = [r for r in lines if r["kind"] == "setup" and r["module"] == module]
        workers = {r["worker"] for r in lines if r["module"] == module}
        assert len(setups) == 1, f"{module}'s fixture was set up {len(setups)} times, on {workers}"
        assert len(workers) == 1, f"{module}'s tests ran on {workers}"
        assert sum(r["kind"] == "test" and r["module"] == module for r in lines) == GROUPED_TESTS
