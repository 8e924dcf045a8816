"""The cost model's arithmetic (bench/cost.py), the spreads (bench/spread.py) and the rendered goals
(bench/report.py): every line item is a count per gift times AWS's list price, and each goal's
figure is the median of its blocks, shown with its spread."""

import copy
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bench import cost, report
from bench.coldstart import _as_deployed
from bench.cost_docs import between
from bench.fixed_costs import fixed_counts
from bench.spread import MIN_BLOCKS, spread, text
from devstack.template import ROOT, load_template

RESULTS: dict[str, Any] = json.loads((ROOT / "bench/results/latest.json").read_text())
LOG_FORMAT = load_template()["Resources"]["HttpApi"]["Properties"]["AccessLogSettings"]["Format"]


def gift_work() -> dict[str, Any]:
    return {"operations": {"GetItem": 1, "TransactWriteItems": 1}, "total_write_units": 5, "read_units": 1.0}


def settlement_work(**extra: Any) -> dict[str, Any]:
    return {
        "gifts": 200,
        "operations": {"GetItem": 1, "TransactWriteItems": 2},
        "total_write_units": 60,
        "read_units": 2.0,
        "cpu_ms": 4000.0,
        **extra,
    }


def footprint() -> dict[str, Any]:
    return {
        "gifts": 200,
        "fans": 40,
        "function_log_bytes_per_gift": 192.0,
        "function_log_events_per_gift": 1.0,
        "settlement_log_bytes_per_gift": 4.0,
        "settlement_invocations": 1,
        "response_bytes_per_gift": 250.0,
        "table_bytes_per_gift": 700.0,
        "stored_bytes_per_gift": 1500.0,
    }


def test_each_line_item_is_its_count_per_gift_times_its_price() -> None:
    # Given a gift of 5 write units and 1 read unit, and a 200-gift batch of 60 and 2
    priced = cost.cost_per_million_gifts(
        gift_work(), 5.0, 1024, settlement_work(unmetered_cpu_ms=200.0), 1024, footprint(), LOG_FORMAT
    )
    d = priced["dollars"]
    # Then each item is its count per gift x the price per million
    assert d["dynamodb_writes"] == pytest.approx((5 + 60 / 200) * 0.625, abs=0.005)
    assert d["dynamodb_reads"] == pytest.approx((1 + 2 / 200) * 0.125, abs=0.005)
    assert d["http_api"] == 1.00
    assert d["lambda_requests"] == pytest.approx((1 + 1 / 200) * 0.20, abs=0.005)
    assert d["dynamodb_stream_reads"] == 0.20  # one pipe GetRecords a gift, the upper bound
    assert d["pipes"] == 0.40
    assert d["eventbridge_events"] == 1.00
    assert d["sqs"] == 0.0  # dead-letter queues only
    # X-Ray: 5% of each invocation at $5 a million traces
    assert d["xray"] == pytest.approx(0.05 * (1 + 1 / 200) * 5, abs=0.005)
    # data out: the body measured and the headers assumed, at $0.09 a GB
    assert priced["response_bytes_per_gift"] == 250 + cost.RESPONSE_HEADER_BYTES
    assert d["data_transfer_out"] == pytest.approx(450 * 1e6 / 1e9 * 0.09, abs=0.005)
    # And the total is the sum of the items
    items = [v for k, v in d.items() if k != "total"]
    assert d["total"] == pytest.approx(sum(items), abs=0.01)


def test_lambda_duration_is_cpu_scaled_to_the_memorys_vcpu_share_plus_each_calls_wait() -> None:
    # Given 1024 MB (1024/1769 of a vCPU), 5 ms of CPU, a GetItem (5 ms) and a transaction (10 ms)
    work = cost.LambdaWork(
        invocations=Decimal(1),
        cpu_ms=Decimal(5),
        calls={"GetItem": Decimal(1), "TransactWriteItems": Decimal(1)},
        memory_mb=1024,
    )
    # Then its billed time and GB-seconds follow
    assert float(work.billed_milliseconds()) == pytest.approx(5 * 1769 / 1024 + 15)
    assert float(work.gb_seconds()) == pytest.approx(1.0 * (5 * 1769 / 1024 + 15) / 1000)


def test_the_settlement_is_priced_with_its_cpu_measured_without_the_meter() -> None:
    # Given a batch measured with the meter (4,000 ms) and without it (200 ms)
    with_both = cost.cost_per_million_gifts(
        gift_work(), 5.0, 1024, settlement_work(unmetered_cpu_ms=200.0), 1024, footprint(), LOG_FORMAT
    )
    metered_only = cost.cost_per_million_gifts(
        gift_work(), 5.0, 1024, settlement_work(), 1024, footprint(), LOG_FORMAT
    )
    # Then the unmetered figure is used, and an older run's metered one is labelled as such
    assert with_both["settlement_cpu_ms_per_gift"] == 1.0
    assert with_both["settlement_cpu_measured"] == "without the meter"
    assert metered_only["settlement_cpu_ms_per_gift"] == 20.0
    assert metered_only["settlement_cpu_measured"] == "with the meter"
    assert with_both["dollars"]["lambda_duration"] < metered_only["dollars"]["lambda_duration"]


