//! The acceptance record: its HTML (a text template) rendered once the certificate is signed,
//! outside any write transaction, and its row stored in the transaction that stores the
//! signed certificate; its PDF made the first time it is needed, outside any write
//! transaction, and stored in a short audited write of its own. Then the same bytes every
//! time.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::{document, pdf, pending_certificate, unexpected, Acceptance, AcceptanceError, Record};
use crate::audit::{Actor, NewEvent};
use crate::contract::{DocumentInput, Environment, Provider};
use crate::notify::{CertificateNotice, Sealed};
use crate::secrets::sha256_hex;
use crate::store::{
    AcceptanceRow, CertificateRow, EnrolmentRow, PackageRow, PdfDocumentRow, StoreError, Tx,
};

/// What a record shows: the certificate, its enrolment, signed contract and package.
struct Inputs {
    certificate: CertificateRow,
    enrolment: EnrolmentRow,
    contract: ContractRef,
    package: PackageRow,
}

/// What a record names of the signed contract.
struct ContractRef {
    id: String,
    number: String,
}

/// A record rendered outside any write transaction ([`Acceptance::render_record_blocking`]),
/// to be stored with its certificate ([`Acceptance::make_record`]).
pub struct RenderedRecord {
    inputs: Inputs,
    html: Vec<u8>,
    made: DateTime<Utc>,
    /// The subscriber's notice of the certificate, with its acceptance deadline.
    notice: Sealed,
}

impl Acceptance {
    /// Renders the record of `certificate`, just signed (its row as it will be stored), and
    /// seals the subscriber's notice of it (with the acceptance deadline), from the rows read
    /// now. Its enrolment moved to `certificate_issued` in the transaction that
    /// recorded the certificate, so what the record shows no longer changes; rendering here
    /// keeps the template work out of the storing transaction, which holds the database's
    /// write lock on SQLite, which only inserts the rows. Blocking (a read transaction):
    /// issuance calls it on its signing threads.
    pub fn render_record_blocking(
        &self,
        certificate: CertificateRow,
    ) -> Result<RenderedRecord, AcceptanceError> {
        let made = self.clock.now();
        let signed_at = certificate.signed_at.ok_or_else(|| {
            unexpected("certificate awaiting acceptance without its signing time")
        })?;
        let inputs = self.store.read_blocking(|tx| inputs_for(tx, certificate))?;
        let html = html(&inputs, made, &self.provider)?;
        let notice = self
            .outbox
            .certificate_notice(
                made,
                &inputs.certificate,
                &inputs.enrolment,
                CertificateNotice::Issued {
                    deadline: self.deadline(signed_at.and_utc()),
                },
            )
            .map_err(unexpected)?;
        Ok(RenderedRecord {
            inputs,
            html,
            made,
            notice,
        })
    }

    /// Stores the `rendered` record of a certificate just stored signed, inside the caller's
    /// transaction: issuance calls it in the transaction that stores the signed certificate,
    /// so every certificate awaiting acceptance has its record row from the moment it exists.
    /// Its PDF is not made here: rendering it is the costly part of issuing, and it is made on
    /// first need instead ([`Acceptance::record_pdf`]). Borrows `rendered`: the storing
    /// transaction may run it again (issuance's batches, `issuance::batch`).
    pub fn make_record(
        &self,
        tx: &mut Tx<'_>,
        rendered: &RenderedRecord,
    ) -> Result<Record, AcceptanceError> {
        let record = match tx.acceptance_record(&rendered.inputs.certificate.serial)? {
            Some(row) => row,
            None => store(tx, &rendered.inputs, rendered.html.clone(), rendered.made)?,
        };
        // The subscriber hears of the certificate with the deadline, in the same transaction.
        self.outbox.add(tx, &rendered.notice).map_err(unexpected)?;
        Ok(record)
    }

