"""Cost per million gifts on AWS, from the measured counts and the measured handler CPU time.

Prices: AWS's public list prices for us-east-1 (N. Virginia), looked up on PRICES_AS_OF, without
free tiers or savings plans. DynamoDB on-demand, standard table class; API Gateway HTTP API, first
300 million requests a month; Lambda arm64, first tier of duration.
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
    "http_api_request_per_million": Decimal("1.00"),
    "lambda_request_per_million": Decimal("0.20"),
    "lambda_arm64_gb_second": Decimal("0.0000133334"),
}
# Lambda gives a function one full vCPU at 1,769 MB and a share in proportion below that.
FULL_VCPU_MB = Decimal(1769)
# What one sequential DynamoDB call adds to a function's billed duration on AWS: an assumption
# (single-digit milliseconds for single-item operations, about twice for a transaction), since
# DynamoDB Local's latency says nothing about AWS's.
AWS_CALL_MILLISECONDS = {"TransactWriteItems": Decimal(10), "TransactGetItems": Decimal(10)}
AWS_OTHER_CALL_MILLISECONDS = Decimal(5)


@dataclass(frozen=True)
class LambdaWork:
    """One function's share of a gift: invocations, measured CPU, and DynamoDB calls it waits on."""

    invocations: Decimal  # per gift: 1 for the gift function, 1/n for a settlement batch of n
    cpu_ms: Decimal  # per gift, measured here, on this machine's core
    calls: dict[str, Decimal]  # operation -> calls one after another, per gift
    memory_mb: int

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
    write_units: Decimal  # per gift: the request's and its share of the settlement's
    read_units: Decimal
    functions: dict[str, LambdaWork]

    def per_million(self) -> dict[str, Decimal]:
        invocations = sum((f.invocations for f in self.functions.values()), Decimal(0))
        gb_seconds = sum((f.gb_seconds() for f in self.functions.values()), Decimal(0))
        parts = {
            "dynamodb_writes": self.write_units * PRICES["dynamodb_write_request_unit_per_million"],
            "dynamodb_reads": self.read_units * PRICES["dynamodb_read_request_unit_per_million"],
            "http_api": PRICES["http_api_request_per_million"],
            "lambda_requests": invocations * PRICES["lambda_request_per_million"],
            "lambda_duration": gb_seconds * MILLION * PRICES["lambda_arm64_gb_second"],
        }
        parts["total"] = sum(parts.values(), Decimal(0))
        return parts


def _decimal(value: Any) -> Decimal:
    return Decimal(str(value))


def cost_per_million_gifts(
    gift: dict[str, Any],
    handler_cpu_ms: float,
    gift_memory_mb: int,
    settlement: dict[str, Any],
    settlement_memory_mb: int,
) -> dict[str, Any]:
    """`gift` and `settlement` are the metered work of one gift and of one settlement batch."""
    settled = Decimal(settlement["gifts"])
    functions = {
        "gift": LambdaWork(
            invocations=Decimal(1),
            cpu_ms=_decimal(handler_cpu_ms),
            calls={op: Decimal(n) for op, n in gift["operations"].items()},
            memory_mb=gift_memory_mb,
        ),
        "settlement": LambdaWork(
            invocations=1 / settled,
            cpu_ms=_decimal(settlement["cpu_ms"]) / settled,
            calls={op: Decimal(n) / settled for op, n in settlement["operations"].items()},
            memory_mb=settlement_memory_mb,
        ),
    }
    cost = GiftCost(
        write_units=_decimal(gift["total_write_units"]) + _decimal(settlement["total_write_units"]) / settled,
        read_units=_decimal(gift["read_units"]) + _decimal(settlement["read_units"]) / settled,
        functions=functions,
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
        "memory_mb": {"gift": gift_memory_mb, "settlement": settlement_memory_mb},
        "assumed_aws_milliseconds_per_call": {
            **{k: str(v) for k, v in AWS_CALL_MILLISECONDS.items()},
            "other": str(AWS_OTHER_CALL_MILLISECONDS),
        },
        "prices_usd": {k: str(v) for k, v in PRICES.items()},
        "prices_as_of": PRICES_AS_OF,
        "region": "us-east-1",
    }


# ------------------------------------------------------------------------------ a month, every line item

