//! SMS through an HTTP gateway: a POST of a JSON body built from a configured template, with a
//! configured auth header. Any 2xx is success. 4xx other than 408/429 means the gateway refused
//! this request as such, so it is not retried; timeouts, connection errors, 5xx, 408 and 429 are.

use std::time::Duration;

use reqwest::header::{HeaderName, HeaderValue};
use serde_json::Value;

use super::{Delivery, DeliveryError, NotifyError, SmsSettings};

#[derive(Clone)]
pub struct HttpSms {
    client: reqwest::Client,
    url: String,
    auth: Option<(HeaderName, HeaderValue)>,
    template: Value,
}

impl HttpSms {
    pub fn from_settings(s: &SmsSettings) -> Result<Self, NotifyError> {
        let setup = |key, problem: String| NotifyError::Setup { key, problem };
        let template: Value = serde_json::from_str(&s.http_body_template)
            .map_err(|e| setup("notify.sms.http_body_template", e.to_string()))?;
        let auth = if s.http_auth_header.is_empty() {
            None
        } else {
            let name = HeaderName::from_bytes(s.http_auth_header.as_bytes())
                .map_err(|e| setup("notify.sms.http_auth_header", e.to_string()))?;
            let mut value = HeaderValue::from_str(s.http_auth_value.expose()).map_err(|_| {
                setup(
                    "notify.sms.http_auth_value",
                    "not a valid header value".into(),
                )
            })?;
            // Kept out of reqwest's debug output.
            value.set_sensitive(true);
            Some((name, value))
        };
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(s.timeout_seconds.into()))
            .build()
            .map_err(|e| setup("notify.sms", e.to_string()))?;
        Ok(Self {
            client,
            url: s.http_url.clone(),
            auth,
            template,
        })
    }

    pub(super) async fn send(&self, d: &Delivery) -> Result<(), DeliveryError> {
        let body = fill(&self.template, d);
        // The outbox id as idempotency key: a gateway that honours it sends a retried request
        // (our timeout, its success) once.
        let mut request = self
            .client
            .post(&self.url)
            .header("Idempotency-Key", &d.message_id)
            .json(&body);
        if let Some((name, value)) = &self.auth {
            request = request.header(name.clone(), value.clone());
        }
        match request.send().await {
            Ok(resp) if resp.status().is_success() => Ok(()),
            // The response body is not kept: a gateway may echo the text, and the text holds
            // the code.
            Ok(resp) => {
                let status = resp.status();
                let reason = format!("SMS gateway answered HTTP {}", status.as_u16());
                let retry = status.is_server_error()
                    || status == reqwest::StatusCode::REQUEST_TIMEOUT
                    || status == reqwest::StatusCode::TOO_MANY_REQUESTS;
                if retry {
                    Err(DeliveryError::transient(reason))
                } else {
                    Err(DeliveryError::permanent(reason))
                }
            }
            Err(e) if e.is_timeout() => Err(DeliveryError::transient("SMS gateway timed out")),
            // Without the URL: it may carry a key in its query.
            Err(e) => Err(DeliveryError::transient(format!(
                "SMS gateway unreachable: {}",
                e.without_url()
            ))),
        }
    }
}

/// The template with `{{to}}`, `{{text}}` and `{{message_id}}` replaced inside its string
/// values. Substituting into parsed strings (not raw text) keeps the JSON valid whatever the
/// message contains.
fn fill(template: &Value, d: &Delivery) -> Value {
    match template {
        Value::String(s) => Value::String(
            s.replace("{{to}}", &d.to)
                .replace("{{message_id}}", &d.message_id)
                .replace("{{text}}", &d.text),
        ),
        Value::Array(items) => Value::Array(items.iter().map(|v| fill(v, d)).collect()),
        Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), fill(v, d))).collect())
        }
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::Channel;

    #[test]
    fn template_values_are_filled_and_stay_valid_json() {
        let template = serde_json::json!({
            "msisdn": "{{to}}", "sms": {"content": "{{text}}", "ref": "{{message_id}}"}, "type": 1
        });
        let d = Delivery {
            message_id: "m-1".into(),
            kind: "otp".into(),
            channel: Channel::Sms,
            to: "+84912345678".into(),
            subject: String::new(),
            text: "Ma \"OTP\" {{to}} 123456".into(),
            created_at: chrono::Utc::now(),
            attachment: None,
        };
        let v = fill(&template, &d);
        assert_eq!(v["msisdn"], "+84912345678");
        assert_eq!(v["sms"]["content"], "Ma \"OTP\" {{to}} 123456");
        assert_eq!(v["sms"]["ref"], "m-1");
        assert_eq!(v["type"], 1);
    }
}
