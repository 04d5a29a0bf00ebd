//! eKYC intake: citizens' identity data parsed into domain types at the edge, one open
//! enrolment per ID number, encrypted identity documents, routing to `verified` or to the
//! video-call queue, and consent withdrawal.
//!
//! Invariant: face images and ID photos are stored only as AES-256-GCM ciphertext, each under
//! a data key of its own wrapped by the master key (`data_keys`), so destroying the key
//! destroys the document; every read is audited; their bytes never reach a log. Documents
//! stored before per-document keys stay readable under the master key's document sub-key
//! until they are destroyed.
//!
//! Documents live in the database by default rather than in files: every server process
//! already shares the database (and not necessarily a disk), one transaction then covers the
//! document, its audit event and the routing it triggers, and withdrawal deletes them
//! atomically with the status change. The key stays outside the database, so a database dump
//! alone reveals no image. At national scale their ciphertext goes to an S3-compatible object
//! store instead (`document_store`): uploaded before the row that points to it commits, read
//! back and checked against the row's SHA-256, deleted after the row and its key are gone.

mod application;
pub mod documents;
pub mod identity;
mod queue;
pub use crate::states::enrolment as status;
pub mod transition;

pub use application::{
    codes, AddressForm, Application, ApplicationForm, ConsentAct, ConsentForm, CONSENT_CHANNELS,
};
pub use documents::{
    normalise_image, Document, DocumentInfo, DocumentKind, ImageRefusal, ImageType, NormalisedImage,
};
pub use status::{Event, Issuance, NextStep, Source, Status, TransitionError};

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::audit::{Actor, NewEvent};
use crate::clock::Clock;
use crate::data_keys::{DataKeys, Purpose, StoredKey};
use crate::document_store::{DocumentStore, DocumentStoreError, Placed};
use crate::secrets::{sha256_hex, MasterKey};
use crate::settings::{range, Invalid};
use crate::store::{
    CertificateRow, ConsentEvidenceRow, DestructionReason, DocumentRow, EnrolmentRow,
    IdempotencyRow, Store, StoreError, Tx,
};
use identity::FieldErrors;
use serde_json::Value;
use transition::{transition, Details, MoveError};

/// Purpose of the master sub-key that sealed identity documents before per-document keys.
const LEGACY_DOCUMENT_KEY_PURPOSE: &str = "documents";
/// Operation name under which submissions store their idempotency keys.
const SUBMIT_OPERATION: &str = "enrolment.submit";

/// How an application is verified, per source.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Route {
    /// Verified on intake (the source itself is the evidence).
    Verified,
    /// Always a video call.
    VideoCall,
    /// A video call, unless the same ID number already passed one with the same name and
    /// date of birth.
    VideoCallUnlessPassed,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingPolicy {
    pub vneid: Route,
    pub app_ekyc: Route,
    pub counter: Route,
}

impl RoutingPolicy {
    pub fn route(&self, source: Source) -> Route {
        match source {
            Source::Vneid => self.vneid,
            Source::AppEkyc => self.app_ekyc,
            Source::Counter => self.counter,
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Largest identity document accepted, in bytes.
    pub max_document_bytes: u64,
    pub routing: RoutingPolicy,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            max_document_bytes: 5 * 1024 * 1024,
            // VNeID level-2 accounts stand in for the paper ID (Decree 23 art. 34); at a
            // counter the operator saw the citizen and the card.
            routing: RoutingPolicy {
                vneid: Route::Verified,
                app_ekyc: Route::VideoCallUnlessPassed,
                counter: Route::Verified,
            },
        }
    }
}