    /// The record's PDF, the version the acceptance code is bound to: made the first time it
    /// is needed (the record shown, or a code asked for) while the record is pending, then
    /// the same bytes every time. It is rendered outside any write transaction from the rows
    /// read before, dated at the record's making; the short write that stores it (audited,
    /// `acceptance.record_pdf_made`) reads the rows again and renders again if what the PDF
    /// shows changed meanwhile. Of concurrent first requests the first write wins and the
    /// others answer its bytes. `NoPdf` for a record decided without one (nobody asked for
    /// it while pending, or a record from before PDFs): a decided record never changes.
    pub async fn record_pdf(&self, serial: &str) -> Result<PdfDocumentRow, AcceptanceError> {
        let record = self.record(serial).await?;
        let serial = record.serial;
        let (provider, environment) = (self.provider.clone(), self.environment);
        let read = serial.clone();
        let found = self
            .store
            .read(move |tx| match tx.pdf_document(pdf::RECORD, &read)? {
                Some(doc) => Ok(Err(doc)),
                None => pdf_input(tx, &read, &provider, environment).map(Ok),
            })
            .await?;
        let made = match found {
            Err(stored) => return Ok(stored),
            Ok(input) => input.make_blocking().await?,
        };
        let now = self.clock.now();
        let (provider, environment) = (self.provider.clone(), self.environment);
        let stored = serial.clone();
        let result = self
            .store
            .write(move |tx| {
                if tx.pdf_document_version(pdf::RECORD, &stored)?.is_some() {
                    // A write must audit what it changes; this one would change nothing.
                    return Err(made_meanwhile());
                }
                let input = pdf_input(tx, &stored, &provider, environment)?;
                let row = input.store(tx, pdf::RECORD, &stored, Some(made.clone()))?;
                tx.audit(NewEvent::new(
                    now,
                    &Actor::System,
                    "acceptance.record_pdf_made",
                    "certificate",
                    &stored,
                    json!({"kind": pdf::RECORD, "sha256": row.document_sha256}),
                ))?;
                Ok(row)
            })
            .await;
        match result {
            // Stored by a concurrent first request a moment ago: that one stands.
            Err(AcceptanceError::Store(StoreError::Conflict(_))) => self
                .store
                .read(move |tx| tx.pdf_document(pdf::RECORD, &serial))
                .await?
                .ok_or_else(|| unexpected("acceptance record PDF vanished")),
            other => other,
        }
    }

    /// The record (made now if a certificate somehow has none yet).
    pub async fn record(&self, serial: &str) -> Result<Record, AcceptanceError> {
        let serial = serial.to_ascii_lowercase();
        let read = serial.clone();
        if let Some(row) = self
            .store
            .read(move |tx| tx.acceptance_record(&read))
            .await?
        {
            return Ok(row);
        }
        let now = self.clock.now();
        let provider = self.provider.clone();
        let made = serial.clone();
        let result = self
            .store
            .write(move |tx| ensure_record(tx, &made, now, &provider))
            .await;
        match result {
            // Made by a concurrent request a moment ago: that one stands.
            Err(AcceptanceError::Store(StoreError::Conflict(_))) => self
                .store
                .read(move |tx| tx.acceptance_record(&serial))
                .await?
                .ok_or_else(|| unexpected("acceptance record vanished")),
            other => other,
        }
    }
}

/// A new record made now and audited (a rare repair), or `made_meanwhile` if one exists.
/// Only a signed certificate awaiting acceptance gets one: anything else had its chance or
/// never had a certificate.
fn ensure_record(
    tx: &mut Tx<'_>,
    serial: &str,
    now: DateTime<Utc>,
    provider: &Provider,
) -> Result<Record, AcceptanceError> {
    if tx.acceptance_record(serial)?.is_some() {
        return Err(made_meanwhile());
    }
    let inputs = inputs_of(tx, serial)?;
    let html = html(&inputs, now, provider)?;
    store(tx, &inputs, html, now)
}

/// What a write that finds its document already stored answers: the caller reads that one
/// (a write that changes nothing cannot commit: it would have nothing to audit).
fn made_meanwhile() -> AcceptanceError {
    AcceptanceError::Store(StoreError::Conflict("made by a concurrent request".into()))
}

