//! Who an operator is: the role that decides what they may do, and the username they sign in
//! with.

use super::OperatorsError;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Video-call verification.
    Operator,
    /// Approvals, issuance, revocation.
    RaOfficer,
    Admin,
    /// Read-only.
    Auditor,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Operator, Role::RaOfficer, Role::Admin, Role::Auditor];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Operator => "operator",
            Role::RaOfficer => "ra_officer",
            Role::Admin => "admin",
            Role::Auditor => "auditor",
        }
    }

    pub fn parse(s: &str) -> Result<Self, OperatorsError> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| OperatorsError::InvalidRole(s.to_string()))
    }
}

/// 3 to 32 characters: lower-case letters, digits, `.`, `_`, `-`, starting with a letter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    pub fn parse(s: &str) -> Result<Self, OperatorsError> {
        let ok = (3..=32).contains(&s.len())
            && s.starts_with(|c: char| c.is_ascii_lowercase())
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c));
        if ok {
            Ok(Self(s.to_string()))
        } else {
            Err(OperatorsError::InvalidUsername)
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_lower_case_and_bounded() {
        assert!(Username::parse("nguyen.van-a_1").is_ok());
        for bad in ["ab", "Admin", "1abc", "a b", "quá", &"a".repeat(33)] {
            assert!(Username::parse(bad).is_err(), "{bad}");
        }
    }
}
