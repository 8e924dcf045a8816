"""The shared layer: the coins domain, its double-entry ledger and the adapters it talks through.

Dependency rule: the domain modules (ledger, catalog, errors, services) import no handler and no
AWS or Stripe SDK; `repository` is the only module that speaks DynamoDB and `stripe_adapter` the
only one that speaks Stripe; `api` is the HTTP glue the handlers share.
"""
