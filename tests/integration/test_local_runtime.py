"""The local runtime gives each function what Lambda gives it, and nothing more.

Each function runs in processes of its own, started with exactly its template environment (Globals
plus its own variables, resolved to the local resources), the Lambda runtime's variables and the
local service addresses; its AWS calls are held to its template statements. A probe handler, run
in a function's place with that function's environment and role, reports what it sees.
"""

import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from coins.config import Settings
from coins.ledger import AccountStatus
from coins.wiring import build_services
from devstack.deployment import local_functions
from devstack.dynamodb_local import DynamoDBLocal
from devstack.gateway import api_gateway_event
from devstack.local_aws import LocalAws
from devstack.local_env import LOCAL_SECRETS, LocalServices, local_addresses, runtime_variables, stack_values
from devstack.runtime import FunctionError, LocalFunction, LocalRuntime
from devstack.template import TEMPLATE_PATH, function_specs, load_template
from tests.support.permissions import permission_log

PROBE = """
import os
import time

from aws_lambda_powertools.utilities import parameters


def handler(event, context):
    secrets = {}
    for name in event.get("secrets", []):
        try:
            parameters.get_secret(name, transform="json", force_fetch=True)
            secrets[name] = "read"
        except Exception as exc:  # Powertools wraps the SDK's error; its text carries the code
            secrets[name] = "AccessDeniedException" if "AccessDeniedException" in repr(exc) + repr(exc.__cause__) else repr(exc)
    time.sleep(event.get("sleep", 0))
    return {"env": dict(os.environ), "secrets": secrets, "pid": os.getpid()}
"""


@pytest.fixture(scope="module")
def local_aws() -> Iterator[LocalAws]:
    with LocalAws() as aws:
        yield aws


def deploy(
    ledger_table: str, dynamodb_local: DynamoDBLocal, local_aws: LocalAws, *, record: bool
) -> dict[str, LocalFunction]:
    """The template's functions on DynamoDB Local and the local AWS endpoint, as `make dev` starts them."""
    services = LocalServices(
        table=ledger_table,
        dynamodb_url=dynamodb_local.endpoint_url,
        api_url="http://127.0.0.1:3000",
        stripe_url="http://127.0.0.1:12111",
        aws_url=local_aws.endpoint_url,
    )
    values = stack_values(services)
    secrets = {values.parameter(name): value for name, value in LOCAL_SECRETS.items()}
    services = replace(services, secret_arns=local_aws.create_secrets(secrets))
    return local_functions(services, secrets=secrets, record=permission_log() if record else None)


@pytest.fixture
def deployed(
    ledger_table: str, dynamodb_local: DynamoDBLocal, local_aws: LocalAws
) -> dict[str, LocalFunction]:
    # Not recorded for the least-privilege check: these tests make refused calls on purpose.
    return deploy(ledger_table, dynamodb_local, local_aws, record=False)


def probing(function: LocalFunction, folder: Path) -> LocalFunction:
    """The function's environment and role, with the probe as its handler."""
    (folder / "probe.py").write_text(PROBE, encoding="utf-8")
    return replace(function, setup={**function.setup, "code_uri": str(folder), "handler": "probe.handler"})


ADDRESSED = LocalServices(table="t", dynamodb_url="d", api_url="a", stripe_url=None, aws_url="aws")
SECRET_NAMES = sorted(
    str(p["Default"]) for n, p in load_template()["Parameters"].items() if n.endswith("SecretName")
)


