"""Adjustments above the threshold wait for a second admin (issue 13, admin power), on moto.

Concurrent approvals of one adjustment are tested on DynamoDB Local
(tests/integration/test_adjustment_approval.py).
"""

from datetime import timedelta

import pytest

from coins.admin import AdjustmentUnit, ApprovalPolicy
from coins.ledger import Unit
from coins.wiring import services
from devstack.template import http_routes
from tests.support.apigw import ApiResponse, HandlerClient
from tests.support.ledger import balance_totals

APPROVE = "/v1/admin/adjustments/{adjustment_id}/approve"
PENDING = "/v1/admin/adjustments/pending"


def adjust(
    api: HandlerClient, amount: int, *, key: str = "adj-1", admin: str = "admin-1", unit: str = "coins"
) -> ApiResponse:
    return api.call(
        "POST",
        "/v1/admin/adjustments",
        sub=admin,
        groups=("admins",),
        body={"user_id": "fan-1", "unit": unit, "amount": amount, "reason": "large promo"},
        headers={"Idempotency-Key": key},
    )


def approve(
    api: HandlerClient, adjustment_id: str, *, admin: str = "admin-2", groups: tuple[str, ...] = ("admins",)
) -> ApiResponse:
    return api.call(
        "POST",
        f"/v1/admin/adjustments/{adjustment_id}/approve",
        route=APPROVE,
        sub=admin,
        groups=groups,
        path_parameters={"adjustment_id": adjustment_id},
    )


@pytest.fixture
def threshold(monkeypatch: pytest.MonkeyPatch) -> int:
    """Given adjustments above 1,000 coins need a second admin."""
    monkeypatch.setenv("ADJUSTMENT_APPROVAL_COINS", "1000")
    services.cache_clear()
    return 1000


def test_an_adjustment_at_the_threshold_commits_at_once(api: HandlerClient, threshold: int) -> None:
    done = adjust(api, threshold)
    assert done.status == 201
    assert api.wallet("fan-1").body["coins"] == threshold


def test_an_adjustment_above_the_threshold_waits_and_moves_nothing(
    api: HandlerClient, threshold: int
) -> None:
    # When an admin asks for more than the threshold
    asked = adjust(api, threshold + 1)

    # Then it waits for approval: 202, nothing moved, no ledger entry
    assert asked.status == 202
    assert asked.body["status"] == "pending_approval"
    assert asked.body["requested_by"] == "admin-1"
    assert api.wallet("fan-1").body["coins"] == 0
    assert services().repository.transfers.get_transfer(asked.body["adjustment_id"]) is None
    # ... and asking again with the same key answers the same pending adjustment
    again = adjust(api, threshold + 1)
    assert (again.status, again.body) == (202, asked.body)
    assert adjust(api, threshold + 2).body["error"]["code"] == "idempotency_key_reused"


def test_the_requester_cannot_approve_their_own_adjustment(api: HandlerClient, threshold: int) -> None:
    asked = adjust(api, 5000)
    own = approve(api, asked.body["adjustment_id"], admin="admin-1")
    assert (own.status, own.body["error"]["code"]) == (403, "forbidden")
    assert api.wallet("fan-1").body["coins"] == 0


def test_only_admins_approve_and_only_what_exists(api: HandlerClient, threshold: int) -> None:
    asked = adjust(api, 5000)
    fan = approve(api, asked.body["adjustment_id"], admin="fan-2", groups=())
    assert fan.status == 403
    unknown = approve(api, "ad_" + "0" * 30)
    assert (unknown.status, unknown.body["error"]["code"]) == (404, "not_found")
    malformed = approve(api, "not-an-id")
    assert malformed.status == 400


def test_a_second_admins_approval_commits_one_balanced_entry_once(api: HandlerClient, threshold: int) -> None:
    asked = adjust(api, 5000)

    # When a second admin approves, twice, and a third admin too
    first = approve(api, asked.body["adjustment_id"])
    second = approve(api, asked.body["adjustment_id"])
    third = approve(api, asked.body["adjustment_id"], admin="admin-3")

    # Then one balanced entry moved the coins, and every approval answers its receipt
    assert first.status == 201
    assert first.body["transfer_id"] == asked.body["adjustment_id"]
    assert first.body["balance"] == 5000
    assert second.body == third.body == first.body
    assert api.wallet("fan-1").body["coins"] == 5000
    assert balance_totals(services().repository) == {Unit.COIN: 0, Unit.DIAMOND: 0}
    stored = services().repository.transfers.get_transfer(first.body["transfer_id"])
    assert stored is not None
    assert stored.attributes["admin_id"] == "admin-1"
    assert stored.attributes["approved_by"] == "admin-2"
    # ... and the original request's retry now shows it approved
    assert adjust(api, 5000).body["status"] == "approved"


