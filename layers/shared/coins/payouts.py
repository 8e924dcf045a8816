"""Creator earnings and payouts: Connect onboarding, maturing diamonds, withdrawals, the payout batch.

Real money leaves the platform here. A withdrawal first reserves diamonds (available -> reserved,
a two-phase transfer); the batch then pays it with one Stripe transfer whose idempotency key and
transfer group are the withdrawal id, and only after Stripe has the transfer does it post the
reservation (reserved -> paid out). A permanent refusal voids the reservation (reserved ->
available). Whatever crashes where, a re-run ends in exactly one transfer, or none and the
diamonds back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_CEILING, ROUND_DOWN, Decimal
from typing import Any, Protocol

from aws_lambda_powertools import Logger

from coins.adulthood import adult_from, is_adult
from coins.creators import payout_account_state
from coins.errors import (
    BelowMinimum,
    Busy,
    IdempotencyKeyReused,
    LimitExceeded,
    NotEligible,
    RetryLater,
)
from coins.ledger import (
    MILLIDIAMONDS_PER_DIAMOND,
    Account,
    AccountKind,
    AccountStatus,
    Leg,
    Transfer,
    TransferCode,
    request_fingerprint,
    to_millidiamonds,
    transfer_id_for,
)
from coins.payment_events import AccountObject, TransferObject
from coins.pricing import CurrencyRules, currency_rules
from coins.repository import iso_timestamp
from coins.repository.ledger.accounts import AccountRepository
from coins.repository.ledger.balances import BalanceRepository
from coins.repository.ledger.records import PendingBucket
from coins.repository.ledger.transfers import TransferRepository
from coins.repository.payouts import (
    CreatorProfile,
    PayoutRepository,
    Withdrawal,
    WithdrawalStateConflict,
    WithdrawalStatus,
)
from coins.repository.payouts import DueWithdrawal as DueWithdrawal  # the payout worker names it from here
from coins.stripe_adapter import ConnectAccount, PaymentProviderError

logger = Logger(child=True)

# Stripe forgets an idempotency key after 24 hours; past this age we look for the transfer first.
IDEMPOTENCY_KEY_SAFE_AGE = timedelta(hours=23)
REVERSAL_ATTEMPTS = 8
BATCH_ACTOR = "payout-batch"
# Stripe's refusals of a transfer that no retry fixes: only these void a withdrawal.
TRANSFER_REFUSALS = frozenset(
    {
        "account_invalid",
        "account_closed",
        "balance_insufficient",
        "insufficient_capabilities_for_transfer",
        "transfers_not_allowed",
    }
)


class PayoutProvider(Protocol):
    def create_connect_account(
        self, *, user_id: str, country: str, idempotency_key: str
    ) -> ConnectAccount: ...

    def create_onboarding_link(self, *, account_id: str, refresh_url: str, return_url: str) -> str: ...

    def create_transfer(
        self,
        *,
        amount: int,
        currency: str,
        destination: str,
        transfer_group: str,
        metadata: Mapping[str, str],
        idempotency_key: str,
    ) -> str: ...

    def find_transfer(self, *, transfer_group: str) -> str | None: ...


@dataclass
class MaturingRun:
    matured: int = 0  # millidiamonds, exact: a day's fractions mature with it
    held_creators: int = 0  # under review or frozen: their diamonds stay pending
    failed_creators: int = 0  # logged; retried by the next run


@dataclass(frozen=True)
class PayoutCurrency:
    """One currency creators are paid in: a diamond's value in it, and its withdrawal limits."""

    code: str
    diamond_value: Decimal  # major units per diamond
    min_withdrawal: int  # minor units
    daily_cap: int  # minor units per UTC day

    @property
    def rules(self) -> CurrencyRules:
        return currency_rules(self.code)

    @property
    def _minor_per_diamond(self) -> Decimal:
        return self.diamond_value * Decimal(10) ** self.rules.decimals

    def value_of(self, millidiamonds: int) -> int:
        """A balance's cash value in minor units, rounded down to an amount Stripe pays (whole yen,
        whole forints, a kwd amount ending in 0): the one place diamonds are rounded."""
        exact = Decimal(millidiamonds) / MILLIDIAMONDS_PER_DIAMOND * self._minor_per_diamond
        step = self.rules.step
        return int((exact / step).to_integral_value(rounding=ROUND_DOWN)) * step

    def diamonds_for(self, amount: int) -> int:
        """The fewest whole diamonds worth `amount` minor units: only whole payable amounts are ever
        reserved; the rest of the balance (odd diamonds, fractions of one) stays available."""
        exact = Decimal(amount) / self._minor_per_diamond
        return int(exact.to_integral_value(rounding=ROUND_CEILING))

    def converted(self, code: str, diamond_value: Decimal) -> PayoutCurrency:
        """`code` with this currency's limits carried over at the rate the diamond values imply
        (the same diamonds): the minimum rounded up, the cap down, each to an amount Stripe pays."""
        other = PayoutCurrency(code, diamond_value, 0, 0)
        rate = other._minor_per_diamond / self._minor_per_diamond
        step = other.rules.step

        def in_steps(amount: int, rounding: str) -> int:
            return int((amount * rate / step).to_integral_value(rounding=rounding)) * step

        minimum = max(in_steps(self.min_withdrawal, ROUND_CEILING), step)
        return PayoutCurrency(
            code, diamond_value, minimum, max(in_steps(self.daily_cap, ROUND_DOWN), minimum)
        )


