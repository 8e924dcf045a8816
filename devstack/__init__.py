"""The local stack: DynamoDB Local, the local API gateway, local JWTs and the Stripe simulator.

Development and test tooling only; nothing here is deployed.
"""
