-- Closed deals, as the engine reported them (exact decimal text); one row
-- per deal: a deal reported twice (a replayed step after a restart) is
-- stored once.
CREATE TABLE deals (
    bot_id       TEXT NOT NULL REFERENCES bots (bot_id) ON DELETE CASCADE,
    account      TEXT NOT NULL,
    number       BIGINT NOT NULL,
    started_at   BIGINT NOT NULL,
    closed_at    BIGINT NOT NULL,
    exit_kind    TEXT NOT NULL,
    pnl          TEXT NOT NULL,
    report       TEXT NOT NULL,
    PRIMARY KEY (bot_id, started_at, number)
);
CREATE INDEX deals_by_account ON deals (account, closed_at);

-- What each running bot is doing, written by `serve` at every change.
CREATE TABLE bot_status (
    bot_id          TEXT PRIMARY KEY NOT NULL REFERENCES bots (bot_id) ON DELETE CASCADE,
    account         TEXT NOT NULL,
    running         BIGINT NOT NULL,
    mode            TEXT NOT NULL,
    phase           TEXT NOT NULL,
    deal            BIGINT,
    position        TEXT,
    average_price   TEXT,
    last_price      TEXT,
    unrealized_pnl  TEXT,
    closed_deals    BIGINT NOT NULL,
    realized_pnl    TEXT NOT NULL,
    last_error      TEXT,
    restarts        BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
