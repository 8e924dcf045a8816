"""template.yaml's IAM statements are the least each function needs.

Two halves. Read from the template alone: no wildcard actions or resources, every table statement
limited by dynamodb:LeadingKeys, each secret granted only to the function whose environment names it.
Held against the run: every combination of action, resource and key pattern the template grants was
used by some call a function made under the permission check during this test run (the e2e stack,
`make payouts`, and the handlers the integration and unit tests call), and no call was refused.
The second needs the whole suite (make test), so it runs last and skips on a partial run.
"""

import ast
import inspect
import json
import os
from pathlib import Path
from typing import Any

import pytest

from coins.ledger_check import StripeReader
from devstack.iam_policies import compile_policies
from devstack.in_process import load_function_module
from devstack.least_privilege import read_decisions, refused_calls, unused_grants
from devstack.local_env import LocalServices, stack_values
from devstack.template import ROOT, function_specs, load_template

TEMPLATE = load_template()
SPECS = function_specs()
VALUES = stack_values(
    LocalServices(table="coins-local", dynamodb_url="", api_url="", stripe_url=None, aws_url=None)
)


STREAM_READS = {"dynamodb:DescribeStream", "dynamodb:GetShardIterator", "dynamodb:GetRecords"}
EXPORTS = {"dynamodb:ExportTableToPointInTime", "dynamodb:DescribeExport"}
# What the books' functions write: their own results in the books bucket and views in its catalog.
BOOKS_WRITES = {"s3:PutObject", "glue:CreateTable", "glue:UpdateTable", "athena:StartQueryExecution"}


def own_statements(name: str) -> list[dict[str, Any]]:
    statements: list[dict[str, Any]] = []
    for policy in TEMPLATE["Resources"][name]["Properties"].get("Policies", []):
        assert isinstance(policy, dict), f"{name}: inline statements only"
        assert "Statement" in policy, f"{name}: inline statements only"
        statements += policy["Statement"]
    return statements


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


# What a function may do and still change nothing: read the table and its own secret.
READ_ACTIONS = {
    "dynamodb:GetItem",
    "dynamodb:BatchGetItem",
    "dynamodb:Query",
    "dynamodb:Scan",
    "dynamodb:DescribeExport",
    "secretsmanager:GetSecretValue",
    "athena:GetQueryExecution",
    "athena:GetQueryResults",
    "glue:GetDatabase",
    "glue:GetTable",
    "s3:GetObject",
    "s3:ListBucket",
    "s3:GetBucketLocation",
}


def writes(name: str) -> set[str]:
    """Every action the function is granted that is not a read."""
    return {a for s in own_statements(name) for a in as_list(s["Action"]) if a not in READ_ACTIONS}


def is_scheduled(name: str) -> bool:
    """Started by EventBridge Scheduler only: no route, queue or stream calls it."""
    events = SPECS[name].events.values()
    return bool(events) and all(e["Type"] == "ScheduleV2" for e in events)


@pytest.mark.parametrize("name", sorted(SPECS))
def test_no_wildcard_actions_and_every_resource_named(name: str) -> None:
    for statement in own_statements(name):
        assert statement["Effect"] == "Allow"
        for action in as_list(statement["Action"]):
            assert "*" not in action, f"{name}: {action}"
        for resource in as_list(statement["Resource"]):
            assert resource != "*", f"{name}: a statement on every resource"
            assert isinstance(resource, dict), (
                f"{name}: {resource} should name a template resource or parameter"
            )


@pytest.mark.parametrize("name", sorted(SPECS))
def test_no_function_may_scan_the_table(name: str) -> None:
    # A Scan reads the whole table, its cost growing with it: the ledger check reads its window's
    # changes through the change index, and the full audit reads the table's export (issue 23).
    actions = {a for s in compile_policies(SPECS[name], VALUES) for a in s.actions}
    assert "dynamodb:Scan" not in actions, name


