"""What the functions log, read as CloudWatch would get it: requests run through the real handlers,
every line they log collected in the Powertools JSON format Lambda prints.

Each line of a request carries its correlation id (API Gateway's request id, also in the access
log); none carries the caller's token, a card detail or the Stripe payload."""

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from coins.config import Settings
from coins.observability import logger
from coins.wiring import Services, build_services
from devstack.template import load_template, resources
from tests.support.apigw import HandlerClient
from tests.support.fakes import FakeCheckoutProvider
from tests.support.stripe_events import WEBHOOK_SECRET, charge_refunded, session_event, sign

# Stand-ins distinct enough that finding one anywhere in the log is never a coincidence.
TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJmYW4tMSJ9.c2lnbmF0dXJlLW9mLWEtcmVhbC10b2tlbg"
CARD_FINGERPRINT = "FPxq93LogTestZ"
CARD_HOLDER = "Jenny Logtest-Rosen"
CARD_EMAIL = "jenny.logtest@example.com"


class CollectedLog(logging.Handler):
    """Formats each record with the Powertools formatter, as the function's stdout would show it."""

    def __init__(self) -> None:
        super().__init__()
        self.stream = io.StringIO()
        self.setFormatter(logger.registered_formatter)

    def emit(self, record: logging.LogRecord) -> None:
        self.stream.write(self.format(record) + "\n")

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stream.getvalue().splitlines()]


# The level the deployed functions log at.
DEPLOYED_LEVEL = load_template()["Globals"]["Function"]["Environment"]["Variables"]["POWERTOOLS_LOG_LEVEL"]


@pytest.fixture
def log(caplog: pytest.LogCaptureFixture) -> Iterator[CollectedLog]:
    collected = CollectedLog()
    level = logger.log_level
    logging.getLogger(logger.name).addHandler(collected)
    logger.setLevel(DEPLOYED_LEVEL)
    caplog.set_level(DEPLOYED_LEVEL)  # every other library's records too (stripe, botocore, ...)
    try:
        yield collected
    finally:
        logging.getLogger(logger.name).removeHandler(collected)
        logger.setLevel(level)


@pytest.fixture(autouse=True)
def stripe_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRIPE_API_KEY", "sk_test_logging")
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", WEBHOOK_SECRET)
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRETS", WEBHOOK_SECRET)


@pytest.fixture
def shop(api: HandlerClient) -> Services:
    return build_services(Settings.from_env(), payments=lambda: FakeCheckoutProvider())  # type: ignore[arg-type,return-value]


def with_card_details(event: dict[str, Any]) -> dict[str, Any]:
    charge = event["data"]["object"]
    charge["payment_method_details"]["card"]["fingerprint"] = CARD_FINGERPRINT
    charge["billing_details"]["name"] = CARD_HOLDER
    charge["billing_details"]["email"] = CARD_EMAIL
    return event


def call(api: HandlerClient, method: str, path: str, **kwargs: Any) -> str:
    """Calls the route as API Gateway would, bearer token included; returns its request id."""
    headers = {"authorization": f"Bearer {TOKEN}", **kwargs.pop("headers", {})}
    request_ids: list[str] = []
    original = api._handler_for

    def recording_handler(m: str, route: str) -> Any:
        handler = original(m, route)

        def run(event: dict[str, Any], context: Any) -> Any:
            request_ids.append(event["requestContext"]["requestId"])
            return handler(event, context)

        return run

    api._handler_for = recording_handler  # type: ignore[method-assign,assignment]
    try:
        api.call(method, path, headers=headers, **kwargs)
    finally:
        api._handler_for = original  # type: ignore[method-assign]
    return request_ids[0]


