"""The local stack's own parts, without sockets: tokens, the gateway's events, Stripe's form encoding,
template values resolved locally, each function's environment, the permission check, the payout
queue's event source and the API docs page."""

import base64
import json
import threading
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from werkzeug.test import Client

from devstack.cfn import LocalStackValues
from devstack.event_filters import FilterNotUnderstood, filter_matches
from devstack.event_sources import drain, sqs_sources, stream_record, stream_sources
from devstack.gateway import Gateway
from devstack.iam_policies import (
    AuthorizationRequest,
    PolicyNotUnderstood,
    Statement,
    _statement,
    compile_policies,
    decide,
)
from devstack.iam_requests import KeySchema, ResourceNamer
from devstack.local_env import LocalServices, function_environments, stack_values
from devstack.permissions import PermissionGuard, acting_as, install
from devstack.stripe_sim.forms import decode_form
from devstack.template import Route, function_specs, load_template, table_definition
from devstack.tokens import InvalidToken, jwks, mint_token, verify_token


@pytest.fixture
def keys(tmp_path: Path) -> Path:
    return tmp_path / "jwt"


def test_a_minted_token_verifies_with_its_claims(keys: Path) -> None:
    claims = verify_token(mint_token("alice", country="JP", groups=("admins",), key_dir=keys), key_dir=keys)
    assert (claims["sub"], claims["country"], claims["cognito:groups"]) == ("alice", "JP", ["admins"])
    assert jwks(keys)["keys"][0]["kty"] == "RSA"


@pytest.mark.parametrize("case", ["expired", "audience", "issuer", "other_key", "hs256"])
def test_tokens_the_authorizer_would_refuse_are_refused(keys: Path, tmp_path: Path, case: str) -> None:
    import jwt

    token = {
        "expired": lambda: mint_token("alice", expires_in=-10, key_dir=keys),
        "audience": lambda: mint_token("alice", audience="other", key_dir=keys),
        "issuer": lambda: mint_token("alice", issuer="https://elsewhere.example", key_dir=keys),
        "other_key": lambda: mint_token("alice", key_dir=tmp_path / "other"),
        "hs256": lambda: jwt.encode(
            {"sub": "alice"}, "a-shared-secret-of-enough-length-1234", algorithm="HS256"
        ),
    }[case]()
    with pytest.raises(InvalidToken):
        verify_token(token, key_dir=keys)


class Recorder:
    def __init__(self, answer: Any = None) -> None:
        self.events: list[dict[str, Any]] = []
        self.answer = answer if answer is not None else {"statusCode": 200, "body": "{}"}

    def __call__(self, event: dict[str, Any], context: Any) -> Any:
        self.events.append(event)
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def gateway_for(handler: Recorder, keys: Path) -> Client:
    routes = [
        Route("POST", "/v1/things/{thing_id}/parts", "ThingFunction", keys, "app.handler", True),
        Route("POST", "/v1/hooks", "HookFunction", keys, "app.handler", False),
    ]
    return Client(Gateway(routes, load=lambda _: handler, key_dir=keys))


def test_a_request_becomes_the_http_api_v2_event(keys: Path) -> None:
    handler = Recorder()
    token = mint_token("alice", groups=("admins", "ops"), key_dir=keys)

    gateway_for(handler, keys).post(
        "/v1/things/t-1/parts?a=1&a=2&b=x",
        headers={"Authorization": f"Bearer {token}", "X-Trace": "abc"},
        data=b'{"n": 1}',
    )

    (event,) = handler.events
    assert event["version"] == "2.0"
    assert event["routeKey"] == "POST /v1/things/{thing_id}/parts"
    assert event["pathParameters"] == {"thing_id": "t-1"}
    assert event["queryStringParameters"] == {"a": "1,2", "b": "x"}
    assert event["headers"]["x-trace"] == "abc"
    assert event["body"] == '{"n": 1}'
    assert event["isBase64Encoded"] is False
    claims = event["requestContext"]["authorizer"]["jwt"]["claims"]
    assert (claims["sub"], claims["cognito:groups"]) == ("alice", "[admins ops]")


def test_binary_bodies_are_base64_and_open_routes_carry_no_authorizer(keys: Path) -> None:
    handler = Recorder()
    gateway_for(handler, keys).post("/v1/hooks", data=b"\xff\xfe")
    (event,) = handler.events
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == b"\xff\xfe"
    assert "authorizer" not in event["requestContext"]


