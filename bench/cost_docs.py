"""The cost and write-unit figures docs/deploy.md and docs/data-model.md show, rendered from a run's results.

bench/report.py writes each between its markers; tests/unit/test_bench_docs.py fails when the text
there is not what the committed results render, so no figure in those pages is typed by hand.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEPLOY_DOC = ROOT / "docs" / "deploy.md"
DATA_MODEL_DOC = ROOT / "docs" / "data-model.md"
COST_MARKERS = ("<!-- bench:cost:begin -->", "<!-- bench:cost:end -->")
WRITES_MARKERS = ("<!-- bench:gift-writes:begin -->", "<!-- bench:gift-writes:end -->")
COLUMNS = (
    ("api", "API"),
    ("lambda", "Lambda"),
    ("dynamodb", "DynamoDB"),
    ("pipes_and_events", "Pipes + events"),
    ("logs", "Logs"),
    ("xray", "X-Ray"),
    ("data_transfer", "data out"),
    ("cognito", "Cognito"),
    ("ledger_checks", "hourly ledger checks"),
    ("fixed", "fixed"),
)


def _money(value: float) -> str:
    return f"${value:,.2f}" if value < 100 else f"${value:,.0f}"


def _count(value: int) -> str:
    for unit, size in (("billion", 10**9), ("million", 10**6)):
        if value >= size:
            return f"{value / size:g} {unit}"
    return f"{value:,}"


def _provenance(results: dict[str, Any]) -> str:
    return f"`{results['command']}` on {results['run_at']} (bench/results/latest.json)"


def cost_section(results: dict[str, Any]) -> str:
    month = results["monthly_cost"]
    live = results["cost_per_million_gifts"]["finger_heart, live stream"]
    busy = results["cost_per_million_gifts"]["finger_heart, busy creator"]
    lone = results["cost_per_million_gifts"]["finger_heart, lone gift"]
    footprint = results["footprint"]
    counts, fixed, assumed = month["counts"], month["fixed"], month["assumptions"]
    billed = live["billed_milliseconds_per_gift"]
    batch = live["gifts_per_settlement_batch"]
    d, per = live["dollars"], live["per_gift"]
    lines = [
        f"Generated from {_provenance(results)} by bench/cost.py; reprice with `python -m bench.report "
        "--reprice` after a change to the prices, the template or the model, and rerun `make bench` after a "
        "change to the gift path. The cost grows with gifts; purchases and payouts are small beside them. "
        f"Per gift, for a live stream's settlement batch ({batch} gifts from {footprint['fans']} fans):",
        "",
        "| what | per gift | dollars per million gifts | how it is known |",
        "| --- | --- | --- | --- |",
        f"| API Gateway HTTP API | 1 request | {_money(d['http_api'])} | |",
        f"| Lambda, arm64 (GiftSendFunction {live['memory_mb']['gift']:,} MB, GiftSettlementFunction "
        f"{live['memory_mb']['settlement']:,} MB: template.yaml) | 1 request billed {billed['gift']} ms, "
        f"plus 1/{batch} of a settlement request ({billed['settlement']} ms a gift) | "
        f"{_money(d['lambda_requests'])} requests + {_money(d['lambda_duration'])} duration | the handlers' "
        f"CPU measured ({live['settlement_cpu_ms_per_gift']} ms a gift settling, "
        f"{live['settlement_cpu_measured']}), scaled to their memory's vCPU share, plus an assumed AWS "
        "latency per DynamoDB call "
        f"({', '.join(f'{k} {v} ms' for k, v in live['assumed_aws_milliseconds_per_call'].items())}) |",
        f"| DynamoDB on-demand | {live['write_units_per_gift']} write units, {live['read_units_per_gift']} "
        f"read units | {_money(d['dynamodb_writes'])} + {_money(d['dynamodb_reads'])} | "
        f"metered; {busy['write_units_per_gift']} write units when the batch comes from one "
        f"fan, {lone['write_units_per_gift']} for a gift settled alone (docs/data-model.md) |",
        f"| DynamoDB Streams | {per['streams_read_requests']:g} read request (the pipe's GetRecords) | "
        f"{_money(d['dynamodb_stream_reads'])} | an upper bound: a poll returns every record waiting; "
        "the settlement's event source reads free (Lambda's reads of its trigger's stream are not billed) |",
        f"| EventBridge Pipes + the gift bus | {per['pipe_requests']:g} pipe request, {per['bus_events']:g} "
        f"custom event | {_money(d['pipes'])} + {_money(d['eventbridge_events'])} | the outbox: the gift's "
        "insert passes the pipe's filter (records filtered out are not billed); the bus bills every event "
        "put, ruled or not |",
        f"| SQS | {per['sqs_messages']} messages | {_money(d['sqs'])} | only the dead-letter queues, "
        "which only failures reach |",
        f"| CloudWatch Logs | {live['log_bytes_per_gift']:,} bytes | {_money(d['logs'])} | measured: the "
        f"functions' own lines at log level {footprint['log_level']} "
        f"({footprint['function_log_bytes_per_gift']} bytes a gift, "
        f"{footprint['settlement_log_bytes_per_gift']} settling), plus Lambda's START/END/REPORT lines "
        f"({assumed['lambda_platform_log_bytes']} bytes an invocation), the access-log line "
        f"({month['access_log_bytes']} bytes, the template's format) and "
        f"{assumed['log_event_overhead_bytes']} bytes a log event |",
        f"| X-Ray | {live['traces_per_gift']} traces | {_money(d['xray'])} | Lambda's active tracing "
        f"(Globals), default sampling: {assumed['xray_sampling']}; at volume the fixed rate (the "
        "reservoir is in the month's bill below) |",
        f"| data transfer out | {live['response_bytes_per_gift']} bytes | {_money(d['data_transfer_out'])} | "
        f"the answer's body measured, {assumed['response_header_bytes']} bytes of headers assumed |",
        f"| **total** | | **{_money(d['total'])}** | the issue's goal: under $5 |",
        "",
        "Beside the gift, and in the month's bill below:",
        "",
        "| what | per gift | how it is known |",
        "| --- | --- | --- |",
        f"| Cognito (Essentials) | 1/{assumed['gifts_per_monthly_active_user']} of a monthly active user "
        f"(an assumption), the first {int(float(assumed['cognito_free_monthly_active_users'])):,} free each "
        "month | with `CognitoUserPoolId`; another issuer bills its own way |",
        f"| DynamoDB storage | {footprint['stored_bytes_per_gift']:,} bytes, kept | measured: every item "
        "a gift and its settlement add, with index entries and DynamoDB's 100 bytes each |",
        f"| the ledger checker | {counts['ledger_checks_per_month']:g} runs a month (LedgerCheckSchedule), "
        "each reading what changed in its window through the change index: its read units and Lambda "
        "time follow the gifts of the window, not the table | "
        + (
            "measured by `make bench` (bench/books_check.py; performance.md, the books) |"
            if month.get("ledger_checks_measured")
            else "not measured in this run: the column is $0 |"
        ),
        "",
        f"Priced at AWS's {live['region']} list prices as of {month['prices_as_of']} (no free tier but "
        "Cognito's): "
        + "; ".join(
            f"{k.replace('_', ' ')} ${v}" for k, v in {**live["prices_usd"], **month["prices_usd"]}.items()
        )
        + ". Check them for your region.",
        "",
        "| gifts a month | "
        + " | ".join(label for _, label in COLUMNS)
        + " | **total** | storage added each month |",
        "| --- " * (len(COLUMNS) + 3) + "|",
    ]
    for row in month["rows"]:
        lines.append(
            f"| {_count(row['gifts'])} | "
            + " | ".join(_money(row[key]) for key, _ in COLUMNS)
            + f" | **{_money(row['total'])}** | +{_money(row['storage_added_per_month'])} |"
        )
    lines += [
        "",
        f'"Fixed" does not grow with gifts: {counts["alarms"]} alarms reading {counts["alarm_metrics"]} '
        f"metrics ({_money(fixed['alarms'])}), up to {counts['custom_metrics']} custom metrics (the "
        f"functions' own, the metric filter's and {counts['routes']} routes' detailed metrics: "
        f"{_money(fixed['custom_metrics'])}), {counts['dashboards']} dashboard ({_money(fixed['dashboard'])}), "
        f"{counts['secrets']} secrets and their reads ({_money(fixed['secrets'])}). The hourly ledger checks' column "
        "(reads and Lambda time) follows the month's gifts, whatever the table holds: each run reads "
        "only its window's changes. Cognito's column follows "
        "from the assumed gifts per active user, and is nothing with another issuer. Storage grows by its "
        "column every month and is kept (the table is retained).",
    ]
    return "\n".join(lines)


def gift_writes_section(results: dict[str, Any]) -> str:
    whole = results["whole_gift"]["gift"]
    stream = results["work_per_operation"]["settlement_live_stream"]
    live = results["cost_per_million_gifts"]["finger_heart, live stream"]
    return (
        f"Measured by {_provenance(results)}: a gift costs "
        f"**{whole['live_stream']['total_write_units']} write units** with its share of a live stream's "
        f"settlement batch ({stream['gifts']} gifts to one creator from {stream['fans']} fans: "
        f"{whole['live_stream']['request_write_units']} on the request path + "
        f"{whole['live_stream']['settlement_write_units']} settling, the boards and spending counters "
        f"being per fan), **{whole['busy_creator']['total_write_units']}** when the batch comes from one "
        f"fan (a busy creator), and **{whole['lone_gift']['total_write_units']}** for a gift settled alone "
        f"in a quiet second. GiftSettlementFunction runs with {live['memory_mb']['settlement']:,} MB "
        f"(template.yaml). The issue's goal of at most 5 including the settlement is not met: the "
        f"request path alone is {whole['live_stream']['request_write_units']}."
    )


def sections(results: dict[str, Any]) -> list[tuple[Path, tuple[str, str], str]]:
    """(page, its markers, the text between them) for every figure block these pages hold."""
    if "monthly_cost" not in results:
        return []
    return [
        (DEPLOY_DOC, COST_MARKERS, cost_section(results)),
        (DATA_MODEL_DOC, WRITES_MARKERS, gift_writes_section(results)),
    ]


def between(text: str, markers: tuple[str, str]) -> str:
    begin, end = markers
    return text.split(begin, 1)[1].split(end, 1)[0].strip("\n")


def replace_between(text: str, markers: tuple[str, str], figures: str) -> str:
    begin, end = markers
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{begin}\n{figures}\n{end}{tail}"
