"""`make preflight` against the local stand-ins: moto's server for AWS, the Stripe simulator for Stripe,
the local gateway's token issuer for OIDC discovery; passing when everything is there, and naming
each thing that is missing or wrong when it is not.
"""

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
import stripe

from devstack.local_aws import LocalAws, aws_client
from devstack.local_env import LOCAL_LIVE_STRIPE_KEY, LOCAL_STRIPE_KEY
from devstack.preflight import handled_events, main
from devstack.stripe_sim.server import StripeSimulator
from devstack.tokens import LOCAL_AUDIENCE

API_URL = "https://abc123.execute-api.us-east-1.amazonaws.com/dev"
WEBHOOK_URL = f"{API_URL}/v1/webhooks/stripe"


@pytest.fixture(scope="module")
def local_aws() -> Iterator[LocalAws]:
    with LocalAws() as aws:
        yield aws


@dataclass
class Account:
    """The AWS account and Stripe account a deploy would meet, built by each test."""

    aws: LocalAws
    stripe_url: str
    issuer: str

    def secret(self, name: str, value: dict[str, Any]) -> None:
        client = aws_client("secretsmanager", self.aws.endpoint_url)
        try:
            client.create_secret(Name=name, SecretString=json.dumps(value))
        except client.exceptions.ResourceExistsException:
            client.put_secret_value(SecretId=name, SecretString=json.dumps(value))

    def forget(self, name: str) -> None:
        aws_client("secretsmanager", self.aws.endpoint_url).delete_secret(
            SecretId=name, ForceDeleteWithoutRecovery=True
        )

    def all_secrets(self, env: str, mode: str) -> None:
        for kind in ("checkout", "connect", "payouts", "ledger-check", "books"):
            self.secret(f"coins-{env}/stripe/{kind}", {"api_key": f"rk_{mode}_{kind}"})
        self.secret(f"coins-{env}/stripe/webhook", {"signing_secrets": ["whsec_platform", "whsec_connect"]})

    def endpoint(
        self,
        events: set[str] | frozenset[str],
        *,
        api_version: str = "",
        connect: bool = False,
        key: str = LOCAL_STRIPE_KEY,
    ) -> None:
        """Registered as docs/deploy.md's curl commands do it."""
        form = [("url", WEBHOOK_URL), ("api_version", api_version or stripe.api_version)]
        form += [("enabled_events[]", event) for event in sorted(events)]
        form += [("connect", "true")] if connect else []
        answer = requests.post(
            f"{self.stripe_url}/v1/webhook_endpoints", auth=(key, ""), data=form, timeout=30
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["secret"].startswith("whsec_")

    def endpoints(self, api_version: str = "", key: str = LOCAL_STRIPE_KEY) -> None:
        platform, connect = handled_events()
        self.endpoint(platform, api_version=api_version, key=key)
        self.endpoint(connect, connect=True, key=key)


@pytest.fixture
def account(
    local_aws: LocalAws, stripe_env: StripeSimulator, gateway: str, monkeypatch: pytest.MonkeyPatch
) -> Account:
    # boto3 and the Stripe SDK reach the local stand-ins through their own settings, as an operator's would
    monkeypatch.setenv("AWS_ENDPOINT_URL", local_aws.endpoint_url)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "local")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "local")
    monkeypatch.setenv("STRIPE_API_BASE", stripe_env.base_url)
    monkeypatch.setenv("STRIPE_API_KEY", LOCAL_STRIPE_KEY)
    return Account(local_aws, stripe_env.base_url, f"{gateway}/local-issuer")


def preflight(account: Account, env: str, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str]:
    code = main(
        [
            "--env",
            env,
            "--api-url",
            API_URL,
            "--parameter-overrides",
            f"JwtIssuer={account.issuer}",
            f"JwtAudience={LOCAL_AUDIENCE}",
            *extra,
        ]
    )
    return code, capsys.readouterr().out


def line(output: str, subject: str) -> str:
    (found,) = [row for row in output.splitlines() if subject in row]
    return found


