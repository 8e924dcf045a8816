"""`make simulate SEEDS=N` runs seeds 0..N-1; `make simulate SEED=s` replays one (`ONLY=1,4,9` its steps).

A failing seed prints what broke, a shortened list of steps that still fails, and the command to
replay it. Exits non-zero when any seed failed.

`make simulate SEEDS=1000 LONG=1` runs long seeds (60 steps, checked after every one) and records
them: docs/results/simulation-long-seeds.json (seeds, steps, failures, durations, commit) and the
figure docs/testing.md renders from it. `MINUTES=15` stops starting seeds after that long.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_ENVIRONMENT = {
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "simulation",
    "AWS_SECRET_ACCESS_KEY": "simulation",
    "POWERTOOLS_TRACE_DISABLED": "true",
    # Faults make the functions log errors by design; the run reports what matters itself.
    "POWERTOOLS_LOG_LEVEL": "CRITICAL",
    "POWERTOOLS_METRICS_DISABLED": "true",
    "POWERTOOLS_SERVICE_NAME": "coins",
    "POWERTOOLS_METRICS_NAMESPACE": "Coins",
    "TABLE_NAME": "simulation",
}
# Before the functions' modules are imported: Powertools reads its settings then.
for _key, _value in _ENVIRONMENT.items():
    os.environ.setdefault(_key, _value)

from tests.simulation import results as long_results  # noqa: E402
from tests.simulation.lifecycle import Backend, run_seeds  # noqa: E402
from tests.simulation.report import report_failure  # noqa: E402


@contextmanager
def _backend(engine: str) -> Iterator[Backend]:
    if engine == "moto":
        from moto import mock_aws

        with mock_aws():
            yield Backend()
        return
    from devstack.dynamodb_local import SHORT_RUN_JVM, DynamoDBLocal

    with DynamoDBLocal(jvm_options=SHORT_RUN_JVM) as local:
        yield Backend(local.endpoint_url)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make simulate", description=__doc__)
    parser.add_argument("--seeds", type=int, default=100, help="run seeds FIRST..FIRST+SEEDS-1")
    parser.add_argument("--first", type=int, default=0)
    parser.add_argument("--seed", type=int, help="replay this one seed")
    parser.add_argument("--only", help="comma-separated step numbers of the seed's plan to run")
    parser.add_argument("--steps", type=int, default=60, help="steps per seed")
    parser.add_argument("--engine", choices=("dynamodb-local", "moto"), default="dynamodb-local")
    parser.add_argument(
        "--workers", type=int, default=2, help="seeds run at a time (DynamoDB Local), each on its own table"
    )
    parser.add_argument(
        "--check-every", type=int, default=1, help="check the invariants after every N steps (and at the end)"
    )
    parser.add_argument(
        "--long",
        action="store_true",
        help=f"long seeds ({long_results.LONG_STEPS} steps, checked after every step), recorded in --results",
    )
    parser.add_argument(
        "--results",
        type=Path,
        help="write the run's record here (JSON); --long writes docs/results/simulation-long-seeds.json "
        "and the figure docs/testing.md renders from it",
    )
    parser.add_argument("--minutes", type=float, help="start no seed after this many minutes")
    args = parser.parse_args(argv)
    if args.long:
        args.steps, args.check_every = long_results.LONG_STEPS, 1
        args.results = args.results or long_results.LONG_RESULTS
    seeds = [args.seed] if args.seed is not None else list(range(args.first, args.first + args.seeds))
    only = [int(n) for n in args.only.split(",")] if args.only else None
    failed = 0
    ran = 0
    record = long_results.LongRun(
        command=_command(args, len(seeds)),
        engine=args.engine,
        steps=args.steps,
        check_every=args.check_every,
        workers=args.workers,
        requested=seeds,
    )
    with _backend(args.engine) as backend:
        started = time.monotonic()  # the seeds' time, not DynamoDB Local's start
        results = run_seeds(
            seeds,
            steps=args.steps,
            backend=backend,
            check_every=args.check_every,
            only=only,
            workers=args.workers,
        )
        try:
            for result in results:
                ran += 1
                record.add(result.seed, result.seconds, result.error)
                if result.error is not None:
                    failed += 1
                    report_failure(result, args, backend, only)
                if args.minutes is not None and time.monotonic() - started > args.minutes * 60:
                    record.stopped = f"the time budget of {args.minutes:g} minutes ran out"
                    results.close()  # the seeds in flight finish; no new one starts
                    break
        except KeyboardInterrupt:  # Ctrl-C (or `timeout -s INT`): report the seeds that finished
            results.close()
            record.stopped = "interrupted"
            print(f"interrupted after {ran} of {len(seeds)} seeds", file=sys.stderr)
    elapsed = time.monotonic() - started
    if args.results is not None:
        long_results.write(record.as_json(elapsed), args.results)
        print(f"recorded in {args.results}")
    print(
        f"{ran - failed} of {ran} seeds clean ({args.steps} steps each, {args.engine}, "
        f"{args.workers} at a time) in {elapsed:.1f} s, {elapsed / max(1, ran):.2f} s a seed"
    )
    return 1 if failed or (ran < len(seeds) and record.stopped is None) or ran == 0 else 0


def _command(args: argparse.Namespace, seeds: int) -> str:
    """The make command that repeats this run (what the record says it came from)."""
    if args.long:
        words = [f"make simulate SEEDS={seeds}", "LONG=1"]
    else:
        words = [f"make simulate SEEDS={seeds}", f"STEPS={args.steps}", f"CHECK_EVERY={args.check_every}"]
    if args.first:
        words.append(f"FIRST={args.first}")
    if args.workers != 2:
        words.append(f"WORKERS={args.workers}")
    if args.minutes is not None:
        words.append(f"MINUTES={args.minutes:g}")
    return " ".join(words)


if __name__ == "__main__":
    sys.exit(main())
