-- Users' API keys, sealed with the operator's master key (AES-256-GCM; the
-- record binds account, label and version as associated data, so a row
-- copied to another account or label does not open). Never in clear.
CREATE TABLE api_keys (
    account     TEXT NOT NULL REFERENCES users (name),
    label       TEXT NOT NULL,
    venue       TEXT NOT NULL,
    version     BIGINT NOT NULL,
    sealed      TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (account, label)
);

-- A known text sealed with the master key: a wrong master key is told apart
-- from a tampered row.
CREATE TABLE key_check (
    id      BIGINT PRIMARY KEY NOT NULL CHECK (id = 1),
    sealed  TEXT NOT NULL
);