@dataclass(frozen=True)
class PayoutPolicy:
    """Which currency each creator is paid in, and what a diamond is worth in it.

    A creator is paid in their Connect account's default currency (Stripe's `default_currency`,
    the currency of the country the account is in) when the deployment sets a diamond value for it;
    otherwise, and until Stripe has told us the account's currency, in the default currency.
    """

    maturity_days: int
    default: PayoutCurrency
    onboarding_return_url: str
    onboarding_refresh_url: str
    others: Mapping[str, PayoutCurrency] = field(default_factory=dict)

    @classmethod
    def for_currencies(
        cls,
        *,
        maturity_days: int,
        default: PayoutCurrency,
        diamond_values: Mapping[str, Decimal],
        own_limits: Mapping[str, tuple[int, int]],
        onboarding_return_url: str = "",
        onboarding_refresh_url: str = "",
    ) -> PayoutPolicy:
        """The default currency, and every other one in `diamond_values` with its own limits
        (minimum, daily cap) where `own_limits` sets them, else the default's converted."""
        others: dict[str, PayoutCurrency] = {}
        for code, value in diamond_values.items():
            if code == default.code:
                continue
            if code in own_limits:
                minimum, cap = own_limits[code]
                others[code] = PayoutCurrency(code, value, minimum, cap)
            else:
                others[code] = default.converted(code, value)
        return cls(maturity_days, default, onboarding_return_url, onboarding_refresh_url, others)

    def currency_for(self, connect_currency: str | None) -> PayoutCurrency:
        """The creator's payout currency: their Connect account's where we pay in it, else the default."""
        if connect_currency is not None:
            found = self.others.get(connect_currency.lower())
            if found is not None:
                return found
        return self.default


class _PayoutParticipant:
    """What the creator routes and the batch both work with."""

    def __init__(
        self,
        *,
        accounts: AccountRepository,
        transfers: TransferRepository,
        balances: BalanceRepository,
        payouts: PayoutRepository,
        provider: Callable[[], PayoutProvider],
        policy: PayoutPolicy,
        clock: Callable[[], datetime],
    ) -> None:
        self._accounts = accounts
        self._transfers = transfers
        self._balances = balances
        self._payouts = payouts
        self._provider = provider
        self._policy = policy
        self._clock = clock

    def _transfer(
        self, user_id: str, step: str, key: str, code: TransferCode, leg: Leg, terms: Mapping[str, Any]
    ) -> Transfer:
        # One id per user, step and key: a retried step can never post twice.
        return Transfer(
            id=transfer_id_for(user_id, step, key),
            code=code,
            legs=(leg,),
            initiated_by=BATCH_ACTOR if step != "reserve" else user_id,
            created_at=self._clock(),
            request_hash=request_fingerprint({"step": step, "key": key}),
            terms=terms,
        )


