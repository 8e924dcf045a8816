"""Admin routes: only the admins group, only balanced adjustments, every change with a reason."""

import pytest

from coins.ledger import Unit
from coins.wiring import services
from tests.support.apigw import ApiResponse, HandlerClient
from tests.support.ledger import balance_totals


def adjust(
    api: HandlerClient, body: dict[str, object], *, sub: str = "admin-1", admin: bool = True
) -> ApiResponse:
    return api.call(
        "POST",
        "/v1/admin/adjustments",
        sub=sub,
        groups=("admins",) if admin else (),
        body=body,
        headers={"Idempotency-Key": "adj-1"},
    )


def set_status(api: HandlerClient, user: str, status: str, *, admin: bool = True) -> ApiResponse:
    return api.call(
        "POST",
        f"/v1/admin/accounts/{user}/status",
        route="/v1/admin/accounts/{user_id}/status",
        sub="admin-1",
        groups=("admins",) if admin else (),
        body={"status": status, "reason": "checked by support"},
        path_parameters={"user_id": user},
    )


def test_a_promotional_grant_is_a_balanced_transfer(api: HandlerClient) -> None:
    granted = adjust(api, {"user_id": "fan-1", "unit": "coins", "amount": 250, "reason": "launch promo"})

    assert granted.status == 201
    assert granted.body["source"] == "promotions"
    assert granted.body["balance"] == 250
    assert balance_totals(services().repository) == {Unit.COIN: 0, Unit.DIAMOND: 0}


def test_a_correction_cannot_take_more_than_the_balance(api: HandlerClient) -> None:
    api.grant("admin-1", "fan-1", 10, key="seed")

    taken = adjust(api, {"user_id": "fan-1", "unit": "coins", "amount": -11, "reason": "reversal"})

    assert (taken.status, taken.body["error"]["code"]) == (409, "insufficient_funds")
    assert api.wallet("fan-1").body["coins"] == 10


def test_diamond_corrections_reach_available_diamonds(api: HandlerClient) -> None:
    added = adjust(api, {"user_id": "creator-1", "unit": "diamonds", "amount": 40, "reason": "missed payout"})

    assert added.status == 201
    assert api.wallet("creator-1").body["diamonds"]["available"] == 40


@pytest.mark.parametrize(
    "body",
    [
        {"user_id": "fan-1", "unit": "coins", "amount": 0, "reason": "nothing"},
        {"user_id": "fan-1", "unit": "coins", "amount": 5},
        {"user_id": "fan-1", "unit": "coins", "amount": 5, "reason": "  "},
        {"user_id": "fan-1", "unit": "gold", "amount": 5, "reason": "promo"},
        {"user_id": "fan-1", "unit": "coins", "amount": 5.5, "reason": "promo"},
        {"user_id": "fan-1", "unit": "coins", "amount": -5, "reason": "promo", "source": "promotions"},
        {"user_id": "fan-1", "unit": "diamonds", "amount": 5, "reason": "promo", "source": "promotions"},
    ],
)
def test_bad_adjustments_are_400(api: HandlerClient, body: dict[str, object]) -> None:
    refused = adjust(api, body)
    assert (refused.status, refused.body["error"]["code"]) == (400, "invalid_request")


def test_only_admins_adjust_and_never_their_own_account(api: HandlerClient) -> None:
    body = {"user_id": "fan-1", "unit": "coins", "amount": 5, "reason": "promo"}
    assert adjust(api, body, admin=False).status == 403
    own = adjust(api, {**body, "user_id": "admin-1"})
    assert (own.status, own.body["error"]["code"]) == (403, "forbidden")
    assert api.wallet("fan-1").body["coins"] == 0


def test_reviews_list_accounts_under_review_until_cleared(api: HandlerClient) -> None:
    api.wallet("fan-1")
    assert set_status(api, "fan-1", "under_review").status == 200

    listed = api.call("GET", "/v1/admin/reviews", sub="admin-1", groups=("admins",))
    assert [(r["user_id"], r["reason"]) for r in listed.body["items"]] == [("fan-1", "checked by support")]
    assert api.wallet("fan-1").body["status"] == "under_review"

    assert set_status(api, "fan-1", "active").status == 200
    assert api.call("GET", "/v1/admin/reviews", sub="admin-1", groups=("admins",)).body["items"] == []


def test_status_routes_refuse_non_admins_unknown_users_and_unknown_statuses(api: HandlerClient) -> None:
    api.wallet("fan-1")
    assert set_status(api, "fan-1", "frozen", admin=False).status == 403
    assert api.call("GET", "/v1/admin/reviews", sub="fan-1").status == 403
    assert set_status(api, "ghost", "frozen").status == 404
    assert set_status(api, "fan-1", "banished").status == 400
    assert api.wallet("fan-1").body["status"] == "active"
