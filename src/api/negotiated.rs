//! One status, several media types: poem-openapi writes each variant of an `ApiResponse` enum as
//! its own entry, so two variants with status 200 (JSON by default, CSV or DER on request)
//! become two `"200"` keys in the document and readers keep only the last. [`Negotiated`]
//! merges the entries that share a status into one, listing every media type.

use std::collections::HashSet;
use std::sync::{Mutex, OnceLock, PoisonError};

use poem::{IntoResponse, Response};
use poem_openapi::registry::{MetaResponse, MetaResponses, Registry};
use poem_openapi::ApiResponse;

/// An `ApiResponse` whose variants may share a status: answers as `T`, documented as one
/// response per status.
pub(super) struct Negotiated<T>(pub T);

impl<T: IntoResponse> IntoResponse for Negotiated<T> {
    fn into_response(self) -> Response {
        self.0.into_response()
    }
}

impl<T: ApiResponse> ApiResponse for Negotiated<T> {
    const BAD_REQUEST_HANDLER: bool = T::BAD_REQUEST_HANDLER;

    fn meta() -> MetaResponses {
        merge(T::meta())
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }

    fn from_parse_request_error(err: poem::Error) -> Self {
        Negotiated(T::from_parse_request_error(err))
    }
}

/// One entry per status: the media types and headers of entries sharing a status joined.
fn merge(meta: MetaResponses) -> MetaResponses {
    let mut merged: Vec<MetaResponse> = Vec::new();
    for response in meta.responses {
        let same = merged
            .iter_mut()
            .find(|m| (m.status, &m.status_range) == (response.status, &response.status_range));
        let Some(into) = same else {
            merged.push(response);
            continue;
        };
        into.description = interned(format!("{}\n\n{}", into.description, response.description));
        into.content.extend(response.content);
        // A header is required only if every media type's answer sends it.
        for header in &mut into.headers {
            header.required &= response.headers.iter().any(|h| h.name == header.name);
        }
        for mut header in response.headers {
            if !into.headers.iter().any(|h| h.name == header.name) {
                header.required = false;
                into.headers.push(header);
            }
        }
    }
    MetaResponses { responses: merged }
}

/// The document wants `&'static str` descriptions; the joined ones are few and fixed, so each
/// is leaked once and reused for every later build of the document.
fn interned(text: String) -> &'static str {
    static TEXTS: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let mut texts = TEXTS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if let Some(known) = texts.get(text.as_str()) {
        return known;
    }
    let leaked: &'static str = Box::leak(text.into_boxed_str());
    texts.insert(leaked);
    leaked
}

#[cfg(test)]
mod tests {
    use poem_openapi::payload::{Json, PlainText};

    use super::*;

    // Only its document is read.
    #[allow(dead_code)]
    #[derive(ApiResponse)]
    enum Two {
        /// JSON.
        #[oai(status = 200)]
        Json(Json<String>),
        /// CSV.
        #[oai(status = 200, content_type = "text/csv")]
        Csv(
            PlainText<String>,
            #[oai(header = "Content-Disposition")] String,
        ),
    }

    #[test]
    fn entries_sharing_a_status_become_one_listing_every_media_type() {
        let meta = Negotiated::<Two>::meta();
        assert_eq!(meta.responses.len(), 1);
        let only = &meta.responses[0];
        let types: Vec<_> = only.content.iter().map(|c| c.content_type).collect();
        assert_eq!(types, ["application/json; charset=utf-8", "text/csv"]);
        assert_eq!(only.description, "JSON.\n\nCSV.");
        // Sent with CSV only, so not required of every 200.
        assert!(!only.headers[0].required);
    }
}
