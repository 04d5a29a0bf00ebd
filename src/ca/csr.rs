//! PKCS#10 checks: parse, proof of possession, key and algorithm policy.
//!
//! The subject and requested extensions are ignored: the certificate content
//! comes from verified enrolment data, never from the CSR.

use std::borrow::Cow;
use std::fmt;
use std::sync::OnceLock;

use const_oid::db::rfc5912;
use const_oid::ObjectIdentifier;
use der::asn1::{AnyRef, UintRef};
use der::{Decode, Sequence, Tagged};
use openssl::bn::{BigNum, BigNumContext};
use openssl::ec::{EcGroup, EcKey, EcPoint};
use openssl::ecdsa::EcdsaSig;
use openssl::nid::Nid;
use openssl::pkey::Public;
use openssl::rsa::{Padding, Rsa};
use spki::{AlgorithmIdentifierRef, SubjectPublicKeyInfoRef};

use super::asn1::{self, oid};
use super::pem::pem_to_der;
use super::CaError;

const RSA_MIN_BITS: usize = 2048;
const RSA_MAX_BITS: usize = 8192;
const RSA_EXPONENT: &[u8] = &[0x01, 0x00, 0x01];

/// The subscriber key, as shown to operators and stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyDescription {
    Rsa { bits: usize },
    EcP256,
    EcP384,
}

impl fmt::Display for KeyDescription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyDescription::Rsa { bits } => write!(f, "RSA {bits}"),
            KeyDescription::EcP256 => f.write_str("ECDSA P-256"),
            KeyDescription::EcP384 => f.write_str("ECDSA P-384"),
        }
    }
}

/// A CSR whose signature verified and whose key meets the policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckedCsr {
    /// Canonical SubjectPublicKeyInfo DER, re-encoded from the key itself so
    /// that two encodings of one key give the same bytes (and the same hash).
    pub spki_der: Vec<u8>,
    /// SHA-256 of `spki_der`, for the key-uniqueness check (Decree 23 art. 38).
    pub spki_sha256: [u8; 32],
    pub key: KeyDescription,
}

/// CertificationRequestInfo, decoded only as far as the checks need.
#[derive(Sequence)]
struct RequestInfo<'a> {
    version: u8,
    subject: AnyRef<'a>,
    public_key: SubjectPublicKeyInfoRef<'a>,
    attributes: AnyRef<'a>,
}

#[derive(Sequence)]
struct RsaPublicKey<'a> {
    modulus: UintRef<'a>,
    public_exponent: UintRef<'a>,
}

enum PublicKey<'a> {
    Rsa {
        n: &'a [u8],
        bits: usize,
    },
    Ec {
        key: EcKey<Public>,
        desc: KeyDescription,
    },
}

#[derive(Clone, Copy)]
enum Hash {
    Sha256,
    Sha384,
    Sha512,
}

/// Checks a PKCS#10 request given as PEM or DER. See the module docs.
pub fn check_csr(input: &[u8], max_bytes: usize) -> Result<CheckedCsr, CaError> {
    if input.len() > max_bytes {
        return Err(CaError::CsrTooLarge { max: max_bytes });
    }
    let der = decode_container(input)?;
    let malformed = |what: &str| CaError::CsrMalformed(what.to_string());
    let parts = asn1::split_signed(&der).ok_or_else(|| malformed("not a signed SEQUENCE"))?;
    let info = RequestInfo::from_der(parts.tbs)
        .map_err(|e| CaError::CsrMalformed(format!("CertificationRequestInfo: {e}")))?;
    if info.version != 0 {
        return Err(malformed("version must be v1 (0)"));
    }
    // The subject is ignored but must at least be a Name (a SEQUENCE).
    if info.subject.tag() != der::Tag::Sequence {
        return Err(malformed("subject is not a Name"));
    }
    let algorithm = AlgorithmIdentifierRef::from_der(parts.algorithm)
        .map_err(|e| CaError::CsrMalformed(format!("signature algorithm: {e}")))?;
    let signature = match parts.signature.split_first() {
        Some((0, sig)) => sig,
        _ => return Err(malformed("signature BIT STRING has unused bits")),
    };

    let (key, spki_der) = check_key(&info.public_key)?;
    let hash = check_algorithm(&algorithm, &key)?;
    verify(&key, hash, parts.tbs, signature)?;

    let desc = match key {
        PublicKey::Rsa { bits, .. } => KeyDescription::Rsa { bits },
        PublicKey::Ec { desc, .. } => desc,
    };
    let spki_sha256 = crate::ca::sha256(&spki_der);
    Ok(CheckedCsr {
        spki_der,
        spki_sha256,
        key: desc,
    })
}

