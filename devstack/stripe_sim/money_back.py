"""Money going back to the customer: refunds and disputes, with the events Stripe sends for each.

Refunds (https://docs.stripe.com/refunds): `refund.created` and `charge.refunded` when made; a
refund may stay `pending` and later succeed (`refund.updated`) or fail (`refund.updated`, then
`refund.failed`; the charge's `amount_refunded` drops back). A charge under a chargeback cannot be
refunded (`charge_disputed`); one under an inquiry can (`is_charge_refundable: true`).

Disputes (https://docs.stripe.com/disputes/how-disputes-work): an inquiry (`warning_needs_response`,
`warning_under_review`, closing `warning_closed`) moves no money; a chargeback (`needs_response`,
`under_review`, closing `won` or `lost`) withdraws the amount and the dispute fee at once
(`charge.dispute.funds_withdrawn`, a balance transaction on the dispute) and reinstates the amount
when won (`charge.dispute.funds_reinstated`, a second one); one `prevented` (stopped before it was
filed, e.g. by Visa's Rapid Dispute Resolution) moves no money and is closed as it is made.
Evidence moves an open dispute under review (`charge.dispute.updated`); closing sends
`charge.dispute.closed`. A charge takes one chargeback; an inquiry may come before it.
"""

from devstack.stripe_sim.errors import StripeError
from devstack.stripe_sim.objects import JSON, changed_attributes
from devstack.stripe_sim.store import Origin, Store

INQUIRY_OPEN = ("warning_needs_response", "warning_under_review")
CHARGEBACK_OPEN = ("needs_response", "under_review")
CLOSES = {"warning_needs_response": ("warning_closed",), "needs_response": ("won", "lost")}
CLOSES |= {"warning_under_review": CLOSES["warning_needs_response"], "under_review": CLOSES["needs_response"]}
UNDER_REVIEW = {"warning_needs_response": "warning_under_review", "needs_response": "under_review"}
# Stripe's dispute fee in the currency's minor unit (https://stripe.com/pricing: $15 in the US).
DISPUTE_FEE = 1500


def _refused(message: str, *, code: str | None = None, param: str | None = None) -> StripeError:
    return StripeError(400, message, code=code, param=param)


def portion(amount: int | None, remaining: int, *, too_large: str) -> int:
    """The part of what is left that a refund or reversal takes: all of it unless told."""
    amount = remaining if amount is None else amount
    if amount <= 0 or amount > remaining:
        raise _refused(
            too_large.format(amount=amount, remaining=remaining), code="amount_too_large", param="amount"
        )
    return amount