def test_the_thresholds_are_set_per_unit_and_zero_turns_one_off() -> None:
    policy = ApprovalPolicy.from_env({"ADJUSTMENT_APPROVAL_COINS": "0", "ADJUSTMENT_APPROVAL_DIAMONDS": "10"})
    assert not policy.needs_approval(AdjustmentUnit.COINS, 10**9)
    assert policy.needs_approval(AdjustmentUnit.DIAMONDS, -11)
    assert not policy.needs_approval(AdjustmentUnit.DIAMONDS, 10)


def test_every_admin_route_needs_the_admin_scope_at_the_gateway() -> None:
    admin_routes = [r for r in http_routes() if r.path.startswith("/v1/admin/")]
    assert ("POST", APPROVE) in {(r.method, r.path) for r in admin_routes}
    assert all(r.scopes == ("coins/admin",) for r in admin_routes)
    assert all(not r.scopes for r in http_routes() if not r.path.startswith("/v1/admin/"))


def test_an_approved_adjustments_record_loses_its_ttl_so_the_approval_is_kept(
    api: HandlerClient, threshold: int
) -> None:
    # Given an approved adjustment (its request carried a TTL for when nobody approves it)
    asked = adjust(api, 5000)
    assert approve(api, asked.body["adjustment_id"]).status == 201

    # When DynamoDB's TTL sweeper looks at the pending item
    repository = services().repository
    item = repository.client.get_item(
        TableName=repository.table_name,
        Key={"PK": {"S": f"XFER#{asked.body['adjustment_id']}"}, "SK": {"S": "ADJ"}},
    )["Item"]

    # Then it has no expires_at to delete it by, and keeps who approved it and the deadline it had
    assert "expires_at" not in item
    assert item["approved_by"] == {"S": "admin-2"}
    assert "approval_deadline" in item


def pending_list(api: HandlerClient, *, admin: str = "admin-2", **query: str) -> ApiResponse:
    return api.call("GET", PENDING, sub=admin, groups=("admins",), query=query)


def test_the_adjustments_waiting_are_listed_with_who_asked_and_why_until_approved(
    api: HandlerClient, threshold: int
) -> None:
    # Given two large adjustments asked for by admin-1, and a small one that committed at once
    first = adjust(api, 5000, key="big-1")
    second = adjust(api, -2000, key="big-2")
    adjust(api, 10, key="small")

    # When another admin lists what waits
    listed = pending_list(api)

    # Then both are there, oldest first, with who asked, for whom, how much and why
    assert listed.status == 200
    assert [item["adjustment_id"] for item in listed.body["items"]] == [
        first.body["adjustment_id"],
        second.body["adjustment_id"],
    ]
    assert listed.body["items"][0] == first.body
    assert listed.body["items"][1]["amount"] == -2000
    assert listed.body["next_cursor"] is None

    # And once one is approved it leaves the list
    assert approve(api, first.body["adjustment_id"]).status == 201
    assert [item["adjustment_id"] for item in pending_list(api).body["items"]] == [
        second.body["adjustment_id"]
    ]


def test_the_list_pages_with_a_cursor(api: HandlerClient, threshold: int) -> None:
    asked = [adjust(api, 2000 + n, key=f"big-{n}").body["adjustment_id"] for n in range(3)]

    page = pending_list(api, limit="2")
    rest = pending_list(api, limit="2", cursor=page.body["next_cursor"])

    assert [item["adjustment_id"] for item in page.body["items"]] == asked[:2]
    assert [item["adjustment_id"] for item in rest.body["items"]] == asked[2:]
    assert rest.body["next_cursor"] is None


def test_an_adjustment_past_its_approval_window_is_not_listed(
    api: HandlerClient, threshold: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    adjust(api, 5000)
    admin = services().admin
    later = admin._clock() + timedelta(days=ApprovalPolicy().pending_days, seconds=1)
    monkeypatch.setattr(admin, "_clock", lambda: later)

    assert pending_list(api).body["items"] == []


def test_only_admins_see_the_adjustments_waiting(api: HandlerClient, threshold: int) -> None:
    adjust(api, 5000)
    fan = api.call("GET", PENDING, sub="fan-2", groups=())
    assert (fan.status, fan.body["error"]["code"]) == (403, "forbidden")
