//! `keyward authorize` and `keyward live …`: what a resource server asks Keyward
//! (`/api/v1/authorize`, `/api/v1/live/*`), for checking a credential by hand.

use clap::Subcommand;
use reqwest::Method;
use serde_json::json;

use super::{CliError, Context};

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

/// `keyward openapi`.
#[derive(Debug, clap::Args)]
pub struct OpenApiArgs {
    #[command(flatten)]
    pub(super) connection: super::Connection,
}

/// Runs `keyward openapi`: the server's OpenAPI 3.1 document (`GET
/// /api/v1/openapi.json`), always as JSON (a document has no table form).
pub fn run_openapi(ctx: &Context) -> Result<(), CliError> {
    let document = ctx.client.get("/api/v1/openapi.json", &[])?;
    super::output::Printer {
        format: super::output::Format::Json,
    }
    .object(&document)
}