@pytest.mark.parametrize("authorization", [None, "Bearer nonsense", "Basic abc"])
def test_bad_or_missing_tokens_never_reach_the_handler(keys: Path, authorization: str | None) -> None:
    handler = Recorder()
    headers = {"Authorization": authorization} if authorization else {}

    answer = gateway_for(handler, keys).post("/v1/things/t-1/parts", headers=headers)

    assert answer.status_code == 401
    assert json.loads(answer.data)["error"]["code"] == "unauthenticated"
    assert handler.events == []


def test_responses_unknown_routes_and_failures_are_answered_as_api_gateway_does(keys: Path) -> None:
    binary = Recorder(
        {
            "statusCode": 201,
            "body": base64.b64encode(b"\x00\x01").decode(),
            "isBase64Encoded": True,
            "headers": {"X-A": "1"},
            "cookies": ["s=1"],
        }
    )
    answer = gateway_for(binary, keys).post("/v1/hooks")
    assert (answer.status_code, answer.data, answer.headers["X-A"], answer.headers["Set-Cookie"]) == (
        201,
        b"\x00\x01",
        "1",
        "s=1",
    )
    assert gateway_for(binary, keys).get("/v1/hooks").status_code == 404
    assert gateway_for(binary, keys).get("/v1/nowhere").status_code == 404
    failing = gateway_for(Recorder(RuntimeError("boom")), keys).post("/v1/hooks")
    assert (failing.status_code, json.loads(failing.data)) == (500, {"message": "Internal Server Error"})


def test_stripes_bracketed_form_fields_decode_to_nested_objects() -> None:
    decoded = decode_form(
        [
            ("mode", "payment"),
            ("metadata[order_id]", "or_1"),
            ("line_items[0][price_data][unit_amount]", "999"),
            ("line_items[0][quantity]", "1"),
            ("payment_method_types[]", "card"),
            ("payment_method_types[]", "konbini"),
        ]
    )
    assert decoded == {
        "mode": "payment",
        "metadata": {"order_id": "or_1"},
        "line_items": [{"price_data": {"unit_amount": "999"}, "quantity": "1"}],
        "payment_method_types": ["card", "konbini"],
    }
    with pytest.raises(ValueError, match="malformed"):
        decode_form([("a]b", "x")])


# ---------------------------------------------------------------- template values, resolved locally


def local_values() -> LocalStackValues:
    return stack_values(
        LocalServices(
            table="coins-t",
            dynamodb_url="http://ddb",
            api_url="http://api",
            stripe_url=None,
            aws_url="http://aws",
        )
    )


def test_intrinsics_resolve_to_the_local_stand_ins() -> None:
    values = local_values()
    values.template = {
        **values.template,
        "Conditions": {"Yes": {"Fn::Equals": ["a", "a"]}, "No": {"Fn::Not": [{"Condition": "Yes"}]}},
    }

    assert (
        values.resolve({"Fn::GetAtt": "LedgerTable.Arn"})
        == "arn:aws:dynamodb:us-east-1:123456789012:table/coins-t"
    )
    assert values.resolve({"Fn::GetAtt": ["PayoutQueue", "Arn"]}).endswith(
        ":sqs:us-east-1:123456789012:coins-local-PayoutQueue"
    )
    assert values.resolve({"Ref": "PayoutQueue"}) == "http://aws/123456789012/coins-local-PayoutQueue"
    assert (
        values.resolve(
            {
                "Fn::Sub": "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:${StripeWebhookSecretName}-??????"
            }
        )
        == "arn:aws:secretsmanager:us-east-1:123456789012:secret:coins/stripe-webhook-??????"
    )
    assert (
        values.resolve({"Fn::Sub": ["${x}/${!Literal}", {"x": {"Ref": "LedgerTable"}}]})
        == "coins-t/${Literal}"
    )
    assert values.resolve(
        [{"Fn::If": ["No", "a", {"Ref": "AWS::NoValue"}]}, {"Fn::Join": ["-", ["a", "b"]]}]
    ) == ["a-b"]
    assert values.resolve({"Ref": "OnboardingReturnUrl"}) == "http://api/creator/onboarding/done"


# ---------------------------------------------------------------- each function's environment


