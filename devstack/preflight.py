"""`make preflight ENV=dev|prod`: before a deploy, checks the account and Stripe, and prints what is missing.

What it checks, each derived from template.yaml, samconfig.toml and the code, never from a list of
its own:
- the environment's parameters: every secret the functions read has a name of this environment
  (the template's defaults are shared by every stack in an account), and the JWT issuer and
  audience are set;
- each secret the functions read (Secrets Manager): it exists and holds what its function reads, a
  restricted key (`rk_`) of the deployment's Stripe mode, or the webhook's signing secrets;
- Stripe's webhook endpoints for the stack's webhook URL: one for the platform's events and one for
  connected accounts' events, each enabled for exactly the event types the webhook handles, on the
  API version the code's Stripe SDK speaks, in the deployment's mode (with STRIPE_API_KEY, a key of
  that mode allowed to read webhook endpoints);
- the JWT issuer: it serves OIDC discovery naming itself as `issuer`, with signing keys; with a
  Cognito issuer, the audience is one of its app clients, and the pool invokes the stack's pre
  token generation trigger with V2_0 events.
The deployment's Stripe mode is what its functions read: the template's STRIPE_LIVEMODE (the
StripeLivemode parameter, live in samconfig's prod) resolved with this environment's parameters and
read by coins.config, whose key-mode rule the functions apply to their own keys.
Stripe is read through its SDK (this tool is outside the layer); AWS through boto3, so the SDK's
own settings apply (AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL for a local stand-in).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import boto3
import requests
import stripe
from botocore.exceptions import BotoCoreError, ClientError

from coins.config import Settings, stripe_key_mode
from devstack.cfn import LocalStackValues
from devstack.template import ROOT, TEMPLATE_PATH, function_specs, load_template

Status = Literal["ok", "MISSING", "skipped"]
# What a function's secret holds, by the variable that names it (coins.config reads these).
SECRET_CONTENTS = {"STRIPE_API_KEY_SECRET_NAME": "api_key", "STRIPE_WEBHOOK_SECRET_NAME": "signing_secrets"}
WEBHOOK_PATH = "/v1/webhooks/stripe"
_COGNITO_ISSUER = re.compile(r"^https://cognito-idp\.([a-z0-9-]+)\.amazonaws\.com/([\w-]+_[0-9A-Za-z]+)$")
GUIDE = "docs/deploy.md"


@dataclass(frozen=True)
class Finding:
    status: Status
    subject: str
    detail: str


@dataclass(frozen=True)
class Deployment:
    """One environment of samconfig.toml, as `sam deploy --config-env <env>` would deploy it."""

    env: str
    stack_name: str
    parameters: dict[str, str]  # the template's defaults with the environment's overrides
    overridden: frozenset[str]
    live: bool  # the deployment's Stripe mode
    template: dict[str, Any] = field(repr=False)


def _overrides(section: Mapping[str, Any]) -> dict[str, str]:
    raw = section.get("parameter_overrides", [])
    pairs = raw if isinstance(raw, list) else re.findall(r'(\S+=(?:"[^"]*"|\S+))', str(raw))
    return {k: v.strip('"') for k, v in (str(pair).split("=", 1) for pair in pairs)}


def stripe_live(template: dict[str, Any], values: LocalStackValues) -> bool:
    """The deployment's Stripe mode, read as its functions read it: each Stripe caller's resolved
    STRIPE_LIVEMODE through coins.config.Settings (the template gives every function the same one)."""
    callers = {name for use in secrets_read(template).values() for name in use.readers}
    modes = {
        Settings.from_env(
            {"TABLE_NAME": "preflight"}
            | {k: str(values.resolve(v)) for k, v in spec.environment.items() if k == "STRIPE_LIVEMODE"}
        ).stripe_livemode
        for name, spec in function_specs(template).items()
        if name in callers
    }
    if len(modes) != 1:
        raise SystemExit("the functions that call Stripe do not share one STRIPE_LIVEMODE")
    return modes.pop()


def deployment(
    env: str, *, samconfig: Path, template_path: Path = TEMPLATE_PATH, extra: Mapping[str, str] | None = None
) -> Deployment:
    config = tomllib.loads(samconfig.read_text(encoding="utf-8"))
    if env not in config:
        raise SystemExit(f"samconfig.toml has no [{env}] environment")
    section = config[env]
    stack_name = str(
        section.get("deploy", {}).get("parameters", {}).get("stack_name")
        or section.get("global", {}).get("parameters", {}).get("stack_name")
        or f"coins-{env}"
    )
    template = load_template(template_path)
    overrides = {**_overrides(section.get("deploy", {}).get("parameters", {})), **(extra or {})}
    defaults = {n: str(p["Default"]) for n, p in template.get("Parameters", {}).items() if "Default" in p}
    values = LocalStackValues(template=template, region="", stack_name=stack_name)
    values.parameters.update({**defaults, **overrides})
    return Deployment(
        env=env,
        stack_name=stack_name,
        parameters={**defaults, **overrides},
        overridden=frozenset(overrides),
        live=stripe_live(template, values),
        template=template,
    )


@dataclass(frozen=True)
class SecretUse:
    parameter: str
    contents: str  # "api_key" or "signing_secrets"
    readers: tuple[str, ...]


def secrets_read(template: dict[str, Any]) -> dict[str, SecretUse]:
    """Parameter -> the secret it names, for every `*_SECRET_NAME` variable of every function."""
    found: dict[str, SecretUse] = {}
    for name, spec in function_specs(template).items():
        for variable, value in spec.environment.items():
            if not variable.endswith("_SECRET_NAME"):
                continue
            if variable not in SECRET_CONTENTS or not isinstance(value, dict) or "Ref" not in value:
                raise ValueError(f"{name}.{variable}: preflight does not know what this secret holds")
            parameter = str(value["Ref"])
            before = found.get(parameter)
            readers = (*before.readers, name) if before else (name,)
            found[parameter] = SecretUse(parameter, SECRET_CONTENTS[variable], readers)
    return found


def handled_events() -> tuple[frozenset[str], frozenset[str]]:
    """(the platform endpoint's events, the Connect endpoint's), from the webhook's own dispatcher."""
    from coins.webhooks import CONNECTED_ACCOUNT_EVENTS
    from coins.wiring import build_services

    handled = build_services(Settings(table_name="preflight")).webhooks.event_types
    return handled - CONNECTED_ACCOUNT_EVENTS, handled & CONNECTED_ACCOUNT_EVENTS


