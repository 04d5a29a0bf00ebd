//! The enrolment state machine.
//!
//! ```text
//! intake ──▶ awaiting_documents ──(4 documents)──▶ ┬─▶ awaiting_video_call ─┬─▶ verified ──▶ contract_signed ──▶ certificate_issued
//!        └──(routing policy)──────────────────────▶ ┴─▶ verified            ├─▶ rejected
//!                                                                          └─▶ expired (no-show limit)
//! any open state ──(withdraw)──▶ withdrawn          (certificate_issued refuses withdrawal)
//! ```
//! `contract_signed` and `certificate_issued` are set by the contract and issuance steps; an
//! abandoned issuance moves `certificate_issued` back to `contract_signed`.
//!
//! At acceptance, a certificate the citizen rejects (its contents are wrong) moves
//! `certificate_issued` to `rejected`, and one left unaccepted past the deadline to `expired`.
//! Both are closed states: the citizen corrects the data in a new application, which may use
//! the free package again (it is released). Decision: no separate "correction" state, since the
//! verified identity data of an enrolment is never edited in place; the trail says which step
//! closed it (`enrolment.certificate_rejected`, `enrolment.acceptance_expired`).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::texts::Text;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    AwaitingDocuments,
    AwaitingVideoCall,
    Verified,
    ContractSigned,
    CertificateIssued,
    Rejected,
    Expired,
    Withdrawn,
}

/// What moves an enrolment on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// Routing chose: straight to `verified`, or to the video-call queue.
    Routed {
        to_video_call: bool,
    },
    VideoCallApproved,
    VideoCallRejected,
    /// The applicant missed the last allowed video call.
    NoShowLimitReached,
    Withdrawn,
    /// The citizen signed the service contract.
    ContractSigned,
    /// Issuance recorded a certificate for the signed contract.
    IssuanceStarted,
    /// Issuance gave up before a certificate existed; the signed contract stands.
    IssuanceAbandoned,
    /// The citizen rejected the certificate at acceptance: the data must be corrected.
    CertificateRejected,
    /// The certificate was not accepted in time and was revoked.
    AcceptanceExpired,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    /// A certificate was issued: the evidence must be kept, so withdrawal is refused.
    #[error("a certificate was issued from this enrolment")]
    CertificateIssued,
    #[error("`{event:?}` is not possible in status `{from}`")]
    NotAllowed { from: Status, event: Event },
}

impl Status {
    pub const ALL: [Status; 8] = [
        Status::AwaitingDocuments,
        Status::AwaitingVideoCall,
        Status::Verified,
        Status::ContractSigned,
        Status::CertificateIssued,
        Status::Rejected,
        Status::Expired,
        Status::Withdrawn,
    ];

    /// The open states. The partial unique index `enrolments_one_open` repeats this list:
    /// change both together.
    pub const OPEN: [Status; 4] = [
        Status::AwaitingDocuments,
        Status::AwaitingVideoCall,
        Status::Verified,
        Status::ContractSigned,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::AwaitingDocuments => "awaiting_documents",
            Status::AwaitingVideoCall => "awaiting_video_call",
            Status::Verified => "verified",
            Status::ContractSigned => "contract_signed",
            Status::CertificateIssued => "certificate_issued",
            Status::Rejected => "rejected",
            Status::Expired => "expired",
            Status::Withdrawn => "withdrawn",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Status::ALL.into_iter().find(|x| x.as_str() == s)
    }

    pub fn is_open(self) -> bool {
        Status::OPEN.contains(&self)
    }

