//! Operator accounts, their sessions, and integration API keys.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{api_keys, integrations, login_failures, operator_sessions, operators};
use super::{dispatch, Store, StoreError, Tx};

#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = operators)]
pub struct OperatorRow {
    pub id: String,
    pub username: String,
    pub role: String,
    pub password_hash: String,
    pub must_change_password: bool,
    pub totp_secret_sealed: Vec<u8>,
    pub last_totp_step: i64,
    pub disabled: bool,
    pub created_at: NaiveDateTime,
}

#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = operator_sessions)]
pub struct SessionRow {
    pub token_hash: String,
    pub operator_id: String,
    pub created_at: NaiveDateTime,
    pub last_seen_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub revoked: bool,
}

#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = api_keys)]
pub struct ApiKeyRow {
    pub id: String,
    pub name: String,
    pub scopes: String,
    pub secret_hash: String,
    pub created_at: NaiveDateTime,
    pub revoked_at: Option<NaiveDateTime>,
    pub integration_id: String,
}

/// An integration: the provider's app backend, the VNeID hub connector, a partner portal.
#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = integrations)]
pub struct IntegrationRow {
    pub id: String,
    pub name: String,
    pub created_at: NaiveDateTime,
}

/// The `client` of the account-wide count of sign-in failures.
pub const ANY_CLIENT: &str = "*";

