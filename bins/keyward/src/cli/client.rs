//! The CLI's HTTP client: one blocking `reqwest` client, the Bearer credential, and the
//! mapping of every answer to JSON or to a [`CliError`] with its exit code.

use std::fmt;
use std::time::Duration;

use reqwest::blocking::Client;
use reqwest::header::{HeaderValue, ACCEPT, AUTHORIZATION};
use reqwest::{Method, StatusCode};
use serde_json::Value;

/// How the CLI ends, as a process exit code (docs/CLI.md lists them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitKind {
    /// 1: the server failed (5xx, 429), could not be reached, or answered something
    /// unexpected; or a local I/O failure.
    Failure,
    /// 2: the command line is wrong or incomplete (no credential, bad flag values).
    Usage,
    /// 3: the credential was refused (401) or does not allow this (403).
    Auth,
    /// 4: no such environment, app, role, user, key… (404).
    NotFound,
    /// 5: a conflict (409): name taken, quota reached, app still active, …
    Conflict,
    /// 6: the server refused the input (400, 405, 413, 415, 422).
    Invalid,
}

impl ExitKind {
    /// The process exit code.
    pub fn code(self) -> i32 {
        match self {
            ExitKind::Failure => 1,
            ExitKind::Usage => 2,
            ExitKind::Auth => 3,
            ExitKind::NotFound => 4,
            ExitKind::Conflict => 5,
            ExitKind::Invalid => 6,
        }
    }

    /// The exit kind of an HTTP error status.
    fn of_status(status: StatusCode) -> Self {
        match status.as_u16() {
            401 | 403 => ExitKind::Auth,
            404 => ExitKind::NotFound,
            409 => ExitKind::Conflict,
            400 | 405 | 413 | 415 | 422 => ExitKind::Invalid,
            _ => ExitKind::Failure,
        }
    }
}

/// A failed command: what to print on stderr (one line) and how to exit.
#[derive(Debug)]
pub struct CliError {
    /// The exit code's kind.
    pub kind: ExitKind,
    /// The message, without the `keyward: ` prefix.
    pub message: String,
}

impl CliError {
    /// A usage error (exit 2).
    pub fn usage(message: impl Into<String>) -> Self {
        Self {
            kind: ExitKind::Usage,
            message: message.into(),
        }
    }

    /// A failure (exit 1).
    pub fn failure(message: impl Into<String>) -> Self {
        Self {
            kind: ExitKind::Failure,
            message: message.into(),
        }
    }

    /// The error of an HTTP answer that is not a success: its problem JSON (RFC 9457)
    /// or OAuth error body in one line, or the status alone.
    fn from_answer(status: StatusCode, body: &str) -> Self {
        let kind = ExitKind::of_status(status);
        let parsed: Option<Value> = serde_json::from_str(body).ok();
        let message = match parsed.as_ref() {
            Some(problem) => describe_problem(status, problem),
            None => format!("the server answered {status}"),
        };
        let hint = match status.as_u16() {
            401 => " (check KEYWARD_TOKEN, --token or --token-file)",
            _ => "",
        };
        Self {
            kind,
            message: format!("{message}{hint}"),
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// One line from a problem body: `title (HTTP status): detail; field: message`, each
/// field error not already in the detail added. OAuth-style bodies (`error`,
/// `error_description`) are read too.
pub fn describe_problem(status: StatusCode, problem: &Value) -> String {
    let text = |key: &str| problem.get(key).and_then(Value::as_str).unwrap_or_default();
    let title = match (text("title"), text("error")) {
        ("", "") => status.canonical_reason().unwrap_or("Error"),
        ("", error) => error,
        (title, _) => title,
    };
    let detail = match (text("detail"), text("error_description")) {
        ("", description) => description,
        (detail, _) => detail,
    };
    let mut line = format!("{title} (HTTP {})", status.as_u16());
    if !detail.is_empty() {
        line.push_str(": ");
        line.push_str(detail);
    }
    let fields = problem.get("errors").and_then(Value::as_array);
    for error in fields.into_iter().flatten() {
        let field = error.get("field").and_then(Value::as_str).unwrap_or("?");
        let message = error.get("message").and_then(Value::as_str).unwrap_or("");
        let item = format!("{field}: {message}");
        if !detail.contains(&item) {
            line.push_str("; ");
            line.push_str(&item);
        }
    }
    // One line, whatever the server sent.
    line.replace(['\r', '\n'], " ")
}

/// The credential sent as `Authorization: Bearer`: never printed (`Debug` hides it).
pub struct Token(String);

impl Token {
    /// A token from its text (surrounding white space removed); refused when empty or
    /// when it cannot be sent in a header (the message never shows it).
    pub fn new(text: &str, source: &str) -> Result<Self, CliError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(CliError::usage(format!(
                "the credential from {source} is empty"
            )));
        }
        if !text.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(CliError::usage(format!(
                "the credential from {source} holds characters that cannot be sent in a header"
            )));
        }
        Ok(Self(text.to_owned()))
    }

    fn header(&self) -> Result<HeaderValue, CliError> {
        let mut value = HeaderValue::from_str(&format!("Bearer {}", self.0))
            .map_err(|_| CliError::usage("the credential cannot be sent in a header"))?;
        // Hidden from reqwest's and hyper's Debug output and logs.
        value.set_sensitive(true);
        Ok(value)
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<hidden>)")
    }
}

