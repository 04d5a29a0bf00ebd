//! Page parameters, read strictly: a `limit` outside its range or a cursor this service
//! could not have given answers 422 with a code, never a clamped or empty page, so a client
//! bug shows at once instead of as a silently short listing.

use poem::http::StatusCode;

use super::problem::ApiError;
use crate::problem::Problem;

/// `limit` if given, else `default`; 422 `limit_invalid` unless 1 to `max`.
pub fn limit(given: Option<i64>, default: i64, max: i64) -> Result<i64, ApiError> {
    match given {
        None => Ok(default),
        Some(n) if (1..=max).contains(&n) => Ok(n),
        Some(_) => Err(
            Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "limit_invalid")
                .arg("max", max)
                .into(),
        ),
    }
}

/// 422 `cursor_invalid`: not a `next_…` value a page of this listing returned.
pub fn cursor_invalid() -> ApiError {
    Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "cursor_invalid").into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_limit_is_its_default_or_within_its_range() {
        assert_eq!(limit(None, 50, 200).ok(), Some(50));
        assert_eq!(limit(Some(1), 50, 200).ok(), Some(1));
        assert_eq!(limit(Some(200), 50, 200).ok(), Some(200));
        for bad in [0, -1, 201, i64::MIN, i64::MAX] {
            assert!(limit(Some(bad), 50, 200).is_err(), "{bad}");
        }
    }
}
