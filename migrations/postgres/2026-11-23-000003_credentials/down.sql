DROP TABLE api_keys;
ALTER TABLE client_apps DROP COLUMN api_key_count;
ALTER TABLE client_apps ADD COLUMN secret_hash TEXT NULL;
UPDATE client_apps SET secret_hash = (
    SELECT s.secret_hash FROM client_app_secrets s
    WHERE s.app_id = client_apps.id AND s.expires_at IS NULL
);
DROP TABLE client_app_secrets;
