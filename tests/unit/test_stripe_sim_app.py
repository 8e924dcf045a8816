"""The simulator's routes through its WSGI app, in process: Stripe's rules without a socket."""

import json
from dataclasses import dataclass
from typing import Any

import pytest
from werkzeug.datastructures import Headers
from werkzeug.test import Client, TestResponse

from devstack.stripe_sim.server import StripeSimulator

AUTH = {"Authorization": "Bearer sk_test_unit"}
DAY = 24 * 3600


@pytest.fixture
def sim() -> StripeSimulator:
    return StripeSimulator(port=0, public_url="http://sim.test")  # never started: no socket


@pytest.fixture
def http(sim: StripeSimulator) -> Client:
    return Client(sim.app)


@dataclass
class Answer:
    status_code: int
    headers: Headers
    data: bytes
    text: str
    json: Any


def answer(response: TestResponse) -> Answer:
    is_json = response.mimetype == "application/json"
    return Answer(
        response.status_code,
        response.headers,
        response.data,
        response.text,
        json.loads(response.data) if is_json else None,
    )


def api(
    http: Client, method: str, path: str, data: dict[str, str] | None = None, key: str | None = None
) -> Answer:
    headers = {**AUTH, **({"Idempotency-Key": key} if key else {})}
    if method == "GET":
        return answer(http.get(path, query_string=data, headers=headers))
    return answer(http.post(path, data=data or {}, headers=headers))


def control(http: Client, path: str, body: dict[str, Any] | None = None) -> Any:
    found = answer(http.post(path, json=body or {}))
    assert found.status_code == 200, found.text
    return found.json


def session_form(**extra: str) -> dict[str, str]:
    return {
        "mode": "payment",
        "success_url": "http://app.test/ok?session_id={CHECKOUT_SESSION_ID}",
        "cancel_url": "http://app.test/cancel",
        "metadata[order_id]": "or_1",
        "payment_intent_data[metadata][order_id]": "or_1",
        "line_items[0][quantity]": "1",
        "line_items[0][price_data][currency]": "usd",
        "line_items[0][price_data][unit_amount]": "999",
        "line_items[0][price_data][product_data][name]": "700 coins",
        **extra,
    }


def paid_session(http: Client) -> dict[str, Any]:
    session = api(http, "POST", "/v1/checkout/sessions", session_form()).json
    paid: dict[str, Any] = control(http, f"/_sim/checkout/sessions/{session['id']}/pay")
    return paid


def payable_account(http: Client) -> str:
    account = api(http, "POST", "/v1/accounts", {"type": "express", "country": "US"}).json
    control(http, f"/_sim/accounts/{account['id']}/complete")
    return str(account["id"])


def transfer_form(destination: str, **extra: str) -> dict[str, str]:
    return {"amount": "500", "currency": "usd", "destination": destination, **extra}


# ---------------------------------------------------------------------- authentication and errors


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, "You did not provide an API key"),
        ({"Authorization": "Bearer sk_live_realkey1234"}, "Invalid API Key provided: sk_live_****1234"),
        ({"Authorization": "Bearer pk_test_publishable"}, "Invalid API Key provided"),
    ],
    ids=["missing", "live-key", "publishable-key"],
)
def test_requests_without_a_test_secret_key_get_stripes_401(
    http: Client, headers: dict[str, str], message: str
) -> None:
    found = answer(http.get("/v1/charges/ch_1", headers=headers))

    assert found.status_code == 401
    assert found.json["error"]["type"] == "invalid_request_error"
    assert found.json["error"]["message"].startswith(message)
    assert found.headers["Request-Id"].startswith("req_")


def test_basic_auth_with_the_key_as_user_name_is_accepted_as_curl_sends_it(http: Client) -> None:
    found = http.get("/v1/events", headers={"Authorization": "Basic c2tfdGVzdF9jdXJsOg=="})  # sk_test_curl:
    assert found.status_code == 200


def test_an_unknown_route_gets_stripes_unrecognized_url_error(http: Client) -> None:
    found = api(http, "POST", "/v1/customers")

    assert found.status_code == 404
    assert found.json == {
        "error": {
            "type": "invalid_request_error",
            "message": "Unrecognized request URL (POST: /v1/customers). Please see https://stripe.com/docs "
            "or we can help at https://support.stripe.com/.",
        }
    }


