//! Integration tests, one binary (each file under `tests/` is linked as its own binary, with
//! the whole crate, openssl, both diesel back ends and poem: one binary links once).

mod common;

mod acceptance;
mod accounts;
mod architecture;
mod audit_writers;
mod browser;
mod ca_files;
mod checkpoints;
mod consent;
mod contract;
mod counter_path;
mod csc;
mod document_store;
mod documents;
mod edge;
mod enrolment;
mod foundation;
mod going_live;
mod hsm;
mod interrupted;
mod isolation;
mod issuance;
mod lifecycle;
mod notices;
mod notify;
mod openapi;
mod otp;
mod outage;
mod pdf_seal;
mod prepared_documents;
mod readonly;
mod recordings;
mod reports;
mod retention;
mod status;
mod verification;
mod vneid;
mod web;