@pytest.mark.parametrize("name", sorted(SPECS))
def test_table_statements_are_limited_to_key_prefixes_and_the_index_to_queries(name: str) -> None:
    for statement in compile_policies(SPECS[name], VALUES):
        if statement.index < 0 or not any(a.startswith("dynamodb:") for a in statement.actions):
            continue
        (resource,) = statement.resources
        if "/index/" in resource:
            assert statement.actions == ("dynamodb:Query",), f"{name}: only queries on the index"
            continue
        if "/stream/" in resource:
            # A stream has no keys to limit: its event source reads it, and nothing else may.
            assert set(statement.actions) <= STREAM_READS, f"{name}: only reads of the stream"
            assert any(e["Type"] == "DynamoDB" for e in SPECS[name].events.values()), name
            continue
        if set(statement.actions) <= EXPORTS and not statement.conditions:
            # An export reads no key: it is the whole table at a moment, written to S3 by DynamoDB,
            # reading none of its capacity; only a scheduled function that writes no item asks for one.
            assert is_scheduled(name), f"{name}: an export outside a scheduled function"
            assert not {w for w in writes(name) if w.startswith("dynamodb:")} - EXPORTS, name
            continue
        (condition,) = statement.conditions
        assert (condition.qualifier, condition.operator, condition.key) == (
            "ForAllValues",
            "StringLike",
            "dynamodb:LeadingKeys",
        )
        assert all(p.endswith("#*") and p.count("*") == 1 for p in condition.values), condition.values
        # TransactWriteItems is authorized item by item (PutItem, UpdateItem, ConditionCheckItem).
        assert "dynamodb:TransactWriteItems" not in statement.actions


def secret_parameters_named(name: str) -> set[str]:
    return {
        value["Ref"]
        for variable, value in SPECS[name].environment.items()
        if variable.endswith("_SECRET_NAME") and isinstance(value, dict)
    }


@pytest.mark.parametrize("name", sorted(SPECS))
def test_a_function_may_read_exactly_the_secrets_its_environment_names(name: str) -> None:
    granted = set()
    for statement in own_statements(name):
        if any(a.startswith("secretsmanager:") for a in as_list(statement["Action"])):
            assert as_list(statement["Action"]) == ["secretsmanager:GetSecretValue"]
            (resource,) = as_list(statement["Resource"])
            text = resource["Fn::Sub"]
            # The six random characters Secrets Manager appends, and nothing that matches more.
            assert text.startswith(
                "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:${"
            )
            assert text.endswith("}-??????")
            granted.add(text.rsplit("${", 1)[1].removesuffix("}-??????"))
    assert granted == secret_parameters_named(name)


# The contract's restricted keys (notes: Stripe secrets): each function that changes something at
# Stripe has its own key, scoped to what it does there.
STRIPE_WRITERS = {
    "CheckoutFunction": "StripeCheckoutKeySecretName",  # Checkout Sessions
    "CreatorFunction": "StripeConnectKeySecretName",  # Accounts, Account Links
    "PayoutWorkerFunction": "StripePayoutKeySecretName",  # Transfers
}


def stripe_secrets_named() -> dict[str, dict[str, str]]:
    return {
        # The Stripe secrets each function is named (STRIPE_LIVEMODE, the mode every one gets, is none).
        name: {
            v: spec.environment[v]["Ref"]
            for v in spec.environment
            if v.startswith("STRIPE_") and v.endswith("_SECRET_NAME")
        }
        for name, spec in SPECS.items()
    }


def makes_a_stripe_client(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "payments"
    )


def stripe_handed_only_to_readers(name: str) -> bool:
    """Every Stripe client the handler makes (`...payments()`) goes straight into a parameter typed
    `StripeReader` (coins.ledger_check: list and retrieve calls only), so its code cannot write."""
    spec = SPECS[name]
    tree = ast.parse((spec.code_uri / f"{spec.module_name}.py").read_text(encoding="utf-8"))
    module = load_function_module(name)
    made = [node for node in ast.walk(tree) if makes_a_stripe_client(node)]
    handed = []
    for call in ast.walk(tree):
        if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name)):
            continue
        for keyword in call.keywords:
            if makes_a_stripe_client(keyword.value):
                parameter = inspect.signature(getattr(module, call.func.id)).parameters[str(keyword.arg)]
                if "StripeReader" in str(parameter.annotation):
                    handed.append(keyword.value)
    return bool(made) and len(made) == len(handed)


def test_the_reader_protocol_only_lists_and_retrieves() -> None:
    methods = {n for n in dir(StripeReader) if not n.startswith("_")}
    assert methods
    assert all(n.endswith("_created") or n.startswith("retrieve_") for n in methods), methods


