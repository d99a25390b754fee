//! Turns revert data into the contract's custom error by name, e.g. `EnforcedPause()`, and tells
//! a revert from a failure of the node.

use std::{collections::HashMap, sync::OnceLock};

use alloy::{
    dyn_abi::{DynSolValue, ErrorExt},
    json_abi::{Error as AbiError, JsonAbi},
    primitives::hex,
    transports::{RpcError, TransportErrorKind},
};

use super::{ChainClient, ChainError};

fn known_errors() -> &'static HashMap<[u8; 4], AbiError> {
    static ERRORS: OnceLock<HashMap<[u8; 4], AbiError>> = OnceLock::new();
    ERRORS.get_or_init(|| {
        let abis: [JsonAbi; 7] = [
            bindings::DocumentRegistry::abi::contract(),
            bindings::OwnershipTokenizer::abi::contract(),
            bindings::PaymentEscrow::abi::contract(),
            bindings::AuditResolver::abi::contract(),
            bindings::EmergencyBrake::abi::contract(),
            bindings::TestToken::abi::contract(),
            bindings::ERC1967Proxy::abi::contract(),
        ];
        let mut map = HashMap::new();
        for abi in abis {
            for error in abi.errors() {
                map.insert(error.selector().0, error.clone());
            }
        }
        map
    })
}

/// Names the error in `data`: a custom error of the suite with its arguments, `Error(string)`,
/// `Panic(uint256)`, or the raw bytes when unknown.
pub fn decode(data: &[u8]) -> String {
    if data.is_empty() {
        return "reverted without a reason".into();
    }
    let Some(selector) = data.get(..4).and_then(|s| <[u8; 4]>::try_from(s).ok()) else {
        return format!("reverted with 0x{}", hex::encode(data));
    };
    let args = &data[4..];
    match selector {
        // Error(string) and Panic(uint256) are Solidity's built-ins.
        [0x08, 0xc3, 0x79, 0xa0] => {
            match alloy::dyn_abi::DynSolType::String.abi_decode_params(args) {
                Ok(DynSolValue::String(s)) => format!("Error({s:?})"),
                _ => format!("reverted with 0x{}", hex::encode(data)),
            }
        }
        [0x4e, 0x48, 0x7b, 0x71] => {
            match alloy::dyn_abi::DynSolType::Uint(256).abi_decode_params(args) {
                Ok(DynSolValue::Uint(code, _)) => format!("Panic(0x{code:x})"),
                _ => format!("reverted with 0x{}", hex::encode(data)),
            }
        }
        _ => match known_errors().get(&selector) {
            Some(error) => match error.decode_error(data) {
                Ok(decoded) => format!(
                    "{}({})",
                    error.name,
                    decoded.body.iter().map(show).collect::<Vec<_>>().join(", ")
                ),
                Err(_) => format!("{}(<undecodable arguments>)", error.name),
            },
            None => format!("reverted with unknown error 0x{}", hex::encode(data)),
        },
    }
}

fn show(value: &DynSolValue) -> String {
    match value {
        DynSolValue::Address(a) => a.to_checksum(None),
        DynSolValue::Uint(u, _) => u.to_string(),
        DynSolValue::Int(i, _) => i.to_string(),
        DynSolValue::Bool(b) => b.to_string(),
        DynSolValue::FixedBytes(w, size) => format!("0x{}", hex::encode(&w[..*size])),
        DynSolValue::Bytes(b) => format!("0x{}", hex::encode(b)),
        DynSolValue::String(s) => format!("{s:?}"),
        DynSolValue::Array(items) | DynSolValue::FixedArray(items) | DynSolValue::Tuple(items) => {
            format!(
                "[{}]",
                items.iter().map(show).collect::<Vec<_>>().join(", ")
            )
        }
        other => format!("{other:?}"),
    }
}

/// The decoded custom error of a failed call, or the node's message.
pub fn revert_reason(e: &RpcError<TransportErrorKind>) -> String {
    match e.as_error_resp() {
        Some(payload) => match payload.as_revert_data() {
            Some(data) => decode(&data),
            None => payload.message.to_string(),
        },
        None => e.to_string(),
    }
}

/// A failed simulation or read: a revert by its decoded name, anything else as the chain's RPC
/// error.
pub fn simulation_error(
    client: &ChainClient,
    label: &str,
    e: RpcError<TransportErrorKind>,
) -> ChainError {
    // Only an answer that says the call reverts is a simulation failure; a rate limit, a node
    // error or a dead endpoint is the endpoint's failure, reported as such.
    if !is_revert(&e) {
        return client.rpc_err(e);
    }
    ChainError::Simulation {
        chain: client.name.clone(),
        label: label.to_string(),
        reason: revert_reason(&e),
    }
}

/// Whether a node's error answer says the call reverts (as opposed to a failure of the node).
pub fn is_revert(e: &RpcError<TransportErrorKind>) -> bool {
    e.as_error_resp().is_some_and(|payload| {
        payload.as_revert_data().is_some()
            || payload.code == 3
            || payload.message.to_lowercase().contains("revert")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::{primitives::Address, sol_types::SolError};

    #[test]
    fn names_custom_errors_with_arguments() {
        let data = bindings::DocumentRegistry::EnforcedPause {}.abi_encode();
        assert_eq!(decode(&data), "EnforcedPause()");
        let data = bindings::DocumentRegistry::AccessControlUnauthorizedAccount {
            account: Address::repeat_byte(0x11),
            neededRole: [0x22; 32].into(),
        }
        .abi_encode();
        let text = decode(&data);
        assert!(
            text.starts_with("AccessControlUnauthorizedAccount(0x1111"),
            "{text}"
        );
    }

    #[test]
    fn falls_back_for_unknown_and_empty_data() {
        assert_eq!(decode(&[]), "reverted without a reason");
        assert!(decode(&[1, 2, 3, 4, 5]).contains("unknown error 0x0102030405"));
    }
}
