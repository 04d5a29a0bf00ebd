//! Issuance with a stand-in signer, for the crash and recovery tests.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use ca_enrol::ca::{CaError, IssuingCa, SignatureAlgorithm, Signer};
use ca_enrol::issuance::Issuer;

use super::TestApp;

/// Delegates to the real key but stops the "process" at the signature: the recording
/// transaction has committed, and no certificate comes out.
pub struct DiesWhileSigning(pub Arc<dyn Signer>);

impl Signer for DiesWhileSigning {
    fn algorithm(&self) -> SignatureAlgorithm {
        self.0.algorithm()
    }
    fn public_key_der(&self) -> &[u8] {
        self.0.public_key_der()
    }
    fn sign(&self, _tbs: &[u8]) -> Result<Vec<u8>, CaError> {
        panic!("process stopped between record and sign");
    }
}

/// Dies at its first signature, as [`DiesWhileSigning`]; signs with the real key after that.
pub struct DiesOnce {
    pub real: Arc<dyn Signer>,
    pub died: AtomicBool,
}

impl Signer for DiesOnce {
    fn algorithm(&self) -> SignatureAlgorithm {
        self.real.algorithm()
    }
    fn public_key_der(&self) -> &[u8] {
        self.real.public_key_der()
    }
    fn sign(&self, tbs: &[u8]) -> Result<Vec<u8>, CaError> {
        if !self.died.swap(true, Ordering::SeqCst) {
            panic!("the signer died");
        }
        self.real.sign(tbs)
    }
}

/// The app's issuing CA (name, certificate) signing with `signer`.
pub fn ca_with(app: &TestApp, signer: Arc<dyn Signer>) -> Arc<IssuingCa> {
    let real = &app.state.ca.issuing;
    Arc::new(IssuingCa::new(real.name(), real.cert_der().to_vec(), signer).unwrap())
}

/// An issuer on the app's store, profile and clock, signing with `ca`.
pub fn issuer(app: &TestApp, ca: Arc<IssuingCa>) -> Issuer {
    Issuer::new(
        app.state.store.clone(),
        ca,
        app.state.ca.profile.clone(),
        app.clock.clone(),
    )
}