MONTHLY_PRICES = {
    "http_api_request_per_million_past_300_million": Decimal("0.90"),
    "pipes_request_per_million": Decimal("0.40"),
    "eventbridge_custom_event_per_million": Decimal("1.00"),
    "logs_ingested_per_gb": Decimal("0.50"),
    "xray_trace_recorded_per_million": Decimal("5.00"),
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
# X-Ray's default sampling, which Lambda's active tracing applies: the first request each second,
# and 5% of the others.
XRAY_RESERVOIR_PER_SECOND = Decimal(1)
XRAY_FIXED_RATE = Decimal("0.05")
COGNITO_FREE_MONTHLY_ACTIVE_USERS = Decimal(10_000)  # Lite and Essentials, every month
GIFTS_PER_MONTHLY_ACTIVE_USER = Decimal(50)  # an assumption: how much an active user gives
# Lambda's own log lines per invocation (START, END, REPORT with its X-Ray trace line), as it writes
# them, and CloudWatch Logs' 26 bytes counted per log event.
LAMBDA_PLATFORM_LOG_BYTES = 80 + 60 + 260
LOG_EVENT_OVERHEAD_BYTES = 26
SECRET_CACHE_SECONDS = 300  # Powertools Parameters' max_age (coins.config): one read per environment
READ_UNIT_BYTES = 4096  # a strongly consistent read unit (the ledger checker's Scan is consistent)
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


def access_log_bytes(log_format: str) -> int:
    """One access-log line's bytes: the template's format, each field's variable replaced by its value."""
    fields = json.loads(log_format)
    return len(json.dumps({name: ACCESS_LOG_VALUES.get(name, "-") for name in fields}, separators=(",", ":")))


def xray_traces(requests: Decimal) -> Decimal:
    reservoir = XRAY_RESERVOIR_PER_SECOND * MONTH_SECONDS
    return min(requests, reservoir) + XRAY_FIXED_RATE * max(Decimal(0), requests - reservoir)


def monthly_costs(
    per_million: Mapping[str, Any], footprint: Mapping[str, Any], fixed: Any, access_log_format: str
) -> dict[str, Any]:
    """The stack's bill for a month of gifts, line item by line item, at three sizes.

    `per_million` is one shape's cost_per_million_gifts (measured), `footprint` what a gift leaves in
    the table and the logs (measured), `fixed` the template's FixedCounts.
    """
    prices = MONTHLY_PRICES
    dollars = per_million["dollars"]
    batch = Decimal(per_million["gifts_per_settlement_batch"])
    log_bytes = (
        _decimal(footprint["function_log_bytes_per_gift"])
        + _decimal(footprint["settlement_log_bytes_per_gift"])
        + (LAMBDA_PLATFORM_LOG_BYTES + 3 * LOG_EVENT_OVERHEAD_BYTES) * (1 + 1 / batch)
        + access_log_bytes(access_log_format)
        + LOG_EVENT_OVERHEAD_BYTES
    )
    secret_calls = Decimal(fixed.secret_readers) * MONTH_SECONDS / SECRET_CACHE_SECONDS
    fixed_items = {
        "alarms": fixed.alarm_metrics * prices["cloudwatch_alarm_metric_month"],
        "custom_metrics": fixed.custom_metrics * prices["cloudwatch_custom_metric_month"],
        "dashboard": fixed.dashboards * prices["cloudwatch_dashboard_month"],
        "secrets": fixed.secrets * prices["secret_month"]
        + secret_calls / 10_000 * prices["secrets_manager_api_calls_per_10000"],
    }
    rows = []
    for count in GIFTS_PER_MONTH:
        gifts = Decimal(count)
        millions = gifts / MILLION
        first = min(gifts, HTTP_API_FIRST_TIER)
        api = (first * PRICES["http_api_request_per_million"] + (gifts - first) * prices[
            "http_api_request_per_million_past_300_million"
        ]) / MILLION  # fmt: skip
        users = gifts / GIFTS_PER_MONTHLY_ACTIVE_USER
        table_bytes = gifts * _decimal(footprint["table_bytes_per_gift"])  # a month of gifts in the table
        reads = Decimal(str(fixed.ledger_checks_per_month)) * table_bytes / READ_UNIT_BYTES
        items = {
            "api": api,
            "lambda": (_decimal(dollars["lambda_requests"]) + _decimal(dollars["lambda_duration"]))
            * millions,
            "dynamodb": (_decimal(dollars["dynamodb_writes"]) + _decimal(dollars["dynamodb_reads"]))
            * millions,
            "pipes_and_events": (
                prices["pipes_request_per_million"] + prices["eventbridge_custom_event_per_million"]
            )
            * millions,
            "logs": gifts * log_bytes / 10**9 * prices["logs_ingested_per_gb"],
            "xray": (xray_traces(gifts) + xray_traces(gifts / batch))
            / MILLION
            * prices["xray_trace_recorded_per_million"],
            "cognito": max(Decimal(0), users - COGNITO_FREE_MONTHLY_ACTIVE_USERS)
            * prices["cognito_essentials_monthly_active_user"],
            "ledger_checker_reads": reads / MILLION * PRICES["dynamodb_read_request_unit_per_million"],
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
        "log_bytes_per_gift": float(log_bytes.quantize(Decimal("0.1"))),
        "access_log_bytes": access_log_bytes(access_log_format),
        "assumptions": {
            "gifts_per_monthly_active_user": str(GIFTS_PER_MONTHLY_ACTIVE_USER),
            "cognito_free_monthly_active_users": str(COGNITO_FREE_MONTHLY_ACTIVE_USERS),
            "xray_sampling": f"{XRAY_RESERVOIR_PER_SECOND} a second + {XRAY_FIXED_RATE:%} of the rest",
            "lambda_platform_log_bytes": LAMBDA_PLATFORM_LOG_BYTES,
            "log_event_overhead_bytes": LOG_EVENT_OVERHEAD_BYTES,
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
    results["cost_per_million_gifts"] = {
        f"{label}, {shape.replace('_', ' ')}": cost_per_million_gifts(
            work[gift],
            handler_cpu_ms,
            specs["GiftSendFunction"].memory_mb,
            work[f"settlement_{shape}"],
            specs["GiftSettlementFunction"].memory_mb,
        )
        for gift, label in (("gift", "finger_heart"), ("gift_rose", "rose"))
        for shape in ("live_stream", "busy_creator", "lone_gift")
    }
    if "footprint" in results:
        log_format = load_template()["Resources"]["HttpApi"]["Properties"]["AccessLogSettings"]["Format"]
        results["monthly_cost"] = monthly_costs(
            results["cost_per_million_gifts"]["finger_heart, live stream"],
            results["footprint"],
            fixed_counts(),
            log_format,
        )
