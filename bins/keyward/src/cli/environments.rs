//! `keyward env …`: `/api/v1/environments` and an environment's audiences.

use clap::Subcommand;
use reqwest::Method;
use serde_json::json;

use super::{environment_path, CliError, Context, ListArgs};

const COLUMNS: &[super::output::Column] = &[
    ("SLUG", "slug"),
    ("NAME", "name"),
    ("ENABLED", "enabled"),
    ("CLIENT APPS", "client_apps"),
    ("CREATED AT", "created_at"),
];

/// `keyward env …`.
#[derive(Debug, Subcommand)]
pub enum EnvCommand {
    /// List environments (`GET /api/v1/environments`).
    List(ListArgs),
    /// Show one environment (`GET /api/v1/environments/{env}`).
    Get {
        /// The environment's slug.
        slug: String,
    },
    /// Create an environment (`POST /api/v1/environments`).
    Create {
        /// Its slug (`[a-z0-9][a-z0-9-]{0,62}`).
        slug: String,
        /// A display name (default: the slug).
        #[arg(long)]
        name: Option<String>,
    },
    /// Change an environment's display name (`PATCH /api/v1/environments/{env}`).
    Rename {
        /// The environment's slug.
        slug: String,
        /// The new display name.
        name: String,
    },
    /// Enable an environment: its apps get tokens again (`PATCH … {"enabled": true}`).
    Enable {
        /// The environment's slug.
        slug: String,
    },
    /// Disable an environment: every token request and token of its apps is refused
    /// (`PATCH … {"enabled": false}`).
    Disable {
        /// The environment's slug.
        slug: String,
    },
    /// The audiences (RFC 8707 resources) its apps may ask tokens for
    /// (`GET /api/v1/environments/{env}/audiences`).
    Audiences {
        /// The environment's slug.
        slug: String,
    },
    /// Replace the allowed audiences (`PUT /api/v1/environments/{env}/audiences`); none
    /// clears them.
    SetAudiences {
        /// The environment's slug.
        slug: String,
        /// The audiences (absolute URIs).
        audiences: Vec<String>,
    },
}

/// Runs `keyward env …`.
pub fn run(ctx: &Context, command: EnvCommand) -> Result<(), CliError> {
    match command {
        EnvCommand::List(list) => {
            ctx.list("/api/v1/environments", &list.query(), list.all, COLUMNS)
        }
        EnvCommand::Get { slug } => ctx.show(&environment_path(&slug)),
        EnvCommand::Create { slug, name } => {
            let mut body = json!({ "slug": slug });
            if let Some(name) = name {
                body["name"] = json!(name);
            }
            let created = ctx.change(Method::POST, "/api/v1/environments", Some(&body))?;
            ctx.print.object(&created)
        }
        EnvCommand::Rename { slug, name } => patch(ctx, &slug, &json!({ "name": name })),
        EnvCommand::Enable { slug } => patch(ctx, &slug, &json!({ "enabled": true })),
        EnvCommand::Disable { slug } => patch(ctx, &slug, &json!({ "enabled": false })),
        EnvCommand::Audiences { slug } => {
            ctx.show(&format!("{}/audiences", environment_path(&slug)))
        }
        EnvCommand::SetAudiences { slug, audiences } => {
            let path = format!("{}/audiences", environment_path(&slug));
            let body = json!({ "audiences": audiences });
            let answer = ctx.change(Method::PUT, &path, Some(&body))?;
            ctx.print.object(&answer)
        }
    }
}

fn patch(ctx: &Context, slug: &str, body: &serde_json::Value) -> Result<(), CliError> {
    let answer = ctx.change(Method::PATCH, &environment_path(slug), Some(body))?;
    ctx.print.object(&answer)
}
