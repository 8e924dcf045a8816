"""A fan's purchase paid on the Stripe simulator, its webhooks delivered to the services or not."""

from coins.payment_events import PaymentEvent
from coins.wiring import Services
from devstack.stripe_sim.server import StripeSimulator


def deliver_events(app: Services, sim: StripeSimulator) -> None:
    """Every event the simulator holds, handled as the webhook would (duplicates are replays)."""
    for stored in sim.events():
        app.webhooks.handle(PaymentEvent.model_validate(stored.event))


def paid_purchase(app: Services, sim: StripeSimulator, fan: str, key: str, *, deliver: bool) -> str:
    """A checkout of 350 coins the fan pays; its session id."""
    opened = app.purchases.open_checkout(
        user_id=fan,
        country="US",
        package_id="coins_350",
        payment_method="card",
        idempotency_key=key,
        birthdate="1990-01-01",
    )
    sim.sim.pay_session(str(opened["session_id"]))
    if deliver:
        deliver_events(app, sim)
    return str(opened["session_id"])
