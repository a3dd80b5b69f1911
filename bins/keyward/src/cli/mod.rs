//! The API commands of the `keyward` binary: every management route of a running
//! server, with a credential (`KEYWARD_URL`, `KEYWARD_TOKEN`), printing tables or the
//! API's JSON (`--output json`). docs/CLI.md maps each command to its route.
//!
//! The direct-database commands (`serve`, `migrate`, `admin …`, `keys rotate`) stay in
//! main.rs: they open the database and need no running server.

mod access;
mod apps;
mod audit;
mod client;
mod environments;
mod federation;
mod output;
mod roles;
mod signing_keys;
mod users;

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use serde_json::Value;

pub use client::CliError;
use client::{ApiClient, Token};
use output::{Format, Printer};

use crate::settings::Settings;

/// The server, the credential and the output format of an API command. `global`, so
/// they may follow the subcommand (`keyward app list --output json`).
#[derive(Debug, Args)]
pub struct Connection {
    /// Keyward's base URL [default: the settings' server.public_url, else
    /// http://{server.bind}, i.e. http://127.0.0.1:8080].
    #[arg(long, env = "KEYWARD_URL", global = true, value_name = "URL")]
    url: Option<String>,
    /// The credential: a Super Admin's personal credential, an API key or an access
    /// token [env: KEYWARD_TOKEN]. Prefer the variable or --token-file: a command line
    /// is visible to other users of the machine.
    #[arg(long, global = true, value_name = "TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Read the credential from this file (its first line; `-` for standard input).
    #[arg(long, global = true, value_name = "FILE", conflicts_with = "token")]
    token_file: Option<PathBuf>,
    /// Output format.
    #[arg(long, short = 'o', global = true, value_enum, default_value_t = Format::Table)]
    output: Format,
}

/// A command group and its connection.
#[derive(Debug, Args)]
pub struct Api<T: Subcommand> {
    #[command(flatten)]
    connection: Connection,
    #[command(subcommand)]
    command: T,
}

/// A command group inside one environment.
#[derive(Debug, Args)]
pub struct InEnvironment<T: Subcommand> {
    #[command(flatten)]
    connection: Connection,
    /// The environment's slug.
    #[arg(
        long,
        short = 'e',
        global = true,
        env = "KEYWARD_ENVIRONMENT",
        default_value = "default",
        value_name = "SLUG"
    )]
    environment: String,
    #[command(subcommand)]
    command: T,
}

/// The API commands (each talks to a running server).
#[derive(Debug, Subcommand)]
pub enum ApiCommand {
    /// Environments (API).
    #[command(name = "env", visible_alias = "environment")]
    Env(Api<environments::EnvCommand>),
    /// Roles of an environment (API).
    Role(InEnvironment<roles::RoleCommand>),
    /// Client apps of an environment (API).
    App(InEnvironment<apps::AppCommand>),
    /// API keys of a client app (API).
    #[command(name = "api-key")]
    ApiKey(InEnvironment<apps::ApiKeyCommand>),
    /// Client secrets of a client app: rotation with a grace period (API).
    Secret(InEnvironment<apps::SecretCommand>),
    /// Users: people who manage Keyward (API; `admin …` works on the database).
    User(Api<users::UserCommand>),
    /// The identity provider of an environment (federation; API).
    Idp(InEnvironment<federation::IdpCommand>),
    /// Signing keys through the API (`keys rotate` works on the database).
    #[command(name = "signing-key", visible_alias = "signing-keys")]
    SigningKey(Api<signing_keys::SigningKeyCommand>),
    /// The audit log (API).
    Audit(Api<audit::AuditCommand>),
    /// May the credential use a permission now? Exit 0 if so, 3 if not
    /// (`POST /api/v1/authorize`).
    Authorize(access::AuthorizeArgs),
    /// What remote validators read: the live snapshot and change feed (API).
    Live(Api<access::LiveCommand>),
    /// The server's OpenAPI 3.1 document, as JSON (`GET /api/v1/openapi.json`).
    Openapi(access::OpenApiArgs),
}

/// What every API command works with: the server and how to print.
pub struct Context {
    client: ApiClient,
    print: Printer,
}

/// Runs an API command; returns the process exit code (errors printed on stderr).
pub fn run(command: ApiCommand, config: Option<&Path>) -> i32 {
    match dispatch(command, config) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("keyward: {e}");
            e.kind.code()
        }
    }
}

fn dispatch(command: ApiCommand, config: Option<&Path>) -> Result<(), CliError> {
    match command {
        ApiCommand::Env(a) => environments::run(&connect(&a.connection, config)?, a.command),
        ApiCommand::Role(a) => {
            roles::run(&connect(&a.connection, config)?, &a.environment, a.command)
        }
        ApiCommand::App(a) => {
            apps::run_app(&connect(&a.connection, config)?, &a.environment, a.command)
        }
        ApiCommand::ApiKey(a) => {
            apps::run_api_key(&connect(&a.connection, config)?, &a.environment, a.command)
        }
        ApiCommand::Secret(a) => {
            apps::run_secret(&connect(&a.connection, config)?, &a.environment, a.command)
        }
        ApiCommand::User(a) => users::run(&connect(&a.connection, config)?, a.command),
        ApiCommand::Idp(a) => {
            federation::run(&connect(&a.connection, config)?, &a.environment, a.command)
        }
        ApiCommand::SigningKey(a) => signing_keys::run(&connect(&a.connection, config)?, a.command),
        ApiCommand::Audit(a) => audit::run(&connect(&a.connection, config)?, a.command),
        ApiCommand::Authorize(a) => access::run_authorize(&connect(&a.connection, config)?, a),
        ApiCommand::Live(a) => access::run_live(&connect(&a.connection, config)?, a.command),
        ApiCommand::Openapi(a) => access::run_openapi(&connect(&a.connection, config)?),
    }
}

