"""The simulator's state: objects, events, idempotent replies, injected failures, a clock.

Everything sits behind one re-entrant lock: each API call, page action and /_sim control runs
whole under it, so concurrent requests see Stripe's objects change one request at a time.
"""

import copy
import hashlib
import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devstack.stripe_sim.errors import no_such
from devstack.stripe_sim.objects import JSON, Fixtures, LineItem, ObjectFactory

# Tests and tools import the signature from here too.
from devstack.stripe_sim.signing import signature_header as signature_header

# Stripe prunes idempotency keys once they are at least 24 hours old.
IDEMPOTENCY_KEY_TTL = 24 * 3600
# The request log keeps the latest requests only, so a long `make dev` session stays small.
REQUEST_LOG_SIZE = 10_000


class Clock:
    """Unix seconds, advanced on demand (`/_sim/clock/advance`) to reach tomorrow without waiting."""

    def __init__(self) -> None:
        self.offset = 0

    def now(self) -> int:
        return int(time.time()) + self.offset

    def advance(self, seconds: int) -> int:
        self.offset += seconds
        return self.now()


@dataclass(frozen=True)
class Origin:
    """The API request behind a change; Stripe puts it in the event's `request` field."""

    request_id: str | None = None
    idempotency_key: str | None = None


@dataclass
class Delivery:
    """One attempt to deliver an event to the webhook endpoint."""

    attempt: int
    status: int | None  # None: no HTTP answer (connection refused, timeout)
    error: str | None
    at: float  # wall-clock unix time, to see the backoff between attempts
    signed_at: int  # the `t=` of the Stripe-Signature sent
    redelivery: bool = False


@dataclass
class StoredEvent:
    event: JSON
    deliveries: list[Delivery] = field(default_factory=list)

    @property
    def id(self) -> str:
        return str(self.event["id"])

    @property
    def type(self) -> str:
        return str(self.event["type"])


@dataclass
class StoredReply:
    """The first answer given under an idempotency key, replayed byte for byte."""

    endpoint: str  # "POST /v1/transfers"
    fingerprint: str
    status: int
    body: str
    request_id: str
    created: int


@dataclass
class FailureRule:
    """`/_sim/fail_next`: how the next matching API requests fail."""

    method: str
    path: str  # exact, or a prefix when it ends with "*"
    status: int
    error: JSON | None
    times: int
    after_commit: bool  # the request takes effect, only its answer is lost
    drop: bool  # close the connection instead of answering
    params: JSON = field(default_factory=dict)  # only requests with these parameters

    def matches(self, method: str, path: str, params: JSON) -> bool:
        if self.times <= 0 or method != self.method:
            return False
        if self.path.endswith("*"):
            if not path.startswith(self.path[:-1]):
                return False
        elif path != self.path:
            return False
        return _contains(params, self.params)


@dataclass
class LoggedRequest:
    request_id: str
    method: str
    path: str
    idempotency_key: str | None
    status: int
    at: int
    params: JSON
    replayed: bool = False
    injected: bool = False


@dataclass(frozen=True)
class SessionSpec:
    """What a checkout session was created with that Stripe keeps but does not show on it."""

    line_items: tuple[LineItem, ...]
    payment_intent_metadata: dict[str, str]


@dataclass
class OnboardingUrls:
    refresh_url: str | None
    return_url: str | None


def fingerprint(params: JSON) -> str:
    return hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()


def _contains(params: Any, wanted: Any) -> bool:
    if isinstance(wanted, dict):
        return isinstance(params, dict) and all(_contains(params.get(k), v) for k, v in wanted.items())
    return params == wanted or (not isinstance(params, dict | list) and str(params) == str(wanted))


class Store:
    def __init__(self, fixtures_path: Path | None = None, *, livemode: bool = False) -> None:
        self.lock = threading.RLock()
        self.clock = Clock()
        self.factory = ObjectFactory(Fixtures(fixtures_path), self.now, livemode=livemode)
        # Told of each new event while the lock is held (the webhook dispatcher queues it).
        self.listeners: list[Callable[[StoredEvent], None]] = []
        self.generation = 0
        self.reset()

    def reset(self) -> None:
        """Forgets everything; work queued for the old state (webhooks) sees the generation change."""
        with self.lock:
            self.generation += 1
            self.clock.offset = 0
            self.objects: dict[str, JSON] = {}
            self.by_kind: dict[str, list[JSON]] = {}  # creation order, for lists and sweeps
            self.events: list[StoredEvent] = []
            self.event_index: dict[str, StoredEvent] = {}
            self.replies: dict[str, StoredReply] = {}
            self.failures: list[FailureRule] = []
            self.requests: deque[LoggedRequest] = deque(maxlen=REQUEST_LOG_SIZE)
            self.sessions: dict[str, SessionSpec] = {}
            self.onboarding: dict[str, OnboardingUrls] = {}

    def now(self) -> int:
        return self.clock.now()

    # ------------------------------------------------------------------ objects

    def add(self, obj: JSON) -> JSON:
        if obj["id"] not in self.objects:
            self.by_kind.setdefault(obj["object"], []).append(obj)
        self.objects[obj["id"]] = obj
        return obj

    def get(self, object_id: str, kind: str, *, param: str = "id", status: int = 404) -> JSON:
        """The live object (callers copy before showing it); Stripe's 404 when absent."""
        obj = self.objects.get(object_id)
        if obj is None or obj.get("object") != kind:
            raise no_such(kind, object_id, param=param, status=status)
        return obj

    def all(self, kind: str) -> list[JSON]:
        """Objects of one kind in creation order."""
        return list(self.by_kind.get(kind, []))

    def snapshot(self, obj: JSON) -> JSON:
        found: JSON = copy.deepcopy(obj)
        return found

    # ------------------------------------------------------------------ events

    def emit(
        self,
        event_type: str,
        obj: JSON,
        *,
        previous: JSON | None = None,
        origin: Origin | None = None,
        account: str | None = None,
    ) -> StoredEvent:
        with self.lock:
            event = self.factory.event(
                event_type=event_type,
                obj=obj,
                previous=previous,
                request_id=origin.request_id if origin else None,
                idempotency_key=origin.idempotency_key if origin else None,
                account=account,
            )
            stored = StoredEvent(event)
            self.events.append(stored)
            self.event_index[stored.id] = stored
            for listener in self.listeners:
                listener(stored)
            return stored

    def get_event(self, event_id: str) -> StoredEvent:
        stored = self.event_index.get(event_id)
        if stored is None:
            raise no_such("event", event_id)
        return stored

    # ------------------------------------------------------------------ idempotency

    def recall(self, key: str) -> StoredReply | None:
        stored = self.replies.get(key)
        if stored is not None and self.now() - stored.created >= IDEMPOTENCY_KEY_TTL:
            del self.replies[key]  # Stripe has forgotten it
            return None
        return stored

    def remember(self, key: str, reply: StoredReply) -> None:
        self.replies[key] = reply

    # ------------------------------------------------------------------ injected failures

    def take_failure(self, method: str, path: str, params: JSON) -> FailureRule | None:
        for rule in self.failures:
            if rule.matches(method, path, params):
                rule.times -= 1
                if rule.times <= 0:
                    self.failures.remove(rule)
                return rule
        return None
