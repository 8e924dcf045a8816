"""Creators going live through the services, for tests that send gifts without the HTTP layer."""

from coins.ledger import transfer_id_for
from coins.wiring import Services

ADULT = "1990-01-01"


def go_live(app: Services, creator: str, *, key: str = "live") -> str:
    """The creator opens a wallet, becomes a creator and starts a live stream; returns its id."""
    app.wallets.wallet(creator)
    app.creator_profiles.become_creator(user_id=creator, birthdate=ADULT)
    return str(app.streams.start(creator_id=creator, title=None, idempotency_key=key)["stream_id"])


def live_stream_of(creator: str, *, key: str = "live") -> str:
    """The id go_live gave the creator's stream (ids are made from the creator and the key)."""
    return transfer_id_for(creator, "stream", key)
