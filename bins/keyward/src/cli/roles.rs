//! `keyward role …`: `/api/v1/environments/{env}/roles`.

use clap::Subcommand;
use reqwest::Method;
use serde_json::json;

use super::client::ExitKind;
use super::{environment_path, segment, CliError, Context, ListArgs};

const COLUMNS: &[super::output::Column] = &[
    ("NAME", "name"),
    ("BUILTIN", "builtin"),
    ("PERMISSIONS", "permissions"),
    ("CREATED AT", "created_at"),
];

/// `keyward role …`.
#[derive(Debug, Subcommand)]
pub enum RoleCommand {
    /// List the environment's roles (`GET …/roles`).
    List(ListArgs),
    /// Show one role (`GET …/roles/{role}`).
    Get {
        /// The role's name.
        name: String,
    },
    /// Create a role (`POST …/roles`).
    Create {
        /// The role's name (unique in the environment).
        name: String,
        /// A permission (`resource:action` or `resource:*`); repeat for more.
        #[arg(long = "permission", short = 'p', value_name = "PERMISSION")]
        permissions: Vec<String>,
    },
    /// Replace a role's permissions (`PUT …/roles/{role}`); the change applies to the
    /// next call of every app holding it.
    Update {
        /// The role's name.
        name: String,
        /// A permission; repeat for more (none: the role grants nothing).
        #[arg(long = "permission", short = 'p', value_name = "PERMISSION")]
        permissions: Vec<String>,
    },
    /// Delete a role (`DELETE …/roles/{role}`); refused while apps hold it, unless
    /// --force unbinds it from them first.
    Delete {
        /// The role's name.
        name: String,
        /// Unbind it from the apps holding it, then delete it.
        #[arg(long)]
        force: bool,
    },
}

/// Runs `keyward role …` in `environment`.
pub fn run(ctx: &Context, environment: &str, command: RoleCommand) -> Result<(), CliError> {
    let roles = format!("{}/roles", environment_path(environment));
    let role = |name: &str| format!("{roles}/{}", segment(name));
    match command {
        RoleCommand::List(list) => ctx.list(&roles, &list.query(), list.all, COLUMNS),
        RoleCommand::Get { name } => ctx.show(&role(&name)),
        RoleCommand::Create { name, permissions } => {
            let body = json!({ "name": name, "permissions": permissions });
            let created = ctx.change(Method::POST, &roles, Some(&body))?;
            ctx.print.object(&created)
        }
        RoleCommand::Update { name, permissions } => {
            let body = json!({ "permissions": permissions });
            let updated = ctx.change(Method::PUT, &role(&name), Some(&body))?;
            ctx.print.object(&updated)
        }
        RoleCommand::Delete { name, force } => {
            let query = if force {
                vec![("force", "true".to_owned())]
            } else {
                Vec::new()
            };
            ctx.change_without_body(
                Method::DELETE,
                &role(&name),
                &query,
                &format!("deleted role `{name}` in `{environment}`"),
            )
            .map_err(|mut e| {
                // The API's detail names its query parameter; say the CLI's flag.
                if e.kind == ExitKind::Conflict && !force && e.message.contains("force") {
                    e.message.push_str(" (keyward: --force)");
                }
                e
            })
        }
    }
}
