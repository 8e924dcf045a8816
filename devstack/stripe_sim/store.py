"""The simulator's state: Stripe objects built from the fixtures, events, idempotency keys, a clock."""

import copy
import hashlib
import hmac
import itertools
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devstack.template import ROOT

DEFAULT_FIXTURES = ROOT.parent / "shared" / "stripe" / "fixtures3.json"
API_VERSION = "2025-01-27.acacia"
IDEMPOTENCY_KEY_TTL = 24 * 3600


class StripeError(Exception):
    """An error in Stripe's own format."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        kind: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body: dict[str, Any] = {"error": {"type": kind, "message": message}}
        if code:
            self.body["error"]["code"] = code
        if param:
            self.body["error"]["param"] = param


@dataclass
class Delivery:
    status: int | None
    error: str | None
    at: int


@dataclass
class StoredEvent:
    event: dict[str, Any]
    deliveries: list[Delivery] = field(default_factory=list)
    queued: bool = False


@dataclass
class StoredReply:
    fingerprint: str
    status: int
    body: dict[str, Any]
    created: float


@dataclass
class FailureRule:
    method: str
    path: str
    status: int
    error: dict[str, Any] | None
    times: int
    after_commit: bool
    params: dict[str, Any] = field(default_factory=dict)  # only requests with these parameters


class Store:
    """Everything the simulator knows, behind one lock."""

    def __init__(self, fixtures_path: Path | None = None) -> None:
        self.lock = threading.RLock()
        self._fixtures: dict[str, Any] = json.loads((fixtures_path or DEFAULT_FIXTURES).read_text())[
            "resources"
        ]
        self._ids = itertools.count(1)
        self.clock_offset = 0.0
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.objects: dict[str, dict[str, Any]] = {}
            self.events: list[StoredEvent] = []
            self.replies: dict[str, StoredReply] = {}
            self.failures: list[FailureRule] = []
            self.requests: list[dict[str, Any]] = []
            self.return_urls: dict[str, str] = {}
            self.clock_offset = 0.0

    def fixture(self, resource: str) -> dict[str, Any]:
        found: dict[str, Any] = copy.deepcopy(self._fixtures[resource])
        return found

    def now(self) -> int:
        return int(time.time() + self.clock_offset)

    def new_id(self, prefix: str) -> str:
        return f"{prefix}_{next(self._ids):06d}{secrets.token_hex(8)}"

    def build(self, resource: str, prefix: str, **fields: Any) -> dict[str, Any]:
        """A Stripe object: the fixture's shape, with the fields that matter set."""
        obj: dict[str, Any] = copy.deepcopy(self._fixtures[resource])
        obj.update({"id": self.new_id(prefix), "created": self.now(), "livemode": False, **fields})
        if "metadata" in self._fixtures[resource] and "metadata" not in fields:
            obj["metadata"] = {}
        self.objects[obj["id"]] = obj
        return obj

    def get(self, object_id: str, expected: str) -> dict[str, Any]:
        obj = self.objects.get(object_id)
        if obj is None or obj.get("object") != expected:
            raise StripeError(404, f"No such {expected}: '{object_id}'", code="resource_missing", param="id")
        return obj

    def emit(
        self, event_type: str, obj: dict[str, Any], previous: dict[str, Any] | None = None
    ) -> StoredEvent:
        data: dict[str, Any] = {"object": copy.deepcopy(obj)}
        if previous:
            data["previous_attributes"] = previous
        event = self.build(
            "event",
            "evt",
            type=event_type,
            api_version=API_VERSION,
            data=data,
            pending_webhooks=1,
            request={"id": None, "idempotency_key": None},
        )
        stored = StoredEvent(event)
        self.events.append(stored)
        return stored


def fingerprint(method: str, path: str, params: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps([method, path, params], sort_keys=True).encode()).hexdigest()


def signature_header(payload: str, secret: str, timestamp: int) -> str:
    """Stripe-Signature exactly as Stripe makes it: HMAC-SHA256 of "<t>.<payload>"."""
    mac = hmac.new(secret.encode(), f"{timestamp}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"
