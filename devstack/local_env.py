"""What each function gets locally: template.yaml's environment and resources, on the local services.

Deployed, a function's environment is Globals.Function.Environment merged with its own, parameters
and `!Ref`s resolved by CloudFormation, plus the variables the Lambda runtime sets. Locally the same
template values resolve to the local stand-ins (DynamoDB Local's table, the local AWS endpoint's
queue and secrets), and the only additions are the local services' addresses. So a function that
reads a variable or a secret its template entry does not give it fails locally as it would deployed.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from devstack.cfn import LOCAL_ACCOUNT, LOCAL_STREAM_LABEL, LocalResource, LocalStackValues
from devstack.dynamodb_local import LOCAL_KEY, LOCAL_REGION
from devstack.template import ROOT, TEMPLATE_PATH, FunctionSpec, function_specs, load_template, resources
from devstack.tokens import LOCAL_AUDIENCE, LOCAL_ISSUER

LOCAL_STRIPE_KEY = "sk_test_local"
LOCAL_LIVE_STRIPE_KEY = "sk_live_local"  # the simulator in live mode (`make dev LIVEMODE=1`)
LOCAL_WEBHOOK_SECRET = "whsec_local"
DEFAULT_API_URL = "http://127.0.0.1:3000"
DEFAULT_DYNAMODB_URL = "http://127.0.0.1:8000"
DEFAULT_STRIPE_URL = "http://127.0.0.1:12111"
DEFAULT_AWS_URL = "http://127.0.0.1:12112"
DEFAULT_TABLE = "coins-local"
LOCAL_STACK_NAME = "coins-local"

# What the local Secrets Manager holds for each secret parameter of the template: restricted keys
# as Stripe issues them per function (the simulator takes any rk_test_ key), and the signing secret.
LOCAL_SECRETS: dict[str, dict[str, Any]] = {
    "StripeCheckoutKeySecretName": {"api_key": "rk_test_local_checkout"},
    "StripeConnectKeySecretName": {"api_key": "rk_test_local_connect"},
    "StripePayoutKeySecretName": {"api_key": "rk_test_local_payouts"},
    "StripeLedgerCheckKeySecretName": {"api_key": "rk_test_local_ledger_check"},
    "StripeBooksKeySecretName": {"api_key": "rk_test_local_books"},
    "StripeWebhookSecretName": {"signing_secrets": [LOCAL_WEBHOOK_SECRET]},
}


def live_stripe_secrets() -> dict[str, dict[str, Any]]:
    """`make dev LIVEMODE=1`: the same secrets with live-mode keys (rk_live_...), as a prod stack has."""
    return {
        name: {**value, "api_key": str(value["api_key"]).replace("_test_", "_live_", 1)}
        if "api_key" in value
        else dict(value)
        for name, value in LOCAL_SECRETS.items()
    }


def real_stripe_secrets(env: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """`make dev STRIPE=real`: the developer's test-mode key for every key secret, their signing secrets."""
    signing = [
        s for s in env.get("STRIPE_WEBHOOK_SECRETS", env.get("STRIPE_WEBHOOK_SECRET", "")).split(",") if s
    ]
    return {
        name: {"signing_secrets": signing}
        if "signing_secrets" in value
        else {"api_key": env["STRIPE_API_KEY"]}
        for name, value in LOCAL_SECRETS.items()
    }


@dataclass(frozen=True)
class LocalServices:
    """Where the local stand-ins of the template's resources live."""

    table: str
    dynamodb_url: str
    api_url: str
    stripe_url: str | None  # None: Stripe itself
    aws_url: str | None  # the local AWS endpoint (Secrets Manager, SQS); None: not running
    secret_arns: Mapping[str, str] = field(default_factory=dict)  # secret name -> ARN on aws_url
    region: str = LOCAL_REGION
    stack_name: str = LOCAL_STACK_NAME
    stripe_livemode: bool = False  # the StripeLivemode parameter: live keys and events only


def local_parameters(services: LocalServices) -> dict[str, str]:
    """Parameter values for the local stack; the others keep their defaults."""
    api = services.api_url
    return {
        "StageName": "local",
        "JwtIssuer": LOCAL_ISSUER,
        "JwtAudience": LOCAL_AUDIENCE,
        "CheckoutSuccessUrl": f"{api}/checkout/success?session_id={{CHECKOUT_SESSION_ID}}",
        "CheckoutCancelUrl": f"{api}/checkout/cancelled",
        "OnboardingReturnUrl": f"{api}/creator/onboarding/done",
        "OnboardingRefreshUrl": f"{api}/creator/onboarding/retry",
        "StripeLivemode": "true" if services.stripe_livemode else "false",
    }


def queue_name(logical_id: str, properties: Mapping[str, Any], values: LocalStackValues) -> str:
    declared = properties.get("QueueName")
    return str(values.resolve(declared)) if declared else f"{values.stack_name}-{logical_id}"