class CreatorService(_PayoutParticipant):
    def onboard(self, *, user_id: str, country: str | None, birthdate: str | None) -> Mapping[str, Any]:
        now = self._clock()
        if not is_adult(birthdate, now.date()):
            raise NotEligible("only creators aged 18 or over can cash out")
        # Recovery point first: the profile exists before Stripe is asked, so a retry finds it.
        profile = self._payouts.get_profile(user_id) or self._payouts.create_profile(
            user_id, country or "US", iso_timestamp(now)
        )
        self._accounts.open_accounts(user_id, iso_timestamp(now))
        account_id = profile.account_id
        try:
            if account_id is None:
                account = self._provider().create_connect_account(
                    user_id=user_id, country=profile.country, idempotency_key=f"connect-{user_id}"
                )
                # Where the account is and what it is paid in: the creator's payout currency.
                attached = self._payouts.attach_account(
                    user_id, account.id, country=account.country, currency=account.default_currency
                )
                account_id = attached.account_id or account.id
            url = self._provider().create_onboarding_link(
                account_id=account_id,
                refresh_url=self._policy.onboarding_refresh_url,
                return_url=self._policy.onboarding_return_url,
            )
        except PaymentProviderError as exc:
            raise RetryLater("Stripe could not set up the payout account; retry") from exc
        return {"account_id": account_id, "onboarding_url": url}

    def payout_currency(self, user_id: str) -> PayoutCurrency:
        """What the creator is paid in now: their Connect account's currency where we pay in it."""
        return self._currency_of(self._payouts.get_profile(user_id))

    def _currency_of(self, profile: CreatorProfile | None) -> PayoutCurrency:
        return self._policy.currency_for(profile.connect_currency if profile is not None else None)

    def earnings(self, user_id: str) -> Mapping[str, Any]:
        wallet = self._balances.get_wallet(user_id)
        profile = self._payouts.get_profile(user_id)
        currency = self._currency_of(profile)
        value = currency.value_of
        return {
            "payout_account": payout_account_state(profile, self._clock().date()),
            "currency": currency.code,
            "currency_decimals": currency.rules.decimals,
            "minimum_withdrawal": currency.min_withdrawal,
            "daily_cap": currency.daily_cap,
            "diamonds": {
                "available": wallet.diamonds_available,
                "pending": wallet.diamonds_pending,
                "reserved": wallet.diamonds_reserved,
            },
            "value": {
                "available": value(wallet.millidiamonds_available),
                "pending": value(wallet.millidiamonds_pending),
                "reserved": value(wallet.millidiamonds_reserved),
            },
            "payouts": [_payout_view(w) for w in self._payouts.withdrawals_of(user_id)],
        }

    def withdraw(
        self, *, user_id: str, birthdate: str | None, diamonds: int, idempotency_key: str
    ) -> Mapping[str, Any]:
        now = self._clock()
        withdrawal_id = transfer_id_for(user_id, "withdrawal", idempotency_key)
        request_hash = request_fingerprint({"diamonds": diamonds})
        existing = self._payouts.get_withdrawal(user_id, withdrawal_id)
        if existing is not None:
            return self._replay(existing, request_hash)
        if not is_adult(birthdate, now.date()):
            raise NotEligible("only creators aged 18 or over can cash out")
        profile = self._payouts.get_profile(user_id)
        if profile is None or profile.account_id is None or not profile.payouts_enabled:
            raise NotEligible("finish payout onboarding first: the payout account cannot receive payouts yet")
        if profile.adult_from is None:
            raise NotEligible("Stripe has not verified the payout account holder's date of birth yet")
        if profile.adult_from > now.date().isoformat():
            raise NotEligible("the payout account holder's verified date of birth is under 18")
        # Priced once, here, in the creator's currency: the amount Stripe is asked to transfer.
        currency = self._policy.currency_for(profile.connect_currency)
        amount = currency.value_of(to_millidiamonds(diamonds))
        if amount < currency.min_withdrawal:
            raise BelowMinimum(
                f"the minimum withdrawal is {currency.min_withdrawal} {currency.code} minor units"
            )
        if amount > currency.daily_cap:
            raise LimitExceeded(
                f"the daily withdrawal cap is {currency.daily_cap} {currency.code} minor units"
            )
        reserved = currency.diamonds_for(amount)  # the odd diamonds that make no whole cent stay available
        withdrawal = Withdrawal(
            withdrawal_id=withdrawal_id,
            user_id=user_id,
            diamonds=reserved,
            amount=amount,
            currency=currency.code,
            status=WithdrawalStatus.RESERVED,
            created_at=iso_timestamp(now),
            day=now.strftime("%Y-%m-%d"),
            account_id=profile.account_id,
            request_hash=request_hash,
        )
        transfer = self._transfer(
            user_id,
            "reserve",
            withdrawal_id,
            TransferCode.WITHDRAWAL,
            Leg(
                Account(user_id, AccountKind.DIAMONDS_AVAILABLE),
                Account(user_id, AccountKind.DIAMONDS_RESERVED),
                to_millidiamonds(reserved),
            ),
            {"diamond_value": str(currency.diamond_value), "currency": currency.code, "amount": amount},
        )
        try:
            outcome = self._transfers.commit_transfer(
                transfer,
                record={"kind": "withdrawal", "user_id": user_id, "withdrawal_id": withdrawal_id},
                details={"withdrawal_id": withdrawal_id, "amount": amount, "currency": currency.code},
                guards=[
                    self._transfers.active_account_guard(user_id),
                    *self._payouts.reservation_guards(
                        withdrawal, daily_cap=currency.daily_cap, legacy_currency=self._policy.default.code
                    ),
                ],
            )
        except WithdrawalStateConflict:
            found = self._payouts.get_withdrawal(user_id, withdrawal_id)
            if found is None:
                raise
            return self._replay(found, request_hash)
        if not outcome.created:
            found = self._payouts.get_withdrawal(user_id, withdrawal_id)
            if found is not None:
                return self._replay(found, request_hash)
        return self._payouts.store_response(user_id, withdrawal_id, _withdrawal_reply(withdrawal))

    def _replay(self, withdrawal: Withdrawal, request_hash: str) -> Mapping[str, Any]:
        if withdrawal.request_hash != request_hash:
            raise IdempotencyKeyReused("this Idempotency-Key was already used with a different request")
        if withdrawal.response is not None:
            return withdrawal.response
        return self._payouts.store_response(
            withdrawal.user_id, withdrawal.withdrawal_id, _withdrawal_reply(withdrawal)
        )

    # ---------------------------------------------------------------- Stripe events

    def event_handlers(self) -> Mapping[str, Callable[[Mapping[str, Any]], str]]:
        # transfer.reversed carries the total reversed so far: any order ends the same (see below).
        return {"transfer.reversed": self._transfer_reversed}

    def state_event_handlers(self) -> Mapping[str, Callable[[Mapping[str, Any], int], str]]:
        return {"account.updated": self._account_updated}

    def _account_updated(self, raw: Mapping[str, Any], created: int) -> str:
        """Takes the account's state from the newest event only (by its `created`).

        Stripe delivers events in any order and retries a failed one for days, so an older "payouts
        enabled" can arrive after a newer "restricted". Each event carries the account's whole state
        when it was sent, and the profile keeps the `created` of the event it holds: an older one is
        acknowledged and changes nothing. Same-second events cannot be ordered: the later delivered
        wins (docs/data-model.md, "Any order of Stripe's events", says why not fetch the account).
        """
        account = AccountObject.model_validate(raw)
        user_id = account.metadata.get("user_id") or self._payouts.user_for_account(account.id)
        if user_id is None:
            return "unknown_account"
        due = tuple((account.requirements or {}).get("currently_due") or ())
        # The age the payouts rely on is the one Stripe verified, not the token's birthdate claim.
        born = account.verified_birthdate()
        adult_on = adult_from(born).isoformat() if born is not None else None
        return self._payouts.update_account_state(
            user_id,
            account.id,
            account.payouts_enabled,
            due,
            adult_from=adult_on,
            country=account.country,
            currency=account.default_currency,
            as_of=created,
        ).value

    def _transfer_reversed(self, raw: Mapping[str, Any]) -> str:
        """Returns the diamonds of the reversed share of a payout, once, however events interleave.

        Each event carries the transfer's total reversed so far; the withdrawal counts what it has
        returned. Two reversals racing each other both read the same count: the loser re-reads and
        returns what is still missing, never takes the winner's write for its own.
        """
        stripe_transfer = TransferObject.model_validate(raw)
        user_id = stripe_transfer.metadata.get("user_id")
        withdrawal_id = stripe_transfer.metadata.get("withdrawal_id") or stripe_transfer.transfer_group
        withdrawal = (
            self._payouts.get_withdrawal(user_id, withdrawal_id) if user_id and withdrawal_id else None
        )
        if withdrawal is None:
            return "unknown_transfer"
        for _ in range(REVERSAL_ATTEMPTS):
            if withdrawal.status == WithdrawalStatus.RESERVED:
                raise RetryLater("the payout has not been posted yet")
            if (
                withdrawal.status not in (WithdrawalStatus.PAID, WithdrawalStatus.REVERSED)
                or withdrawal.transfer_id != stripe_transfer.id
                or withdrawal.account_id != stripe_transfer.destination
            ):
                # Metadata names the withdrawal, but only the transfer we posted, to the account we
                # paid, may return its diamonds.
                logger.error(
                    "transfer reversal does not match its withdrawal: nothing returned",
                    extra={
                        "withdrawal_id": withdrawal.withdrawal_id,
                        "status": withdrawal.status.value,
                        "stripe_transfer": stripe_transfer.id,
                    },
                )
                return "refused_mismatch"
            outcome = self._return_reversed(withdrawal, stripe_transfer)
            if outcome is not None:
                return outcome
            fresh = self._payouts.get_withdrawal(withdrawal.user_id, withdrawal.withdrawal_id)
            if fresh is None:
                raise RuntimeError(f"withdrawal {withdrawal.withdrawal_id} vanished")
            withdrawal = fresh
        raise Busy("the payout's reversals kept racing each other; Stripe will deliver the event again")

    def _return_reversed(self, withdrawal: Withdrawal, stripe_transfer: TransferObject) -> str | None:
        """One attempt; None when another reversal moved the withdrawal first."""
        reversed_now = min(stripe_transfer.amount_reversed, withdrawal.amount)
        if reversed_now <= withdrawal.reversed_amount:
            return "already_returned"
        # Everything reversed returns every reserved diamond; a partial reversal its share, rounded down.
        back = (
            withdrawal.diamonds
            if reversed_now == withdrawal.amount
            else withdrawal.diamonds * reversed_now // withdrawal.amount
        ) - withdrawal.diamonds * withdrawal.reversed_amount // withdrawal.amount
        transfer = self._transfer(
            withdrawal.user_id,
            "reversal",
            f"{withdrawal.withdrawal_id}:{reversed_now}",
            TransferCode.PAYOUT_REVERSED,
            Leg(
                Account.system(AccountKind.DIAMONDS_PAID_OUT),
                Account(withdrawal.user_id, AccountKind.DIAMONDS_AVAILABLE),
                to_millidiamonds(back),
            ),
            {"amount_reversed": reversed_now},
        )
        try:
            outcome = self._transfers.commit_transfer(
                transfer,
                record={"kind": "payout_reversal", "user_id": withdrawal.user_id},
                details={"withdrawal_id": withdrawal.withdrawal_id, "transfer_id": stripe_transfer.id},
                guards=[self._payouts.reversal_guard(withdrawal, reversed_amount=reversed_now)],
            )
        except WithdrawalStateConflict:
            return None
        return "diamonds_returned" if outcome.created else "already_returned"


