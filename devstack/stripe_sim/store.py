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
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from devstack.stripe_sim.errors import no_such
from devstack.stripe_sim.journal import Entry, Journal
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


class _StoreLock:
    """A re-entrant lock that calls `on_release` as its outermost holder lets go: one request's
    changes are then complete, and are journaled together."""

    def __init__(self, on_release: Callable[[], None]) -> None:
        self._lock = threading.RLock()
        self._depth = 0  # changed only by the thread holding the lock
        self._on_release = on_release

    def __enter__(self) -> "_StoreLock":
        self._lock.acquire()
        self._depth += 1
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if self._depth == 1:
                self._on_release()
        finally:
            self._depth -= 1
            self._lock.release()


class _TrackedObjects(dict[str, JSON]):
    """The live objects by id. Taking one (to read or to change it in place) or adding one marks it
    for the journal; unchanged ones are skipped when it is written."""

    def __init__(self, touched: set[str]) -> None:
        super().__init__()
        self._touched = touched

    def get(self, key: str, default: Any = None) -> Any:
        found = super().get(key, default)
        if found is not None:
            self._touched.add(key)
        return found

    def __getitem__(self, key: str) -> JSON:
        self._touched.add(key)
        return super().__getitem__(key)

    def __setitem__(self, key: str, value: JSON) -> None:
        self._touched.add(key)
        super().__setitem__(key, value)