def test_stripe_secrets_are_split_as_the_contract_says() -> None:
    named = stripe_secrets_named()
    # Only the webhook holds the signing secrets, and it holds no API key.
    assert {n: s for n, s in named.items() if "STRIPE_WEBHOOK_SECRET_NAME" in s} == {
        "PaymentWebhookFunction": {"STRIPE_WEBHOOK_SECRET_NAME": "StripeWebhookSecretName"}
    }
    keys = {n: s["STRIPE_API_KEY_SECRET_NAME"] for n, s in named.items() if "STRIPE_API_KEY_SECRET_NAME" in s}
    assert all(set(s) <= {"STRIPE_API_KEY_SECRET_NAME", "STRIPE_WEBHOOK_SECRET_NAME"} for s in named.values())
    # Each function that calls Stripe has a key of its own: no two share a secret.
    assert len(set(keys.values())) == len(keys), keys
    # The functions that change something at Stripe hold exactly the contract's keys.
    assert {n: keys.get(n) for n in STRIPE_WRITERS} == STRIPE_WRITERS
    # Any other key is a restricted read key of a function that changes nothing: it runs on a
    # schedule, is granted no write, hands Stripe only to reading code, and its secret says so.
    for name in set(keys) - set(STRIPE_WRITERS):
        assert is_scheduled(name), f"{name}: a Stripe key outside the contract's writers, off a schedule"
        assert writes(name) <= BOOKS_WRITES, f"{name}: a Stripe reader granted {writes(name)}"
        assert all(
            "Books" in json.dumps(s["Resource"])
            for s in own_statements(name)
            if set(as_list(s["Action"])) & BOOKS_WRITES
        ), f"{name}: a Stripe reader writing outside the books"
        assert stripe_handed_only_to_readers(name), f"{name}: Stripe used outside StripeReader"
        description = TEMPLATE["Parameters"][keys[name]]["Description"]
        assert "restricted" in description, description
        assert "read" in description, description
    assert "StripeSecretName" not in TEMPLATE["Parameters"]
    assert "STRIPE_SECRET_NAME" not in TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]


def test_the_payout_worker_is_capped_by_its_event_source_not_by_reserved_concurrency() -> None:
    worker = TEMPLATE["Resources"]["PayoutWorkerFunction"]["Properties"]
    (source,) = [e["Properties"] for e in worker["Events"].values() if e["Type"] == "SQS"]
    assert "ReservedConcurrentExecutions" not in worker
    assert 2 <= source["ScalingConfig"]["MaximumConcurrency"] <= 1000  # what Lambda accepts
    text = (ROOT / "template.yaml").read_text(encoding="utf-8")
    assert "maxReceiveCount" in text.split("ScalingConfig:")[0].rsplit("ReportBatchItemFailures", 1)[1]


def test_onboarding_urls_are_parameters_given_to_the_creator_function_only() -> None:
    for parameter in ("OnboardingReturnUrl", "OnboardingRefreshUrl"):
        assert "127.0.0.1" not in TEMPLATE["Parameters"][parameter]["Default"]
    assert SPECS["CreatorFunction"].environment["ONBOARDING_RETURN_URL"] == {"Ref": "OnboardingReturnUrl"}
    assert SPECS["CreatorFunction"].environment["ONBOARDING_REFRESH_URL"] == {"Ref": "OnboardingRefreshUrl"}
    assert [n for n, s in SPECS.items() if "ONBOARDING_RETURN_URL" in s.environment] == ["CreatorFunction"]


def whole_suite_ran(session: pytest.Session) -> bool:
    tiers = {"e2e", "integration", "unit"}
    collected = {Path(str(item.path)) for item in session.items}
    every_file = {p for tier in tiers for p in (ROOT / "tests" / tier).glob("test_*.py")}
    deselecting = session.config.getoption("keyword") or session.config.getoption("markexpr")
    return every_file <= collected and not deselecting and "PYTEST_XDIST_WORKER" not in os.environ


def test_the_template_grants_only_what_the_functions_called_during_this_run(
    request: pytest.FixtureRequest,
) -> None:
    if not whole_suite_ran(request.session):
        pytest.skip(
            "needs every tier's calls in one run: `make test`; under xdist the controller checks them (tests/support/whole_run.py)"
        )
    from tests.support.permissions import permission_log

    decisions = read_decisions(permission_log())
    assert decisions, "no permission decision was recorded"

    assert refused_calls(decisions) == []
    # A grant no call used is wider than the code: narrow it, or test the path that needs it.
    assert unused_grants(decisions) == []


# Collected last (tests/integration/conftest.py): it reads what every other test recorded.
test_the_template_grants_only_what_the_functions_called_during_this_run.runs_after_every_tier = True  # type: ignore[attr-defined]
