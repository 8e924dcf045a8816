"""One cold start, in the fresh process that runs this file (started by bench.coldstart).

Imports only the standard library before the clock starts, then does one of:
  baseline                  import boto3 and make a DynamoDB client (the same-run baseline)
  function <dir> <attrs>    import functions/<dir>/app.py as Lambda does (its folder first on the
                            path, the layer's `coins` package installed) and build the services its
                            handlers use: `services().<attr>` for each comma-separated attr
                            (`attr()` where the handler calls it)
  tracing <variant>         the baseline plus Powertools Logger and Metrics, plus one way to trace
  validation <variant>      the baseline plus Powertools Logger and Metrics, plus one way to take a
                            request's body as a typed, validated value (what it costs at cold start)
Prints one JSON line: wall-clock and CPU milliseconds, and which heavy modules the process loaded.
"""

import json
import sys
import time

WATCHED = (
    "stripe",
    "aws_xray_sdk",
    "requests",
    "aws_lambda_powertools.utilities.parameters",
    "coins.payouts",
    "coins.purchases",
    "coins.stripe_adapter",
    "coins.payment_events",
    "coins.pricing",
    "coins.admin",
    "coins.wallets",
    "coins.gifts",
    "coins.webhooks",
)


def baseline() -> None:
    import boto3

    boto3.client("dynamodb")


def function(directory: str, attrs: str) -> None:
    import importlib

    sys.path.insert(0, directory)
    importlib.import_module("app")
    if attrs:
        from coins.wiring import services

        for attr in attrs.split(","):
            built = getattr(services(), attr.rstrip("()"))
            if attr.endswith("()"):
                built()


def tracing(variant: str) -> None:
    baseline()
    from aws_lambda_powertools import Logger, Metrics

    Logger()
    Metrics()
    if variant == "runtime-only":
        return  # Tracing: Active without the SDK: the Lambda service records the segments
    from aws_lambda_powertools import Tracer

    if variant == "tracer-default":
        Tracer()  # the X-Ray SDK, every supported library patched
    elif variant == "tracer-botocore-only":
        Tracer(patch_modules=("botocore",))
    elif variant == "tracer-no-patch":
        Tracer(auto_patch=False)
    else:
        raise SystemExit(f"unknown tracing variant {variant}")


def _resolver_validation() -> None:
    # The Powertools resolver validating the body into a pydantic model (what the routes use).
    from typing import Annotated

    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
    from aws_lambda_powertools.event_handler.openapi.params import Body
    from pydantic import BaseModel, Field

    class Gift(BaseModel):
        creator_id: str = Field(min_length=1, max_length=128)
        gift_id: str = Field(min_length=1, max_length=64)
        quantity: int = Field(ge=1, le=99)

    app = APIGatewayHttpResolver(enable_validation=True)

    @app.post("/v1/gifts")
    def send(gift: Annotated[Gift, Body()]) -> dict[str, str]:
        return {"gift_id": gift.gift_id}


def _resolver() -> None:
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

    app = APIGatewayHttpResolver()

    @app.post("/v1/gifts")
    def send() -> dict[str, str]:
        return {}


def _pydantic_model() -> None:
    from pydantic import BaseModel, Field

    class Gift(BaseModel):
        creator_id: str = Field(min_length=1, max_length=128)
        gift_id: str = Field(min_length=1, max_length=64)
        quantity: int = Field(ge=1, le=99)

    Gift.model_validate({"creator_id": "c", "gift_id": "rose", "quantity": 1})


def _dataclass_checked() -> None:
    # A frozen dataclass whose constructor checks each field: typed and validated, stdlib only.
    from dataclasses import dataclass

    @dataclass(frozen=True, slots=True)
    class Gift:
        creator_id: str
        gift_id: str
        quantity: int

        def __post_init__(self) -> None:
            if not (isinstance(self.creator_id, str) and 0 < len(self.creator_id) <= 128):
                raise ValueError("creator_id")
            if not (isinstance(self.gift_id, str) and 0 < len(self.gift_id) <= 64):
                raise ValueError("gift_id")
            if type(self.quantity) is not int or not 1 <= self.quantity <= 99:
                raise ValueError("quantity")

    Gift(**json.loads('{"creator_id": "c", "gift_id": "rose", "quantity": 1}'))


VALIDATIONS = {
    "resolver": _resolver,
    "resolver-validation": _resolver_validation,
    "pydantic-model": _pydantic_model,
    "dataclass-checked": _dataclass_checked,
}


def validation(variant: str) -> None:
    tracing("runtime-only")
    if variant not in VALIDATIONS:
        raise SystemExit(f"unknown validation variant {variant}")
    VALIDATIONS[variant]()


def main() -> None:
    mode, *args = sys.argv[1:]
    started, cpu_started = time.perf_counter(), time.process_time()
    if mode == "baseline":
        baseline()
    elif mode == "function":
        function(args[0], args[1] if len(args) > 1 else "")
    elif mode == "tracing":
        tracing(args[0])
    elif mode == "validation":
        validation(args[0])
    else:
        raise SystemExit(f"unknown mode {mode}")
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    loaded = {name: name in sys.modules for name in WATCHED}
    print(json.dumps({"ms": round(elapsed * 1000, 2), "cpu_ms": round(cpu * 1000, 2), "loaded": loaded}))


if __name__ == "__main__":
    main()
