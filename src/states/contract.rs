//! A contract's status: `draft` until signed (or `superseded` by a newer draft of the same
//! enrolment), then `signed`, which never changes. These strings are the `contracts.status`
//! values.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContractStatus {
    Draft,
    Superseded,
    Signed,
}

impl ContractStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ContractStatus::Draft => "draft",
            ContractStatus::Superseded => "superseded",
            ContractStatus::Signed => "signed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            ContractStatus::Draft,
            ContractStatus::Superseded,
            ContractStatus::Signed,
        ]
        .into_iter()
        .find(|x| x.as_str() == s)
    }
}
