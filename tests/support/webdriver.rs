//! Headless Chromium driven over WebDriver (W3C): Debian's `chromium` and `chromedriver`, which
//! `scripts/install-chromium.sh` installs (`make test` runs it first). WebDriver is JSON over
//! plain HTTP, so a few lines of `TcpStream` replace a client crate.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use super::{free_port, unique, wait_for};

/// The element reference key of the W3C WebDriver protocol.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Where Debian puts them; `chromium` on PATH is a wrapper script around the binary.
const CHROMEDRIVER: &str = "chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

/// A `chromedriver` process with one Chromium session, both ended when dropped.
pub struct Browser {
    driver: Child,
    port: u16,
    session: String,
    profile: PathBuf,
    pub log: PathBuf,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium with a fresh profile. Panics, saying how to
    /// install them, when they are missing: a browser test never passes by not running.
    pub fn start() -> Self {
        if !Path::new(CHROMIUM).exists() {
            missing(CHROMIUM);
        }
        let port = free_port();
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("browser");
        std::fs::create_dir_all(&dir).unwrap();
        let name = unique("chromium");
        let log = dir.join(format!("{name}-chromedriver.log"));
        let profile = dir.join(format!("{name}-profile"));
        let driver = Command::new(CHROMEDRIVER)
            .args([format!("--port={port}"), format!("--log-path={}", log.display())])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    missing(CHROMEDRIVER)
                }
                panic!("start {CHROMEDRIVER}: {e}")
            });
        let mut browser = Self { driver, port, session: String::new(), profile, log };
        wait_for("chromedriver to listen", Duration::from_secs(20), || {
            browser.try_call("GET", "/status", None).ok().filter(|v| v["ready"] == true)
        });
        // The flags this machine needs (no sandbox as root; no background connections, which its
        // closed network refuses) and a profile of its own, so that nothing carries over.
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            "--window-size=1100,1000",
            &format!("--user-data-dir={}", browser.profile.display()),
        ];
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": CHROMIUM, "args": args},
            "goog:loggingPrefs": {"browser": "ALL"},
        }}});
        let session = browser.call("POST", "/session", Some(&capabilities));
        browser.session = session["sessionId"].as_str().expect("a session id").to_owned();
        browser
    }

    pub fn go(&self, url: &str) {
        self.session_call("POST", "/url", Some(&json!({ "url": url })));
    }

    /// The first element matching a CSS selector.
    pub fn find(&self, css: &str) -> String {
        let found = self.session_call("POST", "/element", Some(&json!({"using": "css selector", "value": css})));
        found[ELEMENT].as_str().unwrap_or_else(|| panic!("no element {css}: {found}")).to_owned()
    }

    /// Types into an element as a person would, key by key, after clearing it.
    pub fn type_into(&self, css: &str, text: &str) {
        let element = self.find(css);
        self.session_call("POST", &format!("/element/{element}/clear"), Some(&json!({})));
        self.session_call("POST", &format!("/element/{element}/value"), Some(&json!({ "text": text })));
    }

    pub fn click(&self, css: &str) {
        let element = self.find(css);
        self.session_call("POST", &format!("/element/{element}/click"), Some(&json!({})));
    }

    /// The rendered text of an element, as a person sees it ("" when hidden).
    pub fn text(&self, css: &str) -> String {
        let element = self.find(css);
        self.session_call("GET", &format!("/element/{element}/text"), None).as_str().unwrap_or_default().to_owned()
    }

    /// Runs `script` (a function body; `arguments` holds `args`) in the page and returns its value.
    pub fn execute(&self, script: &str, args: Value) -> Value {
        self.session_call("POST", "/execute/sync", Some(&json!({ "script": script, "args": args })))
    }

    /// The browser console's messages since the last call (errors, CSP reports among them).
    pub fn console(&self) -> Vec<String> {
        let entries = self.session_call("POST", "/se/log", Some(&json!({"type": "browser"})));
        let entries = entries.as_array().cloned().unwrap_or_default();
        entries
            .iter()
            .map(|e| format!("{} {}", e["level"].as_str().unwrap_or(""), e["message"].as_str().unwrap_or("")))
            .collect()
    }

    /// Resizes the window (the viewport a screenshot shows).
    pub fn resize(&self, width: u32, height: u32) {
        self.session_call("POST", "/window/rect", Some(&json!({ "width": width, "height": height })));
    }

    /// A PNG of the viewport.
    pub fn screenshot(&self) -> Vec<u8> {
        let encoded = self.session_call("GET", "/screenshot", None);
        base64_decode(encoded.as_str().expect("base64 PNG"))
    }

    fn session_call(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        self.call(method, &format!("/session/{}{path}", self.session), body)
    }

    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        self.try_call(method, path, body).unwrap_or_else(|e| panic!("WebDriver {method} {path}: {e}"))
    }

    /// One WebDriver command: its `value`, or the error it answered.
    fn try_call(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value, String> {
        let body = body.map(Value::to_string).unwrap_or_default();
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).map_err(|e| e.to_string())?;
        stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Type: application/json; charset=utf-8\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n",
            self.port,
            body.len()
        );
        stream
            .write_all(head.as_bytes())
            .and_then(|()| stream.write_all(body.as_bytes()))
            .map_err(|e| e.to_string())?;
        // chromedriver keeps the connection open whatever the request says: read the head, then
        // exactly the body it announces.
        let mut raw = Vec::new();
        let mut buffer = [0u8; 64 * 1024];
        let (head_len, length) = loop {
            let read = stream.read(&mut buffer).map_err(|e| e.to_string())?;
            if read == 0 {
                return Err(format!("connection closed after {} bytes", raw.len()));
            }
            raw.extend_from_slice(&buffer[..read]);
            if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
                let length = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse::<usize>().ok())
                    .ok_or_else(|| format!("no Content-Length: {head}"))?;
                break (end + 4, length);
            }
        };
        while raw.len() < head_len + length {
            let read = stream.read(&mut buffer).map_err(|e| e.to_string())?;
            if read == 0 {
                return Err("connection closed before the whole body".into());
            }
            raw.extend_from_slice(&buffer[..read]);
        }
        let payload = String::from_utf8_lossy(&raw[head_len..head_len + length]);
        let answer: Value = serde_json::from_str(&payload).map_err(|e| format!("{e}: {payload}"))?;
        let value = answer.get("value").cloned().unwrap_or(Value::Null);
        match value.get("error") {
            Some(error) => Err(format!("{error}: {}", value["message"])),
            None => Ok(value),
        }
    }
}

fn missing(what: &str) -> ! {
    panic!(
        "{what} is not installed: the lookup page's browser test needs Debian's chromium and chromium-driver; \
         run scripts/install-chromium.sh (make test does it first)"
    )
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = self.try_call("DELETE", &format!("/session/{}", self.session), None);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// Standard base64 (WebDriver's screenshots), padding and line breaks ignored.
fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64: {c}"),
    };
    let digits: Vec<u8> = text.bytes().filter(|c| !matches!(c, b'=' | b'\r' | b'\n')).map(value).collect();
    let mut out = Vec::with_capacity(digits.len() * 3 / 4);
    for chunk in digits.chunks(4) {
        let bits = chunk.iter().enumerate().fold(0u32, |acc, (i, d)| acc | (u32::from(*d) << (18 - 6 * i)));
        out.extend_from_slice(&bits.to_be_bytes()[1..chunk.len()]);
    }
    out
}
