-- A client app's credentials get their own tables: its secrets (the current one and,
-- during a rotation's grace period, the previous one) and its API keys.

CREATE TABLE client_app_secrets (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    -- The public identifier shown by the API (never the secret).
    public_id    TEXT      NOT NULL UNIQUE,
    app_id       BIGINT    NOT NULL REFERENCES client_apps(id) ON DELETE CASCADE,
    -- argon2id PHC string.
    secret_hash  TEXT      NOT NULL,
    -- The secret's last four characters (part of its public checksum): picks which
    -- hash to verify first. NULL for secrets created before this migration.
    hint         TEXT      NULL,
    created_at   TIMESTAMP NOT NULL,
    -- NULL for the current secret; the end of the grace period for the previous one.
    expires_at   TIMESTAMP NULL,
    last_used_at TIMESTAMP NULL
);
CREATE INDEX client_app_secrets_app ON client_app_secrets (app_id);
-- One current secret per app.
CREATE UNIQUE INDEX client_app_secrets_current ON client_app_secrets (app_id)
    WHERE expires_at IS NULL;

INSERT INTO client_app_secrets (public_id, app_id, secret_hash, hint, created_at)
    SELECT lower(hex(randomblob(16))), id, secret_hash, NULL, created_at
    FROM client_apps WHERE secret_hash IS NOT NULL AND deleted_at IS NULL;

ALTER TABLE client_apps DROP COLUMN secret_hash;

-- The API-key quota counter, like environments.client_app_count: incremented
-- conditionally as the first statement of the inserting transaction.
ALTER TABLE client_apps ADD COLUMN api_key_count BIGINT NOT NULL DEFAULT 0
    CHECK (api_key_count >= 0);

CREATE TABLE api_keys (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    public_id    TEXT      NOT NULL UNIQUE,
    app_id       BIGINT    NOT NULL REFERENCES client_apps(id) ON DELETE CASCADE,
    name         TEXT      NOT NULL,
    -- Lowercase hex SHA-256 of the key: the key itself is never stored.
    digest       TEXT      NOT NULL UNIQUE,
    created_at   TIMESTAMP NOT NULL,
    expires_at   TIMESTAMP NULL,
    last_used_at TIMESTAMP NULL
);
CREATE UNIQUE INDEX api_keys_app_name ON api_keys (app_id, lower(name));
CREATE INDEX api_keys_app_created ON api_keys (app_id, created_at, id);
