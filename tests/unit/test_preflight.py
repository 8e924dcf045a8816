"""make preflight's decisions that need no account: the deployment's Stripe mode, the secrets the
functions read, and a Cognito issuer's audience and trigger (with Cognito's answers given)."""

import copy
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from devstack.cfn import LocalStackValues
from devstack.preflight import Deployment, Preflight, deployment, key_problem, secrets_read, stripe_live
from devstack.template import ROOT, load_template

POOL = "us-east-1_Ab12Cd34E"
ISSUER = f"https://cognito-idp.us-east-1.amazonaws.com/{POOL}"
TRIGGER = "arn:aws:lambda:us-east-1:123456789012:function:coins-prod-TokenClaimsFunction-abc"


def test_the_mode_is_the_stripe_livemode_its_functions_read_as_each_environment_sets_it() -> None:
    samconfig = ROOT / "samconfig.toml"
    assert (deployment("dev", samconfig=samconfig).live, deployment("prod", samconfig=samconfig).live) == (
        False,
        True,
    )
    assert deployment("prod", samconfig=samconfig, extra={"StripeLivemode": "false"}).live is False
    # Read by coins.config as the functions read it: without the variable a function is in test mode
    template = copy.deepcopy(load_template())
    del template["Globals"]["Function"]["Environment"]["Variables"]["STRIPE_LIVEMODE"]
    assert (
        stripe_live(template, LocalStackValues(template=template, region="us-east-1", stack_name="s"))
        is False
    )


def test_the_secrets_checked_are_those_the_functions_read_with_what_each_holds() -> None:
    read = secrets_read(load_template())

    assert {p: (u.contents, u.readers) for p, u in read.items()} == {
        "StripeCheckoutKeySecretName": ("api_key", ("CheckoutFunction",)),
        "StripeConnectKeySecretName": ("api_key", ("CreatorFunction",)),
        "StripePayoutKeySecretName": ("api_key", ("PayoutWorkerFunction",)),
        "StripeLedgerCheckKeySecretName": ("api_key", ("LedgerCheckerFunction",)),
        "StripeBooksKeySecretName": ("api_key", ("BooksStatementFunction",)),
        "StripeWebhookSecretName": ("signing_secrets", ("PaymentWebhookFunction",)),
    }


@pytest.mark.parametrize(
    ("key", "live", "problem"),
    [
        ("rk_live_x", True, None),
        ("rk_test_x", False, None),
        ("rk_test_x", True, "a test-mode key: this deployment is in Stripe live mode"),
        ("rk_live_x", False, "a live-mode key: this deployment is in Stripe test mode"),
        (
            "sk_live_x",
            True,
            "a secret key, with every permission of the account: use a restricted key (rk_live_...)",
        ),
        ("pk_live_x", True, "not a Stripe API key"),
    ],
)
def test_a_functions_key_must_be_restricted_and_of_the_deployments_mode(
    key: str, live: bool, problem: str | None
) -> None:
    assert key_problem(key, live=live, restricted=True) == problem


class Answers:
    """Cognito's and CloudFormation's answers, as the SDK returns them."""

    def __init__(self, *, clients: set[str], trigger: dict[str, str] | None, outputs: dict[str, str]) -> None:
        self.clients, self.trigger, self.outputs = clients, trigger, outputs

    def describe_user_pool_client(self, UserPoolId: str, ClientId: str) -> dict[str, Any]:
        if UserPoolId != POOL or ClientId not in self.clients:
            raise ClientError({"Error": {"Code": "ResourceNotFoundException"}}, "DescribeUserPoolClient")
        return {"UserPoolClient": {"ClientId": ClientId}}

    def describe_user_pool(self, UserPoolId: str) -> dict[str, Any]:
        config = {"PreTokenGenerationConfig": self.trigger} if self.trigger else {}
        return {"UserPool": {"Id": UserPoolId, "LambdaConfig": config}}

    def describe_stacks(self, StackName: str) -> dict[str, Any]:
        return {
            "Stacks": [{"Outputs": [{"OutputKey": k, "OutputValue": v} for k, v in self.outputs.items()]}]
        }


class Discovery:
    """The pool's OIDC discovery, as Cognito serves it."""

    class Answer:
        def __init__(self, body: dict[str, Any]) -> None:
            self.status_code, self.body = 200, body

        def json(self) -> dict[str, Any]:
            return self.body

    def get(self, url: str, timeout: float) -> "Discovery.Answer":
        if url.endswith("/openid-configuration"):
            return self.Answer({"issuer": ISSUER, "jwks_uri": f"{ISSUER}/.well-known/jwks.json"})
        return self.Answer({"keys": [{"kid": "1", "kty": "RSA"}]})


def prod(**parameters: str) -> Deployment:
    return deployment(
        "prod",
        samconfig=ROOT / "samconfig.toml",
        extra={"JwtIssuer": ISSUER, "JwtAudience": "app-client", **parameters},
    )


def cognito_findings(target: Deployment, answers: Answers) -> dict[str, tuple[str, str]]:
    check = Preflight(
        target,
        secrets=None,
        cognito=answers,
        cloudformation=answers,
        stripe_key=None,
        http=Discovery(),  # type: ignore[arg-type]
    )
    return {f.subject: (f.status, f.detail) for f in check.issuer()}


def test_a_cognito_issuer_with_its_app_client_and_the_stacks_trigger_attached_passes() -> None:
    answers = Answers(
        clients={"app-client"},
        trigger={"LambdaArn": TRIGGER, "LambdaVersion": "V2_0"},
        outputs={"TokenClaimsFunctionArn": TRIGGER},
    )

    found = cognito_findings(prod(CognitoUserPoolId=POOL), answers)

    assert {s: status for s, (status, _) in found.items()} == {
        f"JWT issuer {ISSUER}": "ok",
        "JWT audience app-client": "ok",
        f"pre token generation trigger of {POOL}": "ok",
    }


def test_a_cognito_issuer_without_the_trigger_or_with_another_audience_is_named() -> None:
    v1 = Answers(
        clients=set(),
        trigger={"LambdaArn": TRIGGER, "LambdaVersion": "V1_0"},
        outputs={"TokenClaimsFunctionArn": TRIGGER},
    )

    found = cognito_findings(prod(CognitoUserPoolId=POOL), v1)
    without_pool = cognito_findings(prod(), v1)

    assert found["JWT audience app-client"][0] == "MISSING"
    assert "with V1_0: attach" in found[f"pre token generation trigger of {POOL}"][1]
    assert "CognitoUserPoolId is empty" in without_pool[f"pre token generation trigger of {POOL}"][1]


class Unreachable:
    def get_secret_value(self, SecretId: str) -> dict[str, Any]:
        raise EndpointConnectionError(endpoint_url="https://secretsmanager.us-east-1.amazonaws.com")


def test_an_account_it_cannot_reach_is_reported_per_secret_not_as_a_crash() -> None:
    check = Preflight(prod(), secrets=Unreachable(), cognito=None, cloudformation=None, stripe_key=None)

    found = check.secrets()

    assert len(found) == len(secrets_read(load_template()))  # one line per secret the functions read
    assert {(f.status, f.detail.split(":")[0]) for f in found} == {("MISSING", "cannot be read")}
