"""One function's execution environment: the process the local runtime starts for it, as Lambda does.

`python -m devstack.function_host <requests fd> <responses fd>`, started by devstack.runtime with
exactly the function's environment. It reads its set-up (which handler, which IAM statements) from
the requests pipe, imports the handler from the function's code folder the way the Lambda runtime
does, then answers one invocation at a time: an event in, the handler's JSON-serialisable result
(or its error) out. Its stdout and stderr are the function's log, as CloudWatch would keep it.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
import traceback
import warnings
from datetime import UTC, datetime
from typing import IO, Any


def _send(out: IO[bytes], message: dict[str, Any]) -> None:
    out.write(json.dumps(message).encode() + b"\n")
    out.flush()


def _error(exc: BaseException) -> dict[str, Any]:
    # The shape Lambda reports a handler's exception in.
    return {
        "errorType": type(exc).__name__,
        "errorMessage": str(exc),
        "stackTrace": traceback.format_exception(exc),
    }


def _shift_clock(as_of: str) -> None:
    # `make payouts --as-of`: the domain reads time only through the clock build_services gets.
    from coins import wiring

    offset = datetime.fromisoformat(as_of) - datetime.now(UTC)
    defaults = wiring.build_services.__kwdefaults__
    assert defaults is not None
    defaults["clock"] = lambda: datetime.now(UTC) + offset


def _guard(setup: dict[str, Any]) -> None:
    """Holds every AWS call this process makes to the function's template statements."""
    # Imported here, before the handler: every botocore session the handler makes gets the check.
    from devstack.deployment import guard_from_setup
    from devstack.permissions import guard_process

    guard_process(guard_from_setup(setup))


def serve(requests: IO[bytes], responses: IO[bytes]) -> None:
    setup = json.loads(requests.readline())["init"]
    started = time.monotonic()
    # Powertools warns on stdout when a read route adds no metric: noise in a developer's terminal.
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    try:
        if setup.get("permissions"):
            _guard(setup)
        if setup.get("clock_as_of"):
            _shift_clock(setup["clock_as_of"])
        # As the Lambda runtime does: the code folder first on the path, the handler's module imported.
        sys.path.insert(0, setup["code_uri"])
        module_name, attribute = setup["handler"].rsplit(".", 1)
        handler = getattr(importlib.import_module(module_name), attribute)
    except BaseException as exc:
        _send(responses, {"init_error": _error(exc)})
        return
    _send(responses, {"ready": True, "init_ms": int((time.monotonic() - started) * 1000)})

    from devstack.runtime import LocalContext

    for line in iter(requests.readline, b""):
        invocation = json.loads(line)["invoke"]
        context = LocalContext(
            function_name=setup["function"],
            aws_request_id=invocation["request_id"],
            memory_limit_in_mb=setup["memory_mb"],
            log_group_name=f"/aws/lambda/{setup['function']}",
            log_stream_name="local",
            deadline=time.monotonic() + invocation["remaining_ms"] / 1000,
        )
        try:
            result = handler(invocation["event"], context)
            message: dict[str, Any] = {"result": json.loads(json.dumps(result))}
        except BaseException as exc:
            message = {"error": _error(exc)}
        sys.stdout.flush()
        sys.stderr.flush()
        _send(responses, message)


def main() -> None:
    requests_fd, responses_fd = int(sys.argv[1]), int(sys.argv[2])
    with os.fdopen(requests_fd, "rb") as requests, os.fdopen(responses_fd, "wb") as responses:
        serve(requests, responses)


if __name__ == "__main__":
    main()
