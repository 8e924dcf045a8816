"""The local Lambda runtime: every function in its own processes, one invocation at a time in each.

Lambda runs a function in execution environments of its own: its environment variables, its role,
its module-level state, one request at a time per environment, more environments when requests
overlap. The local stack used to call every handler inside the gateway's process, so functions
shared one os.environ, one set of Powertools globals (an admin request could be logged as
CheckoutFunction) and unlimited permissions. Here each function gets processes started with exactly
its environment (devstack.local_env) and held to its IAM statements (devstack.permissions);
concurrent requests to one function get more processes, up to a cap, as Lambda scales out.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from devstack.template import ROOT, FunctionSpec

INIT_TIMEOUT_SECONDS = 90.0  # importing a handler on a busy 2-core machine
REROUTES_AFTER_A_CRASH = 3  # environments found dead in a row before the invocation fails


class FunctionError(Exception):
    """The function failed: its handler raised, it timed out, or its process died."""

    def __init__(self, function: str, error: Mapping[str, Any]) -> None:
        super().__init__(f"{function}: {error.get('errorType')}: {error.get('errorMessage')}")
        self.function = function
        self.error = dict(error)


class EnvironmentGone(FunctionError):
    """The environment's process was dead before it took the invocation: nothing of it ran.

    Lambda never routes a request to a crashed environment (it resets it, and the next request
    starts a new one): the runtime sends this invocation to a fresh environment instead.
    """


def _exited(code: int | None) -> dict[str, str]:
    # What Lambda reports when the runtime process ends during an invocation.
    return {"errorType": "Runtime.ExitError", "errorMessage": f"the process exited with status {code}"}


@dataclass
class LocalContext:
    """What the Lambda runtime passes to the handler as its context object."""

    function_name: str
    aws_request_id: str
    memory_limit_in_mb: int = 1024
    function_version: str = "$LATEST"
    log_group_name: str = "/aws/lambda/local"
    log_stream_name: str = "local"
    deadline: float = 0.0

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.monotonic()) * 1000))


@dataclass
class LocalFunction:
    """A function as the local runtime starts it."""

    spec: FunctionSpec
    environment: dict[str, str]  # exactly what its processes see
    setup: dict[str, Any]  # what function_host reads first: handler, IAM statements' inputs, ...
    max_environments: int = 4


_output_lock = threading.Lock()


def _print_line(function: str, line: str) -> None:
    # One write per line under a lock: print() writes the text and its newline separately, so
    # two functions logging at once could run their lines together.
    with _output_lock:
        sys.stdout.write(f"{time.strftime('%H:%M:%S')} {function} | {line}\n")
        sys.stdout.flush()


class ExecutionEnvironment:
    """One process of one function (devstack.function_host), answering one invocation at a time."""

    def __init__(
        self,
        function: LocalFunction,
        *,
        output: Callable[[str, str], None],
        clock_as_of: datetime | None = None,
    ) -> None:
        self.function = function
        self.name = function.spec.logical_id
        requests_read, self._requests = os.pipe()
        self._responses, responses_write = os.pipe()
        self._process = subprocess.Popen(
            [sys.executable, "-m", "devstack.function_host", str(requests_read), str(responses_write)],
            cwd=function.spec.code_uri,
            env=function.environment,
            pass_fds=(requests_read, responses_write),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C in the developer's terminal stops the stack, which stops us
        )
        os.close(requests_read)
        os.close(responses_write)
        self._buffer = b""
        self._stopped = False
        self._stop_lock = threading.Lock()
        stdout = self._process.stdout
        assert stdout is not None

        def forward_log() -> None:
            for raw in stdout:
                output(self.name, raw.decode(errors="replace").rstrip("\n"))

        self._log_thread = threading.Thread(target=forward_log, name=f"{self.name}-log", daemon=True)
        self._log_thread.start()
        setup = {**function.setup, "clock_as_of": clock_as_of.isoformat() if clock_as_of else None}
        try:
            self._write({"init": setup})
        except OSError:
            self.stop()
            raise FunctionError(self.name, _exited(self._process.poll())) from None
        answer = self._read(time.monotonic() + INIT_TIMEOUT_SECONDS)
        if "init_error" in answer:
            self.stop()
            raise FunctionError(self.name, answer["init_error"])
        self.init_ms: int = answer.get("init_ms", 0)

    @property
    def alive(self) -> bool:
        return self._process.poll() is None

    def _write(self, message: Mapping[str, Any]) -> None:
        os.write(self._requests, json.dumps(message).encode() + b"\n")

    def _read(self, deadline: float) -> dict[str, Any]:
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            try:
                ready, _, _ = select.select([self._responses], [], [], remaining)
                chunk = os.read(self._responses, 1 << 16) if ready else None
            except (OSError, ValueError):  # the pipe was closed under us: the environment was stopped
                chunk = b""
            if chunk is None:
                continue
            if not chunk:
                # The process died (or was killed) before answering: the invocation failed, and the
                # environment is gone with it.
                try:
                    code = self._process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    code = None
                self.stop()
                raise FunctionError(self.name, _exited(code))
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        answer: dict[str, Any] = json.loads(line)
        return answer

    def invoke(self, event: Any, request_id: str) -> Any:
        timeout = self.function.spec.timeout_seconds
        message = {"invoke": {"event": event, "request_id": request_id, "remaining_ms": timeout * 1000}}
        try:
            self._write(message)
        except OSError:
            # BrokenPipeError: the process had died before this invocation reached it.
            self.stop()
            raise EnvironmentGone(self.name, _exited(self._process.poll())) from None
        try:
            answer = self._read(time.monotonic() + timeout)
        except TimeoutError:
            # As Lambda does: the environment is torn down, the invocation fails.
            self.stop()
            raise FunctionError(
                self.name,
                {"errorType": "Sandbox.Timedout", "errorMessage": f"Task timed out after {timeout} seconds"},
            ) from None
        if "error" in answer:
            raise FunctionError(self.name, answer["error"])
        return answer["result"]

    def stop(self) -> None:
        with self._stop_lock:
            if self._stopped:
                return  # never close the pipes twice: their numbers may belong to another file by now
            self._stopped = True
        if self.alive:
            self._process.terminate()
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=5)
        for fd in (self._requests, self._responses):
            with suppress(OSError):
                os.close(fd)
        self._log_thread.join(timeout=5)


@dataclass
class _Pool:
    idle: list[ExecutionEnvironment] = field(default_factory=list)
    busy: int = 0
    starting: int = 0  # cold starts under way, pre-warms included
    prewarming: int = 0  # of which pre-warms: started for no request, the next one takes them
    waiting: int = 0


class LocalRuntime:
    """Invokes the template's functions, each in execution environments of its own."""

    def __init__(
        self,
        functions: Mapping[str, LocalFunction],
        *,
        output: Callable[[str, str], None] = _print_line,
    ) -> None:
        self.functions = dict(functions)
        self._output = output
        self._pools: dict[str, _Pool] = {name: _Pool() for name in functions}
        self._changed = threading.Condition()
        self._closed = False

    @contextmanager
    def _environment(self, name: str) -> Iterator[ExecutionEnvironment]:
        function = self.functions[name]
        pool = self._pools[name]
        with self._changed:
            while True:
                if self._closed:
                    raise RuntimeError("the local runtime is stopped")
                if pool.idle:
                    environment: ExecutionEnvironment | None = pool.idle.pop()
                    assert environment is not None
                    if not environment.alive:
                        # Crashed while idle: Lambda resets such an environment and never routes to it.
                        environment.stop()
                        continue
                    break
                if pool.prewarming > pool.waiting:
                    # An environment is starting that nobody waits for yet (a pre-warm): take it.
                    pool.waiting += 1
                    self._changed.wait()
                    pool.waiting -= 1
                    continue
                if pool.busy + pool.starting < function.max_environments:
                    environment = None
                    pool.starting += 1
                    break
                pool.waiting += 1
                self._changed.wait()  # every environment is busy: wait for one, as a throttled caller
                pool.waiting -= 1
        if environment is None:
            try:
                environment = ExecutionEnvironment(function, output=self._output)  # a cold start
            finally:
                with self._changed:
                    pool.starting -= 1
                    self._changed.notify_all()
        with self._changed:
            pool.busy += 1
        try:
            yield environment
        finally:
            with self._changed:
                pool.busy -= 1
                if environment.alive and not self._closed:
                    pool.idle.append(environment)
                else:
                    environment.stop()
                self._changed.notify_all()

    def prewarm(self, names: Iterable[str] | None = None, *, parallel: int | None = None) -> None:
        """Starts one environment of each function now (at most `parallel` at once), so first requests are warm."""
        wanted = [n for n in (names or self.functions) if n in self.functions]

        def start(name: str) -> None:
            pool = self._pools[name]
            with self._changed:
                if pool.idle or pool.busy or pool.starting or self._closed:
                    return
                pool.starting += 1
                pool.prewarming += 1
            try:
                environment: ExecutionEnvironment | None = ExecutionEnvironment(
                    self.functions[name], output=self._output
                )
            except FunctionError as failed:
                environment = None
                self._output(name, f"could not start: {failed}")
            with self._changed:
                pool.starting -= 1
                pool.prewarming -= 1
                if environment is not None:
                    if self._closed:
                        environment.stop()
                    else:
                        pool.idle.append(environment)
                self._changed.notify_all()

        with ThreadPoolExecutor(
            max_workers=parallel or os.cpu_count() or 2, thread_name_prefix="prewarm"
        ) as pool:
            list(pool.map(start, wanted))

    def invoke(self, name: str, event: Any, *, request_id: str | None = None) -> Any:
        """The function's result for one event; raises FunctionError when the function fails."""
        if name not in self.functions:
            raise KeyError(f"no function {name} in the template")
        request_id = request_id or str(uuid.uuid4())
        for _ in range(REROUTES_AFTER_A_CRASH):
            try:
                with self._environment(name) as environment:
                    return environment.invoke(event, request_id)
            except EnvironmentGone:
                continue  # it died before the invocation reached it: a fresh environment takes it
        with self._environment(name) as environment:
            return environment.invoke(event, request_id)

    def invoke_once(self, name: str, event: Any, *, clock_as_of: datetime | None = None) -> Any:
        """In a new environment used for this one event (`make payouts --as-of` moves its clock)."""
        environment = ExecutionEnvironment(self.functions[name], output=self._output, clock_as_of=clock_as_of)
        try:
            return environment.invoke(event, str(uuid.uuid4()))
        finally:
            environment.stop()

    def handler(self, name: str) -> Callable[[dict[str, Any], Any], Any]:
        """A Lambda-style handler that invokes the function in its own process (for the gateway)."""

        def invoke(event: dict[str, Any], context: Any) -> Any:
            return self.invoke(name, event, request_id=getattr(context, "aws_request_id", None))

        return invoke

    def close(self) -> None:
        with self._changed:
            self._closed = True
            environments = [e for pool in self._pools.values() for e in pool.idle]
            for pool in self._pools.values():
                pool.idle.clear()
            self._changed.notify_all()
        for environment in environments:
            environment.stop()

    def __enter__(self) -> LocalRuntime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def host_setup(
    spec: FunctionSpec,
    *,
    values_payload: Mapping[str, Any],
    permissions: bool,
    enforce: bool = True,
    record: Path | None = None,
) -> dict[str, Any]:
    """What function_host needs before it imports the handler."""
    return {
        "function": spec.logical_id,
        "code_uri": str(spec.code_uri),
        "handler": spec.handler,
        "memory_mb": spec.memory_mb,
        "template": str(values_payload.get("template", ROOT / "template.yaml")),
        "permissions": permissions,
        "enforce": enforce,
        "record": str(record) if record else None,
        "role_arn": f"arn:aws:sts::123456789012:assumed-role/{spec.logical_id}Role/{spec.logical_id}",
        **{k: v for k, v in values_payload.items() if k != "template"},
    }
