use std::fmt;

use super::CaError;

/// A certificate serial number: positive, 1 to 20 octets, minimal encoding
/// (RFC 5280 4.1.2.2).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Serial(Vec<u8>);

impl Serial {
    /// A new serial of 16 octets: the top bit cleared (positive) and the next one set (no
    /// leading zero octet, so always exactly 16 octets), then 46 bits of the milliseconds since
    /// the Unix epoch, then 80 bits from OpenSSL's CSPRNG (the profile requires 64 random bits).
    ///
    /// The time comes first so that serials issued together sort together: the serial's
    /// index and every index keyed by it (the certificate's audit events) grow at their end
    /// instead of taking a write on a random page of a large index for every certificate,
    /// which is most of what a commit of a batch of issuances writes. Only locality depends
    /// on the time: a clock stepping back changes nothing else, and uniqueness rests on the
    /// 80 random bits and the serial's unique index.
    pub fn generate() -> Result<Serial, CaError> {
        let millis = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        Ok(Self::at(millis, &Self::random_bits()?))
    }

    fn random_bits() -> Result<[u8; 10], CaError> {
        let mut b = [0u8; 10];
        openssl::rand::rand_bytes(&mut b)
            .map_err(|e| CaError::Unexpected(format!("CSPRNG failed: {e}")))?;
        Ok(b)
    }

    /// The serial of [`Serial::generate`] for `millis` and `random`.
    fn at(millis: u64, random: &[u8; 10]) -> Serial {
        let t = (millis & ((1 << 46) - 1)) | (1 << 46);
        let mut b = t.to_be_bytes()[2..].to_vec();
        b.extend_from_slice(random);
        Serial(b)
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
    fn new_serials_are_16_octets_positive_without_leading_zero() {
        for _ in 0..1000 {
            let s = Serial::generate().unwrap();
            assert_eq!(s.as_bytes().len(), 16);
            assert_eq!(s.as_bytes()[0] & 0xC0, 0x40);
            assert!(Serial::from_bytes(s.as_bytes()).is_ok());
        }
        assert_ne!(Serial::generate().unwrap(), Serial::generate().unwrap());
    }

    #[test]
    fn serials_sort_by_issuance_time_and_end_in_80_random_bits() {
        let random = [0xAB; 10];
        let earlier = Serial::at(1_780_000_000_000, &[0xFF; 10]);
        let later = Serial::at(1_780_000_000_001, &[0x00; 10]);
        assert!(earlier.hex() < later.hex(), "hex order is index order");
        let s = Serial::at(1_780_000_000_000, &random);
        assert_eq!(&s.as_bytes()[6..], &random);
        // The time's top bits never reach the sign bit, even past the 46 bits' range.
        assert_eq!(Serial::at(u64::MAX, &random).as_bytes()[0] & 0xC0, 0x40);
        let millis = || {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis() as u64
        };
        let before = millis();
        let s = Serial::generate().unwrap();
        let after = millis();
        assert!(Serial::at(before, &[0x00; 10]).hex() <= s.hex());
        assert!(s.hex() <= Serial::at(after, &[0xFF; 10]).hex());
    }

    #[test]
    fn serial_hex_round_trips() {
        let s = Serial::generate().unwrap();
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