class MoneyBack:
    def __init__(self, store: Store) -> None:
        self.store = store

    # ------------------------------------------------------------------ refunds

    def refund(
        self,
        charge_id: str,
        *,
        amount: int | None = None,
        reason: str | None = None,
        metadata: dict[str, str] | None = None,
        origin: Origin | None = None,
        param: str = "id",
        pending: bool = False,
    ) -> JSON:
        with self.store.lock:
            charge = self.store.get(charge_id, "charge", param=param)
            remaining = charge["amount"] - charge["amount_refunded"]
            if charge["status"] != "succeeded":
                raise _refused(f"Charge {charge_id} has not succeeded; there is nothing to refund.")
            if any(not d["is_charge_refundable"] for d in self.disputes_of(charge_id)):
                raise _refused(
                    f"Charge {charge_id} has been charged back; cannot issue a refund.",
                    code="charge_disputed",
                )
            if remaining <= 0:
                raise _refused(
                    f"Charge {charge_id} has already been refunded.", code="charge_already_refunded"
                )
            amount = portion(
                amount,
                remaining,
                too_large="Refund amount ({amount}) is greater than unrefunded amount on charge ({remaining})",
            )
            refund = self.store.add(
                self.store.factory.refund(
                    amount=amount,
                    charge=charge,
                    reason=reason,
                    metadata=metadata or {},
                    status="pending" if pending else "succeeded",
                )
            )
            self.store.emit("refund.created", refund, origin=origin)
            before = self.store.snapshot(charge)
            charge["amount_refunded"] += amount
            charge["refunded"] = charge["amount_refunded"] == charge["amount"]
            charge["refunds"]["data"].insert(0, self.store.snapshot(refund))
            self.store.emit(
                "charge.refunded", charge, previous=changed_attributes(before, charge), origin=origin
            )
            return refund

    def settle_refund(self, refund_id: str, *, succeeded: bool, failure_reason: str = "declined") -> JSON:
        """A pending refund succeeds, or fails (the bank refused it) and the charge is unrefunded."""
        with self.store.lock:
            refund = self.store.get(refund_id, "refund")
            if refund["status"] != "pending":
                raise _refused(f"Refund {refund_id} is {refund['status']}; only a pending refund can settle.")
            before = self.store.snapshot(refund)
            charge = self.store.get(refund["charge"], "charge")
            if succeeded:
                refund["status"] = "succeeded"
            else:
                txn = self.store.factory.balance_transaction(
                    amount=refund["amount"],
                    currency=refund["currency"],
                    fee=0,
                    description=f"REFUND FAILURE FOR {charge['id']}",
                    source=refund_id,
                    category="refund_failure",
                )
                refund.update(
                    status="failed", failure_reason=failure_reason, failure_balance_transaction=txn["id"]
                )
                charge["amount_refunded"] -= refund["amount"]
                charge["refunded"] = False
            charge["refunds"]["data"] = [
                self.store.snapshot(refund) if r["id"] == refund_id else r for r in charge["refunds"]["data"]
            ]
            self.store.emit("refund.updated", refund, previous=changed_attributes(before, refund))
            if not succeeded:
                self.store.emit("refund.failed", refund)
            return refund

    # ------------------------------------------------------------------ disputes

    def disputes_of(self, charge_id: str) -> list[JSON]:
        return [d for d in self.store.all("dispute") if d["charge"] == charge_id]

    def dispute(
        self,
        charge_id: str,
        *,
        reason: str = "fraudulent",
        amount: int | None = None,
        inquiry: bool = False,
        prevented: bool = False,
    ) -> JSON:
        with self.store.lock:
            charge = self.store.get(charge_id, "charge")
            if charge["status"] != "succeeded":
                raise _refused(f"Charge {charge_id} has not succeeded; it cannot be disputed.")
            earlier = self.disputes_of(charge_id)
            if any(d["status"] in INQUIRY_OPEN for d in earlier) and inquiry:
                raise _refused(f"Charge {charge_id} already has an open inquiry.", code="charge_disputed")
            if any(d["payment_method_details"]["card"]["case_type"] == "chargeback" for d in earlier):
                raise _refused(f"Charge {charge_id} is already disputed.", code="charge_disputed")
            status = "prevented" if prevented else "warning_needs_response" if inquiry else "needs_response"
            dispute = self.store.add(
                self.store.factory.dispute(
                    amount=charge["amount"] if amount is None else amount,
                    charge=charge,
                    reason=reason,
                    inquiry=inquiry or prevented,
                    status=status,
                )
            )
            charge["disputed"] = True
            self.store.emit("charge.dispute.created", dispute)
            if prevented:
                self.store.emit("charge.dispute.closed", dispute)
            elif not inquiry:
                self._move_funds(dispute, -dispute["amount"], "charge.dispute.funds_withdrawn")
            return dispute

    def _move_funds(self, dispute: JSON, amount: int, event_type: str) -> None:
        withdrawn = amount < 0
        txn = self.store.factory.balance_transaction(
            amount=amount,
            currency=dispute["currency"],
            fee=DISPUTE_FEE if withdrawn else 0,
            description=f"Chargeback {'withdrawal' if withdrawn else 'reversal'} for {dispute['charge']}",
            source=dispute["id"],
            category="dispute" if withdrawn else "dispute_reversal",
        )
        dispute["balance_transactions"] = [*dispute["balance_transactions"], txn]
        self.store.emit(event_type, dispute)

    def submit_evidence(self, dispute_id: str) -> JSON:
        """The merchant answered: the dispute goes under review (`charge.dispute.updated`)."""
        with self.store.lock:
            dispute = self.store.get(dispute_id, "dispute")
            if dispute["status"] not in UNDER_REVIEW:
                raise _refused(f"Dispute {dispute_id} is {dispute['status']}; it takes no evidence now.")
            before = self.store.snapshot(dispute)
            dispute["status"] = UNDER_REVIEW[dispute["status"]]
            dispute["evidence_details"] = {
                **dispute["evidence_details"],
                "has_evidence": True,
                "submission_count": dispute["evidence_details"]["submission_count"] + 1,
                "submission_method": "manual",
            }
            self.store.emit("charge.dispute.updated", dispute, previous=changed_attributes(before, dispute))
            return dispute

    def close_dispute(self, dispute_id: str, status: str) -> JSON:
        with self.store.lock:
            dispute = self.store.get(dispute_id, "dispute")
            allowed = CLOSES.get(dispute["status"])
            if allowed is None:
                raise _refused(f"Dispute {dispute_id} is already closed ({dispute['status']}).")
            if status not in allowed:
                kind = "An inquiry" if dispute["status"] in INQUIRY_OPEN else "A chargeback"
                raise _refused(f"{kind} closes as {' or '.join(repr(s) for s in allowed)}.", param="status")
            before = self.store.snapshot(dispute)
            dispute["status"] = status
            self.store.emit("charge.dispute.closed", dispute, previous=changed_attributes(before, dispute))
            if status == "won":
                self._move_funds(dispute, dispute["amount"], "charge.dispute.funds_reinstated")
            return dispute
