"""The local stack's commands: `python -m devstack dev | token | create-table`.

`dev` runs what `make dev` promises: DynamoDB Local with the table from template.yaml, the Stripe
simulator, the local AWS endpoint (Secrets Manager and SQS), and the local gateway serving every HTTP
route of the template on 127.0.0.1:3000, each function in its own processes (devstack.runtime).
"""

import argparse
import logging
import os
import shutil
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from pathlib import Path
from types import FrameType
from typing import Any

from werkzeug.serving import make_server

from devstack.cfn import LocalStackValues
from devstack.deployment import guard_from_setup, local_functions
from devstack.dynamodb_local import DynamoDBLocal, create_table, local_client
from devstack.event_sources import StreamPoller, runtime_invoke, stream_sources
from devstack.gateway import SWAGGER_PATH, Gateway
from devstack.local_aws import LocalAws
from devstack.local_env import (
    DEFAULT_AWS_URL,
    LOCAL_SECRETS,
    LOCAL_WEBHOOK_SECRET,
    LocalServices,
    live_stripe_secrets,
    real_stripe_secrets,
    stack_values,
)
from devstack.outbox import GiftOutbox
from devstack.pipes import stream_pipes
from devstack.runtime import LocalFunction, LocalRuntime
from devstack.stripe_sim.server import StripeSimulator
from devstack.template import MAX_STREAM_READERS, ROOT, http_routes, stream_readers
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


def local_secrets(
    values: LocalStackValues, env: Mapping[str, str] | None, *, livemode: bool = False
) -> dict[str, dict[str, Any]]:
    """Secret name -> value for every secret parameter of the template (real Stripe keys from env;
    live-mode keys for the simulator in live mode)."""
    if env is not None:
        contents = real_stripe_secrets(env)
    else:
        contents = live_stripe_secrets() if livemode else LOCAL_SECRETS
    params = values.template.get("Parameters", {})
    return {values.parameter(name): dict(value) for name, value in contents.items() if name in params}


def check_stream_readers(template: Mapping[str, Any]) -> None:
    """Refuses a template whose table stream has more readers than DynamoDB serves without throttling."""
    for table, readers in stream_readers(dict(template)).items():
        if len(readers) > MAX_STREAM_READERS:
            raise SystemExit(
                f"{table}'s stream has {len(readers)} readers ({', '.join(readers)}): DynamoDB throttles "
                f"past {MAX_STREAM_READERS} per shard. docs/data-model.md, 'Reading the table's stream', "
                "says how to add a consumer."
            )


