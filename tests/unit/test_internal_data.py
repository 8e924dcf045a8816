"""Internal data stays internal (issue 13, item 4): an admin's identity and the free-text reason of an
adjustment are kept on the transfer record, never in the user's history; traces keep no responses."""

import json

import boto3

from coins.repository import LedgerRepository, LedgerTable
from devstack.template import load_template
from tests.support.apigw import HandlerClient

SECRET_REASON = "chargeback fraud ring, see ticket SEC-4411"


def test_the_users_history_shows_a_neutral_description_not_the_admin_or_the_reason(
    api: HandlerClient, moto_table: str
) -> None:
    # Given an admin who credits a fan with an internal reason, then takes some back
    granted = api.call(
        "POST",
        "/v1/admin/adjustments",
        sub="admin-7",
        groups=("admins",),
        body={"user_id": "fan-1", "unit": "coins", "amount": 50, "reason": SECRET_REASON},
        headers={"Idempotency-Key": "grant-1"},
    )
    taken = api.call(
        "POST",
        "/v1/admin/adjustments",
        sub="admin-7",
        groups=("admins",),
        body={"user_id": "fan-1", "unit": "coins", "amount": -20, "reason": SECRET_REASON},
        headers={"Idempotency-Key": "take-1"},
    )
    assert (granted.status, taken.status) == (201, 201)

    # When the fan reads their history
    history = api.call("GET", "/v1/wallet/transactions", sub="fan-1")

    # Then it says what happened in neutral words, and nothing of who or why
    assert history.status == 200
    assert [(i["amount"], i["details"]) for i in history.body["items"]] == [
        (-20, {"source": "corrections", "description": "Balance correction"}),
        (50, {"source": "promotions", "description": "Promotional credit"}),
    ]
    assert "admin-7" not in json.dumps(history.body)
    assert SECRET_REASON not in json.dumps(history.body)

    # And the internal record keeps both, for admins and audits
    stored = LedgerRepository(LedgerTable(moto_table)).transfers.get_transfer(granted.body["transfer_id"])
    assert stored is not None
    assert (stored.attributes["admin_id"], stored.attributes["reason"]) == ("admin-7", SECRET_REASON)
    assert stored.initiated_by == "admin-7"


def test_history_rows_written_before_the_fix_are_shown_without_the_admin_or_the_reason(
    api: HandlerClient, moto_table: str
) -> None:
    # Given a history row as adjustments wrote them before: the admin's id and reason in its details
    assert api.grant("admin-7", "fan-1", 10, key="old").status == 201
    client = boto3.client("dynamodb")
    rows = client.scan(TableName=moto_table)["Items"]
    row = next(
        r for r in rows if r["PK"]["S"].startswith("HIST#") and r.get("code", {}).get("S") == "adjustment"
    )
    row["details"] = {
        "M": {"reason": {"S": SECRET_REASON}, "source": {"S": "promotions"}, "admin_id": {"S": "admin-7"}}
    }
    client.put_item(TableName=moto_table, Item=row)

    # When the fan reads their history, then only the neutral part shows
    history = api.call("GET", "/v1/wallet/transactions", sub="fan-1")
    assert [i["details"] for i in history.body["items"]] == [
        {"source": "promotions", "description": "Promotional credit"}
    ]


def test_traces_do_not_capture_responses() -> None:
    variables = load_template()["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["POWERTOOLS_TRACER_CAPTURE_RESPONSE"] == "false"
