use std::fmt;

use super::CaError;

/// A certificate serial number: positive, 1 to 20 octets, minimal encoding
/// (RFC 5280 4.1.2.2).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Serial(Vec<u8>);

impl Serial {
    /// 16 octets from OpenSSL's CSPRNG with the top bit cleared (positive) and
    /// the next bit set (no leading zero octet, so always exactly 16 octets):
    /// 126 random bits, well above the 64 the profile requires.
    pub fn random() -> Result<Serial, CaError> {
        let mut b = vec![0u8; 16];
        openssl::rand::rand_bytes(&mut b)
            .map_err(|e| CaError::Unexpected(format!("CSPRNG failed: {e}")))?;
        b[0] = (b[0] & 0x7F) | 0x40;
        Ok(Serial(b))
    }

    /// Parses lowercase or uppercase hex, as produced by [`Serial::hex`].
    pub fn from_hex(s: &str) -> Result<Serial, CaError> {
        let b = hex::decode(s).map_err(|e| CaError::Unexpected(format!("serial hex: {e}")))?;
        // Kept as decoded: a CRL parses a million of these.
        Serial::checked(b)
    }

    /// Accepts the content octets of a DER INTEGER that is a valid serial.
    pub fn from_bytes(b: &[u8]) -> Result<Serial, CaError> {
        Serial::checked(b.to_vec())
    }

    fn checked(b: Vec<u8>) -> Result<Serial, CaError> {
        let ok = !b.is_empty()
            && b.len() <= 20
            && b[0] & 0x80 == 0
            && !(b.len() > 1 && b[0] == 0 && b[1] & 0x80 == 0)
            && b.iter().any(|x| *x != 0);
        if ok {
            Ok(Serial(b))
        } else {
            Err(CaError::Unexpected(format!(
                "not a valid serial number: {}",
                hex::encode(b)
            )))
        }
    }

    /// The DER INTEGER content octets.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Lowercase hex of the content octets, the form stored and shown.
    pub fn hex(&self) -> String {
        hex::encode(&self.0)
    }
}

impl fmt::Display for Serial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.hex())
    }
}

impl fmt::Debug for Serial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Serial({})", self.hex())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_serials_are_16_octets_positive_without_leading_zero() {
        for _ in 0..1000 {
            let s = Serial::random().unwrap();
            assert_eq!(s.as_bytes().len(), 16);
            assert_eq!(s.as_bytes()[0] & 0xC0, 0x40);
        }
        assert_ne!(Serial::random().unwrap(), Serial::random().unwrap());
    }

    #[test]
    fn serial_hex_round_trips() {
        let s = Serial::random().unwrap();
        assert_eq!(Serial::from_hex(&s.hex()).unwrap(), s);
        assert_eq!(s.hex().len(), 32);
    }

    #[test]
    fn negative_zero_padded_zero_and_long_serials_are_refused() {
        for bad in ["80", "0001", "00", "", &"11".repeat(21)] {
            assert!(Serial::from_hex(bad).is_err(), "{bad}");
        }
        assert!(Serial::from_hex("0080").is_ok());
    }
}
