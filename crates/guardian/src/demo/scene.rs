//! The drill's actors on the exploit's chain: ordinary users (registrations, deposits, a
//! release), and the attacker with its drainer contract, one transaction per block.

use alloy::{
    eips::BlockId,
    network::EthereumWallet,
    primitives::{Address, B256, TxHash, U256, keccak256, utils::parse_ether},
    providers::{DynProvider, Provider, ProviderBuilder},
};
use bindings::{DocumentRegistry, PaymentEscrow, drill::EscrowDrainer};
use futures::future::try_join_all;
use serde::Serialize;

use crate::chain::Signer;

/// Releases of the same payment per attacker transaction.
pub const ROUNDS: u64 = 3;
/// What the attacker deposits once (and then releases again and again).
pub const ATTACK_DEPOSIT_ETH: &str = "1";
/// Gas the attacker's transactions carry (set, not estimated: they are sent even when they
/// would revert, as an attacker's script does).
const ATTACK_GAS: u64 = 1_500_000;

/// Why an actor's transaction failed.
#[derive(Debug, thiserror::Error)]
#[error("{actor}: {message}")]
pub struct SceneError {
    actor: &'static str,
    message: String,
}

fn fail(actor: &'static str) -> impl Fn(String) -> SceneError {
    move |message| SceneError { actor, message }
}

/// One attacker transaction, as mined.
#[derive(Debug, Clone, Serialize)]
pub struct AttackTx {
    /// Its hash.
    pub hash: TxHash,
    /// Its block.
    pub block: u64,
    /// Whether it reverted.
    pub reverted: bool,
    /// The revert's custom error, when it reverted (`EnforcedPause()`).
    pub error: Option<String>,
    /// When the attacker saw its receipt, Unix milliseconds.
    pub seen_at: i64,
}

/// The exploit's chain and its contracts.
pub struct Scene {
    url: url::Url,
    /// The registry.
    pub registry: Address,
    /// The escrow under attack.
    pub escrow: Address,
    /// A read-only provider.
    pub reader: DynProvider,
}

/// A document hash of the drill.
fn doc(n: u64) -> B256 {
    keccak256(format!("integra-demo-document-{n}"))
}

impl Scene {
    /// The actors on the chain at `url`.
    pub fn new(url: url::Url, registry: Address, escrow: Address) -> Self {
        let reader = ProviderBuilder::new().connect_http(url.clone()).erased();
        Self {
            url,
            registry,
            escrow,
            reader,
        }
    }

    /// Dev account `index` with a provider that signs as it.
    pub fn account(&self, index: u32) -> Result<(Address, DynProvider), SceneError> {
        let signer =
            Signer::dev_account("user", index).map_err(|e| fail("dev account")(e.to_string()))?;
        let provider = ProviderBuilder::new()
            .wallet(EthereumWallet::from(signer.key().clone()))
            .connect_http(self.url.clone())
            .erased();
        Ok((signer.address(), provider))
    }