def local_resource(kind: str, ref: str, region: str) -> LocalResource:
    """A resource's local stand-in from what `!Ref` gives for it (a table name, a queue URL, ...)."""
    account = LOCAL_ACCOUNT
    if kind == "AWS::DynamoDB::Table":
        arn = f"arn:aws:dynamodb:{region}:{account}:table/{ref}"
        return LocalResource(ref, {"Arn": arn, "StreamArn": f"{arn}/stream/{LOCAL_STREAM_LABEL}"})
    if kind == "AWS::SQS::Queue":
        name = ref.rstrip("/").rsplit("/", 1)[-1]
        return LocalResource(
            ref, {"Arn": f"arn:aws:sqs:{region}:{account}:{name}", "QueueName": name, "QueueUrl": ref}
        )
    if kind == "AWS::Events::EventBus":
        return LocalResource(ref, {"Arn": f"arn:aws:events:{region}:{account}:event-bus/{ref}", "Name": ref})
    if kind == "AWS::Serverless::Function":
        return LocalResource(ref, {"Arn": f"arn:aws:lambda:{region}:{account}:function:{ref}"})
    if kind == "AWS::S3::Bucket":  # S3's ARNs name no region or account
        return LocalResource(ref, {"Arn": f"arn:aws:s3:::{ref}", "DomainName": f"{ref}.s3.amazonaws.com"})
    if kind in ("AWS::Athena::WorkGroup", "AWS::Glue::Database"):
        return LocalResource(ref, {})
    raise ValueError(f"no local stand-in for {kind}")


def stack_values(services: LocalServices, template: dict[str, Any] | None = None) -> LocalStackValues:
    """The template's parameters and resources as the local stack deploys them."""
    tpl = template or load_template()
    values = LocalStackValues(template=tpl, region=services.region, stack_name=services.stack_name)
    values.parameters.update(
        {k: v for k, v in local_parameters(services).items() if k in tpl.get("Parameters", {})}
    )
    for logical_id, resource in resources(tpl).items():
        kind, props = str(resource.get("Type")), resource.get("Properties", {})
        if kind == "AWS::DynamoDB::Table":
            ref = services.table
        elif kind == "AWS::SQS::Queue":
            ref = f"{services.aws_url or DEFAULT_AWS_URL}/{LOCAL_ACCOUNT}/{queue_name(logical_id, props, values)}"
        elif kind == "AWS::Events::EventBus":
            ref = str(values.resolve(props.get("Name", f"{services.stack_name}-{logical_id}")))
        elif kind == "AWS::Serverless::Function":
            ref = logical_id
        elif kind == "AWS::S3::Bucket":  # bucket names are lower case
            ref = f"{services.stack_name}-{logical_id}".lower()
        elif kind in ("AWS::Athena::WorkGroup", "AWS::Glue::Database"):
            ref = str(values.resolve(props.get("Name") or props.get("DatabaseInput", {}).get("Name")))
        else:
            continue
        values.resources[logical_id] = local_resource(kind, ref, services.region)
    return values


def values_from_environment(
    spec: FunctionSpec, env: Mapping[str, str], template: dict[str, Any]
) -> LocalStackValues:
    """In-process (tests): the resources this process's environment names, where the function's
    template environment refers to them (TABLE_NAME -> LedgerTable, PAYOUT_QUEUE_URL -> PayoutQueue)."""
    services = LocalServices(
        table="coins-local", dynamodb_url="", api_url=DEFAULT_API_URL, stripe_url=None, aws_url=None
    )
    values = stack_values(services, template)
    declared = resources(template)
    for name, value in spec.environment.items():
        target = value.get("Ref") if isinstance(value, dict) else None
        if target in declared and env.get(name):
            values.resources[target] = local_resource(
                str(declared[target].get("Type")), env[name], services.region
            )
    return values


def secret_parameters(template: dict[str, Any] | None = None) -> dict[str, str]:
    """Template parameters naming a secret (the `*SecretName` ones), with their default names."""
    tpl = template or load_template()
    return {
        name: str(p.get("Default", ""))
        for name, p in tpl.get("Parameters", {}).items()
        if name.endswith("SecretName") and p.get("Default")
    }


def _legacy_stripe_variables(
    env: Mapping[str, str], secrets: Mapping[str, Mapping[str, Any]]
) -> dict[str, str]:
    """The pre-split variables coins.config read, derived from this function's own secrets only.

    Until coins.config reads STRIPE_API_KEY_SECRET_NAME and STRIPE_WEBHOOK_SECRET_NAME, a function
    given its own secret gets that secret's value under the names the old code reads; once the
    layer knows the new names this adds nothing and the environment is exactly the template's.
    """
    config = (ROOT / "layers" / "shared" / "coins" / "config.py").read_text(encoding="utf-8")
    if "STRIPE_API_KEY_SECRET_NAME" in config:
        return {}
    legacy: dict[str, str] = {}
    if env.get("STRIPE_API_KEY_SECRET_NAME") in secrets:
        legacy["STRIPE_API_KEY"] = str(secrets[env["STRIPE_API_KEY_SECRET_NAME"]]["api_key"])
    if env.get("STRIPE_WEBHOOK_SECRET_NAME") in secrets:
        signing = secrets[env["STRIPE_WEBHOOK_SECRET_NAME"]]["signing_secrets"]
        legacy["STRIPE_WEBHOOK_SECRET"] = str(signing[0])
    return legacy


