//! What an operator records after a video call, parsed from the request.

use std::collections::BTreeMap;

use crate::enrolment::identity::{parse_sha256, BoundedText, FieldError, FieldErrors};

pub mod codes {
    pub const OUTCOME_INVALID: &str = "outcome_invalid";
    pub const CHECKLIST_ITEM_UNCHECKED: &str = "checklist_item_unchecked";
    pub const REASON_CODE_INVALID: &str = "reason_code_invalid";
    pub const NOTE_REQUIRED: &str = "note_required";
    pub const RECORDING_REQUIRED: &str = "recording_required";
    pub const RECORDING_URI_INVALID: &str = "recording_uri_invalid";
}

const NOTE_MAX: usize = 2000;
const URI_MAX: usize = 2048;

/// Every item must be confirmed to approve.
pub const CHECKLIST_ITEMS: [&str; 5] = [
    "face_matches_portrait_and_id_photo",
    "id_document_genuine_and_unexpired",
    "data_confirmed_with_applicant",
    "applicant_alive_and_present",
    "applicant_wants_certificate",
];

/// Why an application was rejected: a fixed list, so reports can count them.
pub const REJECT_REASONS: [&str; 8] = [
    "face_mismatch",
    "document_not_genuine",
    "document_expired",
    "data_mismatch",
    "not_alive_or_not_present",
    "applicant_declined",
    "suspected_coercion_or_fraud",
    "other",
];

pub struct RecordingForm {
    pub uri: String,
    pub sha256: String,
}

pub struct OutcomeForm {
    pub outcome: String,
    /// Checklist item name and whether the operator confirmed it.
    pub checklist: Vec<(String, bool)>,
    pub reason_code: Option<String>,
    pub note: Option<String>,
    pub recording: Option<RecordingForm>,
}

#[derive(Clone, Debug)]
pub struct Recording {
    pub uri: BoundedText,
    pub sha256: String,
}

impl Recording {
    /// The recording reference, from an outcome form or the video system's webhook.
    pub fn parse(form: &RecordingForm) -> Result<Recording, FieldErrors> {
        let mut e = FieldErrors::new();
        match Recording::parse_into(form, &mut e) {
            Some(r) if e.is_empty() => Ok(r),
            _ => Err(e),
        }
    }

    fn parse_into(r: &RecordingForm, e: &mut FieldErrors) -> Option<Recording> {
        let uri = e.take(
            BoundedText::parse("recording.uri", &r.uri, URI_MAX).and_then(|u| {
                if u.as_str().contains("://") && !u.as_str().contains(char::is_whitespace) {
                    Ok(u)
                } else {
                    Err(FieldError::new(
                        "recording.uri",
                        codes::RECORDING_URI_INVALID,
                    ))
                }
            }),
        );
        let sha256 = e.take(parse_sha256("recording.sha256", &r.sha256));
        Some(Recording {
            uri: uri?,
            sha256: sha256?,
        })
    }
}

#[derive(Clone, Debug)]
pub enum Outcome {
    /// Every checklist item confirmed.
    Approved { recording: Recording },
    Rejected {
        reason: &'static str,
        note: BoundedText,
        recording: Recording,
    },
    /// The applicant did not join; there may be a recording of the empty room.
    NoShow { recording: Option<Recording> },
}

/// An outcome with the checklist as the operator ticked it (stored with every outcome).
#[derive(Clone, Debug)]
pub struct Decision {
    pub outcome: Outcome,
    pub checklist: BTreeMap<&'static str, bool>,
}

impl Decision {
    pub fn parse(form: &OutcomeForm) -> Result<Decision, FieldErrors> {
        let checklist = CHECKLIST_ITEMS
            .iter()
            .map(|i| (*i, form.checklist.iter().any(|(k, v)| k == i && *v)))
            .collect();
        Ok(Decision {
            outcome: Outcome::parse(form)?,
            checklist,
        })
    }
}