fn decode_container(input: &[u8]) -> Result<Cow<'_, [u8]>, CaError> {
    let starts_pem = input
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| *b == b'-');
    if !starts_pem {
        return Ok(Cow::Borrowed(input));
    }
    pem_to_der(input, "CERTIFICATE REQUEST")
        .or_else(|| pem_to_der(input, "NEW CERTIFICATE REQUEST"))
        .map(Cow::Owned)
        .ok_or_else(|| CaError::CsrMalformed("no CERTIFICATE REQUEST PEM block".into()))
}

/// Applies the key policy and returns the key with its canonical SPKI.
fn check_key<'a>(spki: &SubjectPublicKeyInfoRef<'a>) -> Result<(PublicKey<'a>, Vec<u8>), CaError> {
    let key_bits = spki
        .subject_public_key
        .as_bytes()
        .ok_or_else(|| CaError::CsrMalformed("public key BIT STRING has unused bits".into()))?;
    let alg = &spki.algorithm;
    if alg.oid == rfc5912::RSA_ENCRYPTION {
        // RFC 3279 says NULL; absent parameters are tolerated because the
        // certificate gets a re-encoded SPKI anyway.
        if alg.parameters.is_some_and(|p| !p.is_null()) {
            return Err(CaError::CsrMalformed(
                "RSA key parameters must be NULL".into(),
            ));
        }
        let rsa = RsaPublicKey::from_der(key_bits)
            .map_err(|e| CaError::CsrMalformed(format!("RSAPublicKey: {e}")))?;
        let n = rsa.modulus.as_bytes();
        let bits = n.first().map_or(0, |top| {
            (n.len() - 1) * 8 + (8 - top.leading_zeros() as usize)
        });
        if bits < RSA_MIN_BITS {
            return Err(CaError::CsrKeyTooSmall { bits });
        }
        if bits > RSA_MAX_BITS {
            return Err(CaError::CsrKeyUnsupported(format!(
                "RSA {bits} (at most {RSA_MAX_BITS} bits)"
            )));
        }
        if rsa.public_exponent.as_bytes() != RSA_EXPONENT {
            return Err(CaError::CsrRsaExponent);
        }
        let mut spki_der = Vec::with_capacity(n.len() + 40);
        asn1::sequence(&mut spki_der, |o| {
            asn1::sequence(o, |o| {
                asn1::oid(o, &rfc5912::RSA_ENCRYPTION);
                asn1::bytes(o, asn1::TAG_NULL, &[]);
            });
            asn1::tlv(o, asn1::TAG_BIT_STRING, |o| {
                o.push(0);
                asn1::sequence(o, |o| {
                    asn1::unsigned_integer(o, n);
                    asn1::unsigned_integer(o, RSA_EXPONENT);
                });
            });
        });
        Ok((PublicKey::Rsa { n, bits }, spki_der))
    } else if alg.oid == rfc5912::ID_EC_PUBLIC_KEY {
        let curve: ObjectIdentifier = alg
            .parameters
            .ok_or_else(|| CaError::CsrKeyUnsupported("EC key without a named curve".into()))?
            .decode_as()
            .map_err(|_| CaError::CsrKeyUnsupported("EC key without a named curve".into()))?;
        let (nid, desc, coord_len) = if curve == rfc5912::SECP_256_R_1 {
            (Nid::X9_62_PRIME256V1, KeyDescription::EcP256, 32)
        } else if curve == rfc5912::SECP_384_R_1 {
            (Nid::SECP384R1, KeyDescription::EcP384, 48)
        } else {
            return Err(CaError::CsrKeyUnsupported(format!("EC curve {curve}")));
        };
        if key_bits.first() != Some(&0x04) {
            return Err(CaError::CsrKeyUnsupported(
                "EC point must be uncompressed".into(),
            ));
        }
        if key_bits.len() != 1 + 2 * coord_len {
            return Err(CaError::CsrMalformed(
                "EC point has the wrong length".into(),
            ));
        }
        let group = ec_group(nid)?;
        // Point validation: on the curve and not infinity. P-256 and P-384 have
        // cofactor 1, so no subgroup check is needed.
        let mut ctx = BigNumContext::new()?;
        let key = EcPoint::from_bytes(group, key_bits, &mut ctx)
            .ok()
            .filter(|p| p.is_on_curve(group, &mut ctx).unwrap_or(false))
            .and_then(|p| EcKey::from_public_key(group, &p).ok())
            .ok_or_else(|| CaError::CsrKeyUnsupported("EC point is not on the curve".into()))?;
        let mut spki_der = Vec::with_capacity(key_bits.len() + 30);
        asn1::sequence(&mut spki_der, |o| {
            asn1::sequence(o, |o| {
                asn1::oid(o, &rfc5912::ID_EC_PUBLIC_KEY);
                asn1::oid(o, &curve);
            });
            asn1::bit_string(o, key_bits);
        });
        Ok((PublicKey::Ec { key, desc }, spki_der))
    } else {
        Err(CaError::CsrKeyUnsupported(format!(
            "key algorithm {}",
            alg.oid
        )))
    }
}

