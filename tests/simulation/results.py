"""The long seeds' record: `make simulate LONG=1` writes what it ran to a results file, and the figure
in docs/testing.md is rendered from that file, never typed (tests/unit/test_simulation_results.py
fails when the page's block is not what the committed file renders).

Its own module, without the simulation's imports: the unit test and the runner both use it.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent.parent
LONG_RESULTS = ROOT / "docs" / "results" / "simulation-long-seeds.json"
TESTING_DOC = ROOT / "docs" / "testing.md"
MARKERS = ("<!-- simulation:long-seeds:begin -->", "<!-- simulation:long-seeds:end -->")
LONG_STEPS = 60  # a long seed: 60 steps, the invariants checked after every one


@dataclass
class LongRun:
    """What a run of seeds did, gathered as their results come back."""

    command: str
    engine: str
    steps: int
    check_every: int
    workers: int
    requested: list[int]
    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    seconds: dict[int, float] = field(default_factory=dict)  # seed -> its own wall time
    failures: dict[int, str] = field(default_factory=dict)  # seed -> what broke
    stopped: str | None = None  # why it ended before every seed ran

    def add(self, seed: int, seconds: float, error: str | None) -> None:
        self.seconds[seed] = round(seconds, 2)
        if error is not None:
            self.failures[seed] = error

    def as_json(self, elapsed: float) -> dict[str, Any]:
        ran = sorted(self.seconds)
        per_seed = [self.seconds[s] for s in ran]
        return {
            "command": self.command,
            "commit": _commit(),
            "run_at": self.started.isoformat(timespec="seconds"),
            "engine": self.engine,
            "steps": self.steps,
            "check_every": self.check_every,
            "workers": self.workers,
            "seeds": {
                "requested": len(self.requested),
                "first": self.requested[0] if self.requested else None,
                "ran": len(ran),
                "clean": len(ran) - len(self.failures),
                "failed": sorted(self.failures),
            },
            "stopped": self.stopped,
            "failures": [{"seed": s, "error": self.failures[s]} for s in sorted(self.failures)],
            "durations": {
                "wall_seconds": round(elapsed, 1),
                "wall_seconds_per_seed": round(elapsed / len(ran), 2) if ran else None,
                "seed_seconds_median": round(statistics.median(per_seed), 2) if per_seed else None,
                "seed_seconds_max": max(per_seed) if per_seed else None,
                "by_seed": {str(s): self.seconds[s] for s in ran},
            },
            "load_average": _load_average(),
            "cpus": os.cpu_count(),
        }


def write(results: dict[str, Any], path: Path = LONG_RESULTS) -> None:
    """The results file, and docs/testing.md's block rendered from it (the committed pair)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    if path == LONG_RESULTS:
        page = TESTING_DOC.read_text(encoding="utf-8")
        TESTING_DOC.write_text(replace_between(page, render(results)), encoding="utf-8")


def render(results: dict[str, Any]) -> str:
    seeds, durations = results["seeds"], results["durations"]
    first = seeds["first"]
    last = first + seeds["ran"] - 1 if seeds["ran"] else first
    load = ", ".join(f"{x:.1f}" for x in results["load_average"]) if results["load_average"] else "unknown"
    failed = ", ".join(str(s) for s in seeds["failed"]) or "none"
    lines = [
        f"Rendered from `docs/results/simulation-long-seeds.json`, written by `{results['command']}` "
        f"on {results['run_at']} at commit `{results['commit']}`:",
        "",
        "| long seeds | steps a seed | clean | failed | wall time | a seed |",
        "| --- | --- | --- | --- | --- | --- |",
        f"| {seeds['ran']:,} of {seeds['requested']:,} (seeds {first} to {last}) | {results['steps']}, "
        f"checked after {_every(results['check_every'])} | {seeds['clean']:,} | {failed} | "
        f"{durations['wall_seconds']:,} s, {results['workers']} at a time | "
        f"{durations['wall_seconds_per_seed']} s of the run's wall time (one seed's own: median "
        f"{durations['seed_seconds_median']} s, longest {durations['seed_seconds_max']} s) |",
        "",
        f"Engine {results['engine']}, {results['cpus']} CPUs, load average at the end {load}.",
    ]
    if results.get("stopped"):
        lines.append(f"Stopped before every seed ran: {results['stopped']}.")
    for failure in results["failures"]:
        lines.append(f"- seed {failure['seed']}: {failure['error'].splitlines()[0]}")
    return "\n".join(lines)


def _every(steps: int) -> str:
    return "every step" if steps == 1 else f"every {steps} steps"


def between(text: str) -> str:
    begin, end = MARKERS
    return text.split(begin, 1)[1].split(end, 1)[0].strip("\n")


def replace_between(text: str, figures: str) -> str:
    begin, end = MARKERS
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{begin}\n{figures}\n{end}{tail}"


def _commit() -> str:
    """The commit the run's code is, `+dirty` when the worktree had changes (then not exactly it)."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{head}+dirty" if dirty else head


def _load_average() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []
