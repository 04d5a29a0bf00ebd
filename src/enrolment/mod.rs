//! eKYC intake: citizens' identity data parsed into domain types at the edge.

pub mod identity;