@pytest.mark.parametrize(
    ("change", "param", "code"),
    [
        ({"line_items[0][quantity]": ""}, "line_items[0][quantity]", "parameter_missing"),
        (
            {"line_items[0][price_data][unit_amount]": "9.99"},
            "line_items[0][price_data][unit_amount]",
            "parameter_invalid_integer",
        ),
        ({"line_items[0][price_data][unit_amount]": "20"}, "line_items", "amount_too_small"),
        ({"customer_emial": "a@b.c"}, "customer_emial", "parameter_unknown"),
        (
            {"line_items[0][price_data][product_data][name]": ""},
            "line_items[0][price_data][product_data]",
            "parameter_missing",
        ),
    ],
    ids=["no-quantity", "decimal-amount", "below-minimum", "typo", "no-product"],
)
def test_checkout_sessions_refuse_what_stripe_refuses(
    http: Client, change: dict[str, str], param: str, code: str
) -> None:
    found = api(http, "POST", "/v1/checkout/sessions", {k: v for k, v in session_form(**change).items() if v})

    assert (found.status_code, found.json["error"]["param"], found.json["error"]["code"]) == (
        400,
        param,
        code,
    )


def test_an_unknown_id_is_resource_missing_with_the_id_param(http: Client) -> None:
    found = api(http, "GET", "/v1/transfers/tr_nope")

    assert found.status_code == 404
    assert found.json["error"]["code"] == "resource_missing"
    assert found.json["error"]["message"] == "No such transfer: 'tr_nope'"


# ---------------------------------------------------------------------- idempotency


def test_the_same_key_and_parameters_replay_the_first_answer_byte_for_byte(http: Client) -> None:
    first = api(http, "POST", "/v1/checkout/sessions", session_form(), key="order-1")

    again = api(http, "POST", "/v1/checkout/sessions", session_form(), key="order-1")

    assert (again.status_code, again.data) == (first.status_code, first.data)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["Original-Request"] == first.headers["Request-Id"]
    assert "Idempotent-Replayed" not in first.headers


def test_a_refusal_is_replayed_too_but_invalid_parameters_leave_the_key_unused(
    sim: StripeSimulator, http: Client
) -> None:
    account = api(http, "POST", "/v1/accounts", {"type": "express"}).json["id"]
    # Given a key first used with a malformed amount (validation: nothing saved) ...
    assert (
        api(http, "POST", "/v1/transfers", transfer_form(account, amount="ten"), key="k").status_code == 400
    )
    # ... then with valid parameters, refused because payouts are off (executed: saved)
    refused = api(http, "POST", "/v1/transfers", transfer_form(account), key="k")
    assert refused.json["error"]["code"] == "insufficient_capabilities_for_transfer"

    control(http, f"/_sim/accounts/{account}/complete")
    replayed = api(http, "POST", "/v1/transfers", transfer_form(account), key="k")

    assert (replayed.status_code, replayed.data) == (400, refused.data)
    assert sim.transfers() == []


@pytest.mark.parametrize(
    ("path", "form", "message"),
    [
        ("/v1/checkout/sessions", session_form(client_reference_id="or_2"), "same parameters"),
        ("/v1/accounts", {"type": "express"}, "same endpoint"),
    ],
    ids=["other-parameters", "other-endpoint"],
)
def test_reusing_a_key_for_another_request_is_an_idempotency_error(
    http: Client, path: str, form: dict[str, str], message: str
) -> None:
    api(http, "POST", "/v1/checkout/sessions", session_form(), key="order-1")

    found = api(http, "POST", path, form, key="order-1")

    assert found.status_code == 400
    assert found.json["error"]["type"] == "idempotency_error"
    assert message in found.json["error"]["message"]


def test_a_key_sent_to_an_unknown_url_stays_unused(http: Client) -> None:
    assert api(http, "POST", "/v1/acounts", {"type": "express"}, key="k").status_code == 404

    created = api(http, "POST", "/v1/accounts", {"type": "express"}, key="k")

    assert created.status_code == 200
    assert "Idempotent-Replayed" not in created.headers


def test_keys_are_forgotten_after_24_hours_of_the_simulators_clock(
    sim: StripeSimulator, http: Client
) -> None:
    first = api(http, "POST", "/v1/checkout/sessions", session_form(), key="order-1").json
    sim.advance_clock(DAY - 1)
    assert api(http, "POST", "/v1/checkout/sessions", session_form(), key="order-1").json["id"] == first["id"]

    sim.advance_clock(1)
    later = api(http, "POST", "/v1/checkout/sessions", session_form(), key="order-1")

    assert later.json["id"] != first["id"]
    assert "Idempotent-Replayed" not in later.headers


