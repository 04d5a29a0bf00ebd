//! CMS SignedData (RFC 5652) for a detached signature, as PAdES baseline B-B wants it
//! (ETSI EN 319 142-1, CAdES-detached): signed attributes content-type, message-digest
//! and signing-certificate-v2 (RFC 5035), no signing-time (the PDF's `/M` carries the
//! claimed time), the signer's certificate and its chain in `certificates`.
//!
//! Hand-written DER like the rest of `ca/`; the tests decode the output with
//! `openssl cms` and the PDF tests with pdfsig and pyHanko.

use const_oid::db::{rfc5911, rfc5912};
use der::Encode;
use openssl::hash::{Hasher, MessageDigest};
use x509_cert::Certificate;

use super::asn1::{self, TAG_INTEGER, TAG_OCTET_STRING, TAG_SET};
use super::{CaError, SignatureAlgorithm, Signer};

/// The digest a detached signature by `alg` covers its content with: the hash the
/// signature algorithm itself uses, so one algorithm runs through the whole signature.
pub fn content_digest(alg: SignatureAlgorithm, parts: &[&[u8]]) -> Result<Vec<u8>, CaError> {
    let mut h = Hasher::new(message_digest(alg))?;
    for p in parts {
        h.update(p)?;
    }
    Ok(h.finish()?.to_vec())
}

fn message_digest(alg: SignatureAlgorithm) -> MessageDigest {
    match alg {
        SignatureAlgorithm::EcdsaSha384 => MessageDigest::sha384(),
        _ => MessageDigest::sha256(),
    }
}

/// `AlgorithmIdentifier` of the digest, parameters absent (RFC 5754 3).
fn digest_algorithm(out: &mut Vec<u8>, alg: SignatureAlgorithm) {
    asn1::sequence(out, |o| {
        asn1::oid(
            o,
            match alg {
                SignatureAlgorithm::EcdsaSha384 => &rfc5912::ID_SHA_384,
                _ => &rfc5912::ID_SHA_256,
            },
        )
    });
}

/// A DER `SET OF`: the elements sorted by their encodings (X.690 11.6).
fn set_of(out: &mut Vec<u8>, tag: u8, mut elements: Vec<Vec<u8>>) {
    elements.sort();
    asn1::tlv(out, tag, |o| {
        for e in elements {
            o.extend_from_slice(&e);
        }
    });
}

fn attribute(id: &const_oid::ObjectIdentifier, value_der: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    asn1::sequence(&mut out, |o| {
        asn1::oid(o, id);
        asn1::bytes(o, TAG_SET, value_der);
    });
    out
}

/// The issuer Name and serialNumber INTEGER of a certificate, DER.
fn issuer_and_serial(cert_der: &[u8]) -> Result<(Vec<u8>, Vec<u8>), CaError> {
    use der::Decode;
    let bad = |e: der::Error| CaError::CertLoad(format!("sealing certificate: {e}"));
    let cert = Certificate::from_der(cert_der).map_err(bad)?;
    let tbs = cert.tbs_certificate();
    Ok((
        tbs.issuer().to_der().map_err(bad)?,
        tbs.serial_number().to_der().map_err(bad)?,
    ))
}

