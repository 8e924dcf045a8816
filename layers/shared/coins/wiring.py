"""The composition root: each function builds only the services it uses, on first use, once per container.

A service is built the first time a handler asks for it (`services().gifts`), with only what it
needs, and kept for the container's life so warm invocations reuse its clients. Each service's
module is imported inside the property that builds it: the gift function never imports Stripe,
payouts, purchases or their models, and a Stripe function never builds the gift service.
docs/performance.md measures what each function loads at cold start.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import cache, cached_property
from typing import TYPE_CHECKING

from coins.config import Settings

if TYPE_CHECKING:
    from coins.abuse import WriteLimits
    from coins.admin import AdminService, ApprovalPolicy
    from coins.books.athena import AthenaQueries
    from coins.books.exports import BooksExporter, ExportCatalog
    from coins.books.runs import BooksAudit, BooksStatement
    from coins.books.settings import BooksSettings
    from coins.books.store import BooksStore
    from coins.creators import CreatorProfiles
    from coins.gift_funding import GiftFundingReversals
    from coins.gifts import GiftService
    from coins.payout_queue import PayoutQueue
    from coins.payouts import CreatorService, PayoutBatch, PayoutPolicy
    from coins.purchases import PurchaseService
    from coins.refunds import RefundService
    from coins.repository import LedgerRepository
    from coins.repository.boards import BoardRepository
    from coins.repository.changes import ChangeRepository
    from coins.repository.orders import OrderRepository
    from coins.repository.payouts import PayoutRepository
    from coins.repository.settlement import SettlementRepository
    from coins.repository.stripe_events import StripeEventLog
    from coins.rules import PlatformRules
    from coins.settlement import GiftSettlement
    from coins.streams import StreamService
    from coins.stripe_adapter import StripePayments, StripeWebhookVerifier
    from coins.wallets import WalletService
    from coins.webhooks import PaymentEventDispatcher


def utc_now() -> datetime:
    return datetime.now(UTC)


class Services:
    """Every service of the app, each built on first access from the settings (and what a test injects)."""

    def __init__(
        self,
        settings: Settings,
        repository: LedgerRepository | None = None,
        *,
        payments: Callable[[], StripePayments] | None = None,
        webhook_verifier: Callable[[], StripeWebhookVerifier] | None = None,
        clock: Callable[[], datetime] = utc_now,
        rules: PlatformRules | None = None,
        write_limits: WriteLimits | None = None,
        approval: ApprovalPolicy | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self._repository = repository
        self._payments = payments
        self._webhook_verifier = webhook_verifier
        self._rules = rules
        # Abuse limits and the approval policy come from the function's environment unless given
        # (a simulated deployment sets its own).
        self._write_limits = write_limits
        self._approval = approval

    @cached_property
    def rules(self) -> PlatformRules:
        """The platform's age and review rules, read from the environment unless a test injects them."""
        if self._rules is not None:
            return self._rules
        from coins.rules import PlatformRules

        return PlatformRules.from_env()

    @cached_property
    def repository(self) -> LedgerRepository:
        """The ledger's parts (accounts, transfers, gifts, balances, history): each service gets those
        it uses."""
        if self._repository is not None:
            return self._repository
        from coins.repository import LedgerRepository, LedgerTable

        return LedgerRepository(
            LedgerTable(
                self.settings.table_name,
                creator_shards=self.settings.creator_shards,
                system_shards=self.settings.system_shards,
            )
        )

    @cached_property
    def orders(self) -> OrderRepository:
        from coins.repository.orders import OrderRepository

        return OrderRepository(self.settings.table_name, client=self.repository.client)

    @cached_property
    def stripe_events(self) -> StripeEventLog:
        from coins.repository.stripe_events import StripeEventLog

        return StripeEventLog(self.settings.table_name, client=self.repository.client)

    @cached_property
    def payouts(self) -> PayoutRepository:
        from coins.repository.payouts import PayoutRepository

        return PayoutRepository(self.settings.table_name, client=self.repository.client)

    @cached_property
    def payments(self) -> Callable[[], StripePayments]:
        """Stripe is set up on first call: each function reads only the secret it needs (its own
        API key here, the signing secrets in `webhook_verifier`)."""
        if self._payments is not None:
            return self._payments
        settings = self.settings

        @cache
        def stripe_payments() -> StripePayments:
            from coins.config import stripe_api_settings
            from coins.stripe_adapter import StripePayments

            return StripePayments(stripe_api_settings(settings))

        return stripe_payments

    @cached_property
    def webhook_verifier(self) -> Callable[[], StripeWebhookVerifier]:
        if self._webhook_verifier is not None:
            return self._webhook_verifier
        settings = self.settings

        @cache
        def verifier() -> StripeWebhookVerifier:
            from coins.config import stripe_webhook_secrets
            from coins.stripe_adapter import StripeWebhookVerifier

            return StripeWebhookVerifier(stripe_webhook_secrets(settings))

        return verifier

    @cached_property
    def gifts(self) -> GiftService:
        from coins.catalog import gift_catalog
        from coins.gifts import GiftService

        return GiftService(
            self.repository.gifts,
            self.repository.transfers,
            gift_catalog(),
            self.settings.diamond_rate,
            self.clock,
            rules=self.rules,
            new_payer_days=self.settings.new_payer_days,
            limits=self._write_limits,
        )

    @cached_property
    def wallets(self) -> WalletService:
        from coins.wallets import WalletService

        ledger = self.repository
        return WalletService(
            accounts=ledger.accounts, balances=ledger.balances, history=ledger.history, clock=self.clock
        )

    @cached_property
    def admin(self) -> AdminService:
        from coins.admin import AdminService
        from coins.repository.adjustments import AdjustmentRepository

        ledger = self.repository
        return AdminService(
            accounts=ledger.accounts,
            transfers=ledger.transfers,
            balances=ledger.balances,
            adjustments=AdjustmentRepository(self.settings.table_name, client=ledger.client),
            clock=self.clock,
            approval=self._approval,
            refusal_kept_days=self.rules.refusal_kept_days,
        )

    @cached_property
    def creator_profiles(self) -> CreatorProfiles:
        from coins.creators import CreatorProfiles

        return CreatorProfiles(self.repository.accounts, self.rules, self.clock)

    @cached_property
    def streams(self) -> StreamService:
        from coins.repository.streams import StreamRepository
        from coins.streams import StreamService

        return StreamService(
            StreamRepository(self.settings.table_name, client=self.repository.client),
            self.creator_profiles,
            self.rules,
            self.clock,
        )

    @cached_property
    def purchases(self) -> PurchaseService:
        from coins.pricing import price_book
        from coins.purchases import CheckoutUrls, PurchaseService

        ledger = self.repository
        return PurchaseService(
            orders=self.orders,
            accounts=ledger.accounts,
            transfers=ledger.transfers,
            balances=ledger.balances,
            provider=self.payments,
            prices=price_book(),
            urls=CheckoutUrls(self.settings.checkout_success_url, self.settings.checkout_cancel_url),
            clock=self.clock,
            min_age_to_buy=self.rules.min_age_to_buy,
        )

    @cached_property
    def refunds(self) -> RefundService:
        from coins.refunds import RefundService

        ledger = self.repository
        return RefundService(
            orders=self.orders,
            accounts=ledger.accounts,
            transfers=ledger.transfers,
            balances=ledger.balances,
            gift_funding=self.gift_funding,
            clock=self.clock,
        )

    @cached_property
    def gift_funding(self) -> GiftFundingReversals:
        """The chargeback defence: what a refunded or disputed order's gifts gave creators, taken back."""
        from coins.gift_funding import GiftFundingReversals

        ledger = self.repository
        return GiftFundingReversals(
            accounts=ledger.accounts,
            transfers=ledger.transfers,
            balances=ledger.balances,
            history=ledger.history,
            orders=self.orders,
            clock=self.clock,
        )

    @cached_property
    def payout_policy(self) -> PayoutPolicy:
        from coins.payouts import PayoutCurrency, PayoutPolicy

        settings = self.settings
        values = settings.payout_values()
        return PayoutPolicy.for_currencies(
            maturity_days=settings.maturity_days,
            default=PayoutCurrency(
                settings.payout_currency,
                values[settings.payout_currency],
                settings.min_withdrawal_minor,
                settings.daily_withdrawal_cap_minor,
            ),
            diamond_values=values,
            own_limits={
                code: (limits.min, limits.daily_cap) for code, limits in settings.withdrawal_limits.items()
            },
            onboarding_return_url=settings.onboarding_return_url,
            onboarding_refresh_url=settings.onboarding_refresh_url,
        )

    @cached_property
    def creators(self) -> CreatorService:
        from coins.payouts import CreatorService

        ledger = self.repository
        return CreatorService(
            accounts=ledger.accounts,
            transfers=ledger.transfers,
            balances=ledger.balances,
            payouts=self.payouts,
            provider=self.payments,
            policy=self.payout_policy,
            clock=self.clock,
        )

    @cached_property
    def payout_batch(self) -> PayoutBatch:
        from coins.payouts import PayoutBatch

        ledger = self.repository
        return PayoutBatch(
            accounts=ledger.accounts,
            transfers=ledger.transfers,
            balances=ledger.balances,
            payouts=self.payouts,
            provider=self.payments,
            policy=self.payout_policy,
            clock=self.clock,
        )

    @cached_property
    def payout_queue(self) -> PayoutQueue:
        from coins.payout_queue import PayoutQueue

        if not self.settings.payout_queue_url:
            raise RuntimeError("PAYOUT_QUEUE_URL is not set")
        return PayoutQueue(self.settings.payout_queue_url)

    @cached_property
    def settlement_repository(self) -> SettlementRepository:
        from coins.repository.settlement import SettlementRepository

        return SettlementRepository(self.repository.table, self.repository.accounts)

    @cached_property
    def boards(self) -> BoardRepository:
        """The top-gifter boards' items, which the settlement merges once a batch."""
        from coins.repository.boards import BoardRepository

        return BoardRepository(self.repository.table)

    @cached_property
    def settlement(self) -> GiftSettlement:
        from coins.gift_reviews import GiftReviews
        from coins.settlement import GiftSettlement

        return GiftSettlement(
            self.settlement_repository,
            self.boards,
            self.clock,
            GiftReviews(self.settlement_repository, self.rules, self.clock),
            new_payer_hold_days=self.settings.new_payer_maturity_days - self.settings.maturity_days,
        )

    @cached_property
    def changes(self) -> ChangeRepository:
        """The windowed ledger check's reads: what changed in a window, through the change index."""
        from coins.repository.changes import ChangeRepository

        return ChangeRepository(self.settings.table_name, client=self.repository.client)

    @cached_property
    def books_settings(self) -> BooksSettings:
        from coins.books.settings import BooksSettings

        return BooksSettings.from_env()

    @cached_property
    def books_catalog(self) -> ExportCatalog:
        from coins.books.exports import ExportCatalog
        from coins.books.store import books_store
        from coins.repository.exports import ExportRepository

        books = self.books_settings
        return ExportCatalog(
            ExportRepository(books.table_arn, client=self.repository.client), books_store(books.bucket)
        )

    @cached_property
    def books_exporter(self) -> BooksExporter:
        from coins.books.exports import BooksExporter

        books = self.books_settings
        return BooksExporter(self.books_catalog, bucket=books.bucket, full_every=books.full_every)

    def _books_parts(self) -> tuple[ExportCatalog, AthenaQueries, BooksStore]:
        from coins.books.athena import athena_queries

        books = self.books_settings
        return (
            self.books_catalog,
            athena_queries(workgroup=books.workgroup, database=books.database),
            self.books_catalog.store,
        )

    @cached_property
    def books_audit(self) -> BooksAudit:
        from coins.books.runs import BooksAudit

        return BooksAudit(
            *self._books_parts(), diamonds_per_coin=self.settings.diamond_rate.diamonds_per_coin
        )

    @cached_property
    def books_statement(self) -> BooksStatement:
        from coins.books.runs import BooksStatement

        return BooksStatement(
            *self._books_parts(), diamonds_per_coin=self.settings.diamond_rate.diamonds_per_coin
        )

    @cached_property
    def webhooks(self) -> PaymentEventDispatcher:
        from coins.webhooks import PaymentEventDispatcher

        handlers = {
            **self.purchases.event_handlers(),
            **self.refunds.event_handlers(),
            **self.creators.event_handlers(),
        }
        return PaymentEventDispatcher(
            self.stripe_events,
            handlers,
            self.clock,
            state_handlers=self.creators.state_event_handlers(),
            livemode=self.settings.stripe_livemode,
        )


def build_services(
    settings: Settings,
    repository: LedgerRepository | None = None,
    *,
    payments: Callable[[], StripePayments] | None = None,
    webhook_verifier: Callable[[], StripeWebhookVerifier] | None = None,
    clock: Callable[[], datetime] = utc_now,
    rules: PlatformRules | None = None,
    write_limits: WriteLimits | None = None,
    approval: ApprovalPolicy | None = None,
) -> Services:
    """The app's services over these settings; tests inject a repository, a Stripe double, a clock or rules."""
    return Services(
        settings,
        repository,
        payments=payments,
        webhook_verifier=webhook_verifier,
        clock=clock,
        rules=rules,
        write_limits=write_limits,
        approval=approval,
    )


@cache
def services() -> Services:
    """The container's services: each built on first use and kept for the container's life."""
    return build_services(Settings.from_env())