# ---------------------------------------------------------------------- failure injection


def test_a_failure_before_commit_changes_nothing_and_is_logged(sim: StripeSimulator, http: Client) -> None:
    destination = payable_account(http)
    control(http, "/_sim/fail_next", {"path": "/v1/transfers", "status": 503})

    failed = api(http, "POST", "/v1/transfers", transfer_form(destination), key="w1")
    retried = api(http, "POST", "/v1/transfers", transfer_form(destination), key="w1")

    assert (failed.status_code, failed.json["error"]["type"]) == (503, "api_error")
    assert retried.status_code == 200
    assert "Idempotent-Replayed" not in retried.headers
    assert [t["id"] for t in sim.transfers()] == [retried.json["id"]]
    log = answer(http.get("/_sim/requests")).json["data"]
    assert [(r["path"], r["status"], r["injected"]) for r in log if r["path"] == "/v1/transfers"] == [
        ("/v1/transfers", 503, True),
        ("/v1/transfers", 200, False),
    ]


def test_a_failure_after_commit_makes_the_transfer_and_the_retry_replays_it(
    sim: StripeSimulator, http: Client
) -> None:
    destination = payable_account(http)
    control(http, "/_sim/fail_next", {"path": "/v1/transfers", "after_commit": True})

    lost = api(http, "POST", "/v1/transfers", transfer_form(destination), key="w1")
    retried = api(http, "POST", "/v1/transfers", transfer_form(destination), key="w1")

    assert lost.status_code == 500
    assert retried.headers["Idempotent-Replayed"] == "true"
    assert [t["id"] for t in sim.transfers()] == [retried.json["id"]]


def test_failures_can_be_narrowed_to_parameters_and_counted(http: Client) -> None:
    first, second = payable_account(http), payable_account(http)
    control(http, "/_sim/fail_next", {"path": "/v1/transfers", "times": 2, "params": {"destination": second}})

    statuses = [
        api(http, "POST", "/v1/transfers", transfer_form(d)).status_code
        for d in (first, second, second, second)
    ]

    assert statuses == [200, 500, 500, 200]
    assert answer(http.get("/_sim/fail_next")).json == {"data": []}


# ---------------------------------------------------------------------- objects, expand, lists, events


def test_a_paid_session_expands_to_its_payment_intent_and_charge(http: Client) -> None:
    session = paid_session(http)

    expanded = api(
        http, "GET", f"/v1/checkout/sessions/{session['id']}", {"expand[]": "payment_intent.latest_charge"}
    )

    intent = expanded.json["payment_intent"]
    assert (intent["object"], intent["status"], intent["amount"]) == ("payment_intent", "succeeded", 999)
    charge = intent["latest_charge"]
    assert (charge["object"], charge["amount"], charge["currency"]) == ("charge", 999, "usd")
    assert charge["metadata"] == {"order_id": "or_1"}
    assert api(http, "GET", f"/v1/checkout/sessions/{session['id']}", {"expand[]": "nope"}).status_code == 400


def test_objects_keep_the_fixtures_shape_with_the_fields_that_matter_set(http: Client) -> None:
    session = paid_session(http)
    charge = api(http, "GET", f"/v1/payment_intents/{session['payment_intent']}").json["latest_charge"]

    body = api(http, "GET", f"/v1/charges/{charge}").json

    assert body["id"].startswith("ch_")
    assert body["livemode"] is False
    assert {"outcome", "payment_method_details", "billing_details", "refunds"} <= body.keys()
    # The fixture's sample values that would mislead are reset.
    assert body["source"] is None
    assert body["transfer_data"] is None


def test_transfer_lists_page_newest_first(http: Client) -> None:
    destination = payable_account(http)
    made = [
        api(http, "POST", "/v1/transfers", transfer_form(destination, transfer_group="g")).json["id"]
        for _ in range(3)
    ]

    first = api(http, "GET", "/v1/transfers", {"transfer_group": "g", "limit": "2"}).json
    rest = api(
        http, "GET", "/v1/transfers", {"transfer_group": "g", "limit": "2", "starting_after": made[1]}
    ).json

    assert ([t["id"] for t in first["data"]], first["has_more"]) == ([made[2], made[1]], True)
    assert ([t["id"] for t in rest["data"]], rest["has_more"]) == ([made[0]], False)
    assert first["url"] == "/v1/transfers"