    /// The state after `event`, or why it cannot happen.
    pub fn apply(self, event: Event) -> Result<Status, TransitionError> {
        use Status as S;
        let next = match (self, event) {
            (
                S::AwaitingDocuments,
                Event::Routed {
                    to_video_call: true,
                },
            ) => S::AwaitingVideoCall,
            (
                S::AwaitingDocuments,
                Event::Routed {
                    to_video_call: false,
                },
            ) => S::Verified,
            (S::AwaitingVideoCall, Event::VideoCallApproved) => S::Verified,
            (S::AwaitingVideoCall, Event::VideoCallRejected) => S::Rejected,
            (S::AwaitingVideoCall, Event::NoShowLimitReached) => S::Expired,
            (S::Verified, Event::ContractSigned) => S::ContractSigned,
            (S::ContractSigned, Event::IssuanceStarted) => S::CertificateIssued,
            (S::CertificateIssued, Event::IssuanceAbandoned) => S::ContractSigned,
            (S::CertificateIssued, Event::CertificateRejected) => S::Rejected,
            (S::CertificateIssued, Event::AcceptanceExpired) => S::Expired,
            (S::CertificateIssued, Event::Withdrawn) => {
                return Err(TransitionError::CertificateIssued)
            }
            (from, Event::Withdrawn) if from.is_open() => S::Withdrawn,
            (from, event) => return Err(TransitionError::NotAllowed { from, event }),
        };
        Ok(next)
    }

    /// What the enrolment's view calls this status: the stored one, except `certificate_issued`
    /// while its only certificate was never signed because its process stopped
    /// (`issuance_interrupted`: saying "issued" would be untrue).
    pub fn shown(self, issuance: Issuance) -> &'static str {
        match (self, issuance) {
            (Status::CertificateIssued, Issuance::Interrupted) => "issuance_interrupted",
            (s, _) => s.as_str(),
        }
    }

    /// The next step, knowing where the enrolment's certificate stands: once issued, "accept"
    /// only while a certificate awaits acceptance; "retry" when an issuance was interrupted or
    /// cancelled before a certificate existed.
    pub fn next_step_given(self, issuance: Issuance) -> NextStep {
        use Issuance as I;
        match (self, issuance) {
            (Status::CertificateIssued, I::AwaitingAcceptance) => NextStep::AcceptCertificate,
            (Status::CertificateIssued, I::Signing) => NextStep::AwaitCertificate,
            (Status::CertificateIssued, I::Interrupted | I::RekeyInterrupted) => {
                NextStep::RetryIssuanceLater
            }
            (Status::CertificateIssued, I::None | I::Cancelled) => NextStep::None,
            (Status::ContractSigned, I::Cancelled) => NextStep::RetryIssuance,
            (s, _) => s.next_step(),
        }
    }

    /// What the applicant (or the operator helping them) does next.
    pub fn next_step(self) -> NextStep {
        match self {
            Status::AwaitingDocuments => NextStep::UploadDocuments,
            Status::AwaitingVideoCall => NextStep::VideoCall,
            Status::Verified => NextStep::SignContract,
            Status::ContractSigned => NextStep::AwaitCertificate,
            Status::CertificateIssued => NextStep::AcceptCertificate,
            Status::Withdrawn => NextStep::None,
            Status::Rejected | Status::Expired => NextStep::ApplyAgain,
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where an enrolment's certificate stands, derived from its certificate rows (not stored).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Issuance {
    /// Nothing under way and nothing cancelled.
    #[default]
    None,
    /// Its certificate is recorded and being signed (milliseconds).
    Signing,
    /// A certificate awaits the subscriber's acceptance.
    AwaitingAcceptance,
    /// Its first certificate was recorded, but the process stopped before signing it: nothing
    /// was issued, and the recovery job will cancel the record and reopen the enrolment.
    Interrupted,
    /// The same for a rekey's certificate: the enrolment keeps the one it had.
    RekeyInterrupted,
    /// An issuance was cancelled before a certificate existed (recovery, or a signer failure).
    Cancelled,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NextStep {
    UploadDocuments,
    VideoCall,
    SignContract,
    AwaitCertificate,
    AcceptCertificate,
    /// An issuance was interrupted; the same request succeeds once it is cancelled.
    RetryIssuanceLater,
    /// An earlier issuance was cancelled; request the certificate again.
    RetryIssuance,
    ApplyAgain,
    None,
}

impl NextStep {
    pub fn as_str(self) -> &'static str {
        match self {
            NextStep::UploadDocuments => "upload_documents",
            NextStep::VideoCall => "video_call",
            NextStep::SignContract => "sign_contract",
            NextStep::AwaitCertificate => "await_certificate",
            NextStep::AcceptCertificate => "accept_certificate",
            NextStep::RetryIssuanceLater => "retry_issuance_later",
            NextStep::RetryIssuance => "retry_issuance",
            NextStep::ApplyAgain => "apply_again",
            NextStep::None => "none",
        }
    }

    /// The explanation for the applicant, from the catalogue (`next_step.<step>`).
    pub fn describe(self) -> Text {
        Text::of(&format!("next_step.{}", self.as_str()))
    }
}

/// Where an application comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// Shared by the VNeID app from a level-2 account.
    Vneid,
    /// The provider's own app: ID photos and a liveness selfie.
    AppEkyc,
    /// An operator at a one-stop desk, with the citizen present.
    Counter,
}