class Store:
    """`data_dir`: keep the state there (journal.py) and start from what it holds; None: memory only."""

    def __init__(
        self, fixtures_path: Path | None = None, *, livemode: bool = False, data_dir: Path | None = None
    ) -> None:
        self.lock = _StoreLock(self._write_changes)
        self.clock = Clock()
        self.factory = ObjectFactory(Fixtures(fixtures_path), self.now, livemode=livemode)
        # Told of each new event while the lock is held (the webhook dispatcher queues it).
        self.listeners: list[Callable[[StoredEvent], None]] = []
        self.generation = 0
        self.journal = Journal(data_dir) if data_dir is not None else None
        self._touched: set[str] = set()
        self._changed: set[tuple[str, str]] = set()  # (kind, key) of events, replies, sessions, ...
        self._written: dict[str, int] = {}  # object id -> hash of the version last journaled
        self._created: dict[str, int] = {}  # object or event id -> creation order
        with self.lock:
            self._forget()
            if self.journal is not None:
                self._restore(self.journal.read())
                self.journal.rewrite(self._current())

    def reset(self) -> None:
        """Forgets everything; work queued for the old state (webhooks) sees the generation change."""
        with self.lock:
            self._forget()
            if self.journal is not None:
                self.journal.clear()

    def _forget(self) -> None:
        with self.lock:
            self.generation += 1
            self.clock.offset = 0
            self._touched.clear()
            self._changed.clear()
            self._written.clear()
            self._created.clear()
            self.objects: dict[str, JSON] = _TrackedObjects(self._touched)
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

    def advance_clock(self, seconds: int) -> int:
        with self.lock:
            self._changed.add(("clock", ""))
            return self.clock.advance(seconds)

    def remember_session(self, session_id: str, spec: "SessionSpec") -> None:
        self.sessions[session_id] = spec
        self._changed.add(("session", session_id))

    def remember_onboarding(self, account_id: str, urls: "OnboardingUrls") -> None:
        self.onboarding[account_id] = urls
        self._changed.add(("onboarding", account_id))

    def event_changed(self, stored: "StoredEvent") -> None:
        """A delivery attempt was recorded on an event (the webhook dispatcher)."""
        self._changed.add(("event", stored.id))

    # ------------------------------------------------------------------ the journal

    def _write_changes(self) -> None:
        if self.journal is None:
            self._touched.clear()
            self._changed.clear()
            return
        entries: list[Entry] = []
        for object_id in sorted(self._touched, key=lambda i: self._created.get(i, 0)):
            obj = dict.get(self.objects, object_id)
            version = hash(json.dumps(obj, sort_keys=True))
            if obj is not None and self._written.get(object_id) != version:
                self._written[object_id] = version
                entries.append({"kind": "object", "value": obj})
        # Events in the order they were made (their ids are random), then the rest.
        for kind, key in sorted(
            self._changed, key=lambda c: (c[0] != "event", self._created.get(c[1], 0), c[1])
        ):
            entries.append(self._entry(kind, key))
        self._touched.clear()
        self._changed.clear()
        self.journal.append(entries)

    def _entry(self, kind: str, key: str) -> Entry:
        if kind == "event":
            stored = self.event_index[key]
            return {"kind": kind, "value": stored.event, "deliveries": [asdict(d) for d in stored.deliveries]}
        if kind == "reply":
            reply = self.replies.get(key)
            return {"kind": kind, "key": key, "value": asdict(reply) if reply else None}
        if kind == "session":
            return {"kind": kind, "key": key, "value": asdict(self.sessions[key])}
        if kind == "onboarding":
            return {"kind": kind, "key": key, "value": asdict(self.onboarding[key])}
        return {"kind": "clock", "value": self.clock.offset}

    def _current(self) -> Iterator[Entry]:
        """Everything the store holds, as entries (for rewriting the journal)."""
        yield {"kind": "clock", "value": self.clock.offset}
        for obj in dict.values(self.objects):
            yield {"kind": "object", "value": obj}
        for stored in self.events:
            yield self._entry("event", stored.id)
        for kind, keys in (
            ("reply", self.replies),
            ("session", self.sessions),
            ("onboarding", self.onboarding),
        ):
            for key in keys:
                yield self._entry(kind, key)

    def _restore(self, entries: Iterator[Entry]) -> None:
        for entry in entries:
            kind = entry["kind"]
            value: Any = entry.get("value")
            if kind == "object":
                known = dict.get(self.objects, value["id"])
                if known is None:
                    self.add(value)
                else:  # the same dict stays in by_kind's lists
                    known.clear()
                    known.update(value)
                self._written[value["id"]] = hash(json.dumps(value, sort_keys=True))
            elif kind == "event":
                deliveries = [Delivery(**d) for d in entry["deliveries"]]
                stored = self.event_index.get(value["id"])
                if stored is None:
                    stored = StoredEvent(value)
                    self.events.append(stored)
                    self.event_index[stored.id] = stored
                stored.event, stored.deliveries = value, deliveries
            elif kind == "reply" and value is None:
                self.replies.pop(entry["key"], None)
            elif kind == "reply":
                self.replies[entry["key"]] = StoredReply(**value)
            elif kind == "session":
                items = tuple(LineItem(**item) for item in value["line_items"])
                self.sessions[entry["key"]] = SessionSpec(items, value["payment_intent_metadata"])
            elif kind == "onboarding":
                self.onboarding[entry["key"]] = OnboardingUrls(**value)
            elif kind == "clock":
                self.clock.offset = int(value)
        self._touched.clear()

    # ------------------------------------------------------------------ objects

    def add(self, obj: JSON) -> JSON:
        if obj["id"] not in self.objects:
            self.by_kind.setdefault(obj["object"], []).append(obj)
            self._created[obj["id"]] = len(self._created)
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
            self._changed.add(("event", stored.id))
            self._created[stored.id] = len(self._created)
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
            self._changed.add(("reply", key))
            return None
        return stored

    def remember(self, key: str, reply: StoredReply) -> None:
        self.replies[key] = reply
        self._changed.add(("reply", key))

    # ------------------------------------------------------------------ injected failures

    def take_failure(self, method: str, path: str, params: JSON) -> FailureRule | None:
        for rule in self.failures:
            if rule.matches(method, path, params):
                rule.times -= 1
                if rule.times <= 0:
                    self.failures.remove(rule)
                return rule
        return None
