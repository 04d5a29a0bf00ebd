//! Remote-signing rows (CSC API): credentials (a subscriber key the provider holds, linked to
//! its certificate), signature activation data (SAD, stored as its SHA-256) and signatures.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{csc_authorizations, csc_credentials, csc_signatures, enrolments};
use super::{dispatch, StoreError, Tx};

/// `csc_credentials.state`: `pending` before the key exists, `ready` once the certificate is
/// recorded, `destroyed` once the key is gone.
pub const CREDENTIAL_PENDING: &str = "pending";
pub const CREDENTIAL_READY: &str = "ready";
pub const CREDENTIAL_DESTROYED: &str = "destroyed";

#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = csc_credentials)]
pub struct CredentialRow {
    pub id: String,
    pub enrolment_id: String,
    pub certificate_serial: Option<String>,
    /// `P-256` or `RSA-2048`.
    pub key_algorithm: String,
    /// `pkcs11` or `software`.
    pub key_store: String,
    /// The software key store's sealed PKCS#8 key; None in a token.
    pub sealed_key: Option<Vec<u8>>,
    pub spki_der: Option<Vec<u8>>,
    pub state: String,
    pub created_at: NaiveDateTime,
}

#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = csc_authorizations)]
pub struct AuthorizationRow {
    pub id: String,
    pub sad_sha256: String,
    pub credential_id: String,
    /// Lower-case hex SHA-256 values, one per line, in the authorised order.
    pub hashes: String,
    pub num_signatures: i32,
    pub otp_challenge_id: String,
    pub expires_at: NaiveDateTime,
    pub used_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
}

#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = csc_signatures)]
pub struct SignatureRow {
    pub id: String,
    pub credential_id: String,
    pub certificate_serial: String,
    pub hash_sha256: String,
    pub sad_id: String,
    pub signed_at: NaiveDateTime,
}

