"""Cost per million gifts on AWS, every line item a gift touches, from measured counts and CPU time.

What a gift touches (template.yaml): the HTTP API's route (1 request); GiftSendFunction (1 invocation,
its duration); DynamoDB (the request's and its share of the settlement's read and write units); the
table's stream, read by two consumers: GiftSettlementFunction's event source mapping (Lambda's reads
of a stream it triggers from are not billed) and GiftOutboxPipe (its GetRecords calls are, as
streams read request units); the pipe (1 request: the gift's insert passes its filter) and the gift
bus (1 custom event: PutEvents bills each 64 KB entry chunk, with or without a rule); its share of a
GiftSettlementFunction invocation; CloudWatch Logs (every byte each function and the API log per
gift, measured from their lines); X-Ray (Tracing: Active on every function, Lambda's default
sampling); the answer's bytes out to the internet. SQS is touched only when something fails (the
dead-letter queues): nothing per gift.

Prices: AWS's public list prices for us-east-1 (N. Virginia), looked up on PRICES_AS_OF, without
free tiers or savings plans. DynamoDB on-demand, standard table class; API Gateway HTTP API, first
300 million requests a month; Lambda arm64, first tier of duration; CloudWatch Logs standard
ingestion (Lambda's first tier of vended logs is the same price); data transfer out, first 10 TB.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

PRICES_AS_OF = "2026-11-25"
MILLION = Decimal(1_000_000)
PRICES = {
    "dynamodb_write_request_unit_per_million": Decimal("0.625"),
    "dynamodb_read_request_unit_per_million": Decimal("0.125"),
    "dynamodb_streams_read_request_unit_per_million": Decimal("0.20"),
    "http_api_request_per_million": Decimal("1.00"),
    "lambda_request_per_million": Decimal("0.20"),
    "lambda_arm64_gb_second": Decimal("0.0000133334"),
    "pipes_request_per_million": Decimal("0.40"),
    "eventbridge_custom_event_per_million": Decimal("1.00"),
    "logs_ingested_per_gb": Decimal("0.50"),
    "xray_trace_recorded_per_million": Decimal("5.00"),
    "data_transfer_out_per_gb": Decimal("0.09"),
}
# Lambda SnapStart for Python: the snapshot's cache, per GB of memory and second each published
# version is kept, and each restore, per GB restored. Priced for the choice in docs/performance.md.
SNAPSTART_PRICES = {
    "snapstart_cache_gb_second": Decimal("0.0000015046"),
    "snapstart_restore_per_gb": Decimal("0.0001397998"),
}
# Lambda gives a function one full vCPU at 1,769 MB and a share in proportion below that.
FULL_VCPU_MB = Decimal(1769)
# What one sequential DynamoDB call adds to a function's billed duration on AWS: an assumption
# (single-digit milliseconds for single-item operations, about twice for a transaction), since
# DynamoDB Local's latency says nothing about AWS's.
AWS_CALL_MILLISECONDS = {"TransactWriteItems": Decimal(10), "TransactGetItems": Decimal(10)}
AWS_OTHER_CALL_MILLISECONDS = Decimal(5)
# Lambda's own lines per invocation in the template's text log format, as it writes them (the
# REPORT line with a sampled trace's X-Ray line); CloudWatch Logs bills 26 bytes more per log event.
LAMBDA_PLATFORM_LINES = (
    "START RequestId: 6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f Version: $LATEST\n",
    "END RequestId: 6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f\n",
    "REPORT RequestId: 6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f\tDuration: 26.89 ms\tBilled Duration: 27 ms\t"
    "Memory Size: 1024 MB\tMax Memory Used: 131 MB\t\nXRAY TraceId: 1-6759a1b2-3c4d5e6f7a8b9c0d1e2f3a4b\t"
    "SegmentId: 5a6b7c8d9e0f1a2b\tSampled: true\t\n",
)
LAMBDA_PLATFORM_LOG_BYTES = sum(len(line.encode()) for line in LAMBDA_PLATFORM_LINES)
LOG_EVENT_OVERHEAD_BYTES = 26
# X-Ray's default sampling, which Lambda's active tracing applies: the first request each second,
# and 5% of the others. Per gift at volume only the 5% counts; the reservoir is a monthly constant.
XRAY_RESERVOIR_PER_SECOND = Decimal(1)
XRAY_FIXED_RATE = Decimal("0.05")
# An HTTP/1.1 answer's status line and headers from API Gateway (Date, Content-Type,
# Content-Length, Connection, apigw-requestid): an assumption; the body is measured.
RESPONSE_HEADER_BYTES = 200
# The outbox pipe sets no BatchSize: each gift insert that passes its filter is one pipe request,
# one PutEvents entry, and at most one GetRecords call of the pipe's (counted as one: an upper bound,
# since a poll at a live stream's rate returns many records).
PIPE_REQUESTS_PER_GIFT = Decimal(1)
BUS_EVENTS_PER_GIFT = Decimal(1)
PIPE_STREAM_READS_PER_GIFT = Decimal(1)


@dataclass(frozen=True)
class LambdaWork:
    """One function's share of a gift: invocations, measured CPU, and DynamoDB calls it waits on."""

    invocations: Decimal  # per gift: 1 for the gift function, 1/n for a settlement batch of n
    cpu_ms: Decimal  # per gift, measured here, on this machine's core
    calls: dict[str, Decimal]  # operation -> calls one after another, per gift
    memory_mb: int
    traced: bool = True  # Tracing: Active in the template

    def billed_milliseconds(self) -> Decimal:
        share = min(Decimal(1), Decimal(self.memory_mb) / FULL_VCPU_MB)
        waiting = sum(
            (AWS_CALL_MILLISECONDS.get(op, AWS_OTHER_CALL_MILLISECONDS) * n for op, n in self.calls.items()),
            Decimal(0),
        )
        return self.cpu_ms / share + waiting

    def gb_seconds(self) -> Decimal:
        return Decimal(self.memory_mb) / 1024 * self.billed_milliseconds() / 1000