def test_events_caused_by_an_api_request_name_it(http: Client) -> None:
    destination = payable_account(http)
    made = api(http, "POST", "/v1/transfers", transfer_form(destination), key="payout-7")

    events = api(http, "GET", "/v1/events", {"type": "transfer.created"}).json["data"]

    assert events[0]["request"] == {"id": made.headers["Request-Id"], "idempotency_key": "payout-7"}
    assert events[0]["data"]["object"]["id"] == made.json["id"]


def test_a_partial_refund_reports_what_changed_on_the_charge(http: Client) -> None:
    session = paid_session(http)
    control(http, f"/_sim/checkout/sessions/{session['id']}/refund", {"amount": 300})

    event = api(http, "GET", "/v1/events", {"type": "charge.refunded"}).json["data"][0]

    charge = event["data"]["object"]
    assert (charge["amount_refunded"], charge["refunded"]) == (300, False)
    assert event["data"]["previous_attributes"]["amount_refunded"] == 0


def test_account_updated_names_the_connected_account_and_its_previous_state(http: Client) -> None:
    account = payable_account(http)

    event = api(http, "GET", "/v1/events", {"type": "account.updated"}).json["data"][0]

    assert event["account"] == account
    assert event["data"]["previous_attributes"]["payouts_enabled"] is False
    assert event["data"]["object"]["requirements"]["currently_due"] == []


def test_completed_onboarding_verifies_the_individuals_date_of_birth(http: Client) -> None:
    # Given an account whose holder onboards as a 17-year-old, and one with the default (an adult)
    minor = api(http, "POST", "/v1/accounts", {"type": "express", "country": "US"}).json["id"]
    control(http, f"/_sim/accounts/{minor}/complete", {"dob": "2009-06-30"})
    adult = payable_account(http)

    # Then the account, and the account.updated event, carry the verified date of birth
    shown = api(http, "GET", f"/v1/accounts/{minor}").json
    assert shown["business_type"] == "individual"
    assert shown["individual"]["dob"] == {"day": 30, "month": 6, "year": 2009}
    assert shown["individual"]["verification"]["status"] == "verified"
    events = api(http, "GET", "/v1/events", {"type": "account.updated"}).json["data"]
    by_account = {e["account"]: e["data"]["object"] for e in events}
    assert by_account[adult]["individual"]["dob"]["year"] == 1990
    assert by_account[minor]["individual"]["dob"]["year"] == 2009


def test_open_sessions_expire_when_the_clock_passes_their_expires_at(
    sim: StripeSimulator, http: Client
) -> None:
    expires_at = sim.now() + 3600
    session = api(http, "POST", "/v1/checkout/sessions", session_form(expires_at=str(expires_at))).json

    sim.advance_clock(3600)

    expired = api(http, "GET", f"/v1/checkout/sessions/{session['id']}").json
    assert (expired["status"], expired["url"]) == ("expired", None)
    assert [s.type for s in sim.events()] == ["checkout.session.expired"]


# ---------------------------------------------------------------------- hosted pages


def test_the_checkout_page_declines_keeping_the_session_open_then_cancels(
    sim: StripeSimulator, http: Client
) -> None:
    session = api(http, "POST", "/v1/checkout/sessions", session_form()).json
    page = f"/checkout/{session['id']}"

    shown = http.get(page).text
    declined = http.post(page, data={"action": "fail"})
    cancelled = http.post(page, data={"action": "cancel"})

    assert "9.99 USD" in shown
    assert "700 coins" in shown
    assert all(f"id={button}" in shown for button in ("pay", "fail", "cancel"))
    assert "Your card was declined." in declined.text
    assert (cancelled.status_code, cancelled.headers["Location"]) == (303, "http://app.test/cancel")
    assert api(http, "GET", f"/v1/checkout/sessions/{session['id']}").json["status"] == "open"
    assert sim.events() == []


def test_a_completed_or_unknown_session_page_says_so(http: Client) -> None:
    session = paid_session(http)

    assert "is complete" in http.get(f"/checkout/{session['id']}").text
    assert "is complete" in http.post(f"/checkout/{session['id']}", data={"action": "pay"}).text
    assert http.get("/checkout/cs_test_nope").status_code == 404