/// SHA-2 signature algorithms that fit the key. SHA-1 and MD5 get their own
/// message because they are the ones old tools still produce.
fn check_algorithm(alg: &AlgorithmIdentifierRef<'_>, key: &PublicKey<'_>) -> Result<Hash, CaError> {
    let refused = |m: String| Err(CaError::CsrSignatureAlgorithm(m));
    let o = alg.oid;
    if o == rfc5912::SHA_1_WITH_RSA_ENCRYPTION || o == oid::ECDSA_WITH_SHA1 {
        return refused("SHA-1 signatures are not accepted; use SHA-256".into());
    }
    if o == rfc5912::MD_5_WITH_RSA_ENCRYPTION {
        return refused("MD5 signatures are not accepted; use SHA-256".into());
    }
    let (hash, for_rsa) = match o {
        _ if o == rfc5912::SHA_256_WITH_RSA_ENCRYPTION => (Hash::Sha256, true),
        _ if o == rfc5912::SHA_384_WITH_RSA_ENCRYPTION => (Hash::Sha384, true),
        _ if o == rfc5912::SHA_512_WITH_RSA_ENCRYPTION => (Hash::Sha512, true),
        _ if o == rfc5912::ECDSA_WITH_SHA_256 => (Hash::Sha256, false),
        _ if o == rfc5912::ECDSA_WITH_SHA_384 => (Hash::Sha384, false),
        _ if o == rfc5912::ECDSA_WITH_SHA_512 => (Hash::Sha512, false),
        _ => {
            return refused(format!(
                "{o} (accepted: SHA-2 with RSA PKCS#1 v1.5 or ECDSA)"
            ))
        }
    };
    let params_ok = match alg.parameters {
        None => true,
        Some(p) => for_rsa && p.is_null(),
    };
    if !params_ok {
        return refused(format!("{o} with unexpected parameters"));
    }
    match (key, for_rsa) {
        (PublicKey::Rsa { .. }, true) | (PublicKey::Ec { .. }, false) => Ok(hash),
        _ => refused(format!("{o} does not fit the key type")),
    }
}

