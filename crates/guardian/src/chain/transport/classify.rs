//! What an error answer or a failed attempt says about a request: final, or worth asking again.

use alloy::transports::{TransportError, TransportErrorKind};

/// What an error answer says about the request it answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorClass {
    /// It is about the request (a revert, a nonce, a bad argument): the answer, never retried.
    Final,
    /// It is about the endpoint (a rate limit, an internal error, a node behind the chain): the
    /// next endpoint is asked, and after all of them the request is asked again.
    Retry,
    /// A broadcast the node already has: it was accepted.
    AlreadyKnown,
}

/// Classifies a JSON-RPC error answer to `method`.
pub fn classify(method: &str, code: i64, message: &str) -> ErrorClass {
    let m = message.to_ascii_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| m.contains(w));
    if method == "eth_sendRawTransaction"
        && (has(&["already known", "alreadyknown", "already imported"])
            || (m.contains("known transaction") && !m.contains("unknown transaction")))
    {
        return ErrorClass::AlreadyKnown;
    }
    // About the request: another endpoint would say the same.
    if code == 3
        || code == -32602
        || has(&[
            "revert",
            "nonce too low",
            "nonce too high",
            "nonce has already been used",
            "replacement transaction underpriced",
            "transaction underpriced",
            "insufficient funds",
            "intrinsic gas",
            "gas required exceeds",
            "exceeds block gas limit",
            "invalid argument",
            "invalid params",
            "block range",
            "range is too large",
            "range too large",
            "query returned more than",
        ])
    {
        return ErrorClass::Final;
    }
    // About the endpoint: rate limits (-32005, Alchemy's 429, QuickNode's -32007, -32016), an
    // internal error, a node that has not caught up or has pruned the state, a timeout.
    if matches!(code, -32005 | -32603 | 429 | -32007 | -32016 | -32002)
        || has(&[
            "rate limit",
            "ratelimit",
            "too many requests",
            "request limit",
            "limit exceeded",
            "limit reached",
            "compute units",
            "capacity",
            "header not found",
            "missing trie node",
            "block not found",
            "unknown block",
            "timeout",
            "timed out",
            "internal error",
            "temporarily",
            "unavailable",
            "try again",
            "overloaded",
            "busy",
        ])
    {
        return ErrorClass::Retry;
    }
    ErrorClass::Final
}

/// Whether a failure to get any answer from an endpoint is worth asking again after a pause: a
/// rate limit or server error by HTTP status, or a connection refused or reset.
pub(super) fn retryable_failure(e: &TransportError) -> bool {
    match e {
        TransportError::Transport(kind) => match kind.as_http_error() {
            Some(http) => http.status == 429 || http.status >= 500,
            None => !matches!(
                kind,
                TransportErrorKind::MissingBatchResponse(_) | TransportErrorKind::BackendGone
            ),
        },
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Real error answers, as nodes and hosted endpoints send them.
    const TABLE: &[(&str, i64, &str, ErrorClass)] = &[
        // Rate limits.
        (
            "eth_call",
            429,
            "Your app has exceeded its compute units per second capacity. If you have retries enabled, you can safely ignore this message.",
            ErrorClass::Retry,
        ),
        (
            "eth_blockNumber",
            -32005,
            "project ID request rate exceeded",
            ErrorClass::Retry,
        ),
        (
            "eth_call",
            -32005,
            "daily request count exceeded, request rate limited",
            ErrorClass::Retry,
        ),
        ("eth_call", -32005, "limit exceeded", ErrorClass::Retry),
        (
            "eth_getBalance",
            -32007,
            "15/second request limit reached - reduce calls per second or upgrade your account",
            ErrorClass::Retry,
        ),
        ("eth_chainId", 429, "too many requests", ErrorClass::Retry),
        // The endpoint, not the request.
        ("eth_call", -32603, "Internal error", ErrorClass::Retry),
        ("eth_call", -32000, "header not found", ErrorClass::Retry),
        (
            "eth_getBalance",
            -32000,
            "missing trie node 8a1b5c2d3e4f (path ) state 0x8a1b5c2d3e4f is not available",
            ErrorClass::Retry,
        ),
        (
            "eth_getLogs",
            -32000,
            "request timed out",
            ErrorClass::Retry,
        ),
        (
            "eth_call",
            -32000,
            "execution aborted (timeout = 5s)",
            ErrorClass::Retry,
        ),
        // The request itself.
        (
            "eth_call",
            3,
            "execution reverted: AccessControlUnauthorizedAccount",
            ErrorClass::Final,
        ),
        (
            "eth_estimateGas",
            -32000,
            "execution reverted",
            ErrorClass::Final,
        ),
        (
            "eth_call",
            -32603,
            "EVM error: execution reverted",
            ErrorClass::Final,
        ),
        (
            "eth_sendRawTransaction",
            -32000,
            "nonce too low: next nonce 5, tx nonce 4",
            ErrorClass::Final,
        ),
        (
            "eth_sendRawTransaction",
            -32003,
            "nonce too low",
            ErrorClass::Final,
        ),
        (
            "eth_sendRawTransaction",
            -32000,
            "replacement transaction underpriced",
            ErrorClass::Final,
        ),
        (
            "eth_sendRawTransaction",
            -32000,
            "insufficient funds for gas * price + value: balance 0, tx cost 1",
            ErrorClass::Final,
        ),
        (
            "eth_call",
            -32602,
            "invalid argument 0: hex string has length 3, want 40 for common.Address",
            ErrorClass::Final,
        ),
        (
            "eth_getLogs",
            -32005,
            "query returned more than 10000 results",
            ErrorClass::Final,
        ),
        (
            "eth_getLogs",
            -32600,
            "block range is limited to 1000 blocks",
            ErrorClass::Final,
        ),
        (
            "eth_getBlockReceipts",
            -32601,
            "the method eth_getBlockReceipts does not exist/is not available",
            ErrorClass::Final,
        ),
        ("eth_call", -32600, "batch too large", ErrorClass::Final),
        // A broadcast the node already has (geth, erigon, Parity/OpenEthereum, Nethermind).
        (
            "eth_sendRawTransaction",
            -32000,
            "already known",
            ErrorClass::AlreadyKnown,
        ),
        (
            "eth_sendRawTransaction",
            -32010,
            "Transaction with the same hash was already imported.",
            ErrorClass::AlreadyKnown,
        ),
        (
            "eth_sendRawTransaction",
            -32000,
            "known transaction: 0x5e7f",
            ErrorClass::AlreadyKnown,
        ),
        (
            "eth_sendRawTransaction",
            -32000,
            "AlreadyKnown",
            ErrorClass::AlreadyKnown,
        ),
        (
            "eth_getTransactionByHash",
            -32000,
            "unknown transaction",
            ErrorClass::Final,
        ),
        ("eth_call", -32000, "already known", ErrorClass::Final),
    ];

    #[test]
    fn errors_are_classified_like_nodes_mean_them() {
        for (method, code, message, expected) in TABLE {
            assert_eq!(
                classify(method, *code, message),
                *expected,
                "{method} {code} {message}"
            );
        }
    }

    #[test]
    fn http_status_failures_retry_only_for_rate_limits_and_server_errors() {
        for (status, retry) in [
            (429, true),
            (502, true),
            (503, true),
            (413, false),
            (401, false),
        ] {
            let e = TransportErrorKind::http_error(status, String::new());
            assert_eq!(retryable_failure(&e), retry, "{status}");
        }
    }
}
