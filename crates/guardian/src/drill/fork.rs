//! One forked chain of the drill: the send guard in front of the real endpoint, anvil forking
//! through it at the latest block, and acting there as any account: impersonated, funded for gas,
//! sending unsigned transactions that only the fork ever sees, with mining held.

use std::collections::{BTreeMap, BTreeSet};

use alloy::{
    primitives::{Address, Bytes, TxHash, U256},
    providers::Provider,
    sol_types::SolCall,
};
use bindings::safe::Safe;
use serde_json::{Value, json};

use super::proxy::SendGuard;
use crate::{
    anvil::{Anvil, AnvilOptions},
    chain::{ChainClient, revert::revert_reason},
    config::{ChainConfig, RpcSettings},
    safe::{Confirmation, SafeCall, SafeTx},
};

/// Gas money given to every account the drill acts as (added to what it holds).
const GAS_MONEY: u128 = 100_000_000_000_000_000_000;

/// Who the drill acts as for a role holder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// An account without code (or an EIP-7702 delegated one): impersonated directly.
    Account(Address),
    /// A Safe: `threshold` of its owners approve the hash, one executes.
    Safe {
        /// The Safe.
        address: Address,
        /// The owners who approve, ascending, `threshold` of them.
        approvers: Vec<Address>,
    },
    /// Some other contract: the drill cannot say what it would do.
    Contract(Address),
}

impl Actor {
    /// The role holder's address.
    pub fn address(&self) -> Address {
        match self {
            Self::Account(a) | Self::Contract(a) => *a,
            Self::Safe { address, .. } => *address,
        }
    }

    /// In words, for the report.
    pub fn describe(&self) -> String {
        match self {
            Self::Account(a) => format!("account {a}"),
            Self::Safe { address, approvers } => {
                format!("Safe {address} ({} owners approving)", approvers.len())
            }
            Self::Contract(a) => format!("contract {a}"),
        }
    }
}

/// A call the drill makes as a role holder.
#[derive(Debug, Clone)]
pub struct Planned {
    /// Who makes it.
    pub actor: Actor,
    /// The contract called.
    pub to: Address,
    /// Native coin sent along.
    pub value: U256,
    /// Calldata.
    pub data: Bytes,
    /// Transactions sent (and mined) before it: a token approval.
    pub before: Vec<Tx>,
}

/// One transaction the drill sends on the fork, unsigned, from an impersonated account.
#[derive(Debug, Clone)]
pub struct Tx {
    /// The sender.
    pub from: Address,
    /// The contract called.
    pub to: Address,
    /// Native coin sent along.
    pub value: U256,
    /// Calldata.
    pub data: Bytes,
}

/// What became of one planned call.
#[derive(Debug, Clone)]
pub struct Sent {
    /// Its transaction, when it was sent.
    pub tx: Option<TxHash>,
    /// Why it failed (a decoded revert, the node's refusal), if it did.
    pub error: Option<String>,
}

/// A forked chain. Dropping it stops anvil and the guard.
pub struct Fork {
    /// The chain's name in the manifest.
    pub chain: String,
    /// The block forked at (the real chain's latest, read through the guard).
    pub block: u64,
    /// A client of the fork (never of the real chain).
    pub client: ChainClient,
    /// The guard in front of the real endpoint.
    pub guard: SendGuard,
    anvil: Anvil,
    funded: BTreeSet<Address>,
}

/// The first http(s) endpoint of a chain (anvil forks over HTTP).
fn http_endpoint(cfg: &ChainConfig) -> Option<&crate::secret::RpcUrl> {
    cfg.rpc_urls
        .iter()
        .find(|u| matches!(u.expose().scheme(), "http" | "https"))
}

impl Fork {
    /// Starts the guard in front of `cfg`'s real endpoint, reads the latest block through it,
    /// and forks it with anvil (`binary`), holding mining.
    pub async fn start(
        chain: &str,
        cfg: &ChainConfig,
        binary: &std::path::Path,
    ) -> Result<Self, String> {
        let upstream = http_endpoint(cfg).ok_or_else(|| {
            format!("chain {chain} has no http(s) endpoint in the manifest: anvil forks over HTTP")
        })?;
        let guard = SendGuard::start(upstream)
            .await
            .map_err(|e| e.to_string())?;
        let guard_url: crate::secret::RpcUrl = guard.url.parse()?;
        let reader = ChainClient::connect(
            chain,
            std::slice::from_ref(&guard_url),
            Some(cfg.chain_id),
            &RpcSettings::default(),
        )
        .await
        .map_err(|e| format!("cannot read chain {chain}: {e}"))?;
        let block = reader.provider().get_block_number().await.map_err(|e| {
            format!(
                "cannot read the latest block of {chain}: {}",
                reader.rpc_err(e)
            )
        })?;
        let options = AnvilOptions {
            binary: binary.to_path_buf(),
            port: 0,
            chain_id: cfg.chain_id,
            block_time: None,
            hardfork: None,
            pruned: false,
        };
        let extra = [
            "--fork-url".to_string(),
            guard.url.clone(),
            "--fork-block-number".to_string(),
            block.to_string(),
        ];
        let anvil = Anvil::spawn_with_args(&options, &extra)
            .await
            .map_err(|e| format!("cannot fork {chain}: {e}"))?;
        let settings = RpcSettings {
            replace_after_blocks: 0,
            receipt_timeout_secs: 30,
            ..RpcSettings::default()
        };
        let client = ChainClient::connect(
            chain,
            std::slice::from_ref(&anvil.url),
            Some(cfg.chain_id),
            &settings,
        )
        .await
        .map_err(|e| format!("cannot connect to the fork of {chain}: {e}"))?;
        let fork = Self {
            chain: chain.to_string(),
            block,
            client,
            guard,
            anvil,
            funded: BTreeSet::new(),
        };
        fork.rpc("evm_setAutomine", json!([false])).await?;
        Ok(fork)
    }

