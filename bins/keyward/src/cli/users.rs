//! `keyward user …`: `/api/v1/users` (people who manage Keyward). The direct-database
//! `keyward admin …` commands stay for a machine without a running server.

use clap::{ArgGroup, Args, Subcommand};
use rand_core::RngCore;
use reqwest::Method;
use serde_json::{json, Value};

use super::output::Format;
use super::{segment, CliError, Context, ListArgs};

const COLUMNS: &[super::output::Column] = &[
    ("USERNAME", "username"),
    ("ROLE", "role"),
    ("ENVIRONMENT ROLES", "roles"),
    ("STATUS", "status"),
    ("CREDENTIAL", "has_credential"),
    ("CREATED AT", "created_at"),
];

/// A user's roles: one global built-in role, or roles per environment.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("grants").required(true).args(["role", "env_roles"])))]
pub struct UserRoles {
    /// A global built-in role: `Super Admin` or `Admin`.
    #[arg(long)]
    role: Option<String>,
    /// A role inside an environment, as `ENV=ROLE`; repeat for more. `ENV=` alone gives
    /// no role there (with `user roles`: removes that environment's roles).
    #[arg(long = "env-role", value_name = "ENV=ROLE")]
    env_roles: Vec<String>,
}

impl UserRoles {
    /// The request members: `{"role"}` or `{"roles": [{"environment", "roles"}]}`.
    fn body(&self) -> Result<serde_json::Map<String, Value>, CliError> {
        let mut map = serde_json::Map::new();
        if let Some(role) = &self.role {
            map.insert("role".into(), json!(role));
            return Ok(map);
        }
        let mut per_environment: Vec<(String, Vec<String>)> = Vec::new();
        for pair in &self.env_roles {
            let Some((environment, role)) = pair.split_once('=') else {
                return Err(CliError::usage(format!(
                    "--env-role `{pair}`: expected ENV=ROLE"
                )));
            };
            let index = match per_environment.iter().position(|(e, _)| e == environment) {
                Some(i) => i,
                None => {
                    per_environment.push((environment.to_owned(), Vec::new()));
                    per_environment.len() - 1
                }
            };
            if let (Some((_, roles)), false) = (per_environment.get_mut(index), role.is_empty()) {
                roles.push(role.to_owned());
            }
        }
        let roles: Vec<Value> = per_environment
            .into_iter()
            .map(|(environment, roles)| json!({"environment": environment, "roles": roles}))
            .collect();
        map.insert("roles".into(), Value::Array(roles));
        Ok(map)
    }
}

/// `keyward user …`.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// List users (`GET /api/v1/users`).
    List(ListArgs),
    /// Show one user (`GET /api/v1/users/{username}`).
    Get {
        /// The user's login name.
        username: String,
    },
    /// Create a user (`POST /api/v1/users`). The password is read from standard input
    /// with --password-stdin, else generated and printed once.
    Create {
        /// The login name.
        username: String,
        #[command(flatten)]
        roles: UserRoles,
        /// Read the password (12–1024 characters) from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Replace a user's roles (`PUT /api/v1/users/{username}/roles`).
    Roles {
        /// The user's login name.
        username: String,
        #[command(flatten)]
        roles: UserRoles,
    },
    /// Activate a user (`POST /api/v1/users/{username}/activate`).
    Activate {
        /// The user's login name.
        username: String,
    },
    /// Deactivate a user: their sessions and credential stop at once
    /// (`POST /api/v1/users/{username}/deactivate`).
    Deactivate {
        /// The user's login name.
        username: String,
    },
    /// Delete a user (`DELETE /api/v1/users/{username}`).
    Delete {
        /// The user's login name.
        username: String,
    },
    /// Issue a Super Admin's personal API credential, printed once; the previous one
    /// stops working (`POST /api/v1/users/{username}/credential`).
    Credential {
        /// The user's login name.
        username: String,
    },
}

