//! The pure state machines: every status an enrolment, a contract, a certificate and a
//! video-call entry can have, with their moves. A leaf below `store/` (which stores them as
//! typed text columns) and below the domain modules that drive them, so rows can carry these
//! types without `store/` importing the domain. The domain modules re-export them
//! (`enrolment::Status`, `status::CertificateStatus`, …).

pub mod certificate;
pub mod contract;
pub mod enrolment;
pub mod video_call;
