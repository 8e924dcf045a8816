"""The template's operations section held to the rest of the template and to the code: every
function has its log group and alarms, every metric an alarm or the dashboard reads is one the
functions emit, every route has its latency on the dashboard and its throttle key is a real route."""

import json
import re
from typing import Any

import pytest

from bench.fixed_costs import emitted_metrics
from devstack.local_env import LocalServices, stack_values
from devstack.template import ROOT, functions, http_routes, load_template, resources

TEMPLATE = load_template()
RESOURCES = resources()
GLOBAL_ENV = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]
NAMESPACE = GLOBAL_ENV["POWERTOOLS_METRICS_NAMESPACE"]
SERVICE = GLOBAL_ENV["POWERTOOLS_SERVICE_NAME"]
TOPIC_ACTIONS = {"Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]}
# Metrics defined outside the functions' code: counted from the webhook's log by a metric filter,
# and emitted by the scheduled ledger checker (another piece of work adds it).
NOT_FROM_FUNCTIONS = {"WebhookSignatureRefused", "LedgerDiscrepancies"}


def of_type(kind: str) -> dict[str, dict[str, Any]]:
    return {name: res for name, res in RESOURCES.items() if res["Type"] == kind}


def stream_events(props: dict[str, Any]) -> list[str]:
    return [n for n, e in props.get("Events", {}).items() if e.get("Type") in ("DynamoDB", "Kinesis")]


def alarm_metrics(alarm: dict[str, Any]) -> list[tuple[str, str, list[dict[str, Any]]]]:
    props = alarm["Properties"]
    if "MetricName" in props:
        return [(props["Namespace"], props["MetricName"], props.get("Dimensions", []))]
    return [
        (m["MetricStat"]["Metric"]["Namespace"], m["MetricStat"]["Metric"]["MetricName"],
         m["MetricStat"]["Metric"].get("Dimensions", []))
        for m in props["Metrics"]
        if "MetricStat" in m
    ]  # fmt: skip


def dashboard() -> dict[str, Any]:
    return resolved_dashboard()[0]


def dashboard_metrics() -> list[list[Any]]:
    return [m for widget in dashboard()["widgets"] for m in widget["properties"]["metrics"]]


@pytest.mark.parametrize("function", sorted(functions()))
def test_every_function_has_a_log_group_with_retention(function: str) -> None:
    groups = {
        res["Properties"]["LogGroupName"]["Fn::Sub"]: res["Properties"]
        for res in of_type("AWS::Logs::LogGroup").values()
    }
    # Lambda writes to /aws/lambda/<function name>; the stack owns that group and its retention.
    assert groups[f"/aws/lambda/${{{function}}}"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}


@pytest.mark.parametrize("function", sorted(functions()))
def test_every_function_has_error_and_throttle_alarms(function: str) -> None:
    watched = {
        metric
        for alarm in of_type("AWS::CloudWatch::Alarm").values()
        for namespace, metric, dimensions in alarm_metrics(alarm)
        if namespace == "AWS/Lambda" and {"Name": "FunctionName", "Value": {"Ref": function}} in dimensions
    }
    assert watched - {"IteratorAge"} == {"Errors", "Throttles"}


@pytest.mark.parametrize("function", sorted(f for f, props in functions().items() if stream_events(props)))
def test_every_stream_consumer_has_an_iterator_age_alarm(function: str) -> None:
    # AWS's advice for a stream event source (Lambda developer guide, "Using Lambda with DynamoDB"):
    # watch IteratorAge, the age of the last record read; it grows while a consumer falls behind.
    ages = [
        alarm["Properties"]
        for alarm in of_type("AWS::CloudWatch::Alarm").values()
        for namespace, metric, dimensions in alarm_metrics(alarm)
        if (namespace, metric) == ("AWS/Lambda", "IteratorAge")
        and {"Name": "FunctionName", "Value": {"Ref": function}} in dimensions
    ]
    assert len(ages) == 1
    assert ages[0]["Statistic"] == "Maximum"
    # ... alarming well before the stream's 24 hours run out, and past a busy minute's backlog
    assert 60_000 <= ages[0]["Threshold"] <= 3_600_000  # milliseconds


def resolved_dashboard(parameters: dict[str, str] | None = None) -> tuple[dict[str, Any], set[str]]:
    """The dashboard's body as CloudFormation would make it, and the functions deployed with it."""
    values = stack_values(
        LocalServices(table="t", dynamodb_url="", api_url="", stripe_url=None, aws_url=None)
    )
    values.parameters.update({"JwtIssuer": "https://issuer", "JwtAudience": "app", **(parameters or {})})
    body = values.resolve(RESOURCES["OperationsDashboard"]["Properties"]["DashboardBody"])
    deployed = {
        name
        for name in functions()
        if "Condition" not in RESOURCES[name] or values.condition(RESOURCES[name]["Condition"])
    }
    return json.loads(body), deployed


@pytest.mark.parametrize("user_pool", ["", "us-east-1_EXAMPLE"], ids=["another issuer", "cognito"])
@pytest.mark.parametrize(
    ("metric", "title"), [("Errors", "Errors per minute"), ("Throttles", "Throttles per minute")]
)
def test_the_error_and_throttle_widgets_show_every_function_of_the_template(
    metric: str, title: str, user_pool: str
) -> None:
    # Given the stack with and without its optional functions (TokenClaimsFunction: a Cognito pool)
    board, deployed = resolved_dashboard({"CognitoUserPoolId": user_pool})
    assert ("TokenClaimsFunction" in deployed) == bool(user_pool)
    (widget,) = [w for w in board["widgets"] if w["properties"]["title"] == title]
    shown = {m[3] for m in widget["properties"]["metrics"] if m[:3] == ["AWS/Lambda", metric, "FunctionName"]}
    # Locally a function's !Ref is its logical id
    assert shown == deployed


def test_each_dead_letter_alarms_runbook_line_names_every_function_that_dead_letters_there() -> None:
    guide = (ROOT / "docs/deploy.md").read_text()
    senders: dict[str, set[str]] = {}
    for name, props in functions().items():
        for event in props.get("Events", {}).values():
            config = event.get("Properties", {})
            target = config.get("DeadLetterConfig", {}).get("Arn") or config.get("DestinationConfig", {}).get(
                "OnFailure", {}
            ).get("Destination")
            if target:
                senders.setdefault(target["Fn::GetAtt"].split(".")[0], set()).add(name)
    assert senders["PayoutScheduleDeadLetterQueue"] == {
        "PayoutSchedulerFunction",
        "LedgerCheckerFunction",
        "BooksExportFunction",
        "BooksAuditFunction",
        "BooksStatementFunction",
    }
    for queue, names in senders.items():
        (alarm,) = [
            a
            for a, res in of_type("AWS::CloudWatch::Alarm").items()
            if any(
                d and d[0]["Value"] == {"Fn::GetAtt": f"{queue}.QueueName"} for _, _, d in alarm_metrics(res)
            )
        ]
        line = next(row for row in guide.splitlines() if row.startswith(f"| `{alarm}` |"))
        assert [n for n in names if n not in line] == [], alarm


def test_every_alarm_notifies_the_alarm_topic() -> None:
    alarms = of_type("AWS::CloudWatch::Alarm")
    assert len(alarms) >= 2 * len(functions()) + 10
    assert {
        name for name, alarm in alarms.items() if alarm["Properties"].get("AlarmActions") != TOPIC_ACTIONS
    } == set()


def test_the_service_metrics_read_are_the_ones_the_functions_emit() -> None:
    # Given every metric of the service's namespace that an alarm, the dashboard or a filter names
    read = {
        (metric, json.dumps(dims, sort_keys=True))
        for alarm in of_type("AWS::CloudWatch::Alarm").values()
        for namespace, metric, dims in alarm_metrics(alarm)
        if namespace == NAMESPACE
    }
    read |= {
        (m[1], json.dumps([{"Name": m[2], "Value": m[3]}], sort_keys=True))
        for m in dashboard_metrics()
        if m[0] == NAMESPACE
    }
    names = {metric for metric, _ in read}
    # Then each is emitted by the code (or one of the two defined elsewhere), under the service's
    # single dimension, as Powertools Metrics publishes it
    assert names - emitted_metrics() - NOT_FROM_FUNCTIONS == set()
    assert {dims for _, dims in read} == {json.dumps([{"Name": "service", "Value": SERVICE}])}
    # And the alarms the issue asks for read their metrics
    assert {
        "GiftCoins",
        "Payout_failed",
        "LedgerDiscrepancies",
        "WebhookSignatureRefused",
        "LedgerAdjustments",
    } <= names


def test_every_refusal_outcome_of_the_webhook_is_alarmed() -> None:
    refusals = {m for m in emitted_metrics() if m.startswith("StripeEvent_refused")}
    alarmed = {metric for _, metric, _ in alarm_metrics(RESOURCES["WebhookEventsRefusedAlarm"])}
    assert refusals
    assert refusals <= alarmed


def test_the_metric_filter_counts_into_the_service_namespace() -> None:
    props = RESOURCES["WebhookSignatureRefusedMetricFilter"]["Properties"]
    assert props["LogGroupName"] == {"Ref": "PaymentWebhookFunctionLogGroup"}
    (transformation,) = props["MetricTransformations"]
    assert transformation["MetricNamespace"] == NAMESPACE
    assert transformation["Dimensions"] == [{"Key": "service", "Value": "$.service"}]


def test_the_dashboard_shows_p99_latency_for_every_route() -> None:
    shown = {
        (m[m.index("Method") + 1], m[m.index("Resource") + 1])
        for m in dashboard_metrics()
        if m[:2] == ["AWS/ApiGateway", "Latency"]
    }
    widget = next(w for w in dashboard()["widgets"] if w["properties"]["title"].startswith("p99 latency"))
    assert widget["properties"]["stat"] == "p99"
    assert shown == {(r.method, r.path) for r in http_routes()}


def test_the_dashboard_shows_what_the_issue_asks_for() -> None:
    titles = " | ".join(w["properties"]["title"] for w in dashboard()["widgets"])
    for topic in ("Gifts and coins per minute", "Purchases", "Payouts", "Errors", "p99 latency per route"):
        assert topic in titles


def test_route_throttles_name_real_routes_and_stay_far_below_the_default() -> None:
    api = RESOURCES["HttpApi"]["Properties"]
    keys = {r.route_key for r in http_routes()}
    # A key that matches no route fails the deploy ("Unable to find Route by key").
    assert set(api["RouteSettings"]) <= keys
    assert {"POST /v1/webhooks/stripe", "GET /v1/wallet/transactions"} <= set(api["RouteSettings"])
    params = TEMPLATE["Parameters"]
    default_rate = params[api["DefaultRouteSettings"]["ThrottlingRateLimit"]["Ref"]]["Default"]
    for key in ("POST /v1/webhooks/stripe", "GET /v1/wallet/transactions"):
        rate = params[api["RouteSettings"][key]["ThrottlingRateLimit"]["Ref"]]["Default"]
        assert rate * 5 <= default_rate, key


def test_the_api_writes_an_access_log_without_headers_or_bodies() -> None:
    settings = RESOURCES["HttpApi"]["Properties"]["AccessLogSettings"]
    assert settings["DestinationArn"] == {"Fn::GetAtt": "HttpApiAccessLogGroup.Arn"}
    fields = json.loads(settings["Format"])
    assert fields["requestId"] == "$context.requestId"  # the functions' correlation id
    assert not [v for v in fields.values() if "header" in v.lower() or "body" in v.lower()]


def test_the_webhook_and_admin_functions_reserve_concurrency() -> None:
    for function in ("PaymentWebhookFunction", "AdminFunction"):
        assert "ReservedConcurrentExecutions" in functions()[function]


def test_every_queue_keeps_messages_two_weeks_outlives_the_stack_and_has_its_alarm() -> None:
    queues = of_type("AWS::SQS::Queue")
    for name, queue in queues.items():
        assert queue["Properties"]["MessageRetentionPeriod"] == 1209600, name
        assert queue["DeletionPolicy"] == queue["UpdateReplacePolicy"] == "Retain", name
    alarmed = {
        dims[0]["Value"]["Fn::GetAtt"].split(".")[0]
        for alarm in of_type("AWS::CloudWatch::Alarm").values()
        for namespace, _, dims in alarm_metrics(alarm)
        if namespace == "AWS/SQS"
    }
    assert alarmed == {name for name in queues if "DeadLetter" in name}
    tls_only = RESOURCES["QueuesTlsOnlyPolicy"]["Properties"]["Queues"]
    assert {q["Ref"] for q in tls_only} == set(queues)


def test_the_outbox_pipe_and_the_payout_schedule_have_dead_letter_queues() -> None:
    pipe = RESOURCES["GiftOutboxPipe"]["Properties"]["SourceParameters"]["DynamoDBStreamParameters"]
    assert pipe["DeadLetterConfig"]["Arn"] == {"Fn::GetAtt": "GiftOutboxDeadLetterQueue.Arn"}
    pipe_role = RESOURCES["GiftOutboxPipeRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    assert {"Effect": "Allow", "Action": "sqs:SendMessage",
            "Resource": {"Fn::GetAtt": "GiftOutboxDeadLetterQueue.Arn"}} in pipe_role  # fmt: skip
    schedule = functions()["PayoutSchedulerFunction"]["Events"]["PayoutBatch"]["Properties"]
    assert schedule["DeadLetterConfig"]["Arn"] == {"Fn::GetAtt": "PayoutScheduleDeadLetterQueue.Arn"}


def test_every_skipped_checkov_check_says_why() -> None:
    skips = [
        (name, skip)
        for name, res in RESOURCES.items()
        for skip in res.get("Metadata", {}).get("checkov", {}).get("skip", [])
    ]
    assert skips
    assert [(name, s) for name, s in skips if not re.fullmatch(r"CKV_AWS_\d+", s.get("id", ""))] == []
    assert [(name, s) for name, s in skips if len(s.get("comment", "").split()) < 6] == []


def test_every_parameter_is_documented() -> None:
    params = TEMPLATE["Parameters"]
    assert [name for name, p in params.items() if not p.get("Description")] == []
    deploy_guide = (ROOT / "docs/deploy.md").read_text()
    assert [name for name in params if f"`{name}`" not in deploy_guide] == []
