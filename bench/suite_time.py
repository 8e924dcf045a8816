"""What `make test` takes on a clean clone: `.ci/run` timed, its figures written and put in the README.

`python -m bench.suite_time` runs `.ci/run` (a fresh clone, `make test` installing everything itself),
keeps its output, and writes bench/results/make_test.json: the wall time in all (installs included),
what `make test` printed for itself after the installs, pytest's own duration and counts, the
machine's cores and its load average before and after (the machine may be shared: the load says how
much). The README's figure block is rendered from that file, so it is never typed by hand;
`--from-log FILE --seconds N` records a run already made (its log and the wall time it took).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.cost_docs import replace_between

ROOT = Path(__file__).resolve().parent.parent
RESULT = ROOT / "bench" / "results" / "make_test.json"
README = ROOT / "README.md"
MARKERS = ("<!-- make-test:begin -->", "<!-- make-test:end -->")
GOAL_MINUTES = 12  # issue 20: on 2 idle cores, set-up included

_MAKE_TEST = re.compile(
    r"make test: (?P<seconds>\d+) s after the installs, exit (?P<exit>\d+) \(load average (?P<load>[\d. ]+)\)"
)
_PYTEST = re.compile(r"=+ (?P<counts>[^=]*?) in (?P<seconds>[\d.]+)s(?: \([\d:]+\))? =+")
_COUNT = re.compile(r"(\d+) (passed|failed|skipped|errors?|xfailed|xpassed|deselected)")


def parse_log(log: str) -> dict[str, Any]:
    """What `make test` and pytest printed about themselves (the last of each: the final summary)."""
    made = list(_MAKE_TEST.finditer(log))
    summaries = [m for m in _PYTEST.finditer(log) if _COUNT.search(m.group("counts"))]
    if not made or not summaries:
        raise ValueError("the log has no `make test: N s` line or no pytest summary: did the run finish?")
    last, summary = made[-1], summaries[-1]
    counts = {
        kind.rstrip("s") if kind.startswith("error") else kind: int(n)
        for n, kind in _COUNT.findall(summary.group("counts"))
    }
    return {
        "after_installs_seconds": int(last.group("seconds")),
        "exit": int(last.group("exit")),
        "load_average_at_end": [float(x) for x in last.group("load").split()],
        "pytest_seconds": float(summary.group("seconds")),
        "tests": counts,
    }


def record(
    log: str,
    *,
    wall_seconds: float,
    load_before: list[float] | None,
    commit: str,
    cpu_busy: float | None = None,
) -> dict[str, Any]:
    return {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": commit,
        "cores": os.cpu_count(),
        "wall_seconds": round(wall_seconds),
        "load_average_before": load_before,
        # The share of the machine's cores busy over the run (any process): well under 1 on idle
        # cores means the tests wait rather than compute, and more workers could use the rest.
        "cpu_busy_share": cpu_busy,
        **parse_log(log),
    }


def readme_block(result: dict[str, Any]) -> str:
    minutes = result["wall_seconds"] / 60
    tests = result["tests"]
    met = "within" if minutes <= GOAL_MINUTES and result["exit"] == 0 else "over"
    counted = ", ".join(f"{n:,} {kind}" for kind, n in tests.items())
    return (
        f"Last measured with `python -m bench.suite_time` (`.ci/run`, a clean clone) at commit "
        f"`{result['commit'][:7]}` on {result['measured_at'][:10]}, {result['cores']} cores: "
        f"**{minutes:.1f} minutes in all**, installs included ({met} the {GOAL_MINUTES}-minute goal on 2 idle "
        f"cores); `make test` itself {result['after_installs_seconds'] / 60:.1f} minutes after the installs, "
        f"of which pytest {result['pytest_seconds'] / 60:.1f} ({counted}; exit {result['exit']}). "
        f"Load average {_load(result['load_average_before'])} before and {_load(result['load_average_at_end'])} "
        f"at the end (above 2 the cores were shared with other work){_busy(result.get('cpu_busy_share'))}. "
        f"Figures from "
        f"bench/results/make_test.json."
    )


def _busy(share: float | None) -> str:
    return f"; the cores were {share:.0%} busy over the run" if share is not None else ""


def _load(values: list[float] | None) -> str:
    return "/".join(f"{v:.2f}" for v in values) if values else "unknown"


def update_readme(result: dict[str, Any], readme: Path = README) -> None:
    text = readme.read_text()
    if all(m in text for m in MARKERS):
        readme.write_text(replace_between(text, MARKERS, readme_block(result)))


def _commit() -> str:
    return subprocess.run(
        ["git", "rev-parse", "HEAD"],  # noqa: S607 (git from PATH, as make does)
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def cpu_times() -> tuple[int, int]:
    """(busy, total) clock ticks of every core since boot, from /proc/stat's first line."""
    ticks = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = ticks[3] + ticks[4]  # idle and iowait
    return sum(ticks) - idle, sum(ticks)


def busy_share(before: tuple[int, int], after: tuple[int, int]) -> float:
    busy, total = after[0] - before[0], after[1] - before[1]
    return round(busy / total, 3) if total else 0.0


def _load_now() -> list[float]:
    return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from-log", type=Path, help="record a run already made, from its log")
    parser.add_argument("--seconds", type=float, help="with --from-log: the wall time the run took")
    parser.add_argument(
        "--load-before", type=float, nargs=3, help="with --from-log: the load average before, if known"
    )
    parser.add_argument("--commit", help="with --from-log: the commit the run tested (default HEAD)")
    args = parser.parse_args(argv)
    if args.from_log:
        if args.seconds is None:
            parser.error("--from-log needs --seconds")
        log, wall = args.from_log.read_text(), args.seconds
        before = list(args.load_before) if args.load_before else None
        cpu_busy = None
    else:
        tested = _commit()  # .ci/run clones HEAD as it starts: what it tests, whatever lands meanwhile
        before, started, lines, ticks = _load_now(), time.monotonic(), [], cpu_times()
        with subprocess.Popen(  # noqa: S603 (the project's own CI script)
            [str(ROOT / ".ci" / "run")], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        ) as run:
            assert run.stdout is not None
            for line in run.stdout:
                sys.stdout.write(line)
                lines.append(line)
        wall, log = time.monotonic() - started, "".join(lines)
        args.commit = args.commit or tested
        cpu_busy = busy_share(ticks, cpu_times())
    result = record(
        log,
        wall_seconds=wall,
        load_before=before,
        commit=args.commit or _commit(),
        cpu_busy=cpu_busy,
    )
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    RESULT.write_text(json.dumps(result, indent=2) + "\n")
    update_readme(result)
    print(readme_block(result))
    return int(result["exit"])


if __name__ == "__main__":
    raise SystemExit(main())