def key_problem(key: str, *, live: bool, restricted: bool) -> str | None:
    """Why a Stripe API key will not do for this deployment, or None (its mode read by coins.config,
    as the functions read their own keys)."""
    mode = "live" if live else "test"
    found = stripe_key_mode(key)
    if found is None:
        return "not a Stripe API key"
    if found != mode:
        return f"a {found}-mode key: this deployment is in Stripe {mode} mode"
    if restricted and key.startswith("sk_"):
        return f"a secret key, with every permission of the account: use a restricted key (rk_{mode}_...)"
    return None


class Preflight:
    def __init__(
        self,
        target: Deployment,
        *,
        secrets: Any,
        cognito: Any,
        cloudformation: Any,
        stripe_key: str | None,
        stripe_api_base: str | None = None,
        api_url: str | None = None,
        http: requests.Session | None = None,
    ) -> None:
        self.target = target
        self._secrets = secrets
        self._cognito = cognito
        self._cloudformation = cloudformation
        self._stripe_key = stripe_key
        self._stripe_base = stripe_api_base
        self._api_url = api_url
        self._http = http or requests.Session()
        self._outputs: dict[str, str] | None = None

    def run(self) -> list[Finding]:
        return [*self.parameters(), *self.secrets(), *self.webhook_endpoints(), *self.issuer()]

    # ------------------------------------------------------------------ parameters and secrets

    def parameters(self) -> list[Finding]:
        t = self.target
        found = []
        for parameter in sorted(secrets_read(t.template)):
            if parameter not in t.overridden:
                found.append(
                    Finding(
                        "MISSING",
                        f"parameter {parameter}",
                        f"uses the template's default name {t.parameters[parameter]}, shared by every stack "
                        f"in the account: give it this environment's name in samconfig.toml [{t.env}]",
                    )
                )
        for parameter in ("JwtIssuer", "JwtAudience"):
            if not t.parameters.get(parameter):
                found.append(
                    Finding(
                        "MISSING",
                        f"parameter {parameter}",
                        f"not set: `sam deploy --guided --config-env {t.env}` asks for it and saves it ({GUIDE}, section 2)",
                    )
                )
        return found or [
            Finding("ok", "parameters", f"every secret named for {t.env}; issuer and audience set")
        ]

    def secrets(self) -> list[Finding]:
        return [self._secret(use) for use in secrets_read(self.target.template).values()]

    def _secret(self, use: SecretUse) -> Finding:
        name = self.target.parameters[use.parameter]
        subject = f"secret {name} ({use.parameter}, read by {', '.join(use.readers)})"
        try:
            text = self._secrets.get_secret_value(SecretId=name)["SecretString"]
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            if code == "ResourceNotFoundException":
                return Finding("MISSING", subject, f"does not exist: create it ({GUIDE}, section 3)")
            return Finding("MISSING", subject, f"cannot be read: {code}")
        except BotoCoreError as error:  # no credentials, no connection: nothing checked
            return Finding("MISSING", subject, f"cannot be read: {error}")
        try:
            value = json.loads(text)
        except (TypeError, json.JSONDecodeError):
            return Finding("MISSING", subject, "is not a JSON object")
        if not isinstance(value, dict):
            return Finding("MISSING", subject, "is not a JSON object")
        if use.contents == "api_key":
            key = value.get("api_key")
            if not isinstance(key, str) or not key:
                return Finding("MISSING", subject, 'holds no "api_key"')
            problem = key_problem(key, live=self.target.live, restricted=True)
            if problem:
                return Finding("MISSING", subject, f"holds {problem}")
            return Finding("ok", subject, f"a restricted {'live' if self.target.live else 'test'}-mode key")
        listed = value.get("signing_secrets")
        if not isinstance(listed, list) or not all(
            isinstance(s, str) and s.startswith("whsec_") for s in listed
        ):
            return Finding("MISSING", subject, 'holds no "signing_secrets" list of whsec_ secrets')
        platform, connect = handled_events()
        wanted = len([events for events in (platform, connect) if events])
        if len(listed) < wanted:
            return Finding(
                "MISSING",
                subject,
                f"holds {len(listed)} signing secrets: the platform and Connect endpoints sign with one each "
                f"({GUIDE}, section 5)",
            )
        return Finding("ok", subject, f"{len(listed)} signing secrets")

    # ------------------------------------------------------------------ Stripe

    def _stack_outputs(self) -> dict[str, str]:
        if self._outputs is None:
            try:
                stack = self._cloudformation.describe_stacks(StackName=self.target.stack_name)["Stacks"][0]
                self._outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
            except (ClientError, BotoCoreError):
                self._outputs = {}
        return self._outputs

    def webhook_endpoints(self) -> list[Finding]:
        api_url = self._api_url or self._stack_outputs().get("ApiUrl")
        if api_url is None:
            return [
                Finding(
                    "skipped",
                    "webhook endpoints",
                    f"the stack {self.target.stack_name} is not deployed yet: register them after the first "
                    f"deploy ({GUIDE}, section 5) and run preflight again",
                )
            ]
        if not self._stripe_key:
            return [
                Finding(
                    "MISSING",
                    "webhook endpoints",
                    "set STRIPE_API_KEY to a key that may read webhook endpoints",
                )
            ]
        problem = key_problem(self._stripe_key, live=self.target.live, restricted=False)
        if problem:
            return [Finding("MISSING", "webhook endpoints", f"not read: STRIPE_API_KEY is {problem}")]
        base = self._stripe_base
        client = stripe.StripeClient(self._stripe_key, base_addresses={"api": base} if base else None)
        url = api_url.rstrip("/") + WEBHOOK_PATH
        try:
            listed = client.v1.webhook_endpoints.list({"limit": 100})
        except stripe.StripeError as error:
            return [
                Finding(
                    "MISSING",
                    "webhook endpoints",
                    f"Stripe refused to list them: {error.user_message or error}",
                )
            ]
        ours = [e for e in listed.data if e.url == url and e.status == "enabled"]
        platform, connect = handled_events()
        return [
            self._endpoint(label, wanted, ours, url)
            for label, wanted in (("platform", platform), ("Connect", connect))
            if wanted
        ]

    def _endpoint(self, label: str, wanted: frozenset[str], ours: Sequence[Any], url: str) -> Finding:
        subject = f"{label} webhook endpoint {url}"
        exact = [e for e in ours if set(e.enabled_events) == wanted]
        if not exact:
            closest = max(ours, key=lambda e: len(set(e.enabled_events) & wanted), default=None)
            if closest is None or not set(closest.enabled_events) & wanted:
                return Finding("MISSING", subject, f"not registered ({GUIDE}, section 5)")
            missing = sorted(wanted - set(closest.enabled_events))
            extra = sorted(set(closest.enabled_events) - wanted)
            return Finding(
                "MISSING",
                subject,
                f"no endpoint has exactly the {len(wanted)} events the webhook handles; {closest.id} lacks "
                f"{', '.join(missing) or 'none'} and has {', '.join(extra) or 'nothing'} more",
            )
        endpoint = exact[0]
        if endpoint.api_version != stripe.api_version:
            return Finding(
                "MISSING",
                subject,
                f"{endpoint.id} renders events in API version {endpoint.api_version}, the code's SDK speaks "
                f"{stripe.api_version}: register a new endpoint with api_version={stripe.api_version}",
            )
        if bool(endpoint.livemode) != self.target.live:
            return Finding("MISSING", subject, f"{endpoint.id} is not in this deployment's Stripe mode")
        return Finding(
            "ok", subject, f"{endpoint.id}: {len(wanted)} events, API version {stripe.api_version}"
        )

    # ------------------------------------------------------------------ the JWT issuer

    def issuer(self) -> list[Finding]:
        issuer = self.target.parameters.get("JwtIssuer", "")
        audience = self.target.parameters.get("JwtAudience", "")
        if not issuer:
            return []
        subject = f"JWT issuer {issuer}"
        cognito = _COGNITO_ISSUER.match(issuer)
        discovery_url = issuer.rstrip("/") + "/.well-known/openid-configuration"
        try:
            answer = self._http.get(discovery_url, timeout=10)
            document = answer.json() if answer.status_code == 200 else None
        except (requests.RequestException, ValueError):
            document = None
        if not isinstance(document, dict):
            return [Finding("MISSING", subject, f"serves no OIDC discovery at {discovery_url}")]
        if document.get("issuer") != issuer:
            return [
                Finding(
                    "MISSING",
                    subject,
                    f"its discovery names the issuer {document.get('issuer')!r}: JwtIssuer must be exactly "
                    "the `iss` of its tokens",
                )
            ]
        try:
            keys = self._http.get(str(document.get("jwks_uri")), timeout=10).json().get("keys", [])
        except (requests.RequestException, ValueError, AttributeError):
            keys = []
        if not any(k.get("kty") == "RSA" for k in keys if isinstance(k, dict)):
            return [Finding("MISSING", subject, "its jwks_uri serves no RSA signing key")]
        found = [Finding("ok", subject, f"OIDC discovery and {len(keys)} signing keys")]
        if cognito is None:
            found.append(
                Finding(
                    "ok",
                    f"JWT audience {audience}",
                    "set (other issuers do not list audiences: check a token's aud)",
                )
            )
            return found
        return [*found, *self._cognito_pool(cognito.group(2), audience)]

    def _cognito_pool(self, pool: str, audience: str) -> list[Finding]:
        found = []
        try:
            self._cognito.describe_user_pool_client(UserPoolId=pool, ClientId=audience)
            found.append(Finding("ok", f"JWT audience {audience}", f"an app client of {pool}"))
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            found.append(Finding("MISSING", f"JWT audience {audience}", f"no app client of {pool} ({code})"))
        except BotoCoreError as error:
            found.append(Finding("MISSING", f"JWT audience {audience}", f"{pool} cannot be read: {error}"))
        configured = self.target.parameters.get("CognitoUserPoolId", "")
        subject = f"pre token generation trigger of {pool}"
        if configured != pool:
            found.append(
                Finding(
                    "MISSING",
                    subject,
                    f"CognitoUserPoolId is {configured or 'empty'}: set it to {pool} so the stack deploys the "
                    f"trigger that puts country, birthdate and coins/admin into access tokens ({GUIDE}, section 2)",
                )
            )
            return found
        arn = self._stack_outputs().get("TokenClaimsFunctionArn")
        if arn is None:
            found.append(Finding("skipped", subject, "attach TokenClaimsFunction after the first deploy"))
            return found
        try:
            described = self._cognito.describe_user_pool(UserPoolId=pool)["UserPool"]
        except (ClientError, BotoCoreError) as error:
            found.append(Finding("MISSING", subject, f"{pool} cannot be read: {error}"))
            return found
        config = described.get("LambdaConfig", {}).get("PreTokenGenerationConfig", {})
        if config.get("LambdaArn") != arn or config.get("LambdaVersion") != "V2_0":
            found.append(
                Finding(
                    "MISSING",
                    subject,
                    f"the pool invokes {config.get('LambdaArn')} with {config.get('LambdaVersion')}: attach "
                    f"{arn} with V2_0 ({GUIDE}, section 2)",
                )
            )
        else:
            found.append(Finding("ok", subject, "TokenClaimsFunction, V2_0 events"))
        return found


