//! Where identity documents' ciphertext lives (#21): in their database rows (the default, and
//! what a single node on SQLite keeps) or in an S3-compatible object store. Either way the
//! bytes are already sealed under the document's own data key (`data_keys`): the object store
//! holds nothing the database's key rows do not unlock, and destroying a key row destroys the
//! object wherever copies of it survive (the object is then deleted too).
//!
//! Consistency between the two stores: an object is uploaded first, then the row pointing to
//! it commits with its audit event; an object whose row never committed (a crash, a refused
//! change, a replaced or destroyed document whose deletion failed) is deleted by the sweeper
//! (`sweep`) once it is older than a grace period. Object keys are random
//! (`documents/<uuid>`): no ID number, name or enrolment id.
//!
//! Client: `object_store` (Apache Arrow's): one maintained crate for S3 and its self-hosted
//! compatibles (path-style addressing, custom endpoint, static or environment credentials),
//! with bounded retries and timeouts, and an in-memory store for unit tests.

mod migrate;

pub use migrate::{migrate, placement, Direction, MigrateError, Migration};

use std::sync::Arc;
use std::time::Duration;

use futures::TryStreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path;
use object_store::{ClientOptions, ObjectStore, PutPayload, RetryConfig};
use serde::{Deserialize, Serialize};

use crate::settings::{range, Invalid, Secret};
use crate::store::{Store, StoreError};

/// Prefix of document objects: the sweeper lists only these, never the readiness probe's.
const DOCUMENT_PREFIX: &str = "documents";
const PROBE_PREFIX: &str = "probe";
/// Object keys checked against the rows per query by the sweeper.
const SWEEP_CHUNK: usize = 500;

/// Where new documents go.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Backend {
    Database,
    ObjectStorage,
}

/// The `[documents]` section.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Where new documents are stored. Documents already in the other place stay readable
    /// there (keep `[documents.object_storage]` while any document lies in it) until
    /// `ca-enrol documents migrate` moves them.
    pub store: Backend,
    pub object_storage: ObjectStorageSettings,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            store: Backend::Database,
            object_storage: ObjectStorageSettings::default(),
        }
    }
}

/// An S3-compatible store. Empty credentials fall back to the standard `AWS_*` environment
/// variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, …).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectStorageSettings {
    /// e.g. `http://127.0.0.1:3900`; empty: object storage is not configured.
    pub endpoint: String,
    pub region: String,
    pub bucket: String,
    pub access_key_id: String,
    pub secret_access_key: Secret,
    /// Bound on one request (and its retries), so an outage answers within it.
    pub request_timeout_ms: u64,
    /// Objects no row points to are deleted once older than this (an upload's row commits
    /// well within it).
    pub sweep_grace_seconds: u64,
    pub sweep_interval_seconds: u64,
}

impl Default for ObjectStorageSettings {
    fn default() -> Self {
        Self {
            endpoint: String::new(),
            region: "garage".into(),
            bucket: "ca-enrol-documents".into(),
            access_key_id: String::new(),
            secret_access_key: Secret::default(),
            request_timeout_ms: 5_000,
            sweep_grace_seconds: 3_600,
            sweep_interval_seconds: 3_600,
        }
    }
}

