-- Signal fan-out: a user's strategy, users' subscriptions to it (a user may
-- follow one strategy with several bots, each its own bot id), its
-- queued signals, and each subscriber's trade per signal. Prices and
-- quantities are exact decimal text.
CREATE TABLE strategies (
    strategy_id TEXT PRIMARY KEY NOT NULL,
    account     TEXT NOT NULL REFERENCES users (name),
    venue       TEXT NOT NULL,
    symbol      TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE subscriptions (
    strategy_id TEXT NOT NULL REFERENCES strategies (strategy_id) ON DELETE CASCADE,
    account     TEXT NOT NULL REFERENCES users (name),
    bot_id      TEXT NOT NULL UNIQUE,
    key_label   TEXT NOT NULL,
    sizing      TEXT NOT NULL,
    paused      BIGINT NOT NULL DEFAULT 0,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (strategy_id, bot_id)
);

-- The queue: entry signals carry the signal JSON; exits close every open
-- trade of the strategy. taken_at is written before a signal is applied.
CREATE TABLE strategy_signals (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    strategy_id TEXT NOT NULL REFERENCES strategies (strategy_id) ON DELETE CASCADE,
    seq         BIGINT NOT NULL,
    kind        TEXT NOT NULL,
    signal      TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    taken_at    BIGINT,
    outcome     TEXT
);
CREATE INDEX strategy_signals_pending ON strategy_signals (taken_at, id);

CREATE TABLE trades (
    strategy_id TEXT NOT NULL REFERENCES strategies (strategy_id) ON DELETE CASCADE,
    seq         BIGINT NOT NULL,
    account     TEXT NOT NULL REFERENCES users (name),
    bot_id      TEXT NOT NULL,
    key_label   TEXT NOT NULL,
    state       TEXT NOT NULL,
    side        TEXT NOT NULL,
    quantity    TEXT NOT NULL,
    filled      TEXT NOT NULL,
    entry_price TEXT,
    exited      TEXT NOT NULL,
    exit_price  TEXT,
    pnl         TEXT,
    reason      TEXT,
    machine     TEXT NOT NULL,
    last_error  TEXT,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (strategy_id, seq, bot_id)
);
CREATE INDEX trades_live ON trades (state);
