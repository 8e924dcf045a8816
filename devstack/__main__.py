"""The local stack's commands: `python -m devstack dev | token | create-table`.

`dev` runs what `make dev` promises: DynamoDB Local with the table from template.yaml, the Stripe
simulator, and the local gateway serving every HTTP route of the template on 127.0.0.1:3000.
"""

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

from werkzeug.serving import make_server

from devstack.dynamodb_local import DynamoDBLocal, create_table, local_client
from devstack.gateway import Gateway
from devstack.local_env import LOCAL_WEBHOOK_SECRET, function_environment
from devstack.outbox import GiftOutbox
from devstack.settlement import GiftSettlementTail
from devstack.stripe_sim.server import StripeSimulator
from devstack.template import ROOT
from devstack.tokens import DEFAULT_KEY_DIR, LOCAL_AUDIENCE, LOCAL_ISSUER, mint_token
from devstack.webapp import WebApp


@contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    stopping = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stopping
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run_dev(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the gateway logs each request itself
    api_url = f"http://127.0.0.1:{args.api_port}"
    real_stripe = args.stripe == "real"
    missing = [
        name
        for name in ("STRIPE_API_KEY", "STRIPE_WEBHOOK_SECRETS")
        if real_stripe and not os.environ.get(name)
    ]
    if missing:
        print(
            f"STRIPE=real needs {' and '.join(missing)} in the environment (test-mode keys)", file=sys.stderr
        )
        return 2
    with ExitStack() as stack, stop_on_signals() as stopping:
        data_dir = None if args.in_memory else Path(args.data_dir)
        dynamodb = stack.enter_context(DynamoDBLocal(args.dynamodb_port, data_dir=data_dir))
        create_table(local_client(dynamodb.endpoint_url), args.table)
        outbox = GiftOutbox(dynamodb.endpoint_url, args.table).start()
        stack.callback(outbox.stop)
        stripe_url: str | None = None
        if not real_stripe:
            simulator = StripeSimulator(
                port=args.stripe_port,
                webhook_url=f"{api_url}/v1/webhooks/stripe",
                webhook_secret=LOCAL_WEBHOOK_SECRET,
            )
            stack.enter_context(simulator)
            stripe_url = simulator.base_url
        env = function_environment(
            table=args.table, dynamodb_url=dynamodb.endpoint_url, api_url=api_url, stripe_url=stripe_url
        )
        os.environ.update(env)
        # The creator's side of each gift, settled from the stream as GiftSettlementFunction does.
        from coins.wiring import services  # after the environment is set: it is read once

        settlement = GiftSettlementTail(
            dynamodb.endpoint_url, args.table, lambda: services().settlement
        ).start()
        stack.callback(settlement.stop)
        gateway = Gateway(key_dir=Path(args.jwt_dir), live=outbox.live)
        server = make_server(
            "127.0.0.1", args.api_port, WebApp(gateway, key_dir=Path(args.jwt_dir)), threaded=True
        )
        stack.callback(server.server_close)
        serving = threading.Thread(target=server.serve_forever, name="gateway", daemon=True)
        serving.start()
        print(
            "\n".join(
                [
                    "",
                    f"  API            {api_url}  (routes from template.yaml, e.g. {api_url}/v1/wallet)",
                    f"  App            {api_url}/app/  (fan, creator and admin; sign in as anyone)",
                    f"  OpenAPI        {api_url}/v1/openapi.json",
                    f"  Live gifts     {api_url}/_local/live/<stream_id>  (the gift outbox, as the pipe publishes it)",
                    "  Settlement     gifts credited to creators from the table's stream (GiftSettlementFunction)",
                    f"  DynamoDB Local {dynamodb.endpoint_url}  table {args.table}"
                    + ("  (in memory)" if data_dir is None else f"  (data in {data_dir})"),
                    f"  Stripe         {stripe_url or 'api.stripe.com (your test-mode keys)'}"
                    + ("  simulator: /_sim/... routes, hosted checkout pages" if stripe_url else ""),
                    f"  Tokens         make token USER=alice  (issuer {LOCAL_ISSUER}, audience {LOCAL_AUDIENCE})",
                    "  Stop           Ctrl-C",
                    "",
                    f"ready: {api_url}",
                ]
            ),
            flush=True,
        )
        stopping.wait()
        print("stopping...", flush=True)
        server.shutdown()
    print("stopped", flush=True)
    return 0


def run_token(args: argparse.Namespace) -> int:
    groups = [g for g in (args.groups or "").split(",") if g]
    print(
        mint_token(
            args.user,
            country=args.country,
            birthdate=args.birthdate,
            groups=groups,
            expires_in=args.expires_in,
            key_dir=Path(args.jwt_dir),
        )
    )
    return 0


def run_create_table(args: argparse.Namespace) -> int:
    create_table(local_client(args.endpoint), args.table)
    print(f"table {args.table} ready at {args.endpoint}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    dev = commands.add_parser("dev", help="run the local stack")
    dev.add_argument("--api-port", type=int, default=3000)
    dev.add_argument("--dynamodb-port", type=int, default=8000, help="0 picks a free port")
    dev.add_argument("--stripe-port", type=int, default=12111, help="0 picks a free port")
    dev.add_argument("--stripe", choices=["simulator", "real"], default="simulator")
    dev.add_argument("--in-memory", action="store_true", help="keep no data between runs")
    dev.add_argument("--data-dir", default=str(ROOT / ".local" / "dynamodb"))
    dev.add_argument("--table", default="coins-local")
    dev.add_argument("--jwt-dir", default=str(DEFAULT_KEY_DIR))
    dev.set_defaults(run=run_dev)

    token = commands.add_parser("token", help="print a token the local stack accepts")
    token.add_argument("--user", required=True)
    token.add_argument("--country")
    token.add_argument("--birthdate")
    token.add_argument("--groups", help="comma-separated, e.g. admins")
    token.add_argument("--expires-in", type=int, default=3600)
    token.add_argument("--jwt-dir", default=str(DEFAULT_KEY_DIR))
    token.set_defaults(run=run_token)

    table = commands.add_parser("create-table", help="create the table from template.yaml")
    table.add_argument("--endpoint", required=True)
    table.add_argument("--table", required=True)
    table.set_defaults(run=run_create_table)

    args: Any = parser.parse_args(argv)
    code: int = args.run(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
