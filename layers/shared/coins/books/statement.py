"""The daily statement a finance team reads, and how it ties out.

Built from the statement's queries (coins/books/sql/statement.sql, over the table's export) and
Stripe's balance transactions of the day. Presented as Stripe's balance report and Formance's
volumes are: every line is a running total with an opening, what came in, what went out and a
closing, so `opening + increase - decrease = closing` holds line by line and day after day.

- Coins (unit: coins): what fans hold (a liability: bought or granted, not yet spent), their debt,
  gifts in flight; and the system accounts the coins came from and went to: sold (net of
  clawbacks), promotional grants, corrections, spent on gifts (revenue).
- Diamonds (unit: diamonds, exact to the thousandth): what creators are owed (pending, available,
  reserved), and what was earned, corrected and paid out.
- Money (per currency, in its major unit, exact): sales, refunds, chargebacks, payouts and their
  reversals, as the ledger recorded them and as Stripe booked them that day; and the value left
  from rounding where diamonds became cash.

It ties out when (1) every account line's closing plus what moved after the day equals what its
balance items hold at the export (the lines are the ledger's accounts), (2) each unit's lines sum
to zero (double entry), and (3) every Stripe balance transaction of the day is matched to the
ledger's record of it, a difference only by timing (the other side booked on the day before or
after, named by id). Money is integers and Decimals, never floats; rounded only where it is shown.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Any

from coins.ledger import MILLIDIAMONDS_PER_DIAMOND
from coins.pricing import currency_rules
from coins.stripe_adapter import BalanceMovement

# The account lines, in the order a statement shows them: (owner kind, account) -> (section, name).
ACCOUNT_LINES: Mapping[tuple[str, str], tuple[str, str]] = {
    ("user", "coins"): ("coins", "coins outstanding (fans' balances: bought or granted, not yet spent)"),
    ("user", "coin_debt"): ("coins", "coin debt (spent coins later clawed back)"),
    ("system", "gifts_in_flight"): ("coins", "gifts in flight (sent, not yet settled)"),
    ("system", "coins_issued"): ("coins", "coins sold, net of clawbacks (issued)"),
    ("system", "promotions"): ("coins", "promotional grants"),
    ("system", "coin_corrections"): ("coins", "coin corrections"),
    ("system", "gift_revenue"): ("coins", "coins spent on gifts (revenue)"),
    ("user", "diamonds_pending"): ("diamonds", "owed to creators: pending"),
    ("user", "diamonds_available"): ("diamonds", "owed to creators: available"),
    ("user", "diamonds_reserved"): ("diamonds", "owed to creators: reserved for payout"),
    ("system", "diamonds_issued"): ("diamonds", "diamonds earned by creators (issued)"),
    ("system", "diamond_corrections"): ("diamonds", "diamond corrections"),
    ("system", "diamonds_paid_out"): ("diamonds", "diamonds paid out"),
}
UNIT_OF_SECTION = {"coins": "coin", "diamonds": "diamond"}
# Stripe's reporting categories, as the statement names them.
MONEY_LINES = {
    "charge": "sales",
    "refund": "refunds",
    "dispute": "chargebacks",
    "dispute_reversal": "chargebacks won back",
    "transfer": "payouts",
    "transfer_reversal": "payout reversals",
}


@dataclass(frozen=True)
class Volume:
    opening: int = 0
    increase: int = 0
    decrease: int = 0
    later: int = 0

    @property
    def closing(self) -> int:
        return self.opening + self.increase - self.decrease

    def __add__(self, other: Volume) -> Volume:
        return Volume(
            self.opening + other.opening,
            self.increase + other.increase,
            self.decrease + other.decrease,
            self.later + other.later,
        )


@dataclass(frozen=True)
class StatementLine:
    """One row of the statement: a running total in one unit (and currency, for money)."""

    section: str  # coins, diamonds, money
    line: str
    detail: str  # "" for an account's own line; the code of a movement under it
    unit: str  # coin, diamond, or a currency's code
    opening: Decimal
    increase: Decimal
    decrease: Decimal
    closing: Decimal
    stripe: Decimal | None = None  # money lines: what Stripe booked that day


@dataclass(frozen=True)
class TieOut:
    check: str
    subject: str
    detail: str


@dataclass
class Statement:
    day: str
    as_of: str
    lines: list[StatementLine] = field(default_factory=list)
    failures: list[TieOut] = field(default_factory=list)
    timing: list[TieOut] = field(default_factory=list)  # differences explained by the day of booking

    @property
    def ties_out(self) -> bool:
        return not self.failures

    def rows(self) -> list[dict[str, str]]:
        """The statement as CSV/Parquet rows (text, exact decimals)."""
        return [
            {
                "date": self.day,
                "section": line.section,
                "line": line.line,
                "detail": line.detail,
                "unit": line.unit,
                "opening": str(line.opening),
                "increase": str(line.increase),
                "decrease": str(line.decrease),
                "closing": str(line.closing),
                "stripe": "" if line.stripe is None else str(line.stripe),
            }
            for line in self.lines
        ]


COLUMNS = (
    "date",
    "section",
    "line",
    "detail",
    "unit",
    "opening",
    "increase",
    "decrease",
    "closing",
    "stripe",
)


def _diamonds(millidiamonds: int) -> Decimal:
    return Decimal(millidiamonds) / MILLIDIAMONDS_PER_DIAMOND


def _major(minor: int | Fraction, currency: str) -> Decimal:
    """Minor units in the currency's major unit, exactly (12.50 for 1250 cents); a fraction of a
    minor unit (the value rounding left) keeps its digits."""
    decimals = currency_rules(currency).decimals
    scale = Decimal(10) ** decimals
    if isinstance(minor, Fraction):
        exact = Decimal(minor.numerator) / Decimal(minor.denominator) / scale
    else:
        exact = Decimal(minor) / scale
    shown = exact.quantize(Decimal(1).scaleb(-decimals))
    return shown if shown == exact else exact


def _in_unit(section: str, amount: int) -> Decimal:
    return _diamonds(amount) if section == "diamonds" else Decimal(amount)


def account_lines(
    volumes: Iterable[Mapping[str, Any]], held: Iterable[Mapping[str, Any]], statement: Statement
) -> None:
    """The coin and diamond sections, tied to the balance items and to zero per unit."""
    by_account: dict[tuple[str, str], dict[str, Volume]] = defaultdict(dict)
    for row in volumes:
        key = (str(row["owner_kind"]), str(row["account"]))
        by_account[key][str(row["code"])] = Volume(
            int(row["opening"] or 0),
            int(row["increase"] or 0),
            int(row["decrease"] or 0),
            int(row["later"] or 0),
        )
    holdings = {(str(r["owner_kind"]), str(r["account"])): int(r["balance"] or 0) for r in held}
    per_unit: dict[str, int] = defaultdict(int)
    for key in sorted((set(by_account) | set(holdings)) - set(ACCOUNT_LINES)):
        statement.failures.append(TieOut("known account", f"{key[0]}:{key[1]}", "no statement line shows it"))
    for key, (section, name) in ACCOUNT_LINES.items():
        codes = by_account.get(key, {})
        total = sum(codes.values(), Volume())
        # The unit's sum is of what the ledger holds: balance items, and in flight as derived.
        derived = key == ("system", "gifts_in_flight")
        per_unit[section] += total.closing + total.later if derived else holdings.get(key, 0)
        statement.lines.append(_line(section, name, "", total))
        for code, volume in sorted(codes.items()):
            if volume.opening or volume.increase or volume.decrease:  # else nothing to show for the day
                statement.lines.append(_line(section, name, code, volume))
        now = total.closing + total.later
        if derived:
            continue  # no balance item holds it
        if now != holdings.get(key, 0):
            statement.failures.append(
                TieOut(
                    "line equals the ledger's account",
                    f"{key[0]}:{key[1]}",
                    f"closing {total.closing}, and {total.later} moved since: {now}; "
                    f"the balance items hold {holdings.get(key, 0)}",
                )
            )
    for section, units in per_unit.items():
        if units != 0:
            statement.failures.append(
                TieOut("each unit sums to zero", UNIT_OF_SECTION[section], f"{section} held sum to {units}")
            )


def _line(section: str, name: str, detail: str, volume: Volume) -> StatementLine:
    return StatementLine(
        section=section,
        line=name,
        detail=detail,
        unit=UNIT_OF_SECTION[section],
        opening=_in_unit(section, volume.opening),
        increase=_in_unit(section, volume.increase),
        decrease=_in_unit(section, volume.decrease),
        closing=_in_unit(section, volume.closing),
    )


@dataclass(frozen=True)
class LedgerMoney:
    """What the statement's money queries returned, keyed for matching with Stripe."""

    transfers: Sequence[Mapping[str, Any]]  # the day's transfers that carry money
    orders: Mapping[str, Mapping[str, Any]]  # by payment intent
    withdrawals: Mapping[str, Mapping[str, Any]]  # by Stripe transfer


