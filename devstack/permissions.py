"""Each function's AWS calls held to the IAM statements its template entry grants, as Lambda would.

Deployed, a function's role allows exactly its `Policies` (plus what SAM adds for its event sources),
and a call outside them fails with AccessDeniedException. Locally every function used to run with
keys that could do anything, so a missing statement passed every test and failed in production.
Here every botocore client of the process (whenever it was made) maps each call to the IAM
requests AWS would authorize (devstack.iam_requests: TransactWriteItems to one PutItem/UpdateItem/
ConditionCheckItem per item, SendMessageBatch to sqs:SendMessage, ...), with their resource ARNs and
`dynamodb:LeadingKeys`, and evaluates them against the function's statements (devstack.iam_policies):
explicit Deny wins, then any Allow, else an implicit deny answered with the error AWS answers. Every
decision can be recorded (JSON lines), so that a test can hold the template against what the functions actually call.
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.client import BaseClient
from botocore.exceptions import ClientError

from devstack.iam_policies import Decision, Statement, decide, matches_pattern
from devstack.iam_requests import ResourceNamer

log = logging.getLogger("devstack.permissions")


class PermissionRecorder:
    """Appends each decision to a JSON-lines file, once per distinct (function, grant, call shape)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def record(self, function: str, decision: Decision) -> None:
        request, statement = decision.request, decision.statement
        grant: dict[str, Any] = {
            "statement": None,
            "source": None,
            "actions": [],
            "resources": [],
            "keys": [],
        }
        if statement is not None:
            # Which parts of the deciding statement this call used: its action patterns, the
            # positions of its resources (stable whatever the local names), its key patterns.
            grant = {
                "statement": statement.index,
                "source": statement.source,
                "actions": sorted(
                    a for a in statement.actions if matches_pattern(request.action.lower(), a.lower())
                ),
                "resources": [
                    j for j, r in enumerate(statement.resources) if matches_pattern(request.resource, r)
                ],
                "keys": sorted(
                    {p for c in statement.conditions for p in c.matching_patterns(request.context)}
                ),
            }
        line = json.dumps(
            {
                "function": function,
                "action": request.action,
                "resource": request.resource,
                "leading_key_prefixes": sorted(
                    {_key_prefix(k) for k in request.context.get("dynamodb:LeadingKeys", ())}
                ),
                "allowed": decision.allowed,
                **grant,
            },
            sort_keys=True,
        )
        with self._lock:
            if line in self._seen:
                return
            self._seen.add(line)
            with self.path.open("a", encoding="utf-8") as out:
                out.write(line + "\n")


def _key_prefix(key: str) -> str:
    return key.split("#", 1)[0] + "#" if "#" in key else key


@dataclass
class PermissionGuard:
    """One function's role: its statements and how to name what its calls touch."""

    function: str  # logical id
    role_arn: str
    statements: list[Statement]
    namer: ResourceNamer
    enforce: bool = True
    recorder: PermissionRecorder | None = None

    def check(self, prefix: str, operation: str, params: Mapping[str, Any]) -> Decision | None:
        """Every request the call needs; the first refused one, or None when all are allowed."""
        refused: Decision | None = None
        for request in self.namer.requests(prefix, operation, params):
            decision = decide(self.statements, request)
            if self.recorder is not None:
                self.recorder.record(self.function, decision)
            if not decision.allowed and refused is None:
                refused = decision
        return refused

    def denial(self, prefix: str, operation: str, decision: Decision) -> ClientError:
        request = decision.request
        why = (
            "with an explicit deny in an identity-based policy"
            if decision.statement is not None
            else f"because no identity-based policy allows the {request.action} action"
        )
        message = f"User: {self.role_arn} is not authorized to perform: {request.action} on resource: {request.resource} {why}"
        code = "AccessDenied" if prefix == "sqs" else "AccessDeniedException"
        response: Any = {
            "Error": {"Code": code, "Message": message},
            "ResponseMetadata": {"HTTPStatusCode": 400},
        }
        return ClientError(response, operation)


# The guard in force: one per function process (set once), or per call in-process (a context variable).
_process_guard: PermissionGuard | None = None
_acting: contextvars.ContextVar[PermissionGuard | None] = contextvars.ContextVar(
    "devstack_acting_function", default=None
)
_install_lock = threading.Lock()
GUARDED_MARK = "_devstack_permission_guard"
CLIENT_CALL = "_make_api_call"  # botocore's one path from a client method to the wire


def _check_call(params: Mapping[str, Any], model: Any) -> None:
    guard = _acting.get() or _process_guard
    if guard is None:
        return
    metadata = model.service_model.metadata
    prefix = str(metadata.get("signingName") or metadata.get("endpointPrefix"))
    if prefix == "streams.dynamodb":
        prefix = "dynamodb"
    refused = guard.check(prefix, model.name, params)
    if refused is None:
        return
    denial = guard.denial(prefix, model.name, refused)
    if guard.enforce:
        raise denial
    log.warning("%s: %s (allowed: permissions are not enforced)", guard.function, denial)


def install() -> None:
    """Holds every botocore client of this process to the guard in force, whenever it was made.

    The check wraps the one method every client's operations, paginators and waiters go through
    (BaseClient._make_api_call), so a client made at import time, before this ran, or from a session
    made before it, is held like one made later: deployed, the function's role signs every call it
    makes from its init phase on (tests/unit/test_permission_clients.py names the rule).
    """
    with _install_lock:
        unguarded = getattr(BaseClient, CLIENT_CALL)
        if getattr(unguarded, GUARDED_MARK, False):
            return

        def guarded(client: BaseClient, operation_name: str, api_params: dict[str, Any]) -> Any:
            _check_call(api_params, client.meta.service_model.operation_model(operation_name))
            return unguarded(client, operation_name, api_params)

        setattr(guarded, GUARDED_MARK, True)
        setattr(BaseClient, CLIENT_CALL, guarded)


def guard_process(guard: PermissionGuard) -> None:
    """This process is one function: every call it makes is held to that function's statements."""
    global _process_guard
    _process_guard = guard
    install()


# In-process handlers (devstack.in_process.load_handler: unit and integration tests) are checked too,
# unless DEVSTACK_PERMISSIONS=off; DEVSTACK_PERMISSION_LOG names a file to record decisions in.
PERMISSIONS_VARIABLE = "DEVSTACK_PERMISSIONS"
PERMISSION_LOG_VARIABLE = "DEVSTACK_PERMISSION_LOG"


def mode_from_env() -> str:
    """enforce (the default), warn or off, from DEVSTACK_PERMISSIONS."""
    mode = os.environ.get(PERMISSIONS_VARIABLE, "enforce").strip().lower() or "enforce"
    if mode not in ("enforce", "warn", "off"):
        raise ValueError(f"{PERMISSIONS_VARIABLE} must be enforce, warn or off, not {mode!r}")
    return mode


@contextmanager
def acting_as(guard: PermissionGuard | None) -> Iterator[None]:
    """In-process: calls made by this thread are held to one function's statements meanwhile."""
    token = _acting.set(guard)
    try:
        yield
    finally:
        _acting.reset(token)


def acting_guard() -> PermissionGuard | None:
    """The guard of the function this thread acts as (stand-ins for AWS check what AWS does for it)."""
    return _acting.get() or _process_guard
