-- The audit log (issue 18): one row per state change — who (actor kind and name),
-- from which address, what (a dotted action, its subject and non-secret details as
-- JSON), in which environment (its slug, NULL for changes to Keyward as a whole) and
-- when. Written in the same transaction as the change it records. Never holds a
-- secret, password, token, API key or hash.
CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    at          TIMESTAMP NOT NULL,
    actor_kind  TEXT      NOT NULL,
    actor_name  TEXT      NOT NULL,
    address     TEXT,
    action      TEXT      NOT NULL,
    environment TEXT,
    subject     TEXT      NOT NULL,
    details     TEXT      NOT NULL
);
-- Newest first, optionally filtered by environment, actor or subject: each filter has
-- an index ending in the list's order (at, id).
CREATE INDEX audit_log_at ON audit_log (at, id);
CREATE INDEX audit_log_environment ON audit_log (environment, at, id);
CREATE INDEX audit_log_actor ON audit_log (actor_name, at, id);
CREATE INDEX audit_log_subject ON audit_log (subject, at, id);
