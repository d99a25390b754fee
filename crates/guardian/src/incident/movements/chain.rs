//! Reading the chains: traces (else logs and balances), contract creators, first fundings.

use super::*;

pub(super) async fn read_chains(
    deployment: &Deployment,
    incident: &Incident,
    timeline: &[Entry],
) -> Result<Movements, IncidentError> {
    let txs = transactions(deployment, incident, timeline)?;
    let scope = warroom::scope(&deployment.manifest, incident);
    let contracts: BTreeMap<(String, Address), String> = scope
        .iter()
        .map(|c| ((c.chain().to_string(), c.address), c.name().to_string()))
        .collect();
    let mut flows = Vec::new();
    let mut source = Source::Traces;
    let mut clients: BTreeMap<String, &ChainClient> = BTreeMap::new();
    for (name, chain) in &deployment.manifest.chains {
        let mine: Vec<_> = txs
            .iter()
            .filter(|(id, _, _)| *id == chain.chain_id)
            .collect();
        if mine.is_empty() {
            continue;
        }
        let client = deployment
            .clients
            .get(name)
            .ok_or_else(|| IncidentError::Unreachable {
                chain: name.clone(),
            })?;
        clients.insert(name.clone(), client);
        let holders: Vec<Address> = scope
            .iter()
            .filter(|c| c.chain() == name && c.kind.holds_funds())
            .map(|c| c.address)
            .collect();
        let (chain_flows, traced) = read_chain(client, &mine, &holders).await?;
        if !traced {
            source = Source::LogsAndBalances;
        }
        flows.extend(chain_flows);
    }
    flows.sort_by_key(|f| f.block);

    // Who created the recipients the senders neither sent nor called, where the node says.
    let mut created_by = BTreeMap::new();
    for f in flows.iter().filter(|f| !f.rescue) {
        for t in &f.transfers {
            let Some(to) = t.to else { continue };
            let key = (f.chain.clone(), to);
            if to == f.sender
                || Some(to) == f.called
                || created_by.contains_key(&key)
                || !contracts.contains_key(&(f.chain.clone(), t.from))
            {
                continue;
            }
            if let Some(creator) = creator(clients[&f.chain], to).await {
                created_by.insert(key, creator);
            }
        }
    }
    let found = attackers_of(&flows, &contracts, &created_by);
    let attacker_set: BTreeSet<_> = found.iter().map(|(c, a, _)| (c.clone(), *a)).collect();

    let mut assets = BTreeMap::new();
    for f in &flows {
        for t in &f.transfers {
            let key = (f.chain.clone(), t.token);
            if t.token.is_some() && !assets.contains_key(&key) {
                assets.insert(key, metadata(clients[&f.chain], t.token).await);
            }
        }
    }
    let movements = rows(&flows, &contracts, &attacker_set, &assets);

    let mut attackers = Vec::new();
    for (chain, address, role) in found {
        let (funded_by, funding_tx, funding) = funding(clients[&chain], address).await;
        attackers.push(Attacker {
            chain,
            address,
            role: role.to_string(),
            funded_by,
            funding_tx,
            funding,
        });
    }
    Ok(Movements {
        incident: incident.id,
        source,
        attack_transactions: txs.iter().filter(|t| !t.2).map(|t| t.1).collect(),
        rescue_transactions: txs.iter().filter(|t| t.2).map(|t| t.1).collect(),
        movements,
        attackers,
        recorded_at: None,
    })
}

