-- The ledger as of the export, in relations the audit and the statement read. Written once: the
-- same text runs on Athena (Trino) and DuckDB. Both engines are given two relations of the export's
-- files, ddb_full (a full export's `Item` lines) and ddb_incremental (incremental exports' change
-- lines), with the columns coins.books.schema declares, and audit_settings (one row).

-- Every item as of the last export: the full export's image, replaced by the latest change an
-- incremental export recorded for its key (and gone when that change deleted it).
CREATE OR REPLACE VIEW ledger_items AS
WITH changes AS (
  SELECT c."Keys".PK.S AS pk, c."Keys".SK.S AS sk, c.NewImage AS item,
         row_number() OVER (
           PARTITION BY c."Keys".PK.S, c."Keys".SK.S
           ORDER BY CAST(c.Metadata.WriteTimestampMicros.N AS BIGINT) DESC
         ) AS latest
  FROM ddb_incremental c
)
SELECT f.Item AS item FROM ddb_full f
WHERE NOT EXISTS (SELECT 1 FROM changes c WHERE c.pk = f.Item.PK.S AND c.sk = f.Item.SK.S)
UNION ALL
SELECT item FROM changes WHERE latest = 1 AND item IS NOT NULL;

-- One row an item, its attributes typed (numbers are exact integers; ids and codes are strings).
CREATE OR REPLACE VIEW ledger_rows AS
SELECT
  item.PK.S AS pk,
  item.SK.S AS sk,
  COALESCE(item.kind.S, '') AS kind,
  item.code.S AS code,
  item.transfer_id.S AS transfer_id,
  item.created_at.S AS created_at,
  CAST(item.balance.N AS BIGINT) AS balance,
  CAST(item.amount.N AS BIGINT) AS amount,
  item.account.S AS account,
  item.unit.S AS unit,
  item.HPK.S AS hpk,
  CAST(item.coins.N AS BIGINT) AS coins,
  CAST(item.millidiamonds.N AS BIGINT) AS millidiamonds,
  CAST(item.settled_coins.N AS BIGINT) AS settled_coins,
  lower(to_hex(from_base64(item.settles.B))) AS settles_hex,
  item.user_id.S AS user_id,
  item.counterparty_id.S AS counterparty_id,
  COALESCE(item.order_id.S, item.details.M.order_id.S) AS order_id,
  item.status.S AS status,
  item.terms.M.session_id.S AS terms_session_id,
  COALESCE(item.terms.M.diamonds_per_coin.S, item.terms.M.diamonds_per_coin.N) AS terms_rate,
  CAST(item.terms.M.amount.N AS BIGINT) AS terms_amount,
  item.terms.M.currency.S AS terms_currency,
  item.terms.M.reason.S AS terms_reason,
  item.terms.M.stripe_transfer.S AS terms_stripe_transfer,
  item.terms.M.diamond_value.S AS terms_diamond_value,
  COALESCE(item.terms.M.source.S, item.details.M.source.S) AS terms_source,
  item.details.M.withdrawal_id.S AS details_withdrawal_id,
  item.details.M.stripe_transfer.S AS details_stripe_transfer,
  item.approved_by.S AS approved_by,
  item.requested_by.S AS requested_by,
  item.adjustment_id.S AS adjustment_id,
  CAST(item.clawed_coins.N AS BIGINT) AS clawed_coins,
  CAST(item.refunded_amount.N AS BIGINT) AS refunded_amount,
  CAST(item.disputed_amount.N AS BIGINT) AS disputed_amount,
  CAST(item.debt_coins.N AS BIGINT) AS debt_coins,
  item.payment_intent.S AS payment_intent,
  item.session_id.S AS session_id,
  item.paid_at.S AS paid_at,
  item.currency.S AS currency,
  item.withdrawal_id.S AS withdrawal_id,
  CAST(item.diamonds.N AS BIGINT) AS diamonds,
  CAST(item.reversed_amount.N AS BIGINT) AS reversed_amount,
  cardinality(item.legs.L) AS leg_count
FROM ledger_items;

-- Account kinds, the unit each counts in, and whether the system owns it (coins.ledger).
CREATE OR REPLACE VIEW account_units AS
SELECT * FROM (
  VALUES
    ('coins', 'coin', FALSE), ('coin_debt', 'coin', FALSE),
    ('diamonds_pending', 'diamond', FALSE), ('diamonds_available', 'diamond', FALSE),
    ('diamonds_reserved', 'diamond', FALSE),
    ('coins_issued', 'coin', TRUE), ('promotions', 'coin', TRUE), ('coin_corrections', 'coin', TRUE),
    ('gift_revenue', 'coin', TRUE), ('gifts_in_flight', 'coin', TRUE),
    ('diamonds_issued', 'diamond', TRUE), ('diamond_corrections', 'diamond', TRUE),
    ('diamonds_paid_out', 'diamond', TRUE)
) AS a(account, unit, is_system);

-- Balance items: ACCT#<owner>#<kind>#<shard> / BAL.
CREATE OR REPLACE VIEW ledger_balances AS
SELECT split_part(pk, '#', 2) AS owner, split_part(pk, '#', 3) AS account,
       CAST(split_part(pk, '#', 4) AS INTEGER) AS shard, COALESCE(balance, 0) AS balance
FROM ledger_rows
WHERE pk LIKE 'ACCT#%' AND sk = 'BAL';

-- Committed transfers (a refused request's record under a transfer's key is not one).
CREATE OR REPLACE VIEW ledger_transfers AS
SELECT * FROM ledger_rows
WHERE pk LIKE 'XFER#%' AND sk = 'XFER' AND kind <> 'refusal';

