//! The bot that watches the pool for a pause and answers it, and the private builder stand-in
//! that takes a transaction without ever showing it in the public pool.

use super::*;

/// A pause seen in the pool: its hash and fees.
pub(super) struct Seen {
    pub(super) hash: TxHash,
    pub(super) tip: u128,
    pub(super) max_fee: u128,
}

/// The `pause()` / `pauseAll()` transactions in the pool, to any of `to` (all when empty).
pub(super) async fn pool_pauses_to(
    read: &DynProvider,
    to: &[Address],
) -> anyhow::Result<Vec<Seen>> {
    let pool: Value = read.raw_request("txpool_content".into(), json!([])).await?;
    let pause_all = &keccak256("pauseAll()")[..4];
    let mut out = Vec::new();
    for by_sender in ["pending", "queued"]
        .iter()
        .filter_map(|k| pool[k].as_object())
    {
        for txs in by_sender.values().filter_map(Value::as_object) {
            for tx in txs.values() {
                let input = tx["input"].as_str().unwrap_or_default();
                let sel = input.get(2..10).unwrap_or_default();
                let target: Option<Address> = tx["to"].as_str().and_then(|s| s.parse().ok());
                let is_pause = sel == "8456cb59" || sel == alloy::hex::encode(pause_all);
                if !is_pause || !(to.is_empty() || target.is_some_and(|t| to.contains(&t))) {
                    continue;
                }
                let num = |k: &str| {
                    tx[k]
                        .as_str()
                        .and_then(|s| u128::from_str_radix(s.trim_start_matches("0x"), 16).ok())
                };
                let Some(hash) = tx["hash"].as_str().and_then(|s| s.parse().ok()) else {
                    continue;
                };
                let max_fee = num("maxFeePerGas").or(num("gasPrice")).unwrap_or_default();
                out.push(Seen {
                    hash,
                    tip: num("maxPriorityFeePerGas").unwrap_or(max_fee),
                    max_fee,
                });
            }
        }
    }
    Ok(out)
}

pub(super) async fn pool_pauses(read: &DynProvider) -> anyhow::Result<Vec<Seen>> {
    pool_pauses_to(read, &[]).await
}

/// The bot: polls the pool every 20 ms and answers the first pause it sees with a transfer from
/// [`BOT`] at double its tip and max fee; the answer's hash, `None` when it saw nothing.
pub(super) async fn bot(
    url: RpcUrl,
    read: DynProvider,
    watched: Vec<Address>,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<Option<TxHash>> {
    let me = Signer::dev_account("bot", BOT)?;
    let wallet = ProviderBuilder::new()
        .wallet(EthereumWallet::from(me.key().clone()))
        .connect_http(url.expose().clone());
    while !stop.load(Ordering::Relaxed) {
        if let Some(seen) = pool_pauses_to(&read, &watched).await?.into_iter().next() {
            tracing::debug!(pause = %seen.hash, "bot answers");
            let tx = TransactionRequest::default()
                .with_to(me.address())
                .with_gas_limit(21_000)
                .with_max_fee_per_gas(seen.max_fee * 2)
                .with_max_priority_fee_per_gas(seen.tip * 2);
            return Ok(Some(*wallet.send_transaction(tx).await?.tx_hash()));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(None)
}

/// A mined transaction's block and index.
pub(super) async fn position(
    read: &DynProvider,
    hash: TxHash,
) -> anyhow::Result<Option<(u64, u64)>> {
    Ok(read.get_transaction_receipt(hash).await?.map(|r| {
        (
            r.block_number.unwrap_or_default(),
            r.transaction_index.unwrap_or_default(),
        )
    }))
}

/// The private stand-in: a local JSON-RPC endpoint that takes `eth_sendRawTransaction`, answers
/// with the hash, and gives the transaction to anvil only together with an `evm_mine` of its own,
/// so it is never left waiting in the public pool.
pub(super) struct Builder {
    pub(super) url: RpcUrl,
    pub(super) taken: Arc<std::sync::atomic::AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl Builder {
    /// Starts the endpoint; it gives what it takes to anvil through `read`.
    pub(super) fn start(read: DynProvider) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let url: RpcUrl = format!("http://127.0.0.1:{}", listener.local_addr()?.port())
            .parse()
            .map_err(|e: String| anyhow::anyhow!(e))?;
        let (tx, mut rx) = mpsc::unbounded_channel::<Bytes>();
        let stop = Arc::new(AtomicBool::new(false));
        let taken = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let (flag, count) = (stop.clone(), taken.clone());
        std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((socket, _)) => {
                        if serve(socket, &tx).is_ok() {
                            count.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        tokio::spawn(async move {
            while let Some(raw) = rx.recv().await {
                let sent = read
                    .raw_request::<_, Value>("eth_sendRawTransaction".into(), json!([raw]))
                    .await;
                let mined = read
                    .raw_request::<_, Value>("evm_mine".into(), json!([]))
                    .await;
                if let Err(e) = sent.map(|_| ()).and(mined.map(|_| ())) {
                    tracing::warn!("builder stand-in: {e}");
                }
            }
        });
        Ok(Self { url, taken, stop })
    }
}

impl Drop for Builder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// One HTTP request on `socket`: a raw transaction is queued for the chain and its hash answered.
pub(super) fn serve(
    mut socket: std::net::TcpStream,
    queue: &mpsc::UnboundedSender<Bytes>,
) -> anyhow::Result<()> {
    socket.set_nonblocking(false)?;
    socket.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let (head_end, length) = loop {
        let n = socket.read(&mut chunk)?;
        if n == 0 {
            bail!("connection closed");
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..at]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            break (at + 4, length);
        }
    };
    while buf.len() < head_end + length {
        let n = socket.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let req: Value = serde_json::from_slice(&buf[head_end..])?;
    let answer = if req["method"] == "eth_sendRawTransaction" {
        let raw: Bytes = req["params"][0]
            .as_str()
            .context("no raw transaction")?
            .parse()?;
        let hash = keccak256(&raw);
        queue.send(raw).map_err(|_| anyhow::anyhow!("closed"))?;
        json!({"jsonrpc": "2.0", "id": req["id"], "result": hash})
    } else {
        json!({"jsonrpc": "2.0", "id": req["id"], "error": {"code": -32601, "message": "only eth_sendRawTransaction"}})
    };
    let body = answer.to_string();
    write!(
        socket,
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )?;
    Ok(())
}
