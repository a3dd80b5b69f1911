//! `keyward audit …`: `GET /api/v1/audit`, the log of every state change.

use clap::Subcommand;

use super::{CliError, Context};

const COLUMNS: &[super::output::Column] = &[
    ("AT", "at"),
    ("ACTOR", "actor/name"),
    ("KIND", "actor/kind"),
    ("ACTION", "action"),
    ("ENVIRONMENT", "environment"),
    ("SUBJECT", "subject"),
    ("ADDRESS", "address"),
];

/// `keyward audit …`.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// List audit entries, newest first (`GET /api/v1/audit`).
    List {
        /// Only changes in this environment.
        #[arg(long, value_name = "SLUG")]
        environment: Option<String>,
        /// Only changes made by this actor (a username or a client ID).
        #[arg(long)]
        actor: Option<String>,
        /// Only changes to this subject (e.g. a client ID, a role or a username).
        #[arg(long)]
        subject: Option<String>,
        /// From this time on (RFC 3339).
        #[arg(long, value_name = "TIME")]
        since: Option<String>,
        /// Before this time (RFC 3339).
        #[arg(long, value_name = "TIME")]
        until: Option<String>,
        /// Page size.
        #[arg(long)]
        limit: Option<u32>,
        /// Continue after this page.
        #[arg(long, conflicts_with = "all")]
        cursor: Option<String>,
        /// Every page: follows `next_cursor` to the end.
        #[arg(long)]
        all: bool,
    },
}

/// Runs `keyward audit …`.
pub fn run(ctx: &Context, command: AuditCommand) -> Result<(), CliError> {
    let AuditCommand::List {
        environment,
        actor,
        subject,
        since,
        until,
        limit,
        cursor,
        all,
    } = command;
    let query: Vec<(&str, String)> = [
        ("environment", environment),
        ("actor", actor),
        ("subject", subject),
        ("since", since),
        ("until", until),
        ("limit", limit.map(|l| l.to_string())),
        ("cursor", cursor),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.map(|v| (k, v)))
    .collect();
    ctx.list("/api/v1/audit", &query, all, COLUMNS)
}
