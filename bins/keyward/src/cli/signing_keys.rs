//! `keyward signing-key …`: the published keys and `/api/v1/signing-keys/rotate`.

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
