//! Six-digit codes from the OS CSPRNG.

/// The largest multiple of 10^6 that fits in a u32: draws at or above it are rejected, so
/// every code is equally likely (plain `% 1_000_000` would favour the low ones).
const LIMIT: u32 = (u32::MAX / 1_000_000) * 1_000_000;

pub(super) fn generate() -> String {
    loop {
        let n = u32::from_be_bytes(crate::secrets::random_bytes::<4>());
        if n < LIMIT {
            return format!("{:06}", n % 1_000_000);
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn codes_are_six_digits_and_vary() {
        let codes: Vec<String> = (0..50).map(|_| super::generate()).collect();
        assert!(codes
            .iter()
            .all(|c| c.len() == 6 && c.bytes().all(|b| b.is_ascii_digit())));
        let distinct: std::collections::HashSet<_> = codes.iter().collect();
        assert!(distinct.len() > 40, "{codes:?}");
    }
}
