//! The request edge (#14 points 3, 4, 8, 9, 10): body limits, refusals that never echo
//! secrets, content checks, strict parameters and the validation gaps, each through HTTP.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::{json, Value};

use crate::common::{openapi, ServeProcess, TestApp, TestEnv};

/// A raw HTTP/1.1 request whose body is `body_len` bytes of a JSON string, announced with
/// `Content-Length` or sent chunked, written by a thread of its own while this one reads the
/// answer (the server answers before it has read the body, then closes). Returns the status,
/// the headers (lower-case names) and the body.
fn oversized(
    base: &str,
    path: &str,
    extra_headers: &str,
    body_len: usize,
    chunked: bool,
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let addr = base.trim_start_matches("http://").to_string();
    let mut stream = TcpStream::connect(&addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let length = if chunked {
        "Transfer-Encoding: chunked".to_string()
    } else {
        format!("Content-Length: {body_len}")
    };
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         {extra_headers}{length}\r\n\r\n"
    );
    let mut writer = stream.try_clone().unwrap();
    let sender = std::thread::spawn(move || {
        let mut send = || -> std::io::Result<()> {
            writer.write_all(head.as_bytes())?;
            let chunk = vec![b'a'; 64 * 1024];
            let mut sent = 0;
            while sent < body_len {
                let n = chunk.len().min(body_len - sent);
                if chunked {
                    writer.write_all(format!("{n:x}\r\n").as_bytes())?;
                    writer.write_all(&chunk[..n])?;
                    writer.write_all(b"\r\n")?;
                } else {
                    writer.write_all(&chunk[..n])?;
                }
                sent += n;
            }
            if chunked {
                writer.write_all(b"0\r\n\r\n")?;
            }
            Ok(())
        };
        // The server stops reading once it has refused: the rest cannot be written.
        let _ = send();
    });
    let mut answer = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                answer.extend_from_slice(&buf[..n]);
                if complete(&answer) {
                    break;
                }
            }
            Err(e) if answer.is_empty() => panic!("no answer: {e}"),
            Err(_) => break,
        }
    }
    drop(stream);
    let _ = sender.join();
    parse_answer(&answer)
}

/// Whether `answer` holds a head and the whole `Content-Length` body.
fn complete(answer: &[u8]) -> bool {
    let Some(end) = answer.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&answer[..end]).to_ascii_lowercase();
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok());
    length.is_some_and(|n| answer.len() >= end + 4 + n)
}

fn parse_answer(answer: &[u8]) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let end = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no head in {:?}", String::from_utf8_lossy(answer)));
    let head = String::from_utf8_lossy(&answer[..end]).to_string();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    (status, headers, answer[end + 4..].to_vec())
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The answer as JSON, failing if it does not match the OpenAPI document.
fn checked(path: &str, answer: (u16, Vec<(String, String)>, Vec<u8>)) -> (u16, Value) {
    let (status, headers, body) = answer;
    if let Some(why) = openapi::mismatch(
        "POST",
        path,
        status,
        header(&headers, "content-type"),
        None,
        &body,
    ) {
        panic!("POST {path}: not as documented: {why}");
    }
    if status == 413 {
        assert_eq!(header(&headers, "connection"), Some("close"));
    }
    (status, serde_json::from_slice(&body).unwrap())
}

fn vm_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

const SIGN_IN: &str = "/api/v1/operator/session";

#[tokio::test(flavor = "multi_thread")]
async fn a_64_mb_sign_in_is_refused_before_it_is_read_and_the_server_does_not_grow() {
    let env = TestEnv::new();
    let serve = ServeProcess::start(&env);
    crate::common::wait_ready(&serve.base).await;
    let pid = serve.child.id();
    let base = serve.base.clone();
    let result = tokio::task::spawn_blocking(move || {
        // Warm up every path first (allocator arenas, connection buffers), so what follows
        // measures only what a large body costs.
        for chunked in [false, true] {
            let (status, body) = checked(SIGN_IN, oversized(&base, SIGN_IN, "", 1 << 20, chunked));
            assert_eq!(
                (status, body["code"].as_str()),
                (413, Some("body_too_large"))
            );
        }
        let before = vm_rss_kib(pid);
        for chunked in [false, true] {
            for _ in 0..2 {
                let (status, body) =
                    checked(SIGN_IN, oversized(&base, SIGN_IN, "", 64 << 20, chunked));
                assert_eq!(
                    (status, body["code"].as_str()),
                    (413, Some("body_too_large"))
                );
                assert_eq!(
                    body["message"],
                    json!("the request body is larger than 65536 bytes")
                );
                assert!(body["message_vi"].as_str().unwrap().contains("65536"));
            }
        }
        (before, vm_rss_kib(pid))
    })
    .await
    .unwrap();
    let (before, after) = result;
    eprintln!("serve VmRSS before {before} KiB, after four 64 MB sign-ins {after} KiB");
    assert!(
        after < before + 4 * 1024,
        "RSS grew from {before} KiB to {after} KiB"
    );
}

#[tokio::test]
async fn a_body_within_the_limit_still_reaches_the_operation() {
    let app = TestApp::spawn().await;
    // Just under 64 KiB, chunked: read whole, then refused by the operation itself.
    let base = app.base.clone();
    let answer =
        tokio::task::spawn_blocking(move || oversized(&base, SIGN_IN, "", 60 * 1024, true))
            .await
            .unwrap();
    let (status, body) = checked(SIGN_IN, answer);
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("bad_request")),
        "{body}"
    );
}