@pytest.mark.parametrize("name", sorted(function_specs()))
def test_each_function_sees_exactly_its_environment_and_reads_only_its_own_secret(
    name: str,
    ledger_table: str,
    dynamodb_local: DynamoDBLocal,
    local_aws: LocalAws,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a variable in the local stack's own environment (a developer's shell, the gateway's)
    monkeypatch.setenv("LEAKED_FROM_THE_GATEWAY", "yes")
    spec = function_specs()[name]
    recorded = probing(deploy(ledger_table, dynamodb_local, local_aws, record=True)[name], tmp_path)
    unrecorded = probing(deploy(ledger_table, dynamodb_local, local_aws, record=False)[name], tmp_path)

    with LocalRuntime({name: recorded}, output=lambda *_: None) as runtime:
        seen = runtime.invoke(name, {})
        env: dict[str, str] = seen["env"]
        own = sorted(value for variable, value in env.items() if variable.endswith("_SECRET_NAME"))
        read = runtime.invoke(name, {"secrets": own})["secrets"]
    with LocalRuntime({name: unrecorded}, output=lambda *_: None) as runtime:
        others = runtime.invoke(name, {"secrets": [s for s in SECRET_NAMES if s not in own]})["secrets"]

    # Then it sees its template's variables, the runtime's and the local addresses, nothing else
    # (LC_CTYPE: Python's own locale coercion; STRIPE_*: the pre-split names, see local_env).
    extra = set(env) - set(spec.environment) - set(runtime_variables(spec, "us-east-1"))
    extra -= {*local_addresses(ADDRESSED), "STRIPE_API_BASE", "LC_CTYPE"}
    assert extra <= {"STRIPE_API_KEY", "STRIPE_WEBHOOK_SECRET"}, extra
    assert set(spec.environment) <= set(env)
    assert "LEAKED_FROM_THE_GATEWAY" not in env
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == name
    # ... and reads the secrets its environment names, and is refused every other one, as deployed
    assert read == dict.fromkeys(own, "read")
    assert others == {s: "AccessDeniedException" for s in SECRET_NAMES if s not in own}


def test_a_function_without_the_stripe_secret_cannot_read_it(
    deployed: dict[str, LocalFunction], tmp_path: Path
) -> None:
    with LocalRuntime(
        {"WalletFunction": probing(deployed["WalletFunction"], tmp_path)}, output=lambda *_: None
    ) as runtime:
        seen = runtime.invoke(
            "WalletFunction", {"secrets": ["coins/stripe-checkout", "coins/stripe-webhook"]}
        )

    # Only the deployment's Stripe mode, which every function gets; no secret name, no key.
    assert [v for v in seen["env"] if v.startswith("STRIPE_")] == ["STRIPE_LIVEMODE"]
    assert seen["secrets"] == {
        "coins/stripe-checkout": "AccessDeniedException",
        "coins/stripe-webhook": "AccessDeniedException",
    }


def test_concurrent_requests_get_environments_of_their_own_and_later_ones_reuse_them(
    deployed: dict[str, LocalFunction], tmp_path: Path
) -> None:
    functions = {}
    for name in ("CatalogFunction", "AdminFunction"):
        (tmp_path / name).mkdir()
        functions[name] = probing(deployed[name], tmp_path / name)
    with LocalRuntime(functions, output=lambda *_: None) as runtime:
        answers: list[tuple[str, Any]] = []
        lock = threading.Lock()

        def call(name: str) -> None:
            answer = runtime.invoke(name, {"sleep": 1.0})
            with lock:
                answers.append((name, answer))

        threads = [threading.Thread(target=call, args=(n,)) for n in ["CatalogFunction", "AdminFunction"] * 2]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        warm = runtime.invoke("AdminFunction", {})

    # Two requests at once to one function ran in two processes, each naming its own function
    for name in ("CatalogFunction", "AdminFunction"):
        mine = [a for n, a in answers if n == name]
        assert len({a["pid"] for a in mine}) == 2
        assert {a["env"]["AWS_LAMBDA_FUNCTION_NAME"] for a in mine} == {name}
    # ... and a later request is served warm by one of them
    assert warm["pid"] in {a["pid"] for n, a in answers if n == "AdminFunction"}


def test_a_function_past_its_timeout_fails_and_its_environment_is_replaced(
    deployed: dict[str, LocalFunction], tmp_path: Path
) -> None:
    function = probing(deployed["CatalogFunction"], tmp_path)
    quick = replace(function, spec=replace(function.spec, timeout_seconds=1))
    with LocalRuntime({"CatalogFunction": quick}, output=lambda *_: None) as runtime:
        first = runtime.invoke("CatalogFunction", {})
        with pytest.raises(FunctionError, match="Task timed out after 1 seconds"):
            runtime.invoke("CatalogFunction", {"sleep": 3})
        after = runtime.invoke("CatalogFunction", {})

    assert after["pid"] != first["pid"]


def reviews_request() -> dict[str, Any]:
    return api_gateway_event(
        method="GET",
        path="/v1/admin/reviews",
        route_path="/v1/admin/reviews",
        headers={},
        claims={
            "sub": "admin-1",
            "token_use": "access",
            "scope": "coins/admin",
            "cognito:groups": ["admins"],
        },
    )


def without_statement(function: str, action: str, folder: Path) -> Path:
    """template.yaml with the statements granting `action` to `function` taken out."""
    template = json.loads(json.dumps(load_template()))
    statements = template["Resources"][function]["Properties"]["Policies"][0]["Statement"]
    kept = [
        s
        for s in statements
        if action not in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    ]
    assert len(kept) < len(statements)
    template["Resources"][function]["Properties"]["Policies"][0]["Statement"] = kept
    path = folder / "template.yaml"
    path.write_text(yaml.safe_dump(template, sort_keys=False), encoding="utf-8")
    return path


def test_removing_a_statement_the_code_needs_fails_the_request_with_access_denied(
    ledger_table: str, dynamodb_local: DynamoDBLocal, local_aws: LocalAws, tmp_path: Path
) -> None:
    # Given an account under review, so that the review list reads its reason (BatchGetItem)
    app = build_services(Settings.from_env())
    app.wallets.wallet("fan-r")
    app.admin.set_status(
        admin_id="admin-1", user_id="fan-r", status=AccountStatus.UNDER_REVIEW, reason="checking"
    )
    services = LocalServices(
        table=ledger_table,
        dynamodb_url=dynamodb_local.endpoint_url,
        api_url="http://127.0.0.1:3000",
        stripe_url=None,
        aws_url=local_aws.endpoint_url,
    )
    trimmed = without_statement("AdminFunction", "dynamodb:BatchGetItem", tmp_path)
    logs: list[str] = []

    def run(template: Path) -> dict[str, Any]:
        functions = local_functions(services, template_path=template)
        with LocalRuntime(
            {"AdminFunction": functions["AdminFunction"]}, output=lambda _, line: logs.append(line)
        ) as runtime:
            answer: dict[str, Any] = runtime.invoke("AdminFunction", reviews_request())
            return answer

    # When AdminFunction runs with the template as it is, and without its BatchGetItem statement
    complete, trimmed_answer = run(TEMPLATE_PATH), run(trimmed)

    # Then the first lists the review, and the second fails as the deployed function would
    assert complete["statusCode"] == 200
    assert [r["user_id"] for r in json.loads(complete["body"])["items"]] == ["fan-r"]
    assert trimmed_answer["statusCode"] == 500
    denied = [line for line in logs if "AccessDeniedException" in line]
    assert denied
    assert "not authorized to perform: dynamodb:BatchGetItem" in denied[0]


def killed(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)


@pytest.fixture
def probed_catalog(deployed: dict[str, LocalFunction], tmp_path: Path) -> Iterator[LocalRuntime]:
    with LocalRuntime(
        {"CatalogFunction": probing(deployed["CatalogFunction"], tmp_path)}, output=lambda *_: None
    ) as runtime:
        yield runtime


def test_a_request_for_an_environment_that_died_idle_is_served_by_a_fresh_one(
    probed_catalog: LocalRuntime,
) -> None:
    # AWS's rule (Lambda developer guide, "Understanding the Lambda execution environment lifecycle",
    # failures): Lambda resets an environment whose runtime crashed, and the next request is served
    # by a new one. A request is never sent to a dead environment, so it does not fail for it.
    first = probed_catalog.invoke("CatalogFunction", {})
    killed(first["pid"])  # dies between requests (the kernel's OOM killer, an operator, a bug)

    after = probed_catalog.invoke("CatalogFunction", {})

    assert after["pid"] != first["pid"]
    assert after["env"]["AWS_LAMBDA_FUNCTION_NAME"] == "CatalogFunction"


def test_a_process_that_dies_during_an_invocation_fails_it_and_the_next_runs_in_a_fresh_environment(
    probed_catalog: LocalRuntime,
) -> None:
    # AWS's rule (the same page): a crash during the Invoke phase fails that invocation with
    # Runtime.ExitError; Lambda resets the environment, and later invocations are served again.
    first = probed_catalog.invoke("CatalogFunction", {})
    threading.Timer(1.0, killed, args=(first["pid"],)).start()
    with pytest.raises(FunctionError, match=r"Runtime\.ExitError"):
        probed_catalog.invoke("CatalogFunction", {"sleep": 5})

    after = probed_catalog.invoke("CatalogFunction", {})

    assert after["pid"] != first["pid"]
