"""A ratio's spread over repeated blocks: each block measures subject and baseline together, and
the figure is the median of the blocks' ratios with their min, max and quartiles beside it, so one
lucky or unlucky block on a shared machine cannot make or break a goal."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

MIN_BLOCKS = 5  # a goal's figure is the median of at least this many blocks


def spread(ratios: Sequence[float]) -> dict[str, Any]:
    """The median of the blocks' ratios, their min and max, and their quartiles (IQR)."""
    if not ratios:
        raise ValueError("no block measured")
    ordered = sorted(ratios)
    if len(ordered) >= 2:
        q1, _, q3 = statistics.quantiles(ordered, n=4, method="inclusive")
    else:
        q1 = q3 = ordered[0]
    return {
        "median": round(statistics.median(ordered), 2),
        "min": round(ordered[0], 2),
        "max": round(ordered[-1], 2),
        "q1": round(q1, 2),
        "q3": round(q3, 2),
        "blocks": len(ordered),
        "ratios": [round(r, 3) for r in ratios],
    }


def text(figure: dict[str, Any] | None, single: float | None = None) -> str:
    """`0.71x (0.62-0.80 over 5 blocks)`; a block count under MIN_BLOCKS is said, and an older
    run's single figure (`single`) shown as one without a spread."""
    if not figure:
        return f"{single}x (one figure, no spread: an older run)" if single is not None else "not measured"
    few = "" if figure["blocks"] >= MIN_BLOCKS else f", fewer than {MIN_BLOCKS}"
    return f"{figure['median']}x ({figure['min']}-{figure['max']} over {figure['blocks']} blocks{few})"
