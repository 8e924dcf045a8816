"""The composition root: builds the services once per cold start from the environment."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache

from coins.admin import AdminService
from coins.catalog import gift_catalog
from coins.config import Settings
from coins.gifts import GiftService
from coins.repository import LedgerRepository
from coins.wallets import WalletService


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Services:
    settings: Settings
    repository: LedgerRepository
    gifts: GiftService
    wallets: WalletService
    admin: AdminService


def build_services(settings: Settings, repository: LedgerRepository | None = None) -> Services:
    repo = repository or LedgerRepository(
        settings.table_name,
        creator_shards=settings.creator_shards,
        system_shards=settings.system_shards,
    )
    return Services(
        settings=settings,
        repository=repo,
        gifts=GiftService(repo, gift_catalog(), settings.diamond_rate, utc_now),
        wallets=WalletService(repo, utc_now),
        admin=AdminService(repo, utc_now),
    )


@cache
def services() -> Services:
    """Built on first use and kept for the container's life (warm invocations reuse clients)."""
    return build_services(Settings.from_env())