@dataclass(frozen=True)
class GiftCost:
    """Everything one gift is billed for, each a count per gift."""

    write_units: Decimal  # the request's and its share of the settlement's
    read_units: Decimal
    functions: dict[str, LambdaWork]
    log_bytes: Decimal = Decimal(0)
    response_bytes: Decimal = Decimal(0)
    stream_reads: Decimal = PIPE_STREAM_READS_PER_GIFT
    pipe_requests: Decimal = PIPE_REQUESTS_PER_GIFT
    bus_events: Decimal = BUS_EVENTS_PER_GIFT

    def traces(self) -> Decimal:
        """Traces recorded per gift at volume: each function's invocations, sampled at the fixed rate."""
        return XRAY_FIXED_RATE * sum((f.invocations for f in self.functions.values() if f.traced), Decimal(0))

    def per_million(self) -> dict[str, Decimal]:
        invocations = sum((f.invocations for f in self.functions.values()), Decimal(0))
        gb_seconds = sum((f.gb_seconds() for f in self.functions.values()), Decimal(0))
        parts = {
            "dynamodb_writes": self.write_units * PRICES["dynamodb_write_request_unit_per_million"],
            "dynamodb_reads": self.read_units * PRICES["dynamodb_read_request_unit_per_million"],
            "dynamodb_stream_reads": self.stream_reads
            * PRICES["dynamodb_streams_read_request_unit_per_million"],
            "http_api": PRICES["http_api_request_per_million"],
            "lambda_requests": invocations * PRICES["lambda_request_per_million"],
            "lambda_duration": gb_seconds * MILLION * PRICES["lambda_arm64_gb_second"],
            "pipes": self.pipe_requests * PRICES["pipes_request_per_million"],
            "eventbridge_events": self.bus_events * PRICES["eventbridge_custom_event_per_million"],
            "sqs": Decimal(0),  # the dead-letter queues: only failures reach them
            "logs": self.log_bytes * MILLION / 10**9 * PRICES["logs_ingested_per_gb"],
            "xray": self.traces() * PRICES["xray_trace_recorded_per_million"],
            "data_transfer_out": self.response_bytes * MILLION / 10**9 * PRICES["data_transfer_out_per_gb"],
        }
        parts["total"] = sum(parts.values(), Decimal(0))
        return parts


def _decimal(value: Any) -> Decimal:
    return Decimal(str(value))


