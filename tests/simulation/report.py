"""What `make simulate` prints of a failing seed. Its own module: tests import it without the
environment `python -m tests.simulation` sets for the whole process (Powertools' metrics off, its
log level raised), which would silence later tests' metrics and logs in the same worker."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from tests.simulation.lifecycle import Backend, SeedResult, make_plan, run_seed, shorten


def report_failure(
    result: SeedResult, args: argparse.Namespace, backend: Backend, only: list[int] | None
) -> None:
    """What broke, where the failing run's log is, the shortest list of its steps found that still
    fails, and the command to replay it."""
    seed = result.seed
    print(f"seed {seed} FAILED: {result.error}", file=sys.stderr)
    log = Path(tempfile.gettempdir()) / f"coins-simulation-seed-{seed}.log"
    log.write_text("\n".join(result.log) + "\n", encoding="utf-8")
    print(f"  the failing run's steps, faults and answers: {log}", file=sys.stderr)
    kept = only
    if kept is None:
        again = run_seed(seed, steps=args.steps, backend=backend, check_every=args.check_every)
        if again.error is None:
            # Shortening needs a failure that replays; this one came from timing (threads within the
            # seed, or the seed run beside it), so the log above is what there is to read.
            print(
                "  replayed alone it passed: the failure depends on timing, not on the seed", file=sys.stderr
            )
            kept = [step.index for step in make_plan(seed, args.steps)]
        else:
            kept = shorten(seed, args.steps, backend, check_every=args.check_every)
            print(f"  still fails with steps {kept}", file=sys.stderr)
    print(
        f"  replay: make simulate SEED={seed} STEPS={args.steps} ENGINE={args.engine} "
        f"CHECK_EVERY={args.check_every} ONLY={','.join(map(str, kept))}",
        file=sys.stderr,
    )