def render(target: Deployment, findings: Sequence[Finding]) -> str:
    mode = "live" if target.live else "test"
    lines = [f"preflight {target.env}: stack {target.stack_name}, Stripe {mode} mode"]
    width = max(len(f.subject) for f in findings)
    lines += [f"  {f.status:<8} {f.subject:<{width}}  {f.detail}" for f in findings]
    counts = {s: sum(1 for f in findings if f.status == s) for s in ("ok", "MISSING", "skipped")}
    lines.append(
        f"{len(findings)} checks: {counts['ok']} ok, {counts['MISSING']} missing, {counts['skipped']} skipped"
    )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="make preflight", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--env", required=True, help="the samconfig.toml environment: dev or prod")
    parser.add_argument("--samconfig", type=Path, default=ROOT / "samconfig.toml")
    parser.add_argument("--template", type=Path, default=TEMPLATE_PATH)
    parser.add_argument("--parameter-overrides", nargs="*", default=[], metavar="NAME=VALUE",
                        help="as sam deploy's: values not saved in samconfig.toml (JwtIssuer=...)")  # fmt: skip
    parser.add_argument("--api-url", help="the stack's ApiUrl (default: the deployed stack's output)")
    parser.add_argument(
        "--stripe-api-base", default=os.environ.get("STRIPE_API_BASE"), help="default: Stripe itself"
    )
    parser.add_argument(
        "--region", default=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    )
    args = parser.parse_args(argv)
    extra = dict(str(pair).split("=", 1) for pair in args.parameter_overrides)
    target = deployment(args.env, samconfig=args.samconfig, template_path=args.template, extra=extra)
    session = boto3.Session(region_name=args.region)
    if session.region_name is None:
        print("no AWS region: set AWS_REGION (or --region)", file=sys.stderr)
        return 2
    os.environ.setdefault(
        "AWS_DEFAULT_REGION", session.region_name
    )  # the webhook's own services, built to list its events
    findings = Preflight(
        target,
        secrets=session.client("secretsmanager"),
        cognito=session.client("cognito-idp"),
        cloudformation=session.client("cloudformation"),
        stripe_key=os.environ.get("STRIPE_API_KEY"),
        stripe_api_base=args.stripe_api_base,
        api_url=args.api_url,
    ).run()
    print(render(target, findings))
    return 1 if any(f.status == "MISSING" for f in findings) else 0


if __name__ == "__main__":
    sys.exit(main())
