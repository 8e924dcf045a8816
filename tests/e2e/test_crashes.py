"""The local stack under crashes, as Lambda behaves: function processes killed at random under load.

400 gifts over HTTP from 20 fans to one creator's live stream, while function processes (the gift
function's, the settlement's, any other) are killed at random. Clients retry a failed request with
its Idempotency-Key, as docs/api.md asks. Nothing may be lost or counted twice: every gift answered
201 with one transfer per key, every fan debited once, the creator credited for every gift once,
and the ledger checker clean.

Each behaviour follows a documented AWS rule (the local runtime and event sources encode them):
- Lambda developer guide, "Understanding the Lambda execution environment lifecycle": an
  environment whose runtime crashed is reset; a crash during an invocation fails that invocation
  (Runtime.ExitError, an API Gateway 500), and later requests are served by a new environment,
  never routed to the dead one (devstack.runtime.LocalRuntime.invoke).
- Lambda developer guide, "Using Lambda with DynamoDB", error handling: a failed invocation of a
  stream event source mapping is retried (bisected, up to MaximumRetryAttempts) and never skipped,
  whatever the failure (devstack.event_sources.StreamPoller._deliver).
"""

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from devstack.template import ROOT
from tests.e2e.conftest import LocalStack, eventually, running_stack

FANS = 20
GIFTS_PER_FAN = 20
KILLS = 14
TARGETS = ("GiftSendFunction", "GiftSettlementFunction")  # each killed at least twice; others at random


@pytest.fixture(scope="module")
def crash_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    # Its own stack: the kills and the ledger check concern this test's table alone.
    with running_stack(tmp_path_factory.mktemp("jwt"), "coins-crashes") as stack:
        yield stack


def function_processes(stack_pid: int) -> dict[int, str]:
    """pid -> function of every live execution environment (devstack.function_host) of the stack."""
    found: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            command = (entry / "cmdline").read_bytes()
            environ = (entry / "environ").read_bytes().split(b"\0")
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile
        if parent != stack_pid or b"devstack.function_host" not in command:
            continue
        for variable in environ:
            if variable.startswith(b"AWS_LAMBDA_FUNCTION_NAME="):
                found[int(entry.name)] = variable.split(b"=", 1)[1].decode()
    return found


class Killer(threading.Thread):
    """Kills one of the stack's function processes every so often, targets first, then at random."""

    def __init__(self, stack_pid: int, seed: int) -> None:
        super().__init__(name="killer", daemon=True)
        self.stack_pid = stack_pid
        self.random = random.Random(seed)
        self.killed: list[str] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        plan = [*TARGETS, *TARGETS, *[None] * (KILLS - 2 * len(TARGETS))]
        self.random.shuffle(plan)
        for wanted in plan:
            if self.stopping.wait(self.random.uniform(0.5, 2.0)):
                return
            choices: list[int] = []
            for _ in range(20):  # a target just killed is back with the next request for it
                processes = function_processes(self.stack_pid)
                choices = [pid for pid, name in processes.items() if wanted in (None, name)]
                if choices or self.stopping.wait(0.25):
                    break
            if not choices:
                continue
            pid = self.random.choice(choices)
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                continue
            self.killed.append(processes[pid])


@dataclass
class Sent:
    statuses: list[int] = field(default_factory=list)  # every answer, 0 for no answer
    reply: dict[str, Any] = field(default_factory=dict)  # the 201's body


def send_until_answered(stack: LocalStack, fan: str, body: dict[str, Any], key: str) -> Sent:
    """POST /v1/gifts, retried with the same Idempotency-Key until it is answered 201."""
    headers = {**stack.headers(fan, birthdate="1995-05-05"), "Idempotency-Key": key}
    sent = Sent()
    for attempt in range(30):
        try:
            answer = requests.post(f"{stack.api}/v1/gifts", headers=headers, json=body, timeout=60)
        except requests.RequestException:
            sent.statuses.append(0)
        else:
            sent.statuses.append(answer.status_code)
            if answer.status_code == 201:
                sent.reply = answer.json()
                return sent
            assert answer.status_code in (429, 500, 502, 503), answer.text
        time.sleep(min(0.1 * 2**attempt, 2.0))
    return sent


