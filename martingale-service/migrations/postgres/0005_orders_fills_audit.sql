-- What the runner wrote with each engine snapshot, in the same transaction
-- (before the orders it decided are sent): the orders, the fills the engine
-- applied, and the audit trail. `events` is the snapshot's event count at
-- the write: a paper bot resumed from its replay checkpoint drops the rows
-- written after it (they are replayed again).

-- Every order a bot decided, by its deterministic client order id, with its
-- last known state (sent, open, partly_filled, filled, cancel_sent,
-- canceled, rejected, expired).
CREATE TABLE orders (
    bot_id          TEXT NOT NULL REFERENCES bots (bot_id) ON DELETE CASCADE,
    client_order_id TEXT NOT NULL,
    account         TEXT NOT NULL,
    role            TEXT NOT NULL,
    side            TEXT NOT NULL,
    kind            TEXT NOT NULL,
    price           TEXT,
    quantity        TEXT NOT NULL,
    state           TEXT NOT NULL,
    filled          TEXT NOT NULL,
    events          BIGINT NOT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    PRIMARY KEY (bot_id, client_order_id)
);
CREATE INDEX orders_by_account ON orders (account, created_at);

-- Fills as the engine applied them. The runner learns fills as each
-- order's cumulative quantity on the venue, so a fill is identified by its
-- order and the cumulative quantity it reached: a report delivered twice is
-- stored once.
CREATE TABLE fills (
    bot_id          TEXT NOT NULL REFERENCES bots (bot_id) ON DELETE CASCADE,
    client_order_id TEXT NOT NULL,
    cumulative_qty  TEXT NOT NULL,
    quantity        TEXT NOT NULL,
    price           TEXT NOT NULL,
    account         TEXT NOT NULL,
    time            BIGINT NOT NULL,
    events          BIGINT NOT NULL,
    PRIMARY KEY (bot_id, client_order_id, cumulative_qty)
);

-- The audit trail: one JSON line per engine event, action and note.
CREATE TABLE audit (
    id          BIGSERIAL PRIMARY KEY,
    bot_id      TEXT NOT NULL REFERENCES bots (bot_id) ON DELETE CASCADE,
    account     TEXT NOT NULL,
    time        BIGINT NOT NULL,
    events      BIGINT NOT NULL,
    kind        TEXT NOT NULL,
    line        TEXT NOT NULL
);
CREATE INDEX audit_by_bot ON audit (bot_id, id);
