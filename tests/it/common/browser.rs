//! Running a browser scenario (`tests/browser/<name>.mjs`, playwright-core driving Debian's
//! Chromium) against a test app. Nothing is skipped: a missing browser or node module fails the
//! test with the command that installs it.

use std::path::{Path, PathBuf};
use std::process::Command;

use ca_enrol::clock::Clock;

use super::TestApp;

const CHROMIUM: &str = "/usr/bin/chromium";
const INSTALL: &str =
    "install them as .ci/run does: `apt-get install -y chromium chromium-driver` \
                       (Debian) and `npm ci --prefix tests/browser` (Node.js >= 20)";

fn scenarios_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

/// `<target>/browser-screenshots`, next to the `tmp` folder cargo gives integration tests.
pub fn screenshot_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap_or(Path::new(env!("CARGO_TARGET_TMPDIR")))
        .join("browser-screenshots")
}

/// Panics, naming what is missing and how to install it, unless the scenarios can run.
fn require_tools() {
    assert!(
        Path::new(CHROMIUM).exists(),
        "browser tests need Chromium at {CHROMIUM}; {INSTALL}"
    );
    assert!(
        scenarios_dir()
            .join("node_modules/playwright-core/package.json")
            .exists(),
        "browser tests need playwright-core in tests/browser/node_modules; {INSTALL}"
    );
    let version = Command::new("node").arg("--version").output();
    let major = version
        .as_ref()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .trim()
                .strip_prefix('v')
                .map(str::to_string)
        })
        .and_then(|v| v.split('.').next().and_then(|m| m.parse::<u32>().ok()));
    assert!(
        major.is_some_and(|m| m >= 20),
        "browser tests need Node.js >= 20 (found {version:?}); {INSTALL}"
    );
}

/// Scenarios run one at a time: each starts a browser, and the machine has two cores.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The scenario's command: `node tests/browser/<name>.mjs` with `BASE_URL`, `SCREENSHOT_DIR`,
/// `APP_CLOCK_OFFSET_MS` and `vars` in its environment.
fn scenario_command(app: &TestApp, name: &str, vars: &[(&str, String)]) -> Command {
    let offset_ms = (app.clock.now() - chrono::Utc::now()).num_milliseconds();
    let mut cmd = Command::new("node");
    cmd.arg(scenarios_dir().join(format!("{name}.mjs")))
        .current_dir(scenarios_dir())
        .env("BASE_URL", &app.base)
        .env("SCREENSHOT_DIR", screenshot_dir())
        .env("APP_CLOCK_OFFSET_MS", offset_ms.to_string())
        .env("NO_COLOR", "1");
    for (k, v) in vars {
        cmd.env(k, v);
    }
    cmd
}

/// Runs the scenario; panics with the script's output unless it exits 0.
pub async fn run_scenario(app: &TestApp, name: &str, vars: &[(&str, String)]) -> String {
    require_tools();
    let _turn = ONE_AT_A_TIME.lock().await;
    let mut cmd = scenario_command(app, name, vars);
    let output = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("could not run node ({e}); {INSTALL}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "browser scenario {name} failed ({}):\n{text}",
        output.status
    );
    text
}

/// [`run_scenario`] for a scenario that asks for the codes the citizen receives: each line
/// `ASK otp` it prints is answered on its standard input with the code of the newest SMS
/// sent to `phone` since the last answer (read from the delivered outbox messages, as the
/// API tests read them).
pub async fn run_scenario_with_codes(
    app: &TestApp,
    name: &str,
    vars: &[(&str, String)],
    phone: &str,
) -> String {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::process::Stdio;
    require_tools();
    let _turn = ONE_AT_A_TIME.lock().await;
    let mut cmd = scenario_command(app, name, vars);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // The script runs on a blocking thread; its questions come here, the codes go back.
    let (ask, mut asked) = tokio::sync::mpsc::unbounded_channel::<()>();
    let (answer, answers) = std::sync::mpsc::channel::<String>();
    let script = tokio::task::spawn_blocking(move || {
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("could not run node ({e}); {INSTALL}"));
        let mut stdin = child.stdin.take();
        let mut stderr = child.stderr.take().unwrap();
        let errors = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        let mut text = String::new();
        for line in BufReader::new(child.stdout.take().unwrap()).lines() {
            let Ok(line) = line else { break };
            text.push_str(&line);
            text.push('\n');
            if line.trim() == "ASK otp" {
                let code = ask.send(()).ok().and_then(|()| answers.recv().ok());
                match (code, stdin.as_mut()) {
                    (Some(code), Some(input)) => {
                        let _ = writeln!(input, "{code}");
                        let _ = input.flush();
                    }
                    _ => break,
                }
            }
        }
        drop(stdin);
        let status = child.wait();
        text.push_str(&errors.join().unwrap_or_default());
        (status, text)
    });
    let mut seen = 0;
    while asked.recv().await.is_some() {
        let (code, now_seen) = newest_code(app, phone, seen).await;
        seen = now_seen;
        let _ = answer.send(code);
    }
    let (status, text) = script.await.unwrap();
    let status = status.unwrap_or_else(|e| panic!("node did not finish ({e})"));
    assert!(
        status.success(),
        "browser scenario {name} failed ({status}):\n{text}"
    );
    text
}

/// The code of the newest message to `phone` after the first `seen` ones, and how many there
/// are now; waits up to 10 s for it.
async fn newest_code(app: &TestApp, phone: &str, seen: usize) -> (String, usize) {
    for _ in 0..500 {
        let messages = app.messages_to(phone, 0).await;
        if let Some(code) = messages
            .iter()
            .skip(seen)
            .rev()
            .find_map(|m| super::otp_in(&m.text))
        {
            return (code, messages.len());
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("no new code sent to {phone}");
}

/// A real, decodable PNG (RGB, uncompressed deflate blocks): a `width` × `height` gradient
/// from `top` to `bottom`, so document images render in the browser and in screenshots.
pub fn picture(width: u32, height: u32, top: [u8; 3], bottom: [u8; 3]) -> Vec<u8> {
    fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend_from_slice(&u32::try_from(data.len()).unwrap().to_be_bytes());
        let mut body = kind.to_vec();
        body.extend_from_slice(data);
        out.extend_from_slice(&body);
        out.extend_from_slice(&super::png_crc32(&body).to_be_bytes());
    }
    let mut raw = Vec::new();
    for y in 0..height {
        raw.push(0); // filter: none
        for _ in 0..width {
            for c in 0..3 {
                let (a, b) = (u32::from(top[c]), u32::from(bottom[c]));
                raw.push(u8::try_from((a * (height - y) + b * y) / height).unwrap());
            }
        }
    }
    // zlib stream of stored (uncompressed) deflate blocks, then Adler-32.
    let mut z = vec![0x78, 0x01];
    let blocks: Vec<&[u8]> = raw.chunks(65_535).collect();
    for (i, block) in blocks.iter().enumerate() {
        z.push(u8::from(i + 1 == blocks.len()));
        let len = u16::try_from(block.len()).unwrap();
        z.extend_from_slice(&len.to_le_bytes());
        z.extend_from_slice(&(!len).to_le_bytes());
        z.extend_from_slice(block);
    }
    let (mut a, mut b) = (1u32, 0u32);
    for &byte in &raw {
        a = (a + u32::from(byte)) % 65_521;
        b = (b + a) % 65_521;
    }
    z.extend_from_slice(&((b << 16) | a).to_be_bytes());
    let mut ihdr = width.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"IDAT", &z);
    chunk(&mut out, b"IEND", &[]);
    out
}