    /// Stops anvil (the guard stops when dropped).
    pub async fn stop(self) {
        self.anvil.stop().await;
    }

    /// One raw request to the fork.
    async fn rpc(&self, method: &str, params: Value) -> Result<Value, String> {
        self.client
            .provider()
            .raw_request::<_, Value>(method.to_string().into(), params)
            .await
            .map_err(|e| {
                format!(
                    "{method} on the fork of {}: {}",
                    self.chain,
                    revert_reason(&e)
                )
            })
    }

    /// Lets the drill send as `who`, with gas money added to what it holds.
    async fn impersonate(&mut self, who: Address) -> Result<(), String> {
        if self.funded.contains(&who) {
            return Ok(());
        }
        self.rpc("anvil_impersonateAccount", json!([who])).await?;
        let balance = self
            .client
            .provider()
            .get_balance(who)
            .await
            .map_err(|e| format!("cannot read the balance of {who}: {}", revert_reason(&e)))?;
        let topped = balance.saturating_add(U256::from(GAS_MONEY));
        self.rpc("anvil_setBalance", json!([who, topped])).await?;
        self.funded.insert(who);
        Ok(())
    }

    /// Mines one block; its number.
    pub async fn mine(&self) -> Result<u64, String> {
        self.rpc("evm_mine", json!([])).await?;
        self.client
            .provider()
            .get_block_number()
            .await
            .map_err(|e| revert_reason(&e))
    }

    /// The gas `tx` takes on the fork's latest state, or its decoded revert.
    pub async fn simulate(&self, tx: &Tx) -> Result<u64, String> {
        let tx = json!({"from": tx.from, "to": tx.to, "value": tx.value, "input": tx.data});
        let gas = self.rpc_raw("eth_estimateGas", json!([tx])).await?;
        let gas = gas
            .as_str()
            .and_then(|h| u64::from_str_radix(h.trim_start_matches("0x"), 16).ok())
            .ok_or("the fork gave no gas estimate")?;
        Ok(gas)
    }

    /// A raw request whose failure is the decoded revert alone (for simulations).
    async fn rpc_raw(&self, method: &str, params: Value) -> Result<Value, String> {
        self.client
            .provider()
            .raw_request::<_, Value>(method.to_string().into(), params)
            .await
            .map_err(|e| revert_reason(&e))
    }

    /// Sends an unsigned transaction from an impersonated account into the fork's pool.
    async fn send(&mut self, tx: &Tx, gas: u64) -> Result<TxHash, String> {
        self.impersonate(tx.from).await?;
        let tx = json!({
            "from": tx.from, "to": tx.to, "value": tx.value, "input": tx.data,
            // Room above the estimate: a Safe's execTransaction checks gasleft() itself.
            "gas": gas.saturating_mul(3) / 2 + 50_000,
        });
        let hash = self.rpc("eth_sendTransaction", json!([tx])).await?;
        serde_json::from_value(hash).map_err(|e| format!("the fork answered no hash: {e}"))
    }

    /// Whether transaction `hash` succeeded; `None` when it was not mined.
    async fn succeeded(&self, hash: TxHash) -> Result<Option<bool>, String> {
        let receipt = self
            .client
            .provider()
            .get_transaction_receipt(hash)
            .await
            .map_err(|e| revert_reason(&e))?;
        Ok(receipt.map(|r| r.status()))
    }

    /// Who the drill acts as for `holder`: an account without code, a Safe (read on the fork),
    /// or another contract.
    pub async fn actor(&self, holder: Address) -> Actor {
        let code = self.client.provider().get_code_at(holder).await;
        match code {
            Ok(code) if code.is_empty() || code.starts_with(&[0xef, 0x01, 0x00]) => {
                Actor::Account(holder)
            }
            _ => match crate::safe::read(&self.client, holder).await {
                Ok(info) if info.threshold > 0 => {
                    let mut owners = info.owners.clone();
                    owners.sort();
                    owners.truncate(info.threshold as usize);
                    Actor::Safe {
                        address: holder,
                        approvers: owners,
                    }
                }
                _ => Actor::Contract(holder),
            },
        }
    }

