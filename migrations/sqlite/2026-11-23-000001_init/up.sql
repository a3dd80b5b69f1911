-- Keyward schema, SQLite. Timestamps are UTC without zone (diesel `Timestamp`).

CREATE TABLE environments (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    slug             TEXT    NOT NULL UNIQUE,
    name             TEXT    NOT NULL,
    enabled          BOOLEAN NOT NULL DEFAULT 1,
    -- The quota counter: incremented conditionally as the first statement of the
    -- inserting transaction, decremented by the deleting one (see docs/ARCHITECTURE.md).
    client_app_count BIGINT  NOT NULL DEFAULT 0 CHECK (client_app_count >= 0),
    created_at       TIMESTAMP NOT NULL
);

CREATE TABLE roles (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    environment_id BIGINT  NOT NULL REFERENCES environments(id),
    name           TEXT    NOT NULL,
    -- 'super_admin' / 'admin' for the built-in roles (permissions come from code).
    builtin        TEXT    NULL,
    -- Space-separated permissions, each validated before it is written.
    permissions    TEXT    NOT NULL DEFAULT '',
    created_at     TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX roles_environment_name ON roles (environment_id, lower(name));
CREATE INDEX roles_environment_created ON roles (environment_id, created_at, id);

CREATE TABLE client_apps (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    environment_id BIGINT  NOT NULL REFERENCES environments(id),
    name           TEXT    NOT NULL,
    -- Never reused: a deleted app keeps its row as a tombstone.
    client_id      TEXT    NOT NULL UNIQUE,
    -- argon2id PHC string; NULL once deleted.
    secret_hash    TEXT    NULL,
    status         TEXT    NOT NULL CHECK (status IN ('ACTIVE', 'INACTIVE')),
    deleted_at     TIMESTAMP NULL,
    created_at     TIMESTAMP NOT NULL,
    last_used_at   TIMESTAMP NULL
);
CREATE UNIQUE INDEX client_apps_environment_name ON client_apps (environment_id, lower(name))
    WHERE deleted_at IS NULL;
CREATE INDEX client_apps_environment_created ON client_apps (environment_id, created_at, id);

CREATE TABLE client_app_roles (
    app_id  BIGINT NOT NULL REFERENCES client_apps(id) ON DELETE CASCADE,
    role_id BIGINT NOT NULL REFERENCES roles(id) ON DELETE CASCADE,
    PRIMARY KEY (app_id, role_id)
);
CREATE INDEX client_app_roles_role ON client_app_roles (role_id);

CREATE TABLE admin_users (
    id                    INTEGER PRIMARY KEY AUTOINCREMENT,
    username              TEXT NOT NULL,
    password_hash         TEXT NULL,
    role                  TEXT NOT NULL CHECK (role IN ('super_admin', 'admin')),
    -- Hex SHA-256 of the one personal API credential; replacing it revokes the old one.
    credential_digest     TEXT NULL UNIQUE,
    credential_created_at TIMESTAMP NULL,
    created_at            TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX admin_users_username ON admin_users (lower(username));

CREATE TABLE signing_keys (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    kid         TEXT NOT NULL UNIQUE,
    algorithm   TEXT NOT NULL,
    public_jwk  TEXT NOT NULL,
    -- The private JWK as a compact JWE (dir + A256GCM) under the master key.
    private_jwe TEXT NOT NULL,
    created_at  TIMESTAMP NOT NULL,
    retired_at  TIMESTAMP NULL
);

-- The change feed: one row per committed change, written in the same transaction.
CREATE TABLE changes (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    subject_kind TEXT NOT NULL,
    subject      TEXT NOT NULL,
    at           TIMESTAMP NOT NULL
);
CREATE INDEX changes_at ON changes (at);