impl Hash {
    fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            Hash::Sha256 => crate::ca::sha256(data).to_vec(),
            Hash::Sha384 => openssl::sha::sha384(data).to_vec(),
            Hash::Sha512 => openssl::sha::sha512(data).to_vec(),
        }
    }

    /// The DER DigestInfo before the hash value (RFC 8017 9.2 note 1).
    fn digest_info_prefix(self) -> &'static [u8] {
        match self {
            Hash::Sha256 => &[
                0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                0x01, 0x05, 0x00, 0x04, 0x20,
            ],
            Hash::Sha384 => &[
                0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                0x02, 0x05, 0x00, 0x04, 0x30,
            ],
            Hash::Sha512 => &[
                0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                0x03, 0x05, 0x00, 0x04, 0x40,
            ],
        }
    }
}

/// Proof of possession on a key built from the already-parsed numbers, through OpenSSL's
/// low-level RSA and ECDSA calls with the digest computed here: the EVP path
/// (`EVP_DigestVerify`) fetched its algorithms on every call, which cost as much as the
/// P-256 verification itself. Checked as strictly as `EVP_DigestVerify` does: PKCS#1 v1.5
/// with a signature of exactly the modulus' length whose DigestInfo is the expected DER, and
/// an ECDSA-Sig-Value in DER (re-encoded and compared, as `ECDSA_verify` does). Any error
/// OpenSSL reports about the signature counts as a bad signature.
fn verify(key: &PublicKey<'_>, hash: Hash, tbs: &[u8], sig: &[u8]) -> Result<(), CaError> {
    let digest = hash.digest(tbs);
    let valid = match key {
        PublicKey::Rsa { n, .. } => {
            let rsa = Rsa::from_public_components(
                BigNum::from_slice(n)?,
                BigNum::from_slice(RSA_EXPONENT)?,
            )?;
            let size = rsa.size() as usize;
            let mut decrypted = vec![0u8; size];
            sig.len() == size
                && rsa
                    .public_decrypt(sig, &mut decrypted, Padding::PKCS1)
                    .is_ok_and(|len| {
                        decrypted[..len] == [hash.digest_info_prefix(), &digest].concat()
                    })
        }
        PublicKey::Ec { key, .. } => EcdsaSig::from_der(sig).is_ok_and(|parsed| {
            parsed.to_der().is_ok_and(|der| der == sig)
                && parsed.verify(&digest, key).unwrap_or(false)
        }),
    };
    if valid {
        Ok(())
    } else {
        Err(CaError::CsrSignatureInvalid)
    }
}

/// Curve groups are built once: constructing one costs ~12 us per call.
fn ec_group(nid: Nid) -> Result<&'static EcGroup, CaError> {
    static P256: OnceLock<Option<EcGroup>> = OnceLock::new();
    static P384: OnceLock<Option<EcGroup>> = OnceLock::new();
    let cell = if nid == Nid::SECP384R1 { &P384 } else { &P256 };
    cell.get_or_init(|| EcGroup::from_curve_name(nid).ok())
        .as_ref()
        .ok_or_else(|| CaError::Unexpected(format!("OpenSSL lacks curve {nid:?}")))
}

#[cfg(test)]
use super::{pem::to_pem, test_support};

#[cfg(test)]
mod tests {
    use super::test_support::{csr_der, ec_key, rsa_key};
    use super::*;
    use openssl::hash::MessageDigest;
    use openssl::pkey::{PKey, Private};

    const MAX: usize = 16 * 1024;