def access_log_bytes(log_format: str) -> int:
    """One access-log line's bytes: the template's format, each field's variable replaced by its value."""
    fields = json.loads(log_format)
    return len(json.dumps({name: ACCESS_LOG_VALUES.get(name, "-") for name in fields}, separators=(",", ":")))


def log_bytes_per_gift(footprint: Mapping[str, Any], batch: Decimal, log_format: str) -> Decimal:
    """Bytes CloudWatch Logs ingests per gift: each function's own lines (measured), Lambda's lines
    per invocation, the API's access-log line, and the per-event overhead of each."""
    settlement_invocations = _decimal(footprint.get("settlement_invocations", 1))
    settlement_bytes_per_invocation = (
        _decimal(footprint["settlement_log_bytes_per_gift"])
        * _decimal(footprint["gifts"])
        / settlement_invocations
    )
    per_invocation = LAMBDA_PLATFORM_LOG_BYTES + len(LAMBDA_PLATFORM_LINES) * LOG_EVENT_OVERHEAD_BYTES
    return (
        _decimal(footprint["function_log_bytes_per_gift"])
        + _decimal(footprint.get("function_log_events_per_gift", 0)) * LOG_EVENT_OVERHEAD_BYTES
        + per_invocation
        + (settlement_bytes_per_invocation + per_invocation) / batch
        + access_log_bytes(log_format)
        + LOG_EVENT_OVERHEAD_BYTES
    )


def cost_per_million_gifts(
    gift: dict[str, Any],
    handler_cpu_ms: float,
    gift_memory_mb: int,
    settlement: dict[str, Any],
    settlement_memory_mb: int,
    footprint: Mapping[str, Any] | None = None,
    access_log_format: str | None = None,
    traced: Mapping[str, bool] | None = None,
) -> dict[str, Any]:
    """`gift` and `settlement` are the metered work of one gift and of one settlement batch;
    `footprint` what a live stream's gifts log and answer (bench/footprint.py)."""
    settled = Decimal(settlement["gifts"])
    # The settlement's CPU as it runs deployed: measured with the capacity meter detached (an older
    # run has only the metered figure, which also counts the meter's own reads of every item).
    settlement_cpu = settlement.get("unmetered_cpu_ms", settlement["cpu_ms"])
    functions = {
        "gift": LambdaWork(
            invocations=Decimal(1),
            cpu_ms=_decimal(handler_cpu_ms),
            calls={op: Decimal(n) for op, n in gift["operations"].items()},
            memory_mb=gift_memory_mb,
            traced=(traced or {}).get("gift", True),
        ),
        "settlement": LambdaWork(
            invocations=1 / settled,
            cpu_ms=_decimal(settlement_cpu) / settled,
            calls={op: Decimal(n) / settled for op, n in settlement["operations"].items()},
            memory_mb=settlement_memory_mb,
            traced=(traced or {}).get("settlement", True),
        ),
    }
    logged = (
        log_bytes_per_gift(footprint, settled, access_log_format)
        if footprint is not None and access_log_format is not None
        else Decimal(0)
    )
    answered = (
        _decimal(footprint.get("response_bytes_per_gift", 0)) + RESPONSE_HEADER_BYTES
        if footprint is not None
        else Decimal(0)
    )
    cost = GiftCost(
        write_units=_decimal(gift["total_write_units"]) + _decimal(settlement["total_write_units"]) / settled,
        read_units=_decimal(gift["read_units"]) + _decimal(settlement["read_units"]) / settled,
        functions=functions,
        log_bytes=logged,
        response_bytes=answered,
    )
    cents = Decimal("0.01")
    return {
        "dollars": {k: float(v.quantize(cents, ROUND_HALF_EVEN)) for k, v in cost.per_million().items()},
        "write_units_per_gift": float(cost.write_units.quantize(Decimal("0.001"))),
        "read_units_per_gift": float(cost.read_units.quantize(Decimal("0.001"))),
        "gifts_per_settlement_batch": int(settled),
        "billed_milliseconds_per_gift": {
            name: float(f.billed_milliseconds().quantize(Decimal("0.01"))) for name, f in functions.items()
        },
        "settlement_cpu_ms_per_gift": float((_decimal(settlement_cpu) / settled).quantize(Decimal("0.001"))),
        "settlement_cpu_measured": "without the meter"
        if "unmetered_cpu_ms" in settlement
        else "with the meter",
        "log_bytes_per_gift": float(logged.quantize(Decimal("0.1"))),
        "response_bytes_per_gift": float(answered.quantize(Decimal("0.1"))),
        "traces_per_gift": float(cost.traces().quantize(Decimal("0.0001"))),
        "per_gift": {
            "http_api_requests": 1,
            "lambda_invocations": float(sum((f.invocations for f in functions.values()), Decimal(0))),
            "streams_read_requests": float(cost.stream_reads),
            "pipe_requests": float(cost.pipe_requests),
            "bus_events": float(cost.bus_events),
            "sqs_messages": 0,
        },
        "memory_mb": {"gift": gift_memory_mb, "settlement": settlement_memory_mb},
        "assumed_aws_milliseconds_per_call": {
            **{k: str(v) for k, v in AWS_CALL_MILLISECONDS.items()},
            "other": str(AWS_OTHER_CALL_MILLISECONDS),
        },
        "prices_usd": {k: str(v) for k, v in PRICES.items()},
        "prices_as_of": PRICES_AS_OF,
        "region": "us-east-1",
    }