LOCAL_SERVICES = LocalServices(
    table="coins-t",
    dynamodb_url="http://ddb",
    api_url="http://api",
    stripe_url="http://sim",
    aws_url="http://aws",
)


@pytest.mark.parametrize("livemode", [False, True])
def test_the_stripe_mode_reaches_every_function_from_the_template_parameter(livemode: bool) -> None:
    services = replace(LOCAL_SERVICES, stripe_livemode=livemode)
    template = load_template()

    envs = function_environments(services)

    assert template["Globals"]["Function"]["Environment"]["Variables"]["STRIPE_LIVEMODE"] == {
        "Ref": "StripeLivemode"
    }
    assert template["Parameters"]["StripeLivemode"]["Default"] == "false"
    assert {name: env["STRIPE_LIVEMODE"] for name, env in envs.items()} == {
        name: "true" if livemode else "false" for name in envs
    }


def test_each_function_gets_its_own_variables_resolved_and_only_its_own_secret_name() -> None:
    envs = function_environments(LOCAL_SERVICES, secrets={"coins/stripe-checkout": {"api_key": "rk_test_c"}})

    assert not [v for v in envs["WalletFunction"] if v.startswith("CHECKOUT_")]
    assert [v for v in envs["WalletFunction"] if v.startswith("STRIPE_")] == ["STRIPE_LIVEMODE"]
    assert envs["CheckoutFunction"]["STRIPE_API_KEY_SECRET_NAME"] == "coins/stripe-checkout"
    assert envs["CheckoutFunction"]["CHECKOUT_CANCEL_URL"] == "http://api/checkout/cancelled"
    assert envs["CheckoutFunction"]["STRIPE_API_BASE"] == "http://sim"
    assert envs["CreatorFunction"]["ONBOARDING_REFRESH_URL"] == "http://api/creator/onboarding/retry"
    assert (
        envs["PayoutSchedulerFunction"]["PAYOUT_QUEUE_URL"]
        == "http://aws/123456789012/coins-local-PayoutQueue"
    )
    assert "STRIPE_API_BASE" not in envs["PayoutSchedulerFunction"]
    for name, env in envs.items():
        assert env["TABLE_NAME"] == "coins-t"
        assert env["AWS_LAMBDA_FUNCTION_NAME"] == name
        assert env["AWS_ENDPOINT_URL_SECRETS_MANAGER"] == "http://aws"
        assert not [
            v
            for v in env
            if v.endswith("SECRET_NAME")
            and v != "STRIPE_API_KEY_SECRET_NAME"
            and v != "STRIPE_WEBHOOK_SECRET_NAME"
        ]


# ---------------------------------------------------------------- the permission check


def statement(**raw: Any) -> Statement:
    return _statement({"Effect": "Allow", **raw}, "template", 0)


TABLE_ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/coins-t"
NAMER = ResourceNamer(region="us-east-1", key_schemas={"coins-t": KeySchema("PK", {"GSI1": "GSI1PK"})})


def key(pk: str) -> dict[str, Any]:
    return {"PK": {"S": pk}, "SK": {"S": "X"}}


def test_a_transaction_is_authorized_item_by_item_with_its_leading_keys() -> None:
    requests_ = NAMER.requests(
        "dynamodb",
        "TransactWriteItems",
        {
            "TransactItems": [
                {"Put": {"TableName": "coins-t", "Item": key("XFER#1")}},
                {"Update": {"TableName": "coins-t", "Key": key("ACCT#fan#coins#0")}},
                {"ConditionCheck": {"TableName": "coins-t", "Key": key("ACCT#creator#coins#0")}},
            ]
        },
    )

    assert [(r.action, r.resource, r.context["dynamodb:LeadingKeys"]) for r in requests_] == [
        ("dynamodb:PutItem", TABLE_ARN, ("XFER#1",)),
        ("dynamodb:UpdateItem", TABLE_ARN, ("ACCT#fan#coins#0",)),
        ("dynamodb:ConditionCheckItem", TABLE_ARN, ("ACCT#creator#coins#0",)),
    ]


