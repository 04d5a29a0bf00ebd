//! Domain enums stored as their text (`as_str`/`parse`), for both dialects.
//!
//! In the spirit of crates.io's `pg_enum!`, but on `Text` columns (SQLite has no enum types,
//! and a CHECK constraint keeps the values honest on both dialects). The impls live here, not
//! beside the enums, so that only `store/` knows diesel. A value the enum cannot parse fails
//! the row's load with a deserialisation error naming it.

use diesel::backend::Backend;
use diesel::deserialize::{self, FromSql, Queryable};
use diesel::expression::AsExpression;
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types::Text;

/// `ToSql`/`FromSql`/`Queryable`/`AsExpression` on `Text` for types with
/// `as_str(self) -> &'static str` and `parse(&str) -> Option<Self>`.
macro_rules! text_enum {
    ($($t:ty),* $(,)?) => {$(
        impl<DB: Backend> ToSql<Text, DB> for $t
        where
            str: ToSql<Text, DB>,
        {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, DB>) -> serialize::Result {
                <str as ToSql<Text, DB>>::to_sql(self.as_str(), out)
            }
        }

        impl<DB: Backend> FromSql<Text, DB> for $t
        where
            String: FromSql<Text, DB>,
        {
            fn from_sql(bytes: DB::RawValue<'_>) -> deserialize::Result<Self> {
                let s = <String as FromSql<Text, DB>>::from_sql(bytes)?;
                <$t>::parse(&s)
                    .ok_or_else(|| format!("unknown {} `{s}`", stringify!($t)).into())
            }
        }

        // What `#[derive(FromSqlRow)]` would write: lets row structs hold the enum.
        impl<DB: Backend> Queryable<Text, DB> for $t
        where
            Self: FromSql<Text, DB>,
        {
            type Row = Self;

            fn build(row: Self) -> deserialize::Result<Self> {
                Ok(row)
            }
        }

        // Bound as the `&'static str` it is: public diesel API only (the derive would use a
        // hidden type), and the bind is the same text `ToSql` writes.
        impl AsExpression<Text> for $t {
            type Expression = <&'static str as AsExpression<Text>>::Expression;

            fn as_expression(self) -> Self::Expression {
                <&'static str as AsExpression<Text>>::as_expression(self.as_str())
            }
        }

        impl AsExpression<Text> for &$t {
            type Expression = <&'static str as AsExpression<Text>>::Expression;

            fn as_expression(self) -> Self::Expression {
                <&'static str as AsExpression<Text>>::as_expression(self.as_str())
            }
        }
    )*};
}

text_enum!(
    crate::states::certificate::CertificateStatus,
    crate::states::video_call::VideoCallStatus,
    crate::states::enrolment::Status,
    crate::states::contract::ContractStatus,
);

#[cfg(test)]
mod tests {
    use diesel::dsl::sql;
    use diesel::prelude::*;
    use diesel::sqlite::SqliteConnection;

    use super::*;
    use crate::states::certificate::{CertificateStatus, Move};
    use crate::states::video_call::VideoCallStatus;

    fn conn() -> SqliteConnection {
        SqliteConnection::establish(":memory:").unwrap()
    }

    #[test]
    fn values_round_trip_as_their_text() {
        let c = &mut conn();
        for s in CertificateStatus::ALL {
            let text: String = diesel::select(s.as_expression()).get_result(c).unwrap();
            assert_eq!(text, s.as_str());
            let back: CertificateStatus = diesel::select(sql::<Text>(&format!("'{s}'")))
                .get_result(c)
                .unwrap();
            assert_eq!(back, s);
        }
        let back: VideoCallStatus = diesel::select(sql::<Text>("'claimed'"))
            .get_result(c)
            .unwrap();
        assert_eq!(back, VideoCallStatus::Claimed);
        // A list filter binds each value through `ToSql`.
        let suspended_expires: bool =
            diesel::select(sql::<Text>("'suspended'").eq_any(Move::Expire.from()))
                .get_result(c)
                .unwrap();
        assert!(suspended_expires);
    }

    #[test]
    fn an_unknown_stored_value_fails_the_load_and_names_it() {
        let err = diesel::select(sql::<Text>("'on_hold'"))
            .get_result::<CertificateStatus>(&mut conn())
            .unwrap_err();
        assert!(err.to_string().contains("on_hold"), "{err}");
    }
}
