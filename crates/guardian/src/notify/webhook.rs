//! The signed webhook: a JSON `POST` with `X-Guardian-Delivery` (the same on every attempt),
//! `X-Guardian-Timestamp` (this attempt's Unix seconds) and `X-Guardian-Signature: sha256=<hex
//! HMAC-SHA256(key, "<timestamp>.<body>")>`, so a receiver can check who sent it and refuse
//! replays.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::{Delivery, NotifyError, http};
use crate::secret::Secret;

/// The hex HMAC-SHA256 of `"<timestamp>.<body>"` under `key`.
pub fn signature(key: &[u8], timestamp: u64, body: &[u8]) -> String {
    // HMAC takes a key of any length; `new_from_slice` cannot fail for it.
    let mut mac = match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    alloy::hex::encode(mac.finalize().into_bytes())
}

/// Sends one attempt of `delivery` to `url`, signed with `key`.
pub(super) async fn send(d: &Delivery<'_>, url: &Secret, key: &Secret) -> Result<(), NotifyError> {
    let body = serde_json::to_vec(&d.message.body)?;
    let timestamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|t| t.as_secs())
        .unwrap_or_default();
    let signature = signature(key.expose().as_bytes(), timestamp, &body);
    let request = d
        .client
        .post(url.expose())
        .header("content-type", "application/json")
        .header("x-guardian-delivery", d.id)
        .header("x-guardian-timestamp", timestamp.to_string())
        .header("x-guardian-signature", format!("sha256={signature}"))
        .body(body);
    http::send(d.contact, request).await.map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_timestamp_dot_body() {
        // printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac key
        assert_eq!(
            signature(b"key", 1_700_000_000, br#"{"a":1}"#),
            "a438e398bfafc57e4396bb7fc2304422f0f768e965d073ca313cb52e22e6ad03"
        );
    }
}
