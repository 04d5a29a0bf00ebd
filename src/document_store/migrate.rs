//! `ca-enrol documents migrate`: moves existing documents' ciphertext between their rows and
//! the object store, in batches. Each batch is one transaction with one audit event
//! (`documents.migrated`); an interrupted run leaves every document in one place (at worst an
//! uploaded object no row points to, for the sweeper), and a new run carries on with what is
//! left. Nothing is decrypted: the ciphertext moves as it is, under the same data key.

use chrono::Utc;
use serde_json::json;

use super::{DocumentStore, DocumentStoreError};
use crate::audit::{Actor, NewEvent};
use crate::store::{DocumentRow, Placement, Store, StoreError};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    ToObjectStorage,
    ToDatabase,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::ToObjectStorage => "object-storage",
            Direction::ToDatabase => "database",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error(transparent)]
    Documents(#[from] DocumentStoreError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("document {enrolment_id}/{kind}: {problem}")]
    Document {
        enrolment_id: String,
        kind: String,
        problem: String,
    },
}

/// What a run moved.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Migration {
    pub documents: usize,
    pub bytes: i64,
    pub batches: usize,
}

/// A batch's transaction: nothing could move (rolled back, no event), or a failure.
enum Step {
    Nothing,
    Failed(StoreError),
}

impl From<StoreError> for Step {
    fn from(e: StoreError) -> Self {
        Step::Failed(e)
    }
}

/// Where the documents are now (the dry run's figures).
pub async fn placement(store: &Store) -> Result<Placement, MigrateError> {
    Ok(store.read(|tx| tx.document_placement()).await?)
}

/// Moves every movable document to `to`, `batch` at a time.
pub async fn migrate(
    store: &Store,
    documents: &DocumentStore,
    to: Direction,
    batch: i64,
) -> Result<Migration, MigrateError> {
    let mut done = Migration::default();
    loop {
        let rows = store
            .read(move |tx| match to {
                Direction::ToObjectStorage => tx.documents_in_rows(batch),
                Direction::ToDatabase => tx.documents_in_objects(batch),
            })
            .await?;
        if rows.is_empty() {
            return Ok(done);
        }
        let (moves, uploaded) = match to {
            Direction::ToObjectStorage => to_objects(documents, rows).await?,
            Direction::ToDatabase => to_rows(documents, rows).await?,
        };
        let result = store
            .write(move |tx| {
                let (mut n, mut bytes, mut stale) = (0, 0, Vec::new());
                for m in moves {
                    let moved = match &m.sealed {
                        None => tx.move_document_to_object(
                            &m.enrolment_id,
                            &m.kind,
                            &m.key_id,
                            &m.object_key,
                        )?,
                        Some(sealed) => tx.move_document_to_row(
                            &m.enrolment_id,
                            &m.kind,
                            &m.object_key,
                            sealed,
                        )?,
                    };
                    if moved {
                        n += 1;
                        bytes += m.size_bytes;
                    } else {
                        stale.push(m.object_key);
                    }
                }
                if n == 0 {
                    return Err(Step::Nothing);
                }
                tx.audit(NewEvent::new(
                    Utc::now(),
                    &Actor::Cli,
                    "documents.migrated",
                    "document_store",
                    to.as_str(),
                    json!({"documents": n, "bytes": bytes}),
                ))?;
                Ok((n, bytes, stale))
            })
            .await;
        match result {
            Ok((n, bytes, stale)) => {
                done.documents += n;
                done.bytes += bytes;
                done.batches += 1;
                match to {
                    // Uploads whose rows changed meanwhile.
                    Direction::ToObjectStorage => documents.delete(&stale).await,
                    // The moved documents' objects; the others stay where their rows point.
                    Direction::ToDatabase => {
                        let moved: Vec<String> = uploaded
                            .into_iter()
                            .filter(|k| !stale.contains(k))
                            .collect();
                        documents.delete(&moved).await;
                    }
                }
            }
            // Every row of the batch changed under us (replaced or destroyed): stop rather
            // than loop; a new run picks up what is left.
            Err(Step::Nothing) => {
                if to == Direction::ToObjectStorage {
                    documents.delete(&uploaded).await;
                }
                return Ok(done);
            }
            Err(Step::Failed(e)) => {
                if to == Direction::ToObjectStorage {
                    documents.delete(&uploaded).await;
                }
                return Err(e.into());
            }
        }
    }
}

/// One document's move: to its object (`sealed` None) or back into its row.
#[derive(Clone)]
struct Move {
    enrolment_id: String,
    kind: String,
    key_id: String,
    object_key: String,
    sealed: Option<Vec<u8>>,
    size_bytes: i64,
}

/// Uploads each row's ciphertext; returns the moves and the uploaded keys.
async fn to_objects(
    documents: &DocumentStore,
    rows: Vec<DocumentRow>,
) -> Result<(Vec<Move>, Vec<String>), MigrateError> {
    let (mut moves, mut uploaded) = (Vec::new(), Vec::new());
    for row in rows {
        let (Some(sealed), Some(key_id)) = (row.sealed, row.key_id) else {
            continue;
        };
        let object_key = match documents.upload(sealed).await {
            Ok(k) => k,
            Err(e) => {
                documents.delete(&uploaded).await;
                return Err(e.into());
            }
        };
        uploaded.push(object_key.clone());
        moves.push(Move {
            enrolment_id: row.enrolment_id,
            kind: row.kind,
            key_id,
            object_key,
            sealed: None,
            size_bytes: row.size_bytes,
        });
    }
    Ok((moves, uploaded))
}

/// Fetches each row's object; returns the moves and the objects read.
async fn to_rows(
    documents: &DocumentStore,
    rows: Vec<DocumentRow>,
) -> Result<(Vec<Move>, Vec<String>), MigrateError> {
    let (mut moves, mut read) = (Vec::new(), Vec::new());
    for row in rows {
        let Some(object_key) = row.object_key else {
            continue;
        };
        let sealed = documents
            .fetch(&object_key)
            .await
            .map_err(|e| MigrateError::Document {
                enrolment_id: row.enrolment_id.clone(),
                kind: row.kind.clone(),
                problem: e.to_string(),
            })?;
        read.push(object_key.clone());
        moves.push(Move {
            enrolment_id: row.enrolment_id,
            kind: row.kind,
            key_id: row.key_id.unwrap_or_default(),
            object_key,
            sealed: Some(sealed),
            size_bytes: row.size_bytes,
        });
    }
    Ok((moves, read))
}