impl Settings {
    pub fn validate(&self) -> Result<(), Invalid> {
        range(
            "enrolment.max_document_bytes",
            self.max_document_bytes,
            1024,
            64 * 1024 * 1024,
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EnrolmentError {
    #[error("this Idempotency-Key was already used with a different request")]
    IdempotencyKeyReused,
    #[error("an open enrolment {enrolment_id} exists for this ID number")]
    AlreadyOpen { enrolment_id: String },
    #[error("counter applications must be submitted by the enrolling operator")]
    CounterNeedsOperator,
    #[error("enrolment not found")]
    NotFound,
    #[error("document larger than {max_bytes} bytes")]
    DocumentTooLarge { max_bytes: u64 },
    #[error("only JPEG or PNG images are accepted")]
    DocumentTypeUnsupported,
    #[error("the image cannot be decoded")]
    DocumentUndecodable,
    #[error("the image is smaller than {min_width}x{min_height} pixels")]
    DocumentTooSmall { min_width: u32, min_height: u32 },
    #[error("documents are not accepted in status {status}")]
    DocumentsNotAccepted { status: Status },
    #[error("no such document")]
    DocumentNotFound,
    /// Destroyed at withdrawal or at the end of its retention (or its data key was).
    #[error("the document was destroyed")]
    DocumentDestroyed,
    /// The object store cannot take or give documents now (an outage, or not configured for
    /// a document stored there).
    #[error("the document store is unavailable: {0}")]
    DocumentStoreUnavailable(String),
    /// The stored document is missing or does not match its row (SHA-256, authentication).
    #[error("document {enrolment_id}/{kind} is unreadable: {problem}")]
    DocumentUnreadable {
        enrolment_id: String,
        kind: &'static str,
        problem: String,
    },
    /// Not the operator holding the call's lease (or, for a counter dossier, the enrolling
    /// operator), nor an RA officer reviewing a call that is over.
    #[error("only the operator on this applicant's call may see their documents")]
    DocumentAccessDenied,
    #[error("a certificate was issued: the evidence is kept for the retention period")]
    CertificateIssued,
    #[error("the enrolment is {status}")]
    Closed { status: Status },
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn unexpected(e: impl std::fmt::Display) -> EnrolmentError {
    EnrolmentError::Store(StoreError::Unexpected(e.to_string()))
}

/// Who asks for an applicant's document images, for the check in
/// [`Enrolments::read_document`].
#[derive(Clone, Debug)]
pub enum DocumentReader {
    /// An operator (by id): only while holding the live lease on the applicant's video call,
    /// or, for a dossier with no call (a counter enrolment), as the operator who enrolled it.
    Operator(String),
    /// An RA officer: only once no call is waiting or under way (reviewing a completed call,
    /// or a dossier that never had one).
    RaOfficer,
}

impl DocumentReader {
    /// The reader a signed-in operator or RA officer is; `None` for any other caller.
    pub fn of(principal: &crate::operators::Principal) -> Option<DocumentReader> {
        use crate::operators::{Principal, Role};
        match principal {
            Principal::Operator {
                id,
                role: Role::Operator,
                ..
            } => Some(DocumentReader::Operator(id.clone())),
            Principal::Operator {
                role: Role::RaOfficer,
                ..
            } => Some(DocumentReader::RaOfficer),
            _ => None,
        }
    }

    fn may_read(
        &self,
        tx: &mut crate::store::Tx<'_>,
        enrolment_id: &str,
        now: chrono::NaiveDateTime,
    ) -> Result<bool, StoreError> {
        let call = tx.video_call_for_enrolment(enrolment_id)?;
        Ok(match (self, call) {
            (DocumentReader::Operator(op), Some(call)) => {
                call.status == crate::states::video_call::VideoCallStatus::Claimed
                    && call.claimed_by.as_deref() == Some(op.as_str())
                    && call.lease_expires_at.is_some_and(|t| t > now)
            }
            (DocumentReader::Operator(op), None) => tx
                .enrolment_by_id(enrolment_id)?
                .is_some_and(|e| e.enrolled_by.as_deref() == Some(op.as_str())),
            (DocumentReader::RaOfficer, call) => {
                call.is_none_or(|c| c.status == crate::states::video_call::VideoCallStatus::Done)
            }
        })
    }
}

/// Who submits an application. A counter application records the enrolling operator.
pub struct Submitter {
    pub actor: Actor,
    pub operator_id: Option<String>,
    /// The calling API key's integration, which will own the enrolment; `None` at a counter.
    pub integration_id: Option<String>,
}

/// A caller's `Idempotency-Key` with the fingerprint of its request.
pub struct IdempotencyKey {
    /// The API key or operator that sent it.
    pub principal: String,
    pub key: String,
    pub request_sha256: String,
}

/// The answer first given to a request, as sent.
pub struct StoredAnswer {
    pub status: u16,
    pub body: String,
}

pub enum Submitted {
    Created(EnrolmentSummary),
    /// A retry: the first answer, unchanged.
    Replayed(StoredAnswer),
}

/// The state of an enrolment as the applicant's app sees it.
#[derive(Clone, Debug)]
pub struct EnrolmentSummary {
    pub id: String,
    pub source: Source,
    pub status: Status,
    pub verified_by: Option<String>,
    pub documents: Vec<DocumentKind>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Where its certificate stands (from the certificate rows).
    pub issuance: Issuance,
}

impl EnrolmentSummary {
    /// The status's next step, given where its certificate stands
    /// ([`Status::next_step_given`]).
    pub fn next_step(&self) -> NextStep {
        self.status.next_step_given(self.issuance)
    }

    /// The status as the views show it ([`Status::shown`]).
    pub fn shown_status(&self) -> &'static str {
        self.status.shown(self.issuance)
    }

    fn from_row(row: &EnrolmentRow, kinds: &[String]) -> Result<Self, EnrolmentError> {
        Ok(Self {
            id: row.id.clone(),
            source: Source::parse(&row.source)
                .ok_or_else(|| unexpected(format!("stored source `{}`", row.source)))?,
            status: row.status,
            verified_by: row.verified_by.clone(),
            documents: kinds
                .iter()
                .filter_map(|k| DocumentKind::parse(k))
                .collect(),
            created_at: row.created_at.and_utc(),
            updated_at: row.updated_at.and_utc(),
            issuance: Issuance::None,
        })
    }
}

/// Where an enrolment's certificate stands, from its certificate rows at `now`.
fn issuance_of(certificates: &[CertificateRow], now: DateTime<Utc>) -> Issuance {
    use crate::states::certificate::{signing_interrupted, CertificateStatus as C};
    let signing = certificates.iter().filter(|c| c.status == C::Signing);
    let ever_signed = certificates.iter().any(|c| c.cert_der.is_some());
    if certificates
        .iter()
        .any(|c| c.status == C::PendingAcceptance)
    {
        Issuance::AwaitingAcceptance
    } else if let Some(recorded_at) = signing.map(|c| c.created_at.and_utc()).max() {
        match (signing_interrupted(recorded_at, now), ever_signed) {
            (false, _) => Issuance::Signing,
            // A rekey: the enrolment keeps the certificate it had.
            (true, true) => Issuance::RekeyInterrupted,
            (true, false) => Issuance::Interrupted,
        }
    } else if certificates
        .iter()
        .any(|c| c.status == C::Revoked && c.cert_der.is_none())
        && !ever_signed
    {
        Issuance::Cancelled
    } else {
        Issuance::None
    }
}

/// The enrolment service.
#[derive(Clone)]
pub struct Enrolments {
    store: Store,
    keys: DataKeys,
    documents: DocumentStore,
    clock: Arc<dyn Clock>,
    settings: Settings,
    /// Images decoded at once: one per core, so concurrent uploads queue rather than each
    /// holding a decoded photo (up to `MAX_DECODE_ALLOC`) in memory at the same time.
    decoding: Arc<tokio::sync::Semaphore>,
}

impl Enrolments {
    pub fn new(
        store: Store,
        keys: MasterKey,
        documents: DocumentStore,
        clock: Arc<dyn Clock>,
        settings: Settings,
    ) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self {
            store,
            keys: DataKeys::new(keys),
            documents,
            clock,
            settings,
            decoding: Arc::new(tokio::sync::Semaphore::new(cores)),
        }
    }

    pub fn max_document_bytes(&self) -> u64 {
        self.settings.max_document_bytes
    }

    /// Parses an application as of now (the age rule uses today's date in Vietnam).
    pub fn parse(&self, form: &ApplicationForm) -> Result<Application, FieldErrors> {
        let now = self.clock.now();
        Application::parse(form, now, crate::vn::date_of(now))
    }

    /// Records an application and routes it. A retry with the same Idempotency-Key and the
    /// same request gets the first answer back; `render` makes that answer (status, body) in
    /// the same transaction, so an enrolment never exists without its remembered answer.
    pub async fn submit<R>(
        &self,
        submitter: Submitter,
        app: Application,
        idem: IdempotencyKey,
        render: R,
    ) -> Result<Submitted, EnrolmentError>
    where
        R: FnOnce(&EnrolmentSummary) -> (u16, String) + Clone + Send + 'static,
    {
        if (app.source == Source::Counter) != submitter.operator_id.is_some() {
            return Err(EnrolmentError::CounterNeedsOperator);
        }
        if let Some(answer) = self.stored_answer(&idem).await? {
            return Ok(Submitted::Replayed(answer));
        }
        let now = self.clock.now();
        let id = crate::store::new_row_id();
        let policy = self.settings.routing.route(app.source);
        let row = new_row(&id, &app, &submitter, now);
        let consent = self.consent_evidence(&id, &app, &submitter, now)?;
        let (id_number, principal, key) = (
            row.id_number.clone(),
            idem.principal.clone(),
            idem.key.clone(),
        );
        let request_sha256 = idem.request_sha256.clone();
        let written = self
            .store
            .write(move |tx| {
                if let Some(open) = tx.open_enrolment_for(&row.id_number, &Status::OPEN)? {
                    return Err(EnrolmentError::AlreadyOpen { enrolment_id: open });
                }
                let mut row = row;
                if !app.source.needs_documents() {
                    let (to_video_call, verified_by) = route(tx, policy, app.source, &row)?;
                    row.status = Status::AwaitingDocuments
                        .apply(Event::Routed { to_video_call })
                        .map_err(unexpected)?;
                    row.verified_by = verified_by.map(str::to_string);
                }
                tx.insert_enrolment(&row)?;
                if let Some((key, evidence)) = &consent {
                    tx.insert_data_key(key)?;
                    tx.insert_consent_evidence(evidence)?;
                }
                tx.audit(NewEvent::new(
                    now,
                    &submitter.actor,
                    "enrolment.submitted",
                    "enrolment",
                    &row.id,
                    json!({
                        "source": row.source,
                        "status": row.status.as_str(),
                        "verified_by": row.verified_by,
                        "enrolled_by": row.enrolled_by,
                        "integration_id": row.integration_id,
                        "consent_version": row.consent_version,
                        "consent_text_sha256": row.consent_text_sha256,
                        "consent_channel": row.consent_channel,
                        "consent_method": consent.as_ref().map(|(_, e)| &e.method),
                        "consent_signature_sha256":
                            consent.as_ref().map(|(_, e)| &e.signature_sha256),
                        "consent_witnessed_by": consent.as_ref().map(|(_, e)| &e.witnessed_by),
                    }),
                ))?;
                if row.status == Status::AwaitingVideoCall {
                    queue::enqueue(tx, &row.id, now, &submitter.actor)?;
                }
                let summary = EnrolmentSummary::from_row(&row, &[])?;
                let (status, body) = render(&summary);
                tx.insert_idempotency_record(&IdempotencyRow {
                    principal,
                    idempotency_key: key,
                    operation: SUBMIT_OPERATION.to_string(),
                    request_sha256,
                    response_status: i32::from(status),
                    response_body: body,
                    created_at: now.naive_utc(),
                })?;
                Ok(summary)
            })
            .await;
        match written {
            Ok(summary) => Ok(Submitted::Created(summary)),
            // Another request got there first: a concurrent retry of this one (same key) or
            // another application for the same ID number. A retry gets the first answer.
            Err(
                EnrolmentError::AlreadyOpen { .. } | EnrolmentError::Store(StoreError::Conflict(_)),
            ) => {
                if let Some(answer) = self.stored_answer(&idem).await? {
                    return Ok(Submitted::Replayed(answer));
                }
                let open = self
                    .store
                    .read(move |tx| tx.open_enrolment_for(&id_number, &Status::OPEN))
                    .await?;
                match open {
                    Some(enrolment_id) => Err(EnrolmentError::AlreadyOpen { enrolment_id }),
                    None => Err(unexpected("conflict without a cause")),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// The record of a counter citizen's own act of consent, witnessed by the submitting
    /// operator: the drawn signature sealed under a new data key (the key row to insert with
    /// it). `None` for the other channels, whose app or hub recorded the consent it showed.
    fn consent_evidence(
        &self,
        id: &str,
        app: &Application,
        submitter: &Submitter,
        now: DateTime<Utc>,
    ) -> Result<Option<(crate::store::DataKeyRow, ConsentEvidenceRow)>, EnrolmentError> {
        let (Some(act), Some(operator)) = (&app.consent.act, &submitter.operator_id) else {
            return Ok(None);
        };
        let ConsentAct::SignaturePad(png) = act;
        let sealed = self
            .keys
            .seal(Purpose::Signature, &consent_signature_aad(id), png, now)
            .map_err(unexpected)?;
        let evidence = ConsentEvidenceRow {
            enrolment_id: id.to_string(),
            method: act.method().to_string(),
            witnessed_by: operator.clone(),
            signature_image: sealed.ciphertext,
            signature_key_id: sealed.key.id.clone(),
            signature_sha256: sha256_hex(png),
        };
        Ok(Some((sealed.key, evidence)))
    }

    /// The remembered answer for this key, or `IdempotencyKeyReused` when the key came with
    /// a different request.
    async fn stored_answer(
        &self,
        idem: &IdempotencyKey,
    ) -> Result<Option<StoredAnswer>, EnrolmentError> {
        let (principal, key) = (idem.principal.clone(), idem.key.clone());
        let Some(rec) = self
            .store
            .read(move |tx| tx.idempotency_record(&principal, &key))
            .await?
        else {
            return Ok(None);
        };
        if rec.operation != SUBMIT_OPERATION || rec.request_sha256 != idem.request_sha256 {
            return Err(EnrolmentError::IdempotencyKeyReused);
        }
        Ok(Some(StoredAnswer {
            status: u16::try_from(rec.response_status).map_err(unexpected)?,
            body: rec.response_body,
        }))
    }

    pub async fn get(&self, id: &str) -> Result<EnrolmentSummary, EnrolmentError> {
        let id = id.to_string();
        let now = self.clock.now();
        self.store
            .read(move |tx| {
                let row = tx.enrolment_by_id(&id)?.ok_or(EnrolmentError::NotFound)?;
                let kinds = tx.document_kinds(&id)?;
                let mut summary = EnrolmentSummary::from_row(&row, &kinds)?;
                if matches!(
                    summary.status,
                    Status::ContractSigned | Status::CertificateIssued
                ) {
                    let certificates = tx.certificates_for_enrolment(&id)?;
                    summary.issuance = issuance_of(&certificates, now);
                }
                Ok(summary)
            })
            .await
    }

    /// Stores (or replaces) one document, encrypted. When the fourth kind arrives the
    /// application is routed: to `verified` or into the video-call queue.
    pub async fn put_document(
        &self,
        actor: &Actor,
        id: &str,
        kind: DocumentKind,
        bytes: Vec<u8>,
    ) -> Result<(DocumentInfo, EnrolmentSummary), EnrolmentError> {
        let max_bytes = self.settings.max_document_bytes;
        if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > max_bytes {
            return Err(EnrolmentError::DocumentTooLarge { max_bytes });
        }
        // Refused before queueing for a decoder: not an image at all.
        ImageType::sniff(&bytes).ok_or(EnrolmentError::DocumentTypeUnsupported)?;
        let permit = self
            .decoding
            .clone()
            .acquire_owned()
            .await
            .map_err(unexpected)?;
        let image = tokio::task::spawn_blocking(move || {
            let image = normalise_image(kind, &bytes);
            drop(permit);
            image
        })
        .await
        .map_err(unexpected)?
        .map_err(|refusal| match refusal {
            ImageRefusal::Unsupported => EnrolmentError::DocumentTypeUnsupported,
            ImageRefusal::Undecodable => EnrolmentError::DocumentUndecodable,
            ImageRefusal::TooSmall {
                min_width,
                min_height,
            } => EnrolmentError::DocumentTooSmall {
                min_width,
                min_height,
            },
        })?;
        let (image_type, bytes) = (image.image_type, image.bytes);
        let info = DocumentInfo {
            kind,
            image_type,
            size_bytes: i64::try_from(bytes.len()).map_err(unexpected)?,
            sha256: sha256_hex(&bytes),
        };
        let now = self.clock.now();
        let sealed = self
            .keys
            .seal(Purpose::Document, &document_aad(id, kind), &bytes, now)
            .map_err(unexpected)?;
        drop(bytes);
        let key = sealed.key;
        // Uploaded before the row that points to it commits: a row never names an object
        // that was not stored; an object whose row does not commit is swept later.
        let (sealed, object_key) = match self.documents.place(sealed.ciphertext).await {
            Ok(Placed::InRow(bytes)) => (Some(bytes), None),
            Ok(Placed::Object(key)) => (None, Some(key)),
            Err(e) => {
                tracing::warn!(enrolment_id = %id, kind = kind.as_str(), error = %e, "document not stored");
                return Err(EnrolmentError::DocumentStoreUnavailable(e.to_string()));
            }
        };
        let uploaded = object_key.clone();
        let doc = DocumentRow {
            enrolment_id: id.to_string(),
            kind: kind.as_str().to_string(),
            content_type: image_type.content_type().to_string(),
            size_bytes: info.size_bytes,
            sha256: info.sha256.clone(),
            sealed,
            uploaded_at: now.naive_utc(),
            key_id: Some(key.id.clone()),
            object_key,
        };
        let (actor, policy) = (actor.clone(), self.settings.routing.clone());
        let written = self
            .store
            .write(move |tx| {
                let mut row = tx
                    .enrolment_by_id(&doc.enrolment_id)?
                    .ok_or(EnrolmentError::NotFound)?;
                let status = row.status;
                let source =
                    Source::parse(&row.source).ok_or_else(|| unexpected("stored source"))?;
                if !source.accepts_documents(status) {
                    return Err(EnrolmentError::DocumentsNotAccepted { status });
                }
                tx.insert_data_key(&key)?;
                let replaced = tx.put_document(&doc)?;
                tx.audit(NewEvent::new(
                    now,
                    &actor,
                    "enrolment.document_stored",
                    "enrolment",
                    &row.id,
                    json!({
                        "kind": doc.kind,
                        "content_type": doc.content_type,
                        "size_bytes": doc.size_bytes,
                        "sha256": doc.sha256,
                    }),
                ))?;
                let kinds = tx.document_kinds(&row.id)?;
                let complete = DocumentKind::ALL
                    .iter()
                    .all(|k| kinds.iter().any(|s| s == k.as_str()));
                // The fourth document routes an application that waited for it; a counter
                // enrolment was routed at intake.
                if complete && status == Status::AwaitingDocuments {
                    let (to_video_call, verified_by) =
                        route(tx, policy.route(source), source, &row)?;
                    row = transition(
                        tx,
                        &row.id,
                        Event::Routed { to_video_call },
                        &actor,
                        now,
                        Details {
                            verified_by,
                            facts: Value::Null,
                        },
                    )
                    .map_err(unexpected)?
                    .enrolment;
                    if to_video_call {
                        queue::enqueue(tx, &row.id, now, &actor)?;
                    }
                }
                Ok((EnrolmentSummary::from_row(&row, &kinds)?, replaced))
            })
            .await;
        let (summary, replaced) = match written {
            Ok(w) => w,
            Err(e) => {
                if let Some(uploaded) = uploaded {
                    self.documents.delete(&[uploaded]).await;
                }
                return Err(e);
            }
        };
        // The replaced document's key is gone with its row; now its bytes.
        if let Some(replaced) = replaced {
            self.documents.delete(&[replaced]).await;
        }
        Ok((info, summary))
    }

    /// Decrypts one document for an authorised reader; the read is audited first.
    pub async fn read_document(
        &self,
        reader: &Actor,
        access: &DocumentReader,
        id: &str,
        kind: DocumentKind,
    ) -> Result<Document, EnrolmentError> {
        let now = self.clock.now();
        let (reader, eid, access) = (reader.clone(), id.to_string(), access.clone());
        let (row, key) = self
            .store
            .write(move |tx| {
                let Some(doc) = tx.document(&eid, kind.as_str())? else {
                    return Err(match tx.enrolment_by_id(&eid)? {
                        None => EnrolmentError::NotFound,
                        Some(_) if tx.documents_destroyed_at(&eid)?.is_some() => {
                            EnrolmentError::DocumentDestroyed
                        }
                        Some(_) => EnrolmentError::DocumentNotFound,
                    });
                };
                let key = StoredKey::find(tx, doc.key_id.as_deref())?;
                if matches!(key, StoredKey::Destroyed) {
                    return Err(EnrolmentError::DocumentDestroyed);
                }
                if !access.may_read(tx, &eid, now.naive_utc())? {
                    return Err(EnrolmentError::DocumentAccessDenied);
                }
                tx.audit(NewEvent::new(
                    now,
                    &reader,
                    "enrolment.document_read",
                    "enrolment",
                    &eid,
                    json!({"kind": doc.kind, "sha256": doc.sha256}),
                ))?;
                Ok((doc, key))
            })
            .await?;
        let image_type =
            ImageType::from_content_type(&row.content_type).ok_or_else(|| unexpected("type"))?;
        let unreadable = |problem: String| {
            tracing::error!(enrolment_id = %id, kind = kind.as_str(), %problem, "document unreadable");
            EnrolmentError::DocumentUnreadable {
                enrolment_id: id.to_string(),
                kind: kind.as_str(),
                problem,
            }
        };
        let sealed = match (row.sealed, &row.object_key) {
            (Some(sealed), _) => sealed,
            (None, Some(object)) => match self.documents.fetch(object).await {
                Ok(sealed) => sealed,
                Err(DocumentStoreError::Missing(o)) => {
                    return Err(unreadable(format!("object {o} is missing")))
                }
                Err(e) => {
                    tracing::warn!(enrolment_id = %id, kind = kind.as_str(), error = %e, "document not read");
                    return Err(EnrolmentError::DocumentStoreUnavailable(e.to_string()));
                }
            },
            (None, None) => return Err(unreadable("the row holds no ciphertext".into())),
        };
        let aad = document_aad(id, kind);
        let bytes = match key {
            StoredKey::Own(key) => self.keys.open(&key, &aad, &sealed),
            StoredKey::Legacy => self
                .keys
                .open_legacy(LEGACY_DOCUMENT_KEY_PURPOSE, &aad, &sealed),
            StoredKey::Destroyed => return Err(EnrolmentError::DocumentDestroyed),
        }
        .map_err(|e| unreadable(format!("does not open: {e}")))?;
        if sha256_hex(&bytes) != row.sha256 {
            return Err(unreadable("SHA-256 differs from the stored one".into()));
        }
        Ok(Document { image_type, bytes })
    }

    /// Consent withdrawal: before issuance the enrolment is cancelled, its documents destroyed
    /// and it leaves the video-call queue; after issuance it is refused.
    pub async fn withdraw(
        &self,
        actor: &Actor,
        id: &str,
    ) -> Result<EnrolmentSummary, EnrolmentError> {
        let now = self.clock.now();
        let (actor, id) = (actor.clone(), id.to_string());
        let (summary, objects) = self
            .store
            .write(move |tx| {
                // Destroyed before the move so the move's event can say so; a refused move
                // rolls them back with the transaction.
                let docs =
                    tx.destroy_documents(&id, DestructionReason::Withdrawn, now.naive_utc())?;
                let destroyed = docs.len();
                let objects: Vec<String> = docs.into_iter().filter_map(|d| d.object_key).collect();
                let left_queue = queue::close_for_enrolment(tx, &id)?;
                let row = transition(
                    tx,
                    &id,
                    Event::Withdrawn,
                    &actor,
                    now,
                    Details {
                        verified_by: None,
                        facts: json!({
                            "documents_destroyed": destroyed,
                            "left_video_call_queue": left_queue,
                        }),
                    },
                )
                .map_err(|e| match e {
                    MoveError::NotFound => EnrolmentError::NotFound,
                    MoveError::Refused(TransitionError::CertificateIssued) => {
                        EnrolmentError::CertificateIssued
                    }
                    MoveError::Refused(TransitionError::NotAllowed { from, .. }) => {
                        EnrolmentError::Closed { status: from }
                    }
                    e => unexpected(e),
                })?
                .enrolment;
                Ok::<_, EnrolmentError>((EnrolmentSummary::from_row(&row, &[])?, objects))
            })
            .await?;
        // The keys went with the commit: the objects are unreadable already; now delete them.
        self.documents.delete(&objects).await;
        Ok(summary)
    }
}

/// Binds a consent signature's ciphertext to its enrolment.
fn consent_signature_aad(id: &str) -> Vec<u8> {
    format!("{id}/consent_signature").into_bytes()
}

/// Binds a document's ciphertext to its enrolment and kind, so it cannot be moved to another.
fn document_aad(id: &str, kind: DocumentKind) -> Vec<u8> {
    format!("{id}/{}", kind.as_str()).into_bytes()
}

/// Applies the routing policy: (to the video-call queue?, `verified_by` otherwise).
fn route(
    tx: &mut Tx<'_>,
    policy: Route,
    source: Source,
    row: &EnrolmentRow,
) -> Result<(bool, Option<&'static str>), StoreError> {
    Ok(match policy {
        Route::Verified => (false, Some(source.verified_by())),
        Route::VideoCall => (true, None),
        Route::VideoCallUnlessPassed => {
            match tx.passed_video_call(&row.id_number, &row.full_name, row.date_of_birth)? {
                Some(_) => (false, Some("prior_video_call")),
                None => (true, None),
            }
        }
    })
}

fn new_row(id: &str, app: &Application, who: &Submitter, now: DateTime<Utc>) -> EnrolmentRow {
    let part = |a: &Option<application::Address>, f: fn(&application::Address) -> &str| {
        a.as_ref().map(|a| f(a).to_string())
    };
    EnrolmentRow {
        id: id.to_string(),
        source: app.source.as_str().to_string(),
        status: Status::AwaitingDocuments,
        id_number: app.id_number.as_str().to_string(),
        full_name: app.full_name.as_str().to_string(),
        date_of_birth: app.date_of_birth,
        sex: app.sex.as_str().to_string(),
        nationality: app.nationality.as_str().to_string(),
        permanent_address: app.permanent_address.line.as_str().to_string(),
        permanent_ward: app.permanent_address.ward.to_string(),
        permanent_province: app.permanent_address.province.to_string(),
        current_address: part(&app.current_address, |a| a.line.as_str()),
        current_ward: part(&app.current_address, |a| a.ward),
        current_province: part(&app.current_address, |a| a.province),
        id_issue_date: app.id_issue_date,
        id_issue_place: app.id_issue_place.as_str().to_string(),
        id_expiry_date: app.id_expiry_date,
        phone: app.phone.as_str().to_string(),
        email: app.email.as_ref().map(|e| e.as_str().to_string()),
        consent_version: app.consent.version.as_str().to_string(),
        consent_text_sha256: app.consent.text_sha256.clone(),
        consent_given_at: app.consent.given_at.naive_utc(),
        consent_channel: app.consent.channel.to_string(),
        submitted_by: who.actor.to_string(),
        enrolled_by: who.operator_id.clone(),
        verified_by: None,
        created_at: now.naive_utc(),
        updated_at: now.naive_utc(),
        renews: None,
        integration_id: who.integration_id.clone(),
    }
}