def test_queries_name_the_index_and_the_partition_key_they_ask_for() -> None:
    (on_table,) = NAMER.requests(
        "dynamodb",
        "Query",
        {
            "TableName": "coins-t",
            "KeyConditionExpression": "#pk = :pk AND SK < :c",
            "ExpressionAttributeNames": {"#pk": "PK"},
            "ExpressionAttributeValues": {":pk": {"S": "HIST#fan#3"}, ":c": {"S": "z"}},
        },
    )
    (on_index,) = NAMER.requests(
        "dynamodb",
        "Query",
        {
            "TableName": "coins-t",
            "IndexName": "GSI1",
            "KeyConditionExpression": "GSI1PK = :pk",
            "ExpressionAttributeValues": {":pk": {"S": "REVIEW"}},
        },
    )
    (batch,) = NAMER.requests("sqs", "SendMessageBatch", {"QueueUrl": "http://aws/123456789012/payouts"})

    assert (on_table.resource, on_table.context["dynamodb:LeadingKeys"]) == (TABLE_ARN, ("HIST#fan#3",))
    assert (on_index.resource, on_index.context["dynamodb:LeadingKeys"]) == (
        f"{TABLE_ARN}/index/GSI1",
        ("REVIEW",),
    )
    assert (batch.action, batch.resource) == ("sqs:SendMessage", "arn:aws:sqs:us-east-1:123456789012:payouts")


def test_stream_reads_are_authorized_on_the_tables_stream_as_its_template_names_it() -> None:
    # DynamoDB Local names its streams in a region and account of its own, labelled by time; a shard
    # iterator starts with its stream's ARN (as in AWS).
    local_arn = "arn:aws:dynamodb:ddblocal:000000000000:table/coins-t/stream/2026-11-25T22:19:55.408"
    (described,) = NAMER.requests("dynamodb", "DescribeStream", {"StreamArn": local_arn})
    (records,) = NAMER.requests("dynamodb", "GetRecords", {"ShardIterator": f"{local_arn}|001|c2hhcmQ="})
    stream = local_values().resolve({"Fn::GetAtt": "LedgerTable.StreamArn"})

    assert described.resource == records.resource == stream == f"{TABLE_ARN}/stream/local"
    assert NAMER.stream_arn("arn:aws:dynamodb:us-east-1:1:table/t/stream/x") == (
        "arn:aws:dynamodb:us-east-1:1:table/t/stream/x"  # a deployed ARN is left as it is
    )


