//! `keyward app …`, `keyward api-key …` and `keyward secret …`:
//! `/api/v1/environments/{env}/client-apps` and each app's API keys, secrets, external
//! binding and JWK Set.

use std::path::PathBuf;

use clap::{ArgGroup, Subcommand};
use reqwest::Method;
use serde_json::{json, Value};

use super::{environment_path, segment, CliError, Context, ListArgs};

const APP_COLUMNS: &[super::output::Column] = &[
    ("NAME", "name"),
    ("CLIENT ID", "client_id"),
    ("STATUS", "status"),
    ("ROLES", "roles"),
    ("CREATED AT", "created_at"),
    ("LAST USED AT", "last_used_at"),
];

const API_KEY_COLUMNS: &[super::output::Column] = &[
    ("ID", "id"),
    ("NAME", "name"),
    ("CREATED AT", "created_at"),
    ("EXPIRES AT", "expires_at"),
    ("LAST USED AT", "last_used_at"),
];

const SECRET_COLUMNS: &[super::output::Column] = &[
    ("ID", "id"),
    ("CREATED AT", "created_at"),
    ("EXPIRES AT", "expires_at"),
    ("LAST USED AT", "last_used_at"),
];

/// `keyward app …`.
#[derive(Debug, Subcommand)]
pub enum AppCommand {
    /// List client apps, newest first (`GET …/client-apps`).
    List {
        #[command(flatten)]
        list: ListArgs,
        /// Only apps whose name or client ID contains this (case-insensitive).
        #[arg(long)]
        search: Option<String>,
    },
    /// Show one app, never its secret (`GET …/client-apps/{client_id}`).
    Get {
        /// The app's client ID.
        client_id: String,
    },
    /// Create an app; its client secret is printed once (`POST …/client-apps`).
    Create {
        /// The app's name (3–128 characters, unique in the environment).
        name: String,
        /// A role to hold; repeat for more.
        #[arg(long = "role", short = 'r', value_name = "ROLE")]
        roles: Vec<String>,
        /// Bind it at once to this client ID of the environment's identity provider.
        #[arg(long)]
        external_client_id: Option<String>,
        /// External tokens of the app carry this user's live permissions.
        #[arg(long, value_name = "USERNAME")]
        impersonate: Option<String>,
    },
    /// Replace an app's roles (`PUT …/client-apps/{client_id}/roles`).
    #[command(group(ArgGroup::new("set").required(true).args(["roles", "none"])))]
    Roles {
        /// The app's client ID.
        client_id: String,
        /// A role to hold; repeat for more.
        #[arg(long = "role", short = 'r', value_name = "ROLE")]
        roles: Vec<String>,
        /// Remove every role.
        #[arg(long)]
        none: bool,
    },
    /// Activate an app: its tokens and API keys work again (`POST …/activate`).
    Activate {
        /// The app's client ID.
        client_id: String,
    },
    /// Deactivate an app: every token and API key of it fails from the next call on
    /// (`POST …/deactivate`).
    Deactivate {
        /// The app's client ID.
        client_id: String,
    },
    /// Delete an inactive app, for ever (`DELETE …/client-apps/{client_id}`).
    Delete {
        /// The app's client ID.
        client_id: String,
    },
    /// Bind an app to a client ID of the identity provider, or unbind it without
    /// --external-client-id (`PUT …/client-apps/{client_id}/external`).
    Bind {
        /// The app's client ID.
        client_id: String,
        /// The client ID the identity provider knows the app by.
        #[arg(long)]
        external_client_id: Option<String>,
        /// External tokens of the app carry this user's live permissions.
        #[arg(long, value_name = "USERNAME")]
        impersonate: Option<String>,
    },
    /// Show the public JWK Set an app authenticates with (private_key_jwt)
    /// (`GET …/client-apps/{client_id}/jwks`).
    Jwks {
        /// The app's client ID.
        client_id: String,
    },
    /// Register an app's public JWK Set from a file (`PUT …/client-apps/{client_id}/jwks`).
    SetJwks {
        /// The app's client ID.
        client_id: String,
        /// A JSON file holding `{"keys": [...]}` (`-` for standard input).
        #[arg(long, value_name = "FILE")]
        file: PathBuf,
    },
    /// Remove an app's JWK Set (`DELETE …/client-apps/{client_id}/jwks`).
    DeleteJwks {
        /// The app's client ID.
        client_id: String,
    },
}