-- Each leg of each transfer that has legs (a gift has none: it moves the fan's coins into flight).
-- Legs are read by position, guarded by the list's length, so both engines read them alike.
CREATE OR REPLACE VIEW ledger_legs AS
SELECT
  t.item.transfer_id.S AS transfer_id,
  t.item.code.S AS code,
  t.item.created_at.S AS created_at,
  n.position,
  CASE WHEN n.position <= cardinality(t.item.legs.L) THEN t.item.legs.L[n.position].M.debit.S END AS debit,
  CASE WHEN n.position <= cardinality(t.item.legs.L) THEN t.item.legs.L[n.position].M.credit.S END AS credit,
  CASE WHEN n.position <= cardinality(t.item.legs.L)
       THEN CAST(t.item.legs.L[n.position].M.amount.N AS BIGINT) END AS amount
FROM (
  SELECT item FROM ledger_items
  WHERE item.PK.S LIKE 'XFER#%' AND item.SK.S = 'XFER' AND cardinality(item.legs.L) > 0
) t
CROSS JOIN (
  VALUES (1), (2), (3), (4), (5), (6), (7), (8), (9), (10), (11), (12), (13), (14), (15), (16),
         (17), (18), (19), (20), (21), (22), (23), (24), (25), (26), (27), (28), (29), (30), (31), (32)
) AS n(position)
WHERE n.position <= cardinality(t.item.legs.L);

-- Each leg's two sides as postings: owner, account, signed amount.
CREATE OR REPLACE VIEW ledger_leg_postings AS
SELECT transfer_id, code, created_at, split_part(debit, ':', 1) AS owner, split_part(debit, ':', 2) AS account,
       -amount AS amount
FROM ledger_legs
UNION ALL
SELECT transfer_id, code, created_at, split_part(credit, ':', 1), split_part(credit, ':', 2), amount
FROM ledger_legs;

-- Entries of users' history: history rows, gift transfers (the fan's debit), settlement and refund rows.
CREATE OR REPLACE VIEW ledger_postings AS
SELECT hpk AS owner, account, amount, transfer_id, created_at,
       CASE WHEN kind IN ('gift', 'gift_settlement', 'gift_refund') THEN kind ELSE 'history' END AS source,
       settled_coins
FROM ledger_rows
WHERE hpk IS NOT NULL AND account IS NOT NULL AND amount IS NOT NULL
  AND NOT (pk LIKE 'XFER#%' AND kind = 'refusal');

-- The gifts each settlement or refund row settled (15 bytes an id, 'gi_' + 30 hex digits).
CREATE OR REPLACE VIEW ledger_settled AS
SELECT r.transfer_id AS row_id, r.hpk AS owner, r.kind AS source, r.amount AS row_amount,
       r.created_at AS settled_at, 'gi_' || g.hex AS gift_id
FROM ledger_rows r
CROSS JOIN UNNEST(regexp_extract_all(r.settles_hex, '[0-9a-f]{30}')) AS g(hex)
WHERE r.settles_hex IS NOT NULL;

-- Gift transfers: the fan, the creator, coins, the creator's exact share and the rate it was sent at.
CREATE OR REPLACE VIEW ledger_gifts AS
SELECT t.transfer_id, t.user_id AS fan, t.counterparty_id AS creator, t.coins, t.millidiamonds,
       t.created_at, COALESCE(t.terms_rate, s.diamonds_per_coin) AS rate
FROM ledger_transfers t CROSS JOIN audit_settings s
WHERE t.code = 'gift' AND t.leg_count IS NULL;

-- Orders and withdrawals.
CREATE OR REPLACE VIEW ledger_orders AS
SELECT * FROM ledger_rows WHERE pk LIKE 'ORDER#%' AND sk = 'ORDER';

CREATE OR REPLACE VIEW ledger_withdrawals AS
SELECT * FROM ledger_rows WHERE pk LIKE 'CREATOR#%' AND sk LIKE 'WDR#%';

-- Every movement of every account, with when it happened and why (its code): the legs of
-- transfers; a gift's two sides (the fan's coins into flight); a settlement row's four (the
-- creator's pending diamonds and the diamonds issued for them, the coins out of flight into gift
-- revenue); a gift refund row's two (the coins out of flight back to the fan). User accounts are
-- summed over their owners (owner_kind 'user'); system accounts keep their own name.
CREATE OR REPLACE VIEW books_movements AS
SELECT created_at AS moved_at, CASE WHEN owner = 'system' THEN 'system' ELSE 'user' END AS owner_kind,
       account, code, amount
FROM ledger_leg_postings
UNION ALL
SELECT created_at, 'user', 'coins', 'gift', -coins FROM ledger_gifts
UNION ALL
SELECT created_at, 'system', 'gifts_in_flight', 'gift', coins FROM ledger_gifts
UNION ALL
SELECT created_at, 'user', 'diamonds_pending', 'gift_settlement', amount
FROM ledger_postings WHERE source = 'gift_settlement'
UNION ALL
SELECT created_at, 'system', 'diamonds_issued', 'gift_settlement', -amount
FROM ledger_postings WHERE source = 'gift_settlement'
UNION ALL
SELECT created_at, 'system', 'gift_revenue', 'gift_settlement', settled_coins
FROM ledger_postings WHERE source = 'gift_settlement'
UNION ALL
SELECT created_at, 'system', 'gifts_in_flight', 'gift_settlement', -settled_coins
FROM ledger_postings WHERE source = 'gift_settlement'
UNION ALL
SELECT created_at, 'user', 'coins', 'gift_refunded', amount
FROM ledger_postings WHERE source = 'gift_refund'
UNION ALL
SELECT created_at, 'system', 'gifts_in_flight', 'gift_refunded', -settled_coins
FROM ledger_postings WHERE source = 'gift_refund'