def test_a_dev_account_with_every_secret_endpoint_and_the_issuer_passes(
    account: Account, capsys: pytest.CaptureFixture[str]
) -> None:
    account.all_secrets("dev", "test")
    account.endpoints()

    code, output = preflight(account, "dev", capsys)

    assert code == 0, output
    assert "MISSING" not in output
    assert "Stripe test mode" in output
    for kind in ("checkout", "connect", "payouts", "ledger-check", "books", "webhook"):
        assert line(output, f"secret coins-dev/stripe/{kind} ").split()[0] == "ok"
    assert line(output, "platform webhook endpoint").split()[0] == "ok"
    assert line(output, "Connect webhook endpoint").split()[0] == "ok"
    assert line(output, "JWT issuer").split()[0] == "ok"


def test_a_prod_account_in_stripe_live_mode_passes(
    account: Account, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given Stripe in live mode (live keys only, livemode: true), prod's rk_live_ keys and its endpoints
    with StripeSimulator(port=0, livemode=True) as live:
        account.stripe_url = live.base_url
        monkeypatch.setenv("STRIPE_API_BASE", live.base_url)
        monkeypatch.setenv("STRIPE_API_KEY", LOCAL_LIVE_STRIPE_KEY)
        account.all_secrets("prod", "live")
        account.endpoints(key=LOCAL_LIVE_STRIPE_KEY)

        code, output = preflight(account, "prod", capsys)

    assert code == 0, output
    assert "Stripe live mode" in output
    assert line(output, "platform webhook endpoint").split()[0] == "ok"
    assert line(output, "secret coins-prod/stripe/ledger-check ").split()[0] == "ok"


def test_each_missing_or_wrong_thing_is_named(account: Account, capsys: pytest.CaptureFixture[str]) -> None:
    # Given the ledger checker's secret never created (as deploy.md once forgot), a live key in dev,
    # a full-access secret key, one signing secret, a platform endpoint one event short and one over,
    # on another API version, and no Connect endpoint
    account.all_secrets("dev", "test")
    account.forget("coins-dev/stripe/ledger-check")
    account.secret("coins-dev/stripe/checkout", {"api_key": "rk_live_checkout"})
    account.secret("coins-dev/stripe/payouts", {"api_key": "sk_test_everything"})
    account.secret("coins-dev/stripe/webhook", {"signing_secrets": ["whsec_platform"]})
    platform, _ = handled_events()
    account.endpoint((platform - {"charge.dispute.funds_reinstated"}) | {"charge.succeeded"})

    code, output = preflight(account, "dev", capsys)

    assert code == 1
    assert "does not exist" in line(output, "secret coins-dev/stripe/ledger-check ")
    assert "a live-mode key" in line(output, "secret coins-dev/stripe/checkout ")
    assert "a secret key" in line(output, "secret coins-dev/stripe/payouts ")
    assert "holds 1 signing secrets" in line(output, "secret coins-dev/stripe/webhook ")
    platform_line = line(output, "platform webhook endpoint")
    assert "lacks charge.dispute.funds_reinstated" in platform_line
    assert "charge.succeeded more" in platform_line
    assert "not registered" in line(output, "Connect webhook endpoint")
    assert line(output, "secret coins-dev/stripe/connect ").split()[0] == "ok"


def test_an_endpoint_on_another_api_version_and_an_issuer_without_discovery_are_refused(
    account: Account, capsys: pytest.CaptureFixture[str], gateway: str
) -> None:
    account.all_secrets("dev", "test")
    account.endpoints(api_version="2026-09-30.endive")
    account.issuer = f"{gateway}/no-such-issuer"

    code, output = preflight(account, "dev", capsys)

    assert code == 1
    assert f"the code's SDK speaks {stripe.api_version}" in line(output, "platform webhook endpoint")
    assert "serves no OIDC discovery" in line(output, "JWT issuer")


def test_prod_wants_live_mode_keys_and_its_own_secrets(
    account: Account, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given prod's secrets created with the test-mode keys of dev, and dev's secrets beside them
    account.all_secrets("dev", "test")
    account.all_secrets("prod", "test")

    code, output = preflight(account, "prod", capsys)

    assert code == 1
    assert "Stripe live mode" in output
    for kind in ("checkout", "connect", "payouts", "ledger-check"):
        assert "a test-mode key: this deployment is in Stripe live mode" in line(
            output, f"secret coins-prod/stripe/{kind} "
        )
    # ... and the operator's own key is refused for the same reason, before Stripe is asked
    assert "STRIPE_API_KEY is a test-mode key" in line(output, "webhook endpoint")
