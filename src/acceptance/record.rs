//! The acceptance record: rendered after the certificate is signed and before the transaction
//! that stores it, stored in that transaction, then the same bytes every time.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::{document, pdf, pending_certificate, unexpected, Acceptance, AcceptanceError, Record};
use crate::audit::{Actor, NewEvent};
use crate::contract::{Environment, MadeDocument, Provider};
use crate::notify::CertificateNotice;
use crate::secrets::sha256_hex;
use crate::store::{
    AcceptanceRow, CertificateRow, ContractRow, EnrolmentRow, PackageRow, StoreError, Tx,
};

/// A record's PDF rendered outside any transaction, with its input, which the storing
/// transaction compares with what the rows it reads give (the HTML, a cheap text template,
/// is made in the transaction).
pub struct RenderedRecord {
    serial: String,
    made: DateTime<Utc>,
    pdf: MadeDocument,
}

/// What a record shows: the certificate, its enrolment, signed contract and package.
struct Inputs {
    certificate: CertificateRow,
    enrolment: EnrolmentRow,
    contract: ContractRow,
    package: PackageRow,
}

impl Acceptance {
    /// Renders the record of `certificate`, a signed certificate not yet stored (its row as
    /// it will be stored), from its enrolment, signed contract and package as read now.
    /// Blocking, and outside any write transaction: rendering the PDF is the costly part of
    /// storing a certificate, and holding the writers' turn for it would serialise it.
    pub fn render_record_blocking(
        &self,
        certificate: CertificateRow,
        made: DateTime<Utc>,
    ) -> Result<RenderedRecord, AcceptanceError> {
        let enrolment_id = certificate.enrolment_id.clone();
        let (enrolment, contract, package) =
            self.store.read_blocking(|tx| rest_of(tx, &enrolment_id))?;
        let inputs = Inputs {
            certificate,
            enrolment,
            contract,
            package,
        };
        let pdf = pdf::record(&pdf_contents(
            &inputs,
            made,
            &self.provider,
            self.environment,
        )?)?
        .make()?;
        Ok(RenderedRecord {
            serial: inputs.certificate.serial,
            made,
            pdf,
        })
    }

    /// Stores a record rendered by [`Acceptance::render_record_blocking`] inside the caller's
    /// transaction: issuance calls it in the transaction that stores the signed certificate,
    /// so every certificate awaiting acceptance has its record from the moment it exists. The
    /// rows are read again here; if what the record shows changed since it was rendered, it
    /// is rendered again here, so a stored record never shows stale data.
    pub fn make_record(
        &self,
        tx: &mut Tx<'_>,
        rendered: RenderedRecord,
        now: DateTime<Utc>,
    ) -> Result<Record, AcceptanceError> {
        let serial = rendered.serial.clone();
        let record = match tx.acceptance_record(&serial)? {
            Some(row) => row,
            None => {
                let inputs = inputs_of(tx, &serial)?;
                // The HTML is cheap: made again from the rows read here. The PDF made before
                // is stored if its input is what these rows give, else rendered again here.
                let html = html(&inputs, rendered.made, &self.provider)?;
                let made = (&*self.provider, self.environment, rendered.made);
                store(tx, &inputs, html, made, Some(rendered.pdf), now)?
            }
        };
        // The subscriber hears of the certificate with the deadline, in the same transaction.
        let signed_at = pending_certificate(tx, &serial)?.signed_at.ok_or_else(|| {
            unexpected("certificate awaiting acceptance without its signing time")
        })?;
        self.outbox
            .notify_certificate(
                tx,
                now,
                &serial,
                CertificateNotice::Issued {
                    deadline: self.deadline(signed_at.and_utc()),
                },
            )
            .map_err(unexpected)?;
        Ok(record)
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
        let (provider, environment) = (self.provider.clone(), self.environment);
        let made = serial.clone();
        let result = self
            .store
            .write(move |tx| ensure_record(tx, &made, now, &provider, environment))
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

/// The stored record, or a new one rendered now and audited (a rare repair: rendered in the
/// transaction). Only a signed certificate awaiting acceptance gets one: anything else had
/// its chance or never had a certificate.
fn ensure_record(
    tx: &mut Tx<'_>,
    serial: &str,
    now: DateTime<Utc>,
    provider: &Provider,
    environment: Environment,
) -> Result<Record, AcceptanceError> {
    if let Some(row) = tx.acceptance_record(serial)? {
        return Ok(row);
    }
    let inputs = inputs_of(tx, serial)?;
    let html = html(&inputs, now, provider)?;
    store(tx, &inputs, html, (provider, environment, now), None, now)
}

/// The certificate's enrolment, signed contract and package.
fn rest_of(
    tx: &mut Tx<'_>,
    enrolment_id: &str,
) -> Result<(EnrolmentRow, ContractRow, PackageRow), AcceptanceError> {
    let enrolment = tx
        .enrolment_by_id(enrolment_id)?
        .ok_or_else(|| unexpected("certificate without its enrolment"))?;
    let contract = tx
        .signed_contract_for(enrolment_id)?
        .ok_or_else(|| unexpected("certificate without a signed contract"))?;
    let package = tx
        .package(&contract.package_code)?
        .ok_or_else(|| unexpected("contract without its package"))?;
    Ok((enrolment, contract, package))
}

/// Everything a record of `serial` shows, from the stored rows; the certificate must be
/// signed and awaiting acceptance.
fn inputs_of(tx: &mut Tx<'_>, serial: &str) -> Result<Inputs, AcceptanceError> {
    let certificate = pending_certificate(tx, serial)?;
    let (enrolment, contract, package) = rest_of(tx, &certificate.enrolment_id)?;
    Ok(Inputs {
        certificate,
        enrolment,
        contract,
        package,
    })
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

fn pdf_contents<'a>(
    inputs: &'a Inputs,
    made: DateTime<Utc>,
    provider: &'a Provider,
    environment: Environment,
) -> Result<pdf::Contents<'a>, AcceptanceError> {
    Ok(pdf::Contents {
        environment,
        provider,
        made,
        subscriber: &inputs.enrolment,
        contract_number: &inputs.contract.number,
        package_name: &inputs.package.name,
        certificate: &inputs.certificate,
        cert_der: cert_der(inputs)?,
    })
}

/// The rendered record stored with its PDF and audited, in the caller's transaction.
fn store(
    tx: &mut Tx<'_>,
    inputs: &Inputs,
    html: Vec<u8>,
    (provider, environment, made): (&Provider, Environment, DateTime<Utc>),
    pdf: Option<MadeDocument>,
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
        created_at: made.naive_utc(),
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
    pdf::store_record(tx, &pdf_contents(inputs, made, provider, environment)?, pdf)?;
    Ok(row)
}