def runtime_variables(spec: FunctionSpec, region: str) -> dict[str, str]:
    """What the Lambda runtime adds to every function's environment (credentials are the role's)."""
    return {
        "AWS_LAMBDA_FUNCTION_NAME": spec.logical_id,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.logical_id}",
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
        "AWS_ACCESS_KEY_ID": LOCAL_KEY,
        "AWS_SECRET_ACCESS_KEY": LOCAL_KEY,
        "AWS_SESSION_TOKEN": "local",
        "_HANDLER": spec.handler,
        "TZ": ":UTC",
        "LANG": "en_US.UTF-8",
        "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
    }


def local_addresses(services: LocalServices) -> dict[str, str]:
    """The local services' addresses, the only thing local and deployed environments differ in."""
    addresses = {"AWS_ENDPOINT_URL_DYNAMODB": services.dynamodb_url}
    if services.aws_url:
        addresses["AWS_ENDPOINT_URL_SECRETS_MANAGER"] = services.aws_url
        addresses["AWS_ENDPOINT_URL_SQS"] = services.aws_url
    # No X-Ray daemon locally: the tracer would only complain that it cannot send.
    addresses["POWERTOOLS_TRACE_DISABLED"] = "true"
    return addresses


def function_environment_of(
    spec: FunctionSpec,
    services: LocalServices,
    *,
    values: LocalStackValues | None = None,
    secrets: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, str]:
    """Exactly what one function's process sees locally: template, runtime and service addresses."""
    values = values or stack_values(services)
    env = {name: _text(values.resolve(value)) for name, value in spec.environment.items()}
    extra = local_addresses(services)
    if services.stripe_url and any(re.fullmatch(r"STRIPE_\w+_SECRET_NAME", name) for name in env):
        extra["STRIPE_API_BASE"] = services.stripe_url  # the simulator, for functions that talk to Stripe
    return {
        **runtime_variables(spec, services.region),
        **env,
        **_legacy_stripe_variables(env, secrets or {}),
        **extra,
    }


def function_environments(
    services: LocalServices,
    secrets: Mapping[str, Mapping[str, Any]] | None = None,
    template: dict[str, Any] | None = None,
) -> dict[str, dict[str, str]]:
    values = stack_values(services, template)
    return {
        logical_id: function_environment_of(spec, services, values=values, secrets=secrets)
        for logical_id, spec in function_specs(template).items()
    }


def _text(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


def function_environment(
    *, table: str, dynamodb_url: str, api_url: str, stripe_url: str | None
) -> dict[str, str]:
    """For in-process tools that play every function at once (the benchmarks): one merged environment.

    The functions themselves never run with this: `make dev` and the e2e tests give each function
    its own (function_environment_of). Secrets come from the environment here, not Secrets Manager.
    """
    services = LocalServices(
        table=table, dynamodb_url=dynamodb_url, api_url=api_url, stripe_url=stripe_url, aws_url=None
    )
    values = stack_values(services)
    env: dict[str, str] = {}
    for spec in function_specs().values():
        for name, value in spec.environment.items():
            if not re.search(r"SECRET_NAME$|QUEUE_URL$", name):
                env[name] = _text(values.resolve(value))
    env.update(
        {
            "AWS_ENDPOINT_URL_DYNAMODB": dynamodb_url,
            "AWS_DEFAULT_REGION": LOCAL_REGION,
            "AWS_ACCESS_KEY_ID": LOCAL_KEY,
            "AWS_SECRET_ACCESS_KEY": LOCAL_KEY,
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_DEV": "false",
        }
    )
    if stripe_url is not None:
        env.update(
            {
                "STRIPE_API_BASE": stripe_url,
                "STRIPE_API_KEY": LOCAL_STRIPE_KEY,
                "STRIPE_WEBHOOK_SECRETS": LOCAL_WEBHOOK_SECRET,
            }
        )
    return env


__all__ = [
    "DEFAULT_API_URL",
    "DEFAULT_AWS_URL",
    "DEFAULT_DYNAMODB_URL",
    "DEFAULT_STRIPE_URL",
    "DEFAULT_TABLE",
    "LOCAL_LIVE_STRIPE_KEY",
    "LOCAL_SECRETS",
    "LOCAL_STRIPE_KEY",
    "LOCAL_WEBHOOK_SECRET",
    "TEMPLATE_PATH",
    "LocalServices",
    "function_environment",
    "function_environment_of",
    "function_environments",
    "live_stripe_secrets",
    "real_stripe_secrets",
    "secret_parameters",
    "stack_values",
]
