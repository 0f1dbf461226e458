-- The operator service's schema (SQLite). Money and quantities are exact
-- decimal text; times are milliseconds since the Unix epoch.
CREATE TABLE users (
    name        TEXT PRIMARY KEY NOT NULL,
    created_at  BIGINT NOT NULL
);

-- One row per service database: the process that owns it (one `serve` at a
-- time; several processes with per-bot leases are a later step).
CREATE TABLE service_owner (
    id          BIGINT PRIMARY KEY NOT NULL CHECK (id = 1),
    holder      TEXT NOT NULL,
    pid         BIGINT NOT NULL,
    acquired_at BIGINT NOT NULL,
    heartbeat   BIGINT NOT NULL
);

CREATE TABLE bots (
    account       TEXT NOT NULL REFERENCES users (name),
    bot_id        TEXT NOT NULL,
    venue         TEXT NOT NULL,
    symbol        TEXT NOT NULL,
    key_label     TEXT,
    bot_file      TEXT NOT NULL,
    desired_state TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    PRIMARY KEY (bot_id)
);
CREATE INDEX bots_by_account ON bots (account);

-- Commands for running bots, written by the CLI, applied by `serve`.
CREATE TABLE bot_commands (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    bot_id      TEXT NOT NULL REFERENCES bots (bot_id) ON DELETE CASCADE,
    command     TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    done_at     BIGINT,
    outcome     TEXT
);
CREATE INDEX bot_commands_pending ON bot_commands (done_at, id);
