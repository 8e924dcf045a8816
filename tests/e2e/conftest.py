"""e2e tier: the local stack that `make dev` runs, started as a process, driven over HTTP.

Every function runs in its own processes with its template environment, and its AWS calls are held
to its template statements (DEVSTACK_PERMISSIONS=warn|off to relax that); each decision is appended
to this run's permission log (tests/support/permissions.py) for tests/unit/test_least_privilege.py.
"""

import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest
import requests
from playwright.sync_api import Browser, expect, sync_playwright

from devstack.dynamodb_local import free_port
from devstack.permissions import PERMISSIONS_VARIABLE
from devstack.template import ROOT
from devstack.tokens import mint_token
from tests.e2e.webapp_driver import ARRIVES_WITHIN_MS, AppDriver, SceneSetter
from tests.support.permissions import permission_log

T = TypeVar("T")


@dataclass
class LocalStack:
    api: str
    stripe: str
    dynamodb: str
    aws: str
    table: str
    jwt_dir: Path
    output: list[str]
    permission_log: Path
    pid: int  # the `make dev` process: every function's processes are its children

    def token(
        self,
        sub: str,
        *,
        country: str | None = "US",
        birthdate: str | None = None,
        groups: tuple[str, ...] = (),
    ) -> str:
        return mint_token(sub, country=country, birthdate=birthdate, groups=groups, key_dir=self.jwt_dir)

    def headers(
        self,
        sub: str,
        *,
        country: str | None = "US",
        birthdate: str | None = None,
        groups: tuple[str, ...] = (),
    ) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self.token(sub, country=country, birthdate=birthdate, groups=groups)}"
        }

    def run_payouts(self, as_of: str | None = None) -> str:
        """`make payouts` against this stack: the same module, pointed at its DynamoDB and simulator."""
        env = {
            **os.environ,
            "TABLE_NAME": self.table,
            "AWS_ENDPOINT_URL_DYNAMODB": self.dynamodb,
            "STRIPE_API_BASE": self.stripe,
            "LOCAL_AWS_URL": self.aws,
        }
        command = [
            sys.executable,
            "-m",
            "devstack.payouts",
            "--permission-log",
            str(self.permission_log),
            "--permissions",
            os.environ.get(PERMISSIONS_VARIABLE, "enforce"),
            *(["--as-of", as_of] if as_of else []),
        ]
        done = subprocess.run(
            command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout


@contextmanager
def running_stack(jwt_dir: Path, table: str, *extra: str) -> Iterator[LocalStack]:
    """`python -m devstack dev` on free ports, in memory, until the block ends (Ctrl-C, as a
    developer stops it); `extra` are more of its flags (`--stripe-livemode`)."""
    decisions = permission_log()
    api_port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "devstack",
            "dev",
            "--api-port",
            str(api_port),
            "--dynamodb-port",
            "0",
            "--stripe-port",
            "0",
            "--aws-port",
            "0",
            "--permission-log",
            str(decisions),
            "--permissions",
            os.environ.get(PERMISSIONS_VARIABLE, "enforce"),
            "--in-memory",
            "--jwt-dir",
            str(jwt_dir),
            "--table",
            table,
            *extra,
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: list[str] = []
    # Every function's first process starts before `ready:` (prewarm): slow on a loaded machine.
    deadline = time.monotonic() + 180
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        output.append(line)
        if line.startswith("ready:"):
            break
    if not output or not output[-1].startswith("ready:"):
        process.kill()
        pytest.fail("the local stack did not start:\n" + "".join(output))
    stripe = re.search(r"Stripe\s+(http://\S+)", "".join(output))
    assert stripe is not None
    dynamodb = re.search(r"DynamoDB Local\s+(http://\S+)", "".join(output))
    assert dynamodb is not None
    aws = re.search(r"AWS\s+(http://\S+)", "".join(output))
    assert aws is not None
    # Keep reading its output so the pipe never fills up.
    stream = process.stdout
    threading.Thread(target=lambda: output.extend(iter(stream.readline, "")), daemon=True).start()
    yield LocalStack(
        api=f"http://127.0.0.1:{api_port}",
        stripe=stripe.group(1),
        dynamodb=dynamodb.group(1),
        aws=aws.group(1),
        table=table,
        jwt_dir=jwt_dir,
        output=output,
        permission_log=decisions,
        pid=process.pid,
    )
    process.send_signal(2)  # Ctrl-C, as a developer stops it
    assert process.wait(timeout=30) == 0, "".join(output[-30:])


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with running_stack(tmp_path_factory.mktemp("jwt"), "coins-e2e") as stack:
        yield stack


def eventually(read: Callable[[], T], expected: T, *, within: float = 10.0) -> T:
    """What `read` returns once it equals `expected` (the settlement credits creators within seconds)."""
    deadline = time.monotonic() + within
    seen = read()
    while seen != expected and time.monotonic() < deadline:
        time.sleep(0.2)
        seen = read()
    return seen


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


# Browser tests share one Chromium for the whole session (tests/e2e/test_webapp_*.py).
CHROMIUM = "/usr/bin/chromium"
# Headless Chromium on a machine without network: no background calls home.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def chromium() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def webapp(chromium: Browser, local_stack: LocalStack) -> Iterator[AppDriver]:
    """One page per test module, reused by its tests (each signs in as whom it needs)."""
    expect.set_options(timeout=ARRIVES_WITHIN_MS)
    context = chromium.new_context(locale="en-US", timezone_id="UTC", viewport={"width": 1100, "height": 820})
    driver = AppDriver(context.new_page(), local_stack)
    yield driver
    context.close()
    assert not driver.problems, f"the app raised in the browser: {driver.problems}"


@pytest.fixture(scope="module")
def phone(chromium: Browser, local_stack: LocalStack) -> Iterator[AppDriver]:
    """A phone's screen (390x844) with touch, one page per test module: taps, not clicks."""
    expect.set_options(timeout=ARRIVES_WITHIN_MS)
    context = chromium.new_context(
        locale="en-US",
        timezone_id="UTC",
        viewport={"width": 390, "height": 844},
        has_touch=True,
        is_mobile=True,
    )
    driver = AppDriver(context.new_page(), local_stack)
    yield driver
    context.close()
    assert not driver.problems, f"the app raised in the browser: {driver.problems}"


@pytest.fixture
def scene(local_stack: LocalStack, http: requests.Session) -> SceneSetter:
    return SceneSetter(local_stack, http)
