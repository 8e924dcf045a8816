"""The composition root: builds the services once per cold start from the environment."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache

from coins.abuse import WriteLimits
from coins.admin import AdminService, ApprovalPolicy
from coins.catalog import gift_catalog
from coins.config import Settings, stripe_api_settings, stripe_webhook_secrets
from coins.creators import CreatorProfiles
from coins.gift_reviews import GiftReviews
from coins.gifts import GiftService
from coins.payouts import CreatorService, PayoutBatch, PayoutCurrency, PayoutPolicy
from coins.pricing import price_book
from coins.purchases import CheckoutUrls, PurchaseService
from coins.repository import LedgerRepository
from coins.repository.audit import AuditRepository
from coins.repository.orders import OrderRepository
from coins.repository.payouts import PayoutRepository
from coins.repository.settlement import SettlementRepository
from coins.repository.streams import StreamRepository
from coins.rules import PlatformRules
from coins.settlement import GiftSettlement
from coins.streams import StreamService
from coins.stripe_adapter import StripePayments, StripeWebhookVerifier
from coins.wallets import WalletService
from coins.webhooks import PaymentEventDispatcher


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Services:
    settings: Settings
    repository: LedgerRepository
    orders: OrderRepository
    payouts: PayoutRepository
    gifts: GiftService
    wallets: WalletService
    admin: AdminService
    purchases: PurchaseService
    creators: CreatorService
    payout_batch: PayoutBatch
    webhooks: PaymentEventDispatcher
    payments: Callable[[], StripePayments]
    settlement: GiftSettlement
    rules: PlatformRules
    creator_profiles: CreatorProfiles
    streams: StreamService
    webhook_verifier: Callable[[], StripeWebhookVerifier]
    audit: AuditRepository


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
    """The services over one repository. Rules, abuse limits and the approval policy come from the
    function's environment unless given (a simulated deployment sets its own)."""
    rules = rules or PlatformRules.from_env()
    repo = repository or LedgerRepository(
        settings.table_name,
        creator_shards=settings.creator_shards,
        system_shards=settings.system_shards,
    )
    orders = OrderRepository(settings.table_name, client=repo.client)
    payouts = PayoutRepository(settings.table_name, client=repo.client)
    # Stripe is set up on first use: each function reads only the secret it needs (its own API
    # key, or the webhook's signing secrets).
    stripe_payments = payments or cache(lambda: StripePayments(stripe_api_settings(settings)))
    verifier = webhook_verifier or cache(lambda: StripeWebhookVerifier(stripe_webhook_secrets(settings)))
    purchases = PurchaseService(
        orders=orders,
        ledger=repo,
        provider=stripe_payments,
        prices=price_book(),
        urls=CheckoutUrls(settings.checkout_success_url, settings.checkout_cancel_url),
        clock=clock,
        min_age_to_buy=rules.min_age_to_buy,
    )
    values = settings.payout_values()
    policy = PayoutPolicy.for_currencies(
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
    creators = CreatorService(
        ledger=repo, payouts=payouts, provider=stripe_payments, policy=policy, clock=clock
    )
    profiles = CreatorProfiles(repo, rules, clock)
    settlement_repository = SettlementRepository(repo)
    return Services(
        settings=settings,
        repository=repo,
        orders=orders,
        payouts=payouts,
        gifts=GiftService(
            repo,
            gift_catalog(),
            settings.diamond_rate,
            clock,
            rules=rules,
            new_payer_days=settings.new_payer_days,
            limits=write_limits,
        ),
        wallets=WalletService(repo, clock),
        admin=AdminService(repo, clock, approval=approval, refusal_kept_days=rules.refusal_kept_days),
        purchases=purchases,
        creators=creators,
        payout_batch=PayoutBatch(
            ledger=repo, payouts=payouts, provider=stripe_payments, policy=policy, clock=clock
        ),
        webhooks=PaymentEventDispatcher(
            orders,
            {**purchases.event_handlers(), **creators.event_handlers()},
            clock,
            livemode=settings.stripe_livemode,
        ),
        payments=stripe_payments,
        settlement=GiftSettlement(
            settlement_repository,
            clock,
            GiftReviews(settlement_repository, rules, clock),
            new_payer_hold_days=settings.new_payer_maturity_days - settings.maturity_days,
        ),
        webhook_verifier=verifier,
        rules=rules,
        creator_profiles=profiles,
        streams=StreamService(
            StreamRepository(settings.table_name, client=repo.client), profiles, rules, clock
        ),
        audit=AuditRepository(settings.table_name, client=repo.client),
    )


@cache
def services() -> Services:
    """Built on first use and kept for the container's life (warm invocations reuse clients)."""
    return build_services(Settings.from_env())