def live_gifts(outboxes: list[GiftOutbox]) -> Callable[[str], list[dict[str, Any]]]:
    def live(stream_id: str) -> list[dict[str, Any]]:
        return [gift for outbox in outboxes for gift in outbox.live(stream_id)]

    return live


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
    record = Path(args.permission_log).resolve() if args.permission_log else None
    if args.reset:
        forget_local_data(Path(args.data_dir), Path(args.stripe_data_dir))
    with ExitStack() as stack, stop_on_signals() as stopping:
        data_dir = None if args.in_memory else Path(args.data_dir)
        # The simulator keeps its objects beside the table's, as a Stripe account keeps its own.
        stripe_dir = None if args.in_memory else Path(args.stripe_data_dir)
        dynamodb = stack.enter_context(DynamoDBLocal(args.dynamodb_port, data_dir=data_dir))
        create_table(local_client(dynamodb.endpoint_url), args.table)
        aws = stack.enter_context(LocalAws(args.aws_port))
        stripe_url: str | None = None
        if not real_stripe:
            simulator = StripeSimulator(
                port=args.stripe_port,
                webhook_url=f"{api_url}/v1/webhooks/stripe",
                webhook_secret=LOCAL_WEBHOOK_SECRET,
                livemode=args.stripe_livemode,
                data_dir=stripe_dir,
            )
            stack.enter_context(simulator)
            stripe_url = simulator.base_url
        services = LocalServices(
            table=args.table,
            dynamodb_url=dynamodb.endpoint_url,
            api_url=api_url,
            stripe_url=stripe_url,
            aws_url=aws.endpoint_url,
            stripe_livemode=args.stripe_livemode,
        )
        values = stack_values(services)
        secrets = local_secrets(values, os.environ if real_stripe else None, livemode=args.stripe_livemode)
        services = replace(services, secret_arns=aws.create_secrets(secrets))
        queues = aws.create_queues(values)
        check_stream_readers(values.template)
        # The gift outbox: the template's pipe, its filter and input template, on DynamoDB Local's stream.
        outboxes = [
            GiftOutbox(
                pipe, dynamodb_url=services.dynamodb_url, aws_url=services.aws_url, region=services.region
            )
            for pipe in stream_pipes(values)
        ]
        functions = local_functions(
            services,
            secrets=secrets,
            permissions=args.permissions != "off",
            enforce=args.permissions == "enforce",
            record=record,
        )
        runtime = stack.enter_context(LocalRuntime(functions))
        # Stream event sources (the gift settlement): polled here, as Lambda's mappings poll, invoking
        # each function in its own processes; the stream reads are held to the function's role.
        pollers = [
            StreamPoller(
                source,
                runtime_invoke(runtime, name),
                dynamodb_url=services.dynamodb_url,
                aws_url=services.aws_url,
                region=services.region,
                guard=guard_from_setup(function.setup) if args.permissions != "off" else None,
            )
            for name, function in sorted(functions.items())
            for source in stream_sources(function.spec, values)
        ]
        gateway = Gateway(key_dir=Path(args.jwt_dir), live=live_gifts(outboxes), load=runtime.handler)
        server = make_server(
            "127.0.0.1", args.api_port, WebApp(gateway, key_dir=Path(args.jwt_dir)), threaded=True
        )
        stack.callback(server.server_close)
        serving = threading.Thread(target=server.serve_forever, name="gateway", daemon=True)
        serving.start()
        # One warm environment per HTTP and stream function before "ready": first requests answer at
        # once, and the first gifts are settled within the stream's batching window.
        runtime.prewarm(
            sorted({route.function for route in http_routes()} | {p.source.function for p in pollers})
        )
        for poller in pollers:
            stack.callback(poller.start().stop)
        for outbox in outboxes:
            stack.callback(outbox.start().stop)
        print(
            where_everything_is(
                api_url=api_url,
                services=services,
                functions=functions,
                secrets=secrets,
                queues=queues,
                data_dir=data_dir,
                stripe_dir=stripe_dir if not real_stripe else None,
                permissions=args.permissions,
                record=record,
            ),
            flush=True,
        )
        stopping.wait()
        print("stopping...", flush=True)
        server.shutdown()
    print("stopped", flush=True)
    return 0


def forget_local_data(*directories: Path) -> None:
    """`make dev RESET=1`: the table's data and the Stripe simulator's go together, so neither
    names what the other has forgotten."""
    for directory in directories:
        if directory.exists():
            shutil.rmtree(directory)
            print(f"reset: removed {directory}", flush=True)