/// `keyward api-key …`.
#[derive(Debug, Subcommand)]
pub enum ApiKeyCommand {
    /// List an app's API keys, never the key text (`GET …/api-keys`).
    List {
        /// The app's client ID.
        #[arg(long = "app", value_name = "CLIENT_ID")]
        client_id: String,
    },
    /// Create an API key; the key is printed once (`POST …/api-keys`).
    Create {
        /// The app's client ID.
        #[arg(long = "app", value_name = "CLIENT_ID")]
        client_id: String,
        /// The key's name (unique within the app).
        name: String,
        /// When the key stops working (RFC 3339, in the future).
        #[arg(long, value_name = "TIME")]
        expires_at: Option<String>,
    },
    /// Delete an API key: it fails from the next call on (`DELETE …/api-keys/{id}`).
    Delete {
        /// The app's client ID.
        #[arg(long = "app", value_name = "CLIENT_ID")]
        client_id: String,
        /// The key's ID (from `api-key list`).
        id: String,
    },
}

/// `keyward secret …`.
#[derive(Debug, Subcommand)]
pub enum SecretCommand {
    /// List an app's live secrets: the current one, and the previous one while it lasts
    /// (`GET …/secrets`).
    List {
        /// The app's client ID.
        #[arg(long = "app", value_name = "CLIENT_ID")]
        client_id: String,
    },
    /// Rotate: a new secret, printed once; the current one keeps working for the grace
    /// period (`POST …/secrets`).
    Rotate {
        /// The app's client ID.
        #[arg(long = "app", value_name = "CLIENT_ID")]
        client_id: String,
        /// How long the current secret keeps working (0 to 2592000; the server's
        /// default is 86400).
        #[arg(long = "grace-period", value_name = "SECONDS")]
        grace_period_seconds: Option<i64>,
    },
    /// End the previous secret now (`DELETE …/secrets/{id}`).
    End {
        /// The app's client ID.
        #[arg(long = "app", value_name = "CLIENT_ID")]
        client_id: String,
        /// The secret's ID (from `secret list`).
        id: String,
    },
}

/// `…/client-apps`, and `…/client-apps/{client_id}` with `app`.
fn apps_path(environment: &str, app: Option<&str>) -> String {
    let apps = format!("{}/client-apps", environment_path(environment));
    match app {
        Some(client_id) => format!("{apps}/{}", segment(client_id)),
        None => apps,
    }
}

/// Runs `keyward app …` in `environment`.
pub fn run_app(ctx: &Context, environment: &str, command: AppCommand) -> Result<(), CliError> {
    let app = |client_id: &str| apps_path(environment, Some(client_id));
    match command {
        AppCommand::List { list, search } => {
            let mut query = list.query();
            if let Some(search) = search {
                query.push(("search", search));
            }
            ctx.list(&apps_path(environment, None), &query, list.all, APP_COLUMNS)
        }
        AppCommand::Get { client_id } => ctx.show(&app(&client_id)),
        AppCommand::Create {
            name,
            roles,
            external_client_id,
            impersonate,
        } => {
            let mut body = json!({ "name": name, "roles": roles });
            if let Some(id) = external_client_id {
                body["external_client_id"] = json!(id);
            }
            if let Some(user) = impersonate {
                body["impersonate"] = json!(user);
            }
            let created = ctx.change(Method::POST, &apps_path(environment, None), Some(&body))?;
            ctx.print.object_with_secret(&created, "client_secret")
        }
        AppCommand::Roles {
            client_id, roles, ..
        } => {
            let body = json!({ "roles": roles });
            let path = format!("{}/roles", app(&client_id));
            let updated = ctx.change(Method::PUT, &path, Some(&body))?;
            ctx.print.object(&updated)
        }
        AppCommand::Activate { client_id } => {
            let path = format!("{}/activate", app(&client_id));
            let updated = ctx.change(Method::POST, &path, Some(&json!({})))?;
            ctx.print.object(&updated)
        }
        AppCommand::Deactivate { client_id } => {
            let path = format!("{}/deactivate", app(&client_id));
            let updated = ctx.change(Method::POST, &path, Some(&json!({})))?;
            ctx.print.object(&updated)
        }
        AppCommand::Delete { client_id } => ctx.change_without_body(
            Method::DELETE,
            &app(&client_id),
            &[],
            &format!("deleted client app {client_id} in `{environment}`"),
        ),
        AppCommand::Bind {
            client_id,
            external_client_id,
            impersonate,
        } => {
            let body = json!({
                "external_client_id": external_client_id,
                "impersonate": impersonate,
            });
            let path = format!("{}/external", app(&client_id));
            let updated = ctx.change(Method::PUT, &path, Some(&body))?;
            ctx.print.object(&updated)
        }
        AppCommand::Jwks { client_id } => ctx.show(&format!("{}/jwks", app(&client_id))),
        AppCommand::SetJwks { client_id, file } => {
            let set = read_json_file(&file)?;
            let path = format!("{}/jwks", app(&client_id));
            let stored = ctx.change(Method::PUT, &path, Some(&set))?;
            ctx.print.object(&stored)
        }
        AppCommand::DeleteJwks { client_id } => ctx.change_without_body(
            Method::DELETE,
            &format!("{}/jwks", app(&client_id)),
            &[],
            &format!("removed the JWK Set of client app {client_id}"),
        ),
    }
}