def test_log_bytes_are_each_functions_lines_lambdas_own_and_the_access_log() -> None:
    # Given the footprint's measured lines and a batch of 200 settled in one invocation
    logged = cost.log_bytes_per_gift(footprint(), Decimal(200), LOG_FORMAT)
    per_invocation = cost.LAMBDA_PLATFORM_LOG_BYTES + 3 * cost.LOG_EVENT_OVERHEAD_BYTES
    # Then they add up: the gift function's lines and events, Lambda's per invocation, the
    # settlement's share, the access-log line and its event
    expected = (
        192
        + 1 * cost.LOG_EVENT_OVERHEAD_BYTES
        + per_invocation
        + (4 * 200 + per_invocation) / 200
        + cost.access_log_bytes(LOG_FORMAT)
        + cost.LOG_EVENT_OVERHEAD_BYTES
    )
    assert float(logged) == pytest.approx(expected)
    # And Lambda's own lines are counted from the lines themselves
    assert sum(len(line) for line in cost.LAMBDA_PLATFORM_LINES) == cost.LAMBDA_PLATFORM_LOG_BYTES


def test_snapstart_is_billed_for_its_cache_every_second_and_each_restore() -> None:
    # Given a 1,024 MB function with two versions cached and 720 restores a month
    priced = cost.snapstart_cost(1024, 2, Decimal(720))
    # Then the cache is GB x versions x seconds x price, the restores GB x restores x price
    cache = 1 * 2 * cost.MONTH_SECONDS * 0.0000015046
    restores = 1 * 720 * 0.0001397998
    assert priced["cache_per_month"] == pytest.approx(cache, abs=0.005)
    assert priced["restores_per_month"] == pytest.approx(restores, abs=0.005)
    assert priced["total"] == pytest.approx(cache + restores, abs=0.01)


def test_a_spread_is_the_median_of_the_blocks_with_min_max_and_quartiles() -> None:
    # Given five blocks' ratios
    figure = spread([0.8, 0.6, 0.75, 0.7, 0.9])
    # Then the figure is their median, beside their extremes and quartiles
    assert (figure["median"], figure["min"], figure["max"]) == (0.75, 0.6, 0.9)
    assert (figure["q1"], figure["q3"]) == (0.7, 0.8)
    assert figure["blocks"] == 5
    assert text(figure) == "0.75x (0.6-0.9 over 5 blocks)"
    # And fewer blocks than a goal asks is said
    assert "fewer than" in text(spread([0.8, 0.7]))
    with pytest.raises(ValueError, match="no block"):
        spread([])


def _with_throughput(ratios: list[float]) -> dict[str, Any]:
    results = copy.deepcopy(RESULTS)
    figure = spread(ratios)
    results["throughput"]["handler_over_raw_transaction"] = figure["median"]
    results["throughput"]["spreads"] = {"handler_over_raw_transaction": figure}
    return results


def _throughput_row(results: dict[str, Any]) -> str:
    return next(r for r in report.goals_table(results) if r.startswith("| gift throughput"))


def test_throughput_meets_its_goal_only_as_the_median_of_enough_blocks() -> None:
    # Given five blocks whose median is at the goal, one of them well under it
    met = _with_throughput([0.5, 0.7, 0.72, 0.8, 0.9])
    # Then the goal is met, and the row shows the spread
    assert _throughput_row(met).endswith("| met |")
    assert "0.72x (0.5-0.9 over 5 blocks)" in _throughput_row(met)
    # But one lucky block alone does not meet it
    lucky = _with_throughput([0.93])
    assert "not met" in _throughput_row(lucky)
    assert MIN_BLOCKS == 5


def test_the_goals_not_met_are_rendered_with_what_stands_in_their_way() -> None:
    # Given a run whose throughput is under its goal
    results = _with_throughput([0.5, 0.55, 0.6, 0.62, 0.65])
    rendered = report.goals_not_met(results)
    # Then it is listed with its spread and an obstacle drawn from the run's figures
    line = next(x for x in rendered.splitlines() if "gift throughput" in x)
    assert "0.6x (0.5-0.65 over 5 blocks)" in line
    assert "In the way:" in line
    # And the cost's obstacle is computed from the run's line items
    cost_line = next(x for x in rendered.splitlines() if "cost per million" in x)
    total = results["cost_per_million_gifts"]["finger_heart, live stream"]["dollars"]["total"]
    assert f"${total:.2f}" in cost_line


