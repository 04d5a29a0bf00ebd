//! What the README's "going live" section promises of the binary (#17): CLI commands refuse a
//! database the service never set up, the SQLite file and `master.key` are owner-only, logs
//! carry no colour codes off a terminal, and an operator's TOTP can be reset from the command
//! line (the lost-admin-phone path), audited.

use crate::common;

use common::enrol::audit_actions;
use common::{TestApp, TestEnv};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn operator_create_against_a_database_never_set_up_refuses_and_creates_nothing() {
    let env = TestEnv::new();
    let out = env
        .command(&[
            "operator",
            "create",
            "--username",
            "nguyen.an",
            "--role",
            "admin",
        ])
        .output()
        .unwrap();
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(2), "{stdout}{stderr}");
    assert!(!stdout.contains("Operator created"), "{stdout}");
    assert!(stderr.contains("has not been set up"), "{stderr}");
    assert!(stderr.contains("configuration"), "{stderr}");
    assert!(
        !env.data_dir().join("master.key").exists(),
        "no master key made for a database nobody uses"
    );
    if env.database_url.is_empty() {
        assert!(!env.data_dir().join("ca-enrol.db").exists());
    }
}

#[cfg(unix)]
#[tokio::test]
async fn the_database_file_and_the_master_key_are_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let app = TestApp::spawn().await;
    let mut files = vec![app.env.data_dir().join("master.key")];
    if app.env.database_url.is_empty() {
        files.push(app.env.data_dir().join("ca-enrol.db"));
    }
    for file in files {
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}: {mode:o}", file.display());
    }
}

#[test]
fn logs_written_to_a_pipe_carry_no_colour_codes() {
    let env = TestEnv::new();
    // A start that sets the database up (logged at info) and then cannot listen (the port is
    // taken), so the process ends by itself.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let out = env
        .command(&["serve"])
        .env("CA_ENROL_LISTEN", taken.local_addr().unwrap().to_string())
        .env("RUST_LOG", "info")
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("applied database migrations"),
        "logs were written: {stderr}"
    );
    assert!(!stderr.contains('\u{1b}'), "{stderr:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operators_totp_is_reset_from_the_command_line_audited() {
    let mut app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let op = app
        .create_operator(&admin, "vc.phone.lost", "operator")
        .await;
    let out = app
        .env
        .command(&["operator", "reset-totp", "--username", &op.username])
        .output()
        .unwrap();
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("TOTP secret:"), "{stdout}");
    assert!(!stdout.contains("one-time password"), "{stdout}");
    let secret = stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("TOTP secret:"))
        .unwrap()
        .trim();
    assert_ne!(secret, op.totp_secret, "a new secret");
    assert!(!stderr.contains(secret), "never through the logger");

    let resets = audit_actions(&mut app, "operator.credentials_reset").await;
    assert_eq!(resets.len(), 1, "{resets:?}");
    assert_eq!(resets[0]["actor"], "cli", "{resets:?}");
    assert!(resets[0]["details"]
        .as_str()
        .unwrap()
        .contains("\"totp\":true"));

    let unknown = app
        .env
        .command(&["operator", "reset-totp", "--username", "nobody"])
        .output()
        .unwrap();
    assert_eq!(unknown.status.code(), Some(2), "{}", text(&unknown.stdout));
}

#[tokio::test]
async fn the_authenticator_entry_is_named_after_the_provider() {
    let mut app = TestApp::spawn_with(TestEnv::new(), |c| {
        c.contract.provider.name = "Công ty CA: Thử nghiệm".into();
    })
    .await;
    let admin = app.admin_token().await;
    let (status, body) = app
        .post(
            "/api/v1/operators",
            Some(&admin),
            serde_json::json!({"username": "vc.issuer", "role": "operator"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let url = body["otpauth_url"].as_str().unwrap();
    assert!(url.contains("issuer=C%C3%B4ng%20ty%20CA"), "{url}");
    assert!(!url.contains("ca-enrol"), "{url}");
}
