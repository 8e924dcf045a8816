"""A seeded simulation of the whole lifecycle, with faults, replayable from its seed.

From one seed: a plan of steps (checkouts paid, failed, expired and paid asynchronously; webhooks
duplicated, delayed and reordered; gifts from many fans to hot and cold creators; refunds and
disputes after spending; admin grants, freezes and reviews; withdrawals and payout batches with
Stripe failures and reversals) and, for each step, the faults it meets: a crash before or after a
DynamoDB write (then the same request again, as Lambda and Stripe retry, from a fresh process),
throttles and transaction conflicts, Stripe 5xx, lost answers and dropped connections.

Everything runs through the services with the real repository and the Stripe simulator, driven
by the real `stripe` SDK in-process; Stripe's signed events reach the webhook function's handler.
On DynamoDB Local, bursts of concurrent gifts and concurrent duplicate deliveries join in.
After every step the ledger's own invariants are checked; at the end the whole checker runs,
reconciliation with Stripe included. A failing plan is shortened to the steps that still fail.
"""

from __future__ import annotations

import json
import random
import re
import sys
import tempfile
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Generator, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from itertools import islice
from pathlib import Path
from typing import Any

import stripe
from botocore.exceptions import ClientError

from coins.abuse import WriteLimits
from coins.admin import AdjustmentSource, AdjustmentUnit, ApprovalPolicy
from coins.config import Settings
from coins.errors import (
    Busy,
    DomainError,
    GiftVelocityLimited,
    PaymentProviderUnavailable,
    RateLimited,
    RetryLater,
)
from coins.ledger import AccountStatus
from coins.ledger_check import CheckReport, check, check_window
from coins.repository import LedgerRepository, LedgerTable
from coins.repository.audit import AuditRepository
from coins.repository.changes import ChangeRepository
from coins.settlement import GiftSettlement, replay_shard_id
from coins.stripe_adapter import PaymentProviderError, StripePayments, StripeSettings, StripeWebhookVerifier
from coins.wiring import Services, build_services
from devstack.in_process import load_function_module
from devstack.stripe_sim.errors import StripeError as StripeSimError
from devstack.stripe_sim.server import StripeSimulator
from devstack.stripe_sim.store import FailureRule
from devstack.template import table_definition
from tests.simulation.fast_parsing import dynamodb_client
from tests.support.apigw import FakeLambdaContext, http_event
from tests.support.books import EVERY_GIFT_SETTLED, audit_table
from tests.support.contention import conflict_on_the_last_item
from tests.support.in_process_stripe import InProcessStripe
from tests.support.settlement import (
    UNIT_SHARD,
    dead_letter,
    forget_unit_stream,
    is_settlement_chunk,
    settle_from_table,
    settling_in_chunks_of,
    unit_stream_records,
)

WEBHOOK_SECRET = "whsec_simulation"
API_KEY = "sk_test_simulation"
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
BIRTHDATE = "1990-01-01"
CHEAP_GIFTS = ("rose", "tiktok", "ice_cream", "finger_heart")
DEAR_GIFTS = ("perfume", "doughnut", "cap")
PACKAGES = ("coins_70", "coins_350", "coins_700", "coins_1400")
WRITES = ("transact_write_items", "put_item", "update_item", "delete_item")
# The simulated deployment's own abuse limits and approval thresholds (issue 13), set low enough that
# seeds meet them: admin grants above the thresholds wait for a second admin, and bursts of gifts
# from one fan run out of write tokens or reach a creator's velocity limit. Both are answers the
# invariants must hold through (202 pending_approval, 429 rate_limited / gift_velocity_limited).
SIMULATED_APPROVAL = ApprovalPolicy(coins_threshold=150, diamonds_threshold=900)
SIMULATED_LIMITS = WriteLimits(
    write_burst=3,
    write_rate_per_minute=4,
    gift_pair_window_seconds=3600,
    gift_pair_max_coins=400,
    gift_pair_max_gifts=8,
    gift_pair_max_creators=3,
)
STEP_KINDS = (
    ("checkout", 14),
    ("gift", 26),
    ("deliver", 16),
    ("settle", 6),
    ("refund", 3),
    ("dispute", 3),
    ("close_dispute", 3),
    ("async_settle", 3),
    ("admin", 5),
    ("approve", 3),
    ("advance", 4),
    ("withdraw", 7),
    ("payout", 6),
    ("reverse", 2),
    ("burst", 4),
    # Issue 21's review: grants split under the approval threshold, Stripe's late retry of an older
    # account.updated, CREATOR_SHARDS grown mid-run, a settlement batch dead-lettered and replayed.
    ("split_grants", 2),
    ("stale_account", 2),
    ("grow_shards", 1),
    ("dead_letter", 2),
)
MOST_CREATOR_SHARDS = 8  # how far grow_shards takes CREATOR_SHARDS (from the world's 2)
# A chunk's items in the dead-letter step's settlement: the simulation's batches are small, and must
# split into chunks (the first committing, a later one failing) as a busy shard's 100-item ones do.
SMALL_CHUNK_ITEMS = 12


class SimulatedCrash(BaseException):
    """A process killed mid-request: nothing in the code under test may catch it."""


class SimulationFailed(AssertionError):
    pass


# ------------------------------------------------------------------------------- faults


@dataclass
class FaultPlan:
    """The faults one attempt of one step meets, drawn from the step's own random stream."""

    rng: random.Random
    write_fault_rate: float = 0.0
    enabled: bool = True
    crashes: int = 0

    def next_write_fault(self) -> str | None:
        if not self.enabled or self.rng.random() >= self.write_fault_rate:
            return None
        return self.rng.choice(("crash_before", "crash_after", "throttle", "conflict"))