def traced_in(template: Mapping[str, Any], function: str) -> bool:
    """Whether Lambda traces the function (Tracing: Active, its own or Globals') at X-Ray's default
    sampling; a sampling rule of the template's own would change the rate, and is refused here
    until the model reads it."""
    rules = [n for n, r in template["Resources"].items() if r.get("Type") == "AWS::XRay::SamplingRule"]
    if rules:
        raise ValueError(f"the cost model assumes X-Ray's default sampling; the template has {rules}")
    props = template["Resources"][function].get("Properties", {})
    tracing = props.get("Tracing", template.get("Globals", {}).get("Function", {}).get("Tracing"))
    return bool(tracing == "Active")


def snapstart_cost(memory_mb: int, versions: int, restores_per_month: Decimal) -> dict[str, float]:
    """SnapStart for Python on one function: its cache for `versions` published versions kept a
    month, and `restores_per_month` restores (one per execution environment it starts)."""
    gb = Decimal(memory_mb) / 1024
    cache = gb * versions * MONTH_SECONDS * SNAPSTART_PRICES["snapstart_cache_gb_second"]
    restores = gb * restores_per_month * SNAPSTART_PRICES["snapstart_restore_per_gb"]
    return {
        "cache_per_month": _cents(cache),
        "restores_per_month": _cents(restores),
        "total": _cents(cache + restores),
    }


# ------------------------------------------------------------------------------ a month, every line item

MONTHLY_PRICES = {
    "http_api_request_per_million_past_300_million": Decimal("0.90"),
    "cognito_essentials_monthly_active_user": Decimal("0.015"),
    "cloudwatch_alarm_metric_month": Decimal("0.10"),
    "cloudwatch_custom_metric_month": Decimal("0.30"),
    "cloudwatch_dashboard_month": Decimal("3.00"),
    "secret_month": Decimal("0.40"),
    "secrets_manager_api_calls_per_10000": Decimal("0.05"),
    "dynamodb_storage_gb_month": Decimal("0.25"),
    "dynamodb_point_in_time_recovery_gb_month": Decimal("0.20"),
}
# Assumptions, each named where the estimate is shown (docs/deploy.md).
MONTH_SECONDS = 30 * 24 * 3600
HTTP_API_FIRST_TIER = Decimal(300_000_000)
COGNITO_FREE_MONTHLY_ACTIVE_USERS = Decimal(10_000)  # Lite and Essentials, every month
GIFTS_PER_MONTHLY_ACTIVE_USER = Decimal(50)  # an assumption: how much an active user gives
SECRET_CACHE_SECONDS = 300  # Powertools Parameters' max_age (coins.config): one read per environment
# The API's access-log line, with a request's values in place of its $context variables.
ACCESS_LOG_VALUES = {
    "requestId": "c9bd2b2b-5a4e-4a9b-9c8e-2a0c7e0f3b11",
    "requestTime": "26/Nov/2026:00:15:16 +0000",
    "ip": "203.0.113.27",
    "routeKey": "POST /v1/gifts",
    "status": "201",
    "protocol": "HTTP/1.1",
    "responseLength": "214",
    "responseLatency": "48",
    "integrationLatency": "45",
    "integrationStatus": "201",
    "integrationError": "-",
    "authorizerError": "-",
    "sub": "7f3e2a10-8c4b-4f61-9e0d-3b5a6c7d8e9f",
    "userAgent": "okhttp/4.12.0",
}
GIFTS_PER_MONTH = (1_000_000, 100_000_000, 1_000_000_000)