    /// Ordinary users: three register a document and escrow 5 ETH each for a merchant; one pays
    /// a small invoice and releases it. Returns the victims' deposits.
    pub async fn traffic(&self, victims: &[u32], merchant: u32) -> Result<U256, SceneError> {
        let user = fail("user traffic");
        let (merchant, _) = self.account(merchant)?;
        let five = parse_ether("5").map_err(|e| user(e.to_string()))?;
        let small = parse_ether("0.2").map_err(|e| user(e.to_string()))?;
        try_join_all(victims.iter().enumerate().map(|(i, index)| async move {
            let user = fail("user traffic");
            let (_, p) = self.account(*index)?;
            let registry = DocumentRegistry::new(self.registry, p.clone());
            let escrow = PaymentEscrow::new(self.escrow, p);
            let fee = registry
                .registrationFee()
                .call()
                .await
                .map_err(|e| user(e.to_string()))?;
            let d = doc(i as u64 + 1);
            mined(
                registry
                    .registerDocument(d, d, Address::ZERO)
                    .value(fee)
                    .send()
                    .await,
                "register",
            )
            .map_err(&user)?
            .await
            .map_err(&user)?;
            mined(
                escrow
                    .deposit(d, Address::ZERO, five, merchant)
                    .value(five)
                    .send()
                    .await,
                "deposit",
            )
            .map_err(&user)?
            .await
            .map_err(&user)?;
            // The first user also pays a small invoice and releases it: ordinary outflow.
            if i == 0 {
                let receipt = escrow
                    .deposit(d, Address::ZERO, small, merchant)
                    .value(small)
                    .send()
                    .await
                    .map_err(|e| user(format!("deposit: {e}")))?
                    .get_receipt()
                    .await
                    .map_err(|e| user(format!("deposit: {e}")))?;
                let id = receipt
                    .decoded_log::<PaymentEscrow::PaymentDeposited>()
                    .map(|l| l.data.paymentId)
                    .ok_or_else(|| user("deposit: no PaymentDeposited event".into()))?;
                mined(escrow.release(id).send().await, "release")
                    .map_err(&user)?
                    .await
                    .map_err(&user)?;
            }
            Ok::<_, SceneError>(())
        }))
        .await?;
        Ok(five * U256::from(victims.len()))
    }

    /// The attacker prepares: a registered document and the drainer contract. Returns the
    /// drainer's address.
    pub async fn prepare_attacker(&self, attacker: u32) -> Result<Address, SceneError> {
        let att = fail("attacker");
        let (_, p) = self.account(attacker)?;
        let registry = DocumentRegistry::new(self.registry, p.clone());
        let fee = registry
            .registrationFee()
            .call()
            .await
            .map_err(|e| att(e.to_string()))?;
        mined(
            registry
                .registerDocument(doc(99), doc(99), Address::ZERO)
                .value(fee)
                .send()
                .await,
            "register",
        )
        .map_err(&att)?
        .await
        .map_err(&att)?;
        let drainer = EscrowDrainer::deploy(p, self.escrow)
            .await
            .map_err(|e| att(format!("deploying the drainer: {e}")))?;
        Ok(*drainer.address())
    }

    /// The exploit's first transaction: deposit once, release it [`ROUNDS`] times.
    pub async fn first_strike(
        &self,
        attacker: u32,
        drainer: Address,
    ) -> Result<AttackTx, SceneError> {
        let (_, p) = self.account(attacker)?;
        let d = EscrowDrainer::new(drainer, p);
        let value = parse_ether(ATTACK_DEPOSIT_ETH).map_err(|e| fail("attacker")(e.to_string()))?;
        let sent = d
            .attack(doc(99), U256::from(ROUNDS))
            .value(value)
            .gas(ATTACK_GAS)
            .send()
            .await;
        self.outcome(sent, &d, true).await
    }

    /// The attacker's next transaction: release the same payment [`ROUNDS`] more times.
    pub async fn strike_again(
        &self,
        attacker: u32,
        drainer: Address,
    ) -> Result<AttackTx, SceneError> {
        let (_, p) = self.account(attacker)?;
        let d = EscrowDrainer::new(drainer, p);
        let sent = d.again(U256::from(ROUNDS)).gas(ATTACK_GAS).send().await;
        self.outcome(sent, &d, false).await
    }

