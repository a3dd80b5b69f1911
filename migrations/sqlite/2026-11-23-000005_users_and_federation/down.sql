DROP INDEX client_apps_external_client_id;
ALTER TABLE client_apps DROP COLUMN impersonate;
ALTER TABLE client_apps DROP COLUMN external_client_id;
DROP TABLE identity_providers;
DROP TABLE user_environment_roles;
CREATE TABLE admin_users_old (
    id                    INTEGER PRIMARY KEY AUTOINCREMENT,
    username              TEXT NOT NULL,
    password_hash         TEXT NULL,
    role                  TEXT NOT NULL CHECK (role IN ('super_admin', 'admin')),
    credential_digest     TEXT NULL UNIQUE,
    credential_created_at TIMESTAMP NULL,
    created_at            TIMESTAMP NOT NULL
);
INSERT INTO admin_users_old SELECT id, username, password_hash, COALESCE(role, 'admin'),
    credential_digest, credential_created_at, created_at FROM admin_users;
DROP TABLE admin_users;
ALTER TABLE admin_users_old RENAME TO admin_users;
CREATE UNIQUE INDEX admin_users_username ON admin_users (lower(username));
