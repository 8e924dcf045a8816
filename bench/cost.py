"""Cost per million gifts on AWS, from the measured counts and the measured handler CPU time.

Prices: AWS's public list prices for us-east-1 (N. Virginia), looked up on PRICES_AS_OF, without
free tiers or savings plans. DynamoDB on-demand, standard table class; API Gateway HTTP API, first
300 million requests a month; Lambda arm64, first tier of duration.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

PRICES_AS_OF = "2026-11-25"
MILLION = Decimal(1_000_000)
PRICES = {
    "dynamodb_write_request_unit_per_million": Decimal("0.625"),
    "dynamodb_read_request_unit_per_million": Decimal("0.125"),
    "http_api_request_per_million": Decimal("1.00"),
    "lambda_request_per_million": Decimal("0.20"),
    "lambda_arm64_gb_second": Decimal("0.0000133334"),
}
# Lambda gives a function one full vCPU at 1,769 MB and a share in proportion below that.
FULL_VCPU_MB = Decimal(1769)
# What one sequential DynamoDB call adds to a function's billed duration on AWS: an assumption
# (single-digit milliseconds for single-item operations, about twice for a transaction), since
# DynamoDB Local's latency says nothing about AWS's.
AWS_CALL_MILLISECONDS = {"TransactWriteItems": Decimal(10), "TransactGetItems": Decimal(10)}
AWS_OTHER_CALL_MILLISECONDS = Decimal(5)


@dataclass(frozen=True)
class LambdaWork:
    """One function's share of a gift: invocations, measured CPU, and DynamoDB calls it waits on."""

    invocations: Decimal  # per gift: 1 for the gift function, 1/n for a settlement batch of n
    cpu_ms: Decimal  # per gift, measured here, on this machine's core
    calls: dict[str, Decimal]  # operation -> calls one after another, per gift
    memory_mb: int

    def billed_milliseconds(self) -> Decimal:
        share = min(Decimal(1), Decimal(self.memory_mb) / FULL_VCPU_MB)
        waiting = sum(
            (AWS_CALL_MILLISECONDS.get(op, AWS_OTHER_CALL_MILLISECONDS) * n for op, n in self.calls.items()),
            Decimal(0),
        )
        return self.cpu_ms / share + waiting

    def gb_seconds(self) -> Decimal:
        return Decimal(self.memory_mb) / 1024 * self.billed_milliseconds() / 1000


@dataclass(frozen=True)
class GiftCost:
    write_units: Decimal  # per gift: the request's and its share of the settlement's
    read_units: Decimal
    functions: dict[str, LambdaWork]

    def per_million(self) -> dict[str, Decimal]:
        invocations = sum((f.invocations for f in self.functions.values()), Decimal(0))
        gb_seconds = sum((f.gb_seconds() for f in self.functions.values()), Decimal(0))
        parts = {
            "dynamodb_writes": self.write_units * PRICES["dynamodb_write_request_unit_per_million"],
            "dynamodb_reads": self.read_units * PRICES["dynamodb_read_request_unit_per_million"],
            "http_api": PRICES["http_api_request_per_million"],
            "lambda_requests": invocations * PRICES["lambda_request_per_million"],
            "lambda_duration": gb_seconds * MILLION * PRICES["lambda_arm64_gb_second"],
        }
        parts["total"] = sum(parts.values(), Decimal(0))
        return parts


def _decimal(value: Any) -> Decimal:
    return Decimal(str(value))


def cost_per_million_gifts(
    gift: dict[str, Any],
    handler_cpu_ms: float,
    gift_memory_mb: int,
    settlement: dict[str, Any],
    settlement_memory_mb: int,
) -> dict[str, Any]:
    """`gift` and `settlement` are the metered work of one gift and of one settlement batch."""
    settled = Decimal(settlement["gifts"])
    functions = {
        "gift": LambdaWork(
            invocations=Decimal(1),
            cpu_ms=_decimal(handler_cpu_ms),
            calls={op: Decimal(n) for op, n in gift["operations"].items()},
            memory_mb=gift_memory_mb,
        ),
        "settlement": LambdaWork(
            invocations=1 / settled,
            cpu_ms=_decimal(settlement["cpu_ms"]) / settled,
            calls={op: Decimal(n) / settled for op, n in settlement["operations"].items()},
            memory_mb=settlement_memory_mb,
        ),
    }
    cost = GiftCost(
        write_units=_decimal(gift["total_write_units"]) + _decimal(settlement["total_write_units"]) / settled,
        read_units=_decimal(gift["read_units"]) + _decimal(settlement["read_units"]) / settled,
        functions=functions,
    )
    cents = Decimal("0.01")
    return {
        "dollars": {k: float(v.quantize(cents, ROUND_HALF_EVEN)) for k, v in cost.per_million().items()},
        "write_units_per_gift": float(cost.write_units.quantize(Decimal("0.001"))),
        "read_units_per_gift": float(cost.read_units.quantize(Decimal("0.001"))),
        "gifts_per_settlement_batch": int(settled),
        "billed_milliseconds_per_gift": {
            name: float(f.billed_milliseconds().quantize(Decimal("0.01"))) for name, f in functions.items()
        },
        "memory_mb": {"gift": gift_memory_mb, "settlement": settlement_memory_mb},
        "assumed_aws_milliseconds_per_call": {
            **{k: str(v) for k, v in AWS_CALL_MILLISECONDS.items()},
            "other": str(AWS_OTHER_CALL_MILLISECONDS),
        },
        "prices_usd": {k: str(v) for k, v in PRICES.items()},
        "prices_as_of": PRICES_AS_OF,
        "region": "us-east-1",
    }
