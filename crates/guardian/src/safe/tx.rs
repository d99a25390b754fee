//! A Safe transaction as the Safe (v1.4.1) hashes, checks and executes it: the EIP-712 `SafeTx`
//! and its hash, calls batched through the pinned `MultiSendCallOnly`, owners' confirmations
//! packed as `execTransaction` wants them, and the rules guardian holds every Safe transaction to.

use alloy::{
    primitives::{Address, B256, Bytes, U256, keccak256},
    sol,
    sol_types::{Eip712Domain, SolCall, SolStruct},
};
use serde::{Deserialize, Serialize};

sol! {
    /// The struct a Safe's owners sign (EIP-712 type `SafeTx`).
    #[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
    struct SafeTx {
        address to;
        uint256 value;
        bytes data;
        uint8 operation;
        uint256 safeTxGas;
        uint256 baseGas;
        uint256 gasPrice;
        address gasToken;
        address refundReceiver;
        uint256 nonce;
    }
}

/// `CALL`, the only operation guardian uses but for the batch library.
pub const CALL: u8 = 0;
/// `DELEGATECALL`: only ever to the pinned `MultiSendCallOnly`.
pub const DELEGATECALL: u8 = 1;

/// One call a Safe transaction makes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SafeCall {
    /// What it does, in words (`unpause registry`).
    pub label: String,
    /// The contract called.
    pub to: Address,
    /// Native coin sent along.
    pub value: U256,
    /// Calldata.
    pub data: Bytes,
}

/// Why a Safe transaction is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SafeTxError {
    /// A DELEGATECALL to anything but the pinned batch library.
    #[error(
        "a DELEGATECALL to {to}, which is not the pinned MultiSendCallOnly ({pinned}): refused (a delegate call runs foreign code as the Safe)"
    )]
    Delegatecall {
        /// Its target.
        to: Address,
        /// The pinned library.
        pinned: Address,
    },
    /// Gas refund fields that are not zero.
    #[error(
        "safeTxGas, baseGas, gasPrice, gasToken and refundReceiver must all be zero (no refund to anyone): {0}"
    )]
    Refund(String),
    /// An operation that is neither CALL nor DELEGATECALL.
    #[error("operation {0} is neither CALL (0) nor DELEGATECALL (1)")]
    Operation(u8),
    /// Nothing to do.
    #[error("a Safe transaction needs at least one call")]
    Empty,
}

/// The EIP-712 domain of `safe` on chain `chain_id` (Safe ≥ 1.3.0: chain id and contract only).
pub fn domain(chain_id: u64, safe: Address) -> Eip712Domain {
    Eip712Domain {
        chain_id: Some(U256::from(chain_id)),
        verifying_contract: Some(safe),
        ..Eip712Domain::default()
    }
}

/// What an owner checks on a hardware wallet before signing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Hashes {
    /// The EIP-712 domain separator.
    pub domain_hash: B256,
    /// The `SafeTx` struct hash (the "message hash").
    pub message_hash: B256,
    /// What is signed: `keccak256(0x1901 ‖ domain ‖ message)`, the Safe's `getTransactionHash`.
    pub safe_tx_hash: B256,
}

impl SafeTx {
    /// The transaction making `calls` from a Safe at `nonce`: one call directly, several as one
    /// DELEGATECALL of `multiSend` on `multisend` (the pinned `MultiSendCallOnly`).
    pub fn batch(calls: &[SafeCall], multisend: Address, nonce: u64) -> Result<Self, SafeTxError> {
        let (to, value, data, operation) = match calls {
            [] => return Err(SafeTxError::Empty),
            [one] => (one.to, one.value, one.data.clone(), CALL),
            many => {
                let packed = pack_multisend(many);
                let data = bindings::safe::MultiSendCallOnly::multiSendCall {
                    transactions: packed,
                }
                .abi_encode();
                (multisend, U256::ZERO, Bytes::from(data), DELEGATECALL)
            }
        };
        Ok(SafeTx {
            to,
            value,
            data,
            operation,
            safeTxGas: U256::ZERO,
            baseGas: U256::ZERO,
            gasPrice: U256::ZERO,
            gasToken: Address::ZERO,
            refundReceiver: Address::ZERO,
            nonce: U256::from(nonce),
        })
    }

    /// The no-op that cancels whatever waits at `nonce`: a call of nothing to the Safe itself.
    pub fn cancel(safe: Address, nonce: u64) -> Self {
        let call = SafeCall {
            label: "cancel".into(),
            to: safe,
            value: U256::ZERO,
            data: Bytes::new(),
        };
        Self::batch(&[call], Address::ZERO, nonce).expect("one call")
    }