impl Source {
    pub const ALL: [Source; 3] = [Source::Vneid, Source::AppEkyc, Source::Counter];

    pub fn as_str(self) -> &'static str {
        match self {
            Source::Vneid => "vneid",
            Source::AppEkyc => "app_ekyc",
            Source::Counter => "counter",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Source::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// Only the provider's app sends ID photos and a liveness capture; the others rest on the
    /// VNeID account or the operator who saw the card.
    pub fn needs_documents(self) -> bool {
        self == Source::AppEkyc
    }

    /// Whether documents may be uploaded in `status`. The app uploads its four before routing;
    /// at a counter the operator may add scans of the card and a portrait to the dossier
    /// until the contract is signed (they are evidence, not a routing condition).
    pub fn accepts_documents(self, status: Status) -> bool {
        match self {
            Source::Counter => matches!(
                status,
                Status::AwaitingDocuments | Status::AwaitingVideoCall | Status::Verified
            ),
            Source::Vneid | Source::AppEkyc => status == Status::AwaitingDocuments,
        }
    }

    /// What `verified_by` records when routing verifies the application without a call.
    pub fn verified_by(self) -> &'static str {
        match self {
            Source::Vneid => "vneid_level2",
            Source::AppEkyc => "app_ekyc_documents",
            Source::Counter => "counter_operator",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_dossiers_take_documents_until_the_contract_app_ones_only_before_routing() {
        for status in Status::ALL {
            let before_contract = matches!(
                status,
                Status::AwaitingDocuments | Status::AwaitingVideoCall | Status::Verified
            );
            assert_eq!(Source::Counter.accepts_documents(status), before_contract);
            let awaiting = status == Status::AwaitingDocuments;
            assert_eq!(Source::AppEkyc.accepts_documents(status), awaiting);
            assert_eq!(Source::Vneid.accepts_documents(status), awaiting);
        }
    }

    #[test]
    fn app_applications_reach_the_queue_only_from_awaiting_documents() {
        assert_eq!(
            Status::AwaitingDocuments.apply(Event::Routed {
                to_video_call: true
            }),
            Ok(Status::AwaitingVideoCall)
        );
        assert!(Status::Verified
            .apply(Event::Routed {
                to_video_call: true
            })
            .is_err());
    }

    #[test]
    fn video_call_outcomes_move_only_a_queued_enrolment() {
        let q = Status::AwaitingVideoCall;
        assert_eq!(q.apply(Event::VideoCallApproved), Ok(Status::Verified));
        assert_eq!(q.apply(Event::VideoCallRejected), Ok(Status::Rejected));
        assert_eq!(q.apply(Event::NoShowLimitReached), Ok(Status::Expired));
        assert!(Status::Withdrawn.apply(Event::VideoCallApproved).is_err());
    }

    #[test]
    fn withdrawal_is_possible_until_issuance_and_refused_after() {
        for s in [
            Status::AwaitingDocuments,
            Status::AwaitingVideoCall,
            Status::Verified,
            Status::ContractSigned,
        ] {
            assert_eq!(s.apply(Event::Withdrawn), Ok(Status::Withdrawn), "{s}");
        }
        assert_eq!(
            Status::CertificateIssued.apply(Event::Withdrawn),
            Err(TransitionError::CertificateIssued)
        );
        assert!(Status::Rejected.apply(Event::Withdrawn).is_err());
    }

    #[test]
    fn only_a_verified_enrolment_signs_and_only_a_signed_one_goes_to_issuance() {
        assert_eq!(
            Status::Verified.apply(Event::ContractSigned),
            Ok(Status::ContractSigned)
        );
        assert!(Status::AwaitingVideoCall
            .apply(Event::ContractSigned)
            .is_err());
        assert!(Status::ContractSigned.apply(Event::ContractSigned).is_err());
        assert_eq!(
            Status::ContractSigned.apply(Event::IssuanceStarted),
            Ok(Status::CertificateIssued)
        );
        assert!(Status::Verified.apply(Event::IssuanceStarted).is_err());
        assert!(Status::CertificateIssued
            .apply(Event::IssuanceStarted)
            .is_err());
        assert_eq!(
            Status::CertificateIssued.apply(Event::IssuanceAbandoned),
            Ok(Status::ContractSigned)
        );
    }

    #[test]
    fn an_issued_certificate_is_to_be_accepted_next() {
        assert_eq!(
            Status::CertificateIssued.next_step(),
            NextStep::AcceptCertificate
        );
        assert_eq!(NextStep::AcceptCertificate.as_str(), "accept_certificate");
        assert!(NextStep::AcceptCertificate
            .describe()
            .vi
            .contains("nghiệm thu"));
    }

    #[test]
    fn an_interrupted_issuance_is_not_shown_as_issued_and_says_to_retry() {
        let issued = Status::CertificateIssued;
        assert_eq!(issued.shown(Issuance::Interrupted), "issuance_interrupted");
        assert_eq!(
            issued.next_step_given(Issuance::Interrupted),
            NextStep::RetryIssuanceLater
        );
        assert_eq!(issued.shown(Issuance::Signing), "certificate_issued");
        assert_eq!(
            issued.next_step_given(Issuance::Signing),
            NextStep::AwaitCertificate
        );
        assert_eq!(
            issued.next_step_given(Issuance::AwaitingAcceptance),
            NextStep::AcceptCertificate
        );
        assert_eq!(issued.next_step_given(Issuance::None), NextStep::None);
        assert_eq!(
            issued.shown(Issuance::RekeyInterrupted),
            "certificate_issued"
        );
        assert_eq!(
            issued.next_step_given(Issuance::RekeyInterrupted),
            NextStep::RetryIssuanceLater
        );
        let reopened = Status::ContractSigned;
        assert_eq!(reopened.shown(Issuance::Cancelled), "contract_signed");
        assert_eq!(
            reopened.next_step_given(Issuance::Cancelled),
            NextStep::RetryIssuance
        );
        assert_eq!(
            reopened.next_step_given(Issuance::None),
            NextStep::AwaitCertificate
        );
    }

    #[test]
    fn open_states_are_the_ones_the_unique_index_names() {
        let open: Vec<_> = Status::ALL.into_iter().filter(|s| s.is_open()).collect();
        assert_eq!(open, Status::OPEN);
        for m in ["sqlite", "postgres"] {
            let sql = std::fs::read_to_string(format!(
                "{}/migrations/{m}/2026-11-23-000002_enrolment/up.sql",
                env!("CARGO_MANIFEST_DIR")
            ))
            .unwrap();
            let index = sql.split("enrolments_one_open").nth(1).unwrap();
            let index = &index[..index.find(';').unwrap()];
            for s in Status::ALL {
                assert_eq!(index.contains(&format!("'{s}'")), s.is_open(), "{m}: {s}");
            }
        }
    }
}
