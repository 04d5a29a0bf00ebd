//! Status callbacks to the VNeID hub: the outbox row's payload (transaction, enrolment,
//! status, serial, time) becomes the claims of a compact JWS signed by the provider's key
//! (its chain in `x5c`), POSTed as `application/jose` with the outbox id as `Idempotency-Key`
//! (and as `jti`), so a hub that deduplicates records a retried callback once. 2xx is success;
//! 4xx other than 408/429 is not retried; the rest is, with the outbox's backoff.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::{Delivery, DeliveryError, NotifyError};
use crate::ca::{jws, Signer};

/// The provider's signing key for callbacks and its chain (its certificate first).
pub struct HubSigning {
    pub signer: Arc<dyn Signer>,
    pub chain_der: Vec<Vec<u8>>,
}

#[derive(Clone)]
pub struct HubCallbacks {
    client: reqwest::Client,
    url: String,
    provider_id: String,
    signing: Arc<HubSigning>,
}

impl HubCallbacks {
    pub fn new(
        url: &str,
        timeout_seconds: u32,
        provider_id: &str,
        signing: HubSigning,
    ) -> Result<Self, NotifyError> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(timeout_seconds.into()))
            .build()
            .map_err(|e| NotifyError::Setup {
                key: "vneid.callback_url",
                problem: e.to_string(),
            })?;
        Ok(Self {
            client,
            url: url.to_string(),
            provider_id: provider_id.to_string(),
            signing: Arc::new(signing),
        })
    }

    pub(super) async fn send(&self, d: &Delivery) -> Result<(), DeliveryError> {
        let mut claims: Value = serde_json::from_str(&d.text)
            .map_err(|e| DeliveryError::permanent(format!("callback payload: {e}")))?;
        claims["iss"] = self.provider_id.clone().into();
        claims["aud"] = "vneid_hub".into();
        claims["iat"] = chrono::Utc::now().timestamp().into();
        claims["jti"] = d.message_id.clone().into();
        let signing = self.signing.clone();
        // The signer may be a token: keep its call off the async workers.
        let body = tokio::task::spawn_blocking(move || {
            jws::sign(&claims, signing.signer.as_ref(), &signing.chain_der)
        })
        .await
        .map_err(|e| DeliveryError::transient(format!("signing task: {e}")))?
        .map_err(|e| DeliveryError::transient(e.to_string()))?;
        let answer = self
            .client
            .post(&self.url)
            .header("Content-Type", "application/jose")
            .header("Idempotency-Key", &d.message_id)
            .body(body)
            .send()
            .await;
        match answer {
            Ok(resp) if resp.status().is_success() => Ok(()),
            Ok(resp) => {
                let status = resp.status();
                let reason = format!("VNeID hub answered HTTP {}", status.as_u16());
                let retry = status.is_server_error()
                    || status == reqwest::StatusCode::REQUEST_TIMEOUT
                    || status == reqwest::StatusCode::TOO_MANY_REQUESTS;
                if retry {
                    Err(DeliveryError::transient(reason))
                } else {
                    Err(DeliveryError::permanent(reason))
                }
            }
            Err(e) if e.is_timeout() => Err(DeliveryError::transient("VNeID hub timed out")),
            Err(e) => Err(DeliveryError::transient(format!(
                "VNeID hub unreachable: {e}"
            ))),
        }
    }
}
