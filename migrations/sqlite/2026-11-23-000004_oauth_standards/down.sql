DROP TABLE environment_audiences;
DROP TABLE client_app_jwks;
DROP TABLE client_assertion_jtis;
DROP TABLE revoked_tokens;
