//! The lookup page at `/` of the API listener, in a real browser: headless Chromium (Debian's, over
//! WebDriver) drives the page against a tracker on the real broker, as a person at support would:
//! types the token and an id, clicks, reads what the page shows. The page runs under its own
//! Content-Security-Policy, so a policy that broke the script or stylesheet fails this test.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::webdriver::Browser;
use support::{DEADLINE, Input, Scenario, Tracker, wait_for};

const TOKEN: &str = "s3cret-page-token";
const ID: &str = "5d1f0c9e";

/// The policy `src/api/page.rs` promises, asserted word for word.
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
                      base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The token file of a test's trackers, removed when dropped.
struct TokenFile(PathBuf);

impl TokenFile {
    fn new() -> Self {
        let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(support::unique("page-token"));
        std::fs::write(&path, format!("{TOKEN}\n")).unwrap();
        Self(path)
    }
}

impl Drop for TokenFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A tracker with the API on and its token from a file.
struct PageTracker {
    tracker: Tracker,
    port: u16,
}

impl PageTracker {
    fn start(scenario: &Scenario, token: &TokenFile, extra: &[&str]) -> Self {
        Self::start_on(scenario, token, support::free_port(), extra)
    }

    /// An instance the others forward lookups to (`--advertised-address`).
    fn start_advertised(scenario: &Scenario, token: &TokenFile) -> Self {
        let port = support::free_port();
        Self::start_on(scenario, token, port, &["--advertised-address", &format!("127.0.0.1:{port}")])
    }

    fn start_on(scenario: &Scenario, token: &TokenFile, port: u16, extra: &[&str]) -> Self {
        let listen = format!("127.0.0.1:{port}");
        let args: Vec<&str> = ["--api-listen", &listen, "--api-token-file", token.0.to_str().unwrap()]
            .into_iter()
            .chain(extra.iter().copied())
            .collect();
        Self { tracker: Tracker::start(scenario, &args), port }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    fn instance(&self) -> String {
        format!("i{}", self.tracker.http_port)
    }

    /// `GET path`: status, headers (lower-case names), body.
    fn get(&self, path: &str, token: Option<&str>) -> (u16, Vec<(String, String)>, String) {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).expect("connect to the API");
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let authorization = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
        write!(stream, "GET {path} HTTP/1.1\r\nHost: localhost\r\n{authorization}Connection: close\r\n\r\n").unwrap();
        let mut raw = String::new();
        stream.read_to_string(&mut raw).expect("a UTF-8 answer");
        let (head, body) = raw.split_once("\r\n\r\n").expect("a head and a body");
        let mut lines = head.lines();
        let status = lines.next().and_then(|l| l.split_whitespace().nth(1)).and_then(|s| s.parse().ok()).unwrap();
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        (status, headers, body.to_owned())
    }
}

/// A tracker with receipt tracking on, so that a SENT message keeps its WholeMessage and parts
/// while its delivery outcome is awaited: the scenario and the delivery-reports topic.
fn start_with_receipts(test: &str, token: &TokenFile) -> (Scenario, String, PageTracker) {
    let scenario = Scenario::new(test);
    scenario.create_inputs(2, 2);
    let reports = format!("{}-dlr", scenario.app_id);
    support::create_topic(&reports, 1);
    let page = PageTracker::start(&scenario, token, &["--delivery-reports-topic", &reports]);
    (scenario, reports, page)
}

/// A SENT message of two parts with an intermediate receipt for part 1: SENT, delivery awaited.
fn send_sent_message(scenario: &Scenario, reports: &str, page: &PageTracker) -> Value {
    let input = Input::new();
    // The sender is markup on purpose: the page must show it as text.
    let message = format!(
        r#"{{"id":"{ID}","status":"PENDING","sender":"<b>ACME</b>","recipient":"+385911234567","text":"Your code is 1234","createdAt":"2026-11-25T10:00:00.000Z"}}"#
    );
    input.send(&scenario.sent, Some(ID), Some(&message));
    for (n, supplier_id) in [(1, "0A1B2C3D"), (2, "0A1B2C3E")] {
        let part = format!(
            r#"{{"messageId":"{ID}","partNumber":{n},"totalParts":2,"commandStatus":0,"supplier":"supplier-a","supplierMessageId":"{supplier_id}"}}"#
        );
        input.send(&scenario.responses, Some(ID), Some(&part));
    }
    let receipt = r#"{"supplier":"supplier-a","supplierMessageId":"0A1B2C3D","stat":"ENROUTE","err":"000"}"#;
    input.send(reports, Some("0A1B2C3D"), Some(receipt));
    wait_for("the message to be SENT with part 1's receipt", DEADLINE, || {
        let (status, _, body) = page.get(&format!("/v1/messages/{ID}"), Some(TOKEN));
        let view: Value = serde_json::from_str(&body).ok()?;
        (status == 200 && view["status"] == "SENT" && view["parts"][0]["receipt"]["stat"] == "ENROUTE").then_some(view)
    })
}

