//! A real headless Chromium, driven through chromedriver by the W3C WebDriver protocol
//! (JSON over HTTP, spoken with the suite's own blocking reqwest client: no async
//! runtime and no extra crate for the dozen commands the console tests need).
//! Chromium and chromedriver come from Debian's packages (`chromium`,
//! `chromium-driver`), which `scripts/test` installs; when they are missing the test
//! fails and says so — it never skips.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use reqwest::blocking::Client;
use serde_json::{json, Value};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";
const WAIT: Duration = Duration::from_secs(10);

fn find_program(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        for name in names {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Some(candidate);
            }
        }
    }
    None
}

/// A headless Chromium session; chromedriver and the browser end on drop.
pub struct Browser {
    driver: Child,
    base: String,
    http: Client,
}

/// A found element (its WebDriver reference).
#[derive(Clone)]
pub struct Element(String);

impl Element {
    /// The element as a script argument.
    fn reference(&self) -> Value {
        let mut map = serde_json::Map::new();
        map.insert(ELEMENT.to_owned(), Value::String(self.0.clone()));
        Value::Object(map)
    }
}

impl Browser {
    /// Starts chromedriver and a headless Chromium, 1280 × 900.
    pub fn start() -> Browser {
        let chromium = find_program(&["chromium", "chromium-browser"]).unwrap_or_else(|| {
            panic!(
                "Chromium is not installed: the console tests need a real browser. \
                 Run scripts/test (it installs Debian's `chromium` and `chromium-driver`), \
                 or `apt-get install -y chromium chromium-driver`."
            )
        });
        let chromedriver = find_program(&["chromedriver"]).unwrap_or_else(|| {
            panic!(
                "chromedriver is not installed: run scripts/test, or \
                 `apt-get install -y chromium-driver`."
            )
        });
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let driver = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting chromedriver");
        let http = Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("client");
        let root = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ready = http
                .get(format!("{root}/status"))
                .send()
                .ok()
                .and_then(|r| r.json::<Value>().ok())
                .is_some_and(|v| v["value"]["ready"] == true);
            if ready {
                break;
            }
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        let created: Value = http
            .post(format!("{root}/session"))
            .json(&json!({"capabilities": {"alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {
                    "binary": chromium.to_string_lossy(),
                    "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                             "--disable-dev-shm-usage", "--window-size=1280,900",
                             "--lang=en-US"]
                }
            }}}))
            .send()
            .and_then(|r| r.json())
            .expect("a WebDriver session");
        let id = created["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {created}"))
            .to_owned();
        let mut browser = Browser {
            driver,
            base: format!("{root}/session/{id}"),
            http,
        };
        browser.set_width(1280);
        browser
    }

    fn command(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let request = self
            .http
            .request(method.clone(), format!("{}{path}", self.base));
        let request = match body {
            Some(b) => request.json(&b),
            None => request,
        };
        let reply: Value = request
            .send()
            .and_then(|r| r.json())
            .unwrap_or_else(|e| panic!("WebDriver {method} {path}: {e}"));
        reply["value"].clone()
    }

    fn try_command(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Value,
    ) -> Result<Value, Value> {
        let reply: Value = self
            .http
            .request(method, format!("{}{path}", self.base))
            .json(&body)
            .send()
            .and_then(|r| r.json())
            .expect("WebDriver reply");
        let value = reply["value"].clone();
        if value.get("error").is_some() {
            Err(value)
        } else {
            Ok(value)
        }
    }

    fn post(&self, path: &str, body: Value) -> Value {
        let value = self.command(reqwest::Method::POST, path, Some(body));
        if let Some(error) = value.get("error") {
            panic!("WebDriver POST {path}: {error}: {}", value["message"]);
        }
        value
    }

    /// Opens `url` and waits for the page.
    pub fn goto(&self, url: &str) {
        self.post("/url", json!({ "url": url }));
    }

    /// Runs `script` (a function body; `arguments` holds `args`) and returns its value.
    pub fn exec(&self, script: &str, args: Value) -> Value {
        self.post("/execute/sync", json!({ "script": script, "args": args }))
    }

    /// Emulates a viewport `width` px wide (a phone at 360), through the DevTools
    /// protocol so the width is exact.
    pub fn set_width(&mut self, width: u32) {
        self.post(
            "/goog/cdp/execute",
            json!({"cmd": "Emulation.setDeviceMetricsOverride", "params": {
                "width": width, "height": if width < 700 { 780 } else { 900 },
                "deviceScaleFactor": 1, "mobile": width < 700
            }}),
        );
    }

    fn find_now(&self, using: &str, value: &str) -> Option<Element> {
        // The first match a person can see (it has a box on the page).
        let found = self
            .try_command(
                reqwest::Method::POST,
                "/execute/sync",
                json!({"script": "const [using, sel] = arguments; let all; \
                    if (using === 'xpath') { const r = document.evaluate(sel, document, null, \
                      XPathResult.ORDERED_NODE_SNAPSHOT_TYPE, null); all = []; \
                      for (let i = 0; i < r.snapshotLength; i++) all.push(r.snapshotItem(i)); } \
                    else all = [...document.querySelectorAll(sel)]; \
                    return all.find((e) => e.getClientRects().length > 0 && \
                      getComputedStyle(e).visibility !== 'hidden') || null;",
                    "args": [using, value]}),
            )
            .map_err(|e| eprintln!("find {value}: {e}"))
            .ok()?;
        if std::env::var_os("KW_DEBUG").is_some() {
            eprintln!("find {value}: {found}");
        }
        found[ELEMENT].as_str().map(|id| Element(id.to_owned()))
    }

    fn wait_find(&self, using: &str, value: &str) -> Element {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(e) = self.find_now(using, value) {
                return e;
            }
            if Instant::now() > deadline {
                let text = self.page_text();
                panic!("no visible element {value}; the page says:\n{text}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The visible element matching a CSS selector (waits up to 10 s).
    pub fn find(&self, css: &str) -> Element {
        self.wait_find("css selector", css)
    }

    /// Whether a visible element matches `css` now.
    pub fn is_visible(&self, css: &str) -> bool {
        self.find_now("css selector", css).is_some()
    }

    /// The xpath of buttons and links whose text or label is `text`; inside the open
    /// modal dialog when there is one (a person can reach nothing else then).
    fn button_xpath(&self, text: &str) -> String {
        let modal = self
            .exec(
                "return !!document.querySelector('dialog[open]');",
                json!([]),
            )
            .as_bool()
            .unwrap_or(false);
        let scope = if modal { "//dialog[@open]" } else { "" };
        format!(
            "{scope}//*[self::button or self::a][normalize-space()='{text}' or @aria-label='{text}']"
        )
    }

    /// The visible button (or link styled as one) whose text is `text` (waits 10 s).
    pub fn button(&self, text: &str) -> Element {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(e) = self.find_now("xpath", &self.button_xpath(text)) {
                return e;
            }
            if Instant::now() > deadline {
                panic!("no button {text:?}; the page says:\n{}", self.page_text());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Whether a visible button with this text (or label) is on the page now.
    pub fn has_button(&self, text: &str) -> bool {
        self.find_now("xpath", &self.button_xpath(text)).is_some()
    }

    /// Waits until no visible button has this text (or label).
    pub fn wait_no_button(&self, text: &str) {
        let deadline = Instant::now() + WAIT;
        while self.has_button(text) {
            assert!(Instant::now() < deadline, "the button {text:?} stays");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Clicks.
    pub fn click(&self, element: &Element) {
        self.post(&format!("/element/{}/click", element.0), json!({}));
    }

    /// Clicks the button with this text.
    pub fn click_button(&self, text: &str) {
        let b = self.button(text);
        self.click(&b);
    }

    /// Clears the field and types `text` into it.
    pub fn fill(&self, css: &str, text: &str) {
        let e = self.find(css);
        self.post(&format!("/element/{}/clear", e.0), json!({}));
        self.post(&format!("/element/{}/value", e.0), json!({ "text": text }));
    }

    /// Types keys (e.g. "\u{E00C}" for Escape) into the focused element.
    pub fn keys(&self, text: &str) {
        let actions: Vec<Value> = text
            .chars()
            .flat_map(|c| {
                [
                    json!({"type": "keyDown", "value": c.to_string()}),
                    json!({"type": "keyUp", "value": c.to_string()}),
                ]
            })
            .collect();
        self.post(
            "/actions",
            json!({"actions": [{"type": "key", "id": "keyboard", "actions": actions}]}),
        );
    }

    /// Chooses the option with this value in a `<select>`.
    pub fn select(&self, css: &str, value: &str) {
        let e = self.find(css);
        self.exec(
            "const s = arguments[0]; s.value = arguments[1]; \
             s.dispatchEvent(new Event('change', {bubbles: true}));",
            json!([e.reference(), value]),
        );
    }

    /// The element's visible text.
    pub fn text_of(&self, element: &Element) -> String {
        self.command(
            reqwest::Method::GET,
            &format!("/element/{}/text", element.0),
            None,
        )
        .as_str()
        .unwrap_or_default()
        .to_owned()
    }

    /// The visible text of the element matching `css`.
    pub fn text(&self, css: &str) -> String {
        let e = self.find(css);
        self.text_of(&e)
    }

    /// The whole page's visible text.
    pub fn page_text(&self) -> String {
        self.exec("return document.body.innerText;", json!([]))
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Waits until the page shows `needle` (up to 10 s).
    pub fn wait_text(&self, needle: &str) {
        let deadline = Instant::now() + WAIT;
        loop {
            let text = self.page_text();
            if text.contains(needle) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the page never showed {needle:?}; it says:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until the page no longer shows `needle`.
    pub fn wait_gone(&self, needle: &str) {
        let deadline = Instant::now() + WAIT;
        while self.page_text().contains(needle) {
            assert!(Instant::now() < deadline, "the page still shows {needle:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The page's HTML as it is now (the DOM, not the source).
    pub fn html(&self) -> String {
        self.exec("return document.documentElement.outerHTML;", json!([]))
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Whether the page scrolls sideways.
    pub fn scrolls_sideways(&self) -> bool {
        self.exec(
            "return document.documentElement.scrollWidth > window.innerWidth;",
            json!([]),
        )
        .as_bool()
        .unwrap_or(true)
    }

    /// The browser's cookies, as WebDriver reports them (with their flags).
    pub fn cookies(&self) -> Vec<Value> {
        self.command(reqwest::Method::GET, "/cookie", None)
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// The element that has the keyboard focus: its text, tag and label.
    pub fn focused(&self) -> String {
        self.exec(
            "const e = document.activeElement; \
             return `${e.tagName} ${e.getAttribute('aria-label') || e.textContent.trim()}`;",
            json!([]),
        )
        .as_str()
        .unwrap_or_default()
        .to_owned()
    }

    /// Saves a PNG of the viewport (the whole page height) as `dir/name.png`.
    pub fn screenshot(&self, dir: &Path, name: &str) {
        let data = self.command(reqwest::Method::GET, "/screenshot", None);
        let png = base64::engine::general_purpose::STANDARD
            .decode(data.as_str().unwrap_or_default())
            .expect("a PNG");
        std::fs::create_dir_all(dir).expect("screenshot dir");
        std::fs::write(dir.join(format!("{name}.png")), png).expect("screenshot");
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.http.delete(&self.base).send();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Where screenshots go: `KEYWARD_SCREENSHOTS` when set (scripts/screenshots sets it to
/// docs/console), else a directory under target/ that nobody commits.
pub fn screenshot_dir() -> PathBuf {
    match std::env::var_os("KEYWARD_SCREENSHOTS") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots"),
    }
}