def money_lines(
    ledger: LedgerMoney,
    stripe_day: Sequence[BalanceMovement],
    stripe_around: Sequence[BalanceMovement],
    statement: Statement,
) -> None:
    """The money section per currency, and each of Stripe's balance transactions of the day matched.

    stripe_around: the balance transactions of the day before and after (timing differences)."""
    ledger_total: dict[tuple[str, str], int] = defaultdict(int)
    stripe_total: dict[tuple[str, str], int] = defaultdict(int)
    purchases = {str(t["order_id"]): t for t in ledger.transfers if t["code"] == "purchase"}
    payouts = {str(t["stripe_transfer"]): t for t in ledger.transfers if t["code"] == "payout"}
    for t in purchases.values():
        ledger_total[("charge", str(t["currency"]))] += int(t["amount"])
    for t in payouts.values():
        ledger_total[("transfer", str(t["currency"]))] -= int(t["amount"])
    nearby_orders = {
        str(ledger.orders[m.payment_intent]["order_id"])
        for m in stripe_around
        if m.reporting_category == "charge"
        and m.payment_intent is not None
        and m.payment_intent in ledger.orders
    }
    nearby_transfers = {m.transfer for m in stripe_around if m.reporting_category == "transfer"}
    matched_orders: set[str] = set()
    matched_transfers: set[str] = set()
    refunded: dict[str, int] = defaultdict(int)
    disputed: dict[str, int] = defaultdict(int)
    reversed_: dict[str, int] = defaultdict(int)
    for m in stripe_day:
        key = (m.reporting_category, m.currency)
        stripe_total[key] += m.amount
        order = ledger.orders.get(m.payment_intent or "")
        if m.reporting_category == "charge":
            if order is None:
                statement.failures.append(
                    TieOut("Stripe's money is in the ledger", m.id, f"charge {m.charge} pays no order")
                )
            elif str(order["order_id"]) in purchases:
                matched_orders.add(str(order["order_id"]))
            else:
                statement.timing.append(
                    TieOut("credited on another day", m.id, f"charge {m.charge}: order {order['order_id']}")
                )
                ledger_total[key] += m.amount  # the ledger booked it, on another day
        elif m.reporting_category in ("refund", "dispute", "dispute_reversal"):
            if order is None:
                statement.failures.append(
                    TieOut(
                        "Stripe's money is in the ledger",
                        m.id,
                        f"{m.reporting_category} of {m.charge}: no order",
                    )
                )
                continue
            ledger_total[key] += m.amount  # Stripe's money; the ledger's record is checked below
            target = refunded if m.reporting_category == "refund" else disputed
            target[str(order["order_id"])] += -m.amount
        elif m.reporting_category == "transfer":
            if m.transfer in payouts:
                matched_transfers.add(str(m.transfer))
            elif m.transfer in ledger.withdrawals:
                statement.timing.append(TieOut("paid out on another day", m.id, f"transfer {m.transfer}"))
                ledger_total[key] += m.amount
            else:
                statement.failures.append(
                    TieOut(
                        "Stripe's money is in the ledger", m.id, f"transfer {m.transfer} pays no withdrawal"
                    )
                )
        elif m.reporting_category == "transfer_reversal":
            ledger_total[key] += m.amount
            reversed_[str(m.transfer)] += m.amount
    for order_id, t in purchases.items():
        if order_id not in matched_orders:
            if order_id in nearby_orders:
                statement.timing.append(
                    TieOut("charged on another day", str(t["transfer_id"]), f"order {order_id}")
                )
                stripe_total[("charge", str(t["currency"]))] += int(t["amount"])
            else:
                statement.failures.append(
                    TieOut(
                        "the ledger's money is at Stripe",
                        str(t["transfer_id"]),
                        f"order {order_id}: no charge",
                    )
                )
    for stripe_transfer, t in payouts.items():
        if stripe_transfer not in matched_transfers:
            if stripe_transfer in nearby_transfers:
                statement.timing.append(
                    TieOut("transferred on another day", str(t["transfer_id"]), stripe_transfer)
                )
                stripe_total[("transfer", str(t["currency"]))] -= int(t["amount"])
            else:
                statement.failures.append(
                    TieOut(
                        "the ledger's money is at Stripe",
                        str(t["transfer_id"]),
                        f"{stripe_transfer}: no transfer",
                    )
                )
    _recorded(ledger, refunded, disputed, reversed_, statement)
    for category, name in MONEY_LINES.items():
        for currency in sorted({c for (k, c) in ledger_total | stripe_total if k == category}):
            amount = ledger_total[(category, currency)]
            statement.lines.append(
                StatementLine(
                    section="money",
                    line=name,
                    detail="",
                    unit=currency,
                    opening=_major(0, currency),
                    increase=_major(max(amount, 0), currency),
                    decrease=_major(max(-amount, 0), currency),
                    closing=_major(amount, currency),
                    stripe=_major(stripe_total[(category, currency)], currency),
                )
            )
            if amount != stripe_total[(category, currency)]:
                statement.failures.append(
                    TieOut(
                        "money matches Stripe's balance transactions",
                        f"{name} {currency}",
                        f"ledger {_major(amount, currency)}, Stripe {_major(stripe_total[(category, currency)], currency)}",
                    )
                )
    _rounding(ledger, statement)


