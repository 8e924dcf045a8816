"""docs/deploy.md against the code and the template: the webhook events to register are exactly
those the code handles, on the API version its Stripe SDK speaks; every alarm has its runbook line."""

import re

import stripe

from devstack.preflight import handled_events
from devstack.template import ROOT, resources

GUIDE = (ROOT / "docs/deploy.md").read_text()


def listed_after(heading: str) -> set[str]:
    block = GUIDE.split(heading, 1)[1].split("```text\n", 1)[1].split("```", 1)[0]
    return set(block.split())


def test_the_platform_and_connect_endpoints_list_exactly_the_handled_events() -> None:
    # The webhook's own dispatcher says what it handles (make preflight reads the same)
    platform, connect = handled_events()
    assert connect == {"account.updated"}  # events of connected accounts reach the Connect endpoint only
    assert listed_after("Platform endpoint, these events exactly") == platform
    assert listed_after('Connect endpoint ("Events on connected accounts")') == connect


def test_the_registration_commands_name_every_listed_event_and_the_sdks_api_version() -> None:
    platform, connect = handled_events()
    assert set(re.findall(r'enabled_events\[\]=([a-z_.]+)"', GUIDE)) == platform | connect
    assert set(re.findall(r"api_version=(\S+)", GUIDE)) == {stripe.api_version}


def test_every_alarm_has_a_runbook_line() -> None:
    alarms = [name for name, res in resources().items() if res["Type"] == "AWS::CloudWatch::Alarm"]
    per_function = re.compile(r"\w+Function(Errors|Throttles)Alarm")
    assert [a for a in alarms if not per_function.fullmatch(a) and f"`{a}`" not in GUIDE] == []


def test_every_skipped_checkov_check_is_in_the_security_notes() -> None:
    notes = (ROOT / "docs/security.md").read_text()
    skipped = {
        skip["id"]
        for res in resources().values()
        for skip in res.get("Metadata", {}).get("checkov", {}).get("skip", [])
    }
    assert sorted(s for s in skipped if s not in notes) == []
