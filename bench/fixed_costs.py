"""What the stack costs whatever its traffic, counted from template.yaml and the code, never typed.

CloudWatch bills each metric an alarm reads, each custom metric (the functions' EMF metrics, the
metric filter's, and the HTTP API's per-route metrics when DetailedMetricsEnabled), each dashboard;
Secrets Manager bills each secret. Resources behind a condition (the optional Cognito trigger's
alarms) are counted as the default parameters deploy them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devstack.cfn import LocalStackValues
from devstack.template import ROOT, http_routes, load_template, resources

# The metrics API Gateway publishes per route with detailed metrics (Amazon API Gateway developer
# guide, "CloudWatch metrics for HTTP APIs"): Count, 4xx, 5xx, Latency, IntegrationLatency, DataProcessed.
HTTP_API_METRICS_PER_ROUTE = 6
HOURS_PER_MONTH = 730


def source_files() -> list[Path]:
    return [*ROOT.glob("functions/*/app.py"), *ROOT.glob("layers/shared/coins/**/*.py")]


def emitted_metrics() -> set[str]:
    """Metric names the code adds: literal names, and Name_{outcome} for every outcome string."""
    names: set[str] = set()
    outcomes = set()
    prefixes = set()
    for path in source_files():
        text = path.read_text()
        names |= set(re.findall(r'add_metric\(\s*name="(\w+)"', text))
        prefixes |= set(re.findall(r'add_metric\(\s*name=f"(\w+)_\{outcome\}"', text))
        outcomes |= set(re.findall(r'return "(\w+)"', text))
        outcomes |= {a + b for a, b in re.findall(r'return "(\w+)" \+ \("(\w+)"', text)}
    return names | {f"{prefix}_{outcome}" for prefix in prefixes for outcome in outcomes}


def _deployed(template: dict[str, Any], values: LocalStackValues) -> dict[str, dict[str, Any]]:
    return {
        name: resource
        for name, resource in resources(template).items()
        if "Condition" not in resource or values.condition(resource["Condition"])
    }


def _alarm_metrics(alarm: dict[str, Any]) -> int:
    props = alarm["Properties"]
    return 1 if "MetricName" in props else sum(1 for m in props["Metrics"] if "MetricStat" in m)


def _runs_per_month(expression: str) -> float:
    """Runs a month of an EventBridge Scheduler `rate(n unit)` or a daily `cron(...)` expression."""
    rate = re.fullmatch(r"rate\((\d+) (minute|minutes|hour|hours|day|days)\)", expression)
    if rate:
        per_hour = {"minute": 60, "hour": 1, "day": 1 / 24}[rate.group(2).rstrip("s")]
        return HOURS_PER_MONTH * per_hour / int(rate.group(1))
    if re.fullmatch(r"cron\(\S+ \S+ \* \* \? \*\)", expression):
        return HOURS_PER_MONTH / 24
    raise ValueError(f"cannot count the runs of {expression}")


@dataclass(frozen=True)
class FixedCounts:
    alarms: int
    alarm_metrics: int
    dashboards: int
    custom_metrics: int  # the functions' own, the metric filters', the routes' detailed metrics
    routes: int
    secrets: int
    secret_readers: int  # functions that read a secret (each environment refreshes it every 5 minutes)
    ledger_checks_per_month: float


def fixed_counts(template: dict[str, Any] | None = None) -> FixedCounts:
    from devstack.preflight import secrets_read

    tpl = template or load_template()
    values = LocalStackValues(template=tpl, region="us-east-1", stack_name="coins")
    values.parameters.update({"JwtIssuer": "https://issuer", "JwtAudience": "app"})
    deployed = _deployed(tpl, values)
    alarms = [r for r in deployed.values() if r["Type"] == "AWS::CloudWatch::Alarm"]
    filters = [r for r in deployed.values() if r["Type"] == "AWS::Logs::MetricFilter"]
    api = next(r for r in deployed.values() if r["Type"] == "AWS::Serverless::HttpApi")["Properties"]
    detailed = api.get("DefaultRouteSettings", {}).get("DetailedMetricsEnabled", False)
    routes = len(http_routes(tpl))
    read = secrets_read(tpl)
    checker = values.resolve(
        next(
            e["Properties"]["ScheduleExpression"]
            for e in tpl["Resources"]["LedgerCheckerFunction"]["Properties"]["Events"].values()
        )
    )
    return FixedCounts(
        alarms=len(alarms),
        alarm_metrics=sum(_alarm_metrics(a) for a in alarms),
        dashboards=sum(1 for r in deployed.values() if r["Type"] == "AWS::CloudWatch::Dashboard"),
        custom_metrics=len(emitted_metrics())
        + len(filters)
        + (routes * HTTP_API_METRICS_PER_ROUTE if detailed else 0),
        routes=routes,
        secrets=len(read),
        secret_readers=len({reader for use in read.values() for reader in use.readers}),
        ledger_checks_per_month=_runs_per_month(str(checker)),
    )