def test_zero_decimal_currencies_show_whole_units(http: Client) -> None:
    form = session_form(
        **{"line_items[0][price_data][currency]": "jpy", "line_items[0][price_data][unit_amount]": "160"}
    )
    session = api(http, "POST", "/v1/checkout/sessions", form).json

    assert "160 JPY" in http.get(f"/checkout/{session['id']}").text


# ---------------------------------------------------------------------- /_sim controls


def test_sim_controls_refuse_impossible_outcomes_in_stripes_error_format(http: Client) -> None:
    session = paid_session(http)

    twice = answer(http.post(f"/_sim/checkout/sessions/{session['id']}/pay", json={}))
    settle = answer(http.post(f"/_sim/checkout/sessions/{session['id']}/async_succeed", json={}))
    unknown = answer(http.post("/_sim/charges/ch_nope/refund", json={}))
    not_json = answer(http.post("/_sim/clock/advance", data="seconds=5"))

    assert (twice.status_code, twice.json["error"]["code"]) == (400, "checkout_session_not_open")
    assert settle.status_code == 400
    assert (unknown.status_code, unknown.json["error"]["code"]) == (404, "resource_missing")
    assert not_json.status_code == 400


def test_reset_forgets_objects_events_keys_failures_and_the_clock(sim: StripeSimulator, http: Client) -> None:
    paid_session(http)
    api(http, "POST", "/v1/accounts", {"type": "express"}, key="k")
    control(http, "/_sim/fail_next", {"path": "/v1/transfers"})
    control(http, "/_sim/clock/advance", {"seconds": 60})

    control(http, "/_sim/reset")

    assert (sim.events(), sim.store.objects, sim.store.replies, sim.store.failures) == ([], {}, {}, [])
    assert json.loads(http.get("/_sim/clock").data)["offset"] == 0


def test_webhook_endpoints_are_registered_listed_and_deleted_with_the_sdks_event_types(http: Client) -> None:
    form = {"url": "https://api.example/v1/webhooks/stripe", "enabled_events[0]": "charge.refunded"}

    created = api(http, "POST", "/v1/webhook_endpoints", {**form, "api_version": "2026-10-28.endive"})
    unknown_event = api(
        http, "POST", "/v1/webhook_endpoints", {**form, "enabled_events[0]": "charge.reversed"}
    )
    unknown_param = api(http, "POST", "/v1/webhook_endpoints", {**form, "events": "x"})
    listed = api(http, "GET", "/v1/webhook_endpoints")

    # The signing secret is shown once, when it is made
    assert created.status_code == 200
    assert created.json["secret"].startswith("whsec_")
    assert (created.json["status"], created.json["enabled_events"]) == ("enabled", ["charge.refunded"])
    assert [e["id"] for e in listed.json["data"]] == [created.json["id"]]
    assert "secret" not in listed.json["data"][0]
    assert (unknown_event.status_code, unknown_event.json["error"]["param"]) == (400, "enabled_events[0]")
    assert unknown_param.status_code == 400
    deleted = answer(http.delete(f"/v1/webhook_endpoints/{created.json['id']}", headers=AUTH))
    assert deleted.json == {"id": created.json["id"], "object": "webhook_endpoint", "deleted": True}
    assert api(http, "GET", "/v1/webhook_endpoints").json["data"] == []


def test_in_live_mode_it_takes_live_keys_and_answers_as_live_mode() -> None:
    live = Client(StripeSimulator(port=0, public_url="http://sim.test", livemode=True).app)
    live_key = {"Authorization": "Bearer rk_live_checkout"}

    refused = answer(live.get("/v1/events", headers={"Authorization": "Bearer sk_test_realkey1234"}))
    created = answer(live.post("/v1/checkout/sessions", data=session_form(), headers=live_key))

    assert (refused.status_code, refused.json["error"]["message"]) == (
        401,
        "Invalid API Key provided: sk_test_****1234",
    )
    session = created.json
    assert (created.status_code, session["livemode"]) == (200, True)
    assert session["id"].startswith("cs_live_a1")
    assert "LIVE MODE" in live.get(f"/checkout/{session['id']}").text
    paid = control(live, f"/_sim/checkout/sessions/{session['id']}/pay")
    event = answer(live.get("/v1/events", headers=live_key)).json["data"][0]
    assert (event["type"], event["livemode"], event["data"]["object"]["id"]) == (
        "checkout.session.completed",
        True,
        paid["id"],
    )
