//! `keyward idp …`: `/api/v1/environments/{env}/identity-provider`.

use clap::{ArgGroup, Subcommand};
use reqwest::Method;
use serde_json::{json, Value};

use super::{environment_path, CliError, Context};

/// `keyward idp …`.
#[derive(Debug, Subcommand)]
pub enum IdpCommand {
    /// Show the environment's identity provider (`GET …/identity-provider`).
    Get,
    /// Set it, by discovery (--issuer) or by hand (--token-endpoint, --jwks-uri)
    /// (`PUT …/identity-provider`); discovery runs at once.
    #[command(group(ArgGroup::new("source").required(true).args(["issuer", "token_endpoint"])))]
    Set {
        /// The issuer: its endpoints are discovered from its well-known metadata.
        #[arg(long, value_name = "URL", conflicts_with = "token_endpoint")]
        issuer: Option<String>,
        /// The token endpoint, entered by hand.
        #[arg(long, value_name = "URL")]
        token_endpoint: Option<String>,
        /// The JWK Set URL, entered by hand (needed for external tokens).
        #[arg(long, value_name = "URL", requires = "token_endpoint")]
        jwks_uri: Option<String>,
        /// The `aud` external tokens must carry.
        #[arg(long)]
        audience: Option<String>,
        /// A claim that may carry the client ID, in order; repeat for more (the
        /// server's default: client_id, cid, azp).
        #[arg(long = "client-id-claim", value_name = "CLAIM")]
        client_id_claims: Vec<String>,
        /// The scope sent upstream when brokering client credentials.
        #[arg(long)]
        scope: Option<String>,
        /// Whether it is used (the server's default: true).
        #[arg(long, value_name = "BOOL")]
        enabled: Option<bool>,
    },
    /// Remove it (`DELETE …/identity-provider`).
    Delete,
}

/// Runs `keyward idp …` in `environment`.
pub fn run(ctx: &Context, environment: &str, command: IdpCommand) -> Result<(), CliError> {
    let path = format!("{}/identity-provider", environment_path(environment));
    match command {
        IdpCommand::Get => ctx.show(&path),
        IdpCommand::Set {
            issuer,
            token_endpoint,
            jwks_uri,
            audience,
            client_id_claims,
            scope,
            enabled,
        } => {
            let mut body = serde_json::Map::new();
            let mut put = |key: &str, value: Option<Value>| {
                if let Some(v) = value {
                    body.insert(key.to_owned(), v);
                }
            };
            put("issuer", issuer.map(Value::from));
            put("token_endpoint", token_endpoint.map(Value::from));
            put("jwks_uri", jwks_uri.map(Value::from));
            put("audience", audience.map(Value::from));
            put(
                "client_id_claims",
                (!client_id_claims.is_empty()).then(|| json!(client_id_claims)),
            );
            put("scope", scope.map(Value::from));
            put("enabled", enabled.map(Value::from));
            let set = ctx.change(Method::PUT, &path, Some(&Value::Object(body)))?;
            ctx.print.object(&set)
        }
        IdpCommand::Delete => ctx.change_without_body(
            Method::DELETE,
            &path,
            &[],
            &format!("removed the identity provider of `{environment}`"),
        ),
    }
}
