//! Starts a real `keyward serve` on a temporary data directory and talks HTTP to it.
//! The steps and assertions the suites share live here and in the modules below, one
//! copy each; storage is reached only through [`Server::db`] (`harness/db.rs`).
#![allow(dead_code)]

mod browser;
mod db;
mod idp;
mod management;
mod oauth;
mod postgres;
mod replies;
mod standards;

pub use browser::{screenshot_dir, Browser};
pub use db::{
    create_postgres_database, database_url_for, is_postgres, postgres_server, with_database,
};
pub use idp::*;
pub use management::*;
pub use oauth::*;
pub use postgres::OwnPostgres;
pub use replies::*;
pub use standards::*;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use reqwest::blocking::{Client, Response};
use serde_json::{json, Value};

/// The credential every test server bootstraps its Super Admin with.
pub const ADMIN_CREDENTIAL: &str = "test-bootstrap-credential-0123456789abcdef";

/// A running `keyward serve`, killed on drop.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`
    pub base: String,
    /// The bootstrap Super Admin's personal credential.
    pub admin: String,
    dir: tempfile::TempDir,
    stderr: Arc<Mutex<String>>,
    stdout: Arc<Mutex<String>>,
    http: Client,
}

/// A client app as created through the API.
#[derive(Debug, Clone)]
pub struct App {
    pub client_id: String,
    pub client_secret: String,
    pub body: Value,
}

impl Server {
    /// A server with default settings.
    pub fn start() -> Server {
        Self::start_with(&[])
    }

