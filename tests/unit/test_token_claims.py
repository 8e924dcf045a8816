"""The Cognito pre token generation trigger (TokenClaimsFunction), on Cognito's documented V2_0 event.

events/token_claims.json is the event Cognito sends with LambdaVersion V2_0 (Amazon Cognito
developer guide, "Pre token generation Lambda trigger": version "2", request.userAttributes,
request.groupConfiguration, request.scopes; response.claimsAndScopeOverrideDetails null). The
answer must be that event with `accessTokenGeneration` filled in, in the shape Cognito reads, and
hold exactly the claims and scope the API's functions and API Gateway's admin routes read.
"""

import copy
import json
import logging
from typing import Any

import pytest

from coins.identity_claims import ADMIN_SCOPE
from devstack.in_process import load_handler
from devstack.template import ROOT, functions, load_template
from tests.support.apigw import FakeLambdaContext

SAMPLE = json.loads((ROOT / "events/token_claims.json").read_text())
RESOURCES = load_template()["Resources"]


def trigger(event: dict[str, Any]) -> dict[str, Any]:
    answer: dict[str, Any] = load_handler("TokenClaimsFunction")(copy.deepcopy(event), FakeLambdaContext())
    return answer


def with_user(attributes: dict[str, str], groups: list[str]) -> dict[str, Any]:
    event: dict[str, Any] = copy.deepcopy(SAMPLE)
    event["request"]["userAttributes"] = {"sub": "u-1", **attributes}
    event["request"]["groupConfiguration"]["groupsToOverride"] = groups
    return event


def test_an_admins_access_token_gets_country_birthdate_and_the_admin_scope() -> None:
    answer = trigger(SAMPLE)

    # Cognito's V2_0 answer: the event back, with the access token's additions
    assert {k: v for k, v in answer.items() if k != "response"} == {
        k: v for k, v in SAMPLE.items() if k != "response"
    }
    assert answer["response"] == {
        "claimsAndScopeOverrideDetails": {
            "accessTokenGeneration": {
                "claimsToAddOrOverride": {"country": "DE", "birthdate": "1998-04-02"},
                "scopesToAdd": ["coins/admin"],
            }
        }
    }


def test_a_fan_gets_the_claims_and_no_scope_and_groups_are_left_as_cognito_made_them() -> None:
    answer = trigger(with_user({"birthdate": "2001-12-31", "custom:country": "jp"}, []))

    details = answer["response"]["claimsAndScopeOverrideDetails"]
    assert details == {
        "accessTokenGeneration": {
            "claimsToAddOrOverride": {"country": "JP", "birthdate": "2001-12-31"},
            "scopesToAdd": [],
        }
    }
    assert "groupOverrideDetails" not in details  # cognito:groups stays as the pool sets it


@pytest.mark.parametrize(
    ("attributes", "left_out"),
    [
        ({"birthdate": "02/04/1998", "custom:country": "Germany"}, {"birthdate", "custom:country"}),
        ({"birthdate": "2999-01-01", "custom:country": "Z9"}, {"birthdate", "custom:country"}),
        ({"birthdate": "1998-4-2"}, {"birthdate"}),
        ({}, set()),
    ],
)
def test_a_value_the_api_could_misread_is_left_out_and_logged_without_the_value(
    attributes: dict[str, str], left_out: set[str], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        answer = trigger(with_user(attributes, []))

    added = answer["response"]["claimsAndScopeOverrideDetails"]["accessTokenGeneration"][
        "claimsToAddOrOverride"
    ]
    assert {k for k in ("birthdate", "country") if k in added} == (
        {"birthdate", "country"} - {a.removeprefix("custom:") for a in left_out}
    ) & {a.removeprefix("custom:") for a in attributes}
    logged = "\n".join(r.getMessage() + json.dumps(getattr(r, "left_out", {})) for r in caplog.records)
    for value in attributes.values():
        assert value not in logged


def test_the_scope_it_adds_is_the_one_the_admin_routes_ask_for_and_the_stacks_resource_server_defines() -> (
    None
):
    asked = {
        scope
        for event in functions()["AdminFunction"]["Events"].values()
        for scope in event["Properties"]["Auth"]["AuthorizationScopes"]
    }
    server = RESOURCES["CoinsResourceServer"]["Properties"]
    defined = {f"{server['Identifier']}/{s['ScopeName']}" for s in server["Scopes"]}

    assert asked == defined == {ADMIN_SCOPE}


def test_the_trigger_is_deployed_only_with_a_cognito_pool_which_alone_may_invoke_it() -> None:
    optional = {n for n, r in RESOURCES.items() if r.get("Condition") == "UsesCognitoUserPool"}
    assert {"TokenClaimsFunction", "TokenClaimsFunctionCognitoPermission", "CoinsResourceServer"} <= optional
    permission = RESOURCES["TokenClaimsFunctionCognitoPermission"]["Properties"]
    assert permission["Principal"] == "cognito-idp.amazonaws.com"
    assert permission["SourceArn"]["Fn::Sub"].endswith(":userpool/${CognitoUserPoolId}")
    # Cognito waits 5 seconds for a trigger
    assert functions()["TokenClaimsFunction"]["Timeout"] <= 5
