//! Diesel table definitions, written to match migrations/sqlite and migrations/postgres
//! (PostgreSQL's `changes.horizon` is read and written by raw SQL only: `sql/feed.rs`).
#![allow(missing_docs)]

diesel::table! {
    environments (id) {
        id -> BigInt,
        slug -> Text,
        name -> Text,
        enabled -> Bool,
        client_app_count -> BigInt,
        created_at -> Timestamp,
    }
}

diesel::table! {
    roles (id) {
        id -> BigInt,
        environment_id -> BigInt,
        name -> Text,
        builtin -> Nullable<Text>,
        permissions -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    client_apps (id) {
        id -> BigInt,
        environment_id -> BigInt,
        name -> Text,
        client_id -> Text,
        status -> Text,
        deleted_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        last_used_at -> Nullable<Timestamp>,
        api_key_count -> BigInt,
        external_client_id -> Nullable<Text>,
        impersonate -> Nullable<Text>,
    }
}

diesel::table! {
    user_environment_roles (user_id, role_id) {
        user_id -> BigInt,
        role_id -> BigInt,
    }
}

diesel::table! {
    identity_providers (id) {
        id -> BigInt,
        environment_id -> BigInt,
        issuer -> Nullable<Text>,
        token_endpoint -> Text,
        jwks_uri -> Nullable<Text>,
        audience -> Nullable<Text>,
        client_id_claims -> Text,
        scope -> Nullable<Text>,
        enabled -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    client_app_secrets (id) {
        id -> BigInt,
        public_id -> Text,
        app_id -> BigInt,
        secret_hash -> Text,
        hint -> Nullable<Text>,
        created_at -> Timestamp,
        expires_at -> Nullable<Timestamp>,
        last_used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    api_keys (id) {
        id -> BigInt,
        public_id -> Text,
        app_id -> BigInt,
        name -> Text,
        digest -> Text,
        created_at -> Timestamp,
        expires_at -> Nullable<Timestamp>,
        last_used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    client_app_roles (app_id, role_id) {
        app_id -> BigInt,
        role_id -> BigInt,
    }
}

diesel::table! {
    admin_users (id) {
        id -> BigInt,
        username -> Text,
        password_hash -> Nullable<Text>,
        role -> Nullable<Text>,
        status -> Text,
        credential_digest -> Nullable<Text>,
        credential_created_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        password_must_change -> Bool,
    }
}

diesel::table! {
    console_sessions (id) {
        id -> BigInt,
        digest -> Text,
        user_id -> BigInt,
        created_at -> Timestamp,
        last_seen_at -> Timestamp,
    }
}

diesel::table! {
    signing_keys (id) {
        id -> BigInt,
        kid -> Text,
        algorithm -> Text,
        public_jwk -> Text,
        private_jwe -> Text,
        created_at -> Timestamp,
        retired_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    changes (seq) {
        seq -> BigInt,
        subject_kind -> Text,
        subject -> Text,
        at -> Timestamp,
    }
}

diesel::table! {
    change_feed (id) {
        id -> Integer,
        pruned_through -> BigInt,
    }
}

diesel::table! {
    audit_log (id) {
        id -> BigInt,
        at -> Timestamp,
        actor_kind -> Text,
        actor_name -> Text,
        address -> Nullable<Text>,
        action -> Text,
        environment -> Nullable<Text>,
        subject -> Text,
        details -> Text,
    }
}

diesel::joinable!(roles -> environments (environment_id));
diesel::joinable!(client_apps -> environments (environment_id));
diesel::joinable!(client_app_roles -> client_apps (app_id));
diesel::joinable!(client_app_roles -> roles (role_id));
diesel::joinable!(client_app_secrets -> client_apps (app_id));
diesel::joinable!(api_keys -> client_apps (app_id));
diesel::joinable!(user_environment_roles -> admin_users (user_id));
diesel::joinable!(console_sessions -> admin_users (user_id));
diesel::joinable!(user_environment_roles -> roles (role_id));
diesel::joinable!(identity_providers -> environments (environment_id));

diesel::allow_tables_to_appear_in_same_query!(
    environments,
    roles,
    client_apps,
    client_app_roles,
    client_app_secrets,
    api_keys,
    user_environment_roles,
    identity_providers,
    admin_users,
    console_sessions,
    signing_keys,
    changes,
    change_feed,
    audit_log,
);
