"""Every cost and write-unit figure in docs/deploy.md and docs/data-model.md is the committed results'.

bench/results/latest.json is what `make bench` measured (and `python -m bench.report --reprice`
priced); bench/cost_docs.py renders the pages' figure blocks from it. A figure typed by hand, a
stale block, or results priced with a template that has changed since (memory, alarms, secrets,
schedules) fails here; `python -m bench.report --reprice` rewrites both.
"""

import copy
import json
import re
from typing import Any

import pytest

from bench import cost_docs
from bench.cost import price
from bench.fixed_costs import fixed_counts
from devstack.template import ROOT, function_specs

RESULTS: dict[str, Any] = json.loads((ROOT / "bench/results/latest.json").read_text())


@pytest.mark.parametrize(
    ("page", "markers", "rendered"),
    [(p, m, r) for p, m, r in cost_docs.sections(RESULTS)],
    ids=[p.name for p, _, _ in cost_docs.sections(RESULTS)],
)
def test_each_figure_block_is_what_the_results_render(
    page: Any, markers: tuple[str, str], rendered: str
) -> None:
    assert cost_docs.between(page.read_text(), markers) == rendered


def test_the_cost_estimate_has_every_line_item() -> None:
    (deploy, _, text) = cost_docs.sections(RESULTS)[0]
    assert deploy.name == "deploy.md"
    for item in ("Pipes", "Logs", "X-Ray", "Cognito", "ledger checker", "alarms", "secrets", "storage"):
        assert item in text, item
    assert {k for k, _ in cost_docs.COLUMNS} <= set(RESULTS["monthly_cost"]["rows"][0])


def test_the_results_are_priced_with_the_template_as_it_is() -> None:
    # The memory the cost was priced with is the template's (GiftSettlementFunction's was once 512 MB)
    specs = function_specs()
    for shape in RESULTS["cost_per_million_gifts"].values():
        assert shape["memory_mb"] == {
            "gift": specs["GiftSendFunction"].memory_mb,
            "settlement": specs["GiftSettlementFunction"].memory_mb,
        }
    counts = fixed_counts()
    assert RESULTS["monthly_cost"]["counts"] == {
        "alarms": counts.alarms,
        "alarm_metrics": counts.alarm_metrics,
        "custom_metrics": counts.custom_metrics,
        "routes": counts.routes,
        "dashboards": counts.dashboards,
        "secrets": counts.secrets,
        "ledger_checks_per_month": counts.ledger_checks_per_month,
    }, "the template changed since the results were priced: python -m bench.report --reprice"
    # ... and pricing the measurements again changes nothing
    repriced = copy.deepcopy(RESULTS)
    price(repriced)
    assert repriced["monthly_cost"] == RESULTS["monthly_cost"]
    assert repriced["cost_per_million_gifts"] == RESULTS["cost_per_million_gifts"]


def test_no_write_unit_figure_is_typed_outside_the_generated_blocks() -> None:
    whole = RESULTS["whole_gift"]["gift"]
    figures = {
        str(whole[shape]["total_write_units"]) for shape in ("live_stream", "busy_creator", "lone_gift")
    }
    for page in (cost_docs.DEPLOY_DOC, cost_docs.DATA_MODEL_DOC):
        text = page.read_text()
        for _, markers, _ in [s for s in cost_docs.sections(RESULTS) if s[0] == page]:
            begin, end = markers
            text = text.split(begin, 1)[0] + text.split(end, 1)[1]
        # a figure as a count (not a size, a time or a ratio that happens to have the same digits)
        typed = [
            f
            for f in figures
            if re.search(rf"(?<![\d.]){re.escape(f)}(?![\d.]|\s*(?:[KMG]B|ms|s\b|%|x\b))", text)
        ]
        assert typed == [], page.name
