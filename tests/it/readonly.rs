//! A database that cannot be written, and database URLs that cannot be used, are refused at
//! start, promptly and by name (issue #19, point 3).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::{ServeProcess, TestEnv};

/// Makes a directory and its files unwritable; undone on drop so the temp dir can be removed.
/// Tests run as root, which ignores file modes, so root uses the immutable attribute.
struct Unwritable {
    dir: PathBuf,
    immutable: bool,
}

impl Unwritable {
    fn new(dir: &Path) -> Self {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        paths.push(dir.to_path_buf());
        let immutable = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| o.stdout.starts_with(b"0\n"));
        for path in &paths {
            if immutable {
                let ok = Command::new("chattr").arg("+i").arg(path).status().unwrap();
                assert!(ok.success(), "chattr +i {}", path.display());
            } else {
                use std::os::unix::fs::PermissionsExt;
                let mode = if path.is_dir() { 0o555 } else { 0o444 };
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
            }
        }
        Self {
            dir: dir.to_path_buf(),
            immutable,
        }
    }
}

impl Drop for Unwritable {
    fn drop(&mut self) {
        if self.immutable {
            let _ = Command::new("chattr")
                .args(["-R", "-i"])
                .arg(&self.dir)
                .status();
        } else {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&self.dir, std::fs::Permissions::from_mode(0o755));
        }
    }
}

#[test]
fn a_read_only_sqlite_database_is_refused_at_start_naming_the_file() {
    let env = TestEnv::new();
    if !env.database_url.is_empty() {
        return; // SQLite only: PostgreSQL's files are not ours.
    }
    // A first start creates the database, the master key and the bootstrap administrator.
    drop(ServeProcess::start(&env));
    let _guard = Unwritable::new(&env.data_dir());
    let db = env.data_dir().join("ca-enrol.db");
    let started = Instant::now();
    let out = env.command(&["serve"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains(&db.display().to_string()), "{err}");
    assert!(err.contains("refuses writes"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(10), "{err}");
}

#[test]
fn a_sqlite_database_in_a_read_only_directory_fails_within_seconds_naming_the_file() {
    let env = TestEnv::new();
    if !env.database_url.is_empty() {
        return;
    }
    // A clean `migrate` leaves no -wal/-shm files, so opening in WAL mode must create them.
    let out = env.command(&["migrate"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let _guard = Unwritable::new(&env.data_dir());
    let started = Instant::now();
    let out = env.command(&["migrate"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    let db = env.data_dir().join("ca-enrol.db");
    assert!(err.contains(&db.display().to_string()), "{err}");
    assert!(started.elapsed() < Duration::from_secs(10), "{err}");
}

/// Runs `migrate` with `url` as `DATABASE_URL`: exit 2 within a few seconds, saying `expected`.
fn refused_promptly(url: &str, expected: &str) {
    let env = TestEnv::bare();
    let started = Instant::now();
    let out = env
        .command(&["migrate"])
        .env("DATABASE_URL", url)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains(expected), "{err}");
    assert!(started.elapsed() < Duration::from_secs(10), "{err}");
}

#[test]
fn a_postgresql_url_with_nothing_listening_fails_within_seconds() {
    refused_promptly(
        "postgres://ca_enrol:ca_enrol@127.0.0.1:1/ca_enrol",
        "cannot connect to PostgreSQL",
    );
}

#[test]
fn an_unparseable_postgresql_url_fails_within_seconds() {
    refused_promptly(
        "postgres://ca_enrol:ca_enrol@127.0.0.1:5432/ca_enrol?no_such_option=1",
        "no_such_option",
    );
}

#[test]
fn a_wrong_postgresql_password_or_database_fails_within_seconds() {
    let Ok(base) = std::env::var("TEST_DATABASE_URL") else {
        return;
    };
    if base.is_empty() {
        return;
    }
    // postgres://user:password@host/db → the same user with another password.
    let (scheme, rest) = base.split_once("://").unwrap();
    let (userinfo, host_db) = rest.split_once('@').unwrap();
    let user = userinfo.split(':').next().unwrap();
    refused_promptly(
        &format!("{scheme}://{user}:not-the-password@{host_db}"),
        "password authentication failed",
    );
    let (host, _) = host_db.split_once('/').unwrap();
    refused_promptly(
        &format!("{scheme}://{userinfo}@{host}/no_such_database_r19"),
        "no_such_database_r19",
    );
}
