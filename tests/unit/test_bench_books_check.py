"""The hourly check's bench figures: the monthly cost from given counts, and their place in performance.md.

bench/books_check.py prices a month of hourly checks from one measured run; bench/report.py renders
them into docs/performance.md's books block from a results dict. Both are checked here on counts
given by hand, so a wrong formula or a figure that does not reach the page fails.
"""

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from bench import books_check, cost_docs, report
from devstack.template import ROOT

# One measured run: 1,000 traffic gifts read with 1,000 read units, 40 calls one after another,
# 1 s of the check's own CPU (1 ms a gift; 1.4 s with the table file's answers) and 3 MB above an
# 80 MB baseline.
RUN: dict[str, Any] = {
    "items": 1_000_000,
    "traffic_gifts": 1000,
    "baseline": {"seconds": 0.5, "cpu_seconds": 0.1, "peak_rss_mb": 80.0, "items_read": 1, "findings": 0},
    "check": {
        "seconds": 2.0,
        "cpu_seconds": 1.4,
        "table_file_seconds": 0.5,
        "client_cpu_seconds": 1.0,
        "peak_rss_mb": 83.0,
        "items_read": 2000,
        "findings": 0,
    },
    "reads": {
        "calls": {"Query": 30, "BatchGetItem": 10},
        "sequential_calls": 40,
        "read_units": "1000",
        "read_units_by_operation": {"Query": "50", "BatchGetItem": "950"},
        "items_read": 2000,
    },
    "check_memory_over_baseline_mb": 3.0,
}


def test_a_month_of_checks_follows_the_gifts_each_run_reads() -> None:
    # Given the function's window (3 h + 15 min lag + 2 h settle_within: 18,900 s read a run)
    assert books_check.read_span_seconds(books_check.check_window()) == 18_900
    # When a month of hourly checks is priced at 2,048 MB and 900 s
    cost = books_check.check_cost(RUN, memory_mb=2048, timeout_seconds=900)
    # Then at 1M gifts a month (30 days) a run reads 1e6 / 2,592,000 * 18,900 = 7,291.67 gifts: as many
    # read units, 7,291.67 ms of CPU (a full vCPU at 2,048 MB) + 0.04 calls a gift * 5 ms = 8.75 s,
    # (8,749.99... in Decimal), and 3 KB a gift: 21.9 MB above the baseline
    row = cost["months"]["1,000,000 gifts a month"]
    assert row["gifts_read_per_run"] == 7291
    assert row["read_units_per_run"] == 7291.7
    assert row["billed_seconds_per_run"] == 8.7
    assert row["memory_mb_above_baseline_per_run"] == 21.9
    assert row["fits_the_function"] is True
    # 720 runs: 5,250,000 read units at $0.125 a million; 720 * 2 GB * 8.75 s * $0.0000133334 + 720 requests
    assert row["dynamodb_reads"] == "0.66"
    assert row["lambda"] == "0.17"
    assert row["total"] == "0.82"
    # And at 1B gifts a month a run would take 8,750 s and 21.9 GB: beyond one run of the function
    big = cost["months"]["1,000,000,000 gifts a month"]
    assert big["billed_seconds_per_run"] == 8750.0
    assert big["fits_the_function"] is False
    assert big["dynamodb_reads"] == "656.25"


def test_a_quiet_month_still_pays_each_change_index_query() -> None:
    # Given a run whose reads were nearly free
    quiet = copy.deepcopy(RUN) | {"reads": RUN["reads"] | {"read_units": "1"}}
    # When priced
    row = books_check.check_cost(quiet, memory_mb=2048, timeout_seconds=900)["months"][
        "1,000,000 gifts a month"
    ]
    # Then a run pays half a unit for each of 16 shards' Query in each of the 7 hours 18,900 s can touch
    assert row["read_units_per_run"] == 56.0


def _check_results() -> dict[str, Any]:
    small = copy.deepcopy(RUN) | {"items": 100_000}
    return {
        "window": books_check.check_window() | {"read_span_seconds": 18_900},
        "traffic_items": 10_000,
        "sizes": [small, RUN],
        "items_ratio_large_over_small": 10.0,
        "seconds_ratio_large_over_small": 1.03,
        "client_cpu_ratio_large_over_small": 1.01,
        "memory_ratio_large_over_small": 1.0,
        "cost": books_check.check_cost(RUN, memory_mb=2048, timeout_seconds=900),
        "run_at": "2026-12-07T23:00:00+00:00",
    }


def test_the_check_figures_are_rendered_into_the_books_block(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the committed results with the check's figures added, and a copy of performance.md
    results = json.loads((ROOT / "bench/results/latest.json").read_text())
    results["books"]["check"] = _check_results()
    page = tmp_path / "performance.md"
    page.write_text((ROOT / "docs/performance.md").read_text())
    monkeypatch.setattr(report, "PERFORMANCE_DOC", page)
    monkeypatch.setattr(cost_docs, "sections", lambda _: [])
    # When the results are written
    report.write(results, output=tmp_path / "results")
    # Then the page's books block holds the check at both sizes, its ratios and its monthly cost
    block = cost_docs.between(page.read_text(), (report.BOOKS_BEGIN, report.BOOKS_END))
    assert (
        "| 100,000 | 2.0 (0.5) | 1.0 | 83.0 MB | 0.5 s, 80.0 MB | 2,000 | BatchGetItem 10, Query 30 (40) | 1000 |"
        in block
    )
    assert "| 1,000,000 | 2.0 (0.5) |" in block
    assert (
        "10.0x the items took 1.03x the time (1.01x the check's CPU, without the table file's) and 1.0x the peak memory"
        in block
    )
    audits = results["books"]["cost"]["months"]["1,000,000 gifts a month"]["total"]
    assert (
        f"| 1,000,000 | 7,291 | 7,291.7 | 8.7 s | 102 MB | $0.66 | $0.17 | **$0.82** | "
        f"${float(audits) + 0.82:.2f} |" in block
    )
    assert "8750.0 s (**beyond one run of 2,048 MB and 900 s**)" in block
    # And nothing of it is written without the check's figures
    del results["books"]["check"]
    assert "The hourly check" not in report.books_markdown(results["books"])