/// What a record of `certificate` shows: the certificate with its enrolment, signed
/// contract and package.
fn inputs_for(tx: &mut Tx<'_>, certificate: CertificateRow) -> Result<Inputs, AcceptanceError> {
    let enrolment_id = &certificate.enrolment_id;
    let enrolment = tx
        .enrolment_by_id(enrolment_id)?
        .ok_or_else(|| unexpected("certificate without its enrolment"))?;
    let contract = tx
        .signed_contract_ref(enrolment_id)?
        .ok_or_else(|| unexpected("certificate without a signed contract"))?;
    let package = tx
        .package(&contract.package_code)?
        .ok_or_else(|| unexpected("contract without its package"))?;
    Ok(Inputs {
        certificate,
        enrolment,
        contract: ContractRef {
            id: contract.id,
            number: contract.number,
        },
        package,
    })
}

/// Everything a record of `serial` shows, from the stored rows; the certificate must be
/// signed and awaiting acceptance.
fn inputs_of(tx: &mut Tx<'_>, serial: &str) -> Result<Inputs, AcceptanceError> {
    let certificate = pending_certificate(tx, serial)?;
    inputs_for(tx, certificate)
}

fn cert_der(inputs: &Inputs) -> Result<&[u8], AcceptanceError> {
    inputs
        .certificate
        .cert_der
        .as_deref()
        .ok_or_else(|| unexpected("pending certificate without its bytes"))
}

/// The HTML record (cheap: a text template).
fn html(
    inputs: &Inputs,
    made: DateTime<Utc>,
    provider: &Provider,
) -> Result<Vec<u8>, AcceptanceError> {
    document::render(&document::Contents {
        date: crate::vn::date_of(made),
        provider,
        subscriber: &inputs.enrolment,
        contract_number: &inputs.contract.number,
        package: &inputs.package,
        certificate: &inputs.certificate,
        cert_der: cert_der(inputs)?,
    })
    .map_err(unexpected)
}

/// The PDF record's input, from the rows read in `tx`: dated at the record's making, so it
/// is the document it would have been had it been rendered then. Only while the record is
/// pending: a decided record never gains a document.
fn pdf_input(
    tx: &mut Tx<'_>,
    serial: &str,
    provider: &Provider,
    environment: Environment,
) -> Result<DocumentInput, AcceptanceError> {
    let record = tx
        .acceptance_record(serial)?
        .ok_or(AcceptanceError::NotFound)?;
    if record.status != "pending" {
        return Err(AcceptanceError::NoPdf);
    }
    let certificate = tx.certificate(serial)?.ok_or(AcceptanceError::NotFound)?;
    let inputs = inputs_for(tx, certificate)?;
    pdf::record(&pdf::Contents {
        environment,
        provider,
        made: record.created_at.and_utc(),
        subscriber: &inputs.enrolment,
        contract_number: &inputs.contract.number,
        package_name: &inputs.package.name,
        certificate: &inputs.certificate,
        cert_der: cert_der(&inputs)?,
    })
}

/// The record stored and audited, in the caller's transaction; made at `now`.
fn store(
    tx: &mut Tx<'_>,
    inputs: &Inputs,
    html: Vec<u8>,
    now: DateTime<Utc>,
) -> Result<Record, AcceptanceError> {
    let row = AcceptanceRow {
        serial: inputs.certificate.serial.clone(),
        enrolment_id: inputs.certificate.enrolment_id.clone(),
        contract_id: inputs.contract.id.clone(),
        template_version: document::CURRENT.into(),
        document_sha256: sha256_hex(&html),
        document: html,
        status: "pending".into(),
        created_at: now.naive_utc(),
        reminders_sent: 0,
        decided_at: None,
        decided_by: None,
        otp_challenge_id: None,
        otp_channel: None,
        otp_masked_destination: None,
        client_ip: None,
        user_agent: None,
        rejection_reason: None,
    };
    tx.audit(NewEvent::new(
        now,
        &Actor::System,
        "acceptance.record_created",
        "certificate",
        &row.serial,
        json!({
            "enrolment_id": row.enrolment_id,
            "contract_id": row.contract_id,
            "template_version": row.template_version,
            "record_sha256": row.document_sha256,
            "cert_sha256": sha256_hex(cert_der(inputs)?),
        }),
    ))?;
    tx.insert_acceptance_record(&row)?;
    Ok(row)
}