def test_performance_md_holds_what_the_committed_results_render() -> None:
    # No figure in these blocks is typed by hand: they are the committed results' rendering
    page = report.PERFORMANCE_DOC.read_text()
    assert between(page, (report.GOALS_BEGIN, report.GOALS_END)) == report.goals_not_met(RESULTS)
    assert between(page, (report.CHOICE_BEGIN, report.CHOICE_END)) == report.cold_start_choice(RESULTS)


def test_the_cold_start_sees_only_the_layer_and_writes_no_bytecode(tmp_path: Path) -> None:
    # Given a process environment from the developer's virtualenv
    env = _as_deployed({"VIRTUAL_ENV": "/somewhere/.venv", "PATH": "/usr/bin"}, tmp_path)
    # Then, as on Lambda, the layer is on the path, no virtualenv, and no bytecode is written
    assert env["PYTHONPATH"] == str(tmp_path)
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert "VIRTUAL_ENV" not in env


def test_x_ray_is_priced_for_the_functions_the_template_traces() -> None:
    # Given the template: every function traced (Globals: Tracing Active), default sampling
    template = load_template()
    assert cost.traced_in(template, "GiftSendFunction")
    assert cost.traced_in(template, "GiftSettlementFunction")
    # When the gift function is not traced
    untraced = copy.deepcopy(template)
    untraced["Resources"]["GiftSendFunction"]["Properties"]["Tracing"] = "PassThrough"
    assert not cost.traced_in(untraced, "GiftSendFunction")
    priced = cost.cost_per_million_gifts(
        gift_work(), 5.0, 1024, settlement_work(), 1024, footprint(), LOG_FORMAT, {"gift": False}
    )
    # Then only the settlement's invocations are sampled
    assert priced["traces_per_gift"] == pytest.approx(0.05 / 200, abs=0.0001)
    # And a sampling rule of the template's own is refused until the model reads it
    ruled = copy.deepcopy(template)
    ruled["Resources"]["Sampling"] = {"Type": "AWS::XRay::SamplingRule", "Properties": {}}
    with pytest.raises(ValueError, match="default sampling"):
        cost.traced_in(ruled, "GiftSendFunction")


def test_the_cold_start_table_shows_each_ratio_with_its_spread_and_the_layer_without_bytecode() -> None:
    # Given a cold start measured as deployed in five blocks, and the gift from a bare layer
    figure = spread([1.4, 1.5, 1.45, 1.6, 1.55])
    bare = spread([4.9, 5.0, 5.1, 5.2, 4.8])
    function = {"cpu_over_baseline": 1.5, "cpu_spread": figure, "wall_over_baseline": 1.2, "loads": []}
    cold = {
        "rounds": 3,
        "blocks": 5,
        "as_deployed": "the layer built by its Makefile",
        "baseline_cpu_median_ms": 400.0,
        "baseline_wall_median_ms": 600.0,
        "functions": {"GiftSendFunction": {**function, "cpu_median_ms": 600.0}},
        "without_layer_bytecode": {
            "GiftSendFunction": {"cpu_over_baseline": 5.0, "cpu_spread": bare, "cpu_median_ms": 2000.0}
        },
        "tracing": {},
        "validation": {},
    }
    lines = "\n".join(report.cold_table({"cold_start": cold}))
    # Then each figure is the median of its blocks with their range
    assert "| GiftSendFunction | 1.5x (1.4-1.6 over 5 blocks) |" in lines
    # And what the bytecode saves is shown beside it
    assert "without its bytecode" in lines
    assert "5.0x (4.8-5.2 over 5 blocks)" in lines
    assert "2000.0 ms CPU against 600.0 ms with it" in lines


def test_the_months_ledger_checks_are_the_windowed_checks_measured_cost_not_a_scan() -> None:
    # Given a shape's cost per million gifts and the hourly checks' measured month at each size
    shape = RESULTS["cost_per_million_gifts"]["finger_heart, live stream"]
    checks = {f"{n:,} gifts a month": {"total": str(n / 1e6)} for n in cost.GIFTS_PER_MONTH}
    # When the month is priced with them, and without them
    priced = cost.monthly_costs(shape, footprint(), fixed_counts(), checks)
    unmeasured = cost.monthly_costs(shape, footprint(), fixed_counts(), None)
    # Then the column is the checks' own total at each size (it follows the gifts, not the table)
    assert [row["ledger_checks"] for row in priced["rows"]] == [1.0, 100.0, 1000.0]
    assert [row["ledger_checks"] for row in unmeasured["rows"]] == [0.0, 0.0, 0.0]
    # And the totals differ by exactly that column
    assert [
        round(a["total"] - b["total"], 2) for a, b in zip(priced["rows"], unmeasured["rows"], strict=True)
    ] == [
        1.0,
        100.0,
        1000.0,
    ]