def everything_logged(
    log: CollectedLog, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> str:
    captured = capsys.readouterr()
    others = "\n".join(f"{r.name} {r.getMessage()} {r.__dict__}" for r in caplog.records)
    return "\n".join([log.stream.getvalue(), others, captured.out, captured.err])


def test_a_purchase_and_its_refund_log_no_token_card_detail_or_payload(
    api: HandlerClient,
    shop: Services,
    log: CollectedLog,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given a fan with coins who bought a package, paid by card
    grant_id = call(
        api,
        "POST",
        "/v1/admin/adjustments",
        sub="admin-1",
        groups=("admins",),
        body={"user_id": "fan-1", "unit": "coins", "amount": 50, "reason": "welcome"},
        headers={"Idempotency-Key": "grant-1"},
    )
    order = shop.purchases.open_checkout(
        user_id="fan-1",
        country="US",
        birthdate="1990-01-01",
        package_id="coins_700",
        payment_method="card",
        idempotency_key="o-1",
    )
    paid = session_event("checkout.session.completed", order_id=order["order_id"], amount=999, currency="usd")
    refunded = with_card_details(
        charge_refunded(order_id=order["order_id"], amount=999, refunded=999, currency="usd")
    )
    payloads = [json.dumps(paid), json.dumps(refunded)]
    signatures = [sign(p) for p in payloads]

    # When the fan gifts, reads the wallet, and Stripe confirms the payment, then refunds it
    request_ids = [
        grant_id,
        call(
            api,
            "POST",
            "/v1/gifts",
            sub="fan-1",
            body={"creator_id": "admin-1", "gift_id": "rose", "quantity": 1, "stream_id": "live-1"},
            headers={"Idempotency-Key": "gift-1"},
        ),
        call(api, "GET", "/v1/wallet/transactions", sub="fan-1"),
        *[
            call(
                api,
                "POST",
                "/v1/webhooks/stripe",
                sub=None,
                raw_body=payload,
                headers={"Stripe-Signature": signature},
            )
            for payload, signature in zip(payloads, signatures, strict=True)
        ],
    ]

    # Then the requests were logged (the webhook says what each event did) ...
    lines = log.lines()
    handled = [line for line in lines if line.get("message") == "stripe event handled"]
    assert [line["outcome"] for line in handled][-2:] == ["credited", "clawed_back"]
    # ... each line under its own request's correlation id
    assert all(line.get("correlation_id") in request_ids for line in lines), lines
    assert {line["correlation_id"] for line in handled} == set(request_ids[-2:])
    # ... and nothing logged anywhere holds the token, a card detail, the payload or its signature
    logged = everything_logged(log, caplog, capsys)
    for secret in (TOKEN, CARD_FINGERPRINT, CARD_HOLDER, CARD_EMAIL, WEBHOOK_SECRET, *payloads, *signatures):
        assert secret not in logged
    assert '"payment_method_details"' not in logged
    assert '"billing_details"' not in logged


def test_a_refused_webhook_is_logged_as_the_metric_filter_expects(
    api: HandlerClient,
    log: CollectedLog,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given an event signed with another secret
    payload = json.dumps(
        with_card_details(charge_refunded(order_id="o-x", amount=1, refunded=1, currency="usd"))
    )
    signature = sign(payload, secret="whsec_someone_else")
    # When it reaches the webhook
    request_id = call(
        api,
        "POST",
        "/v1/webhooks/stripe",
        sub=None,
        raw_body=payload,
        headers={"Stripe-Signature": signature},
    )
    # Then the refusal is logged under the request's correlation id, in the form the template's
    # metric filter counts (WebhookSignatureRefused), and without the payload or its signature
    pattern = resources()["WebhookSignatureRefusedMetricFilter"]["Properties"]["FilterPattern"]
    message = pattern.split('$.message = "', 1)[1].split('"', 1)[0]
    refused = [line for line in log.lines() if line.get("message") == message]
    assert len(refused) == 1
    assert refused[0]["correlation_id"] == request_id
    assert refused[0]["service"] == "coins"  # the metric filter's dimension
    logged = everything_logged(log, caplog, capsys)
    for secret in (payload, signature, CARD_FINGERPRINT, CARD_HOLDER, TOKEN):
        assert secret not in logged
