//! Responses read completely, and the assertions every suite makes on RFC 9457 problem
//! bodies.

use reqwest::blocking::Response;
use reqwest::Method;
use serde_json::Value;

use super::Server;

/// The prefix of every problem `type`.
pub const PROBLEM: &str = "urn:keyward:problem:";

/// One response, read completely.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub www_authenticate: Option<String>,
    pub body: Value,
}

impl Reply {
    pub fn problem_type(&self) -> &str {
        self.body["type"].as_str().unwrap_or_default()
    }
}

impl From<Response> for Reply {
    fn from(res: Response) -> Reply {
        let status = res.status().as_u16();
        let header = |name: &str| {
            res.headers()
                .get(name)
                .map(|v| v.to_str().unwrap_or_default().to_owned())
        };
        let content_type = header("content-type").unwrap_or_default();
        let www_authenticate = header("www-authenticate");
        let text = res.text().expect("body");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Reply {
            status,
            content_type,
            www_authenticate,
            body,
        }
    }
}

impl From<&Reply> for Reply {
    fn from(reply: &Reply) -> Reply {
        reply.clone()
    }
}

/// A header's value, if the response has it.
pub fn header(res: &Response, name: &str) -> Option<String> {
    res.headers()
        .get(name)
        .map(|v| v.to_str().expect("ascii header").to_owned())
}

impl Server {
    /// Requests made with this Bearer credential, each read as a [`Reply`].
    pub fn bearer<'a>(&'a self, credential: &'a str) -> Caller<'a> {
        self.caller(Some(credential))
    }

    /// Requests made without any credential, each read as a [`Reply`].
    pub fn anonymous(&self) -> Caller<'_> {
        self.caller(None)
    }

    /// Requests made with or without a Bearer credential, each read as a [`Reply`].
    pub fn caller<'a>(&'a self, credential: Option<&'a str>) -> Caller<'a> {
        Caller {
            server: self,
            credential,
        }
    }
}

/// Requests to the management API with one credential (or none); see [`Server::bearer`].
pub struct Caller<'a> {
    server: &'a Server,
    credential: Option<&'a str>,
}

impl Caller<'_> {
    pub fn get(&self, path: &str) -> Reply {
        self.send(Method::GET, path, None)
    }

    pub fn post(&self, path: &str, body: &Value) -> Reply {
        self.send(Method::POST, path, Some(body))
    }

    pub fn put(&self, path: &str, body: &Value) -> Reply {
        self.send(Method::PUT, path, Some(body))
    }

    pub fn patch(&self, path: &str, body: &Value) -> Reply {
        self.send(Method::PATCH, path, Some(body))
    }

    pub fn delete(&self, path: &str) -> Reply {
        self.send(Method::DELETE, path, None)
    }

    /// Any request; a failed request panics with the tail of the server's log.
    pub fn send(&self, method: Method, path: &str, body: Option<&Value>) -> Reply {
        let s = self.server;
        let mut req = s.http().request(method, s.url(path));
        if let Some(c) = self.credential {
            req = req.bearer_auth(c);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let res = req.send().unwrap_or_else(|e| {
            let logs = s.logs();
            let tail: Vec<&str> = logs.lines().rev().take(20).collect();
            panic!(
                "request failed: {e:?}\nserver log tail (newest first):\n{}",
                tail.join("\n")
            )
        });
        Reply::from(res)
    }
}

/// Asserts a problem answer of `status` and `kind` (the `type` suffix) with a title, and
/// on 401 and 403 the RFC 6750 challenge; returns the body.
#[track_caller]
pub fn assert_problem(reply: impl Into<Reply>, status: u16, kind: &str, context: &str) -> Value {
    let reply = reply.into();
    assert_eq!(reply.status, status, "{context}: {reply:?}");
    assert!(
        reply.content_type.starts_with("application/problem+json"),
        "{context}: content type {reply:?}"
    );
    assert_eq!(
        reply.problem_type(),
        format!("{PROBLEM}{kind}"),
        "{context}: {reply:?}"
    );
    assert!(
        reply.body["title"].is_string(),
        "{context}: title {reply:?}"
    );
    if status == 401 {
        let auth = reply.www_authenticate.as_deref().unwrap_or_default();
        assert!(
            auth.starts_with("Bearer"),
            "{context}: 401 without WWW-Authenticate: Bearer: {reply:?}"
        );
    }
    if status == 403 {
        // RFC 6750 §3.1: a token that does not enable access says why.
        let auth = reply.www_authenticate.as_deref().unwrap_or_default();
        assert!(
            auth.starts_with("Bearer realm=\"keyward\", error=\"insufficient_scope\""),
            "{context}: 403 without an insufficient_scope challenge: {reply:?}"
        );
    }
    reply.body
}

#[track_caller]
pub fn assert_unauthenticated(reply: impl Into<Reply>, context: &str) {
    assert_problem(reply, 401, "unauthenticated", context);
}

#[track_caller]
pub fn assert_forbidden(reply: impl Into<Reply>, context: &str) {
    assert_problem(reply, 403, "forbidden", context);
}

#[track_caller]
pub fn assert_escalation(reply: impl Into<Reply>, context: &str) {
    assert_problem(reply, 403, "privilege-escalation", context);
}

/// Asserts a 422 validation error with a non-empty message for `field`.
#[track_caller]
pub fn assert_validation_error(reply: impl Into<Reply>, field: &str, case: &str) {
    let body = assert_problem(reply, 422, "validation-error", case);
    let errors = body["errors"].as_array().expect("errors");
    assert!(
        errors
            .iter()
            .any(|e| e["field"] == field && e["message"].as_str().is_some_and(|m| !m.is_empty())),
        "{case}: a `{field}` error in {body}"
    );
}