impl Tx<'_> {
    pub fn insert_operator(&mut self, row: &OperatorRow) -> Result<(), StoreError> {
        dispatch!(self, c => diesel::insert_into(operators::table).values(row).execute(c))?;
        Ok(())
    }

    pub fn operator_by_username(
        &mut self,
        username: &str,
    ) -> Result<Option<OperatorRow>, StoreError> {
        Ok(dispatch!(self, c => operators::table
            .filter(operators::username.eq(username))
            .select(OperatorRow::as_select())
            .first(c)
            .optional())?)
    }

    pub fn operator_by_id(&mut self, id: &str) -> Result<Option<OperatorRow>, StoreError> {
        Ok(dispatch!(self, c => operators::table
            .find(id)
            .select(OperatorRow::as_select())
            .first(c)
            .optional())?)
    }

    pub fn count_active_operators_with_role(&mut self, role: &str) -> Result<i64, StoreError> {
        Ok(dispatch!(self, c => operators::table
            .filter(operators::role.eq(role))
            .filter(operators::disabled.eq(false))
            .count()
            .get_result(c))?)
    }

    /// When sign-in as `username` from `client` is locked: the later of that address's lock
    /// and the account-wide one ([`ANY_CLIENT`]). Whether the username exists plays no part.
    pub fn login_locked_until(
        &mut self,
        username: &str,
        client: &str,
        now: NaiveDateTime,
    ) -> Result<Option<NaiveDateTime>, StoreError> {
        Ok(dispatch!(self, c => login_failures::table
            .filter(login_failures::username.eq(username))
            .filter(login_failures::client.eq_any([client, ANY_CLIENT]))
            .filter(login_failures::locked_until.gt(now))
            .select(diesel::dsl::max(login_failures::locked_until))
            .first::<Option<NaiveDateTime>>(c))?)
    }

    /// Counts one failed sign-in as `username` from each of `counts` (a client address and
    /// its limit, then [`ANY_CLIENT`] and the account-wide ceiling); a count reaching its
    /// limit locks until `lock_until` and starts again. Rows whose last failure is before
    /// `window_start` and which hold no lock are purged first, so counts are of recent
    /// failures and the table holds only those. Write transactions are serialised (SQLite's
    /// one writer; PostgreSQL `SERIALIZABLE`), so update-then-insert cannot race. Returns the lock when this failure
    /// set one.
    pub fn record_login_failure(
        &mut self,
        username: &str,
        counts: &[(&str, i32)],
        now: NaiveDateTime,
        window_start: NaiveDateTime,
        lock_until: NaiveDateTime,
    ) -> Result<Option<NaiveDateTime>, StoreError> {
        dispatch!(self, c => diesel::delete(
                login_failures::table
                    .filter(login_failures::last_failure_at.lt(window_start))
                    .filter(
                        login_failures::locked_until
                            .is_null()
                            .or(login_failures::locked_until.le(now)),
                    ),
            )
            .execute(c))?;
        let mut locked = None;
        for &(client, max) in counts {
            let row = login_failures::table.find((username, client));
            let n = dispatch!(self, c => diesel::update(row)
                .set((
                    login_failures::failures.eq(login_failures::failures + 1),
                    login_failures::last_failure_at.eq(now),
                ))
                .execute(c))?;
            if n == 0 {
                dispatch!(self, c => diesel::insert_into(login_failures::table)
                    .values((
                        login_failures::username.eq(username),
                        login_failures::client.eq(client),
                        login_failures::failures.eq(1),
                        login_failures::last_failure_at.eq(now),
                    ))
                    .execute(c))?;
            }
            let failures: i32 =
                dispatch!(self, c => row.select(login_failures::failures).first(c))?;
            if failures >= max {
                dispatch!(self, c => diesel::update(row)
                    .set((
                        login_failures::failures.eq(0),
                        login_failures::locked_until.eq(Some(lock_until)),
                    ))
                    .execute(c))?;
                locked = Some(lock_until);
            }
        }
        Ok(locked)
    }

    /// Forgets the failures of `username` from `client` (a successful sign-in from there);
    /// the account-wide count stays, so successes cannot reset an attack's progress.
    pub fn clear_login_failures(&mut self, username: &str, client: &str) -> Result<(), StoreError> {
        dispatch!(self, c => diesel::delete(login_failures::table.find((username, client)))
            .execute(c))?;
        Ok(())
    }

    /// Lifts every lock and count of `username` (an administrator's reset).
    pub fn clear_all_login_failures(&mut self, username: &str) -> Result<(), StoreError> {
        dispatch!(self, c => diesel::delete(
                login_failures::table.filter(login_failures::username.eq(username)),
            )
            .execute(c))?;
        Ok(())
    }

    /// The usernames locked account-wide at `now`, with the lock's end.
    pub fn account_locks(
        &mut self,
        now: NaiveDateTime,
    ) -> Result<Vec<(String, Option<NaiveDateTime>)>, StoreError> {
        Ok(dispatch!(self, c => login_failures::table
            .filter(login_failures::client.eq(ANY_CLIENT))
            .filter(login_failures::locked_until.gt(now))
            .select((login_failures::username, login_failures::locked_until))
            .load(c))?)
    }

    /// Records a successful login at TOTP time step `step`. Returns false (and changes nothing)
    /// when that step or a later one was already used: the replay guard, race-free across
    /// processes because the condition is part of the UPDATE.
    pub fn consume_totp_step(&mut self, id: &str, step: i64) -> Result<bool, StoreError> {
        let n = dispatch!(self, c => diesel::update(
                operators::table
                    .find(id)
                    .filter(operators::last_totp_step.lt(step)),
            )
            .set(operators::last_totp_step.eq(step))
            .execute(c))?;
        Ok(n == 1)
    }

    /// An operator's own change of a password they chose; false when an administrator's
    /// reset made the account hold a one-time password again meanwhile.
    pub fn set_password(&mut self, id: &str, password_hash: &str) -> Result<bool, StoreError> {
        let n = dispatch!(self, c => diesel::update(
                operators::table
                    .find(id)
                    .filter(operators::must_change_password.eq(false)),
            )
            .set(operators::password_hash.eq(password_hash))
            .execute(c))?;
        Ok(n == 1)
    }

    /// Sets the operator's own password and TOTP secret, only while the one-time password is
    /// unchanged; the confirming code's step, if any, becomes the last used one. False:
    /// already done.
    pub fn complete_first_sign_in(
        &mut self,
        id: &str,
        password_hash: &str,
        totp_secret_sealed: &[u8],
        step: Option<i64>,
    ) -> Result<bool, StoreError> {
        let n = dispatch!(self, c => diesel::update(
                operators::table
                    .find(id)
                    .filter(operators::must_change_password.eq(true)),
            )
            .set((
                operators::password_hash.eq(password_hash),
                operators::must_change_password.eq(false),
                operators::totp_secret_sealed.eq(totp_secret_sealed),
            ))
            .execute(c))?;
        if let (1, Some(step)) = (n, step) {
            dispatch!(self, c => diesel::update(
                    operators::table
                        .find(id)
                        .filter(operators::last_totp_step.lt(step)),
                )
                .set(operators::last_totp_step.eq(step))
                .execute(c))?;
        }
        Ok(n == 1)
    }

    pub fn insert_session(&mut self, row: &SessionRow) -> Result<(), StoreError> {
        dispatch!(self, c => diesel::insert_into(operator_sessions::table).values(row).execute(c))?;
        Ok(())
    }

    pub fn session_with_operator(
        &mut self,
        token_hash: &str,
    ) -> Result<Option<(SessionRow, OperatorRow)>, StoreError> {
        Ok(dispatch!(self, c => operator_sessions::table
            .inner_join(operators::table)
            .filter(operator_sessions::token_hash.eq(token_hash))
            .select((SessionRow::as_select(), OperatorRow::as_select()))
            .first(c)
            .optional())?)
    }

    pub fn revoke_session(&mut self, token_hash: &str) -> Result<(), StoreError> {
        dispatch!(self, c => diesel::update(operator_sessions::table.find(token_hash))
            .set(operator_sessions::revoked.eq(true))
            .execute(c))?;
        Ok(())
    }

    pub fn list_operators(&mut self) -> Result<Vec<OperatorRow>, StoreError> {
        Ok(dispatch!(self, c => operators::table
            .order(operators::username.asc())
            .select(OperatorRow::as_select())
            .load(c))?)
    }

    /// Disables or re-enables an account; false when it does not exist.
    pub fn set_operator_disabled(&mut self, id: &str, disabled: bool) -> Result<bool, StoreError> {
        let n = dispatch!(self, c => diesel::update(operators::table.find(id))
            .set(operators::disabled.eq(disabled))
            .execute(c))?;
        Ok(n == 1)
    }

    /// An administrator's reset: a new one-time password and/or TOTP secret; the operator
    /// must go through first sign-in again (the caller lifts the lock-out).
    pub fn reset_operator_credentials(
        &mut self,
        id: &str,
        password_hash: Option<&str>,
        totp_secret_sealed: Option<&[u8]>,
    ) -> Result<bool, StoreError> {
        let target = operators::table.find(id);
        let flags = operators::must_change_password.eq(true);
        let n = match (password_hash, totp_secret_sealed) {
            (Some(h), Some(t)) => dispatch!(self, c => diesel::update(target)
                .set((flags, operators::password_hash.eq(h), operators::totp_secret_sealed.eq(t)))
                .execute(c))?,
            (Some(h), None) => dispatch!(self, c => diesel::update(target)
                .set((flags, operators::password_hash.eq(h)))
                .execute(c))?,
            (None, Some(t)) => dispatch!(self, c => diesel::update(target)
                .set((flags, operators::totp_secret_sealed.eq(t)))
                .execute(c))?,
            (None, None) => dispatch!(self, c => diesel::update(target).set(flags).execute(c))?,
        };
        Ok(n == 1)
    }

    /// Ends every session of an operator (disable, reset).
    pub fn revoke_operator_sessions(&mut self, operator_id: &str) -> Result<usize, StoreError> {
        Ok(dispatch!(self, c => diesel::update(
                operator_sessions::table
                    .filter(operator_sessions::operator_id.eq(operator_id))
                    .filter(operator_sessions::revoked.eq(false)),
            )
            .set(operator_sessions::revoked.eq(true))
            .execute(c))?)
    }

    /// Ends every session of an operator but `keep` (the one changing the password).
    pub fn revoke_other_operator_sessions(
        &mut self,
        operator_id: &str,
        keep: &str,
    ) -> Result<usize, StoreError> {
        Ok(dispatch!(self, c => diesel::update(
                operator_sessions::table
                    .filter(operator_sessions::operator_id.eq(operator_id))
                    .filter(operator_sessions::token_hash.ne(keep))
                    .filter(operator_sessions::revoked.eq(false)),
            )
            .set(operator_sessions::revoked.eq(true))
            .execute(c))?)
    }

    pub fn list_api_keys(&mut self) -> Result<Vec<ApiKeyRow>, StoreError> {
        Ok(dispatch!(self, c => api_keys::table
            .order(api_keys::created_at.desc())
            .select(ApiKeyRow::as_select())
            .load(c))?)
    }

    pub fn list_integrations(&mut self) -> Result<Vec<IntegrationRow>, StoreError> {
        Ok(dispatch!(self, c => integrations::table
            .order((integrations::created_at.desc(), integrations::id))
            .select(IntegrationRow::as_select())
            .load(c))?)
    }

    pub fn insert_integration(&mut self, row: &IntegrationRow) -> Result<(), StoreError> {
        dispatch!(self, c => diesel::insert_into(integrations::table).values(row).execute(c))?;
        Ok(())
    }

    pub fn integration_by_id(&mut self, id: &str) -> Result<Option<IntegrationRow>, StoreError> {
        Ok(dispatch!(self, c => integrations::table
            .find(id)
            .select(IntegrationRow::as_select())
            .first(c)
            .optional())?)
    }

    pub fn insert_api_key(&mut self, row: &ApiKeyRow) -> Result<(), StoreError> {
        dispatch!(self, c => diesel::insert_into(api_keys::table).values(row).execute(c))?;
        Ok(())
    }

    pub fn api_key_by_id(&mut self, id: &str) -> Result<Option<ApiKeyRow>, StoreError> {
        Ok(dispatch!(self, c => api_keys::table
            .find(id)
            .select(ApiKeyRow::as_select())
            .first(c)
            .optional())?)
    }

    pub fn revoke_api_key(&mut self, id: &str, at: NaiveDateTime) -> Result<bool, StoreError> {
        let n = dispatch!(self, c => diesel::update(
                api_keys::table.find(id).filter(api_keys::revoked_at.is_null()),
            )
            .set(api_keys::revoked_at.eq(Some(at)))
            .execute(c))?;
        Ok(n == 1)
    }
}

impl Store {
    /// Bookkeeping, not audited: moves a session's idle deadline.
    pub async fn touch_session(
        &self,
        token_hash: String,
        at: NaiveDateTime,
    ) -> Result<(), StoreError> {
        let store = self.clone();
        tokio::task::spawn_blocking(move || {
            store.bookkeeping_blocking(|tx| {
                dispatch!(tx, c => diesel::update(operator_sessions::table.find(&token_hash))
                    .set(operator_sessions::last_seen_at.eq(at))
                    .execute(c))?;
                Ok(())
            })
        })
        .await
        .map_err(|e| StoreError::Unexpected(format!("blocking task: {e}")))?
    }
}