class CrashingChunks:
    """The real client, for a settlement whose chunks crash it: once `commits_left` chunks
    committed, every later chunk's commit kills the process first (as a bug or a missing grant
    would, on every retry, until someone fixes it)."""

    def __init__(self, real: Any, commits_left: int) -> None:
        self._real = real
        self.commits_left = commits_left

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def transact_write_items(self, **kwargs: Any) -> Any:
        chunk = is_settlement_chunk(kwargs)
        if chunk and self.commits_left <= 0:
            raise SimulatedCrash("before a settlement chunk's commit")
        answer = self._real.transact_write_items(**kwargs)
        if chunk:
            self.commits_left -= 1
        return answer


class FaultyDynamoDB:
    """The real client (moto or DynamoDB Local), failing writes as a plan says."""

    def __init__(self, real: Any, faults: Callable[[], FaultPlan | None]) -> None:
        self._real = real
        self._faults = faults

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._real, name)
        if name not in WRITES:
            return attr

        def write(**kwargs: Any) -> Any:
            plan = self._faults()
            fault = plan.next_write_fault() if plan is not None else None
            if fault == "crash_before":
                plan.crashes += 1  # type: ignore[union-attr]
                raise SimulatedCrash(f"before {name}")
            if fault == "throttle":
                raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, name)
            if fault == "conflict" and name == "transact_write_items":
                raise conflict_on_the_last_item(kwargs)
            answer = attr(**kwargs)
            if fault == "crash_after":
                plan.crashes += 1  # type: ignore[union-attr]
                raise SimulatedCrash(f"after {name}")
            return answer

        return write


# ------------------------------------------------------------------------------- the plan


@dataclass(frozen=True)
class Step:
    index: int
    kind: str
    pick: int  # chooses actors and targets at run time
    amount: int
    variant: int


def make_plan(seed: int, steps: int) -> list[Step]:
    rng = random.Random(f"plan:{seed}")
    kinds = [k for k, _ in STEP_KINDS]
    weights = [w for _, w in STEP_KINDS]
    return [
        Step(
            i,
            rng.choices(kinds, weights)[0],
            rng.randrange(1 << 30),
            rng.randrange(1 << 30),
            rng.randrange(100),
        )
        for i in range(steps)
    ]


# ------------------------------------------------------------------------------- the world


