-- Console sessions (SPEC §8): one row per logged-in browser, found by the SHA-256
-- digest of the cookie's token (the token itself is never stored). Deleting a user
-- deletes their sessions.
ALTER TABLE admin_users ADD COLUMN password_must_change BOOLEAN NOT NULL DEFAULT 0;

CREATE TABLE console_sessions (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    digest       TEXT      NOT NULL UNIQUE,
    user_id      BIGINT    NOT NULL REFERENCES admin_users(id) ON DELETE CASCADE,
    created_at   TIMESTAMP NOT NULL,
    last_seen_at TIMESTAMP NOT NULL
);
CREATE INDEX console_sessions_user ON console_sessions (user_id);
CREATE INDEX console_sessions_last_seen ON console_sessions (last_seen_at);
