"""Settings every tier shares: the function environment template.yaml gives, with test values.

Set at import time, before any handler module is imported, because Powertools reads its service
name and metrics namespace when a handler module creates its Logger and Metrics.
"""

import os
from collections.abc import Iterator

import pytest

from coins.wiring import services
from devstack.template import load_template

# Under xdist the controller holds the template against every worker's calls (the serial run's last test).
pytest_plugins = ["tests.support.whole_run"]

_template_env = load_template()["Globals"]["Function"]["Environment"]["Variables"]
os.environ.update({k: str(v) for k, v in _template_env.items() if isinstance(v, str | int)})
os.environ.update(
    {
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }
)


# The longest tests, first: xdist hands the workers tests in this order as they free up, so neither
# is left running one of these while the other has finished (a seeded simulation of 200 lifecycles,
# the benchmarks at a small size, the fuzzer's thousand requests, the live-mode stack's tests).
LONGEST_FIRST = (
    "tests/integration/test_simulation.py",
    "tests/integration/test_bench.py",
    "tests/e2e/test_fuzz.py",
    "tests/e2e/test_live_mode.py",
)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that share a module-scoped fixture (a stack, a bench run, a browser page) run on one
    worker, which sets it up once (`make test` runs xdist with --dist loadgroup); the longest first."""
    for item in items:
        fixtures = getattr(item, "_fixtureinfo", None)
        definitions = fixtures.name2fixturedefs.values() if fixtures is not None else ()
        if any(d[-1].scope == "module" for d in definitions if d):
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::")[0]))
    rank = {path: n for n, path in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))


@pytest.fixture(autouse=True)
def function_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("CREATOR_SHARDS", "4")
    monkeypatch.setenv("SYSTEM_SHARDS", "8")
    monkeypatch.setenv("DIAMONDS_PER_COIN", "1/2")
    # One admin's grant seeds most tests; the second-admin approval is tested on its own.
    monkeypatch.setenv("ADJUSTMENT_APPROVAL_COINS", "0")
    monkeypatch.setenv("ADJUSTMENT_APPROVAL_DIAMONDS", "0")
    # Handlers build their services once per container; each test is a fresh container.
    services.cache_clear()
    yield
    services.cache_clear()
