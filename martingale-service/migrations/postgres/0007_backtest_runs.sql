-- Backtests a user ran with `martingale backtest --user U`: the bot file,
-- where the candles came from, and the metrics (exact decimal text in JSON).
CREATE TABLE backtest_runs (
    id            BIGSERIAL PRIMARY KEY,
    account       TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE,
    source        TEXT NOT NULL,
    candles       BIGINT NOT NULL,
    closed_deals  BIGINT NOT NULL,
    realized_pnl  TEXT NOT NULL,
    bot_file      TEXT NOT NULL,
    metrics       TEXT NOT NULL,
    created_at    BIGINT NOT NULL
);
CREATE INDEX backtest_runs_by_account ON backtest_runs (account, id);