/// The server's URL and the credential, from flags, environment and settings.
fn connect(connection: &Connection, config: Option<&Path>) -> Result<Context, CliError> {
    let token = credential(connection)?;
    let url = match &connection.url {
        Some(url) => url.clone(),
        None => default_url(config)?,
    };
    Ok(Context {
        client: ApiClient::new(&url, token)?,
        print: Printer {
            format: connection.output,
        },
    })
}

/// `--token`, else `--token-file`, else `KEYWARD_TOKEN`.
fn credential(connection: &Connection) -> Result<Token, CliError> {
    if let Some(token) = &connection.token {
        return Token::new(token, "--token");
    }
    if let Some(path) = &connection.token_file {
        let text = if path.as_os_str() == "-" {
            let mut line = String::new();
            std::io::stdin()
                .read_line(&mut line)
                .map_err(|e| CliError::usage(format!("--token-file -: {e}")))?;
            line
        } else {
            std::fs::read_to_string(path)
                .map_err(|e| CliError::usage(format!("--token-file {}: {e}", path.display())))?
        };
        let first = text.lines().next().unwrap_or_default();
        return Token::new(first, "--token-file");
    }
    match std::env::var("KEYWARD_TOKEN") {
        Ok(token) => Token::new(&token, "KEYWARD_TOKEN"),
        Err(std::env::VarError::NotUnicode(_)) => {
            Err(CliError::usage("KEYWARD_TOKEN is not valid UTF-8"))
        }
        Err(std::env::VarError::NotPresent) => Err(CliError::usage(
            "no credential: set KEYWARD_TOKEN, or pass --token-file FILE or --token TOKEN \
             (a Super Admin's personal credential, an API key or an access token)",
        )),
    }
}

/// Without `--url` or `KEYWARD_URL`: the settings' public URL, else `http://` + the
/// bind address (by default `http://127.0.0.1:8080`).
fn default_url(config: Option<&Path>) -> Result<String, CliError> {
    let settings = Settings::load(config).map_err(|e| {
        CliError::usage(format!(
            "no --url or KEYWARD_URL, and the settings that would give the server's URL \
             cannot be read: {e:#}"
        ))
    })?;
    Ok(settings
        .server
        .public_url
        .unwrap_or_else(|| format!("http://{}", settings.server.bind)))
}

/// The paging flags of a list.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Page size (1–200; the server's default is 50).
    #[arg(long)]
    limit: Option<u32>,
    /// Continue after this page (the `next_cursor` of the previous one).
    #[arg(long, conflicts_with = "all")]
    cursor: Option<String>,
    /// Sort order by creation time.
    #[arg(long, value_parser = ["asc", "desc"])]
    order: Option<String>,
    /// Every page: follows `next_cursor` to the end (JSON: one list, `next_cursor: null`).
    #[arg(long)]
    all: bool,
}

impl ListArgs {
    /// The query parameters.
    fn query(&self) -> Vec<(&'static str, String)> {
        let mut q = Vec::new();
        if let Some(limit) = self.limit {
            q.push(("limit", limit.to_string()));
        }
        if let Some(cursor) = &self.cursor {
            q.push(("cursor", cursor.clone()));
        }
        if let Some(order) = &self.order {
            q.push(("order", order.clone()));
        }
        q
    }
}

impl Context {
    /// `GET` a list: one page, or every page with `--all`; printed as a table of
    /// `columns` or as JSON.
    fn list(
        &self,
        path: &str,
        query: &[(&str, String)],
        all: bool,
        columns: &[output::Column],
    ) -> Result<(), CliError> {
        let body = if all {
            self.client.get_all(path, query)?
        } else {
            self.client.get(path, query)?
        };
        self.print.list(&body, columns)
    }

    /// `GET` one object and print it.
    fn show(&self, path: &str) -> Result<(), CliError> {
        let body = self.client.get(path, &[])?;
        self.print.object(&body)
    }

    /// A change answered with an object (`POST`, `PUT`, `PATCH`): print the object.
    fn change(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, CliError> {
        let answer = self.client.call(method.clone(), path, &[], body)?;
        answer.ok_or_else(|| CliError::failure(format!("{method} {path} answered without a body")))
    }

    /// A change answered with 204: print `done` (table) or nothing (json).
    fn change_without_body(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, String)],
        done: &str,
    ) -> Result<(), CliError> {
        self.client.call(method, path, query, None)?;
        self.print.done(done)
    }
}

/// One path segment, percent-encoded (role names hold spaces; nothing a user types may
/// change the path).
fn segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(b))
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// `/api/v1/environments/{env}` with the slug encoded.
fn environment_path(environment: &str) -> String {
    format!("/api/v1/environments/{}", segment(environment))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_encode_everything_but_unreserved_characters() {
        assert_eq!(segment("orders reader"), "orders%20reader");
        assert_eq!(segment("a/b?c#d"), "a%2Fb%3Fc%23d");
        assert_eq!(segment("Super Admin"), "Super%20Admin");
    }
}
