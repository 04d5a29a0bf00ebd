//! ca-enrol: the provider-side enrolment and certificate service of a Vietnamese public
//! certification authority. See ARCHITECTURE.md for the map of modules and their invariants.

// A panic in a request handler drops the connection without a problem answer, and one in a
// job loop stops the job: failures are errors. Tests may unwrap.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod acceptance;
pub mod api;
pub mod app;
pub mod audit;
pub mod ca;
pub mod ca_files;
pub mod ca_settings;
pub mod checkpoints;
pub mod cli;
pub mod clock;
pub mod config;
pub mod contract;
pub mod data_keys;
pub mod document_store;
pub mod documents;
pub mod drawn_signature;
pub mod enrolment;
pub mod expiry;
pub mod http;
pub mod issuance;
pub mod jobs;
pub mod notify;
pub mod operators;
pub mod otp;
pub mod pdf_seal;
pub mod problem;
pub mod remote_signing;
pub mod renewal;
pub mod reports;
pub mod retention;
pub mod router;
pub mod secrets;
pub mod settings;
pub mod states;
pub mod status;
pub mod store;
pub mod texts;
pub mod verification;
pub mod vn;
pub mod vneid;
pub mod web;
