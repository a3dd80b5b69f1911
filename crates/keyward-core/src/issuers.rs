//! Who issues an environment's tokens. Environments are kept apart by standard claims
//! alone: each has its own issuer (as Keycloak realms do), so a resource server that
//! checks only `iss`, `aud` and the signature never accepts another environment's
//! token. The `default` environment keeps the server's public URL as its issuer (the
//! URLs of earlier versions keep working); every other environment's issuer is
//! `{public_url}/environments/{slug}`, with its discovery documents under that path.

/// The environment whose issuer is the server's public URL itself.
pub const DEFAULT_ENVIRONMENT: &str = "default";

/// The issuer (`iss`) of tokens of environment `env` on a server whose public URL is
/// `base` (without a trailing slash).
pub fn environment_issuer(base: &str, env: &str) -> String {
    if env == DEFAULT_ENVIRONMENT {
        base.to_owned()
    } else {
        format!("{base}/environments/{env}")
    }
}

/// Whether `iss` is one of Keyward's own issuers on a server whose public URL is
/// `base` (the public URL itself, or an environment's issuer under it). Anything else is
/// an external identity provider's token (federation).
pub fn is_own_issuer(base: &str, iss: &str) -> bool {
    iss == base
        || iss
            .strip_prefix(base)
            .and_then(|rest| rest.strip_prefix("/environments/"))
            .is_some_and(|slug| !slug.is_empty() && !slug.contains('/'))
}

/// The token endpoint of a server whose public URL is `base`.
pub fn token_endpoint(base: &str) -> String {
    format!("{base}/oauth2/token")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_keeps_the_public_url_and_others_get_a_path() {
        assert_eq!(environment_issuer("https://k", "default"), "https://k");
        assert_eq!(
            environment_issuer("https://k", "staging"),
            "https://k/environments/staging"
        );
        assert_eq!(token_endpoint("https://k"), "https://k/oauth2/token");
        assert!(is_own_issuer("https://k", "https://k"));
        assert!(is_own_issuer("https://k", "https://k/environments/staging"));
        assert!(!is_own_issuer("https://k", "https://k/environments/"));
        assert!(!is_own_issuer("https://k", "https://k/environments/a/b"));
        assert!(!is_own_issuer("https://k", "https://idp.example"));
        assert!(!is_own_issuer("https://k", "https://k.evil/environments/x"));
    }
}
