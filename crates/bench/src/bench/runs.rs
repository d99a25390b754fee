//! Timed runs on interval-mined chains: one `guardian pause`, or the send-one-wait-for-its-receipt
//! script it replaces, each started at a chosen moment of the block interval.

use std::{
    collections::BTreeMap,
    path::Path,
    sync::Mutex,
    time::{Duration, Instant},
};

use alloy::{
    network::EthereumWallet,
    primitives::Address,
    providers::{PendingTransactionError, Provider, ProviderBuilder},
    signers::local::PrivateKeySigner,
};
use bindings::DocumentRegistry;

use guardian::{
    chain::{ChainClient, ChainError},
    deployment::Deployment,
    response::pause::{self, Outcome, PauseRequest},
    secret::RpcUrl,
};

use super::{BenchError, Sample, secs};

/// Switches a dev chain from mining per transaction to one block every `secs` seconds.
pub async fn set_interval_mining(client: &ChainClient, secs: u64) -> Result<(), ChainError> {
    client
        .provider()
        .raw_request::<_, serde_json::Value>("evm_setIntervalMining".into(), (secs,))
        .await
        .map_err(|e| client.rpc_err(e))?;
    Ok(())
}

/// The head block of every chain, read concurrently.
pub async fn heads(clients: &[ChainClient]) -> Result<BTreeMap<String, u64>, ChainError> {
    let numbers = futures::future::join_all(clients.iter().map(|c| async move {
        c.provider()
            .get_block_number()
            .await
            .map_err(|e| c.rpc_err(e))
    }))
    .await;
    clients
        .iter()
        .zip(numbers)
        .map(|(c, n)| Ok((c.name.clone(), n?)))
        .collect()
}

/// The chains that mined more blocks between `before` and `after` than `elapsed` allows at one
/// block per `block_time` (with two blocks of slack), in words; `None` when all kept the pace.
///
/// Anvil queues one block job per automine wake-up, and after a heavy automined deployment the
/// backlog can keep producing empty blocks for a while after interval mining is switched on; a run
/// measured during such a burst says nothing about one-second blocks.
pub fn too_many_blocks(
    before: &BTreeMap<String, u64>,
    after: &BTreeMap<String, u64>,
    elapsed: Duration,
    block_time: Duration,
) -> Option<String> {
    let allowed = (elapsed.as_secs_f64() / block_time.as_secs_f64()).ceil() as u64 + 2;
    let fast: Vec<String> = after
        .iter()
        .filter_map(|(chain, a)| {
            let mined = a.saturating_sub(*before.get(chain)?);
            (mined > allowed)
                .then(|| format!("{chain} mined {mined} blocks in {} s", secs(elapsed)))
        })
        .collect();
    (!fast.is_empty()).then(|| fast.join(", "))
}

/// Waits until every chain mines at its interval (see [`too_many_blocks`]).
pub async fn wait_steady(
    clients: &[ChainClient],
    block_time: Duration,
    limit: Duration,
) -> Result<(), BenchError> {
    let deadline = Instant::now() + limit;
    let window = block_time * 2;
    loop {
        let before = heads(clients).await?;
        tokio::time::sleep(window).await;
        let after = heads(clients).await?;
        match too_many_blocks(&before, &after, window, block_time) {
            None => return Ok(()),
            Some(why) if Instant::now() > deadline => {
                return Err(BenchError::Unsteady(why, limit));
            }
            Some(why) => tracing::warn!("waiting for anvil to settle: {why}"),
        }
    }
}

/// Waits until `client` mines a new block, then `after` more.
pub async fn align_to_block(
    client: &ChainClient,
    after: Duration,
    block_time: Duration,
) -> Result<(), BenchError> {
    let provider = client.provider();
    let limit = block_time * 3 + Duration::from_secs(2);
    let start = provider
        .get_block_number()
        .await
        .map_err(|e| client.rpc_err(e))?;
    let deadline = Instant::now() + limit;
    loop {
        tokio::time::sleep(Duration::from_millis(5)).await;
        let head = provider
            .get_block_number()
            .await
            .map_err(|e| client.rpc_err(e))?;
        if head > start {
            break;
        }
        if Instant::now() > deadline {
            return Err(BenchError::NoBlocks(client.name.clone(), limit));
        }
    }
    tokio::time::sleep(after).await;
    Ok(())
}

/// No environment: the benchmark's signers are dev accounts, and `GUARDIAN_*` settings of the
/// shell it runs in must not change what is measured.
fn no_env(_: &str) -> Option<String> {
    None
}

