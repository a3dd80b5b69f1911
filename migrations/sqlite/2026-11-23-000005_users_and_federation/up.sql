-- Users (SPEC §6): a global built-in role *or* per-environment roles, and a status.
-- SQLite cannot relax a CHECK or a NOT NULL in place: the table is rebuilt.
CREATE TABLE admin_users_new (
    id                    INTEGER PRIMARY KEY AUTOINCREMENT,
    username              TEXT NOT NULL,
    password_hash         TEXT NULL,
    -- The global built-in role; NULL for a user with per-environment roles only.
    role                  TEXT NULL CHECK (role IS NULL OR role IN ('super_admin', 'admin')),
    status                TEXT NOT NULL DEFAULT 'ACTIVE' CHECK (status IN ('ACTIVE', 'INACTIVE')),
    credential_digest     TEXT NULL UNIQUE,
    credential_created_at TIMESTAMP NULL,
    created_at            TIMESTAMP NOT NULL
);
INSERT INTO admin_users_new (id, username, password_hash, role, status, credential_digest,
                             credential_created_at, created_at)
    SELECT id, username, password_hash, role, 'ACTIVE', credential_digest,
           credential_created_at, created_at
    FROM admin_users;
DROP TABLE admin_users;
ALTER TABLE admin_users_new RENAME TO admin_users;
CREATE UNIQUE INDEX admin_users_username ON admin_users (lower(username));

-- A user's roles inside environments (the role names its environment).
CREATE TABLE user_environment_roles (
    user_id BIGINT NOT NULL REFERENCES admin_users(id) ON DELETE CASCADE,
    role_id BIGINT NOT NULL REFERENCES roles(id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, role_id)
);
CREATE INDEX user_environment_roles_role ON user_environment_roles (role_id);

-- Federation (SPEC §7): one identity provider per environment.
CREATE TABLE identity_providers (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    environment_id   BIGINT NOT NULL UNIQUE REFERENCES environments(id),
    issuer           TEXT NULL,
    token_endpoint   TEXT NOT NULL,
    jwks_uri         TEXT NULL,
    audience         TEXT NULL,
    -- Space-separated claim names, tried in order.
    client_id_claims TEXT NOT NULL,
    scope            TEXT NULL,
    enabled          BOOLEAN NOT NULL DEFAULT 1,
    created_at       TIMESTAMP NOT NULL,
    updated_at       TIMESTAMP NOT NULL
);
CREATE INDEX identity_providers_issuer ON identity_providers (issuer);

-- An app bound to its environment's identity provider, unique across Keyward (a
-- brokered token request names no environment); optionally acting as a user.
ALTER TABLE client_apps ADD COLUMN external_client_id TEXT NULL;
ALTER TABLE client_apps ADD COLUMN impersonate TEXT NULL;
CREATE UNIQUE INDEX client_apps_external_client_id ON client_apps (external_client_id)
    WHERE external_client_id IS NOT NULL;