    /// Its hashes for `safe` on chain `chain_id`.
    pub fn hashes(&self, chain_id: u64, safe: Address) -> Hashes {
        let domain = domain(chain_id, safe);
        Hashes {
            domain_hash: domain.hash_struct(),
            message_hash: self.eip712_hash_struct(),
            safe_tx_hash: self.eip712_signing_hash(&domain),
        }
    }

    /// Refuses what guardian never builds, signs or executes: a DELEGATECALL to anything but
    /// `multisend`, and any gas refund field that is not zero.
    pub fn check(&self, multisend: Address) -> Result<(), SafeTxError> {
        match self.operation {
            CALL => {}
            DELEGATECALL if self.to == multisend && multisend != Address::ZERO => {}
            DELEGATECALL => {
                return Err(SafeTxError::Delegatecall {
                    to: self.to,
                    pinned: multisend,
                });
            }
            other => return Err(SafeTxError::Operation(other)),
        }
        let mut set = Vec::new();
        for (name, zero) in [
            ("safeTxGas", self.safeTxGas.is_zero()),
            ("baseGas", self.baseGas.is_zero()),
            ("gasPrice", self.gasPrice.is_zero()),
            ("gasToken", self.gasToken == Address::ZERO),
            ("refundReceiver", self.refundReceiver == Address::ZERO),
        ] {
            if !zero {
                set.push(name);
            }
        }
        if set.is_empty() {
            Ok(())
        } else {
            Err(SafeTxError::Refund(format!("{} set", set.join(", "))))
        }
    }
}

/// `MultiSendCallOnly`'s packed encoding: per call, operation (1 byte, CALL), target (20),
/// value (32), data length (32), data.
pub fn pack_multisend(calls: &[SafeCall]) -> Bytes {
    let mut out = Vec::new();
    for c in calls {
        out.push(CALL);
        out.extend_from_slice(c.to.as_slice());
        out.extend_from_slice(&c.value.to_be_bytes::<32>());
        out.extend_from_slice(&U256::from(c.data.len()).to_be_bytes::<32>());
        out.extend_from_slice(&c.data);
    }
    Bytes::from(out)
}

/// How an owner confirmed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Confirmation {
    /// A signature of the `safeTxHash` (EIP-712, `v` 27/28; or `eth_sign`, `v` 31/32).
    Signature {
        /// The 65 bytes `r ‖ s ‖ v`.
        signature: Bytes,
    },
    /// The owner's on-chain `approveHash(safeTxHash)`.
    ApprovedHash,
}

/// Why a signature is not kept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// Not 65 bytes, or not a valid signature.
    #[error("not a signature of 65 bytes (r, s, v): {0}")]
    Malformed(String),
}

/// The owner whose key made `signature` over `safe_tx_hash` (EIP-712 with `v` 27/28, or
/// `eth_sign` of the hash with `v` 31/32, as the Safe reads them).
pub fn recover(safe_tx_hash: B256, signature: &[u8]) -> Result<Address, SignatureError> {
    if signature.len() != 65 {
        return Err(SignatureError::Malformed(format!(
            "{} bytes",
            signature.len()
        )));
    }
    let v = signature[64];
    let (hash, parity) = match v {
        27 | 28 => (safe_tx_hash, v == 28),
        31 | 32 => (
            alloy::primitives::eip191_hash_message(safe_tx_hash),
            v == 32,
        ),
        other => {
            return Err(SignatureError::Malformed(format!(
                "v = {other} (expected 27, 28, 31 or 32)"
            )));
        }
    };
    let sig = alloy::primitives::Signature::from_bytes_and_parity(&signature[..64], parity);
    sig.recover_address_from_prehash(&hash)
        .map_err(|e| SignatureError::Malformed(e.to_string()))
}

/// The `execTransaction` call that executes `tx` with `confirmations`.
pub fn exec_call(
    tx: &SafeTx,
    confirmations: &[(Address, Confirmation)],
) -> bindings::safe::Safe::execTransactionCall {
    bindings::safe::Safe::execTransactionCall {
        to: tx.to,
        value: tx.value,
        data: tx.data.clone(),
        operation: tx.operation,
        safeTxGas: tx.safeTxGas,
        baseGas: tx.baseGas,
        gasPrice: tx.gasPrice,
        gasToken: tx.gasToken,
        refundReceiver: tx.refundReceiver,
        signatures: pack_signatures(confirmations),
    }
}

