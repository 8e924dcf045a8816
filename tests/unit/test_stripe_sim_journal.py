"""The simulator keeps its state on disk (devstack/stripe_sim/journal.py) when given a directory, as
`make dev` gives it `.local/stripe`: a restart finds every object, event, key and the clock, and a
reset forgets them."""

import json
from pathlib import Path
from typing import Any

from werkzeug.test import Client

from devstack.__main__ import forget_local_data
from devstack.stripe_sim.server import StripeSimulator

AUTH = {"Authorization": "Bearer sk_test_unit"}


def simulator(data_dir: Path, *, livemode: bool = False) -> StripeSimulator:
    return StripeSimulator(port=0, public_url="http://sim.test", data_dir=data_dir, livemode=livemode)


def post(
    http: Client, path: str, form: dict[str, str], key: str | None = None, auth: str = "sk_test_unit"
) -> Any:
    headers = {"Authorization": f"Bearer {auth}", **({"Idempotency-Key": key} if key else {})}
    found = http.post(path, data=form, headers=headers)
    assert found.status_code == 200, found.text
    return json.loads(found.data)


def a_day_of_business(sim: StripeSimulator) -> dict[str, Any]:
    """A paid session refunded in part, a completed account paid by transfer, the clock an hour on."""
    http = Client(sim.app)
    form = {
        "mode": "payment",
        "line_items[0][quantity]": "1",
        "line_items[0][price_data][currency]": "usd",
        "line_items[0][price_data][unit_amount]": "999",
        "line_items[0][price_data][product_data][name]": "700 coins",
    }
    session = post(http, "/v1/checkout/sessions", form, key="order-1")
    sim.sim.pay_session(session["id"])
    charge = sim.sim.session_charge(session["id"])
    sim.sim.refund(charge, amount=300, pending=True)
    account = post(http, "/v1/accounts", {"type": "express", "capabilities[transfers][requested]": "true"})
    post(
        http,
        "/v1/account_links",
        {"account": account["id"], "type": "account_onboarding", "return_url": "http://a/d"},
    )
    sim.sim.complete_account(account["id"])
    transfer = post(
        http, "/v1/transfers", {"amount": "500", "currency": "usd", "destination": account["id"]}, key="t-1"
    )
    sim.advance_clock(3600)
    return {"session": session, "charge": charge, "account": account, "transfer": transfer, "form": form}


def state(sim: StripeSimulator) -> dict[str, Any]:
    with sim.store.lock:
        return {
            "objects": list(dict.values(sim.store.objects)),
            "events": [(s.event, s.deliveries) for s in sim.store.events],
            "replies": dict(sim.store.replies),
            "sessions": dict(sim.store.sessions),
            "onboarding": dict(sim.store.onboarding),
            "offset": sim.store.clock.offset,
        }


def test_a_restarted_simulator_has_every_object_event_key_and_the_clock(tmp_path: Path) -> None:
    first = simulator(tmp_path)
    done = a_day_of_business(first)
    before = state(first)

    again = simulator(tmp_path)

    assert state(again) == before
    assert [kind for kind in again.store.by_kind] == list(first.store.by_kind)
    http = Client(again.app)
    # The same key and parameters still replay the first answer; the session's page still shows it.
    replayed = http.post(
        "/v1/checkout/sessions", data=done["form"], headers={**AUTH, "Idempotency-Key": "order-1"}
    )
    assert (replayed.headers["Idempotent-Replayed"], json.loads(replayed.data)["id"]) == (
        "true",
        done["session"]["id"],
    )
    assert again.sim.line_items(done["session"]["id"])[0].name == "700 coins"
    assert again.sim.onboarding_urls(done["account"]["id"]).return_url == "http://a/d"
    # And it goes on from there: the pending refund fails, and that lasts too.
    (refund,) = again.store.all("refund")
    again.sim.settle_refund(refund["id"], succeeded=False)
    assert simulator(tmp_path).object(done["charge"])["amount_refunded"] == 0  # type: ignore[index]


def test_a_reset_forgets_the_kept_state_too(tmp_path: Path) -> None:
    first = simulator(tmp_path)
    a_day_of_business(first)

    first.reset()

    assert state(simulator(tmp_path)) == state(StripeSimulator(port=0))


def test_test_and_live_mode_keep_their_own_objects(tmp_path: Path) -> None:
    a_day_of_business(simulator(tmp_path))

    live = simulator(tmp_path, livemode=True)

    assert live.store.objects == {}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["live", "test"]


def test_the_journal_grows_by_what_a_request_changed_and_is_compacted_at_start(tmp_path: Path) -> None:
    sim = simulator(tmp_path)
    done = a_day_of_business(sim)
    journal = tmp_path / "test" / "state.jsonl"
    lines = len(journal.read_text().splitlines())

    Client(sim.app).get(f"/v1/transfers/{done['transfer']['id']}", headers=AUTH)  # a read changes nothing
    assert len(journal.read_text().splitlines()) == lines
    simulator(tmp_path)

    kept = [json.loads(line)["kind"] for line in journal.read_text().splitlines()]
    assert kept.count("object") == len(sim.store.objects)
    assert kept.count("event") == len(sim.store.events)
    assert len(kept) < lines


def test_make_dev_reset_forgets_the_table_and_the_stripe_state_together(tmp_path: Path) -> None:
    table, stripe = tmp_path / "dynamodb", tmp_path / "stripe"
    a_day_of_business(simulator(stripe))
    (table / "shared-local-instance.db").parent.mkdir()
    (table / "shared-local-instance.db").write_text("rows")

    forget_local_data(table, stripe)

    assert not table.exists()
    assert state(simulator(stripe))["objects"] == []