/// Runs `keyward user …`.
pub fn run(ctx: &Context, command: UserCommand) -> Result<(), CliError> {
    let user = |name: &str| format!("/api/v1/users/{}", segment(name));
    match command {
        UserCommand::List(list) => {
            let query = list.query();
            let mut body = if list.all {
                ctx.client.get_all("/api/v1/users", &query)?
            } else {
                ctx.client.get("/api/v1/users", &query)?
            };
            if ctx.print.format == Format::Table {
                for item in body
                    .get_mut("items")
                    .and_then(Value::as_array_mut)
                    .into_iter()
                    .flatten()
                {
                    let shown = environment_roles(item.get("roles"));
                    item["roles"] = json!(shown);
                }
            }
            ctx.print.list(&body, COLUMNS)
        }
        UserCommand::Get { username } => ctx.show(&user(&username)),
        UserCommand::Create {
            username,
            roles,
            password_stdin,
        } => {
            let mut body = roles.body()?;
            let (password, generated) = if password_stdin {
                let mut line = String::new();
                std::io::stdin()
                    .read_line(&mut line)
                    .map_err(|e| CliError::usage(format!("reading the password: {e}")))?;
                (line.trim_end_matches(['\r', '\n']).to_owned(), false)
            } else {
                (generate_password(), true)
            };
            body.insert("username".into(), json!(username));
            body.insert("password".into(), json!(password));
            let created = ctx.change(Method::POST, "/api/v1/users", Some(&Value::Object(body)))?;
            ctx.print.object(&created)?;
            if generated {
                eprintln!(
                    "Generated password for `{username}` (shown once; store it now): {password}"
                );
            }
            Ok(())
        }
        UserCommand::Roles { username, roles } => {
            let body = Value::Object(roles.body()?);
            let path = format!("{}/roles", user(&username));
            let updated = ctx.change(Method::PUT, &path, Some(&body))?;
            ctx.print.object(&updated)
        }
        UserCommand::Activate { username } => {
            let path = format!("{}/activate", user(&username));
            let updated = ctx.change(Method::POST, &path, Some(&json!({})))?;
            ctx.print.object(&updated)
        }
        UserCommand::Deactivate { username } => {
            let path = format!("{}/deactivate", user(&username));
            let updated = ctx.change(Method::POST, &path, Some(&json!({})))?;
            ctx.print.object(&updated)
        }
        UserCommand::Delete { username } => ctx.change_without_body(
            Method::DELETE,
            &user(&username),
            &[],
            &format!("deleted user `{username}`"),
        ),
        UserCommand::Credential { username } => {
            let path = format!("{}/credential", user(&username));
            let issued = ctx.change(Method::POST, &path, Some(&json!({})))?;
            ctx.print.object_with_secret(&issued, "credential")
        }
    }
}

/// `[{"environment": "prod", "roles": ["a", "b"]}]` as `prod: a, b` cells.
fn environment_roles(roles: Option<&Value>) -> Vec<String> {
    roles
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|entry| {
            let environment = entry
                .get("environment")
                .and_then(Value::as_str)
                .unwrap_or("?");
            let names: Vec<&str> = entry
                .get("roles")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            format!("{environment}: {}", names.join(" + "))
        })
        .collect()
}

/// A password of 24 letters and digits (about 142 bits) from the OS RNG.
fn generate_password() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut out = String::with_capacity(24);
    let mut byte = [0u8; 1];
    while out.len() < 24 {
        rand_core::OsRng.fill_bytes(&mut byte);
        // 248 = 4 × 62: rejection keeps every character equally likely.
        if byte[0] < 248 {
            if let Some(&c) = ALPHABET.get(usize::from(byte[0] % 62)) {
                out.push(char::from(c));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_roles_group_by_environment_and_empty_means_none() {
        let roles = UserRoles {
            role: None,
            env_roles: vec![
                "prod=reader".into(),
                "staging=".into(),
                "prod=writer".into(),
            ],
        };
        let body = roles.body().ok().map(Value::Object);
        assert_eq!(
            body,
            Some(json!({"roles": [
                {"environment": "prod", "roles": ["reader", "writer"]},
                {"environment": "staging", "roles": []}
            ]}))
        );
    }

    #[test]
    fn generated_passwords_are_long_enough() {
        let p = generate_password();
        assert_eq!(p.len(), 24);
        assert!(p.chars().all(|c| c.is_ascii_alphanumeric()));
    }
}
