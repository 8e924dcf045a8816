"""Helpers the test tiers share: API Gateway events, a Lambda context, and a client for the handlers."""