impl Settings {
    pub fn validate(&self) -> Result<(), Invalid> {
        let o = &self.object_storage;
        if self.store == Backend::ObjectStorage && o.endpoint.is_empty() {
            return Err(Invalid::new(
                "documents.object_storage.endpoint",
                "required when documents.store = \"object_storage\"",
            ));
        }
        if !(o.endpoint.is_empty()
            || o.endpoint.starts_with("http://")
            || o.endpoint.starts_with("https://"))
        {
            return Err(Invalid::new(
                "documents.object_storage.endpoint",
                "expected an http:// or https:// URL",
            ));
        }
        if !o.endpoint.is_empty() && o.bucket.is_empty() {
            return Err(Invalid::new(
                "documents.object_storage.bucket",
                "required with an endpoint",
            ));
        }
        range(
            "documents.object_storage.request_timeout_ms",
            o.request_timeout_ms,
            100,
            600_000,
        )?;
        range(
            "documents.object_storage.sweep_grace_seconds",
            o.sweep_grace_seconds,
            60,
            30 * 86_400,
        )?;
        range(
            "documents.object_storage.sweep_interval_seconds",
            o.sweep_interval_seconds,
            60,
            86_400,
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DocumentStoreError {
    /// The object store did not answer, refused, or is not configured.
    #[error("the document store is unavailable: {0}")]
    Unavailable(String),
    /// The object a row points to is gone: data loss, for an operator to look into.
    #[error("document object {0} is missing")]
    Missing(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<object_store::Error> for DocumentStoreError {
    fn from(e: object_store::Error) -> Self {
        match e {
            object_store::Error::NotFound { path, .. } => DocumentStoreError::Missing(path),
            e => DocumentStoreError::Unavailable(with_causes(&e)),
        }
    }
}

/// An error and its sources: the client's own message alone can be as vague as "HTTP error:
/// builder error", and the log line is what an operator diagnoses an outage from.
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut message = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !message.contains(&cause_text) {
            message.push_str(": ");
            message.push_str(&cause_text);
        }
        source = cause.source();
    }
    message
}

/// Where a freshly stored ciphertext is: still in hand for the row, or in an object.
pub enum Placed {
    InRow(Vec<u8>),
    Object(String),
}

/// The seam: new documents go to `backend`; any document already in an object is read from
/// `objects` whatever the backend.
#[derive(Clone)]
pub struct DocumentStore {
    backend: Backend,
    objects: Option<Arc<dyn ObjectStore>>,
    timeout: Duration,
}

impl DocumentStore {
    /// Documents in their rows only.
    pub fn database() -> Self {
        Self {
            backend: Backend::Database,
            objects: None,
            timeout: Duration::from_secs(5),
        }
    }

    /// Over any `object_store` back end (tests use the in-memory one).
    pub fn with_objects(
        backend: Backend,
        objects: Arc<dyn ObjectStore>,
        timeout: Duration,
    ) -> Self {
        Self {
            backend,
            objects: Some(objects),
            timeout,
        }
    }

    /// Builds the S3 client when an endpoint is configured. Makes no request.
    pub fn from_settings(s: &Settings) -> Result<Self, DocumentStoreError> {
        let o = &s.object_storage;
        if o.endpoint.is_empty() {
            return Ok(Self::database());
        }
        let timeout = Duration::from_millis(o.request_timeout_ms);
        let mut builder = AmazonS3Builder::from_env()
            .with_endpoint(&o.endpoint)
            .with_region(&o.region)
            .with_bucket_name(&o.bucket)
            // Self-hosted stores (Garage, MinIO) address buckets by path, not by host name.
            .with_virtual_hosted_style_request(false)
            // `allow_http` lives in the client options: set on the builder before them, it
            // would be replaced, and every request to an http:// endpoint would fail to build.
            .with_client_options(
                ClientOptions::new()
                    .with_allow_http(o.endpoint.starts_with("http://"))
                    .with_timeout(timeout)
                    .with_connect_timeout(timeout.min(Duration::from_secs(2))),
            )
            // The default retries for minutes: an outage must answer 503 within the timeout.
            .with_retry(RetryConfig {
                max_retries: 2,
                retry_timeout: timeout,
                ..RetryConfig::default()
            });
        if !o.access_key_id.is_empty() {
            builder = builder.with_access_key_id(&o.access_key_id);
        }
        if !o.secret_access_key.is_empty() {
            builder = builder.with_secret_access_key(o.secret_access_key.expose());
        }
        let objects = builder
            .build()
            .map_err(|e| DocumentStoreError::Unavailable(with_causes(&e)))?;
        Ok(Self::with_objects(s.store, Arc::new(objects), timeout))
    }

    /// Whether an object store is configured (`/readyz` probes it then).
    pub fn has_objects(&self) -> bool {
        self.objects.is_some()
    }

    fn objects(&self) -> Result<&Arc<dyn ObjectStore>, DocumentStoreError> {
        self.objects.as_ref().ok_or_else(|| {
            DocumentStoreError::Unavailable("no object storage is configured".into())
        })
    }

    /// Stores a sealed document where new documents go: the database back end hands the
    /// bytes back for the row; the object back end uploads them first.
    pub async fn place(&self, sealed: Vec<u8>) -> Result<Placed, DocumentStoreError> {
        match self.backend {
            Backend::Database => Ok(Placed::InRow(sealed)),
            Backend::ObjectStorage => self.upload(sealed).await.map(Placed::Object),
        }
    }

    /// Uploads sealed bytes under a new random key and returns the key.
    pub async fn upload(&self, sealed: Vec<u8>) -> Result<String, DocumentStoreError> {
        let key = format!("{DOCUMENT_PREFIX}/{}", uuid::Uuid::new_v4().simple());
        let objects = self.objects()?;
        self.bounded(objects.put(&Path::from(key.as_str()), PutPayload::from(sealed)))
            .await?;
        Ok(key)
    }

    pub async fn fetch(&self, key: &str) -> Result<Vec<u8>, DocumentStoreError> {
        let objects = self.objects()?;
        let got = self.bounded(objects.get(&Path::from(key))).await?;
        let bytes = self.bounded(got.bytes()).await?;
        Ok(bytes.to_vec())
    }

    /// Deletes objects whose rows are gone or point elsewhere. A failure is logged and left
    /// to the sweeper: what an object holds is already unreadable once its key row is gone.
    pub async fn delete(&self, keys: &[String]) {
        let Some(objects) = &self.objects else {
            return;
        };
        for key in keys {
            match self
                .bounded(objects.delete(&Path::from(key.as_str())))
                .await
            {
                Ok(()) | Err(DocumentStoreError::Missing(_)) => {}
                Err(e) => {
                    tracing::warn!(object = %key, error = %e, "document object not deleted; the sweeper will")
                }
            }
        }
    }

    /// Write, read back and delete a small object (`/readyz`).
    pub async fn probe(&self) -> Result<(), DocumentStoreError> {
        let objects = self.objects()?;
        let path = Path::from(format!("{PROBE_PREFIX}/{}", uuid::Uuid::new_v4().simple()));
        let body = b"ca-enrol readiness probe".to_vec();
        self.bounded(objects.put(&path, PutPayload::from(body.clone())))
            .await?;
        let got = self.bounded(objects.get(&path)).await?;
        let read = self.bounded(got.bytes()).await?;
        self.bounded(objects.delete(&path)).await?;
        if read.as_ref() != body.as_slice() {
            return Err(DocumentStoreError::Unavailable(
                "the probe object read back differs".into(),
            ));
        }
        Ok(())
    }

    /// Deletes document objects older than `grace` that no row points to; returns how many.
    pub async fn sweep(&self, store: &Store, grace: Duration) -> Result<usize, DocumentStoreError> {
        let Some(objects) = &self.objects else {
            return Ok(0);
        };
        let before =
            chrono::Utc::now() - chrono::Duration::from_std(grace).unwrap_or(chrono::Duration::MAX);
        let listed: Vec<String> = objects
            .list(Some(&Path::from(DOCUMENT_PREFIX)))
            .try_filter(|meta| std::future::ready(meta.last_modified < before))
            .map_ok(|meta| meta.location.to_string())
            .try_collect()
            .await?;
        let mut deleted = 0;
        for chunk in listed.chunks(SWEEP_CHUNK) {
            let keys = chunk.to_vec();
            let referenced = store
                .read(move |tx| tx.referenced_object_keys(&keys))
                .await?;
            let orphans: Vec<String> = chunk
                .iter()
                .filter(|k| !referenced.contains(k))
                .cloned()
                .collect();
            self.delete(&orphans).await;
            deleted += orphans.len();
        }
        Ok(deleted)
    }

    async fn bounded<T>(
        &self,
        f: impl std::future::Future<Output = object_store::Result<T>>,
    ) -> Result<T, DocumentStoreError> {
        match tokio::time::timeout(self.timeout, f).await {
            Ok(r) => Ok(r?),
            Err(_) => Err(DocumentStoreError::Unavailable(format!(
                "no answer within {} ms",
                self.timeout.as_millis()
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::memory::InMemory;

    fn memory() -> DocumentStore {
        DocumentStore::with_objects(
            Backend::ObjectStorage,
            Arc::new(InMemory::new()),
            Duration::from_secs(1),
        )
    }

    #[tokio::test]
    async fn objects_go_under_random_keys_and_come_back() {
        let store = memory();
        let Placed::Object(a) = store.place(b"sealed".to_vec()).await.unwrap() else {
            panic!("placed in the row");
        };
        let b = store.upload(b"sealed".to_vec()).await.unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with("documents/") && a.len() == "documents/".len() + 32);
        assert_eq!(store.fetch(&a).await.unwrap(), b"sealed");
        store.delete(std::slice::from_ref(&a)).await;
        assert!(matches!(
            store.fetch(&a).await,
            Err(DocumentStoreError::Missing(_))
        ));
        store.probe().await.unwrap();
    }

    #[tokio::test]
    async fn the_database_back_end_keeps_bytes_in_the_row() {
        let store = DocumentStore::database();
        assert!(matches!(
            store.place(b"x".to_vec()).await.unwrap(),
            Placed::InRow(b) if b == b"x"
        ));
        assert!(matches!(
            store.fetch("documents/x").await,
            Err(DocumentStoreError::Unavailable(_))
        ));
    }

    /// The configured S3 client reaches a plain-http endpoint (self-hosted stores on a private
    /// network): a stand-in that accepts any PUT.
    #[tokio::test]
    async fn the_s3_client_uploads_to_an_http_endpoint() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let (mut conn, _) = listener.accept().await.unwrap();
            let mut request = vec![0; 64 * 1024];
            let _ = conn.read(&mut request).await;
            let answer = "HTTP/1.1 200 OK\r\nETag: \"e\"\r\nContent-Length: 0\r\n\r\n";
            conn.write_all(answer.as_bytes()).await.unwrap();
        });
        let mut settings = Settings {
            store: Backend::ObjectStorage,
            ..Settings::default()
        };
        settings.object_storage.endpoint = endpoint;
        settings.object_storage.access_key_id = "GK1".into();
        settings.object_storage.secret_access_key = Secret::new("s");
        let store = DocumentStore::from_settings(&settings).unwrap();
        let key = store.upload(b"sealed".to_vec()).await.unwrap();
        assert!(key.starts_with("documents/"));
    }

    #[test]
    fn an_unavailable_store_says_why_down_to_the_root_cause() {
        #[derive(Debug, thiserror::Error)]
        #[error("builder error")]
        struct Builder(#[source] std::io::Error);
        let e = object_store::Error::Generic {
            store: "S3",
            source: Box::new(Builder(std::io::Error::other("URL scheme is not allowed"))),
        };
        let DocumentStoreError::Unavailable(message) = e.into() else {
            panic!("not unavailable");
        };
        assert!(
            message.ends_with("builder error: URL scheme is not allowed"),
            "{message}"
        );
    }

    #[test]
    fn object_storage_needs_an_endpoint() {
        let mut s = Settings {
            store: Backend::ObjectStorage,
            ..Settings::default()
        };
        assert_eq!(
            s.validate().unwrap_err().key,
            "documents.object_storage.endpoint"
        );
        s.object_storage.endpoint = "http://127.0.0.1:3900".into();
        s.validate().unwrap();
    }
}
