-- OAuth standards (issue 15): revoked access tokens (RFC 7009), client assertion IDs
-- seen (RFC 7523 replay refusal), the public JWK Set of apps that authenticate with
-- private_key_jwt, and the audiences (RFC 8707 resources) an environment allows.

-- Kept until the token's own `exp`, then pruned: an expired token fails anyway.
CREATE TABLE revoked_tokens (
    jti        TEXT      NOT NULL PRIMARY KEY,
    client_id  TEXT      NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP NOT NULL
);
CREATE INDEX revoked_tokens_expires_at ON revoked_tokens (expires_at);

-- The primary key is what refuses a replayed assertion, on every instance at once.
CREATE TABLE client_assertion_jtis (
    client_id  TEXT      NOT NULL,
    jti        TEXT      NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    PRIMARY KEY (client_id, jti)
);
CREATE INDEX client_assertion_jtis_expires_at ON client_assertion_jtis (expires_at);

CREATE TABLE client_app_jwks (
    app_id     BIGINT    NOT NULL PRIMARY KEY REFERENCES client_apps(id) ON DELETE CASCADE,
    jwks       TEXT      NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE environment_audiences (
    environment_id BIGINT NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
    audience       TEXT   NOT NULL,
    PRIMARY KEY (environment_id, audience)
);
