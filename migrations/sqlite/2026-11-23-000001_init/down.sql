DROP TABLE changes;
DROP TABLE signing_keys;
DROP TABLE admin_users;
DROP TABLE client_app_roles;
DROP TABLE client_apps;
DROP TABLE roles;
DROP TABLE environments;
