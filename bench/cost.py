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
class GiftCost:
    write_units: Decimal
    read_units: Decimal
    handler_cpu_ms: Decimal  # measured here, on this machine's core
    calls: dict[str, int]  # operation -> calls, one after another
    memory_mb: int

    def billed_milliseconds(self) -> Decimal:
        share = min(Decimal(1), Decimal(self.memory_mb) / FULL_VCPU_MB)
        waiting = sum(
            (AWS_CALL_MILLISECONDS.get(op, AWS_OTHER_CALL_MILLISECONDS) * n for op, n in self.calls.items()),
            Decimal(0),
        )
        return self.handler_cpu_ms / share + waiting

    def per_million(self) -> dict[str, Decimal]:
        gb_seconds = Decimal(self.memory_mb) / 1024 * self.billed_milliseconds() / 1000
        parts = {
            "dynamodb_writes": self.write_units * PRICES["dynamodb_write_request_unit_per_million"],
            "dynamodb_reads": self.read_units * PRICES["dynamodb_read_request_unit_per_million"],
            "http_api": PRICES["http_api_request_per_million"],
            "lambda_requests": PRICES["lambda_request_per_million"],
            "lambda_duration": gb_seconds * MILLION * PRICES["lambda_arm64_gb_second"],
        }
        parts["total"] = sum(parts.values(), Decimal(0))
        return parts


def cost_per_million_gifts(work: dict[str, Any], handler_cpu_ms: float, memory_mb: int) -> dict[str, Any]:
    cost = GiftCost(
        write_units=Decimal(work["total_write_units"]),
        read_units=Decimal(str(work["read_units"])),
        handler_cpu_ms=Decimal(str(handler_cpu_ms)),
        calls=dict(work["operations"]),
        memory_mb=memory_mb,
    )
    cents = Decimal("0.01")
    return {
        "dollars": {k: float(v.quantize(cents, ROUND_HALF_EVEN)) for k, v in cost.per_million().items()},
        "billed_milliseconds_per_gift": float(cost.billed_milliseconds().quantize(Decimal("0.1"))),
        "memory_mb": memory_mb,
        "prices_usd": {k: str(v) for k, v in PRICES.items()},
        "prices_as_of": PRICES_AS_OF,
        "region": "us-east-1",
    }