    /// A server with extra `KEYWARD__...` (or `RUST_LOG`) environment variables.
    pub fn start_with(env: &[(&str, &str)]) -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        Self::start_in(dir, env)
    }

    /// A server on an existing data directory (e.g. to restart on the same database).
    pub fn start_in(dir: tempfile::TempDir, env: &[(&str, &str)]) -> Server {
        Self::spawn(dir, env, true)
    }

    /// Spawns `keyward serve` on `dir`, with or without the bootstrap credential.
    fn spawn(dir: tempfile::TempDir, env: &[(&str, &str)], with_bootstrap: bool) -> Server {
        let mut keyward = spawn_keyward(dir.path(), dir.path(), &["serve"], env, with_bootstrap);
        let base = match keyward.listening.recv_timeout(Duration::from_secs(60)) {
            Ok(Some(base)) => base,
            _ => {
                let _ = keyward.child.kill();
                panic!(
                    "keyward did not start; stderr:\n{}",
                    keyward.stderr.lock().unwrap()
                );
            }
        };
        Server {
            child: keyward.child,
            base,
            admin: if with_bootstrap {
                ADMIN_CREDENTIAL.to_owned()
            } else {
                String::new()
            },
            dir,
            stderr: keyward.stderr,
            stdout: keyward.stdout,
            http: http_client(),
        }
    }

    /// Stops the server and returns its data directory (to start again on it).
    pub fn stop(mut self) -> tempfile::TempDir {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let dir = tempfile::tempdir().expect("temp dir");
        std::mem::replace(&mut self.dir, dir)
    }

    /// Sends SIGTERM and waits for a graceful exit (flushes usage); returns the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "keyward did not exit after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    /// SQLite-only: the database file, for tests about the file itself (faults.rs) and
    /// for [`Server::db`]. Everything else reaches storage through [`Server::db`].
    pub fn db_path(&self) -> PathBuf {
        self.dir.path().join("keyward.db")
    }

    /// Everything the server logged so far (stderr).
    pub fn logs(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Everything the server printed to stdout so far.
    pub fn stdout(&self) -> String {
        self.stdout.lock().unwrap().clone()
    }

    pub fn http(&self) -> &Client {
        &self.http
    }

    // ----- management API -----

    /// A request to the management API with a Bearer credential.
    pub fn api(
        &self,
        method: reqwest::Method,
        path: &str,
        credential: &str,
        body: Option<Value>,
    ) -> Response {
        let mut req = self
            .http
            .request(method, self.url(path))
            .bearer_auth(credential);
        if let Some(body) = body {
            req = req.json(&body);
        }
        req.send().expect("request")
    }

    pub fn get(&self, path: &str, credential: &str) -> Response {
        self.api(reqwest::Method::GET, path, credential, None)
    }

    pub fn post(&self, path: &str, credential: &str, body: Value) -> Response {
        self.api(reqwest::Method::POST, path, credential, Some(body))
    }

    pub fn put(&self, path: &str, credential: &str, body: Value) -> Response {
        self.api(reqwest::Method::PUT, path, credential, Some(body))
    }

    pub fn delete(&self, path: &str, credential: &str) -> Response {
        self.api(reqwest::Method::DELETE, path, credential, None)
    }

    /// Creates a role as the Super Admin; panics unless 201.
    pub fn create_role(&self, env: &str, name: &str, permissions: &[&str]) -> Value {
        let res = self.post(
            &format!("/api/v1/environments/{env}/roles"),
            &self.admin,
            json!({"name": name, "permissions": permissions}),
        );
        assert_eq!(res.status(), 201, "create role {name}");
        res.json().expect("json")
    }

    /// Creates an environment as the Super Admin; panics unless 201.
    pub fn create_environment(&self, slug: &str) -> Value {
        let res = self.post("/api/v1/environments", &self.admin, json!({"slug": slug}));
        assert_eq!(res.status(), 201, "create environment {slug}");
        res.json().expect("json")
    }

    /// Creates a client app as the Super Admin; panics unless 201.
    pub fn create_app(&self, env: &str, name: &str, roles: &[&str]) -> App {
        self.create_app_as(&self.admin, env, name, roles)
    }

    /// Creates a client app with `credential`; panics unless 201.
    pub fn create_app_as(&self, credential: &str, env: &str, name: &str, roles: &[&str]) -> App {
        let res = self.post(
            &format!("/api/v1/environments/{env}/client-apps"),
            credential,
            json!({"name": name, "roles": roles}),
        );
        let status = res.status();
        let body: Value = res.json().expect("json");
        assert_eq!(status, 201, "create app {name}: {body}");
        App {
            client_id: body["client_id"].as_str().expect("client_id").to_owned(),
            client_secret: body["client_secret"]
                .as_str()
                .expect("client_secret")
                .to_owned(),
            body,
        }
    }

    pub fn app_path(&self, env: &str, app: &App) -> String {
        format!("/api/v1/environments/{env}/client-apps/{}", app.client_id)
    }

    pub fn deactivate(&self, env: &str, app: &App) {
        let res = self.post(
            &format!("{}/deactivate", self.app_path(env, app)),
            &self.admin,
            json!({}),
        );
        assert_eq!(res.status(), 200);
    }

    pub fn activate(&self, env: &str, app: &App) {
        let res = self.post(
            &format!("{}/activate", self.app_path(env, app)),
            &self.admin,
            json!({}),
        );
        assert_eq!(res.status(), 200);
    }

    pub fn set_roles(&self, env: &str, app: &App, roles: &[&str]) {
        let res = self.put(
            &format!("{}/roles", self.app_path(env, app)),
            &self.admin,
            json!({"roles": roles}),
        );
        assert_eq!(res.status(), 200);
    }

    // ----- OAuth -----

    /// `POST /oauth2/token` with client_secret_basic and optional scope.
    pub fn token_response(&self, client_id: &str, secret: &str, scope: Option<&str>) -> Response {
        let mut form = vec![("grant_type", "client_credentials")];
        if let Some(s) = scope {
            form.push(("scope", s));
        }
        self.http
            .post(self.url("/oauth2/token"))
            .basic_auth(urlencode(client_id), Some(urlencode(secret)))
            .form(&form)
            .send()
            .expect("token request")
    }

    /// An access token for `app`; panics unless 200.
    pub fn token(&self, app: &App) -> String {
        let res = self.token_response(&app.client_id, &app.client_secret, None);
        assert_eq!(res.status(), 200);
        let body: Value = res.json().expect("json");
        body["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned()
    }

    /// The status code of `GET /oauth2/status` for a token.
    pub fn status(&self, token: &str) -> u16 {
        self.http
            .get(self.url("/oauth2/status"))
            .bearer_auth(token)
            .send()
            .expect("status")
            .status()
            .as_u16()
    }

    /// The status code of `POST /api/v1/authorize` for a token and permission.
    pub fn authorize(&self, token: &str, permission: &str) -> u16 {
        self.post(
            "/api/v1/authorize",
            token,
            json!({"permission": permission}),
        )
        .status()
        .as_u16()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// application/x-www-form-urlencoded encoding of one value (RFC 6749 §2.3.1).
pub fn urlencode(s: &str) -> String {
    form_urlencode(s)
}

fn form_urlencode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Polls `f` until it returns true or `timeout` passes; returns the time it took.
pub fn eventually(timeout: Duration, mut f: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if f() {
            return Some(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    None
}

// ----- first starts without a bootstrap credential, anonymous requests, JWTs -----

impl Server {
    /// A server on a fresh data directory started WITHOUT
    /// `KEYWARD__BOOTSTRAP__ADMIN_CREDENTIAL`, so the first start generates the Super
    /// Admin credential and prints it to stdout. `admin` is left empty.
    pub fn start_without_bootstrap_credential(env: &[(&str, &str)]) -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        Self::start_in_without_bootstrap_credential(dir, env)
    }

    /// Like [`Server::start_in`] but without `KEYWARD__BOOTSTRAP__ADMIN_CREDENTIAL`.
    pub fn start_in_without_bootstrap_credential(
        dir: tempfile::TempDir,
        env: &[(&str, &str)],
    ) -> Server {
        Self::spawn(dir, env, false)
    }

    /// `GET path` without any credential.
    pub fn get_anonymous(&self, path: &str) -> Response {
        self.http.get(self.url(path)).send().expect("request")
    }

    /// `PATCH /api/v1/environments/{env}` `{"enabled": enabled}` as the Super Admin;
    /// panics unless 200.
    pub fn set_environment_enabled(&self, env: &str, enabled: bool) {
        let res = self.api(
            reqwest::Method::PATCH,
            &format!("/api/v1/environments/{env}"),
            &self.admin,
            Some(json!({"enabled": enabled})),
        );
        assert_eq!(res.status(), 200, "PATCH environment {env}");
    }
}

/// The decoded JOSE header and claims of a compact JWT (no signature check).
pub fn jwt_parts(token: &str) -> (Value, Value) {
    use base64::Engine;
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "a JWS has three parts: {token}");
    let decode = |p: &str| -> Value {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(p)
            .expect("base64url");
        serde_json::from_slice(&bytes).expect("json")
    };
    (decode(parts[0]), decode(parts[1]))
}

// ----- the server process -----

impl Server {
    /// The process ID of the running `keyward serve`.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Logs a user in to the console over HTTP (`POST /console/session`): the session
    /// cookie (`name=value`) and the CSRF token. Panics unless 200.
    pub fn console_session(&self, username: &str, password: &str) -> ConsoleSession {
        let res = Client::new()
            .post(self.url("/console/session"))
            .json(&json!({"username": username, "password": password}))
            .send()
            .expect("console login");
        assert_eq!(res.status(), 200, "console login of {username}");
        let cookie = res.headers()["set-cookie"]
            .to_str()
            .expect("set-cookie")
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_owned();
        let body: Value = res.json().expect("login body");
        ConsoleSession {
            cookie,
            csrf: body["csrf_token"].as_str().expect("csrf_token").to_owned(),
        }
    }

    /// The server's resident memory (`VmRSS` in `/proc/<pid>/status`), in KiB.
    pub fn resident_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .expect("read /proc/<pid>/status");
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kib| kib.parse().ok())
            .expect("VmRSS in /proc/<pid>/status")
    }
}

// ----- keyward processes on a data directory the test owns (faults) -----

/// A `keyward serve` started by [`launch`] on a data directory the test owns (several
/// may share one); killed on drop.
pub struct Instance {
    child: Child,
    /// `http://127.0.0.1:PORT`
    pub base: String,
    stderr: Arc<Mutex<String>>,
    http: Client,
}

/// How a `keyward` process launched on a data directory turned out.
pub enum Launch {
    /// It printed its listening line and is serving.
    Serving(Instance),
    /// It exited before listening (a refused start, or a command that ran to the end).
    Exited {
        status: std::process::ExitStatus,
        stdout: String,
        stderr: String,
    },
}

impl Launch {
    /// The serving instance; panics with the exit status and stderr otherwise.
    pub fn serving(self) -> Instance {
        match self {
            Launch::Serving(i) => i,
            Launch::Exited { status, stderr, .. } => {
                panic!("keyward exited ({status}) instead of serving; stderr:\n{stderr}")
            }
        }
    }

    /// The exit status and stderr; panics if the process is serving.
    pub fn exited(self) -> (std::process::ExitStatus, String) {
        match self {
            Launch::Serving(i) => panic!(
                "keyward started serving on {} instead of exiting; stderr:\n{}",
                i.base,
                i.logs()
            ),
            Launch::Exited { status, stderr, .. } => (status, stderr),
        }
    }
}

/// Runs `keyward <args>` (e.g. `["serve"]`) on `dir` with the test bootstrap credential,
/// port 0 and `env`, and waits (at most 60 s) until it listens or exits.
pub fn launch(dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> Launch {
    // Run where no stray keyward.toml can be picked up: the data directory, or the
    // directory it will be created in.
    let cwd = if dir.exists() {
        dir
    } else {
        dir.parent().expect("a data directory has a parent")
    };
    let mut keyward = spawn_keyward(dir, cwd, args, env, true);
    match keyward.listening.recv_timeout(Duration::from_secs(60)) {
        Ok(Some(base)) => Launch::Serving(Instance {
            child: keyward.child,
            base,
            stderr: keyward.stderr,
            http: http_client(),
        }),
        Ok(None) | Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
            // Standard output closed: the process is exiting.
            let status = keyward.child.wait().expect("wait for keyward");
            for reader in keyward.readers {
                let _ = reader.join();
            }
            let stdout = keyward.stdout.lock().unwrap().clone();
            let stderr = keyward.stderr.lock().unwrap().clone();
            Launch::Exited {
                status,
                stdout,
                stderr,
            }
        }
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            let _ = keyward.child.kill();
            let _ = keyward.child.wait();
            panic!(
                "keyward neither listened nor exited within 60 s; stderr:\n{}",
                keyward.stderr.lock().unwrap()
            );
        }
    }
}

