-- The runner's engine snapshots, one row per bot, replaced on every state
-- change. `state` is the checksummed snapshot text the runner writes (the
-- same text the file store keeps); `format` and `events` are copied from it
-- so an operator can query them without parsing. `checkpoint` is the state
-- at the end of the last polling interval of a paper replay: the paper
-- venue lives in the service's memory, so after a crash the replay resumes
-- from there (the venue's state at that point is rebuilt from it);
-- `replayed_until` is the last millisecond of the last candle the
-- checkpoint has replayed.
CREATE TABLE engine_snapshots (
    bot_id      TEXT PRIMARY KEY NOT NULL REFERENCES bots (bot_id) ON DELETE CASCADE,
    format      BIGINT NOT NULL,
    events      BIGINT NOT NULL,
    state       TEXT NOT NULL,
    checkpoint  TEXT,
    replayed_until BIGINT,
    updated_at  BIGINT NOT NULL
);
