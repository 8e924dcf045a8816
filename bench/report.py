"""Writes a run's figures: bench/results/latest.json, latest.md, the figures in docs/performance.md, and
the cost and write-unit figures in docs/deploy.md and docs/data-model.md (bench/cost_docs.py).

`python -m bench.report --reprice` prices a results file's measurements again and rewrites them all.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

from bench import cost, cost_docs
from bench.spread import MIN_BLOCKS
from bench.spread import text as spread_text

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
PERFORMANCE_DOC = ROOT / "docs" / "performance.md"
BEGIN, END = "<!-- bench:figures:begin -->", "<!-- bench:figures:end -->"
BOOKS_BEGIN, BOOKS_END = "<!-- bench:books:begin -->", "<!-- bench:books:end -->"
GOALS_BEGIN, GOALS_END = "<!-- bench:goals:begin -->", "<!-- bench:goals:end -->"
CHOICE_BEGIN, CHOICE_END = "<!-- bench:cold-start-choice:begin -->", "<!-- bench:cold-start-choice:end -->"


def machine() -> dict[str, Any]:
    model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        found = re.search(r"model name\s*:\s*(.+)", cpuinfo.read_text())
        model = found.group(1).strip() if found else ""
    return {
        "cpu": model or platform.processor(),
        "architecture": platform.machine(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.release()}",
    }


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _met(value: float | None, goal: float, *, at_most: bool = True) -> str:
    if value is None:
        return "n/a"
    return "met" if (value <= goal if at_most else value >= goal) else "**not met**"


def _holds(ceiling: int | str | None, rate: int) -> bool:
    """A modelled ceiling at or above `rate` ("unbounded": no shared item of the creator's at all)."""
    return ceiling == "unbounded" or (isinstance(ceiling, int) and ceiling >= rate)


def goals_table(results: dict[str, Any]) -> list[str]:
    work = results["work_per_operation"]
    gift = work["gift"]
    whole = results["whole_gift"]["gift"]
    cold = results["cold_start"]["functions"]
    deployed = " as deployed" if "as_deployed" in results["cold_start"] else " (from source: an older run)"
    gift_cold = cold["GiftSendFunction"]["cpu_over_baseline"]
    others = {k: v["cpu_over_baseline"] for k, v in cold.items() if k != "GiftSendFunction"}
    worst = max(others, key=lambda k: others[k]) if others else None
    over_two = sorted((k for k, v in others.items() if v > 2.0), key=lambda k: -others[k])
    loads = cold["GiftSendFunction"]["loads"]
    heavy = [
        m for m in loads if m in ("stripe", "aws_xray_sdk", "coins.payouts", "coins.purchases", "requests")
    ]
    cost = results["cost_per_million_gifts"]
    busy, lone = cost["finger_heart, busy creator"], cost["finger_heart, lone gift"]
    live = cost["finger_heart, live stream"]
    rose = cost["rose, live stream"]
    stream = work["settlement_live_stream"]
    hot = results["hot_creator"]
    latency = results["latency"]
    payouts = results.get("payout_batch")
    throughput = results["throughput"]
    spreads = throughput.get("spreads", {})

    def ratio(key: str) -> str:
        return spread_text(spreads.get(key), throughput[key])

    rows = [
        ("figure", "goal", "this run", ""),
        ("---", "---", "---", "---"),
        (
            "DynamoDB calls per gift, one after another",
            "at most 2",
            f"{gift['sequential_calls']} ({', '.join(gift['operations'])})",
            _met(gift["sequential_calls"], 2),
        ),
        (
            "write units per gift, with its share of the settlement",
            "at most 5",
            f"{whole['live_stream']['total_write_units']} ({gift['write_units']} table + "
            f"{gift['index_write_units']} index on the request path, "
            f"+ {whole['live_stream']['settlement_write_units']} settling "
            f"{stream['gifts']} gifts to one creator from {stream['fans']} fans at once); "
            f"the same batch from one fan: {whole['busy_creator']['total_write_units']}; a lone gift "
            f"settled alone: {whole['lone_gift']['total_write_units']}",
            _met(whole["live_stream"]["total_write_units"], 5),
        ),
        (
            "cost per million gifts on AWS, every line item",
            "under $5",
            f"${live['dollars']['total']:.2f} for a live stream's batch (a Rose: "
            f"${rose['dollars']['total']:.2f}; the batch from one fan: ${busy['dollars']['total']:.2f}; "
            f"each gift settled alone: ${lone['dollars']['total']:.2f})",
            _met(live["dollars"]["total"], 4.999),
        ),
        (
            "cold start of the gift function / `import boto3` + a DynamoDB client (CPU)",
            "at most 1.5x as deployed",
            spread_text(cold["GiftSendFunction"].get("cpu_spread"), gift_cold) + deployed,
            _met(gift_cold, 1.5),
        ),
        (
            "cold start of every other function",
            "at most 2x",
            f"worst {spread_text(cold[worst].get('cpu_spread'), others[worst])} ({worst}){deployed}"
            + (f"; above 2x: {', '.join(f'{k} {others[k]}x' for k in over_two)}" if over_two else "")
            if worst
            else "not measured in this run",
            _met(others[worst], 2.0) if worst else "n/a",
        ),
        (
            "what the gift function loads at cold start",
            "only what a gift needs",
            ", ".join(heavy) if heavy else "no Stripe, X-Ray SDK, payouts, purchases or other routes' models",
            "met" if not heavy else "**not met**",
        ),
        (
            "wallet read (keys read)",
            "proportional to what the user holds (a fan holds coins, perhaps a debt: at most 2)",
            f"fan {work['wallet_read_fan']['items_read']}, creator {work['wallet_read_creator']['items_read']}",
            _met(work["wallet_read_fan"]["items_read"], 2),
        ),
        (
            "history page (queries, one after another)",
            "one Query for a fan; creators bounded",
            f"fan {work['history_page_fan']['calls']} ({work['history_page_fan']['sequential_calls']}), "
            f"creator {work['history_page_creator']['calls']} ({work['history_page_creator']['sequential_calls']})",
            _met(work["history_page_fan"]["calls"], 1),
        ),
        (
            "gift latency on DynamoDB Local / a bare GetItem (one sender)",
            "(no goal set; reported)",
            f"p50 {latency['gift_over_bare_get_item_p50']}x, p99 {latency['gift_over_bare_get_item_p99']}x; "
            f"against raw boto3 making the gift's own calls: p50 {latency['gift_over_raw_gift_calls_p50']}x, "
            f"p99 {latency['gift_over_raw_gift_calls_p99']}x",
            "",
        ),
        (
            "one hot creator: modelled ceiling, gifts lost under injected conflicts",
            "at least 10,000/s; 0 lost",
            f"request path: {hot['modelled_ceiling_per_creator']} (no item of the creator's shared); "
            f"settlement: {hot['settlement_model']['modelled_ceiling_per_creator']:,}/s "
            f"({hot['settlement_model']['creator_shards']} shards x "
            f"{hot['settlement_model']['chunk_writes_per_second_per_shard']:g} chunks/s x "
            f"{hot['settlement_model']['gifts_per_chunk_measured']} gifts per chunk); "
            f"{hot['gifts_lost']} lost of {hot['gifts_sent']}, {hot['conflicts_injected']} conflicts injected, "
            f"{hot['retries_per_gift']} retries per gift; {hot['senders']} senders' throughput under "
            f"the conflicts {hot['throughput_under_conflicts_over_without']}x of without"
            + _contended_settlement(hot.get("settlement_under_contention")),
            "met"
            if not (hot["gifts_lost"] or hot["coins_mismatch"] or hot["diamonds_mismatch"])
            and _holds(hot["modelled_ceiling_per_creator"], 10_000)
            and hot["settlement_model"]["modelled_ceiling_per_creator"] >= 10_000
            and _contended_settlement_holds(hot.get("settlement_under_contention"))
            else "**not met**",
        ),
        (
            "gift throughput through the handler / raw TransactWriteItems of its items",
            f"at least 0.7x, the median of at least {MIN_BLOCKS} blocks",
            f"{ratio('handler_over_raw_transaction')} (CPU per gift: {ratio('cpu_raw_transaction_over_handler')}); "
            f"/ raw boto3 making all its calls {ratio('handler_over_raw_all_calls')}; / the old 7-item design "
            f"{ratio('handler_over_old_design')}",
            _met(throughput["handler_over_raw_transaction"], 0.7, at_most=False)
            if spreads.get("handler_over_raw_transaction", {}).get("blocks", 0) >= MIN_BLOCKS
            else "**not met** (fewer blocks than the goal asks)",
        ),
    ]
    if payouts is not None:
        growth = payouts["large_over_small"]
        small, large = min(payouts["sizes"]), max(payouts["sizes"])
        rows.append(
            (
                f"payout batch: time per payout at {large:,} / at {small:,}",
                "at most 1.1x",
                f"{growth['milliseconds']['total']}x wall-clock; CPU per payout: functions "
                f"{growth['cpu_functions']['total']}x, DynamoDB Local {growth['cpu_dynamodb']['total']}x, "
                f"Stripe simulator {growth['cpu_stripe_simulator']['total']}x; DynamoDB calls per payout "
                f"{growth['dynamodb_calls_per_payout']}x",
                _met(growth["milliseconds"]["total"], 1.1),
            )
        )
    return ["| " + " | ".join(row) + " |" for row in rows]


def _added(results: dict[str, Any], key: str, variant: str) -> str:
    found = results["cold_start"].get(key, {}).get(variant)
    return f"+{found['added_over_runtime_only']}x" if found else "(not measured in this run)"


def _obstacle(label: str, results: dict[str, Any]) -> str:
    """What stands in the way of a goal, with this run's figures."""
    cold = results["cold_start"]
    if label.startswith("write units"):
        whole = results["whole_gift"]["gift"]["live_stream"]
        return (
            f"the request path is {whole['request_write_units']} of them (the gift's items and their "
            f"History and change-index entries), more than the goal on its own; the settlement adds "
            f"{whole['settlement_write_units']} (each fan's one spending item per chunk, the creator's credit "
            "and settlement row, the boards' merge once per batch). Under 5 needs a lighter request path "
            '(docs/data-model.md, "Counting off the request path", weighs a 1-write-unit one).'
        )
    if label.startswith("cost per million"):
        dollars = results["cost_per_million_gifts"]["finger_heart, live stream"]["dollars"]
        writes = dollars["dynamodb_writes"]
        rest = dollars["total"] - writes
        named = {
            "HTTP API": dollars["http_api"],
            "the gift bus's event": dollars["eventbridge_events"],
            "the pipe": dollars["pipes"],
            "Lambda": dollars["lambda_requests"] + dollars["lambda_duration"],
            "logs": dollars["logs"],
            "X-Ray": dollars["xray"],
        }
        named["the rest"] = rest - sum(named.values())
        floor = float(cost.PRICES["dynamodb_write_request_unit_per_million"]) * 5
        return (
            f"DynamoDB writes are ${writes:.2f} of the ${dollars['total']:.2f} and follow the write units; the "
            f"other line items add ${rest:.2f} whatever the writes ("
            + ", ".join(f"{k} ${v:.2f}" for k, v in named.items())
            + f"). At 5 write units a gift, the goal's (${floor:.2f}), the total would be ${rest + floor:.2f}: "
            "under $5 also needs the live-stream event off the per-gift path (one event per settlement batch "
            "instead of a pipe request and a bus event per gift), or fewer than 5 write units."
        )
    if label.startswith("cold start of the gift"):
        runtime = cold.get("tracing", {}).get("runtime-only", {}).get("cpu_over_baseline")
        return (
            f"the baseline + Powertools Logger and Metrics alone is {runtime}x; "
            "validation: on top of that, the Powertools resolver validating a pydantic body adds "
            f"{_added(results, 'validation', 'resolver-validation')}, a pydantic model alone "
            f"{_added(results, 'validation', 'pydantic-model')}, the resolver without validation "
            f"{_added(results, 'validation', 'resolver')}, and a stdlib dataclass checked by hand "
            f"{_added(results, 'validation', 'dataclass-checked')}; the rest is our own modules "
            '("Cold start as deployed" above has the choice).'
        )
    if label.startswith("cold start of every other"):
        heavy = sorted(
            name
            for name, f in cold["functions"].items()
            if f["cpu_over_baseline"] > 2.0 and {"stripe", "requests"} & set(f["loads"])
        )
        widths = [
            f["cpu_spread"]["max"] - f["cpu_spread"]["min"]
            for f in cold["functions"].values()
            if "cpu_spread" in f
        ]
        noise = (
            f"; one function's blocks spread over up to {max(widths):.2f}x in this run (load average "
            f"{results['load_average_before']} before it)"
            if widths
            else ""
        )
        return (
            "the same validation cost as the gift's, and "
            + (
                f"Stripe's SDK and requests in {', '.join(heavy)}, which call Stripe"
                if heavy
                else "our own modules"
            )
            + noise
            + "."
        )
    if label.startswith("gift throughput"):
        return (
            "the handler's own CPU per gift (the API stand-in, authorizing the token, parsing and validating, "
            "building the transaction) against a replay that only sends the recorded transaction; on a shared "
            f"2-core machine (load average {results['load_average_before']} before the run, "
            f"{results['load_average_after']} after) DynamoDB Local's JVM and the senders compete with it."
        )
    if label.startswith("payout batch"):
        return (
            "DynamoDB Local's cost per call grows with its table (its CPU per payout in the row); the functions' "
            "own CPU and calls per payout are in the same row."
        )
    if label.startswith("one hot creator"):
        return "issue 22 item 4 (contention where it happens: the settlement's items and the boards' index keys)."
    if label.startswith("what the gift function loads"):
        return "a module the gift does not need is imported at its cold start (coins/wiring.py builds per route)."
    return "not analysed in this run."


def goals_not_met(results: dict[str, Any]) -> str:
    """Each goal this run does not meet, its figure and what stands in the way: for docs/performance.md."""
    rows = [r for r in goals_table(results)[2:] if "not met" in r]
    lines = [f"From {_provenance(results)}:", ""]
    for row in rows:
        label, goal, figure, _ = [cell.strip() for cell in row.strip("|").split(" | ")]
        lines.append(f"- **{label}**: {figure} (goal: {goal}). In the way: {_obstacle(label, results)}")
    if len(lines) == 2:
        lines.append("- every goal is met.")
    return "\n".join(lines)


def cold_start_choice(results: dict[str, Any]) -> str:
    """The figures the cold-start choice rests on: validation's cost and SnapStart's price."""
    cold = results["cold_start"]
    lines = [f"From {_provenance(results)}:", ""]
    if cold.get("validation"):
        lines += [
            "| a request body as a typed, validated value | CPU / baseline | added to the runtime-only start |",
            "| --- | --- | --- |",
        ]
        for name, v in cold["validation"].items():
            lines.append(
                f"| {name} | {spread_text(v.get('cpu_spread'), v['cpu_over_baseline'])} | +{v['added_over_runtime_only']}x |"
            )
        lines.append("")
    snap = results.get("snapstart")
    if snap:
        lines += [
            f"SnapStart for the gift function ({snap['gift_function_memory_mb']:,} MB, two published versions "
            "cached), per month at AWS's list prices ("
            + "; ".join(f"{k.replace('_', ' ')} ${v}" for k, v in snap["prices_usd"].items())
            + f", as of {cost.PRICES_AS_OF}):",
            "",
            "| restores | cache | restores | total |",
            "| --- | --- | --- | --- |",
        ]
        for label, c in snap["gift_function"].items():
            lines.append(
                f"| {label} | ${c['cache_per_month']:,.2f} | ${c['restores_per_month']:,.2f} | ${c['total']:,.2f} |"
            )
    return "\n".join(lines)


def _provenance(results: dict[str, Any]) -> str:
    return f"`{results['command']}` on {results['run_at']} (bench/results/latest.json)"


def work_table(results: dict[str, Any]) -> list[str]:
    lines = [
        "| operation | calls | one after another | write units (table + index) | read units | items read |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, w in results["work_per_operation"].items():
        label = name.replace("_", " ") + (f" (a batch of {w['gifts']})" if "gifts" in w else "")
        lines.append(
            f"| {label} | {w['calls']} ({', '.join(f'{k} {v}' for k, v in w['operations'].items())})"
            f" | {w['sequential_calls']} | {w['total_write_units']} ({w['write_units']} + {w['index_write_units']})"
            f" | {w['read_units']:g} | {w['items_read']} |"
        )
    return lines


def cold_table(results: dict[str, Any]) -> list[str]:
    cold = results["cold_start"]
    lines = [
        f"Baseline (`import boto3` + `boto3.client('dynamodb')`): median {cold['baseline_cpu_median_ms']} ms CPU, "
        f"{cold['baseline_wall_median_ms']} ms wall-clock, over {cold.get('blocks', 1)} blocks of "
        f"{cold['rounds']} fresh processes each"
        + (
            f"; as deployed: {cold['as_deployed']}."
            if "as_deployed" in cold
            else " (from source: an older run)."
        ),
        "",
        "| function | CPU / baseline (median of blocks, min-max) | wall-clock / baseline | heavy modules it loads |",
        "| --- | --- | --- | --- |",
    ]
    for name, f in cold["functions"].items():
        lines.append(
            f"| {name} | {spread_text(f.get('cpu_spread'), f['cpu_over_baseline'])}"
            f" | {f['wall_over_baseline']}x | {', '.join(f['loads']) or '-'} |"
        )
    for name, f in cold.get("without_layer_bytecode", {}).items():
        lines += [
            "",
            f"{name} from the same layer without its bytecode (as SAM's python3.13 build shipped it): "
            f"{spread_text(f.get('cpu_spread'), f['cpu_over_baseline'])} of the same baseline, "
            f"{f['cpu_median_ms']} ms CPU against {cold['functions'][name]['cpu_median_ms']} ms with it.",
        ]
    for title, key in (("tracing", "tracing"), ("validating a request body", "validation")):
        if not cold.get(key):
            continue
        lines += [
            "",
            f"| {title}, on top of the baseline + Powertools Logger and Metrics | CPU / baseline | added |",
            "| --- | --- | --- |",
        ]
        for name, v in cold[key].items():
            shown = spread_text(v.get("cpu_spread"), v["cpu_over_baseline"])
            lines.append(f"| {name} | {shown} | +{v['added_over_runtime_only']}x |")
    return lines


def cost_table(results: dict[str, Any]) -> list[str]:
    cost = results["cost_per_million_gifts"]
    first = next(iter(cost.values()))
    parts = list(first["dollars"])
    lines = [
        "| gift, settlement | write units | read units | "
        + " | ".join(p.replace("_", " ") for p in parts)
        + " | billed ms per gift (gift function, settlement) |",
        "|---" * (len(parts) + 4) + "|",
    ]
    for gift, c in cost.items():
        billed = c["billed_milliseconds_per_gift"]
        lines.append(
            f"| {gift.replace('_', ' ')} ({c['gifts_per_settlement_batch']} per batch) | "
            f"{c['write_units_per_gift']} | {c['read_units_per_gift']} | "
            + " | ".join(f"${c['dollars'][p]:.2f}" for p in parts)
            + f" | {billed['gift']}, {billed['settlement']} |"
        )
    prices = first["prices_usd"]
    assumed = first["assumed_aws_milliseconds_per_call"]
    lines += [
        "",
        f"Prices (USD, {first['region']}, list prices as of {first['prices_as_of']}, no free tier): "
        + "; ".join(f"{k.replace('_', ' ')} {v}" for k, v in prices.items())
        + ". Assumptions: one HttpApi request and one gift-function invocation per gift, one "
        "settlement invocation per batch; Lambda arm64 at the template's memory "
        f"({first['memory_mb']['gift']} MB gift, {first['memory_mb']['settlement']} MB settlement), "
        "billed for the CPU measured here scaled to the vCPU share that memory gets (1,769 MB is "
        "one vCPU) plus an assumed AWS latency per DynamoDB call one after another ("
        + ", ".join(f"{k} {v} ms" for k, v in assumed.items())
        + "); DynamoDB on-demand, standard table class; stream reads by Lambda are free.",
    ]
    return lines


def figures_markdown(results: dict[str, Any]) -> str:
    m = results["machine"]
    lines = [
        f"Produced by `{results['command']}` on {results['run_at']}: {m['cpu']} ({m['architecture']}, {m['cores']} cores), "
        f"Python {m['python']}, {m['system']}. Load average {results['load_average_before']} before, "
        f"{results['load_average_after']} after (the machine is shared: CPU-time ratios are the steadier ones).",
        "",
        "Abuse limits the bench's gift function runs with (on, set high: bench fans send far more than "
        "a real fan may): " + ", ".join(f"{k}={v}" for k, v in results.get("abuse_limits", {}).items()) + ".",
        "",
        "### Against the goals of issue 8",
        "",
        *goals_table(results),
        "",
        "### DynamoDB work per operation (counts, independent of speed)",
        "",
        *work_table(results),
        "",
        "### Cold start",
        "",
        *cold_table(results),
        "",
        "### Gift latency (one sender, one gift at a time)",
        "",
        "```json",
        json.dumps(results["latency"], indent=2),
        "```",
        "",
        "### Gift throughput",
        "",
        "```json",
        json.dumps(results["throughput"], indent=2),
        "```",
        "",
        "### One hot creator",
        "",
        "```json",
        json.dumps(results["hot_creator"], indent=2),
        "```",
        "",
    ]
    if results.get("payout_batch"):
        lines += ["### Payout batch", "", "```json", json.dumps(results["payout_batch"], indent=2), "```", ""]
    lines += ["### Cost per million gifts", "", *cost_table(results), ""]
    return "\n".join(lines)


def load(output: Path | None = None) -> dict[str, Any]:
    """The last run's figures (to add one part's to them)."""
    loaded: dict[str, Any] = json.loads(((output or RESULTS) / "latest.json").read_text())
    return loaded


def write(results: dict[str, Any], *, output: Path | None = None, update_doc: bool = True) -> str:
    folder = output or RESULTS
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "latest.json").write_text(json.dumps(results, indent=2) + "\n")
    figures = figures_markdown(results)
    books = books_markdown(results["books"]) if "books" in results else ""
    (folder / "latest.md").write_text("# Benchmark figures (`make bench`)\n\n" + figures + "\n" + books)
    if update_doc:
        sections = [
            (PERFORMANCE_DOC, (BEGIN, END), figures),
            (PERFORMANCE_DOC, (GOALS_BEGIN, GOALS_END), goals_not_met(results)),
            (PERFORMANCE_DOC, (CHOICE_BEGIN, CHOICE_END), cold_start_choice(results)),
            *cost_docs.sections(results),
        ]
        if books:
            sections.append((PERFORMANCE_DOC, (BOOKS_BEGIN, BOOKS_END), books))
        for page, markers, text in sections:
            if page.exists() and all(m in page.read_text() for m in markers):
                page.write_text(cost_docs.replace_between(page.read_text(), markers, text))
    return figures + ("\n" + books if books else "")


def books_markdown(books: dict[str, Any]) -> str:
    """The books' figures: the audit on DuckDB at each size, and the monthly cost."""
    lines = [
        f"`make bench` run {books['run_at']} (tables built as export files by bench/ledger_files.py; "
        "each audit in a fresh process):",
        "",
        "| items in the table | audit, seconds | per million items | CPU seconds per million | "
        "peak memory | reading the files alone | audit over reading |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for run in books["sizes"]:
        audit = run["audit"]
        lines.append(
            f"| {run['items']:,} | {audit['seconds']} | {run['audit_seconds_per_million_items']} s | "
            f"{run['audit_cpu_seconds_per_million_items']} s | {audit['peak_rss_mb']} MB | "
            f"{run['reading_only']['seconds']} s | {run['audit_over_reading']}x |"
        )
    lines += [
        "",
        f"{books['items_ratio_large_over_small']}x the items took {books['seconds_ratio_large_over_small']}x "
        "the time: the audit reads every item once, so its time grows with the table, which is why it runs "
        "daily on Athena over the export and the hourly check does not (the findings were 0 at every size).",
        "",
    ]
    cost = books["cost"]
    lines += [
        f"Monthly cost of the exports and the audit ({cost['assumes']}; "
        f"{cost['json_bytes_per_item']} bytes an item as exported, {cost['gzip_bytes_per_item']} gzipped):",
        "",
        "| gifts a month | table after a year | full exports | incremental exports | Athena audits | S3 | total |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for label, row in cost["months"].items():
        lines.append(
            f"| {label.removesuffix(' gifts a month')} | {row['table_gb_after_a_year']} GB | ${row['full_exports']} | "
            f"${row['incremental_exports']} | ${row['athena_audits']} | ${row['s3_storage']} | **${row['total']}** |"
        )
    if "check" in books:
        lines += ["", *check_markdown(books["check"], audit_months=cost["months"])]
    return "\n".join(lines) + "\n"


def check_markdown(check: dict[str, Any], *, audit_months: dict[str, Any]) -> list[str]:
    """The hourly windowed check at each table size with the same traffic, and its monthly cost."""
    window = check["window"]
    lines = [
        f"The hourly check (`make bench` run {check['run_at']}): coins.ledger_check.check_window as "
        f"LedgerCheckerFunction runs it (a {window['window_seconds'] // 3600}-hour window ending "
        f"{window['lag_seconds'] // 60} minutes ago, read from {window['settle_within_seconds'] // 60} minutes "
        f"before it), over the same {check['traffic_items']:,} items of traffic in its window at each table "
        "size, the rest of the table older history; each run in a fresh process, the table in a SQLite file "
        "answering a real boto3 client (bench/books_check.py, bench/table_file.py say why), against a "
        "baseline process reading one item of the same table:",
        "",
        "| items in the table | check, seconds (the table file answering) | the check's CPU seconds | "
        "peak memory | baseline: seconds, memory | items read | calls (one after another) | read units |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for run in check["sizes"]:
        measured, baseline, reads = run["check"], run["baseline"], run["reads"]
        calls = ", ".join(f"{op} {n}" for op, n in sorted(reads["calls"].items()))
        lines.append(
            f"| {run['items']:,} | {measured['seconds']} ({measured['table_file_seconds']}) | "
            f"{measured['client_cpu_seconds']} | "
            f"{measured['peak_rss_mb']} MB | {baseline['seconds']} s, {baseline['peak_rss_mb']} MB | "
            f"{measured['items_read']:,} | {calls} ({reads['sequential_calls']}) | {reads['read_units']} |"
        )
    cost = check["cost"]
    lines += [
        "",
        f"{check['items_ratio_large_over_small']}x the items took {check['seconds_ratio_large_over_small']}x "
        f"the time ({check['client_cpu_ratio_large_over_small']}x the check's CPU, without the table file's) and "
        f"{check['memory_ratio_large_over_small']}x the peak memory, with the same reads at both sizes (the "
        "findings were 0): the check follows the traffic in its window, not the table.",
        "",
        f"Monthly cost of the hourly checks ({cost['assumes']}; per gift read, measured: "
        f"{cost['read_units_per_gift']} read units, {cost['cpu_ms_per_gift']} ms of CPU, "
        f"{cost['calls_one_after_another_per_gift']} calls waited on), and of the books with the exports and "
        "audits above:",
        "",
        "| gifts a month | gifts read a run | read units a run | billed a run | memory a run | DynamoDB reads | "
        "Lambda | checks | with exports and audits |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for label, row in cost["months"].items():
        audits = audit_months.get(label)
        books_total = f"${Decimal(row['total']) + Decimal(audits['total'])}" if audits else "-"
        fits = (
            ""
            if row["fits_the_function"]
            else (f" (**beyond one run of {cost['memory_mb']:,} MB and {cost['timeout_seconds']} s**)")
        )
        lines.append(
            f"| {label.removesuffix(' gifts a month')} | {row['gifts_read_per_run']:,} | "
            f"{row['read_units_per_run']:,} | {row['billed_seconds_per_run']} s{fits} | "
            f"{cost['baseline_mb'] + row['memory_mb_above_baseline_per_run']:,.0f} MB | ${row['dynamodb_reads']} | "
            f"${row['lambda']} | **${row['total']}** | {books_total} |"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.report", description=__doc__)
    parser.add_argument("--results", type=Path, default=RESULTS / "latest.json")
    parser.add_argument(
        "--reprice",
        action="store_true",
        help="price the run's measurements again (bench/cost.py) with today's prices, template and model",
    )
    args = parser.parse_args(argv)
    results = json.loads(args.results.read_text())
    if args.reprice:
        cost.price(results)
    write(results, output=args.results.parent)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


def _contended_settlement(figure: dict[str, Any] | None) -> str:
    """The hot creator's settlement by many stream shards at once (bench/hot_settlement.py)."""
    if not figure:
        return ""
    run, model = figure["measured"], figure["model"]
    return (
        f"; settled by {run['stream_shards_in_parallel']} stream shards at once: "
        f"{run['gifts_lost_or_doubled']} lost or doubled of {run['gifts']}, "
        f"{run['transactions_cancelled_for_conflict']} of {run['transactions']} transactions cancelled "
        f"for conflicts (where they overlapped), {run['board_merges_that_lost_the_race']} board merges "
        f"lost the race, {run['batches_redelivered']} batches redelivered; modelled at "
        f"{model['gifts_per_second']:,.0f}/s ({model['stream_shards']} stream shards): ceiling "
        f"{model['modelled_ceiling_per_creator']:,}/s, bound by {model['binding_item']}"
    )


def _contended_settlement_holds(figure: dict[str, Any] | None) -> bool:
    if not figure:
        return True  # a run from before the figure existed
    run = figure["measured"]
    return bool(
        run["gifts_lost_or_doubled"] == 0
        and run["stream_totals_off"] == 0
        and run["board_entries_off"] == 0
        and figure["model"]["modelled_ceiling_per_creator"] >= 10_000
    )