#[test]
fn the_page_needs_no_token_and_is_served_under_a_strict_content_security_policy() {
    let token = TokenFile::new();
    let scenario = Scenario::new("page-headers");
    scenario.create_inputs(2, 2);
    let page = PageTracker::start(&scenario, &token, &[]);
    for (path, content_type, contains) in [
        ("/", "text/html; charset=utf-8", "<title>"),
        ("/lookup.js", "text/javascript; charset=utf-8", "textContent"),
        ("/lookup.css", "text/css; charset=utf-8", "font-family"),
    ] {
        let (status, headers, body) = page.get(path, None);
        let header = |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
        assert_eq!(status, 200, "{path} needs no token");
        assert_eq!(header("content-type"), Some(content_type), "{path}");
        assert_eq!(header("content-security-policy"), Some(POLICY), "{path}");
        assert_eq!(header("x-content-type-options"), Some("nosniff"), "{path}");
        assert_eq!(header("referrer-policy"), Some("no-referrer"), "{path}");
        assert_eq!(header("cache-control"), Some("no-store"), "{path}");
        assert!(body.contains(contains), "{path}: {body}");
    }
    // The data still needs the token.
    assert_eq!(page.get(&format!("/v1/messages/{ID}"), None).0, 401);
}

#[test]
fn a_person_looks_up_a_sent_message_an_unknown_id_and_uses_a_wrong_token_in_chromium() {
    let token = TokenFile::new();
    let (scenario, reports, page) = start_with_receipts("page-browser", &token);
    let view = send_sent_message(&scenario, &reports, &page);
    let browser = Browser::start();
    browser.go(&page.url());

    // Loaded under the policy: the stylesheet applied and the script ran (it handles the form).
    let loaded = browser.execute(
        "window.violations = [];
         document.addEventListener('securitypolicyviolation', (e) => window.violations.push(e.violatedDirective));
         return { sheets: document.styleSheets.length, rules: document.styleSheets[0].cssRules.length,
                  font: getComputedStyle(document.body).fontFamily, title: document.title };",
        json!([]),
    );
    assert_eq!(loaded["sheets"], 1, "{loaded}");
    assert!(loaded["rules"].as_u64().unwrap() > 10, "the stylesheet applied: {loaded}");
    assert!(loaded["font"].as_str().unwrap().contains("DejaVu Sans"), "the stylesheet's system fonts: {loaded}");

    // A SENT message: status, parts, which instance answered, content masked.
    browser.type_into("#token", TOKEN);
    browser.type_into("#message-id", ID);
    browser.click("#look-up");
    wait_until(
        &browser,
        "the page to show the message",
        "return document.getElementById('status').textContent",
        "SENT",
    );
    assert_eq!(browser.text("#result-id"), ID);
    let focused = browser.execute("return document.activeElement.id", json!([]));
    assert_eq!(focused, "result-title", "the answer's heading takes the focus, so screen readers announce it");
    assert!(browser.text("#status-text").starts_with("Every part was accepted by its supplier"));
    assert_eq!(browser.text("#answered-by"), page.instance());
    assert_eq!(view["answeredBy"], page.instance());
    assert!(browser.text("#forwarded").starts_with("no: the instance this page asked owns the partition"));
    let summary = browser.text("#summary");
    assert!(summary.contains(&format!("Partition\n{}", view["partition"])), "{summary}");
    assert!(summary.contains("becomes DELIVERY_UNKNOWN unless a final receipt arrives first"), "{summary}");
    let rows = browser.execute("return document.querySelectorAll('#parts tbody tr').length", json!([]));
    assert_eq!(rows, 2, "two parts");
    let parts: Vec<String> = (1..=2).map(|n| browser.text(&format!("#parts tbody tr:nth-child({n})"))).collect();
    assert_eq!(parts[0], "1 accepted 0x00000000 ESME_ROK supplier-a 0A1B2C3D ENROUTE, err 000, intermediate");
    assert_eq!(parts[1], "2 accepted 0x00000000 ESME_ROK supplier-a 0A1B2C3E none yet");
    let timeline = browser.text("#timeline");
    for event in ["First record of this message seen", "WholeMessage received", "SENT: every part accepted", "Next"] {
        assert!(timeline.contains(event), "{event}: {timeline}");
    }
    let message = browser.text("#message");
    assert!(message.contains("recipient\n+3859******67") && message.contains("text\n***"), "masked: {message}");
    assert!(!message.contains("Your code"), "{message}");
    let markup = browser.execute("return document.querySelectorAll('#result b').length", json!([]));
    assert!(message.contains("sender\n<b>ACME</b>") && markup == 0, "user content is text, never markup: {message}");

    // Tall enough for the whole answer, the message's masked fields included.
    browser.resize(1100, 1260);
    let png = browser.screenshot();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    // `LOOKUP_PAGE_SCREENSHOT=docs/img/lookup-page.png` refreshes README's picture.
    let screenshot = std::env::var("LOOKUP_PAGE_SCREENSHOT")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("lookup-page.png"));
    std::fs::write(&screenshot, &png).unwrap();
    eprintln!("screenshot of the SENT message: {}", screenshot.display());

    // An id the tracker never saw.
    browser.type_into("#message-id", "never-sent");
    browser.click("#look-up");
    let outcome = "return document.getElementById('notice').dataset.outcome";
    wait_until(&browser, "the 404 explanation", outcome, "notFound");
    let notice = browser.text("#notice");
    assert!(
        notice.starts_with("Not found: the tracker holds nothing for \u{201c}never-sent\u{201d}. It never saw"),
        "{notice}"
    );
    assert!(notice.contains("message-status topic"), "{notice}");
    assert_eq!(browser.text("#result"), "", "the earlier answer is gone");

    // A wrong token.
    browser.type_into("#token", "not-the-token");
    browser.type_into("#message-id", ID);
    browser.click("#look-up");
    wait_until(&browser, "the 401 explanation", outcome, "unauthorized");
    let notice = browser.text("#notice");
    assert!(notice.starts_with("The token was refused: check it and try again."), "{notice}");
    assert!(notice.contains("the bearer token is not valid"), "{notice}");

    // An id longer than the API takes.
    browser.type_into("#token", TOKEN);
    browser.type_into("#message-id", &"x".repeat(1025));
    browser.click("#look-up");
    wait_until(&browser, "the 400 explanation", outcome, "badId");
    let notice = browser.text("#notice");
    assert!(
        notice.starts_with("This id cannot be looked up (") && notice.contains("longer than 1024 bytes"),
        "{notice}"
    );

    // The token went nowhere but into the requests' header.
    let stored = browser
        .execute("return [localStorage.length, sessionStorage.length, document.cookie, location.href]", json!([]));
    assert_eq!(stored, json!([0, 0, "", page.url()]));

    // The browser enforces the policy: inline script is refused, and nothing else was.
    let inline = browser.execute(
        "const s = document.createElement('script'); s.textContent = 'window.inlineRan = true';
         document.body.append(s); return window.inlineRan === true;",
        json!([]),
    );
    assert_eq!(inline, false, "an inline script ran: the policy is not enforced");
    wait_until(&browser, "the refused inline script's report", "return window.violations.join(',')", "script-src-elem");
    // The console, from the page's load on: the lookups' 4xx, the refused inline script, nothing
    // else (no other report of the policy, no script error).
    let console = browser.console();
    let policy: Vec<&String> = console.iter().filter(|m| m.contains("Content Security Policy")).collect();
    assert!(policy.len() == 1 && policy[0].contains("Executing inline script"), "{console:#?}");
    let other = console.iter().filter(|m| !m.contains("Content Security Policy"));
    let unexpected: Vec<&String> =
        other.filter(|m| !m.contains("Failed to load resource: the server responded with a status of 4")).collect();
    assert!(unexpected.is_empty(), "{console:#?}");
}