    /// Runs `calls` as their actors: first whatever must come before (approvals of Safe
    /// transactions, token approvals), mined in one block; then every call that its simulation
    /// lets through, mined together in ONE block. That block's number (when anything was sent)
    /// and what became of each call.
    pub async fn run(&mut self, calls: &[Planned]) -> Result<(Option<u64>, Vec<Sent>), String> {
        // (from, to, value, data, whether to simulate the transaction itself): a Safe's second
        // transaction of a block cannot be simulated before its first is mined (its nonce), so
        // a Safe's call is simulated as the Safe makes it instead.
        let mut finals: Vec<Result<(Tx, bool), String>> = Vec::new();
        let mut before: Vec<Tx> = Vec::new();
        let mut safe_nonces: BTreeMap<Address, u64> = BTreeMap::new();
        for call in calls {
            before.extend(call.before.iter().cloned());
            finals.push(match &call.actor {
                Actor::Account(a) => Ok((
                    Tx {
                        from: *a,
                        to: call.to,
                        value: call.value,
                        data: call.data.clone(),
                    },
                    true,
                )),
                Actor::Contract(c) => Err(format!(
                    "its role holder {c} is a contract the drill cannot act as (not a Safe)"
                )),
                Actor::Safe { address, approvers } => {
                    let nonce = match safe_nonces.get(address) {
                        Some(n) => *n,
                        None => {
                            crate::safe::read(&self.client, *address)
                                .await
                                .map_err(|e| format!("cannot read Safe {address}: {e}"))?
                                .nonce
                        }
                    };
                    safe_nonces.insert(*address, nonce + 1);
                    let safe_call = SafeCall {
                        label: String::new(),
                        to: call.to,
                        value: call.value,
                        data: call.data.clone(),
                    };
                    let tx = SafeTx::batch(&[safe_call], Address::ZERO, nonce)
                        .map_err(|e| e.to_string())?;
                    let hash = tx
                        .hashes(self.client_chain_id().await?, *address)
                        .safe_tx_hash;
                    for owner in approvers {
                        let approve = Safe::approveHashCall {
                            hashToApprove: hash,
                        }
                        .abi_encode();
                        before.push(Tx {
                            from: *owner,
                            to: *address,
                            value: U256::ZERO,
                            data: approve.into(),
                        });
                    }
                    let data = exec_data(&tx, approvers);
                    let exec = Tx {
                        from: approvers[0],
                        to: *address,
                        value: U256::ZERO,
                        data,
                    };
                    Ok((exec, false))
                }
            });
        }
        if !before.is_empty() {
            let mut sent = Vec::new();
            for tx in &before {
                let gas = self.simulate(tx).await?;
                sent.push(self.send(tx, gas).await?);
            }
            self.mine().await?;
            for hash in sent {
                if self.succeeded(hash).await? != Some(true) {
                    return Err(format!(
                        "a preparing transaction failed on the fork: {hash}"
                    ));
                }
            }
        }
        let mut results = Vec::new();
        let mut any = false;
        for (call, fin) in calls.iter().zip(finals) {
            let sent = match fin {
                Err(error) => Sent {
                    tx: None,
                    error: Some(error),
                },
                Ok((tx, whole)) => {
                    // The call as its holder would make it, for the contract's own reason.
                    let as_holder = Tx {
                        from: call.actor.address(),
                        to: call.to,
                        value: call.value,
                        data: call.data.clone(),
                    };
                    let inner = self.simulate(&as_holder).await;
                    let outer = match inner {
                        Ok(_) if whole => self.simulate(&tx).await,
                        // The Safe's own checks and approvals cost about this much more.
                        Ok(gas) => Ok(gas + 150_000),
                        Err(e) => Err(e),
                    };
                    match outer {
                        Err(error) => Sent {
                            tx: None,
                            error: Some(error),
                        },
                        Ok(gas) => match self.send(&tx, gas).await {
                            Ok(hash) => {
                                any = true;
                                Sent {
                                    tx: Some(hash),
                                    error: None,
                                }
                            }
                            Err(error) => Sent {
                                tx: None,
                                error: Some(error),
                            },
                        },
                    }
                }
            };
            results.push(sent);
        }
        if !any {
            return Ok((None, results));
        }
        let block = self.mine().await?;
        for r in &mut results {
            if let Some(hash) = r.tx {
                match self.succeeded(hash).await? {
                    Some(true) => {}
                    Some(false) => r.error = Some("reverted on the fork".into()),
                    None => r.error = Some(format!("not mined in block {block}")),
                }
            }
        }
        Ok((Some(block), results))
    }

    async fn client_chain_id(&self) -> Result<u64, String> {
        self.client
            .provider()
            .get_chain_id()
            .await
            .map_err(|e| revert_reason(&e))
    }
}

/// `execTransaction` of `tx` with every approver's pre-validated signature (`r` = the owner,
/// `s` = 0, `v` = 1, ascending by owner).
fn exec_data(tx: &SafeTx, approvers: &[Address]) -> Bytes {
    let confirmations: Vec<(Address, Confirmation)> = approvers
        .iter()
        .map(|o| (*o, Confirmation::ApprovedHash))
        .collect();
    crate::safe::tx::exec_call(tx, &confirmations)
        .abi_encode()
        .into()
}