impl Tx<'_> {
    pub fn insert_credential(&mut self, row: &CredentialRow) -> Result<(), StoreError> {
        dispatch!(self, c => diesel::insert_into(csc_credentials::table)
            .values(row)
            .execute(c))?;
        Ok(())
    }

    pub fn credential(&mut self, id: &str) -> Result<Option<CredentialRow>, StoreError> {
        Ok(dispatch!(self, c => csc_credentials::table
            .find(id)
            .select(CredentialRow::as_select())
            .first(c)
            .optional())?)
    }

    pub fn credential_of_certificate(
        &mut self,
        serial: &str,
    ) -> Result<Option<CredentialRow>, StoreError> {
        Ok(dispatch!(self, c => csc_credentials::table
            .filter(csc_credentials::certificate_serial.eq(serial))
            .select(CredentialRow::as_select())
            .first(c)
            .optional())?)
    }

    /// The key material of a pending credential, once generated (conditional: false when the
    /// row left `pending`, e.g. recovery destroyed it meanwhile).
    pub fn set_credential_key(
        &mut self,
        id: &str,
        spki_der: &[u8],
        sealed_key: Option<&[u8]>,
    ) -> Result<bool, StoreError> {
        let n = dispatch!(self, c => diesel::update(csc_credentials::table
            .filter(csc_credentials::id.eq(id))
            .filter(csc_credentials::state.eq(CREDENTIAL_PENDING)))
            .set((
                csc_credentials::spki_der.eq(spki_der),
                csc_credentials::sealed_key.eq(sealed_key),
            ))
            .execute(c))?;
        Ok(n == 1)
    }

    /// `pending` → `ready`, linked to its certificate.
    pub fn link_credential(&mut self, id: &str, serial: &str) -> Result<bool, StoreError> {
        let n = dispatch!(self, c => diesel::update(csc_credentials::table
            .filter(csc_credentials::id.eq(id))
            .filter(csc_credentials::state.eq(CREDENTIAL_PENDING)))
            .set((
                csc_credentials::certificate_serial.eq(serial),
                csc_credentials::state.eq(CREDENTIAL_READY),
            ))
            .execute(c))?;
        Ok(n == 1)
    }

    /// Marks a credential `destroyed` and forgets its sealed key (conditional on `from`).
    pub fn destroy_credential(&mut self, id: &str, from: &str) -> Result<bool, StoreError> {
        let n = dispatch!(self, c => diesel::update(csc_credentials::table
            .filter(csc_credentials::id.eq(id))
            .filter(csc_credentials::state.eq(from)))
            .set((
                csc_credentials::state.eq(CREDENTIAL_DESTROYED),
                csc_credentials::sealed_key.eq(None::<Vec<u8>>),
            ))
            .execute(c))?;
        Ok(n == 1)
    }

    /// Credentials still `pending` since before `cutoff`: their issuance stopped.
    pub fn stale_pending_credentials(
        &mut self,
        cutoff: NaiveDateTime,
    ) -> Result<Vec<CredentialRow>, StoreError> {
        Ok(dispatch!(self, c => csc_credentials::table
            .filter(csc_credentials::state.eq(CREDENTIAL_PENDING))
            .filter(csc_credentials::created_at.lt(cutoff))
            .select(CredentialRow::as_select())
            .limit(500)
            .load(c))?)
    }

    /// The `ready` credentials of the subscriber with `id_number`, in enrolments of
    /// `integration` (every integration when None), oldest first.
    pub fn credentials_of_subscriber(
        &mut self,
        id_number: &str,
        integration: Option<&str>,
    ) -> Result<Vec<CredentialRow>, StoreError> {
        let enrolment_ids: Vec<String> = match integration {
            Some(i) => dispatch!(self, c => enrolments::table
                .filter(enrolments::id_number.eq(id_number))
                .filter(enrolments::integration_id.eq(i))
                .select(enrolments::id)
                .load(c))?,
            None => dispatch!(self, c => enrolments::table
                .filter(enrolments::id_number.eq(id_number))
                .select(enrolments::id)
                .load(c))?,
        };
        Ok(dispatch!(self, c => csc_credentials::table
            .filter(csc_credentials::enrolment_id.eq_any(&enrolment_ids))
            .filter(csc_credentials::state.eq(CREDENTIAL_READY))
            .order((csc_credentials::created_at, csc_credentials::id))
            .select(CredentialRow::as_select())
            .load(c))?)
    }

    pub fn insert_authorization(&mut self, row: &AuthorizationRow) -> Result<(), StoreError> {
        dispatch!(self, c => diesel::insert_into(csc_authorizations::table)
            .values(row)
            .execute(c))?;
        Ok(())
    }

    pub fn authorization_by_sad(
        &mut self,
        sad_sha256: &str,
    ) -> Result<Option<AuthorizationRow>, StoreError> {
        Ok(dispatch!(self, c => csc_authorizations::table
            .filter(csc_authorizations::sad_sha256.eq(sad_sha256))
            .select(AuthorizationRow::as_select())
            .first(c)
            .optional())?)
    }

    /// Uses a SAD once: true for the one caller whose update found it unused (writers are
    /// serialised, so across processes too).
    pub fn use_authorization(&mut self, id: &str, at: NaiveDateTime) -> Result<bool, StoreError> {
        let n = dispatch!(self, c => diesel::update(csc_authorizations::table
            .filter(csc_authorizations::id.eq(id))
            .filter(csc_authorizations::used_at.is_null()))
            .set(csc_authorizations::used_at.eq(at))
            .execute(c))?;
        Ok(n == 1)
    }

    pub fn insert_signature(&mut self, row: &SignatureRow) -> Result<(), StoreError> {
        dispatch!(self, c => diesel::insert_into(csc_signatures::table)
            .values(row)
            .execute(c))?;
        Ok(())
    }

    /// The signatures made with the certificate's key, newest first, at most `limit`.
    pub fn signatures_of_certificate(
        &mut self,
        serial: &str,
        limit: i64,
    ) -> Result<Vec<SignatureRow>, StoreError> {
        Ok(dispatch!(self, c => csc_signatures::table
            .filter(csc_signatures::certificate_serial.eq(serial))
            .order((csc_signatures::signed_at.desc(), csc_signatures::id.desc()))
            .limit(limit)
            .select(SignatureRow::as_select())
            .load(c))?)
    }
}
