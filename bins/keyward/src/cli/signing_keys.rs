//! `keyward signing-key …`, `keyward authorize` and `keyward live …`: the routes that
//! belong to no environment's resources.

use clap::Subcommand;
use reqwest::Method;
use serde_json::json;

use super::{CliError, Context};

const KEY_COLUMNS: &[super::output::Column] = &[
    ("KID", "kid"),
    ("ALG", "alg"),
    ("KTY", "kty"),
    ("CRV", "crv"),
    ("USE", "use"),
];

/// `keyward signing-key …`.
#[derive(Debug, Subcommand)]
pub enum SigningKeyCommand {
    /// The published public keys (`GET /.well-known/jwks.json`).
    List,
    /// Add a new signing key: published at once, signing after the publish delay
    /// (`POST /api/v1/signing-keys/rotate`).
    Rotate,
}

/// Runs `keyward signing-key …`.
pub fn run(ctx: &Context, command: SigningKeyCommand) -> Result<(), CliError> {
    match command {
        SigningKeyCommand::List => {
            let jwks = ctx.client.get("/.well-known/jwks.json", &[])?;
            if ctx.print.format == super::output::Format::Json {
                return ctx.print.object(&jwks);
            }
            // The JWK Set as a list: `{"keys": [...]}` → the `items` of a table.
            let list = json!({ "items": jwks.get("keys").cloned().unwrap_or_default() });
            ctx.print.list(&list, KEY_COLUMNS)
        }
        SigningKeyCommand::Rotate => {
            let rotated = ctx.change(Method::POST, "/api/v1/signing-keys/rotate", None)?;
            ctx.print.object(&rotated)
        }
    }
}

/// `keyward authorize PERMISSION`.
#[derive(Debug, clap::Args)]
pub struct AuthorizeArgs {
    #[command(flatten)]
    pub(super) connection: super::Connection,
    /// The permission, `resource:action`.
    permission: String,
    /// Ask about this environment instead of the credential's own.
    #[arg(long = "in", value_name = "SLUG")]
    environment: Option<String>,
}

/// Runs `keyward authorize PERMISSION`: exit 0 when allowed, 3 when not.
pub fn run_authorize(ctx: &Context, args: AuthorizeArgs) -> Result<(), CliError> {
    let mut body = json!({ "permission": args.permission });
    if let Some(env) = args.environment {
        body["environment"] = json!(env);
    }
    let answer = ctx.change(Method::POST, "/api/v1/authorize", Some(&body))?;
    ctx.print.object(&answer)
}

/// `keyward live …`.
#[derive(Debug, Subcommand)]
pub enum LiveCommand {
    /// What a remote validator loads first (`GET /api/v1/live/snapshot`).
    Snapshot,
    /// The changes after a feed position, one long-poll (`GET /api/v1/live/changes`).
    Changes {
        /// The feed position to read after (the snapshot's `position`).
        #[arg(long)]
        after: u64,
    },
}

/// Runs `keyward live …`.
pub fn run_live(ctx: &Context, command: LiveCommand) -> Result<(), CliError> {
    match command {
        LiveCommand::Snapshot => ctx.show("/api/v1/live/snapshot"),
        LiveCommand::Changes { after } => {
            let body = ctx
                .client
                .get("/api/v1/live/changes", &[("after", after.to_string())])?;
            ctx.print.object(&body)
        }
    }
}
