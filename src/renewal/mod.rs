//! Renewal and rekey: a new certificate that replaces an active one once accepted.
//!
//! - **Renewal** (a new term): a new enrolment for the same identity, copied from the renewed
//!   certificate's enrolment with the consent record it was given under (`verified_by =
//!   renewal`, `renews` naming the certificate; no documents of its own), with a new draft
//!   contract for the chosen package, made in one transaction. A citizen whose data changed
//!   applies afresh instead. From there the normal
//!   steps follow: the citizen signs the contract with an SMS code, the app asks for the
//!   certificate with a CSR (`issuance/`, which sets `supersedes` from `renews`), and the citizen
//!   accepts it with an SMS code (`acceptance/`). The free package is refused by the contract
//!   step when the ID number already used it. The new certificate's validity is its package's,
//!   from its issuance.
//! - **Rekey** (a new key): a new certificate from a CSR for the same enrolment, contract and
//!   package, ending when the replaced certificate ends; no new contract. A key certified before
//!   (the old one included) is refused by issuance's unique SPKI index. The RA's issuance
//!   service runs it (`issuance::Issuance::rekey`) with this module's [`replaceable`] check.
//!
//! Either way the replaced certificate is revoked (`superseded`) in the transaction that
//! accepts the new one, not before; if the new one is rejected or not accepted in time the
//! replaced one stays as it was.
//!
//! Decisions:
//! - Only an `active` certificate inside its validity can be renewed or rekeyed. Not a
//!   suspended one: a hold (the subscriber's or an officer's) must be lifted or turned into a
//!   revocation first, so that a replacement never goes around it; for the same reason
//!   accepting a replacement is refused while the certificate it replaces is suspended.
//! - One replacement per certificate at a time. "Pending" is derived, not stored: an open
//!   renewal enrolment, or a superseding certificate still `signing` or `pending_acceptance`.
//!   A rejected, expired, revoked or abandoned replacement thus stops being pending by itself,
//!   and a renewal nobody finishes is dropped by withdrawing its enrolment. The check runs in
//!   the write transaction that creates the replacement, and write transactions are
//!   serialised (SQLite `BEGIN IMMEDIATE`; PostgreSQL `SERIALIZABLE`), so two racing
//!   requests cannot both pass it.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::audit::{Actor, NewEvent};
use crate::clock::Clock;
use crate::contract::{ContractError, ContractSummary, Contracts};
use crate::enrolment::Status;
use crate::status::CertificateStatus;
use crate::store::{CertificateRow, EnrolmentRow, Store, StoreError, Tx};

/// What `enrolments.verified_by` says of a renewal's enrolment: the identity verified for the
/// renewed certificate, carried over.
pub const VERIFIED_BY_RENEWAL: &str = "renewal";

#[derive(Debug, thiserror::Error)]
pub enum RenewalError {
    #[error("certificate not found")]
    NotFound,
    #[error(
        "only an active certificate within its validity can be renewed or rekeyed; this one \
         is `{status}`"
    )]
    NotReplaceable { status: CertificateStatus },
    #[error(
        "{} of this certificate is in progress (enrolment {enrolment_id}{})",
        .kind.article(),
        .serial.as_ref().map(|s| format!(", certificate {s}")).unwrap_or_default()
    )]
    Pending {
        kind: Kind,
        enrolment_id: String,
        serial: Option<String>,
    },
    #[error("an open enrolment {enrolment_id} exists for this ID number")]
    EnrolmentOpen { enrolment_id: String },
    #[error(transparent)]
    Contract(#[from] ContractError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn unexpected(e: impl std::fmt::Display) -> RenewalError {
    RenewalError::Store(StoreError::Unexpected(e.to_string()))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Renewal,
    Rekey,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Renewal => "renewal",
            Kind::Rekey => "rekey",
        }
    }

    pub fn article(self) -> &'static str {
        match self {
            Kind::Renewal => "a renewal",
            Kind::Rekey => "a rekey",
        }
    }
}

/// A replacement in progress.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pending {
    pub kind: Kind,
    /// The enrolment the new certificate is (to be) issued under.
    pub enrolment_id: String,
    /// The new certificate, once recorded.
    pub serial: Option<String>,
}

