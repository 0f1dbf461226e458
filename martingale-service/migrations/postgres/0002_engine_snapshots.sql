-- The runner's engine snapshots, one row per bot, replaced on every state
-- change. `state` is the checksummed snapshot text the runner writes (the
-- same text the file store keeps); `format` and `events` are copied from it
-- so an operator can query them without parsing.
CREATE TABLE engine_snapshots (
    bot_id      TEXT PRIMARY KEY NOT NULL REFERENCES bots (bot_id) ON DELETE CASCADE,
    format      BIGINT NOT NULL,
    events      BIGINT NOT NULL,
    state       TEXT NOT NULL,
    updated_at  BIGINT NOT NULL
);
