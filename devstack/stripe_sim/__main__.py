"""`python -m devstack.stripe_sim`: the simulator alone, e.g. to point a local API at it."""

import argparse
import logging
import signal
import threading
from pathlib import Path
from types import FrameType

from devstack.stripe_sim.server import StripeSimulator


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.stripe_sim", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=12111, help="0 picks a free port")
    parser.add_argument("--webhook-url", default=None, help="where events are POSTed; none: only stored")
    parser.add_argument("--webhook-secret", default="whsec_local")
    parser.add_argument("--fixtures", type=Path, default=None, help="Stripe's fixtures3.json")
    parser.add_argument("--retry-delay", type=float, default=0.2, help="first webhook retry, in seconds")
    parser.add_argument("--max-attempts", type=int, default=8, help="webhook attempts per event")
    parser.add_argument("--public-url", default=None, help="address used in hosted page URLs")
    parser.add_argument(
        "--livemode", action="store_true", help="live mode: sk_live_/rk_live_ keys, livemode: true"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")

    stopping = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, stop)
    simulator = StripeSimulator(
        args.host,
        args.port,
        args.webhook_url,
        args.webhook_secret,
        args.fixtures,
        retry_delay=args.retry_delay,
        max_attempts=args.max_attempts,
        public_url=args.public_url,
        livemode=args.livemode,
    )
    with simulator:
        print(
            f"Stripe simulator on {simulator.base_url}  ({'live' if args.livemode else 'test'} mode; "
            f"controls: {simulator.base_url}/_sim/...)",
            flush=True,
        )
        stopping.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
