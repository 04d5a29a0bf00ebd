//! The acceptance record: made in the transaction that stores the signed certificate, then
//! the same bytes every time.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::{document, pdf, pending_certificate, unexpected, Acceptance, AcceptanceError, Record};
use crate::audit::{Actor, NewEvent};
use crate::contract::{Environment, Provider};
use crate::notify::CertificateNotice;
use crate::secrets::sha256_hex;
use crate::store::{AcceptanceRow, StoreError, Tx};

impl Acceptance {
    /// Makes the record inside the caller's transaction: issuance calls it in the transaction
    /// that stores the signed certificate, so every certificate awaiting acceptance has its
    /// record from the moment it exists.
    pub fn make_record(
        &self,
        tx: &mut Tx<'_>,
        serial: &str,
        now: DateTime<Utc>,
    ) -> Result<Record, AcceptanceError> {
        let record = ensure_record(tx, serial, now, &self.provider, self.environment)?;
        // The subscriber hears of the certificate with the deadline, in the same transaction.
        let signed_at = pending_certificate(tx, serial)?.signed_at.ok_or_else(|| {
            unexpected("certificate awaiting acceptance without its signing time")
        })?;
        self.outbox
            .notify_certificate(
                tx,
                now,
                serial,
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

/// The stored record, or a new one rendered now and audited. Only a signed certificate
/// awaiting acceptance gets one: anything else had its chance or never had a certificate.
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
    let certificate = pending_certificate(tx, serial)?;
    let cert_der = certificate
        .cert_der
        .as_deref()
        .ok_or_else(|| unexpected("pending certificate without its bytes"))?;
    let enrolment = tx
        .enrolment_by_id(&certificate.enrolment_id)?
        .ok_or_else(|| unexpected("certificate without its enrolment"))?;
    let contract = tx
        .signed_contract_for(&certificate.enrolment_id)?
        .ok_or_else(|| unexpected("certificate without a signed contract"))?;
    let package = tx
        .package(&contract.package_code)?
        .ok_or_else(|| unexpected("contract without its package"))?;
    let bytes = document::render(&document::Contents {
        date: crate::vn::date_of(now),
        provider,
        subscriber: &enrolment,
        contract_number: &contract.number,
        package: &package,
        certificate: &certificate,
        cert_der,
    })
    .map_err(unexpected)?;
    let row = AcceptanceRow {
        serial: certificate.serial.clone(),
        enrolment_id: certificate.enrolment_id.clone(),
        contract_id: contract.id.clone(),
        template_version: document::CURRENT.into(),
        document_sha256: sha256_hex(&bytes),
        document: bytes,
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
            "cert_sha256": sha256_hex(cert_der),
        }),
    ))?;
    tx.insert_acceptance_record(&row)?;
    pdf::store_record(
        tx,
        &pdf::Contents {
            environment,
            provider,
            made: now,
            subscriber: &enrolment,
            contract_number: &contract.number,
            package_name: &package.name,
            certificate: &certificate,
            cert_der,
        },
    )?;
    Ok(row)
}