/// The `signatures` argument of `execTransaction`: one entry per owner, in ascending owner
/// order, as the Safe requires.
pub fn pack_signatures(confirmations: &[(Address, Confirmation)]) -> Bytes {
    let mut sorted: Vec<&(Address, Confirmation)> = confirmations.iter().collect();
    sorted.sort_by_key(|(owner, _)| *owner);
    let mut out = Vec::with_capacity(65 * sorted.len());
    for (owner, c) in sorted {
        match c {
            Confirmation::Signature { signature } => out.extend_from_slice(signature),
            Confirmation::ApprovedHash => {
                out.extend_from_slice(B256::left_padding_from(owner.as_slice()).as_slice());
                out.extend_from_slice(&[0u8; 32]);
                out.push(1);
            }
        }
    }
    Bytes::from(out)
}

/// The hash of a Safe transaction's calls as recorded, to notice a proposal file edited after
/// it was made.
pub fn calls_digest(calls: &[SafeCall]) -> B256 {
    keccak256(pack_multisend(calls))
}

#[cfg(test)]
mod tests {
    use alloy::signers::SignerSync;

    use super::*;

    fn call(n: u8) -> SafeCall {
        SafeCall {
            label: format!("call {n}"),
            to: Address::repeat_byte(n),
            value: U256::from(n),
            data: Bytes::from(vec![n; n as usize]),
        }
    }

    #[test]
    fn one_call_is_a_call_and_several_one_delegatecall_of_the_pinned_batch_library() {
        let multisend = Address::repeat_byte(0xee);
        let one = SafeTx::batch(&[call(1)], multisend, 7).expect("one");
        assert_eq!(
            (one.to, one.operation, one.nonce),
            (call(1).to, CALL, U256::from(7))
        );
        assert!(one.check(multisend).is_ok());
        let two = SafeTx::batch(&[call(1), call(2)], multisend, 7).expect("two");
        assert_eq!((two.to, two.operation), (multisend, DELEGATECALL));
        assert!(two.check(multisend).is_ok());
        // The packed calls are inside: 1 + 20 + 32 + 32 + len per call.
        let packed = pack_multisend(&[call(1), call(2)]);
        assert_eq!(packed.len(), (85 + 1) + (85 + 2));
        assert!(two.data.windows(packed.len()).any(|w| w == packed.as_ref()));
        assert_eq!(
            SafeTx::batch(&[], multisend, 0).expect_err("empty"),
            SafeTxError::Empty
        );
    }

    #[test]
    fn a_delegatecall_elsewhere_and_any_refund_are_refused() {
        let multisend = Address::repeat_byte(0xee);
        let mut tx = SafeTx::batch(&[call(1), call(2)], multisend, 0).expect("batch");
        assert!(matches!(
            tx.check(Address::repeat_byte(0xdd)),
            Err(SafeTxError::Delegatecall { .. })
        ));
        tx.gasPrice = U256::from(1);
        tx.refundReceiver = Address::repeat_byte(5);
        let err = tx.check(multisend).expect_err("refund").to_string();
        assert!(err.contains("gasPrice, refundReceiver set"), "{err}");
    }

    #[test]
    fn signatures_recover_their_owner_and_are_packed_in_owner_order() {
        let hash = SafeTx::batch(&[call(1)], Address::ZERO, 0)
            .expect("tx")
            .hashes(31337, Address::repeat_byte(9))
            .safe_tx_hash;
        let key = alloy::signers::local::PrivateKeySigner::random();
        let sig = key.sign_hash_sync(&hash).expect("sign");
        let mut bytes = sig.as_bytes();
        assert_eq!(recover(hash, &bytes).expect("recover"), key.address());
        bytes[64] = 5;
        assert!(recover(hash, &bytes).is_err());
        assert!(recover(hash, &[1, 2, 3]).is_err());

        let low = Address::repeat_byte(1);
        let high = Address::repeat_byte(2);
        let packed = pack_signatures(&[
            (
                high,
                Confirmation::Signature {
                    signature: Bytes::from(sig.as_bytes().to_vec()),
                },
            ),
            (low, Confirmation::ApprovedHash),
        ]);
        assert_eq!(packed.len(), 130);
        // The lower owner first: its approval is r = owner, s = 0, v = 1.
        assert_eq!(&packed[12..32], low.as_slice());
        assert_eq!(packed[64], 1);
        assert_eq!(&packed[65..130], &sig.as_bytes()[..]);
    }
}