/// Times one `guardian pause` (or `unpause`) as the CLI runs it, from opening the manifest to
/// every target re-read; `heads` are the chain heads just before.
pub async fn guardian_run(
    manifest: &Path,
    request: &PauseRequest,
    heads: &BTreeMap<String, u64>,
) -> Result<Sample, BenchError> {
    let sending: Mutex<Option<Duration>> = Mutex::new(None);
    let started = Instant::now();
    let deployment = Deployment::open(manifest, None, &no_env).await?;
    // pause::run reports progress in words; its "sending ..." line marks the end of the reads.
    let progress = |line: &str| {
        if line.starts_with("sending")
            && let Ok(mut at) = sending.lock()
        {
            at.get_or_insert(started.elapsed());
        }
    };
    let result = pause::run(&deployment, request, started, &progress).await;
    let wall = started.elapsed();
    let sending_at = sending.lock().ok().and_then(|s| *s);
    let report = match result {
        Ok(r) => r,
        Err(e) => {
            return Ok(Sample {
                wall,
                sending_at,
                failure: Some(e.to_string()),
                ..Sample::default()
            });
        }
    };
    let not_done: Vec<String> = report
        .targets
        .iter()
        .filter(|t| !matches!(t.outcome, Outcome::Changed | Outcome::AlreadyDone))
        .map(|t| {
            format!(
                "{} ({}): {:?}{}",
                t.name,
                t.chain,
                t.outcome,
                t.error
                    .as_deref()
                    .map(|e| format!(", {e}"))
                    .unwrap_or_default()
            )
        })
        .collect();
    let spanned = report.blocks.values().map(|(a, b)| b - a + 1).max();
    let offset = report
        .blocks
        .iter()
        .filter_map(|(chain, (first, _))| heads.get(chain).map(|h| first.saturating_sub(*h)))
        .max();
    Ok(Sample {
        wall,
        sending_at,
        transactions: report.transactions,
        spanned,
        offset,
        heads: heads.clone(),
        blocks: report.blocks.clone(),
        already: report
            .targets
            .iter()
            .filter(|t| t.outcome == Outcome::AlreadyDone)
            .count(),
        failure: (!not_done.is_empty()).then(|| {
            format!(
                "{} of {} target(s) not in the wanted state after the run, first: {}",
                not_done.len(),
                report.targets.len(),
                not_done[0]
            )
        }),
        machine: None,
    })
}

/// One chain's part of the script: its endpoint and the contracts to pause, in order.
#[derive(Debug, Clone)]
pub struct ScriptChain {
    /// Chain name.
    pub name: String,
    /// The endpoint.
    pub url: RpcUrl,
    /// The contracts.
    pub targets: Vec<Address>,
}

/// Times the hand-written way: for each chain in turn, for each contract, send `pause()` and wait
/// for its receipt before the next.
pub async fn script_run(
    chains: &[ScriptChain],
    key: &PrivateKeySigner,
    heads: &BTreeMap<String, u64>,
) -> Sample {
    let started = Instant::now();
    let mut blocks: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    let mut sent = 0;
    let mut failure = None;
    'chains: for chain in chains {
        let provider = ProviderBuilder::new()
            .wallet(EthereumWallet::from(key.clone()))
            .connect_http(chain.url.expose().clone());
        for address in &chain.targets {
            match pause_and_wait(&provider, *address).await {
                Ok(block) => {
                    sent += 1;
                    let e = blocks.entry(&chain.name).or_insert((block, block));
                    e.0 = e.0.min(block);
                    e.1 = e.1.max(block);
                }
                Err(e) => {
                    failure = Some(format!("pause {address} on `{}`: {e}", chain.name));
                    break 'chains;
                }
            }
        }
    }
    Sample {
        wall: started.elapsed(),
        sending_at: None,
        transactions: sent,
        spanned: blocks.values().map(|(a, b)| b - a + 1).max(),
        // Later chains start only when the earlier ones are done: only the first one's start counts.
        offset: chains.first().and_then(|c| {
            let (first, _) = blocks.get(c.name.as_str())?;
            Some(first.saturating_sub(*heads.get(&c.name)?))
        }),
        heads: heads.clone(),
        blocks: blocks
            .into_iter()
            .map(|(c, b)| (c.to_string(), b))
            .collect(),
        already: 0,
        failure,
        machine: None,
    }
}

/// Why one step of the script failed.
#[derive(Debug, thiserror::Error)]
enum ScriptError {
    #[error(transparent)]
    Send(#[from] alloy::contract::Error),
    #[error(transparent)]
    Receipt(#[from] PendingTransactionError),
    #[error("reverted in block {0}")]
    Reverted(u64),
}

async fn pause_and_wait(provider: &impl Provider, address: Address) -> Result<u64, ScriptError> {
    let receipt = DocumentRegistry::new(address, provider)
        .pause()
        .send()
        .await?
        .with_timeout(Some(Duration::from_secs(60)))
        .get_receipt()
        .await?;
    let block = receipt.block_number.unwrap_or_default();
    if receipt.status() {
        Ok(block)
    } else {
        Err(ScriptError::Reverted(block))
    }
}