def where_everything_is(
    *,
    api_url: str,
    services: LocalServices,
    functions: Mapping[str, LocalFunction],
    secrets: Mapping[str, Any],
    queues: Mapping[str, str],
    data_dir: Path | None,
    permissions: str,
    stripe_dir: Path | None = None,
    record: Path | None,
) -> str:
    """The banner `make dev` prints: every address, every function and what runs it."""
    lines = [
        "",
        f"  API            {api_url}  (every HttpApi route of template.yaml, e.g. {api_url}/v1/wallet)",
        f"  App            {api_url}/app/  (fan, creator and admin; sign in as anyone)",
        f"  API docs       {api_url}{SWAGGER_PATH}  (Swagger UI; the document: {api_url}/v1/openapi.json)",
        f"  Live gifts     {api_url}/_local/live/<stream_id>  (the gift outbox, as the pipe publishes it)",
        f"  DynamoDB Local {services.dynamodb_url}  table {services.table}"
        + ("  (in memory)" if data_dir is None else f"  (data in {data_dir})"),
        f"  Stripe         {services.stripe_url or 'api.stripe.com (your test-mode keys)'}"
        + ("  simulator: /_sim/... routes, hosted checkout pages" if services.stripe_url else "")
        + ("  LIVE MODE (StripeLivemode=true, live keys)" if services.stripe_livemode else "")
        + (f"  (state in {stripe_dir})" if stripe_dir is not None else ""),
        f"  AWS            {services.aws_url}  (Secrets Manager: {', '.join(sorted(secrets))}; "
        f"SQS: {', '.join(sorted(queues))})",
        f"  Tokens         make token USER=alice  (issuer {LOCAL_ISSUER}, audience {LOCAL_AUDIENCE})",
        "  Payouts        make payouts [AS_OF=2030-01-01]  (the schedule and the payout queue, run once)",
        "  Functions      each in its own processes, with its template environment and IAM statements:",
    ]
    for name, function in sorted(functions.items()):
        triggers = [_trigger(e) for e in function.spec.events.values()]
        lines.append(f"    {name:<24} {', '.join(t for t in triggers if t) or 'no event source'}")
    checked = {
        "enforce": "checked: a call its template does not grant fails with AccessDeniedException",
        "warn": "checked, not enforced: a call its template does not grant is logged and allowed",
        "off": "NOT checked (PERMISSIONS=off): every function may call anything",
    }[permissions]
    lines += [
        f"  Permissions    {checked}" + (f"; decisions in {record}" if record else ""),
        "  Stop           Ctrl-C",
        "",
        f"ready: {api_url}",
    ]
    return "\n".join(lines)


def _trigger(event: Mapping[str, Any]) -> str:
    props = event.get("Properties", {})
    kind = str(event.get("Type", ""))
    if kind == "HttpApi":
        return f"{str(props.get('Method', '')).upper()} {props.get('Path', '')}"
    if kind == "SQS":
        queue = props.get("Queue", {})
        get_att = queue.get("Fn::GetAtt", "") if isinstance(queue, dict) else ""
        name = get_att.split(".")[0] if isinstance(get_att, str) else str(get_att[0])
        return f"SQS {name} (make payouts drains it)"
    if kind == "DynamoDB":
        stream = props.get("Stream", {})
        get_att = stream.get("Fn::GetAtt", "") if isinstance(stream, dict) else ""
        table = get_att.split(".")[0] if isinstance(get_att, str) else str(get_att[0])
        filtered = " (filtered)" if props.get("FilterCriteria") else ""
        return f"DynamoDB stream of {table}{filtered}, followed as the event source mapping does"
    if kind in ("Schedule", "ScheduleV2"):
        return "a schedule (make payouts fires it once)"
    return kind


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
    dev.add_argument(
        "--stripe-livemode",
        action="store_true",
        help="run as a live deployment: StripeLivemode=true, the simulator in live mode, rk_live_ keys",
    )
    dev.add_argument("--in-memory", action="store_true", help="keep no data between runs")
    dev.add_argument("--data-dir", default=str(ROOT / ".local" / "dynamodb"))
    dev.add_argument(
        "--stripe-data-dir", default=str(ROOT / ".local" / "stripe"), help="the simulator's state"
    )
    dev.add_argument("--reset", action="store_true", help="forget the kept table and Stripe state first")
    dev.add_argument("--table", default="coins-local")
    dev.add_argument("--jwt-dir", default=str(DEFAULT_KEY_DIR))
    dev.add_argument(
        "--aws-port", type=int, default=int(DEFAULT_AWS_URL.rsplit(":", 1)[1]), help="0 picks a free port"
    )
    dev.add_argument(
        "--permissions",
        choices=["enforce", "warn", "off"],
        default="enforce",
        help="hold each function's AWS calls to its template statements (warn: log refusals, allow them)",
    )
    dev.add_argument("--permission-log", help="append each permission decision to this file (JSON lines)")
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