/// The replacement of `serial` in progress, if any (see the module's "pending" decision).
pub fn pending(tx: &mut Tx<'_>, serial: &str) -> Result<Option<Pending>, StoreError> {
    let Some(old) = tx.certificate(serial)? else {
        return Ok(None);
    };
    if let Some(new) = tx
        .certificates_superseding(serial)?
        .into_iter()
        .find(|c| c.status.is_in_issuance())
    {
        let kind = if new.enrolment_id == old.enrolment_id {
            Kind::Rekey
        } else {
            Kind::Renewal
        };
        return Ok(Some(Pending {
            kind,
            enrolment_id: new.enrolment_id,
            serial: Some(new.serial),
        }));
    }
    Ok(tx
        .open_renewal_of(serial, &Status::OPEN)?
        .map(|enrolment_id| Pending {
            kind: Kind::Renewal,
            enrolment_id,
            serial: None,
        }))
}

/// The certificate, if it may be replaced now (checked again by a rekey in its recording
/// transaction, `issuance::Issuance::rekey`).
pub fn replaceable(
    tx: &mut Tx<'_>,
    serial: &str,
    now: DateTime<Utc>,
) -> Result<CertificateRow, RenewalError> {
    let certificate = tx.certificate(serial)?.ok_or(RenewalError::NotFound)?;
    if certificate.status != CertificateStatus::Active {
        return Err(RenewalError::NotReplaceable {
            status: certificate.status,
        });
    }
    // Past notAfter but not yet marked by the expiry job.
    if certificate.not_after.and_utc() <= now {
        return Err(RenewalError::NotReplaceable {
            status: CertificateStatus::Expired,
        });
    }
    if let Some(p) = pending(tx, serial)? {
        return Err(RenewalError::Pending {
            kind: p.kind,
            enrolment_id: p.enrolment_id,
            serial: p.serial,
        });
    }
    Ok(certificate)
}

/// A renewal begun: its enrolment and draft contract.
#[derive(Clone, Debug)]
pub struct RenewalStarted {
    /// The certificate renewed.
    pub renews: String,
    pub enrolment_id: String,
    pub contract: ContractSummary,
}

#[derive(Clone)]
pub struct Renewals {
    store: Store,
    contracts: Contracts,
    clock: Arc<dyn Clock>,
}

impl Renewals {
    pub fn new(store: Store, contracts: Contracts, clock: Arc<dyn Clock>) -> Self {
        Self {
            store,
            contracts,
            clock,
        }
    }

    /// Begins a renewal of `serial` with `package_code`: in one audited transaction, a
    /// `verified` enrolment with the same identity and a draft contract for the package.
    pub async fn renew(
        &self,
        actor: &Actor,
        serial: &str,
        package_code: &str,
    ) -> Result<RenewalStarted, RenewalError> {
        let now = self.clock.now();
        let (actor, serial, package_code) = (
            actor.clone(),
            serial.to_ascii_lowercase(),
            package_code.to_string(),
        );
        let contracts = self.contracts.clone();
        self.store
            .write(move |tx| {
                let old = replaceable(tx, &serial, now)?;
                let from = tx
                    .enrolment_by_id(&old.enrolment_id)?
                    .ok_or_else(|| unexpected("certificate without its enrolment"))?;
                if let Some(open) = tx.open_enrolment_for(&from.id_number, &Status::OPEN)? {
                    return Err(RenewalError::EnrolmentOpen { enrolment_id: open });
                }
                let row = EnrolmentRow {
                    id: crate::store::new_row_id(),
                    status: Status::Verified,
                    verified_by: Some(VERIFIED_BY_RENEWAL.into()),
                    renews: Some(serial.clone()),
                    submitted_by: actor.to_string(),
                    enrolled_by: None,
                    created_at: now.naive_utc(),
                    updated_at: now.naive_utc(),
                    ..from.clone()
                };
                tx.audit(NewEvent::new(
                    now,
                    &actor,
                    "certificate.renewal_requested",
                    "certificate",
                    &serial,
                    json!({"enrolment_id": row.id, "package": package_code}),
                ))?;
                tx.insert_enrolment(&row)?;
                tx.audit(NewEvent::new(
                    now,
                    &actor,
                    "enrolment.renewal_opened",
                    "enrolment",
                    &row.id,
                    json!({
                        "renews": serial,
                        "identity_from": from.id,
                        "source": row.source,
                        "status": row.status.as_str(),
                        "verified_by": row.verified_by,
                    }),
                ))?;
                let contract = contracts.create_in(tx, now, &actor, &row.id, &package_code)?;
                Ok(RenewalStarted {
                    renews: serial,
                    enrolment_id: row.id,
                    contract,
                })
            })
            .await
    }
}