@dataclass
class Backend:
    """Where the tables live: moto in-process, or DynamoDB Local (endpoint), one table per seed."""

    endpoint_url: str | None = None
    _client: Any = field(default=None, repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @property
    def concurrent(self) -> bool:
        return self.endpoint_url is not None

    def client(self) -> Any:
        """One botocore client for every seed on this backend (making one costs more than a step);
        it keeps no state a new process would not have, and is safe to share between threads."""
        with self._lock:
            if self._client is None:
                # Its answers parsed the short way (the same dicts): the simulation reads its whole
                # table after every step, and botocore's model walk was most of a seed's Python time.
                self._client = dynamodb_client(self.endpoint_url)
            return self._client


@dataclass
class World:
    seed: int
    backend: Backend
    table: str
    simulator: StripeSimulator
    fans: list[str]
    creators: list[str]
    admin: str = "admin-sim"
    second_admin: str = "admin-sim-2"  # approves what the first asks above the threshold
    splitting_admin: str = "admin-sim-3"  # grants in parts under the threshold (split_grants)
    now: datetime = START
    faults: FaultPlan | None = None
    pending_events: list[dict[str, Any]] = field(default_factory=list)
    seen_events: set[str] = field(default_factory=set)
    sessions: list[str] = field(default_factory=list)  # every checkout session opened
    async_sessions: list[str] = field(default_factory=list)
    streams: dict[str, str] = field(default_factory=dict)  # creator -> their live stream
    disputes: list[str] = field(default_factory=list)
    inquiries: dict[str, str] = field(default_factory=dict)  # an open inquiry's id -> its charge
    session_fans: dict[str, str] = field(default_factory=dict)  # checkout session -> its fan
    pending_adjustments: list[str] = field(default_factory=list)  # waiting for the second admin
    approved_adjustments: set[str] = field(default_factory=set)
    log: list[str] = field(default_factory=list)
    settings: Settings = field(init=False)
    _thread_faults: threading.local = field(default_factory=threading.local)
    faulty: bool = True  # False: the same lifecycle without injected faults

    def __post_init__(self) -> None:
        self.settings = Settings(
            table_name=self.table,
            creator_shards=2,
            system_shards=4,
            maturity_days=1,
            min_withdrawal_minor=100,
            daily_withdrawal_cap_minor=1_000_000,
            stripe_api_base="http://stripe.simulation",
        )

    def clock(self) -> datetime:
        return self.now

    def current_faults(self) -> FaultPlan | None:
        return getattr(self._thread_faults, "plan", None) or self.faults

    @property
    def real_client(self) -> Any:
        return self.backend.client()

    def services(self, client: Any = None) -> Services:
        """A fresh process: new services and caches; only DynamoDB and Stripe remember anything.
        `client`: the DynamoDB client it uses (default: the real one, failing as the faults say)."""
        client = client or FaultyDynamoDB(self.real_client, self.current_faults)
        repository = LedgerRepository(
            LedgerTable(
                self.table,
                client=client,
                creator_shards=self.settings.creator_shards,
                system_shards=self.settings.system_shards,
                max_attempts=6,
                backoff_cap_ms=5,
            )
        )
        payments = StripePayments(
            StripeSettings(API_KEY, self.settings.stripe_api_base),
            http_client=InProcessStripe(self.simulator),
        )
        verifier = StripeWebhookVerifier([WEBHOOK_SECRET])
        return build_services(
            self.settings,
            repository,
            payments=lambda: payments,
            webhook_verifier=lambda: verifier,
            clock=self.clock,
            write_limits=SIMULATED_LIMITS,
            approval=SIMULATED_APPROVAL,
        )

    def quiet_services(self) -> Services:
        saved, self.faults = self.faults, None
        try:
            return self.services()
        finally:
            self.faults = saved


def _stripe_fault(world: World, rng: random.Random, path: str) -> None:
    """Stripe's next call on `path` fails: before or after it happened, answered or dropped."""
    if world.faulty and rng.random() < 0.3:
        world.simulator.store.failures.append(
            FailureRule(
                method="POST",
                path=path,
                status=rng.choice((500, 502, 503)),
                error=None,
                times=rng.randint(1, 4),  # past the SDK's two retries, the caller sees it
                after_commit=rng.random() < 0.5,
                drop=rng.random() < 0.3,
                params={},
            )
        )


# ------------------------------------------------------------------------------- steps


def webhook_container() -> Any:
    """The webhook function's module in a container of its own (devstack.template's per-container
    copies, as the in-process handlers use per thread): Powertools' resolver keeps the request being
    handled (`app.current_event`) on the module's `app`, so two requests at once must not share one
    (seeds side by side did, and handled each other's events). Each runner makes its own and sets
    their `services`, so the copy is named afresh and not kept in sys.modules past the runner."""
    container = f"_sim_{uuid.uuid4().hex}"
    module = load_function_module("PaymentWebhookFunction", container)
    sys.modules.pop(module.__name__, None)  # nothing imports it by name; let it go with its runner
    return module


class Runner:
    """Runs a plan against a world, retrying each step through its faults as clients would."""

    ATTEMPTS = 4

    def __init__(self, world: World, *, check_every: int) -> None:
        self.world = world
        self.check_every = check_every
        # This seed's webhook containers, one per concurrent delivery; each answers `services()`
        # with the services of the attempt delivering to it.
        self._containers: list[tuple[Any, threading.local]] = []
        self._containers_lock = threading.Lock()

    def run(self, plan: Sequence[Step]) -> CheckReport:
        self._setup()
        for n, step in enumerate(plan, start=1):
            self.world.now += timedelta(seconds=37)
            self._run_step(step)
            # The last step's check is the one at the end, after every webhook and settlement.
            if self.check_every and n % self.check_every == 0 and n < len(plan):
                self._check(f"after step {step.index} ({step.kind})", stripe_too=False)
        self._quiesce()
        report = self._check("at the end", stripe_too=True)
        self._audit()
        return report

    # -------------------------------------------------------------------- framework

    def _attempt(self, step: Step, action: Callable[[Services, random.Random], None]) -> None:
        """Runs an action with faults; a crash or an error is retried with the same keys."""
        rng = random.Random(f"faults:{self.world.seed}:{step.index}")
        for attempt in range(self.ATTEMPTS):
            last = attempt == self.ATTEMPTS - 1
            rate = 0.15 if self.world.faulty and not last else 0.0
            self.world.faults = FaultPlan(rng, write_fault_rate=rate)
            try:
                action(self.world.services(), rng)
                return
            except SimulatedCrash as crash:
                self.world.log.append(f"  step {step.index}: crashed {crash}, retried")
            except (DomainError, PaymentProviderError, ClientError) as error:
                if _is_refusal(error):
                    self.world.log.append(f"  step {step.index}: refused {type(error).__name__}")
                    return
                self.world.log.append(f"  step {step.index}: {type(error).__name__}, retried")
            finally:
                self.world.faults = None
                self.world.simulator.store.failures.clear()

    def _check(self, when: str, *, stripe_too: bool) -> CheckReport:
        app = self.world.quiet_services()
        # One segment: a seed's own table is small (the deployed checker scans in parallel).
        image = AuditRepository(self.world.table, client=app.repository.client).read_ledger(segments=1)
        report = check(
            image,
            diamonds_per_coin=self.world.settings.diamond_rate.diamonds_per_coin,
            stripe=app.payments() if stripe_too else None,
            # At the end every gift has been through the settlement: none may be left in flight.
            gifts_sent_before=2**40 if stripe_too else None,
        )
        if stripe_too:
            # The hourly check as deployed, over its window (the seed's last 3 simulated hours): what
            # changed, read through the change index; at the end every gift in it must be settled.
            until = int(self.world.now.timestamp()) + 1
            windowed = check_window(
                ChangeRepository(self.world.table, client=app.repository.client),
                diamonds_per_coin=self.world.settings.diamond_rate.diamonds_per_coin,
                stripe=None,
                since=until - 3 * 3600,
                until=until,
                now=until,
                settle_within=0,
            )
            report = CheckReport(
                [*report.discrepancies, *windowed.discrepancies], report.items_read, None, None
            )
        if not report.clean:
            lines = "\n".join(f"  {d.kind}: {d.subject}: {d.detail}" for d in report.discrepancies[:20])
            raise SimulationFailed(f"invariants broken {when}:\n{lines}")
        return report

    def _audit(self) -> None:
        """The full audit as deployed: the table exported in DynamoDB's export format, then the
        audit's SQL on DuckDB; at the end every gift must be settled."""
        with tempfile.TemporaryDirectory(prefix="books-") as bucket:
            found = audit_table(
                self.world.backend.client(),
                self.world.table,
                Path(bucket),
                diamonds_per_coin=self.world.settings.diamond_rate.diamonds_per_coin,
                settled_by=EVERY_GIFT_SETTLED,
                # A seed's export is small: DuckDB's thread per core cost more to start than it saved
                # (and took a core from the other seed running beside it).
                threads=1,
            )
        if found:
            lines = "\n".join(f"  {d.kind}: {d.subject}: {d.detail}" for d in found[:20])
            raise SimulationFailed(f"the audit found at the end:\n{lines}")

    def _setup(self) -> None:
        app = self.world.quiet_services()
        for n, fan in enumerate(self.world.fans):
            # Welcome coins (a promotion): fans can gift before their first purchase is paid.
            self._grant(
                app,
                user_id=fan,
                unit=AdjustmentUnit.COINS,
                amount=50 + (self.world.seed * 31 + n * 17) % 100,
                reason="welcome coins",
                source=AdjustmentSource.PROMOTIONS,
                idempotency_key=f"welcome-{fan}",
            )
        for n, creator in enumerate(self.world.creators):
            # Only creators receive gifts, and only during a live stream.
            app.creator_profiles.become_creator(user_id=creator, birthdate=BIRTHDATE)
            live = app.streams.start(creator_id=creator, title="simulated", idempotency_key=f"live-{creator}")
            self.world.streams[creator] = str(live["stream_id"])
            # Diamonds from before the simulation (a correction): withdrawals can start at once.
            self._grant(
                app,
                user_id=creator,
                unit=AdjustmentUnit.DIAMONDS,
                amount=300 + (self.world.seed * 53 + n * 29) % 600,
                reason="earned before",
                source=AdjustmentSource.CORRECTIONS,
                idempotency_key=f"earned-{creator}",
            )
            account = app.creators.onboard(user_id=creator, country="US", birthdate=BIRTHDATE)["account_id"]
            self.world.simulator.sim.complete_account(account)
        self._collect_events()
        self._deliver_all(random.Random(0), duplicate=False)

    def _grant(self, app: Services, **adjustment: Any) -> None:
        """An admin's grant; above the approval threshold (202 pending_approval) the second admin
        approves it."""
        world = self.world
        answer = app.admin.adjust(admin_id=world.admin, **adjustment)
        if answer.get("status") == "pending_approval":
            adjustment_id = str(answer["adjustment_id"])
            app.admin.approve(admin_id=world.second_admin, adjustment_id=adjustment_id)
            world.approved_adjustments.add(adjustment_id)

    def _quiesce(self) -> None:
        """The end of the day: the next payout batch (it finishes payouts whose Stripe answer was
        lost), every webhook delivered, every gift settled (no faults)."""
        app = self.world.quiet_services()
        for due in list(app.payout_batch.due()):
            app.payout_batch.pay(due)
        for _ in range(6):
            self._collect_events()
            self._deliver_all(random.Random(1), duplicate=False)
            settle_from_table(app)
            if not self.world.pending_events:
                break
        if self.world.pending_events:
            raise SimulationFailed(f"{len(self.world.pending_events)} webhooks never accepted")

    def _run_step(self, step: Step) -> None:
        self.world.log.append(f"step {step.index}: {step.kind}")
        try:
            getattr(self, f"_step_{step.kind}")(step)
        except StripeSimError as refused:  # what a customer or Stripe may not do (refund twice, ...)
            self.world.log.append(f"  step {step.index}: Stripe refused {_without_ids(str(refused))}")
        self._collect_events()

    # -------------------------------------------------------------------- webhooks

    def _collect_events(self) -> None:
        for stored in self.world.simulator.events():
            if stored.id not in self.world.seen_events:
                self.world.seen_events.add(stored.id)
                self.world.pending_events.append(stored.event)

    def _container(self, n: int) -> tuple[Any, threading.local]:
        with self._containers_lock:
            while len(self._containers) <= n:
                module, delivering = webhook_container(), threading.local()
                setattr(module, "services", lambda d=delivering: d.services)  # noqa: B010
                self._containers.append((module, delivering))
            return self._containers[n]

    def _deliver(
        self, event: dict[str, Any], app: Services, container: int = 0, *, noted: bool = True
    ) -> bool:
        """Stripe's POST of one signed event to the webhook function; True when it answered 2xx.
        `noted`: its answer goes in the seed's log (not for concurrent deliveries, whose order varies)."""
        payload = json.dumps(event)
        signature = stripe.WebhookSignature.generate_signature_header(payload, WEBHOOK_SECRET)
        webhook, delivering = self._container(container)
        delivering.services = app  # this attempt's process
        answer = webhook.lambda_handler(
            http_event(
                "POST",
                "/v1/webhooks/stripe",
                sub=None,
                raw_body=payload,
                headers={"Stripe-Signature": signature},
            ),
            FakeLambdaContext(),
        )
        status = int(answer["statusCode"])
        if noted:
            body = json.loads(answer.get("body") or "{}")
            said = body.get("outcome") or (body.get("error") or {}).get("code") or ""
            self.world.log.append(f"  webhook {event.get('type')}: {status} {said}")
        return 200 <= status < 300

    def _deliver_all(self, rng: random.Random, *, duplicate: bool) -> None:
        pending, self.world.pending_events = self.world.pending_events, []
        rng.shuffle(pending)
        for event in pending:
            try:
                delivered = self._deliver(event, self.world.services())
            except SimulatedCrash:
                delivered = False
            if not delivered:
                self.world.pending_events.append(event)
            elif duplicate and rng.random() < 0.3:
                self.world.pending_events.append(event)  # Stripe delivers it again

    def _step_deliver(self, step: Step) -> None:
        """Some of the pending events, shuffled; some held back (delayed), some delivered twice."""
        rng = random.Random(f"deliver:{self.world.seed}:{step.index}")
        self.world.faults = FaultPlan(rng, write_fault_rate=0.05 if self.world.faulty else 0.0)
        try:
            pending, self.world.pending_events = self.world.pending_events, []
            rng.shuffle(pending)
            for event in pending:
                if rng.random() < 0.25:
                    self.world.pending_events.append(event)  # delayed
                    continue
                try:
                    delivered = self._deliver(event, self.world.services())
                except SimulatedCrash:
                    delivered = False
                if not delivered or rng.random() < 0.2:
                    self.world.pending_events.append(event)  # retried, or a duplicate delivery
        finally:
            self.world.faults = None

    # -------------------------------------------------------------------- purchases

    def _step_checkout(self, step: Step) -> None:
        world = self.world
        fan = world.fans[step.pick % len(world.fans)]
        key = f"checkout-{step.index}"
        package = PACKAGES[step.amount % len(PACKAGES)]
        opened: dict[str, Any] = {}

        def open_checkout(app: Services, rng: random.Random) -> None:
            _stripe_fault(world, rng, "/v1/checkout/sessions")
            opened.update(
                app.purchases.open_checkout(
                    user_id=fan,
                    country="US",
                    package_id=package,
                    payment_method="card",
                    idempotency_key=key,
                    birthdate=BIRTHDATE,
                )
            )

        self._attempt(step, open_checkout)
        if not opened:
            return
        session = str(opened["session_id"])
        world.sessions.append(session)
        world.session_fans[session] = fan
        outcome = step.variant
        sim = world.simulator.sim
        if outcome < 60:
            sim.pay_session(session)
        elif outcome < 75:
            sim.pay_session(session, delayed=True)
            world.async_sessions.append(session)
        elif outcome < 88:
            sim.expire_session(session)
        # else: left open, never paid

    def _step_async_settle(self, step: Step) -> None:
        world = self.world
        if not world.async_sessions:
            return
        session = world.async_sessions.pop(step.pick % len(world.async_sessions))
        world.simulator.sim.settle_delayed_payment(session, succeeded=step.variant < 70)

    def _paid_charge(self, step: Step) -> str | None:
        sim = self.world.simulator.sim
        charges = []
        for session in self.world.sessions:
            with suppress(StripeSimError):  # not paid
                charges.append(sim.session_charge(session))
        return charges[step.pick % len(charges)] if charges else None

    def _step_refund(self, step: Step) -> None:
        charge_id = self._paid_charge(step)
        if charge_id is None:
            return
        charge = self.world.simulator.object(charge_id) or {}
        remaining = int(charge.get("amount", 0)) - int(charge.get("amount_refunded", 0))
        if remaining <= 0 or charge.get("disputed"):
            return
        amount = remaining if step.variant < 50 else max(1, remaining * (step.amount % 90 + 5) // 100)
        sim = self.world.simulator.sim
        if step.variant % 10 < 7:
            sim.refund(charge_id, amount=amount)
            return
        # A refund that goes pending, then succeeds or fails (the bank refuses it): its events
        # (refund.created, charge.refunded, refund.updated, refund.failed) reach us in any order.
        refund = sim.refund(charge_id, amount=amount, pending=True)
        sim.settle_refund(str(refund["id"]), succeeded=step.variant % 10 == 7)

    def _step_dispute(self, step: Step) -> None:
        if step.variant % 4 == 3:
            self._charge_back_a_fans_orders(step)
            return
        charge_id = self._paid_charge(step)
        if charge_id is None:
            return
        charge = self.world.simulator.object(charge_id) or {}
        if charge.get("disputed") or charge.get("refunded"):
            return
        # An inquiry first, a third of the time: a chargeback may follow once it closes.
        inquiry = step.variant % 3 == 0
        dispute = self.world.simulator.sim.dispute(charge_id, inquiry=inquiry)
        self.world.disputes.append(str(dispute["id"]))
        if inquiry:
            self.world.inquiries[str(dispute["id"])] = charge_id

    def _charge_back_a_fans_orders(self, step: Step) -> None:
        """One fan charges back every payment they made (their coins gifted to several creators):
        each gift must be taken back from one order only, first in, first out."""
        world = self.world
        fan = world.fans[step.pick % len(world.fans)]
        sim = world.simulator.sim
        for session in [s for s in world.sessions if world.session_fans.get(s) == fan]:
            with suppress(StripeSimError):  # not paid
                charge_id = sim.session_charge(session)
                charge = world.simulator.object(charge_id) or {}
                if not charge.get("disputed") and not charge.get("refunded"):
                    world.disputes.append(str(sim.dispute(charge_id)["id"]))
        world.log.append(f"  step {step.index}: {fan} charged back every payment")

    def _step_close_dispute(self, step: Step) -> None:
        if not self.world.disputes:
            return
        dispute = self.world.disputes.pop(step.pick % len(self.world.disputes))
        sim = self.world.simulator.sim
        charge_id = self.world.inquiries.pop(dispute, None)
        if charge_id is None:
            sim.close_dispute(dispute, "won" if step.variant < 50 else "lost")
            return
        sim.close_dispute(dispute, "warning_closed")
        if step.variant >= 30:
            # The inquiry became a chargeback: a second dispute on the same charge.
            self.world.disputes.append(str(sim.dispute(charge_id)["id"]))

    # -------------------------------------------------------------------- gifts and admin

    def _gift(self, app: Services, step: Step, n: int, rng: random.Random) -> None:
        world = self.world
        fan = world.fans[(step.pick + n) % len(world.fans)]
        # One hot creator takes most gifts.
        creator = (
            world.creators[0]
            if (step.amount + n) % 10 < 6
            else world.creators[(step.amount + n) % len(world.creators)]
        )
        cheap = (step.variant + n) % 10 < 8
        gifts = CHEAP_GIFTS if cheap else DEAR_GIFTS
        app.gifts.send_gift(
            fan_id=fan,
            creator_id=creator,
            gift_id=gifts[(step.pick // 7 + n) % len(gifts)],
            quantity=1 + (step.amount + n) % 3,
            stream_id=world.streams[creator],
            idempotency_key=f"gift-{step.index}-{n}",
            birthdate=BIRTHDATE,
        )

    def _step_gift(self, step: Step) -> None:
        for n in range(1 + step.variant % 3):

            def send(app: Services, rng: random.Random, n: int = n) -> None:
                self._gift(app, step, n, rng)

            self._attempt(step, send)

    def _step_burst(self, step: Step) -> None:
        """Concurrent requests: gifts from the same fans at once, and a webhook delivered twice at once."""
        if not self.world.backend.concurrent:
            self._step_gift(step)
            return
        world = self.world
        world.faults = None

        refusals: list[str] = []

        def one(n: int) -> None:
            rng = random.Random(f"burst:{world.seed}:{step.index}:{n}")
            world._thread_faults.plan = FaultPlan(rng, write_fault_rate=0.0)
            for _ in range(self.ATTEMPTS):
                try:
                    self._gift(world.services(), step, n, rng)
                    return
                except DomainError as error:
                    if _is_refusal(error):
                        refusals.append(type(error).__name__)
                        return
                except SimulatedCrash:
                    continue

        with ThreadPoolExecutor(max_workers=6) as pool:
            list(pool.map(one, range(12)))
            if world.pending_events:
                event = world.pending_events[0]
                results = list(
                    pool.map(lambda n: self._deliver(event, world.services(), n, noted=False), range(3))
                )
                if any(results):
                    world.pending_events.pop(0)
        for refusal in sorted(set(refusals)):  # which gifts won depends on the threads' timing
            world.log.append(f"  step {step.index}: burst refused {refusal}")

    def _step_settle(self, step: Step) -> None:
        def settle(app: Services, rng: random.Random) -> None:
            settle_from_table(app)

        self._attempt(step, settle)

    def _step_admin(self, step: Step) -> None:
        world = self.world
        users = world.fans + world.creators
        user = users[step.pick % len(users)]
        choice = step.variant % 10

        def act(app: Services, rng: random.Random) -> None:
            answer: Any = None
            if choice < 4:
                answer = app.admin.adjust(
                    admin_id=world.admin,
                    user_id=user,
                    unit=AdjustmentUnit.COINS,
                    amount=1 + step.amount % 400,
                    reason="simulated grant",
                    source=AdjustmentSource.PROMOTIONS,
                    idempotency_key=f"admin-{step.index}",
                )
            elif choice < 5:
                answer = app.admin.adjust(
                    admin_id=world.admin,
                    user_id=user,
                    unit=AdjustmentUnit.COINS,
                    amount=-(1 + step.amount % 40),
                    reason="simulated correction",
                    source=AdjustmentSource.CORRECTIONS,
                    idempotency_key=f"admin-{step.index}",
                )
            elif choice < 6 and user in world.creators:
                answer = app.admin.adjust(
                    admin_id=world.admin,
                    user_id=user,
                    unit=AdjustmentUnit.DIAMONDS,
                    amount=200 + step.amount % 1000,
                    reason="simulated diamonds",
                    source=AdjustmentSource.CORRECTIONS,
                    idempotency_key=f"admin-{step.index}",
                )
            else:
                status = (
                    AccountStatus.FROZEN,
                    AccountStatus.UNDER_REVIEW,
                    AccountStatus.ACTIVE,
                    AccountStatus.ACTIVE,
                )[step.amount % 4]
                app.admin.set_status(
                    admin_id=world.admin, user_id=user, status=status, reason="simulated review"
                )
            # Above the threshold nothing moves yet: the adjustment waits for a second admin.
            if answer is not None and answer.get("status") == "pending_approval":
                adjustment_id = str(answer["adjustment_id"])
                world.log.append(f"  step {step.index}: adjustment pending approval")
                if adjustment_id not in world.pending_adjustments:
                    world.pending_adjustments.append(adjustment_id)

        self._attempt(step, act)

    def _step_approve(self, step: Step) -> None:
        """A second admin approves a pending adjustment; now and then its own requester tries to
        (refused: 403), or the approval is sent twice (the same receipt, applied once)."""
        world = self.world
        if not world.pending_adjustments:
            return
        adjustment_id = world.pending_adjustments[step.pick % len(world.pending_adjustments)]
        approver = world.admin if step.variant < 15 else world.second_admin
        receipt: dict[str, Any] = {}

        def approve(app: Services, rng: random.Random) -> None:
            receipt.update(app.admin.approve(admin_id=approver, adjustment_id=adjustment_id))

        self._attempt(step, approve)
        if not receipt:
            return
        world.pending_adjustments.remove(adjustment_id)
        world.approved_adjustments.add(adjustment_id)
        world.log.append(f"  step {step.index}: adjustment approved by the second admin")
        if step.variant >= 80:
            first = dict(receipt)
            self._attempt(step, approve)
            if receipt != first:
                raise SimulationFailed(f"approving {adjustment_id} again answered {receipt}, not {first}")

    def _step_advance(self, step: Step) -> None:
        # Hours pass. The table's stream hands each gift to the settlement within seconds and keeps
        # it at most 24 hours, so every gift in flight is settled before the clock jumps: the
        # product looks a gift's settlement up within SETTLED_WITHIN (25 h) of it being sent, and a
        # gift first settled 40 simulated hours late is one no deployment can produce (seed 10's
        # dispute was refused as "still being settled" forever).
        settle_from_table(self.world.quiet_services())
        self.world.now += timedelta(hours=1 + step.amount % 40)

    def _step_split_grants(self, step: Step) -> None:
        """One admin grants one user several amounts, each under the approval threshold, that add
        up to more (issue 21, defect 6): what commits at once stays within the threshold; the rest
        waits for the second admin."""
        world = self.world
        users = world.fans + world.creators
        user = users[step.pick % len(users)]
        threshold = SIMULATED_APPROVAL.coins_threshold
        # An admin of their own: the first admin's welcome grants already count in its totals.
        part = threshold // 3 + 1 + step.amount % 20
        answers: list[Any] = []
        for n in range(4):

            def grant(app: Services, rng: random.Random, n: int = n) -> None:
                answers.append(
                    app.admin.adjust(
                        admin_id=world.splitting_admin,
                        user_id=user,
                        unit=AdjustmentUnit.COINS,
                        amount=part,
                        reason="simulated split grant",
                        source=AdjustmentSource.PROMOTIONS,
                        idempotency_key=f"split-{step.index}-{n}",
                    )
                )

            self._attempt(step, grant)
        waiting = [str(a["adjustment_id"]) for a in answers if a.get("status") == "pending_approval"]
        committed = part * (len(answers) - len(waiting))
        world.log.append(
            f"  step {step.index}: split grants of {part}: {len(waiting)} of {len(answers)} wait"
        )
        if committed > threshold or (len(answers) == 4 and not waiting):
            raise SimulationFailed(
                f"grants of {part} split under the threshold committed {committed} at once"
            )
        world.pending_adjustments.extend(a for a in waiting if a not in world.pending_adjustments)

    def _step_stale_account(self, step: Step) -> None:
        """Stripe changes a creator's Connect account twice; the first event's delivery fails and
        Stripe retries it after the second was handled (issue 21, defect 3): the older state must
        not come back. Half the time it is the issue's case, an older "payouts enabled" arriving
        after "restricted"; else an older "restricted" after "enabled again"."""
        world = self.world
        creator = world.creators[step.pick % len(world.creators)]
        app = world.quiet_services()
        profile = app.payouts.get_profile(creator)
        if profile is None or profile.account_id is None:
            return
        account = profile.account_id
        sim = world.simulator.sim
        enable: Callable[[str], dict[str, Any]] = sim.complete_account
        restrict: Callable[[str], dict[str, Any]] = sim.restrict_account
        changes = (enable, restrict) if step.variant < 50 else (restrict, enable)
        if not (world.simulator.object(account) or {}).get("payouts_enabled"):
            # Restricted by an earlier step: restricting it again would change nothing, and Stripe
            # sends no event for that. Enabled first (its event is delivered with the others).
            world.simulator.store.advance_clock(2)
            sim.complete_account(account)
        events: list[dict[str, Any]] = []
        for change in changes:
            world.simulator.store.advance_clock(2)  # `created` is in seconds: each change is newer
            seen = len(world.simulator.events("account.updated"))
            state = change(account)
            events.extend(
                e.event for e in world.simulator.events("account.updated")[seen:] if _about(e.event, account)
            )
        if len(events) != 2:
            raise SimulationFailed(
                f"expected two account.updated events for {account}, Stripe sent {len(events)}"
            )
        for event in reversed(events):  # the newer handled first, then Stripe's retry of the older
            for _ in range(self.ATTEMPTS):
                if self._deliver(event, world.services()):
                    break
        held = app.payouts.get_profile(creator)
        if held is None or held.payouts_enabled != bool(state.get("payouts_enabled")):
            raise SimulationFailed(f"an older account.updated for {creator} overwrote the newer state")
        if not state.get("payouts_enabled") and step.variant < 30:
            world.simulator.store.advance_clock(2)
            sim.complete_account(account)  # the creator gave Stripe what it asked for

    def _step_grow_shards(self, step: Step) -> None:
        """CREATOR_SHARDS grows in the middle of the run (a redeploy with a higher value): every
        creator's shards above the count their accounts opened with do not exist yet; the
        settlement opens them on its next credit, the chargeback defence and maturing find them."""
        world = self.world
        now = world.settings.creator_shards
        if now >= MOST_CREATOR_SHARDS:
            return
        grown = min(MOST_CREATOR_SHARDS, now + 1 + step.amount % 3)
        world.settings = world.settings.model_copy(update={"creator_shards": grown})
        world.log.append(f"  step {step.index}: CREATOR_SHARDS {now} -> {grown}")

    def _step_dead_letter(self, step: Step) -> None:
        """A settlement batch whose first chunk commits and whose next keeps crashing the function,
        until Lambda gives up on it (the dead-letter queue; its shard moves on past it). Once fixed,
        the whole batch is replayed from its first record under a replay shard id (issue 21's risk):
        every gift of it credited or refunded exactly once, the replay itself meeting faults."""
        world = self.world
        for n in range(2 + step.variant % 4):  # gifts for the batch, whatever was settled before

            def send(app: Services, rng: random.Random, n: int = n) -> None:
                self._gift(app, step, n, rng)

            self._attempt(step, send)
        app = world.quiet_services()
        watermark = app.settlement_repository.watermark(UNIT_SHARD)
        batch = [r for r in unit_stream_records(app) if watermark is None or r.sequence > int(watermark)]
        if len(batch) < 2:
            return
        crashing = CrashingChunks(world.real_client, commits_left=1 + step.variant % 2)
        failing = world.services(crashing)
        for _ in range(3):  # Lambda's retries (bisecting or not), every one crashing on a later chunk
            with suppress(SimulatedCrash):
                self._settlement(failing).settle(UNIT_SHARD, batch)
        dead_letter(app, batch)
        replay = replay_shard_id(UNIT_SHARD, batch[0].sequence_number, batch[-1].sequence_number)
        committed = (1 + step.variant % 2) - crashing.commits_left
        world.log.append(
            f"  step {step.index}: {len(batch)} gifts dead-lettered after {committed} chunk(s), replayed"
        )

        def replay_batch(app: Services, rng: random.Random) -> None:
            if self._settlement(app).settle(replay, batch).failed_from is not None:
                raise Busy("the replay did not finish; it is run again")

        self._attempt(step, replay_batch)

    def _settlement(self, app: Services) -> GiftSettlement:
        """The deployment's settlement, in chunks small enough that the simulation's batches split."""
        return settling_in_chunks_of(app, SMALL_CHUNK_ITEMS)

    # -------------------------------------------------------------------- payouts

    def _step_withdraw(self, step: Step) -> None:
        world = self.world
        creator = world.creators[step.pick % len(world.creators)]
        available = world.quiet_services().wallets.wallet(creator)
        diamonds = int(_field(available, "diamonds_available"))
        if diamonds < 20:
            return
        wanted = max(20, diamonds * (20 + step.amount % 80) // 100)

        def withdraw(app: Services, rng: random.Random) -> None:
            app.creators.withdraw(
                user_id=creator,
                birthdate=BIRTHDATE,
                diamonds=wanted,
                idempotency_key=f"withdraw-{step.index}",
            )

        self._attempt(step, withdraw)

    def _step_payout(self, step: Step) -> None:
        world = self.world

        def batch(app: Services, rng: random.Random) -> None:
            app.payout_batch.mature_due()
            for due in list(app.payout_batch.due()):
                _stripe_fault(world, rng, "/v1/transfers")
                app.payout_batch.pay(due)

        self._attempt(step, batch)

    def _step_reverse(self, step: Step) -> None:
        transfers = [t for t in self.world.simulator.transfers() if not t.get("reversed")]
        if not transfers:
            return
        chosen = transfers[step.pick % len(transfers)]
        left = int(chosen["amount"]) - int(chosen.get("amount_reversed", 0))
        amount = left if step.variant < 50 else max(1, left // 2)
        self.world.simulator.sim.reverse_transfer(str(chosen["id"]), amount=amount)


def _about(event: dict[str, Any], account: str) -> bool:
    return str(event.get("data", {}).get("object", {}).get("id")) == account


def _without_ids(text: str) -> str:
    """Stripe's ids are random; the log of a run compares across replays without them."""
    return re.sub(r"\b[a-z]{2,5}_[A-Za-z0-9]{8,}\b", "<id>", text)


def _field(wallet: Any, name: str) -> Any:
    return wallet[name] if isinstance(wallet, dict) else getattr(wallet, name)


def _is_refusal(error: BaseException) -> bool:
    """A domain answer (4xx) is final, the caller's own limits included (429 rate_limited,
    gift_velocity_limited: the simulated clock does not wait for Retry-After); the store's contention
    (Busy), RetryLater and provider outages are retried."""
    if isinstance(error, RateLimited | GiftVelocityLimited):
        return True
    return isinstance(error, DomainError) and not isinstance(
        error, Busy | PaymentProviderUnavailable | RetryLater
    )


# ------------------------------------------------------------------------------- running


@contextmanager
def backend_table(backend: Backend) -> Iterator[str]:
    """A fresh table for one seed, dropped after it: on DynamoDB Local, or in moto's memory (the
    caller holds moto's mock open, e.g. `with mock_aws():`, once for many seeds).

    The template's keys and indexes, without its stream: the simulation settles gifts from the
    table (settle_from_table, the settlement's own code fed the gift transfers in order), and
    DynamoDB Local recording a stream nobody reads more than doubled its work per seed. The
    stream's consumer is tested on its own (tests/integration/test_stream_source.py)."""
    name = f"sim-{uuid.uuid4().hex[:10]}"
    client = backend.client()
    definition = {k: v for k, v in table_definition().items() if k != "StreamSpecification"}
    client.create_table(TableName=name, **definition)
    try:
        yield name
    finally:
        client.delete_table(TableName=name)
        forget_unit_stream(name)


@dataclass(frozen=True)
class SeedResult:
    seed: int
    steps: int
    report: CheckReport | None
    error: str | None
    log: list[str]
    seconds: float = 0.0  # the seed's own wall time, its table made and dropped included


@dataclass
class Shared:
    """The table and the Stripe a seed runs on (its own, or one a test set up around it)."""

    table: str
    simulator: StripeSimulator
    seen_events: set[str] = field(default_factory=set)


def new_simulator() -> StripeSimulator:
    # Never started: the SDK reaches its WSGI app in-process (InProcessStripe), events wait for us.
    return StripeSimulator(port=0, webhook_secret=WEBHOOK_SECRET, public_url="http://stripe.simulation")


def run_seed(
    seed: int,
    *,
    steps: int = 60,
    backend: Backend | None = None,
    only: Sequence[int] | None = None,
    check_every: int = 1,
    shared: Shared | None = None,
    plan: Sequence[Step] | None = None,
    faulty: bool = True,
) -> SeedResult:
    backend = backend or Backend()
    if shared is None:
        started = time.monotonic()
        with backend_table(backend) as table:
            result = run_seed(
                seed,
                steps=steps,
                backend=backend,
                only=only,
                check_every=check_every,
                shared=Shared(table, new_simulator()),
                plan=plan,
                faulty=faulty,
            )
        return replace(result, seconds=time.monotonic() - started)
    plan = list(plan) if plan is not None else make_plan(seed, steps)
    if only is not None:
        keep = set(only)
        plan = [s for s in plan if s.index in keep]
    rng = random.Random(f"world:{seed}")
    # Short seeds (make test's) stay small; long ones meet more fans and creators.
    fans = [f"fan-{seed}-{n}" for n in range(rng.randint(2, 3 + len(plan) // 10))]
    creators = [f"creator-{seed}-{n}" for n in range(2 + rng.randint(0, len(plan) // 25))]
    world = World(
        seed,
        backend,
        shared.table,
        shared.simulator,
        fans,
        creators,
        seen_events=shared.seen_events,
        faulty=faulty,
    )
    runner = Runner(world, check_every=check_every)
    try:
        report = runner.run(plan)
    except SimulationFailed as failure:
        return SeedResult(seed, len(plan), None, str(failure), world.log)
    return SeedResult(seed, len(plan), report, None, world.log)


def run_seeds(
    seeds: Sequence[int],
    *,
    steps: int,
    backend: Backend,
    check_every: int = 1,
    only: Sequence[int] | None = None,
    workers: int = 1,
) -> Generator[SeedResult, None, None]:
    """Runs seeds, each on its own table (made in a few milliseconds on DynamoDB Local and dropped
    after) and its own Stripe, so that a seed's checks read only its own items and what fails
    replays from its seed alone. `workers` seeds at a time on DynamoDB Local (the JVM works while
    Python waits); results come back in seed order."""

    def one(seed: int) -> SeedResult:
        return run_seed(seed, steps=steps, backend=backend, check_every=check_every, only=only)

    if workers <= 1 or not backend.concurrent:
        yield from map(one, seeds)
        return
    # At most `workers` seeds in flight, so that stopping early (a failure being shortened, Ctrl-C)
    # waits for those alone, not for every seed queued.
    remaining = iter(seeds)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        running = deque(pool.submit(one, seed) for seed in islice(remaining, workers))
        while running:
            result = running.popleft().result()
            for seed in islice(remaining, 1):
                running.append(pool.submit(one, seed))
            yield result


def shorten(seed: int, steps: int, backend: Backend, *, check_every: int = 1, budget: int = 40) -> list[int]:
    """Removes steps (halves, then one at a time) while the seed still fails: the steps to replay."""
    kept = [s.index for s in make_plan(seed, steps)]
    tries = 0
    chunk = max(1, len(kept) // 2)
    while chunk >= 1 and tries < budget:
        removed_any = False
        start = 0
        while start < len(kept) and tries < budget:
            candidate = kept[:start] + kept[start + chunk :]
            tries += 1
            if (
                candidate
                and run_seed(
                    seed, steps=steps, backend=backend, only=candidate, check_every=check_every
                ).error
            ):
                kept = candidate
                removed_any = True
            else:
                start += chunk
        if not removed_any:
            chunk //= 2
    return kept


def diamonds_rate(settings: Settings) -> Fraction:
    return settings.diamond_rate.diamonds_per_coin