/// The management API of one Keyward server, with one credential.
pub struct ApiClient {
    http: Client,
    base: String,
    token: Token,
}

impl fmt::Debug for ApiClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiClient")
            .field("base", &self.base)
            .field("token", &self.token)
            .finish()
    }
}

impl ApiClient {
    /// A client for the server at `base` (e.g. `http://127.0.0.1:8080`).
    pub fn new(base: &str, token: Token) -> Result<Self, CliError> {
        let base = base.trim_end_matches('/');
        let parsed = reqwest::Url::parse(base)
            .map_err(|e| CliError::usage(format!("--url / KEYWARD_URL `{base}`: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(CliError::usage(format!(
                "--url / KEYWARD_URL `{base}`: only http and https URLs are supported"
            )));
        }
        let http = Client::builder()
            .user_agent(concat!("keyward-cli/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            // The credential goes to the server named, nowhere else.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| CliError::failure(format!("starting the HTTP client: {e}")))?;
        Ok(Self {
            http,
            base: base.to_owned(),
            token,
        })
    }

    /// Sends one request to `path` (under the base URL) with the query and an optional
    /// JSON body; returns the JSON answer (`None` for 204 or an empty body). A non-2xx
    /// answer becomes a [`CliError`].
    pub fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Option<Value>, CliError> {
        let url = format!("{}{path}", self.base);
        let mut request = self
            .http
            .request(method.clone(), &url)
            .header(AUTHORIZATION, self.token.header()?)
            .header(ACCEPT, "application/json");
        if !query.is_empty() {
            request = request.query(query);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().map_err(|e| {
            CliError::failure(format!(
                "could not reach Keyward at {}: {}",
                self.base,
                error_chain(&e)
            ))
        })?;
        let status = response.status();
        let text = response.text().map_err(|e| {
            CliError::failure(format!("reading the answer to {method} {path}: {e}"))
        })?;
        if !status.is_success() {
            return Err(CliError::from_answer(status, &text));
        }
        if text.trim().is_empty() {
            return Ok(None);
        }
        let body = serde_json::from_str(&text).map_err(|e| {
            CliError::failure(format!(
                "the answer to {method} {path} ({status}) is not JSON: {e}"
            ))
        })?;
        Ok(Some(body))
    }

    /// `GET` returning the JSON body.
    pub fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Value, CliError> {
        self.call(Method::GET, path, query, None)?
            .ok_or_else(|| CliError::failure(format!("GET {path} answered without a body")))
    }

    /// Every page of a list: follows `next_cursor` until it is `null`; the result has
    /// the list's shape, `{"items": [...all...], "next_cursor": null}`.
    pub fn get_all(&self, path: &str, query: &[(&str, String)]) -> Result<Value, CliError> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        // A bound, so a server that repeats a cursor cannot loop the CLI forever.
        for _ in 0..100_000 {
            let mut q: Vec<(&str, String)> = query
                .iter()
                .filter(|(k, _)| *k != "cursor")
                .cloned()
                .collect();
            if let Some(c) = cursor.take() {
                q.push(("cursor", c));
            }
            let page = self.get(path, &q)?;
            if let Some(list) = page.get("items").and_then(Value::as_array) {
                items.extend(list.iter().cloned());
            }
            match page.get("next_cursor").and_then(Value::as_str) {
                Some(next) if !next.is_empty() => cursor = Some(next.to_owned()),
                _ => {
                    return Ok(serde_json::json!({"items": items, "next_cursor": null}));
                }
            }
        }
        Err(CliError::failure(format!(
            "GET {path}: the server kept returning a next page"
        )))
    }
}

/// An error and its sources in one line (reqwest's own message names only the URL).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let next = s.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_validation_problem_is_one_line_naming_each_field() {
        let problem = json!({
            "type": "urn:keyward:problem:validation-error",
            "title": "Invalid field",
            "status": 422,
            "detail": "name: too short",
            "errors": [{"field": "name", "message": "too short"},
                       {"field": "roles", "message": "unknown role\nx"}]
        });
        let line = describe_problem(StatusCode::UNPROCESSABLE_ENTITY, &problem);
        assert_eq!(
            line,
            "Invalid field (HTTP 422): name: too short; roles: unknown role x"
        );
    }

    #[test]
    fn an_oauth_error_body_is_read_too() {
        let body = json!({"error": "invalid_token", "error_description": "expired"});
        assert_eq!(
            describe_problem(StatusCode::UNAUTHORIZED, &body),
            "invalid_token (HTTP 401): expired"
        );
    }

    #[test]
    fn statuses_map_to_the_documented_exit_codes() {
        let code = |s: u16| {
            ExitKind::of_status(StatusCode::from_u16(s).unwrap_or(StatusCode::IM_A_TEAPOT)).code()
        };
        assert_eq!(
            [401, 403, 404, 409, 422, 400, 500, 503, 429].map(code),
            [3, 3, 4, 5, 6, 6, 1, 1, 1]
        );
    }

    #[test]
    fn a_token_never_shows_in_debug() {
        let token = Token::new(" kwpc_secret-value\n", "test").ok();
        let shown = format!("{token:?}");
        assert!(!shown.contains("secret-value"), "{shown}");
    }

    #[test]
    fn an_empty_token_is_a_usage_error() {
        let e = Token::new("  \n", "KEYWARD_TOKEN").err();
        assert_eq!(e.map(|e| e.kind), Some(ExitKind::Usage));
    }
}