def _recorded(
    ledger: LedgerMoney,
    refunded: Mapping[str, int],
    disputed: Mapping[str, int],
    reversed_: Mapping[str, int],
    statement: Statement,
) -> None:
    """Each order Stripe refunded or disputed that day, and each payout it reversed, records at
    least that much (the ledger keeps the highest amount Stripe reported)."""
    orders = {str(o["order_id"]): o for o in ledger.orders.values()}
    for order_id, amount in refunded.items():
        if int(orders[order_id]["refunded_amount"]) < amount:
            statement.failures.append(
                TieOut(
                    "refund recorded",
                    order_id,
                    f"Stripe refunded {amount}, order records {orders[order_id]['refunded_amount']}",
                )
            )
    for order_id, amount in disputed.items():
        if (
            amount > 0
            and int(orders[order_id]["disputed_amount"]) < amount
            and orders[order_id]["status"] != "dispute_won"
        ):
            statement.failures.append(
                TieOut(
                    "dispute recorded",
                    order_id,
                    f"Stripe withdrew {amount}, order records {orders[order_id]['disputed_amount']}",
                )
            )
    for stripe_transfer, amount in reversed_.items():
        withdrawal = ledger.withdrawals.get(stripe_transfer)
        if withdrawal is None or int(withdrawal["reversed_amount"]) < amount:
            statement.failures.append(
                TieOut(
                    "reversal recorded",
                    stripe_transfer,
                    f"Stripe reversed {amount}, ledger {withdrawal and withdrawal['reversed_amount']}",
                )
            )


