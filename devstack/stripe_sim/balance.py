"""Stripe's balance transactions, derived from the money objects the simulator holds.

Stripe writes a balance transaction for each movement of the platform's balance: a charge (+), a
refund (-), a dispute's funds withdrawn (-, reporting category `dispute`) and reinstated when it
is won (+, `dispute_reversal`), a transfer to a connected account (-) and its reversal (+,
`transfer_reversal`). Each carries the id Stripe put on the object (`balance_transaction`), its
`source`, `created` (when the money moved) and `amount`/`fee`/`net` in the currency's minor unit.
Test mode charges no fee here (`fee` 0), as the fixtures'. Derived on each read, so nothing more is
stored than the objects themselves.
"""

from __future__ import annotations

import hashlib
from typing import Any

from devstack.stripe_sim.objects import JSON

_DISPUTE_CLOSED = "charge.dispute.closed"


def _transaction(
    txn_id: str,
    *,
    kind: str,
    category: str,
    amount: int,
    currency: str,
    created: int,
    source: str,
    description: str,
) -> JSON:
    return {
        "id": txn_id,
        "object": "balance_transaction",
        "amount": amount,
        "available_on": created,
        "balance_type": "payments",
        "created": created,
        "currency": currency,
        "description": description,
        "exchange_rate": None,
        "fee": 0,
        "fee_details": [],
        "net": amount,
        "reporting_category": category,
        "source": source,
        "status": "available",
        "type": kind,
    }


def _derived_id(source: str, what: str) -> str:
    return "txn_" + hashlib.sha256(f"{source}:{what}".encode()).hexdigest()[:24]


def balance_transactions(objects: list[JSON], events: list[Any]) -> list[JSON]:
    """Every balance transaction, oldest first. `events`: the store's events, for when a dispute closed."""
    closed_at = {
        str(stored.event["data"]["object"]["id"]): int(stored.event["created"])
        for stored in events
        if stored.type == _DISPUTE_CLOSED
    }
    found: list[JSON] = []
    for obj in objects:
        kind = obj.get("object")
        if kind == "charge" and obj.get("status") == "succeeded" and obj.get("balance_transaction"):
            found.append(
                _transaction(
                    obj["balance_transaction"],
                    kind="charge",
                    category="charge",
                    amount=obj["amount"],
                    currency=obj["currency"],
                    created=obj["created"],
                    source=obj["id"],
                    description="Payment",
                )
            )
        elif kind == "refund" and obj.get("status") == "succeeded":
            found.append(
                _transaction(
                    obj["balance_transaction"],
                    kind="refund",
                    category="refund",
                    amount=-obj["amount"],
                    currency=obj["currency"],
                    created=obj["created"],
                    source=obj["id"],
                    description="REFUND FOR CHARGE",
                )
            )
        elif kind == "dispute":
            found.append(
                _transaction(
                    _derived_id(obj["id"], "withdrawn"),
                    kind="adjustment",
                    category="dispute",
                    amount=-obj["amount"],
                    currency=obj["currency"],
                    created=obj["created"],
                    source=obj["id"],
                    description=f"Chargeback withdrawal for {obj['charge']}",
                )
            )
            if obj.get("status") == "won" and obj["id"] in closed_at:
                found.append(
                    _transaction(
                        _derived_id(obj["id"], "reinstated"),
                        kind="adjustment",
                        category="dispute_reversal",
                        amount=obj["amount"],
                        currency=obj["currency"],
                        created=closed_at[obj["id"]],
                        source=obj["id"],
                        description=f"Chargeback reversal for {obj['charge']}",
                    )
                )
        elif kind == "transfer":
            found.append(
                _transaction(
                    obj["balance_transaction"],
                    kind="transfer",
                    category="transfer",
                    amount=-obj["amount"],
                    currency=obj["currency"],
                    created=obj["created"],
                    source=obj["id"],
                    description="Transfer",
                )
            )
        elif kind == "transfer_reversal":
            found.append(
                _transaction(
                    obj["balance_transaction"],
                    kind="transfer_refund",
                    category="transfer_reversal",
                    amount=obj["amount"],
                    currency=obj["currency"],
                    created=obj["created"],
                    source=obj["id"],
                    description="Transfer reversal",
                )
            )
    return sorted(found, key=lambda t: (t["created"], t["id"]))
