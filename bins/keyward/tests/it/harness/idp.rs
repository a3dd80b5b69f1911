//! Identity providers for the federation tests: a real OpenID provider (the npm package
//! `oidc-provider`, OpenID Certified, in `tests/idp/`), and a broken one that answers
//! 500, garbage, or nothing at all.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// The oidc-provider package's directory.
fn idp_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/idp")
}

/// Installs the IdP's npm packages once per test run when missing (the README's test
/// command runs `npm ci` first; this covers a plain `cargo test`).
fn ensure_installed() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        if idp_dir().join("node_modules/oidc-provider").exists() {
            return;
        }
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(idp_dir())
            .status()
            .expect("npm (Node.js) is needed for the federation tests");
        assert!(status.success(), "npm ci in tests/idp failed");
    });
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// A running oidc-provider, killed on drop.
pub struct Idp {
    child: Option<Child>,
    /// Its issuer, `http://127.0.0.1:PORT`.
    pub issuer: String,
    log: Arc<Mutex<String>>,
}

impl Idp {
    /// Starts the provider with these confidential clients (client ID, secret), each
    /// allowed the client credentials grant and the scope `api:read`.
    pub fn start(clients: &[(&str, &str)]) -> Idp {
        ensure_installed();
        let port = free_port();
        let clients: Vec<Value> = clients
            .iter()
            .map(|(id, secret)| json!({"client_id": id, "client_secret": secret}))
            .collect();
        let mut child = Command::new("node")
            .arg("server.mjs")
            .arg(port.to_string())
            .current_dir(idp_dir())
            .env("IDP_CLIENTS", Value::Array(clients).to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("node");
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let stdout = child.stdout.take().expect("stdout");
        let out_log = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.starts_with("idp listening") {
                    let _ = tx.send(());
                }
                out_log.lock().unwrap().push_str(&line);
            }
        });
        let stderr = child.stderr.take().expect("stderr");
        let err_log = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                err_log.lock().unwrap().push_str(&line);
            }
        });
        // Node.js can take long to start when every core runs tests (CI saw a start
        // over 30 s in the PostgreSQL pass); a start is waited for, not timed.
        if rx.recv_timeout(Duration::from_secs(120)).is_err() {
            let _ = child.kill();
            panic!("oidc-provider did not start: {}", log.lock().unwrap());
        }
        Idp {
            child: Some(child),
            issuer: format!("http://127.0.0.1:{port}"),
            log,
        }
    }

    /// A token straight from the provider (client credentials), for `resource` if given.
    pub fn token(&self, client_id: &str, secret: &str, resource: Option<&str>) -> String {
        let mut form = vec![("grant_type", "client_credentials")];
        if let Some(r) = resource {
            form.push(("resource", r));
        }
        let res = reqwest::blocking::Client::new()
            .post(format!("{}/token", self.issuer))
            .basic_auth(client_id, Some(secret))
            .form(&form)
            .send()
            .expect("idp token");
        let status = res.status().as_u16();
        let body: Value = res.json().expect("idp json");
        assert_eq!(
            status,
            200,
            "idp token: {body} ({})",
            self.log.lock().unwrap()
        );
        body["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned()
    }

    /// Stops the provider (it no longer answers at all).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Idp {
    fn drop(&mut self) {
        self.stop();
    }
}

/// How a [`BrokenIdp`] answers every request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Broken {
    /// `500 Internal Server Error` with an HTML body.
    ServerError,
    /// `200 OK` with a body that is not JSON.
    Garbage,
    /// Reads the request and never answers.
    Hang,
}

/// A small local server answering every request the same broken way; stops on drop.
pub struct BrokenIdp {
    /// `http://127.0.0.1:PORT`
    pub base: String,
    stop: Arc<AtomicBool>,
}

impl BrokenIdp {
    pub fn start(mode: Broken) -> BrokenIdp {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        std::thread::spawn(move || {
            let started = Instant::now();
            // Bounded: a test server never outlives a minute.
            while !stopping.load(Ordering::Relaxed) && started.elapsed() < Duration::from_secs(60) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let stopping = Arc::clone(&stopping);
                        std::thread::spawn(move || answer(stream, mode, &stopping));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        BrokenIdp { base, stop }
    }
}

impl Drop for BrokenIdp {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn answer(mut stream: TcpStream, mode: Broken, stop: &AtomicBool) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    let mut buf = [0u8; 8192];
    let _ = stream.read(&mut buf);
    let response: &[u8] = match mode {
        Broken::ServerError => b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/html\r\nContent-Length: 21\r\nConnection: close\r\n\r\n<h1>upstream down</h1",
        Broken::Garbage => b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 9\r\nConnection: close\r\n\r\nnot json!",
        Broken::Hang => {
            let started = Instant::now();
            while !stop.load(Ordering::Relaxed) && started.elapsed() < Duration::from_secs(30) {
                std::thread::sleep(Duration::from_millis(50));
            }
            return;
        }
    };
    let _ = stream.write_all(response);
}

/// A URL on loopback where nothing listens.
pub fn unreachable_url() -> String {
    format!("http://127.0.0.1:{}/token", free_port())
}