def _rounding(ledger: LedgerMoney, statement: Statement) -> None:
    """What diamonds reserved that day were worth beyond the cash they became: value left from
    rounding down to the currency's minor unit once, where money leaves (exact, never negative)."""
    residue: dict[str, Fraction] = defaultdict(Fraction)
    for t in ledger.transfers:
        if t["code"] != "withdrawal" or not t.get("diamond_value"):
            continue
        currency = str(t["currency"])
        worth = Fraction(int(t["moved"]), MILLIDIAMONDS_PER_DIAMOND) * Fraction(str(t["diamond_value"]))
        cash = worth * 10 ** currency_rules(currency).decimals
        residue[currency] += cash - int(t["amount"])
        if cash < int(t["amount"]):
            statement.failures.append(
                TieOut("rounding", str(t["transfer_id"]), f"{t['amount']} paid for diamonds worth {cash}")
            )
    for currency, left in sorted(residue.items()):
        statement.lines.append(
            StatementLine(
                section="money",
                line="value left from rounding (kept in creators' diamonds)",
                detail="",
                unit=currency,
                opening=_major(0, currency),
                increase=_major(left, currency),
                decrease=_major(0, currency),
                closing=_major(left, currency),
            )
        )


def build_statement(
    day: str,
    as_of: str,
    results: Mapping[str, Sequence[Mapping[str, Any]]],
    stripe_day: Sequence[BalanceMovement],
    stripe_around: Sequence[BalanceMovement],
) -> Statement:
    """The statement of `day` from the statement queries' results (by name) and Stripe's day."""
    statement = Statement(day=day, as_of=as_of)
    account_lines(results["volumes"], results["held"], statement)
    money = LedgerMoney(
        transfers=results["money"],
        orders={str(o["payment_intent"]): o for o in results["orders"]},
        withdrawals={str(w["stripe_transfer"]): w for w in results["withdrawals"]},
    )
    money_lines(money, stripe_day, stripe_around, statement)
    return statement
