//! Headless Chromium driven over the Chrome DevTools protocol (a small client over
//! tokio-tungstenite), for the browser test.
//!
//! Why CDP rather than `--dump-dom` with a virtual-time budget: the page streams live audio
//! over a real WebSocket, which virtual time neither waits for nor advances; over CDP the
//! test polls the page's own DOM in real time, calls its Stop button's function and takes
//! the screenshot when the transcript is there.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub const CHROMIUM: &str = "/usr/bin/chromium";

/// A running Chromium, killed when dropped; `log` keeps its last stderr lines.
pub struct Browser {
    child: Child,
    pub log: Arc<Mutex<Vec<String>>>,
    devtools: String,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Browser {
    /// Starts headless Chromium whose microphone plays `wav` once; `Err` says why it could
    /// not start (the test then skips).
    pub fn launch(profile: &Path, wav: &Path) -> Result<Browser, String> {
        let mut child = Command::new(CHROMIUM)
            .args([
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--use-fake-ui-for-media-stream",
                "--use-fake-device-for-media-stream",
                "--autoplay-policy=no-user-gesture-required",
                "--window-size=900,640",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            // `%noloop`: play the file once, then silence (it loops by default).
            .arg(format!(
                "--use-file-for-fake-audio-capture={}%noloop",
                wav.display()
            ))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run {CHROMIUM}: {e}"))?;
        let stderr = child.stderr.take().ok_or("no stderr")?;
        let log = Arc::new(Mutex::new(Vec::new()));
        let (found, devtools) = mpsc::channel();
        let lines = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("DevTools listening on ") {
                    let _ = found.send(url.trim().to_owned());
                }
                let mut lines = lines.lock().unwrap();
                lines.push(line);
                let excess = lines.len().saturating_sub(200);
                lines.drain(..excess);
            }
        });
        let mut browser = Browser {
            child,
            log,
            devtools: String::new(),
        };
        match devtools.recv_timeout(Duration::from_secs(60)) {
            Ok(url) => browser.devtools = url,
            Err(_) => {
                let status = browser.child.try_wait().ok().flatten();
                return Err(format!(
                    "Chromium did not start (exit: {status:?}):\n{}",
                    browser.log_tail()
                ));
            }
        }
        Ok(browser)
    }

    pub fn log_tail(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// Opens `url` in a new tab and attaches to it.
    pub async fn open(&self, url: &str) -> Page {
        let (socket, _) = tokio_tungstenite::connect_async(&self.devtools)
            .await
            .unwrap();
        let mut page = Page {
            socket,
            next_id: 0,
            session: None,
        };
        let target = page
            .call("Target.createTarget", json!({ "url": url }))
            .await;
        let target_id = target["targetId"].as_str().unwrap().to_owned();
        let attached = page
            .call(
                "Target.attachToTarget",
                json!({ "targetId": target_id, "flatten": true }),
            )
            .await;
        page.session = Some(attached["sessionId"].as_str().unwrap().to_owned());
        page
    }
}

/// One tab, commanded through the browser's DevTools socket (a flattened session).
pub struct Page {
    socket: Socket,
    next_id: u64,
    session: Option<String>,
}

impl Page {
    /// Sends a command and returns its result; panics on a protocol error.
    pub async fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut command = json!({ "id": id, "method": method, "params": params });
        if let Some(session) = &self.session {
            command["sessionId"] = json!(session);
        }
        self.socket
            .send(Message::text(command.to_string()))
            .await
            .unwrap();
        loop {
            let message = tokio::time::timeout(Duration::from_secs(30), self.socket.next())
                .await
                .unwrap_or_else(|_| panic!("{method}: no answer from Chromium"))
                .unwrap_or_else(|| panic!("{method}: DevTools connection closed"))
                .unwrap();
            let Message::Text(text) = message else {
                continue;
            };
            let answer: Value = serde_json::from_str(text.as_str()).unwrap();
            if answer["id"] != json!(id) {
                continue; // an event
            }
            if let Some(error) = answer.get("error") {
                panic!("{method}: {error}");
            }
            return answer["result"].clone();
        }
    }

    /// Evaluates `expression` in the page; its value (JSON-serialisable), or null.
    pub async fn eval(&mut self, expression: &str) -> Value {
        let result = self
            .call(
                "Runtime.evaluate",
                json!({ "expression": expression, "returnByValue": true, "awaitPromise": true }),
            )
            .await;
        result["result"]["value"].clone()
    }

    /// A PNG of the viewport.
    pub async fn screenshot(&mut self) -> Vec<u8> {
        let shot = self
            .call("Page.captureScreenshot", json!({ "format": "png" }))
            .await;
        base64_decode(shot["data"].as_str().unwrap())
    }
}

/// Standard base64 (what CDP sends binary data as).
fn base64_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let (mut bits, mut count) = (0u32, 0);
    for byte in text
        .bytes()
        .filter(|&b| b != b'=' && !b.is_ascii_whitespace())
    {
        let value = ALPHABET.iter().position(|&a| a == byte).unwrap() as u32;
        bits = (bits << 6) | value;
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
        }
    }
    out
}