#[test]
fn a_forwarded_answer_says_so_and_a_503_is_explained_and_asked_again_once() {
    let token = TokenFile::new();
    let scenario = Scenario::new("page-owners");
    scenario.create_inputs(2, 2);
    // `advertised` is forwarded to; `silent` advertises no address, so lookups of its partition
    // on `advertised` get 503 notOwnedHere with Retry-After: 5, as long as the group is as is.
    let advertised = PageTracker::start_advertised(&scenario, &token);
    let silent = PageTracker::start(&scenario, &token, &[]);
    let input = Input::new();
    let ids: Vec<String> = (0..8).map(|i| format!("m{i}")).collect();
    for id in &ids {
        let message = format!(r#"{{"id":"{id}","status":"PENDING","text":"hello"}}"#);
        let part = format!(
            r#"{{"messageId":"{id}","partNumber":1,"totalParts":1,"commandStatus":0,"supplier":"s","supplierMessageId":"S-{id}"}}"#
        );
        input.send(&scenario.sent, Some(id), Some(&message));
        input.send(&scenario.responses, Some(id), Some(&part));
    }
    // Once the group is stable: an id `advertised` owns, and one `silent` owns.
    let (theirs, silents) = wait_for("one id owned by each instance, the group stable", DEADLINE, || {
        let owner = |id: &String| {
            let (status, _, body) = silent.get(&format!("/v1/messages/{id}"), Some(TOKEN));
            let view: Value = serde_json::from_str(&body).ok()?;
            (status == 200 && view["status"] == "SENT")
                .then(|| view["answeredBy"].as_str().unwrap_or_default().to_owned())
        };
        let owners: Option<Vec<String>> = ids.iter().map(owner).collect();
        let owners = owners?;
        let of = |instance: String| ids.iter().zip(&owners).find(|(_, o)| **o == instance).map(|(id, _)| id.clone());
        let (theirs, silents) = (of(advertised.instance())?, of(silent.instance())?);
        let (status, _, body) = advertised.get(&format!("/v1/messages/{silents}"), Some(TOKEN));
        (status == 503 && body.contains("notOwnedHere")).then_some((theirs, silents))
    });

    let browser = Browser::start();
    // Asked on `silent`, answered by `advertised`: the page says it was forwarded.
    browser.go(&silent.url());
    browser.type_into("#token", TOKEN);
    browser.type_into("#message-id", &theirs);
    browser.click("#look-up");
    wait_until(&browser, "the forwarded answer", "return document.getElementById('status').textContent", "SENT");
    assert_eq!(browser.text("#answered-by"), advertised.instance());
    let forwarded = browser.text("#forwarded");
    assert!(forwarded.starts_with(&format!("yes: {}, the instance this page asked", silent.instance())), "{forwarded}");
    assert!(browser.text("#summary").contains("terminalMarker: Final"), "without receipts SENT is final");
    assert!(browser.text("#parts-none").starts_with("No part is known"));

    // Asked on `advertised` for `silent`'s id: 503, explained, asked again once after Retry-After.
    let refused = || advertised.tracker.metric(r#"sms_tracker_api_requests_total{code="503",route="message"}"#);
    let before = refused().unwrap_or(0.0);
    browser.go(&advertised.url());
    browser.type_into("#token", TOKEN);
    browser.type_into("#message-id", &silents);
    browser.click("#look-up");
    let outcome = "return document.getElementById('notice').dataset.outcome";
    wait_until(&browser, "the 503 explanation", outcome, "retrying");
    let notice = browser.text("#notice");
    assert!(
        notice.starts_with(
            "Not available right now: the instance that owns its partition cannot be asked through this one."
        ),
        "{notice}"
    );
    assert!(notice.ends_with("Retrying once in 5 s\u{2026}"), "{notice}");
    wait_until(&browser, "the retry's 503", outcome, "unavailable");
    let notice = browser.text("#notice");
    assert!(
        notice.starts_with("Still not available after one retry:") && notice.ends_with("Try again later."),
        "{notice}"
    );
    std::thread::sleep(Duration::from_secs(6));
    assert_eq!(refused().unwrap_or(0.0) - before, 2.0, "one lookup and one retry, no more");
}

/// Polls `script` in the page until it returns `expected`; on time-out, says what the page showed.
fn wait_until(browser: &Browser, what: &str, script: &str, expected: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let last = browser.execute(script, json!([]));
        if last == expected {
            return;
        }
        if Instant::now() > deadline {
            let shown = browser.execute("return document.body.innerText", json!([]));
            panic!(
                "timed out waiting for {what}: {script} gave {last}, the page shows:\n{}",
                shown.as_str().unwrap_or("")
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
