//! What the applicant is told of their place in the video-call queue. The stored status of a
//! queue entry is `states::VideoCallStatus`.

use chrono::Duration;

pub use crate::states::video_call::VideoCallStatus;

/// Where an applicant stands, as they are told.
pub enum CallState {
    Waiting {
        /// 1 for the head of the queue.
        position: i64,
        estimated_wait: Duration,
    },
    InCall {
        room_ref: String,
    },
    Done,
}

impl CallState {
    /// The API's name of the state.
    pub fn as_str(&self) -> &'static str {
        match self {
            CallState::Waiting { .. } => "waiting",
            CallState::InCall { .. } => "in_call",
            CallState::Done => "done",
        }
    }
}
