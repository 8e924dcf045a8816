-- The daily statement's queries, over views.sql and statement_day (day_start, day_end: the day's
-- bounds as the table's ISO timestamps). Each query is named by the comment line before it.

-- name: volumes
-- Each account (users' summed by kind, each system account) by why it moved (the code): what it
-- held before the day, what came in and went out on it, what moved after it (to the export).
SELECT m.owner_kind, m.account, m.code,
       SUM(CASE WHEN m.moved_at < d.day_start THEN m.amount ELSE 0 END) AS opening,
       SUM(CASE WHEN m.moved_at >= d.day_start AND m.moved_at < d.day_end AND m.amount > 0
                THEN m.amount ELSE 0 END) AS increase,
       SUM(CASE WHEN m.moved_at >= d.day_start AND m.moved_at < d.day_end AND m.amount < 0
                THEN -m.amount ELSE 0 END) AS decrease,
       SUM(CASE WHEN m.moved_at >= d.day_end THEN m.amount ELSE 0 END) AS later
FROM books_movements m CROSS JOIN statement_day d
GROUP BY m.owner_kind, m.account, m.code
ORDER BY 1, 2, 3;

-- name: held
-- What the balance items hold now, users' summed by kind (gifts in flight has none: it is derived).
SELECT CASE WHEN owner = 'system' THEN 'system' ELSE 'user' END AS owner_kind, account, SUM(balance) AS balance
FROM ledger_balances
GROUP BY CASE WHEN owner = 'system' THEN 'system' ELSE 'user' END, account
ORDER BY 1, 2;

-- name: money
-- The day's transfers that carry money, with their money as the ledger recorded it: purchases (the
-- order's price and currency), withdrawals reserved (their cash value, the diamonds reserved and the
-- diamond value they were reserved at), payouts (the Stripe transfer and its amount); clawbacks
-- and restorations (the order they belong to: their money is Stripe's refund or dispute).
SELECT t.transfer_id, t.code, t.created_at, t.order_id, t.terms_currency AS currency,
       t.terms_amount AS amount, t.terms_reason AS reason, t.terms_session_id AS session_id,
       COALESCE(t.details_stripe_transfer, t.terms_stripe_transfer) AS stripe_transfer,
       t.terms_diamond_value AS diamond_value,
       (SELECT SUM(l.amount) FROM ledger_legs l WHERE l.transfer_id = t.transfer_id) AS moved
FROM ledger_transfers t CROSS JOIN statement_day d
WHERE t.created_at >= d.day_start AND t.created_at < d.day_end
  AND t.code IN ('purchase', 'withdrawal', 'payout', 'payout_voided', 'payout_reversed', 'clawback', 'restoration')
ORDER BY t.created_at, t.transfer_id;

-- name: orders
-- Every paid order's money as the ledger last recorded it (Stripe's refunds and disputes are matched to these).
SELECT order_id, payment_intent, currency, amount, COALESCE(refunded_amount, 0) AS refunded_amount,
       COALESCE(disputed_amount, 0) AS disputed_amount, COALESCE(clawed_coins, 0) AS clawed_coins,
       status, paid_at
FROM ledger_orders
WHERE payment_intent IS NOT NULL;

-- name: withdrawals
-- Every withdrawal paid through Stripe, by its Stripe transfer (Stripe's transfers and reversals
-- are matched to these).
SELECT withdrawal_id, transfer_id AS stripe_transfer, currency, amount, COALESCE(reversed_amount, 0) AS reversed_amount,
       status
FROM ledger_withdrawals
WHERE transfer_id IS NOT NULL