def test_nothing_is_lost_when_function_processes_are_killed_under_load(crash_stack: LocalStack) -> None:
    stack, api = crash_stack, crash_stack.api
    http = requests.Session()
    creator = stack.headers("crash-creator", birthdate="1990-01-01")
    admin = stack.headers("crash-admin", groups=("admins",))
    fans = [f"crash-fan-{n:02d}" for n in range(FANS)]
    # Given a creator live, and 20 fans holding 100 coins each
    assert http.post(f"{api}/v1/creator/profile", headers=creator).json()["creator"] is True
    started = http.post(
        f"{api}/v1/streams", headers={**creator, "Idempotency-Key": "crash-live"}, json={"title": "crash"}
    )
    assert started.status_code == 201
    stream_id = started.json()["stream_id"]
    for fan in fans:
        granted = http.post(
            f"{api}/v1/admin/adjustments",
            headers={**admin, "Idempotency-Key": f"grant-{fan}"},
            json={"user_id": fan, "unit": "coins", "amount": 100, "reason": "crash test coins"},
        )
        assert granted.status_code == 201, granted.text
    body = {"creator_id": "crash-creator", "gift_id": "rose", "quantity": 1, "stream_id": stream_id}
    started_at = int(time.time())

    # When 400 one-coin gifts go out from 20 fans at once while function processes are killed
    killer = Killer(stack.pid, seed=25)
    killer.start()
    jobs = [(fan, f"{fan}-gift-{n:02d}") for n in range(GIFTS_PER_FAN) for fan in fans]
    with ThreadPoolExecutor(max_workers=FANS) as clients:
        sent = list(clients.map(lambda job: send_until_answered(stack, job[0], body, job[1]), jobs))
    killer.join(timeout=60)
    killer.stopping.set()

    # Then processes of the gift path were killed mid-traffic
    assert len(killer.killed) >= 10, killer.killed
    assert set(TARGETS) <= set(killer.killed), killer.killed
    # ... every gift was answered 201 in the end, each key with its own transfer
    assert [s.statuses for s in sent if s.statuses[-1] != 201] == []
    assert len({s.reply["transfer_id"] for s in sent}) == FANS * GIFTS_PER_FAN
    # ... and a retry of a gift that failed along the way gets its first answer again
    retried = [(job, s) for job, s in zip(jobs, sent, strict=True) if len(s.statuses) > 1][:FANS]
    for (fan, key), first in retried:
        again = http.post(
            f"{api}/v1/gifts",
            headers={**stack.headers(fan, birthdate="1995-05-05"), "Idempotency-Key": key},
            json=body,
        )
        assert (again.status_code, again.json()) == (201, first.reply)
    # ... every fan was debited once per gift
    for fan in fans:
        assert http.get(f"{api}/v1/wallet", headers=stack.headers(fan)).json()["coins"] == 100 - GIFTS_PER_FAN
    # ... the creator was credited for every gift, once (400 Roses at 1/2: 200 diamonds)
    pending = eventually(
        lambda: http.get(f"{api}/v1/wallet", headers=creator).json()["diamonds"]["pending"], 200, within=120
    )
    assert pending == 200
    stream = http.get(f"{api}/v1/streams/{stream_id}", headers=creator).json()
    assert stream["totals"]["gifts"] == FANS * GIFTS_PER_FAN
    # ... and the ledger checker finds nothing wrong: no gift in flight, every entry balanced
    checked = subprocess.run(
        [
            sys.executable,
            "-m",
            "devstack.check_ledger",
            "--dynamodb-url",
            stack.dynamodb,
            "--table",
            stack.table,
            "--stripe-url",
            stack.stripe,
            "--since",
            str(started_at),
            "--settle-within-minutes",
            "0",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.rstrip().endswith(": clean")