/// A detached CMS `ContentInfo` (SignedData) over content whose digest (by
/// [`content_digest`] with the signer's algorithm) is `digest`, signed by `signer`
/// holding the key of `cert_der`; `chain_der` goes into `certificates` with it.
pub fn signed_data_detached(
    digest: &[u8],
    signer: &dyn Signer,
    cert_der: &[u8],
    chain_der: &[Vec<u8>],
) -> Result<Vec<u8>, CaError> {
    let alg = signer.algorithm();
    let (issuer, serial) = issuer_and_serial(cert_der)?;
    let mut content_type = Vec::new();
    asn1::oid(&mut content_type, &rfc5911::ID_DATA);
    let mut message_digest = Vec::new();
    asn1::bytes(&mut message_digest, TAG_OCTET_STRING, digest);
    // SigningCertificateV2 { certs { ESSCertIDv2 { certHash (SHA-256, the DEFAULT, so
    // no hashAlgorithm), issuerSerial { issuer { directoryName [4] }, serial } } } }
    let mut signing_certificate = Vec::new();
    asn1::sequence(&mut signing_certificate, |o| {
        asn1::sequence(o, |o| {
            asn1::sequence(o, |o| {
                asn1::bytes(o, TAG_OCTET_STRING, &crate::ca::sha256(cert_der));
                asn1::sequence(o, |o| {
                    asn1::sequence(o, |o| asn1::bytes(o, 0xA4, &issuer));
                    o.extend_from_slice(&serial);
                });
            });
        });
    });
    let attributes = vec![
        attribute(&rfc5911::ID_CONTENT_TYPE, &content_type),
        attribute(&rfc5911::ID_MESSAGE_DIGEST, &message_digest),
        attribute(
            &rfc5911::ID_AA_SIGNING_CERTIFICATE_V_2,
            &signing_certificate,
        ),
    ];
    // The signature covers the attributes as a SET (RFC 5652 5.4); they are stored under
    // the [0] IMPLICIT tag with the same content.
    let mut signed_attrs = Vec::new();
    set_of(&mut signed_attrs, TAG_SET, attributes);
    let signature = signer.sign(&signed_attrs)?;
    signed_attrs[0] = 0xA0;

    let mut out = Vec::with_capacity(
        cert_der.len() + chain_der.iter().map(Vec::len).sum::<usize>() + signature.len() + 512,
    );
    asn1::sequence(&mut out, |o| {
        asn1::oid(o, &rfc5911::ID_SIGNED_DATA);
        asn1::tlv(o, 0xA0, |o| {
            asn1::sequence(o, |o| {
                asn1::bytes(o, TAG_INTEGER, &[1]);
                asn1::tlv(o, TAG_SET, |o| digest_algorithm(o, alg));
                asn1::sequence(o, |o| asn1::oid(o, &rfc5911::ID_DATA));
                let certificates = std::iter::once(cert_der)
                    .chain(chain_der.iter().map(Vec::as_slice))
                    .map(<[u8]>::to_vec)
                    .collect();
                set_of(o, 0xA0, certificates);
                asn1::tlv(o, TAG_SET, |o| {
                    asn1::sequence(o, |o| {
                        // version 1: the signer is named by issuerAndSerialNumber.
                        asn1::bytes(o, TAG_INTEGER, &[1]);
                        asn1::sequence(o, |o| {
                            o.extend_from_slice(&issuer);
                            o.extend_from_slice(&serial);
                        });
                        digest_algorithm(o, alg);
                        o.extend_from_slice(&signed_attrs);
                        o.extend_from_slice(alg.algorithm_identifier_der());
                        asn1::bytes(o, TAG_OCTET_STRING, &signature);
                    });
                });
            });
        });
    });
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ca::test_support::ceremony_config;
    use crate::ca::{run_ceremony, CaKeyAlgorithm, OpenSslSigner};

    /// `openssl cms -verify` on the detached content, against the ceremony's root: the
    /// signature, the message digest and the chain check.
    #[test]
    fn openssl_verifies_the_detached_signature_for_rsa_and_p384() {
        for key in [CaKeyAlgorithm::Rsa2048, CaKeyAlgorithm::P384] {
            let dir = tempfile::tempdir().unwrap();
            let mut cfg = ceremony_config();
            cfg.issuing.key = key;
            let out = run_ceremony(dir.path(), &cfg, None).unwrap();
            let signer = OpenSslSigner::from_pem_file(&out.sealing_key, None).unwrap();
            let pem = std::fs::read(&out.sealing_cert).unwrap();
            let cert = crate::ca::pem_to_der(&pem, "CERTIFICATE").unwrap();
            let issuing = std::fs::read(&out.issuing_cert).unwrap();
            let issuing = crate::ca::pem_to_der(&issuing, "CERTIFICATE").unwrap();
            let content = b"the bytes of a document";
            let digest =
                content_digest(signer.algorithm(), &[&content[..7], &content[7..]]).unwrap();
            let cms = signed_data_detached(&digest, &signer, &cert, &[issuing]).unwrap();
            let p = |f: &str| dir.path().join(f).to_string_lossy().into_owned();
            std::fs::write(p("sig.der"), &cms).unwrap();
            std::fs::write(p("content"), content).unwrap();
            let (ok, text) = crate::ca::test_support::openssl(&[
                "cms",
                "-verify",
                "-binary",
                "-inform",
                "DER",
                "-in",
                &p("sig.der"),
                "-content",
                &p("content"),
                "-CAfile",
                &out.root_cert.to_string_lossy(),
                "-purpose",
                "any",
                "-out",
                "/dev/null",
            ]);
            assert!(
                ok && text.contains("Verification successful"),
                "{key:?}: {text}"
            );
            // A changed byte fails.
            std::fs::write(p("content"), b"the bytes of a documenT").unwrap();
            let (ok, _) = crate::ca::test_support::openssl(&[
                "cms",
                "-verify",
                "-binary",
                "-inform",
                "DER",
                "-in",
                &p("sig.der"),
                "-content",
                &p("content"),
                "-CAfile",
                &out.root_cert.to_string_lossy(),
                "-purpose",
                "any",
                "-out",
                "/dev/null",
            ]);
            assert!(!ok);
        }
    }
}
