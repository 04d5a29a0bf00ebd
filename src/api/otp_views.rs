//! The one "code sent" answer of every step confirmed with an SMS code: contract signing,
//! certificate acceptance and a subscriber's lifecycle request.
//!
//! Decision: `201 Created`, because the send creates a challenge that the confirming call
//! names by `challenge_id`. Lifecycle requests answered `202 Accepted` before the three were
//! unified; integrations may test for it, so they keep it ([`ChallengeAccepted`]) with the same
//! body (which gained `channel`).

use chrono::{DateTime, Utc};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object};

use crate::otp::ChallengeSent;

/// A confirmation code was sent.
#[derive(Object)]
pub(super) struct ChallengeSentView {
    /// Pass it back with the code (optional where the latest code for the subject is assumed).
    challenge_id: String,
    /// `sms`.
    channel: String,
    /// e.g. `+84 91* *** 678`.
    masked_destination: String,
    expires_at: DateTime<Utc>,
    /// The app's resend countdown.
    resend_after_seconds: i64,
}

impl From<ChallengeSent> for ChallengeSentView {
    fn from(c: ChallengeSent) -> Self {
        Self {
            challenge_id: c.challenge_id,
            // Every challenge goes to the enrolment's phone today.
            channel: "sms".into(),
            masked_destination: c.masked_destination,
            expires_at: c.expires_at,
            resend_after_seconds: c.resend_after_seconds,
        }
    }
}

/// The answer to a code send.
#[derive(ApiResponse)]
pub(super) enum ChallengeCreated {
    #[oai(status = 201)]
    Sent(Json<ChallengeSentView>),
}

impl From<ChallengeSent> for ChallengeCreated {
    fn from(c: ChallengeSent) -> Self {
        Self::Sent(Json(c.into()))
    }
}

/// The lifecycle request's answer: the same body with the status code it always had.
#[derive(ApiResponse)]
pub(super) enum ChallengeAccepted {
    #[oai(status = 202)]
    Sent(Json<ChallengeSentView>),
}

impl From<ChallengeSent> for ChallengeAccepted {
    fn from(c: ChallengeSent) -> Self {
        Self::Sent(Json(c.into()))
    }
}
