"""A local Stripe: the subset of Stripe's API this backend uses, built from Stripe's own fixtures.

The production code talks to it with the real `stripe` SDK; only the base address differs.
docs/stripe-simulator.md lists its routes. Modules by concern: forms and params (decoding and
checking parameters), objects (resources from the fixtures), store (state, clock, idempotency),
simulation (what happens, and the events it emits), webhooks and signing (delivery), api, pages
and controls (the HTTP routes), app (WSGI) and server (threads, lifecycle).
"""

from devstack.stripe_sim.server import StripeSimulator

__all__ = ["StripeSimulator"]