def test_leading_keys_hold_for_every_key_and_an_explicit_deny_wins() -> None:
    accounts_only = statement(
        Action=["dynamodb:BatchGetItem"],
        Resource=TABLE_ARN,
        Condition={"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["ACCT#*"]}},
    )
    (reads_accounts,) = NAMER.requests(
        "dynamodb",
        "BatchGetItem",
        {"RequestItems": {"coins-t": {"Keys": [key("ACCT#a#coins#0"), key("ACCT#b#coins#0")]}}},
    )
    (reads_more,) = NAMER.requests(
        "dynamodb",
        "BatchGetItem",
        {"RequestItems": {"coins-t": {"Keys": [key("ACCT#a#coins#0"), key("XFER#1")]}}},
    )
    deny = _statement({"Effect": "Deny", "Action": "dynamodb:*", "Resource": "*"}, "template", 1)

    assert decide([accounts_only], reads_accounts).allowed
    assert not decide([accounts_only], reads_more).allowed
    assert not decide([accounts_only, deny], reads_accounts).allowed


def test_sam_policy_templates_expand_to_their_actions_and_unknown_ones_are_refused() -> None:
    values = local_values()
    spec = replace(
        function_specs()["WalletFunction"],
        policies=[{"DynamoDBCrudPolicy": {"TableName": {"Ref": "LedgerTable"}}}],
    )
    crud = [s for s in compile_policies(spec, values) if s.source == "DynamoDBCrudPolicy"]
    scan = AuthorizationRequest("dynamodb:Scan", TABLE_ARN)
    any_index = AuthorizationRequest("dynamodb:Query", f"{TABLE_ARN}/index/Other")

    assert decide(crud, scan).allowed
    assert decide(crud, any_index).allowed
    with pytest.raises(PolicyNotUnderstood, match="SAM policy template NoSuchPolicy"):
        compile_policies(replace(spec, policies=[{"NoSuchPolicy": {}}]), values)
    with pytest.raises(PolicyNotUnderstood, match="IpAddress is not evaluated locally"):
        statement(Action="s3:GetObject", Resource="*", Condition={"IpAddress": {"aws:SourceIp": "1.2.3.4"}})


def test_a_refused_call_fails_as_aws_answers_it_and_an_allowed_one_goes_through() -> None:
    guard = PermissionGuard(
        function="WalletFunction",
        role_arn="arn:aws:sts::123456789012:assumed-role/WalletFunctionRole/WalletFunction",
        statements=[
            statement(
                Action="dynamodb:GetItem",
                Resource=TABLE_ARN,
                Condition={"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["ACCT#*"]}},
            )
        ],
        namer=NAMER,
    )
    install()  # before the client is made: a client copies its session's handlers
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(TableName="coins-t", **table_definition())
        with acting_as(guard):
            assert "Item" not in client.get_item(TableName="coins-t", Key=key("ACCT#a#coins#0"))
            with pytest.raises(ClientError) as refused:
                client.get_item(TableName="coins-t", Key=key("XFER#1"))

    error = refused.value.response["Error"]
    assert error["Code"] == "AccessDeniedException"
    assert error["Message"] == (
        "User: arn:aws:sts::123456789012:assumed-role/WalletFunctionRole/WalletFunction is not authorized to perform: "
        f"dynamodb:GetItem on resource: {TABLE_ARN} because no identity-based policy allows the dynamodb:GetItem action"
    )


# ---------------------------------------------------------------- the payout queue's event source


class CountingRuntime:
    """Stands in for the local runtime: records how many invocations overlap, fails some records."""

    def __init__(self, failing: set[str]) -> None:
        self.failing = failing
        self.running = 0
        self.most = 0
        self.batches: list[int] = []
        self._lock = threading.Lock()
        self._overlapped = threading.Event()

    def invoke(self, name: str, event: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self.running += 1
            self.most = max(self.most, self.running)
            self.batches.append(len(event["Records"]))
            if self.running > 1:
                self._overlapped.set()
        # Runs until a second invocation overlaps it (a drain that invokes one at a time never
        # does), then as fast as the pollers go: the overlap does not hang on the machine's speed.
        self._overlapped.wait(timeout=2)
        with self._lock:
            self.running -= 1
        return {
            "batchItemFailures": [
                {"itemIdentifier": r["messageId"]}
                for r in event["Records"]
                if json.loads(r["body"])["n"] in self.failing
            ]
        }


def test_the_queue_is_drained_in_batches_at_most_maximum_concurrency_at_a_time() -> None:
    values = local_values()
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        (source,) = sqs_sources(function_specs()["PayoutWorkerFunction"], values)
        url = sqs.create_queue(QueueName="coins-local-PayoutQueue", Attributes={"VisibilityTimeout": "360"})[
            "QueueUrl"
        ]
        source = replace(source, queue_url=url)
        for n in range(120):
            sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"n": str(n)}))
        runtime = CountingRuntime(failing={"7", "8"})

        report = drain(runtime, source, sqs, region="us-east-1")  # type: ignore[arg-type]
        left = sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=["ApproximateNumberOfMessagesNotVisible"]
        )

    assert (source.batch_size, source.max_concurrency, source.report_failures) == (10, 5, True)
    assert 1 < runtime.most <= 5
    assert max(runtime.batches) <= 10
    # Every message reached the function; SQS delivers at least once (moto, like SQS, may now and then
    # hand one message to two pollers at once), so a repeat is allowed, a loss is not.
    assert report.bodies is not None
    assert {json.loads(b)["n"] for b in report.bodies} == {str(n) for n in range(120)}
    assert report.delivered - 120 == report.succeeded + report.returned - 120 <= 2
    assert report.returned >= 2
    assert (
        left["Attributes"]["ApproximateNumberOfMessagesNotVisible"] == "2"
    )  # back after the visibility timeout


# ---------------------------------------------------------------- the API docs page


def test_the_docs_page_serves_swagger_ui_on_the_openapi_document_with_this_server(keys: Path) -> None:
    client = Client(Gateway([], load=lambda _: Recorder(), key_dir=keys))

    page = client.get("/docs")
    document = json.loads(client.get("/docs?format=json").data)

    assert page.status_code == 200
    assert b"SwaggerUIBundle" in page.data
    assert document["servers"] == [{"url": "http://localhost", "description": "this local stack"}]
    assert "/v1/gifts" in document["paths"]


# ---------------------------------------------------------------- the stream event source


