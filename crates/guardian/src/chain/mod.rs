//! Talking to chains: endpoints with failover, signers, and the one path every transaction takes.

pub mod batch;
pub mod call;
pub mod fees;
mod follow;
pub mod logs;
pub mod revert;
pub mod route;
pub mod signer;
pub mod transport;
pub mod tx;
pub mod ws;

use alloy::{
    providers::{Provider, RootProvider},
    rpc::client::RpcClient,
    transports::{RpcError, TransportErrorKind},
};

use crate::{config::RpcSettings, secret::RpcUrl, storage::StorageError};

pub use call::{Call, Confirmed, Journal, Outbid, Preflight};
pub use fees::Fees;
pub use route::SendRoute;
pub use signer::{Signer, SignerError};
pub use transport::FailoverTransport;
pub use tx::send_all;

/// A failure talking to a chain or of a transaction on it.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// The endpoints did not answer, or answered with an error.
    #[error("chain `{chain}`: {source}")]
    Rpc {
        /// Chain name.
        chain: String,
        /// The RPC error (URLs redacted).
        #[source]
        source: RpcError<TransportErrorKind>,
    },
    /// The endpoint serves another chain than the manifest says.
    #[error(
        "chain `{chain}`: the endpoint reports chain id {actual}, but {expected} was expected: check rpc_urls (or --chain-id) point at the right network"
    )]
    WrongChainId {
        /// Chain name.
        chain: String,
        /// Expected id.
        expected: u64,
        /// Reported id.
        actual: u64,
    },
    /// Simulation shows the call would revert; nothing was sent.
    #[error("{label} on chain `{chain}` would revert with {reason}; nothing was sent")]
    Simulation {
        /// Chain name.
        chain: String,
        /// What the call does.
        label: String,
        /// The decoded custom error.
        reason: String,
    },
    /// The transaction could not be signed (nothing was sent).
    #[error("cannot sign {label} for chain `{chain}`: {reason}")]
    Signing {
        /// Chain name.
        chain: String,
        /// What the call does.
        label: String,
        /// The signer's error.
        reason: String,
    },
    /// The call was not sent because the batch it belonged to failed before sending.
    #[error("{label} on chain `{chain}` was not sent: {reason}")]
    NotSent {
        /// Chain name.
        chain: String,
        /// What the call does.
        label: String,
        /// Why the batch failed.
        reason: String,
    },
    /// An answer came back but is not what the call returns (wrong address or contract kind).
    #[error(
        "chain `{chain}`: cannot decode the answer to {what}: {reason} (is the address a contract of the kind the manifest says?)"
    )]
    BadAnswer {
        /// Chain name.
        chain: String,
        /// What was asked.
        what: String,
        /// The decoding error.
        reason: String,
    },
    /// A request got no answer of its own (a batch answer that left it out).
    #[error("chain `{chain}`: no answer to {what}; run the command again")]
    NoAnswer {
        /// Chain name.
        chain: String,
        /// What was asked.
        what: String,
    },
    /// The node refused the signed transaction.
    #[error("{label} on chain `{chain}`: the node refused transaction {tx}: {message}")]
    Rejected {
        /// Chain name.
        chain: String,
        /// What the call does.
        label: String,
        /// Transaction hash.
        tx: alloy::primitives::TxHash,
        /// The node's message.
        message: String,
    },
    /// The transaction was mined but reverted.
    #[error("{label} on chain `{chain}` reverted in transaction {tx} (block {block}): {reason}")]
    Reverted {
        /// Chain name.
        chain: String,
        /// What the call does.
        label: String,
        /// Transaction hash.
        tx: alloy::primitives::TxHash,
        /// Block number.
        block: u64,
        /// The decoded custom error.
        reason: String,
    },
    /// No receipt arrived in time.
    #[error(
        "{label} on chain `{chain}`: transaction {tx} not mined within {secs}s; it may still be mined, run the command again to pick it up"
    )]
    ReceiptTimeout {
        /// Chain name.
        chain: String,
        /// What the call does.
        label: String,
        /// Transaction hash.
        tx: alloy::primitives::TxHash,
        /// Seconds waited.
        secs: u64,
    },
    /// The sender cannot pay for the transactions.
    #[error(
        "signer {address} has {balance} wei on chain `{chain}` but needs about {needed} wei: fund it, then run again"
    )]
    InsufficientFunds {
        /// Chain name.
        chain: String,
        /// Sender.
        address: alloy::primitives::Address,
        /// Its balance.
        balance: alloy::primitives::U256,
        /// Estimated cost.
        needed: alloy::primitives::U256,
    },
    /// A block the manifest names is beyond the chain's head.
    #[error(
        "chain `{chain}`: block {block} is beyond the chain head {head}: check deployed_block in the manifest, and that rpc_urls point at the right network"
    )]
    BeyondHead {
        /// Chain name.
        chain: String,
        /// The block asked for.
        block: u64,
        /// The head.
        head: u64,
    },
    /// Recording a transaction failed; it was not sent.
    #[error("cannot record the transaction, so it was not sent: {0}")]
    Storage(#[from] StorageError),
}

