//! The package catalogue: what a citizen may choose, from the `packages` table.

use super::{unexpected, ContractError, Contracts};
use crate::store::PackageRow;

/// A package as offered.
#[derive(Clone, Debug)]
pub struct Package {
    pub code: String,
    pub name: String,
    pub price_vnd: i64,
    pub term_months: u32,
    pub free: bool,
    pub certificate_profile: String,
}

impl Package {
    fn from_row(r: PackageRow) -> Result<Self, ContractError> {
        Ok(Self {
            term_months: u32::try_from(r.term_months).map_err(unexpected)?,
            code: r.code,
            name: r.name,
            price_vnd: r.price_vnd,
            free: r.free,
            certificate_profile: r.certificate_profile,
        })
    }
}

impl Contracts {
    pub async fn packages(&self) -> Result<Vec<Package>, ContractError> {
        let rows = self.store.read(|tx| tx.active_packages()).await?;
        rows.into_iter().map(Package::from_row).collect()
    }
}
