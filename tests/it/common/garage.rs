//! A real S3-compatible object store for the tests: a single-node Garage cluster on
//! 127.0.0.1 with free ports (`replication_factor = 1`, SQLite metadata), its files in a temp
//! dir. One shared node per test binary run (a bucket per test); a test that stops its node
//! (outage) starts its own. When the `garage` binary is absent (`.ci/run` installs it) the
//! tests that need it print why and return.

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Mutex, OnceLock};
use std::time::Duration;

use ca_enrol::config::Config;
use ca_enrol::document_store::{Backend, ObjectStorageSettings};

/// The `garage` binary: `GARAGE_BIN`, else the first on `PATH`, else cargo's bin directory.
pub fn binary() -> Option<PathBuf> {
    if let Ok(bin) = std::env::var("GARAGE_BIN") {
        return Some(PathBuf::from(bin));
    }
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    if let Some(home) = std::env::var_os("HOME") {
        dirs.push(Path::new(&home).join(".cargo/bin"));
    }
    dirs.into_iter()
        .map(|d| d.join("garage"))
        .find(|p| p.is_file())
}

/// Prints why a Garage test does nothing; true when it should return.
pub fn absent(test: &str) -> bool {
    if binary().is_some() {
        return false;
    }
    eprintln!("{test}: skipped, no `garage` binary (GARAGE_BIN, PATH or ~/.cargo/bin)");
    true
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub struct Garage {
    dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
    pub s3_port: u16,
    pub key_id: String,
    pub secret: String,
    child: Mutex<Option<Child>>,
}

impl Garage {
    /// A node of this test's own (stopped and restarted by outage tests), its files
    /// removed when it is dropped.
    pub fn start() -> Self {
        let tmp = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
        let dir = tmp.path().to_path_buf();
        let mut g = Self::configure(dir, Some(tmp));
        g.spawn();
        g.setup();
        g
    }

    fn configure(dir: PathBuf, tmp: Option<tempfile::TempDir>) -> Self {
        let (s3_port, rpc_port) = (free_port(), free_port());
        let secret = "c3ea8cb80333d04e208d136698b1a01ae370d463f0d435ab2177510b3478bf44";
        let config = format!(
            r#"metadata_dir = "{dir}/meta"
data_dir = "{dir}/data"
db_engine = "sqlite"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:{rpc_port}"
rpc_public_addr = "127.0.0.1:{rpc_port}"
rpc_secret = "{secret}"

[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:{s3_port}"
root_domain = ".s3.garage"
"#,
            dir = dir.display()
        );
        std::fs::write(dir.join("garage.toml"), config).unwrap();
        Self {
            dir,
            _tmp: tmp,
            s3_port,
            key_id: String::new(),
            secret: String::new(),
            child: Mutex::new(None),
        }
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(binary().expect("garage binary"));
        cmd.arg("-c").arg(self.dir.join("garage.toml"));
        cmd
    }

    /// Starts the server process; it dies with the thread that started it (PDEATHSIG), so
    /// a node never outlives the test binary.
    fn spawn(&self) {
        let mut cmd = self.command();
        cmd.arg("server")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(self.dir.join("garage.log")).unwrap());
        // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        // A thread that lives as long as the process holds the node (test threads end).
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            tx.send(cmd.spawn()).unwrap();
            loop {
                std::thread::park();
            }
        });
        let child = rx.recv().unwrap().expect("garage starts");
        *self.child.lock().unwrap() = Some(child);
        self.wait_for_s3();
    }

    fn wait_for_s3(&self) {
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", self.s3_port)).is_ok()
                && self.run(&["status"]).is_ok()
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "garage did not start: {}",
            std::fs::read_to_string(self.dir.join("garage.log")).unwrap_or_default()
        );
    }

    fn run(&self, args: &[&str]) -> Result<String, String> {
        let out = self.command().args(args).output().unwrap();
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(format!(
                "garage {args:?}: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }

    fn setup(&mut self) {
        let id = self.run(&["node", "id", "-q"]).unwrap();
        let id = id.trim().split('@').next().unwrap().to_string();
        self.run(&["layout", "assign", "-z", "dc1", "-c", "1G", &id])
            .unwrap();
        self.run(&["layout", "apply", "--version", "1"]).unwrap();
        let key: serde_json::Value = serde_json::from_str(
            &self
                .run(&["json-api", "CreateKey", r#"{"name":"ca-enrol-tests"}"#])
                .unwrap(),
        )
        .unwrap();
        self.key_id = key["accessKeyId"].as_str().unwrap().to_string();
        self.secret = key["secretAccessKey"].as_str().unwrap().to_string();
    }

    /// A new bucket the test key may read and write.
    pub fn bucket(&self) -> String {
        let name = format!("t-{}", uuid::Uuid::new_v4().simple());
        self.run(&["bucket", "create", &name]).unwrap();
        self.run(&[
            "bucket",
            "allow",
            "--read",
            "--write",
            "--owner",
            &name,
            "--key",
            &self.key_id,
        ])
        .unwrap();
        name
    }

    /// `[documents.object_storage]` for `bucket` on this node.
    pub fn settings(&self, bucket: &str) -> ObjectStorageSettings {
        ObjectStorageSettings {
            endpoint: format!("http://127.0.0.1:{}", self.s3_port),
            region: "garage".into(),
            bucket: bucket.into(),
            access_key_id: self.key_id.clone(),
            secret_access_key: ca_enrol::settings::Secret::new(self.secret.clone()),
            request_timeout_ms: 2_000,
            ..ObjectStorageSettings::default()
        }
    }

    /// Points `config` at a fresh bucket on this node, new documents going there.
    pub fn use_for(&self, config: &mut Config) -> String {
        let bucket = self.bucket();
        config.documents.store = Backend::ObjectStorage;
        config.documents.object_storage = self.settings(&bucket);
        bucket
    }

    /// Kills the node (an outage); `restart` brings it back with its data and ports.
    pub fn stop(&self) {
        if let Some(mut child) = self.child.lock().unwrap().take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    pub fn restart(&self) {
        self.spawn();
    }
}

impl Drop for Garage {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The node shared by every test of this run, or `None` without a `garage` binary.
pub fn shared() -> Option<&'static Garage> {
    static NODE: OnceLock<Option<Garage>> = OnceLock::new();
    NODE.get_or_init(|| binary().map(|_| Garage::start()))
        .as_ref()
}

/// `TEST_DOCUMENT_STORE=object`: every test app keeps documents in Garage (CI runs the
/// document tests once more so).
pub fn object_store_requested() -> bool {
    std::env::var("TEST_DOCUMENT_STORE").is_ok_and(|v| v == "object")
}
