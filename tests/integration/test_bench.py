"""`make bench` at a small size, so the benchmarks cannot rot: every part runs end to end on its own
DynamoDB Local and Stripe simulator and reports the figures docs/performance.md is made from.

Not a timed test: it asserts counts and outcomes that do not depend on the machine's speed (calls
per gift, gifts lost, payouts paid), and that every ratio the page shows was computed. It runs the
bench in a process of its own, as `make bench` does (the bench sets the functions' environment
and hooks every boto3 client of its process), and writes to a temporary folder, never to docs/.
"""

import json
import subprocess
import sys
from typing import Any

import pytest

from devstack.preflight import secrets_read
from devstack.template import ROOT, load_template

pytestmark = pytest.mark.integration

SMALL = (
    "--cold-rounds=1",
    "--cold-blocks=2",
    "--cold-functions=GiftSendFunction,WalletFunction",
    "--threads=2",
    "--gifts-per-block=8",
    "--rounds=1",
    "--latency-samples=10",
    "--settle-batch=10",
    "--settle-fans=3",
    "--hot-senders=4",
    "--hot-gifts=2",
    "--hot-shards=4",
    "--payout-sizes=20,40",
    "--payout-workers=2",
    # The books' audit at two small tables (make bench's are 100,000 and 1,000,000 items).
    "--books-sizes=1500,3000",
    # The hourly check over the same traffic at two small histories (make bench's: 100,000, 1,000,000).
    "--check-sizes=1500,3000",
)


