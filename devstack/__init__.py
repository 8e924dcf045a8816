"""The local stack: DynamoDB Local, the local API gateway, local JWTs and the Stripe simulator.

Development and test tooling only; nothing here is deployed. Its modules stand in floors, each
importing only what is below it, inside functions too (tests/unit/test_import_rules.py holds it):
the template model (template.py) on the ground; IAM's policies and requests, the local tokens and
DynamoDB Local above it; each function's environment (local_env.py), its permission check
(permissions.py) and its processes (runtime.py); the template deployed on them (deployment.py);
handlers called in the tests' own process (in_process.py); the event sources, the gateway and the
commands on top.
"""