def gift_insert(kind: str = "gift", event_name: str = "INSERT") -> dict[str, Any]:
    return {
        "eventID": "e1",
        "eventName": event_name,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "ddblocal",
        "dynamodb": {
            "ApproximateCreationDateTime": datetime(2026, 11, 25, 22, 19, tzinfo=UTC),
            "Keys": {"PK": {"S": "XFER#gi_1"}, "SK": {"S": "T"}},
            "NewImage": {
                "PK": {"S": "XFER#gi_1"},
                "kind": {"S": kind},
                "coins": {"N": "5"},
                "blob": {"B": b"\x00\x01"},
                "terms": {"M": {"rate": {"S": "1/2"}}},
            },
            "SequenceNumber": "000000000000000000007",
            "SizeBytes": 40,
            "StreamViewType": "NEW_IMAGE",
        },
    }


def test_the_settlements_source_is_the_templates_event_with_lambdas_defaults_filled_in() -> None:
    (source,) = stream_sources(function_specs()["GiftSettlementFunction"], local_values())

    assert source.stream_arn == f"{TABLE_ARN}/stream/local"
    assert (source.table, source.starting_position, source.batch_size) == ("coins-t", "TRIM_HORIZON", 1000)
    assert (source.batching_window_seconds, source.tumbling_window_seconds) == (1.0, 60)
    assert (source.report_failures, source.bisect_on_error, source.maximum_retry_attempts) == (
        True,
        True,
        1000,
    )
    assert source.on_failure_queue_url == "http://aws/123456789012/coins-local-GiftSettlementDeadLetterQueue"
    assert source.function_arn == "arn:aws:lambda:us-east-1:123456789012:function:GiftSettlementFunction"


def test_a_stream_record_is_handed_over_as_lambda_does_and_filtered_as_the_template_says() -> None:
    (source,) = stream_sources(function_specs()["GiftSettlementFunction"], local_values())
    (pattern,) = source.filters

    record = stream_record(gift_insert(), source, "us-east-1")

    assert record["eventSourceARN"] == source.stream_arn
    assert record["awsRegion"] == "us-east-1"
    assert record["dynamodb"]["ApproximateCreationDateTime"] == 1795645140
    assert record["dynamodb"]["NewImage"]["blob"] == {"B": "AAE="}  # binary as base64 text
    assert record["dynamodb"]["NewImage"]["terms"] == {"M": {"rate": {"S": "1/2"}}}
    json.dumps(record)  # the event is JSON, as Lambda sends it
    assert filter_matches(pattern, record)
    assert not filter_matches(pattern, stream_record(gift_insert(kind="deposit"), source, "us-east-1"))
    assert not filter_matches(pattern, stream_record(gift_insert(event_name="MODIFY"), source, "us-east-1"))


def test_filter_patterns_match_as_lambda_matches_them_and_unknown_operators_are_refused() -> None:
    record = {
        "eventName": "INSERT",
        "dynamodb": {"NewImage": {"amount": {"N": "5"}, "code": {"S": "gift-x"}}},
    }
    image: dict[str, Any] = {"dynamodb": {"NewImage": {}}}

    def where(**fields: Any) -> dict[str, Any]:
        return {"dynamodb": {"NewImage": fields}}

    assert filter_matches({"eventName": ["MODIFY", "INSERT"]}, record)
    assert filter_matches(where(amount={"N": [5]}), record)  # numbers compare as numbers
    assert filter_matches(where(code={"S": [{"prefix": "gift"}]}), record)
    assert filter_matches(where(code={"S": [{"anything-but": ["deposit"]}]}), record)
    assert filter_matches(where(missing=[{"exists": False}]), record)
    assert not filter_matches(where(code=[{"exists": False}]), record)
    assert not filter_matches(where(amount={"N": [6]}), record)
    assert not filter_matches({"dynamodb": {"NewImage": {"amount": {"N": [5]}}}}, image)
    with pytest.raises(FilterNotUnderstood):
        stream_sources(
            replace(
                function_specs()["GiftSettlementFunction"],
                events={
                    "GiftInserts": {
                        "Type": "DynamoDB",
                        "Properties": {
                            "Stream": {"Fn::GetAtt": "LedgerTable.StreamArn"},
                            "FilterCriteria": {
                                "Filters": [{"Pattern": '{"eventName": [{"wildcard": "I*"}]}'}]
                            },
                        },
                    }
                },
            ),
            local_values(),
        )