/// The flows of `txs` on one chain, and whether they came from traces (else from logs and the
/// `holders`' balances, when the node serves no trace of one of them).
async fn read_chain(
    client: &ChainClient,
    txs: &[&(u64, TxHash, bool)],
    holders: &[Address],
) -> Result<(Vec<TxFlows>, bool), IncidentError> {
    let provider = client.provider();
    let mut flows = Vec::new();
    let mut traces = Vec::new();
    for (_, hash, rescue) in txs {
        let receipt = provider
            .get_transaction_receipt(*hash)
            .await
            .map_err(|e| client.rpc_err(e))?
            .ok_or_else(|| {
                IncidentError::invalid(
                    "tx",
                    format!("chain `{}` has no receipt of {hash}", client.name),
                )
            })?;
        let transfers = if receipt.status() {
            token_transfers(receipt.inner.logs())
        } else {
            Vec::new()
        };
        traces.push(
            provider
                .raw_request::<_, Value>(
                    "debug_traceTransaction".into(),
                    (*hash, json!({"tracer": "callTracer"})),
                )
                .await
                .ok(),
        );
        flows.push(TxFlows {
            chain: client.name.clone(),
            hash: *hash,
            block: receipt.block_number.unwrap_or_default(),
            sender: receipt.from,
            called: receipt.to,
            rescue: *rescue,
            transfers,
        });
    }
    let traced = traces.iter().all(Option::is_some);
    if traced {
        for (f, trace) in flows.iter_mut().zip(traces.iter().flatten()) {
            let mut native = transfers_in_trace(trace);
            native.append(&mut f.transfers);
            f.transfers = native;
        }
        return Ok((flows, true));
    }
    // No traces: what each holder's native balance lost in each block, on that block's first
    // transaction read.
    let mut seen = BTreeSet::new();
    for f in flows.iter_mut() {
        if !seen.insert(f.block) {
            continue;
        }
        for holder in holders {
            let at = |b: u64| provider.get_balance(*holder).block_id(BlockId::number(b));
            let before = at(f.block.saturating_sub(1))
                .await
                .map_err(|e| client.rpc_err(e))?;
            let after = at(f.block).await.map_err(|e| client.rpc_err(e))?;
            if before > after {
                f.transfers.push(Transfer {
                    token: None,
                    from: *holder,
                    to: None,
                    amount: before - after,
                });
            }
        }
    }
    Ok((flows, false))
}

/// Who created contract `address`, where the node serves Otterscan's `ots_getContractCreator`.
async fn creator(client: &ChainClient, address: Address) -> Option<Address> {
    let found: Value = client
        .provider()
        .raw_request("ots_getContractCreator".into(), (address,))
        .await
        .ok()?;
    found["creator"].as_str()?.parse().ok()
}

/// What is known of `address`'s first funding: held value at genesis; else the first
/// transaction sending it value, from Otterscan's search or, on a chain of at most
/// [`SCAN_LIMIT`] blocks, a scan of every block; else not available from this node.
async fn funding(
    client: &ChainClient,
    address: Address,
) -> (Option<Address>, Option<TxHash>, String) {
    let provider = client.provider();
    let found = |(from, tx): (Address, TxHash)| {
        (
            Some(from),
            Some(tx),
            format!("first funded by {from} in {tx}"),
        )
    };
    if provider
        .get_balance(address)
        .block_id(BlockId::number(0))
        .await
        .is_ok_and(|b| !b.is_zero())
    {
        return (None, None, "funded at genesis".to_string());
    }
    let searched: Result<Value, _> = provider
        .raw_request(
            "ots_searchTransactionsAfter".into(),
            (address, 0u64, SEARCH_PAGE),
        )
        .await;
    if let Ok(page) = searched {
        let txs = page["txs"].as_array().cloned().unwrap_or_default();
        if let Some(first) = first_funding(&txs, address) {
            return found(first);
        }
        // A full page without one: the funding may be further on; the scan below can tell.
        if txs.len() < SEARCH_PAGE as usize {
            return (
                None,
                None,
                "no transaction sending it value found".to_string(),
            );
        }
    }
    let Ok(head) = provider.get_block_number().await else {
        return (None, None, "not available from this node".to_string());
    };
    if head > SCAN_LIMIT {
        return (None, None, "not available from this node".to_string());
    }
    for n in 0..=head {
        let block: Result<Value, _> = provider
            .raw_request("eth_getBlockByNumber".into(), (format!("{n:#x}"), true))
            .await;
        let Ok(block) = block else {
            return (None, None, "not available from this node".to_string());
        };
        let txs = block["transactions"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if let Some(first) = first_funding(&txs, address) {
            return found(first);
        }
    }
    (
        None,
        None,
        "no transaction sending it value found".to_string(),
    )
}