class PayoutBatch(_PayoutParticipant):
    """The scheduled batch: mature pending diamonds, list what is due, pay each withdrawal once."""

    def mature_due(self) -> MaturingRun:
        """Matures every active creator's due days, one creator at a time.

        A creator under review or frozen keeps their pending diamonds pending (a hold: nothing of
        theirs becomes withdrawable while someone looks). One creator's failure is logged and
        counted, never the end of the run: the others mature and the due payouts are still queued;
        the next run retries that creator. Shards are read up to the most the table was ever written
        with, so diamonds on shards removed from CREATOR_SHARDS still mature.
        """
        now = self._clock()
        last_due_day = (now - timedelta(days=self._policy.maturity_days + 1)).strftime("%Y-%m-%d")
        shards = self._payouts.record_creator_shards(self._balances.creator_shards)
        run = MaturingRun()
        for user_id in self._payouts.creators():
            try:
                if self._accounts.account_status(user_id) not in (None, AccountStatus.ACTIVE):
                    run.held_creators += 1
                    continue
                for bucket in self._balances.pending_buckets(user_id, shards=shards):
                    # A new payer's gifts are keyed to a later day by the settlement (the hold).
                    if bucket.day <= last_due_day:
                        run.matured += self._mature(bucket)
            except Exception:
                logger.exception("maturing a creator's diamonds failed", extra={"user_id": user_id})
                run.failed_creators += 1
        return run

    def _mature(self, bucket: PendingBucket) -> int:
        transfer = self._transfer(
            bucket.user_id,
            "mature",
            f"{bucket.shard}:{bucket.day}",
            TransferCode.MATURATION,
            Leg(
                Account(bucket.user_id, AccountKind.DIAMONDS_PENDING),
                Account(bucket.user_id, AccountKind.DIAMONDS_AVAILABLE),
                bucket.diamonds,
            ),
            {"earned_on": bucket.day, "maturity_days": self._policy.maturity_days},
        )
        outcome = self._transfers.commit_transfer(
            transfer,
            record={"kind": "maturation", "user_id": bucket.user_id},
            details={"earned_on": bucket.day},
            pending_bucket=bucket,
        )
        return bucket.diamonds if outcome.created else 0

    def due(self) -> Iterator[DueWithdrawal]:
        return self._payouts.due_withdrawals()

    def pay(self, due: DueWithdrawal) -> str:
        """Pays one withdrawal. Raises PaymentProviderError when it cannot know or finish the payout.

        The reservation is voided (diamonds back, the day's cap released) only when Stripe
        explicitly refused the transfer for a reason of the destination or the balance, and looking
        the transfer up by its group finds none: an earlier attempt whose answer was lost may have
        paid it. Anything else (an outage, a rotated key, an unknown answer) leaves it reserved for
        the next attempt, and SQS takes the message to its dead-letter queue if that never ends.
        """
        withdrawal = self._payouts.get_withdrawal(due.user_id, due.withdrawal_id)
        if withdrawal is None or withdrawal.status != WithdrawalStatus.RESERVED:
            return "already_settled"
        if self._accounts.account_status(withdrawal.user_id) not in (None, AccountStatus.ACTIVE):
            # Frozen or under review since it was reserved: no money leaves while someone looks.
            # It stays reserved and due, so the first batch after the account is cleared pays it.
            logger.warning("payout held: the account is not active", extra={"user_id": withdrawal.user_id})
            return "held"
        provider = self._provider()
        created = datetime.strptime(withdrawal.created_at, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
            tzinfo=self._clock().tzinfo
        )
        try:
            stripe_transfer: str | None = None
            if self._clock() - created >= IDEMPOTENCY_KEY_SAFE_AGE:
                stripe_transfer = provider.find_transfer(transfer_group=withdrawal.withdrawal_id)
            if stripe_transfer is None:
                stripe_transfer = provider.create_transfer(
                    amount=withdrawal.amount,
                    currency=withdrawal.currency,
                    destination=withdrawal.account_id,
                    transfer_group=withdrawal.withdrawal_id,
                    metadata={"withdrawal_id": withdrawal.withdrawal_id, "user_id": withdrawal.user_id},
                    idempotency_key=withdrawal.withdrawal_id,
                )
        except PaymentProviderError as exc:
            if not (exc.refused and exc.code in TRANSFER_REFUSALS):
                raise
            made_before = provider.find_transfer(transfer_group=withdrawal.withdrawal_id)
            if made_before is not None:
                return self._post(withdrawal, made_before)
            return self._void(withdrawal, exc.code or str(exc))
        return self._post(withdrawal, stripe_transfer)

    def _post(self, withdrawal: Withdrawal, stripe_transfer: str) -> str:
        transfer = self._transfer(
            withdrawal.user_id,
            "payout",
            withdrawal.withdrawal_id,
            TransferCode.PAYOUT,
            Leg(
                Account(withdrawal.user_id, AccountKind.DIAMONDS_RESERVED),
                Account.system(AccountKind.DIAMONDS_PAID_OUT),
                to_millidiamonds(withdrawal.diamonds),
            ),
            {
                "stripe_transfer": stripe_transfer,
                "amount": withdrawal.amount,
                "currency": withdrawal.currency,
            },
        )
        try:
            self._transfers.commit_transfer(
                transfer,
                record={"kind": "payout", "user_id": withdrawal.user_id},
                details={"withdrawal_id": withdrawal.withdrawal_id, "stripe_transfer": stripe_transfer},
                guards=[
                    self._payouts.settle_guard(
                        withdrawal,
                        allowed_from=WithdrawalStatus.RESERVED,
                        to=WithdrawalStatus.PAID,
                        sets={"transfer_id": stripe_transfer, "paid_at": iso_timestamp(self._clock())},
                    )
                ],
            )
        except WithdrawalStateConflict:
            return "already_settled"
        return "paid"

    def _void(self, withdrawal: Withdrawal, reason: str) -> str:
        transfer = self._transfer(
            withdrawal.user_id,
            "void",
            withdrawal.withdrawal_id,
            TransferCode.PAYOUT_VOIDED,
            Leg(
                Account(withdrawal.user_id, AccountKind.DIAMONDS_RESERVED),
                Account(withdrawal.user_id, AccountKind.DIAMONDS_AVAILABLE),
                to_millidiamonds(withdrawal.diamonds),
            ),
            {"reason": reason},
        )
        logger.warning("payout refused by Stripe: diamonds returned", extra={"reason": reason})
        try:
            self._transfers.commit_transfer(
                transfer,
                record={"kind": "payout_voided", "user_id": withdrawal.user_id},
                details={"withdrawal_id": withdrawal.withdrawal_id, "reason": reason},
                guards=[
                    self._payouts.settle_guard(
                        withdrawal,
                        allowed_from=WithdrawalStatus.RESERVED,
                        to=WithdrawalStatus.FAILED,
                        sets={"failure_reason": reason},
                    ),
                    self._payouts.release_daily_cap_guard(withdrawal),
                ],
            )
        except WithdrawalStateConflict:
            return "already_settled"
        return "failed"


def _withdrawal_reply(withdrawal: Withdrawal) -> dict[str, Any]:
    return {
        "withdrawal_id": withdrawal.withdrawal_id,
        "status": withdrawal.status.value,
        "diamonds": withdrawal.diamonds,
        "amount": withdrawal.amount,
        "currency": withdrawal.currency,
    }


def _payout_view(withdrawal: Withdrawal) -> dict[str, Any]:
    return {
        **_withdrawal_reply(withdrawal),
        "created_at": withdrawal.created_at,
        "transfer_id": withdrawal.transfer_id,
        "failure_reason": withdrawal.failure_reason,
    }
