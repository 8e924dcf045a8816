-- Every invariant the ledger checker proves, over the whole history as of the export. One row per
-- finding: kind (coins.ledger_check.DiscrepancyKind), subject, detail. No row: the books are clean.
-- The same text runs on Athena and DuckDB, over the views of views.sql.
WITH
user_balances AS (
  SELECT b.owner, b.account, SUM(b.balance) AS balance
  FROM ledger_balances b JOIN account_units a ON a.account = b.account
  WHERE NOT a.is_system
  GROUP BY b.owner, b.account
),
entry_sums AS (
  SELECT owner, account, SUM(amount) AS amount FROM ledger_postings GROUP BY owner, account
),
in_flight AS (
  SELECT (SELECT COALESCE(SUM(coins), 0) FROM ledger_gifts)
       - (SELECT COALESCE(SUM(settled_coins), 0) FROM ledger_postings
          WHERE source IN ('gift_settlement', 'gift_refund')) AS coins
),
unit_sums AS (
  SELECT a.unit, SUM(b.balance) AS total
  FROM ledger_balances b JOIN account_units a ON a.account = b.account
  GROUP BY a.unit
),
units_not_zero AS (
  SELECT 'unit_not_zero' AS kind, u.unit AS subject,
         u.unit || ' balances sum to ' || CAST(u.total + CASE WHEN u.unit = 'coin' THEN f.coins ELSE 0 END AS VARCHAR)
           AS detail
  FROM unit_sums u CROSS JOIN in_flight f
  WHERE u.total + CASE WHEN u.unit = 'coin' THEN f.coins ELSE 0 END <> 0
),
negative_balances AS (
  SELECT 'negative_balance', owner || ':' || account,
         CASE WHEN account = 'coin_debt' THEN 'debt account at +' ELSE 'balance ' END || CAST(balance AS VARCHAR)
  FROM user_balances
  WHERE (account <> 'coin_debt' AND balance < 0) OR (account = 'coin_debt' AND balance > 0)
),
bad_legs AS (
  SELECT 'unbalanced_transfer', l.transfer_id,
         'leg ' || CAST(l.position AS VARCHAR) || ' debits ' || COALESCE(l.debit, '?') || ' and credits '
           || COALESCE(l.credit, '?') || ' by ' || COALESCE(CAST(l.amount AS VARCHAR), '?')
  FROM ledger_legs l
  LEFT JOIN account_units d ON d.account = split_part(l.debit, ':', 2)
  LEFT JOIN account_units c ON c.account = split_part(l.credit, ':', 2)
  WHERE d.unit IS NULL OR c.unit IS NULL OR d.unit <> c.unit OR l.amount IS NULL OR l.amount <= 0
),
too_many_legs AS (
  SELECT 'unbalanced_transfer', transfer_id, CAST(leg_count AS VARCHAR) || ' legs: the audit reads 32 at most'
  FROM ledger_transfers WHERE leg_count > 32
),
wanted_entries AS (
  SELECT p.transfer_id, p.owner, p.account, SUM(p.amount) AS amount
  FROM ledger_leg_postings p
  WHERE p.owner <> 'system'
  GROUP BY p.transfer_id, p.owner, p.account
  HAVING SUM(p.amount) <> 0
),
written_entries AS (
  SELECT transfer_id, owner, account, SUM(amount) AS amount
  FROM ledger_postings WHERE source = 'history'
  GROUP BY transfer_id, owner, account
  HAVING SUM(amount) <> 0
),
missing_entries AS (
  SELECT DISTINCT 'missing_entries', COALESCE(w.transfer_id, h.transfer_id),
         'legs move ' || COALESCE(w.owner, h.owner) || ':' || COALESCE(w.account, h.account) || ' '
           || COALESCE(CAST(w.amount AS VARCHAR), '0') || ', history rows say '
           || COALESCE(CAST(h.amount AS VARCHAR), '0')
  FROM wanted_entries w
  FULL OUTER JOIN written_entries h
    ON h.transfer_id = w.transfer_id AND h.owner = w.owner AND h.account = w.account
  WHERE (w.amount IS NULL OR h.amount IS NULL OR w.amount <> h.amount)
    AND COALESCE(w.transfer_id, h.transfer_id) IN (SELECT transfer_id FROM ledger_transfers)
),
orphan_entries AS (
  SELECT 'orphan_entry', p.transfer_id,
         'history row of ' || p.owner || ':' || p.account || ' names no committed transfer'
  FROM ledger_postings p
  WHERE p.source = 'history' AND p.transfer_id NOT IN (SELECT transfer_id FROM ledger_transfers)
  UNION ALL
  SELECT 'orphan_entry', s.row_id, 'settles unknown gift ' || s.gift_id
  FROM ledger_settled s
  WHERE s.gift_id NOT IN (SELECT transfer_id FROM ledger_gifts)
),
balances_not_entries AS (
  SELECT 'balance_not_entries', COALESCE(b.owner, e.owner) || ':' || COALESCE(b.account, e.account),
         'balance ' || CAST(COALESCE(b.balance, 0) AS VARCHAR) || ', its entries sum to '
           || CAST(COALESCE(e.amount, 0) AS VARCHAR)
  FROM user_balances b
  FULL OUTER JOIN entry_sums e ON e.owner = b.owner AND e.account = b.account
  WHERE COALESCE(b.balance, 0) <> COALESCE(e.amount, 0)
),
order_moves AS (
  SELECT t.order_id, t.code, COUNT(DISTINCT t.transfer_id) AS transfers, COALESCE(SUM(l.amount), 0) AS coins
  FROM ledger_transfers t
  LEFT JOIN ledger_legs l ON l.transfer_id = t.transfer_id
  LEFT JOIN account_units u ON u.account = split_part(l.debit, ':', 2)
  WHERE t.order_id IS NOT NULL AND (u.unit = 'coin' OR l.transfer_id IS NULL)
  GROUP BY t.order_id, t.code
),
order_summary AS (
  SELECT o.order_id, o.status, o.coins, COALESCE(o.clawed_coins, 0) AS clawed_coins,
         o.status IN ('paid', 'partially_refunded', 'refunded', 'disputed', 'dispute_won', 'dispute_lost')
           AS credited,
         COALESCE(SUM(CASE WHEN m.code = 'purchase' THEN m.coins END), 0) AS purchased,
         COALESCE(SUM(CASE WHEN m.code = 'purchase' THEN m.transfers END), 0) AS purchases,
         COALESCE(SUM(CASE WHEN m.code = 'clawback' THEN m.coins END), 0)
           - COALESCE(SUM(CASE WHEN m.code = 'restoration' THEN m.coins END), 0) AS clawed
  FROM ledger_orders o LEFT JOIN order_moves m ON m.order_id = o.order_id
  GROUP BY o.order_id, o.status, o.coins, o.clawed_coins
),
order_credits AS (
  SELECT 'order_credit', order_id,
         'order ' || status || ' of ' || CAST(coins AS VARCHAR) || ' coins, purchases credited '
           || CAST(purchased AS VARCHAR)
  FROM order_summary
  WHERE purchases > 1 OR purchased <> CASE WHEN credited THEN coins ELSE 0 END
  UNION ALL
  SELECT 'order_credit', order_id,
         'order says ' || CAST(clawed_coins AS VARCHAR) || ' coins clawed back, its transfers '
           || CAST(clawed AS VARCHAR)
  FROM order_summary WHERE clawed <> clawed_coins
  UNION ALL
  SELECT DISTINCT 'order_credit', order_id, 'coins moved for an order that does not exist'
  FROM order_moves WHERE order_id NOT IN (SELECT order_id FROM ledger_orders)
),
coins_backed AS (
  SELECT 'coins_not_backed', 'coins_issued',
         CAST(i.issued AS VARCHAR) || ' coins issued, paid orders less clawbacks come to '
           || CAST(o.expected AS VARCHAR)
  FROM (SELECT -COALESCE(SUM(balance), 0) AS issued FROM ledger_balances WHERE account = 'coins_issued') i
  CROSS JOIN (
    SELECT COALESCE(SUM(coins - clawed_coins), 0) AS expected FROM order_summary WHERE credited
  ) o
  WHERE i.issued <> o.expected
),
settled_rows AS (
  SELECT s.row_id, s.source, MAX(s.row_amount) AS row_amount,
         SUM(CASE WHEN s.source = 'gift_settlement' THEN g.millidiamonds ELSE g.coins END) AS expected
  FROM ledger_settled s JOIN ledger_gifts g ON g.transfer_id = s.gift_id
  GROUP BY s.row_id, s.source
),
gift_rates AS (
  SELECT 'gift_rate', row_id,
         source || ' row moves ' || CAST(row_amount AS VARCHAR) || ', its gifts come to '
           || CAST(expected AS VARCHAR)
  FROM settled_rows WHERE row_amount <> expected
  UNION ALL
  SELECT 'gift_rate', transfer_id,
         CAST(coins AS VARCHAR) || ' coins earn ' || CAST(millidiamonds AS VARCHAR) || ' millidiamonds at ' || rate
  FROM ledger_gifts
  WHERE CAST(millidiamonds AS DECIMAL(38, 10))
          * COALESCE(CAST(NULLIF(split_part(rate, '/', 2), '') AS DECIMAL(38, 10)), 1)
        <> CAST(coins AS DECIMAL(38, 10)) * CAST(split_part(rate, '/', 1) AS DECIMAL(38, 10)) * 1000
),
settled_twice AS (
  SELECT 'gift_settled_twice', gift_id, 'settled ' || CAST(COUNT(*) AS VARCHAR) || ' times'
  FROM ledger_settled GROUP BY gift_id HAVING COUNT(*) > 1
),
diamonds_issued AS (
  SELECT 'creator_diamonds', 'diamonds_issued',
         CAST(i.issued AS VARCHAR) || ' millidiamonds issued; settlements and transfers come to '
           || CAST(s.credited + l.net AS VARCHAR)
  FROM (SELECT -COALESCE(SUM(balance), 0) AS issued FROM ledger_balances WHERE account = 'diamonds_issued') i
  CROSS JOIN (
    SELECT COALESCE(SUM(amount), 0) AS credited FROM ledger_postings WHERE source = 'gift_settlement'
  ) s
  CROSS JOIN (
    SELECT COALESCE(SUM(-amount), 0) AS net FROM ledger_leg_postings
    WHERE owner = 'system' AND account = 'diamonds_issued'
  ) l
  WHERE i.issued <> s.credited + l.net
),
reserved AS (
  SELECT COALESCE(h.owner, w.user_id) AS owner, COALESCE(h.balance, 0) AS held, COALESCE(w.open, 0) AS open
  FROM (SELECT owner, balance FROM user_balances WHERE account = 'diamonds_reserved') h
  FULL OUTER JOIN (
    SELECT user_id, SUM(diamonds) * 1000 AS open FROM ledger_withdrawals WHERE status = 'reserved'
    GROUP BY user_id
  ) w ON w.user_id = h.owner
),
reserved_not_open AS (
  SELECT 'reserved_not_open_withdrawals', owner,
         'reserved ' || CAST(held AS VARCHAR) || ' millidiamonds, open withdrawals ' || CAST(open AS VARCHAR)
  FROM reserved WHERE held <> open
),
payouts AS (
  SELECT details_withdrawal_id AS withdrawal_id, COUNT(*) AS posted,
         MIN(details_stripe_transfer) AS first_transfer, MAX(details_stripe_transfer) AS last_transfer
  FROM ledger_transfers WHERE code = 'payout'
  GROUP BY details_withdrawal_id
),
payout_ledger AS (
  SELECT 'payout_ledger', w.withdrawal_id,
         'withdrawal ' || w.status || ' with Stripe transfer ' || COALESCE(w.transfer_id, 'none')
           || ', payouts posted ' || CAST(COALESCE(p.posted, 0) AS VARCHAR)
  FROM ledger_withdrawals w LEFT JOIN payouts p ON p.withdrawal_id = w.withdrawal_id
  WHERE CASE
          WHEN w.status IN ('paid', 'reversed')
            THEN COALESCE(p.posted, 0) <> 1 OR p.first_transfer IS NULL OR p.first_transfer <> w.transfer_id
          ELSE COALESCE(p.posted, 0) <> 0
        END
),
double_payouts AS (
  SELECT 'double_payout', transfer_id, 'one Stripe transfer pays ' || CAST(COUNT(*) AS VARCHAR) || ' withdrawals'
  FROM ledger_withdrawals
  WHERE status IN ('paid', 'reversed') AND transfer_id IS NOT NULL
  GROUP BY transfer_id HAVING COUNT(*) > 1
),
adjustment_approvals AS (
  SELECT 'adjustment_approval', a.adjustment_id,
         CASE
           WHEN a.status <> 'approved' THEN a.status || ', yet committed'
           WHEN t.transfer_id IS NULL THEN 'approved, never committed'
           ELSE 'asked by ' || COALESCE(a.requested_by, '?') || ', committed as approved by '
                  || COALESCE(t.approved_by, 'nobody') || ', marked approved by ' || COALESCE(a.approved_by, 'nobody')
         END
  FROM (SELECT * FROM ledger_rows WHERE pk LIKE 'XFER#%' AND sk = 'ADJ') a
  LEFT JOIN ledger_transfers t ON t.transfer_id = a.adjustment_id
  WHERE (a.status <> 'approved' AND t.transfer_id IS NOT NULL)
     OR (a.status = 'approved' AND (
           t.transfer_id IS NULL OR a.approved_by IS NULL OR a.approved_by = a.requested_by
           OR t.approved_by IS NULL OR t.approved_by <> a.approved_by))
),
unsettled AS (
  SELECT 'gift_unsettled', g.transfer_id,
         CAST(g.coins AS VARCHAR) || ' coins from ' || g.fan || ' to ' || g.creator || ', sent '
           || g.created_at || ', still in flight'
  FROM ledger_gifts g CROSS JOIN audit_settings s
  WHERE g.created_at < s.settled_by
    AND g.transfer_id NOT IN (SELECT gift_id FROM ledger_settled)
)
SELECT * FROM units_not_zero
UNION ALL SELECT * FROM negative_balances
UNION ALL SELECT * FROM bad_legs
UNION ALL SELECT * FROM too_many_legs
UNION ALL SELECT * FROM missing_entries
UNION ALL SELECT * FROM orphan_entries
UNION ALL SELECT * FROM balances_not_entries
UNION ALL SELECT * FROM order_credits
UNION ALL SELECT * FROM coins_backed
UNION ALL SELECT * FROM gift_rates
UNION ALL SELECT * FROM settled_twice
UNION ALL SELECT * FROM diamonds_issued
UNION ALL SELECT * FROM reserved_not_open
UNION ALL SELECT * FROM payout_ledger
UNION ALL SELECT * FROM double_payouts
UNION ALL SELECT * FROM adjustment_approvals
UNION ALL SELECT * FROM unsettled
