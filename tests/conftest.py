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
# How the workers are handed tests: tests/support/xdist_groups.py.
pytest_plugins = ["tests.support.whole_run", "tests.support.xdist_groups"]

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