/// A spawned `keyward` whose output is being collected.
struct Spawned {
    child: Child,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
    /// `Some(base URL)` once it prints its listening line; `None` when stdout closes.
    listening: Receiver<Option<String>>,
    readers: [JoinHandle<()>; 2],
}

/// Spawns `keyward <args>` with a clean environment on data directory `dir` (port 0, two
/// workers, `RUST_LOG=info`, the test bootstrap credential if asked) plus `env`.
fn spawn_keyward(
    dir: &std::path::Path,
    cwd: &std::path::Path,
    args: &[&str],
    env: &[(&str, &str)],
    with_bootstrap: bool,
) -> Spawned {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_keyward"));
    cmd.args(args)
        .current_dir(cwd)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("KEYWARD__DATA_DIR", dir)
        .env("KEYWARD__SERVER__BIND", "127.0.0.1:0")
        .env("KEYWARD__SERVER__WORKERS", "2")
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .stdin(Stdio::null());
    if with_bootstrap {
        cmd.env("KEYWARD__BOOTSTRAP__ADMIN_CREDENTIAL", ADMIN_CREDENTIAL);
    }
    if let Some(url) = db::database_url_for(dir) {
        cmd.env("KEYWARD__DATABASE__URL", url);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn keyward");
    let stdout = Arc::new(Mutex::new(String::new()));
    let stderr = Arc::new(Mutex::new(String::new()));
    let (tx, listening) = std::sync::mpsc::channel::<Option<String>>();
    let out_reader = {
        let out = child.stdout.take().expect("stdout");
        let stdout = Arc::clone(&stdout);
        std::thread::spawn(move || {
            append_lines(out, &stdout, |line| {
                if let Some(rest) = line.strip_prefix("keyward listening on ") {
                    let base = rest.split_whitespace().next().unwrap_or_default();
                    let _ = tx.send(Some(base.to_owned()));
                }
            });
            let _ = tx.send(None);
        })
    };
    let err_reader = {
        let err = child.stderr.take().expect("stderr");
        let stderr = Arc::clone(&stderr);
        std::thread::spawn(move || append_lines(err, &stderr, |_| {}))
    };
    Spawned {
        child,
        stdout,
        stderr,
        listening,
        readers: [out_reader, err_reader],
    }
}

/// Appends each line of `pipe` to `sink` until it closes, showing each to `seen`.
fn append_lines(pipe: impl std::io::Read, sink: &Mutex<String>, mut seen: impl FnMut(&str)) {
    for line in BufReader::new(pipe).lines().map_while(Result::ok) {
        {
            let mut s = sink.lock().unwrap();
            s.push_str(&line);
            s.push('\n');
        }
        seen(&line);
    }
}

fn http_client() -> Client {
    Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

impl Instance {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// `GET path`, with a Bearer credential when one is given.
    pub fn get(&self, path: &str, credential: Option<&str>) -> Response {
        let mut req = self.http.get(self.url(path));
        if let Some(c) = credential {
            req = req.bearer_auth(c);
        }
        req.send().expect("request")
    }

    /// Everything the instance logged so far (stderr).
    pub fn logs(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A console session opened over HTTP by [`Server::console_session`].
pub struct ConsoleSession {
    /// The session cookie, `name=value`.
    pub cookie: String,
    /// The CSRF token that state-changing calls carry in `X-CSRF-Token`.
    pub csrf: String,
}