/// Turns a contract-call error into a chain error that names the chain.
pub fn contract_err(client: &ChainClient, e: alloy::contract::Error) -> ChainError {
    match e {
        alloy::contract::Error::TransportError(source) => client.rpc_err(source),
        other => ChainError::BadAnswer {
            chain: client.name.clone(),
            what: "a contract read".into(),
            reason: other.to_string(),
        },
    }
}

/// A connection to one chain through its endpoints, checked to serve the expected chain id.
#[derive(Clone, Debug)]
pub struct ChainClient {
    /// The chain's name in the manifest.
    pub name: String,
    /// The chain id the endpoints reported.
    pub chain_id: u64,
    /// Timeouts.
    pub settings: RpcSettings,
    /// Fee market and private endpoints.
    pub route: SendRoute,
    provider: RootProvider,
    local: bool,
}

impl ChainClient {
    /// Connects to `urls` (tried in order) and checks the chain id when one is expected.
    pub async fn connect(
        name: &str,
        urls: &[RpcUrl],
        expected_chain_id: Option<u64>,
        settings: &RpcSettings,
    ) -> Result<Self, ChainError> {
        let transport =
            FailoverTransport::new(urls, settings.request_timeout(), settings.hedge_after())
                .map_err(|e| ChainError::Rpc {
                    chain: name.to_string(),
                    source: TransportErrorKind::custom(e),
                })?;
        let local = urls.iter().all(RpcUrl::is_loopback);
        let provider = RootProvider::new(RpcClient::new(transport, local));
        let chain_id = provider
            .get_chain_id()
            .await
            .map_err(|source| ChainError::Rpc {
                chain: name.to_string(),
                source,
            })?;
        if let Some(expected) = expected_chain_id.filter(|e| *e != chain_id) {
            return Err(ChainError::WrongChainId {
                chain: name.to_string(),
                expected,
                actual: chain_id,
            });
        }
        Ok(Self {
            name: name.to_string(),
            chain_id,
            settings: settings.clone(),
            route: SendRoute::default(),
            provider,
            local,
        })
    }

    /// The same connection, priced and routed as `[chains.NAME]` says.
    pub fn with_route(mut self, route: SendRoute) -> Self {
        self.route = route;
        self
    }

    /// The provider, for reads.
    pub fn provider(&self) -> &RootProvider {
        &self.provider
    }

    /// Whether every endpoint is on this machine.
    pub fn is_local(&self) -> bool {
        self.local
    }

    /// Wraps an RPC error with this chain's name.
    pub fn rpc_err(&self, source: RpcError<TransportErrorKind>) -> ChainError {
        ChainError::Rpc {
            chain: self.name.clone(),
            source,
        }
    }
}
