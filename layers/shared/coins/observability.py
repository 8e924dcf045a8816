"""The Powertools Logger, Tracer and Metrics every function shares (service and namespace from the env)."""

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger()
tracer = Tracer()
metrics = Metrics()
