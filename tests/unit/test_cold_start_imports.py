"""What a function loads at cold start: only what its own routes use (docs/performance.md).

Each case is a fresh process that imports the handler as Lambda does and builds the services its
handlers use (bench/cold_child.py), then reports which heavy modules it loaded.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.coldstart import services_used
from devstack.template import ROOT, functions

CHILD = ROOT / "bench" / "cold_child.py"
NOT_ON_THE_GIFT_PATH = (
    "stripe",
    "aws_xray_sdk",
    "aws_lambda_powertools.utilities.parameters",
    "coins.payouts",
    "coins.purchases",
    "coins.stripe_adapter",
    "coins.payment_events",
    "coins.admin",
    "coins.wallets",
)


def cold_start(logical_id: str) -> dict[str, bool]:
    code_dir: Path = ROOT / functions()[logical_id]["CodeUri"]
    env = {
        **os.environ,
        "TABLE_NAME": "coins-unit",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_LAMBDA_FUNCTION_NAME": logical_id,
        "LAMBDA_TASK_ROOT": str(code_dir),
        "PAYOUT_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/payouts",
        "STRIPE_API_KEY": "sk_test_unit",
        "STRIPE_WEBHOOK_SECRETS": "whsec_unit",
    }
    env.pop("POWERTOOLS_TRACE_DISABLED", None)  # as deployed
    attrs = ",".join(services_used(code_dir / "app.py"))
    done = subprocess.run(
        [sys.executable, str(CHILD), "function", str(code_dir), attrs],
        env=env,
        cwd=code_dir,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    loaded: dict[str, bool] = json.loads(done.stdout.strip().splitlines()[-1])["loaded"]
    return loaded


def test_the_gift_function_loads_no_stripe_tracing_sdk_payouts_or_other_routes_code() -> None:
    loaded = cold_start("GiftSendFunction")

    assert loaded["coins.gifts"]
    assert [m for m in NOT_ON_THE_GIFT_PATH if loaded[m]] == []


@pytest.mark.parametrize("logical_id", ["WalletFunction", "PaymentWebhookFunction"])
def test_no_function_loads_the_x_ray_sdk(logical_id: str) -> None:
    loaded = cold_start(logical_id)

    assert not loaded["aws_xray_sdk"]


def test_the_ledger_checker_loads_stripe_to_reconcile_but_no_route_service_or_tracing_sdk() -> None:
    # Given the scheduled ledger checker, which reads what changed in its window and reconciles it
    # with Stripe
    loaded = cold_start("LedgerCheckerFunction")

    # Then its cold start builds the Stripe client it reconciles with, and nothing of the routes
    assert loaded["stripe"]
    other_routes = ("coins.gifts", "coins.payouts", "coins.purchases", "coins.admin", "coins.wallets")
    assert [m for m in (*other_routes, "aws_xray_sdk") if loaded[m]] == []
    assert sorted(services_used(ROOT / "functions" / "ledger_checker" / "app.py")) == [
        "changes",
        "payments()",
        "settings",
    ]


def test_the_services_a_handler_uses_are_read_from_its_source() -> None:
    used = services_used(ROOT / "functions" / "payment_webhook" / "app.py")

    assert sorted(used) == ["webhook_verifier()", "webhooks"]


def test_the_cognito_trigger_loads_no_service_stripe_or_tracing_sdk() -> None:
    # Cognito waits 5 seconds for it at every sign-in, cold starts included.
    loaded = cold_start("TokenClaimsFunction")

    assert [m for m, present in loaded.items() if present] == []
    assert services_used(ROOT / "functions" / "token_claims" / "app.py") == []