    async fn outcome(
        &self,
        sent: Result<
            alloy::providers::PendingTransactionBuilder<alloy::network::Ethereum>,
            alloy::contract::Error,
        >,
        drainer: &EscrowDrainer::EscrowDrainerInstance<DynProvider>,
        first: bool,
    ) -> Result<AttackTx, SceneError> {
        let att = fail("attacker");
        let pending = sent.map_err(|e| att(e.to_string()))?;
        let receipt = pending
            .get_receipt()
            .await
            .map_err(|e| att(e.to_string()))?;
        let seen_at = crate::storage::now_ms();
        let block = receipt.block_number.unwrap_or_default();
        let reverted = !receipt.status();
        // Why it reverted: the same call replayed on the state it met.
        let error = if reverted {
            // The state at the end of its block: what it met, a pause mined ahead of it included.
            let at = BlockId::number(block);
            let replay = if first {
                drainer
                    .attack(doc(99), U256::from(ROUNDS))
                    .value(parse_ether(ATTACK_DEPOSIT_ETH).unwrap_or_default())
                    .call()
                    .block(at)
                    .await
                    .err()
            } else {
                drainer
                    .again(U256::from(ROUNDS))
                    .call()
                    .block(at)
                    .await
                    .err()
            };
            Some(replay.map_or_else(|| "reverted".to_string(), |e| revert_name(&e)))
        } else {
            None
        };
        Ok(AttackTx {
            hash: receipt.transaction_hash,
            block,
            reverted,
            error,
            seen_at,
        })
    }

    /// The balance of `who`.
    pub async fn balance(&self, who: Address, block: Option<u64>) -> Result<U256, SceneError> {
        let q = self.reader.get_balance(who);
        let q = match block {
            Some(b) => q.block_id(BlockId::number(b)),
            None => q,
        };
        q.await
            .map_err(|e| fail("reading a balance")(e.to_string()))
    }
}

/// `EnforcedPause()` (the pause's revert) by name; other reverts by selector.
fn revert_name(e: &alloy::contract::Error) -> String {
    let data = e.as_revert_data().unwrap_or_default();
    if data.starts_with(&keccak256("EnforcedPause()")[..4]) {
        "EnforcedPause()".to_string()
    } else if data.len() >= 4 {
        format!("0x{}", alloy::hex::encode(&data[..4]))
    } else {
        "reverted".to_string()
    }
}

/// A sent transaction's receipt, as a future; an unmined or failed one is an error naming `what`.
fn mined(
    sent: Result<
        alloy::providers::PendingTransactionBuilder<alloy::network::Ethereum>,
        alloy::contract::Error,
    >,
    what: &'static str,
) -> Result<impl std::future::Future<Output = Result<(), String>>, String> {
    let pending = sent.map_err(|e| format!("{what}: {e}"))?;
    Ok(async move {
        let r = pending
            .get_receipt()
            .await
            .map_err(|e| format!("{what}: {e}"))?;
        if r.status() {
            Ok(())
        } else {
            Err(format!("{what}: reverted"))
        }
    })
}

/// When each new block reached the node (a `newHeads` subscription of the drill's own): where
/// the drill's times start.
pub struct Arrivals {
    seen: std::sync::Arc<std::sync::Mutex<std::collections::BTreeMap<u64, i64>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Arrivals {
    /// Subscribes to new heads at `ws`.
    pub async fn watch(ws: &crate::secret::RpcUrl) -> Result<Self, SceneError> {
        let provider = crate::chain::ws::pubsub_provider(ws)
            .await
            .map_err(|e| fail("watching new heads")(e.to_string()))?;
        let mut sub = provider
            .subscribe_blocks()
            .await
            .map_err(|e| fail("watching new heads")(e.to_string()))?;
        let seen = std::sync::Arc::new(std::sync::Mutex::new(std::collections::BTreeMap::new()));
        let log = seen.clone();
        let task = tokio::spawn(async move {
            let _keep = provider;
            while let Ok(head) = sub.recv().await {
                log.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(head.number, crate::storage::now_ms());
            }
        });
        Ok(Self { seen, task })
    }

    /// When block `number` arrived, Unix milliseconds.
    pub fn of(&self, number: u64) -> Option<i64> {
        self.seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&number)
            .copied()
    }
}

impl Drop for Arrivals {
    fn drop(&mut self) {
        self.task.abort();
    }
}
