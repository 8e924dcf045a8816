"""The admin routes' DynamoDB calls, held against what template.yaml allows AdminFunction.

Deployed, a call the function's policy does not allow fails with AccessDenied after the adjustment
has committed (its receipt reads the wallet with BatchGetItem), so every call the admin routes make
is recorded here and each must be an action the policy grants.
"""

from typing import Any

import pytest
from botocore.client import BaseClient

from coins.admin import ApprovalPolicy
from coins.wiring import services
from devstack.template import functions
from tests.support.apigw import HandlerClient

TRANSACT_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}


def allowed_actions(logical_id: str) -> set[str]:
    actions: set[str] = set()
    for policy in functions()[logical_id].get("Policies", []):
        if not isinstance(policy, dict):
            continue
        for statement in policy.get("Statement", []):
            if statement.get("Effect") != "Allow":
                continue
            granted = statement.get("Action", [])
            actions.update([granted] if isinstance(granted, str) else granted)
    return actions


@pytest.fixture
def dynamodb_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    original = BaseClient._make_api_call  # type: ignore[attr-defined]  # private: not in the stubs

    def recording(self: BaseClient, operation_name: str, api_params: dict[str, Any]) -> Any:
        service = self.meta.service_model.signing_name
        if operation_name == "TransactWriteItems":
            # IAM has no TransactWriteItems action: each item is authorized as its own write.
            calls.extend(
                f"{service}:{TRANSACT_ACTIONS[kind]}" for item in api_params["TransactItems"] for kind in item
            )
        else:
            calls.append(f"{service}:{operation_name}")
        return original(self, operation_name, api_params)

    monkeypatch.setattr(BaseClient, "_make_api_call", recording)
    return calls


def test_every_dynamodb_call_of_an_adjustment_and_its_receipt_is_allowed(
    api: HandlerClient, dynamodb_calls: list[str]
) -> None:
    # When an admin grants coins to a new user (accounts opened, transfer, receipt) and retries it
    for _ in range(2):
        granted = api.call(
            "POST",
            "/v1/admin/adjustments",
            sub="admin-1",
            groups=("admins",),
            body={"user_id": "fan-1", "unit": "coins", "amount": 250, "reason": "launch promo"},
            headers={"Idempotency-Key": "adj-1"},
        )
        assert granted.status == 201
        assert granted.body["balance"] == 250

    # Then the receipt's wallet read (BatchGetItem) is among the calls, and every call is allowed
    assert "dynamodb:BatchGetItem" in dynamodb_calls
    assert set(dynamodb_calls) <= allowed_actions("AdminFunction")


def test_every_dynamodb_call_of_the_reviews_list_is_allowed(
    api: HandlerClient, dynamodb_calls: list[str]
) -> None:
    api.wallet("fan-1")
    api.call(
        "POST",
        "/v1/admin/accounts/fan-1/status",
        route="/v1/admin/accounts/{user_id}/status",
        sub="admin-1",
        groups=("admins",),
        body={"status": "under_review", "reason": "checked by support"},
        path_parameters={"user_id": "fan-1"},
    )
    dynamodb_calls.clear()  # only the admin function's own calls from here

    reviews = api.call("GET", "/v1/admin/reviews", sub="admin-1", groups=("admins",))

    assert reviews.status == 200
    assert [r["user_id"] for r in reviews.body["items"]] == ["fan-1"]
    assert "dynamodb:BatchGetItem" in dynamodb_calls
    assert set(dynamodb_calls) <= allowed_actions("AdminFunction")


def test_every_dynamodb_call_of_the_pending_adjustments_list_is_allowed(
    api: HandlerClient, dynamodb_calls: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(services().admin, "_approval", ApprovalPolicy(coins_threshold=10))
    asked = api.call(
        "POST",
        "/v1/admin/adjustments",
        sub="admin-1",
        groups=("admins",),
        body={"user_id": "fan-1", "unit": "coins", "amount": 50, "reason": "large promo"},
        headers={"Idempotency-Key": "adj-big"},
    )
    assert asked.status == 202
    dynamodb_calls.clear()

    listed = api.call("GET", "/v1/admin/adjustments/pending", sub="admin-2", groups=("admins",))

    assert [p["adjustment_id"] for p in listed.body["items"]] == [asked.body["adjustment_id"]]
    assert "dynamodb:BatchGetItem" in dynamodb_calls
    assert set(dynamodb_calls) <= allowed_actions("AdminFunction")