impl Outcome {
    pub fn as_str(&self) -> &'static str {
        match self {
            Outcome::Approved { .. } => "approved",
            Outcome::Rejected { .. } => "rejected",
            Outcome::NoShow { .. } => "no_show",
        }
    }

    pub fn recording(&self) -> Option<&Recording> {
        match self {
            Outcome::Approved { recording } | Outcome::Rejected { recording, .. } => {
                Some(recording)
            }
            Outcome::NoShow { recording } => recording.as_ref(),
        }
    }

    fn parse(form: &OutcomeForm) -> Result<Outcome, FieldErrors> {
        let mut e = FieldErrors::new();
        let recording = form
            .recording
            .as_ref()
            .and_then(|r| Recording::parse_into(r, &mut e));
        let required_recording = |e: &mut FieldErrors| {
            if form.recording.is_none() {
                e.push(FieldError::new("recording", codes::RECORDING_REQUIRED));
            }
            recording.clone()
        };
        let outcome = match form.outcome.as_str() {
            "approved" => {
                for item in CHECKLIST_ITEMS {
                    let checked = form.checklist.iter().any(|(k, v)| k == item && *v);
                    if !checked {
                        e.push(FieldError::new(
                            format!("checklist.{item}"),
                            codes::CHECKLIST_ITEM_UNCHECKED,
                        ));
                    }
                }
                required_recording(&mut e).map(|recording| Outcome::Approved { recording })
            }
            "rejected" => {
                let reason = form.reason_code.as_deref().and_then(|r| {
                    e.take(
                        REJECT_REASONS
                            .into_iter()
                            .find(|x| *x == r)
                            .ok_or_else(reason_error),
                    )
                });
                if form.reason_code.is_none() {
                    e.push(reason_error());
                }
                let note = e.take(
                    BoundedText::parse("note", form.note.as_deref().unwrap_or(""), NOTE_MAX)
                        .map_err(|err| {
                            if form.note.as_deref().unwrap_or("").trim().is_empty() {
                                FieldError::new("note", codes::NOTE_REQUIRED)
                            } else {
                                err
                            }
                        }),
                );
                let recording = required_recording(&mut e);
                match (reason, note, recording) {
                    (Some(reason), Some(note), Some(recording)) => Some(Outcome::Rejected {
                        reason,
                        note,
                        recording,
                    }),
                    _ => None,
                }
            }
            "no_show" => Some(Outcome::NoShow { recording }),
            _ => {
                e.push(FieldError::new("outcome", codes::OUTCOME_INVALID));
                None
            }
        };
        match outcome {
            Some(o) if e.is_empty() => Ok(o),
            _ => Err(e),
        }
    }
}

fn reason_error() -> FieldError {
    FieldError::new("reason_code", codes::REASON_CODE_INVALID)
        .arg("reasons", REJECT_REASONS.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recording() -> Option<RecordingForm> {
        Some(RecordingForm {
            uri: "s3://calls/2026/abc.webm".into(),
            sha256: "a".repeat(64),
        })
    }

    fn form(outcome: &str) -> OutcomeForm {
        OutcomeForm {
            outcome: outcome.into(),
            checklist: vec![],
            reason_code: None,
            note: None,
            recording: recording(),
        }
    }

    fn fields(r: Result<Outcome, FieldErrors>) -> Vec<String> {
        r.err().unwrap().0.into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn approval_needs_every_checklist_item() {
        let mut f = form("approved");
        f.checklist = CHECKLIST_ITEMS
            .iter()
            .map(|i| (i.to_string(), true))
            .collect();
        assert!(matches!(Outcome::parse(&f), Ok(Outcome::Approved { .. })));
        f.checklist[2].1 = false;
        assert_eq!(
            fields(Outcome::parse(&f)),
            ["checklist.data_confirmed_with_applicant"]
        );
        f.recording = None;
        assert_eq!(fields(Outcome::parse(&f)).len(), 2);
    }

    #[test]
    fn rejection_needs_a_listed_reason_and_a_note() {
        let mut f = form("rejected");
        assert_eq!(fields(Outcome::parse(&f)), ["reason_code", "note"]);
        f.reason_code = Some("looked_shifty".into());
        f.note = Some("  ".into());
        assert_eq!(fields(Outcome::parse(&f)), ["reason_code", "note"]);
        f.reason_code = Some("face_mismatch".into());
        f.note = Some("Khuôn mặt không khớp ảnh thẻ".into());
        assert!(matches!(Outcome::parse(&f), Ok(Outcome::Rejected { .. })));
    }

    #[test]
    fn no_show_needs_no_recording_but_checks_one_given() {
        let mut f = form("no_show");
        f.recording = None;
        assert!(matches!(
            Outcome::parse(&f),
            Ok(Outcome::NoShow { recording: None })
        ));
        f.recording = Some(RecordingForm {
            uri: "not a uri".into(),
            sha256: "xyz".into(),
        });
        assert_eq!(
            fields(Outcome::parse(&f)),
            ["recording.uri", "recording.sha256"]
        );
        assert_eq!(fields(Outcome::parse(&form("maybe"))), ["outcome"]);
    }
}
