//! The Safe Transaction Service, where Safe{Wallet} lists a Safe's queued transactions and owners
//! add their signatures: proposing a transaction (with an owner's or a delegate's signature),
//! adding a confirmation, and reading the confirmations gathered there. Paths and fields are the
//! service's published API (`/api/v1/…`, camelCase JSON, trailing slashes); the API key of Safe's
//! hosted service goes as a bearer token. Nothing read from the service is trusted: each
//! signature is recovered and checked against the owners by the caller.

use std::time::Duration;

use alloy::primitives::{Address, B256, Bytes};
use serde::Deserialize;
use serde_json::json;

use super::SafeTx;
use crate::secret::{Secret, redact};

/// How long one request may take.
const TIMEOUT: Duration = Duration::from_secs(10);
/// How much of a refusing server's answer is kept in the error.
const BODY_IN_ERROR: usize = 300;
/// Pages of confirmations read at most (a Safe has far fewer owners).
const MAX_PAGES: usize = 10;

/// Why the service could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServiceError {
    /// No answer (down, unreachable, too slow).
    #[error("the Safe Transaction Service cannot be reached: {0}")]
    Unreachable(String),
    /// It answered with an error.
    #[error("the Safe Transaction Service refused ({status}): {body}")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// The start of its answer.
        body: String,
    },
}

/// A confirmation as the service lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceConfirmation {
    /// The owner the service says made it (not trusted: the signature is recovered).
    pub owner: Address,
    /// The signature.
    pub signature: Bytes,
    /// `EOA`, `ETH_SIGN`, `APPROVED_HASH` or `CONTRACT_SIGNATURE`.
    pub kind: String,
}

/// A client of one chain's service.
#[derive(Clone)]
pub struct Service {
    http: reqwest::Client,
    base: String,
    key: Option<Secret>,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field("base", &redact(&self.base))
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct Page {
    #[serde(default)]
    next: Option<String>,
    results: Vec<Listed>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Listed {
    owner: Address,
    signature: Bytes,
    #[serde(default)]
    signature_type: String,
}

impl Service {
    /// The service at `base` (`https://api.safe.global/tx-service/eth`), with the API key sent as
    /// a bearer token when given.
    pub fn new(base: &str, key: Option<&Secret>) -> Result<Self, ServiceError> {
        crate::tls::install_provider();
        let http = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .connect_timeout(TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("guardian/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ServiceError::Unreachable(redact(&e.to_string()).into_owned()))?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_string(),
            key: key.cloned(),
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Result<String, ServiceError> {
        let request = match &self.key {
            Some(k) => request.bearer_auth(k.expose()),
            None => request,
        };
        let response = request.send().await.map_err(|e| {
            ServiceError::Unreachable(redact(&e.without_url().to_string()).into_owned())
        })?;
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        if status.is_success() {
            Ok(body)
        } else {
            Err(ServiceError::Refused {
                status: status.as_u16(),
                body: redact(&body.chars().take(BODY_IN_ERROR).collect::<String>()).into_owned(),
            })
        }
    }

    /// Proposes `tx` of `safe` (hash `hash`) with `sender`'s signature: an owner's, which counts
    /// as its confirmation, or a delegate's, which only lists it.
    pub async fn propose(
        &self,
        safe: Address,
        tx: &SafeTx,
        hash: B256,
        sender: Address,
        signature: &Bytes,
    ) -> Result<(), ServiceError> {
        let body = json!({
            "safe": safe.to_checksum(None),
            "to": tx.to.to_checksum(None),
            "value": tx.value.to_string(),
            "data": (!tx.data.is_empty()).then(|| tx.data.to_string()),
            "operation": tx.operation,
            "gasToken": tx.gasToken.to_checksum(None),
            "safeTxGas": tx.safeTxGas.to_string(),
            "baseGas": tx.baseGas.to_string(),
            "gasPrice": tx.gasPrice.to_string(),
            "refundReceiver": tx.refundReceiver.to_checksum(None),
            "nonce": tx.nonce.to_string(),
            "contractTransactionHash": hash.to_string(),
            "sender": sender.to_checksum(None),
            "signature": signature.to_string(),
            "origin": "guardian",
        });
        let path = format!(
            "/api/v1/safes/{}/multisig-transactions/",
            safe.to_checksum(None)
        );
        self.send(self.http.post(self.url(&path)).json(&body))
            .await
            .map(drop)
    }

    /// Adds an owner's `signature` of `hash`.
    pub async fn confirm(&self, hash: B256, signature: &Bytes) -> Result<(), ServiceError> {
        let path = format!("/api/v1/multisig-transactions/{hash}/confirmations/");
        self.send(
            self.http
                .post(self.url(&path))
                .json(&json!({ "signature": signature.to_string() })),
        )
        .await
        .map(drop)
    }

    /// Whether the service holds the transaction `hash`.
    pub async fn holds(&self, hash: B256) -> Result<bool, ServiceError> {
        let path = format!("/api/v1/multisig-transactions/{hash}/");
        match self.send(self.http.get(self.url(&path))).await {
            Ok(_) => Ok(true),
            Err(ServiceError::Refused { status: 404, .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The confirmations of `hash` gathered there (none when it does not hold it).
    pub async fn confirmations(
        &self,
        hash: B256,
    ) -> Result<Vec<ServiceConfirmation>, ServiceError> {
        let mut url = self.url(&format!(
            "/api/v1/multisig-transactions/{hash}/confirmations/"
        ));
        let mut out = Vec::new();
        for _ in 0..MAX_PAGES {
            let body = match self.send(self.http.get(&url)).await {
                Ok(b) => b,
                Err(ServiceError::Refused { status: 404, .. }) => return Ok(out),
                Err(e) => return Err(e),
            };
            let page: Page = serde_json::from_str(&body).map_err(|e| ServiceError::Refused {
                status: 200,
                body: format!("an answer that is not a page of confirmations: {e}"),
            })?;
            out.extend(page.results.into_iter().map(|c| ServiceConfirmation {
                owner: c.owner,
                signature: c.signature,
                kind: c.signature_type,
            }));
            match page.next {
                Some(next) if next.starts_with(&self.base) => url = next,
                _ => break,
            }
        }
        Ok(out)
    }
}
