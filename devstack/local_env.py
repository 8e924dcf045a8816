"""The environment the functions get locally: template.yaml's Globals, pointed at local services.

`make dev`, `make payouts` and the benchmarks all build it here, so every local process reads the
same shard counts, rates and keys as the functions the template deploys.
"""

from devstack.dynamodb_local import LOCAL_KEY, LOCAL_REGION
from devstack.template import load_template

LOCAL_STRIPE_KEY = "sk_test_local"
LOCAL_WEBHOOK_SECRET = "whsec_local"
DEFAULT_API_URL = "http://127.0.0.1:3000"
DEFAULT_DYNAMODB_URL = "http://127.0.0.1:8000"
DEFAULT_STRIPE_URL = "http://127.0.0.1:12111"
DEFAULT_TABLE = "coins-local"


def function_environment(
    *, table: str, dynamodb_url: str, api_url: str, stripe_url: str | None
) -> dict[str, str]:
    """The Globals environment of template.yaml, parameters at their defaults, pointed at local services."""
    template = load_template()
    defaults = {name: str(p.get("Default", "")) for name, p in template.get("Parameters", {}).items()}
    env: dict[str, str] = {}
    for name, value in template["Globals"]["Function"]["Environment"]["Variables"].items():
        if isinstance(value, dict) and "Ref" in value:
            env[name] = defaults.get(value["Ref"], "")
        else:
            env[name] = str(value)
    for secret_name in ("STRIPE_SECRET_NAME", "STRIPE_API_KEY_SECRET_NAME", "STRIPE_WEBHOOK_SECRET_NAME"):
        env.pop(secret_name, None)  # locally the keys come from the environment
    env.update(
        {
            "TABLE_NAME": table,
            "AWS_ENDPOINT_URL_DYNAMODB": dynamodb_url,
            "AWS_DEFAULT_REGION": LOCAL_REGION,
            "AWS_ACCESS_KEY_ID": LOCAL_KEY,
            "AWS_SECRET_ACCESS_KEY": LOCAL_KEY,
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_DEV": "false",
            "CHECKOUT_SUCCESS_URL": f"{api_url}/checkout/success?session_id={{CHECKOUT_SESSION_ID}}",
            "CHECKOUT_CANCEL_URL": f"{api_url}/checkout/cancelled",
            "ONBOARDING_RETURN_URL": f"{api_url}/creator/onboarding/done",
            "ONBOARDING_REFRESH_URL": f"{api_url}/creator/onboarding/retry",
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