@pytest.fixture(scope="module")
def small_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str]:
    output = tmp_path_factory.mktemp("bench")
    done = subprocess.run(
        [sys.executable, "-m", "bench", *SMALL, "--output", str(output), "--no-doc"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    results: dict[str, Any] = json.loads((output / "latest.json").read_text())
    return results, (output / "latest.md").read_text()


def test_the_bench_counts_the_gift_and_its_share_of_the_settlement(
    small_run: tuple[dict[str, Any], str],
) -> None:
    # Given a small bench run
    results, _ = small_run
    work = results["work_per_operation"]
    # Then the gift's work is counted on the request path and in the settlement from the stream
    assert work["gift"]["sequential_calls"] >= 1
    assert work["gift"]["total_write_units"] > 0
    assert work["settlement_busy_creator"]["gifts"] == 10
    assert work["settlement_lone_gift"]["gifts"] == 1
    whole = results["whole_gift"]["gift"]["busy_creator"]
    assert whole["total_write_units"] == pytest.approx(
        work["gift"]["total_write_units"] + work["settlement_busy_creator"]["per_gift"]["total_write_units"],
        abs=0.001,
    )
    # And a live stream's batch (3 fans) costs each gift at least as much as one fan's: the
    # settlement writes the top-gifter boards and spending counters once per fan in a batch
    live = work["settlement_live_stream"]
    assert (live["gifts"], live["fans"]) == (10, 3)
    assert (
        live["per_gift"]["total_write_units"]
        >= work["settlement_busy_creator"]["per_gift"]["total_write_units"]
    )
    # And a lone gift's settlement costs it at least as much as a shared one
    assert (
        work["settlement_lone_gift"]["per_gift"]["total_write_units"]
        >= work["settlement_busy_creator"]["per_gift"]["total_write_units"]
    )


def test_the_bench_measures_what_a_gift_stores_and_logs_and_prices_a_month_of_every_line_item(
    small_run: tuple[dict[str, Any], str],
) -> None:
    results, _ = small_run
    # A gift adds its transfer, its share of the settlement's rows, and log lines, all measured
    footprint = results["footprint"]
    assert (footprint["gifts"], footprint["fans"]) == (10, 3)
    assert footprint["stored_bytes_per_gift"] > footprint["table_bytes_per_gift"] > 300
    assert footprint["function_log_bytes_per_gift"] > 0
    # ... and a month is priced line by line at every size, the total their sum
    for row in results["monthly_cost"]["rows"]:
        items = [
            v
            for k, v in row.items()
            if k not in ("gifts", "monthly_active_users", "total", "storage_added_per_month")
        ]
        assert all(v >= 0 for v in items)
        assert row["total"] == pytest.approx(sum(items), abs=0.05)
    # ... with one secret for each the template's functions read
    assert results["monthly_cost"]["counts"]["secrets"] == len(secrets_read(load_template()))


def test_the_bench_reports_every_ratio_against_a_baseline_of_the_same_run(
    small_run: tuple[dict[str, Any], str],
) -> None:
    # Given a small bench run
    results, markdown = small_run
    # Then each timed figure is a ratio to a baseline measured in it
    cold = results["cold_start"]
    assert cold["baseline_cpu_median_ms"] > 0
    assert set(cold["functions"]) == {"GiftSendFunction", "WalletFunction"}
    assert cold["functions"]["GiftSendFunction"]["cpu_over_baseline"] > 0
    latency = results["latency"]
    for label in ("p50", "p99"):
        assert latency[f"gift_over_bare_get_item_{label}"] > 0
        assert latency[f"gift_over_raw_gift_calls_{label}"] > 0
    throughput = results["throughput"]
    assert throughput["handler_over_raw_transaction"] > 0
    assert throughput["handler_over_old_design"] > 0
    # ... each with its spread over the blocks measured (as deployed, for the cold start)
    assert throughput["spreads"]["handler_over_raw_transaction"]["blocks"] == 1
    assert cold["functions"]["GiftSendFunction"]["cpu_spread"]["blocks"] == 2
    assert "as_deployed" in cold
    # ... and the gift function from the layer without its bytecode, beside it
    assert cold["without_layer_bytecode"]["GiftSendFunction"]["cpu_over_baseline"] > 0
    assert set(cold["validation"]) == {
        "resolver",
        "resolver-validation",
        "pydantic-model",
        "dataclass-checked",
    }
    # And the settlement's CPU is measured without the meter too, for the cost
    for shape in ("settlement_lone_gift", "settlement_busy_creator", "settlement_live_stream"):
        assert results["work_per_operation"][shape]["unmetered_cpu_ms"] > 0
    # And the cost is priced from the measured counts, every line item, with the prices beside it
    for cost in results["cost_per_million_gifts"].values():
        assert cost["dollars"]["total"] > cost["dollars"]["http_api"] > 0
        assert cost["settlement_cpu_measured"] == "without the meter"
        for item in ("dynamodb_stream_reads", "pipes", "eventbridge_events", "sqs", "logs", "xray"):
            assert item in cost["dollars"], item
        assert cost["dollars"]["logs"] > 0
        assert cost["prices_usd"]
    # And the page shows the goals table with the command that produced it
    assert "### Against the goals of issue 8" in markdown
    assert "python -m bench --cold-rounds=1" in markdown


def test_the_hot_creator_loses_no_gift_and_the_payout_batch_pays_every_withdrawal(
    small_run: tuple[dict[str, Any], str],
) -> None:
    # Given a small bench run
    results, _ = small_run
    # Then the hot creator's senders lost nothing and every balance matches the receipts
    hot = results["hot_creator"]
    assert hot["gifts_lost"] == 0
    assert hot["coins_mismatch"] == 0
    assert hot["diamonds_mismatch"] == 0
    assert hot["duplicate_receipts"] == 0
    assert hot["throughput_under_conflicts_over_without"] > 0
    # And its gifts settled by several stream shards at once, none lost or doubled, boards exact
    contended = hot["settlement_under_contention"]["measured"]
    assert contended["gifts"] == 4 * 2
    assert contended["gifts_lost_or_doubled"] == 0
    assert contended["stream_totals_off"] == 0
    assert contended["board_entries_off"] == 0
    assert hot["settlement_under_contention"]["model"]["modelled_ceiling_per_creator"] > 0
    # And the payout batch paid every due withdrawal at both sizes
    batch = results["payout_batch"]
    for size in ("20", "40"):
        assert batch["by_size"][size]["due"] == int(size)
        assert batch["by_size"][size]["failed"] == 0
    assert batch["large_over_small"]["milliseconds"]["total"] > 0


def test_make_bench_writes_docs_performance_between_its_markers() -> None:
    # Given the committed performance page
    page = (ROOT / "docs" / "performance.md").read_text()
    # Then it has the markers the bench writes between, with figures from a run in them
    begin, end = "<!-- bench:figures:begin -->", "<!-- bench:figures:end -->"
    figures = page.split(begin, 1)[1].split(end, 1)[0]
    assert "### Against the goals of issue 8" in figures
    assert "Produced by `" in figures


def test_the_books_audit_is_timed_at_two_sizes_clean_and_priced(
    small_run: tuple[dict[str, Any], str],
) -> None:
    # Given a small bench run
    results, markdown = small_run
    books = results["books"]
    # Then the audit ran at both sizes on a clean synthetic ledger, in a fresh process each
    assert [run["audit"]["findings"] for run in books["sizes"]] == [0, 0]
    assert books["sizes"][1]["items"] > books["sizes"][0]["items"] > 1000
    assert all(
        run["audit"]["peak_rss_mb"] > 0 and run["reading_only"]["seconds"] > 0 for run in books["sizes"]
    )
    # And the monthly cost of exports and audits is given at three traffics
    assert len(books["cost"]["months"]) == 3
    # And the hourly check read the same window alike at both sizes, and the month's bill prices it
    check = books["check"]
    assert check["sizes"][0]["reads"] == check["sizes"][1]["reads"]
    assert results["monthly_cost"]["ledger_checks_measured"] is True
    assert all(row["ledger_checks"] > 0 for row in results["monthly_cost"]["rows"])
    assert "| items in the table | audit, seconds |" in markdown
