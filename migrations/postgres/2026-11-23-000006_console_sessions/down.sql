DROP TABLE console_sessions;
ALTER TABLE admin_users DROP COLUMN password_must_change;
