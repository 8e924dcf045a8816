"""A local Stripe: the subset of Stripe's API this backend uses, built from Stripe's own fixtures.

The production code talks to it with the real `stripe` SDK; only the base address differs.
docs/stripe-simulator.md lists its routes.
"""