def xray_traces(requests: Decimal) -> Decimal:
    reservoir = XRAY_RESERVOIR_PER_SECOND * MONTH_SECONDS
    return min(requests, reservoir) + XRAY_FIXED_RATE * max(Decimal(0), requests - reservoir)


def monthly_costs(
    per_million: Mapping[str, Any],
    footprint: Mapping[str, Any],
    fixed: Any,
    checks: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The stack's bill for a month of gifts, line item by line item, at three sizes.

    `per_million` is one shape's cost_per_million_gifts (measured, every per-gift line item),
    `footprint` what a gift leaves in the table (measured), `fixed` the template's FixedCounts,
    `checks` the hourly ledger checks' month at each size (bench.books_check.check_cost's `months`:
    their reads and Lambda time, measured from the windowed check; None when not measured, and the
    column says so).
    """
    prices = MONTHLY_PRICES
    dollars = per_million["dollars"]
    batch = Decimal(per_million["gifts_per_settlement_batch"])
    secret_calls = Decimal(fixed.secret_readers) * MONTH_SECONDS / SECRET_CACHE_SECONDS
    fixed_items = {
        "alarms": fixed.alarm_metrics * prices["cloudwatch_alarm_metric_month"],
        "custom_metrics": fixed.custom_metrics * prices["cloudwatch_custom_metric_month"],
        "dashboard": fixed.dashboards * prices["cloudwatch_dashboard_month"],
        "secrets": fixed.secrets * prices["secret_month"]
        + secret_calls / 10_000 * prices["secrets_manager_api_calls_per_10000"],
    }

    def per_gift(*keys: str) -> Decimal:
        return sum((_decimal(dollars[k]) for k in keys), Decimal(0)) / MILLION

    rows = []
    for count in GIFTS_PER_MONTH:
        gifts = Decimal(count)
        first = min(gifts, HTTP_API_FIRST_TIER)
        api = (first * PRICES["http_api_request_per_million"] + (gifts - first) * prices[
            "http_api_request_per_million_past_300_million"
        ]) / MILLION  # fmt: skip
        users = gifts / GIFTS_PER_MONTHLY_ACTIVE_USER
        checked = (checks or {}).get(f"{count:,} gifts a month")
        items = {
            "api": api,
            "lambda": per_gift("lambda_requests", "lambda_duration") * gifts,
            "dynamodb": per_gift("dynamodb_writes", "dynamodb_reads", "dynamodb_stream_reads") * gifts,
            "pipes_and_events": per_gift("pipes", "eventbridge_events", "sqs") * gifts,
            "logs": per_gift("logs") * gifts,
            # At the month's volume: the reservoir's first trace each second, then the fixed rate.
            "xray": (xray_traces(gifts) + xray_traces(gifts / batch))
            / MILLION
            * PRICES["xray_trace_recorded_per_million"],
            "data_transfer": per_gift("data_transfer_out") * gifts,
            "cognito": max(Decimal(0), users - COGNITO_FREE_MONTHLY_ACTIVE_USERS)
            * prices["cognito_essentials_monthly_active_user"],
            "ledger_checks": _decimal(checked["total"]) if checked else Decimal(0),
            "fixed": sum(fixed_items.values(), Decimal(0)),
        }
        storage_gb = gifts * _decimal(footprint["stored_bytes_per_gift"]) / 10**9
        rows.append(
            {
                "gifts": count,
                "monthly_active_users": int(users),
                **{k: _cents(v) for k, v in items.items()},
                "total": _cents(sum(items.values(), Decimal(0))),
                "storage_added_per_month": _cents(
                    storage_gb
                    * (
                        prices["dynamodb_storage_gb_month"]
                        + prices["dynamodb_point_in_time_recovery_gb_month"]
                    )
                ),
            }
        )
    return {
        "rows": rows,
        "fixed": {k: _cents(v) for k, v in fixed_items.items()},
        "counts": {
            "alarms": fixed.alarms,
            "alarm_metrics": fixed.alarm_metrics,
            "custom_metrics": fixed.custom_metrics,
            "routes": fixed.routes,
            "dashboards": fixed.dashboards,
            "secrets": fixed.secrets,
            "ledger_checks_per_month": fixed.ledger_checks_per_month,
        },
        "log_bytes_per_gift": per_million["log_bytes_per_gift"],
        "access_log_bytes": per_million.get("access_log_bytes", 0),
        "assumptions": {
            "gifts_per_monthly_active_user": str(GIFTS_PER_MONTHLY_ACTIVE_USER),
            "cognito_free_monthly_active_users": str(COGNITO_FREE_MONTHLY_ACTIVE_USERS),
            "xray_sampling": f"{XRAY_RESERVOIR_PER_SECOND} a second + {XRAY_FIXED_RATE:%} of the rest",
            "lambda_platform_log_bytes": LAMBDA_PLATFORM_LOG_BYTES,
            "log_event_overhead_bytes": LOG_EVENT_OVERHEAD_BYTES,
            "response_header_bytes": RESPONSE_HEADER_BYTES,
            "secret_cache_seconds": SECRET_CACHE_SECONDS,
            "month_seconds": MONTH_SECONDS,
        },
        "prices_usd": {k: str(v) for k, v in prices.items()},
        "prices_as_of": PRICES_AS_OF,
    }


def _cents(value: Decimal) -> float:
    return float(value.quantize(Decimal("0.01"), ROUND_HALF_EVEN))


def price(results: dict[str, Any]) -> None:
    """Prices what a run measured: the cost per million gifts of each shape, and a month's bill.

    Run by `make bench` after measuring, and by `python -m bench.report --reprice` on a results file
    when prices, the template (memory, alarms, secrets, schedules) or the model change.
    """
    from bench.fixed_costs import fixed_counts
    from devstack.template import function_specs, load_template

    specs = function_specs()
    work = results["work_per_operation"]
    handler_cpu_ms = results["throughput"]["handler_process_cpu_ms_per_gift"]
    footprint = results.get("footprint")
    template = load_template()
    log_format = template["Resources"]["HttpApi"]["Properties"]["AccessLogSettings"]["Format"]
    traced = {
        "gift": traced_in(template, "GiftSendFunction"),
        "settlement": traced_in(template, "GiftSettlementFunction"),
    }
    shapes = {}
    for gift, label in (("gift", "finger_heart"), ("gift_rose", "rose")):
        for shape in ("live_stream", "busy_creator", "lone_gift"):
            priced = cost_per_million_gifts(
                work[gift],
                handler_cpu_ms,
                specs["GiftSendFunction"].memory_mb,
                work[f"settlement_{shape}"],
                specs["GiftSettlementFunction"].memory_mb,
                footprint,
                log_format,
                traced,
            )
            priced["access_log_bytes"] = access_log_bytes(log_format)
            shapes[f"{label}, {shape.replace('_', ' ')}"] = priced
    results["cost_per_million_gifts"] = shapes
    gift_memory = specs["GiftSendFunction"].memory_mb
    results["snapstart"] = {
        "prices_usd": {k: str(v) for k, v in SNAPSTART_PRICES.items()},
        "gift_function_memory_mb": gift_memory,
        # Two published versions kept (the live alias's and the one before it, for a rollback), and
        # one restore per new execution environment: per hour through a month, 10 and 1,000 a hour.
        "gift_function": {
            f"{per_hour:,} restores an hour": snapstart_cost(gift_memory, 2, Decimal(per_hour) * 720)
            for per_hour in (10, 1000)
        },
    }
    if footprint is not None:
        check = results.get("books", {}).get("check")
        results["monthly_cost"] = monthly_costs(
            results["cost_per_million_gifts"]["finger_heart, live stream"],
            footprint,
            fixed_counts(),
            check["cost"]["months"] if check else None,
        )
        results["monthly_cost"]["ledger_checks_measured"] = check is not None
