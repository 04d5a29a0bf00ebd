//! A video call's place in the queue: what the `video_calls.status` column stores, and what
//! the applicant is told.
//!
//! ```text
//! waiting ──claim──▶ claimed ──outcome──▶ done
//!    ▲                  │ no-show (back of the queue)
//!    └──────────────────┘            withdrawal: waiting or claimed ──▶ done
//! ```
//! A `claimed` entry whose lease lapsed counts as waiting again at its place; no job rewrites
//! it. The CHECK constraint on `video_calls.status`
//! (`migrations/*/2026-11-23-000002_enrolment/up.sql`) repeats these strings.

/// The stored status of a queue entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VideoCallStatus {
    Waiting,
    /// An operator took it under a lease (which may have lapsed).
    Claimed,
    /// Closed: an outcome was recorded or the enrolment was withdrawn.
    Done,
}

impl VideoCallStatus {
    pub const ALL: [VideoCallStatus; 3] = [
        VideoCallStatus::Waiting,
        VideoCallStatus::Claimed,
        VideoCallStatus::Done,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            VideoCallStatus::Waiting => "waiting",
            VideoCallStatus::Claimed => "claimed",
            VideoCallStatus::Done => "done",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        VideoCallStatus::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_round_trip_and_match_the_migrations() {
        for s in VideoCallStatus::ALL {
            assert_eq!(VideoCallStatus::parse(s.as_str()), Some(s));
        }
        for m in ["sqlite", "postgres"] {
            let sql = std::fs::read_to_string(format!(
                "{}/migrations/{m}/2026-11-23-000002_enrolment/up.sql",
                env!("CARGO_MANIFEST_DIR")
            ))
            .unwrap();
            let table = sql.split("CREATE TABLE video_calls").nth(1).unwrap();
            let check = table.split("status IN").nth(1).unwrap();
            let check = &check[..check.find(')').unwrap()];
            assert_eq!(
                check.matches('\'').count() / 2,
                VideoCallStatus::ALL.len(),
                "{m}"
            );
            for s in VideoCallStatus::ALL {
                assert!(check.contains(&format!("'{}'", s.as_str())), "{m}: {s:?}");
            }
        }
    }
}