    fn code(input: &[u8]) -> &'static str {
        check_csr(input, MAX).unwrap_err().code()
    }

    #[test]
    fn rsa_2048_csr_is_accepted_with_canonical_spki() {
        let key = rsa_key(2048);
        let c = check_csr(&csr_der(&key, MessageDigest::sha256()), MAX).unwrap();
        assert_eq!(c.key, KeyDescription::Rsa { bits: 2048 });
        assert_eq!(c.key.to_string(), "RSA 2048");
        assert_eq!(c.spki_der, key.public_key_to_der().unwrap());
        assert_eq!(c.spki_sha256, crate::ca::sha256(&c.spki_der));
    }

    #[test]
    fn p256_and_p384_csrs_are_accepted_in_pem_and_der() {
        for (nid, desc, md) in [
            (
                Nid::X9_62_PRIME256V1,
                KeyDescription::EcP256,
                MessageDigest::sha256(),
            ),
            (
                Nid::SECP384R1,
                KeyDescription::EcP384,
                MessageDigest::sha384(),
            ),
        ] {
            let key = ec_key(nid);
            let der = csr_der(&key, md);
            let pem = super::to_pem("CERTIFICATE REQUEST", &der);
            for input in [der.clone(), pem.into_bytes()] {
                let c = check_csr(&input, MAX).unwrap();
                assert_eq!(c.key, desc);
                assert_eq!(c.spki_der, key.public_key_to_der().unwrap());
            }
        }
    }

    #[test]
    fn csr_with_sha384_or_sha512_rsa_signature_is_accepted() {
        let key = rsa_key(2048);
        for md in [MessageDigest::sha384(), MessageDigest::sha512()] {
            check_csr(&csr_der(&key, md), MAX).unwrap();
        }
    }

    #[test]
    fn csr_with_a_bad_signature_is_refused() {
        for key in [rsa_key(2048), ec_key(Nid::X9_62_PRIME256V1)] {
            let mut der = csr_der(&key, MessageDigest::sha256());
            let n = der.len();
            der[n - 5] ^= 0x01;
            assert_eq!(code(&der), "csr_signature_invalid");
        }
    }

    #[test]
    fn csr_whose_signed_content_was_changed_is_refused() {
        let key = ec_key(Nid::X9_62_PRIME256V1);
        let mut der = csr_der(&key, MessageDigest::sha256());
        // Change a letter of the subject CN: the structure stays valid.
        let at = der.windows(7).position(|w| w == b"ignored").unwrap();
        der[at] = b'I';
        assert_eq!(code(&der), "csr_signature_invalid");
    }

    /// The CSR `der` with its signature value replaced by `f(signature)`.
    fn with_signature(der: &[u8], f: impl FnOnce(&[u8]) -> Vec<u8>) -> Vec<u8> {
        let parts = asn1::split_signed(der).unwrap();
        let signature = f(&parts.signature[1..]);
        let mut out = Vec::new();
        asn1::sequence(&mut out, |o| {
            o.extend_from_slice(parts.tbs);
            o.extend_from_slice(parts.algorithm);
            asn1::bit_string(o, &signature);
        });
        out
    }

    #[test]
    fn a_valid_signature_in_a_non_der_encoding_or_length_is_refused() {
        // The ECDSA-Sig-Value with a long-form length: BER, the same r and s.
        let der = csr_der(&ec_key(Nid::X9_62_PRIME256V1), MessageDigest::sha256());
        let ber = with_signature(&der, |sig| {
            assert!(sig[1] < 0x80);
            [&[0x30, 0x81], &sig[1..]].concat()
        });
        assert_eq!(code(&ber), "csr_signature_invalid");
        // A PKCS#1 signature one octet longer than the modulus (a leading zero).
        let der = csr_der(&rsa_key(2048), MessageDigest::sha256());
        let long = with_signature(&der, |sig| [&[0], sig].concat());
        assert_eq!(code(&long), "csr_signature_invalid");
    }

    #[test]
    fn csr_with_rsa_1024_key_is_refused() {
        let err = check_csr(&csr_der(&rsa_key(1024), MessageDigest::sha256()), MAX).unwrap_err();
        assert_eq!(err.code(), "csr_key_too_small");
        assert!(err.to_string().contains("1024"));
    }

    #[test]
    fn csr_with_rsa_exponent_3_is_refused() {
        let e3 = BigNum::from_u32(3).unwrap();
        let key: PKey<Private> = PKey::from_rsa(Rsa::generate_with_e(2048, &e3).unwrap()).unwrap();
        assert_eq!(
            code(&csr_der(&key, MessageDigest::sha256())),
            "csr_rsa_exponent"
        );
    }

    #[test]
    fn csr_with_sha1_signature_is_refused() {
        for key in [rsa_key(2048), ec_key(Nid::X9_62_PRIME256V1)] {
            let err = check_csr(&csr_der(&key, MessageDigest::sha1()), MAX).unwrap_err();
            assert_eq!(err.code(), "csr_signature_algorithm");
            assert!(err.to_string().contains("SHA-1"));
        }
    }

    #[test]
    fn csr_with_md5_signature_is_refused() {
        let der = csr_der(&rsa_key(2048), MessageDigest::md5());
        assert_eq!(code(&der), "csr_signature_algorithm");
    }

    #[test]
    fn csr_with_unsupported_curve_or_key_type_is_refused() {
        let k1 = ec_key(Nid::SECP256K1);
        assert_eq!(
            code(&csr_der(&k1, MessageDigest::sha256())),
            "csr_key_unsupported"
        );
        let ed = PKey::generate_ed25519().unwrap();
        let mut req = openssl::x509::X509ReqBuilder::new().unwrap();
        req.set_pubkey(&ed).unwrap();
        req.sign(&ed, MessageDigest::null()).unwrap();
        assert_eq!(code(&req.build().to_der().unwrap()), "csr_key_unsupported");
    }

    #[test]
    fn csr_with_a_point_off_the_curve_is_refused() {
        let key = ec_key(Nid::X9_62_PRIME256V1);
        let mut der = csr_der(&key, MessageDigest::sha256());
        let point = key
            .ec_key()
            .unwrap()
            .public_key()
            .to_bytes(
                key.ec_key().unwrap().group(),
                openssl::ec::PointConversionForm::UNCOMPRESSED,
                &mut BigNumContext::new().unwrap(),
            )
            .unwrap();
        let at = der.windows(point.len()).position(|w| w == point).unwrap();
        der[at + 64] ^= 0x01; // last byte of Y
        assert_eq!(code(&der), "csr_key_unsupported");
    }

    #[test]
    fn garbage_bytes_are_refused_as_malformed() {
        assert_eq!(code(b"\x00\x01garbage"), "csr_malformed");
        assert_eq!(code(b""), "csr_malformed");
        assert_eq!(
            code(b"-----BEGIN CERTIFICATE REQUEST-----\n@@@\n-----END CERTIFICATE REQUEST-----"),
            "csr_malformed"
        );
        let mut rnd = vec![0u8; 600];
        openssl::rand::rand_bytes(&mut rnd).unwrap();
        rnd[0] = 0x30;
        assert_eq!(code(&rnd), "csr_malformed");
        // A truncated valid CSR.
        let der = csr_der(&ec_key(Nid::X9_62_PRIME256V1), MessageDigest::sha256());
        assert_eq!(code(&der[..der.len() - 1]), "csr_malformed");
        // A certificate is not a CSR.
        assert_eq!(code(&[der.clone(), vec![0]].concat()), "csr_malformed");
    }

    #[test]
    fn oversized_input_is_refused_before_parsing() {
        let der = csr_der(&ec_key(Nid::X9_62_PRIME256V1), MessageDigest::sha256());
        let err = check_csr(&der, der.len() - 1).unwrap_err();
        assert_eq!(err.code(), "csr_too_large");
        assert!(check_csr(&der, der.len()).is_ok());
        assert_eq!(
            check_csr(&vec![0u8; MAX + 1], MAX).unwrap_err().code(),
            "csr_too_large"
        );
    }
}