/// Runs `keyward api-key …` in `environment`.
pub fn run_api_key(
    ctx: &Context,
    environment: &str,
    command: ApiKeyCommand,
) -> Result<(), CliError> {
    let keys = |client_id: &str| format!("{}/api-keys", apps_path(environment, Some(client_id)));
    match command {
        ApiKeyCommand::List { client_id } => {
            ctx.list(&keys(&client_id), &[], false, API_KEY_COLUMNS)
        }
        ApiKeyCommand::Create {
            client_id,
            name,
            expires_at,
        } => {
            let mut body = json!({ "name": name });
            if let Some(at) = expires_at {
                body["expires_at"] = json!(at);
            }
            let created = ctx.change(Method::POST, &keys(&client_id), Some(&body))?;
            ctx.print.object_with_secret(&created, "api_key")
        }
        ApiKeyCommand::Delete { client_id, id } => ctx.change_without_body(
            Method::DELETE,
            &format!("{}/{}", keys(&client_id), segment(&id)),
            &[],
            &format!("deleted API key {id} of client app {client_id}"),
        ),
    }
}

/// Runs `keyward secret …` in `environment`.
pub fn run_secret(
    ctx: &Context,
    environment: &str,
    command: SecretCommand,
) -> Result<(), CliError> {
    let secrets = |client_id: &str| format!("{}/secrets", apps_path(environment, Some(client_id)));
    match command {
        SecretCommand::List { client_id } => {
            ctx.list(&secrets(&client_id), &[], false, SECRET_COLUMNS)
        }
        SecretCommand::Rotate {
            client_id,
            grace_period_seconds,
        } => {
            let body = match grace_period_seconds {
                Some(seconds) => json!({ "grace_period_seconds": seconds }),
                None => json!({}),
            };
            let rotated = ctx.change(Method::POST, &secrets(&client_id), Some(&body))?;
            ctx.print.object_with_secret(&rotated, "client_secret")
        }
        SecretCommand::End { client_id, id } => ctx.change_without_body(
            Method::DELETE,
            &format!("{}/{}", secrets(&client_id), segment(&id)),
            &[],
            &format!("ended secret {id} of client app {client_id}"),
        ),
    }
}

/// A JSON document from a file, or from standard input for `-`.
fn read_json_file(path: &std::path::Path) -> Result<Value, CliError> {
    let text = if path.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin())
            .map_err(|e| CliError::usage(format!("reading standard input: {e}")))?
    } else {
        std::fs::read_to_string(path)
            .map_err(|e| CliError::usage(format!("{}: {e}", path.display())))?
    };
    serde_json::from_str(&text)
        .map_err(|e| CliError::usage(format!("{}: not JSON: {e}", path.display())))
}
