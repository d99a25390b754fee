//! The Safe Transaction Service, played by a local server that holds guardian to the service's
//! published request shape (paths with trailing slashes and a checksummed Safe, camelCase
//! fields, numbers as decimal strings, a bearer API key) and checks what only a real service
//! would: the `contractTransactionHash` is the hash of the fields sent, and the signature is the
//! sender's.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
};

use alloy::primitives::{B256, U256};
use axum::{
    Json, Router,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    routing::{get, post},
};
use serde_json::{Value, json};

use super::*;

const API_KEY: &str = "sk-service-test-0123456789";

/// What the service holds: transactions by hash, each with its confirmations (owner,
/// signature), and every problem it found with a request.
#[derive(Default)]
struct Held {
    txs: BTreeMap<B256, (Value, Vec<(Address, Bytes)>)>,
    problems: Vec<String>,
}

type Shared = Arc<Mutex<Held>>;

fn authorized(headers: &HeaderMap, held: &Shared) -> bool {
    let ok = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == format!("Bearer {API_KEY}"));
    if !ok {
        held.lock()
            .expect("lock")
            .problems
            .push("no bearer key".into());
    }
    ok
}

/// The body's problems against the service's `SafeMultisigTransaction` request.
fn check_proposal(path_safe: &str, body: &Value) -> Result<(Address, Bytes, B256), String> {
    let text = |k: &str| body[k].as_str().ok_or(format!("`{k}` is not a string"));
    let address = |k: &str| -> Result<Address, String> {
        let s = text(k)?;
        let a: Address = s.parse().map_err(|_| format!("`{k}` is not an address"))?;
        (a.to_checksum(None) == s)
            .then_some(a)
            .ok_or(format!("`{k}` is not checksummed"))
    };
    let number = |k: &str| -> Result<U256, String> {
        let s = text(k)?;
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().expect("digits"))
            .ok_or(format!("`{k}` is not a decimal string"))
    };
    let safe = address("safe")?;
    if path_safe != text("safe")? {
        return Err("the path's Safe is not the body's (checksummed)".into());
    }
    let operation = body["operation"]
        .as_u64()
        .ok_or("`operation` is not an integer")?;
    let data: Bytes = match &body["data"] {
        Value::Null => Bytes::new(),
        v => v
            .as_str()
            .and_then(|s| s.parse().ok())
            .ok_or("`data` is not hex")?,
    };
    let tx = SafeTx {
        to: address("to")?,
        value: number("value")?,
        data,
        operation: u8::try_from(operation).map_err(|_| "operation")?,
        safeTxGas: number("safeTxGas")?,
        baseGas: number("baseGas")?,
        gasPrice: number("gasPrice")?,
        gasToken: address("gasToken")?,
        refundReceiver: address("refundReceiver")?,
        nonce: number("nonce")?,
    };
    let hash: B256 = text("contractTransactionHash")?
        .parse()
        .map_err(|_| "`contractTransactionHash` is not a hash")?;
    if tx.hashes(31337, safe).safe_tx_hash != hash {
        return Err("contractTransactionHash is not the hash of the fields sent".into());
    }
    let sender = address("sender")?;
    let signature: Bytes = text("signature")?.parse().map_err(|_| "signature")?;
    match safe::tx::recover(hash, &signature) {
        Ok(a) if a == sender => Ok((sender, signature, hash)),
        _ => Err("the signature is not the sender's".into()),
    }
}

/// A service on a free port: its base URL and what it holds.
async fn service() -> (String, Shared) {
    let held: Shared = Arc::default();
    let app = Router::new()
        .route(
            "/tx-service/local/api/v1/safes/{safe}/multisig-transactions/",
            post(
                |State(held): State<Shared>,
                 Path(safe): Path<String>,
                 headers: HeaderMap,
                 Json(body): Json<Value>| async move {
                    if !authorized(&headers, &held) {
                        return StatusCode::UNAUTHORIZED;
                    }
                    let mut h = held.lock().expect("lock");
                    match check_proposal(&safe, &body) {
                        Ok((sender, signature, hash)) => {
                            h.txs.insert(hash, (body, vec![(sender, signature)]));
                            StatusCode::CREATED
                        }
                        Err(problem) => {
                            h.problems.push(problem);
                            StatusCode::UNPROCESSABLE_ENTITY
                        }
                    }
                },
            ),
        )
        .route(
            "/tx-service/local/api/v1/multisig-transactions/{hash}/",
            get(
                |State(held): State<Shared>, Path(hash): Path<B256>, headers: HeaderMap| async move {
                    if !authorized(&headers, &held) {
                        return StatusCode::UNAUTHORIZED;
                    }
                    if held.lock().expect("lock").txs.contains_key(&hash) {
                        StatusCode::OK
                    } else {
                        StatusCode::NOT_FOUND
                    }
                },
            ),
        )
        .route(
            "/tx-service/local/api/v1/multisig-transactions/{hash}/confirmations/",
            get(
                |State(held): State<Shared>, Path(hash): Path<B256>, headers: HeaderMap| async move {
                    if !authorized(&headers, &held) {
                        return (StatusCode::UNAUTHORIZED, Json(json!({})));
                    }
                    let h = held.lock().expect("lock");
                    let Some((_, confirmations)) = h.txs.get(&hash) else {
                        return (StatusCode::NOT_FOUND, Json(json!({"detail": "Not found."})));
                    };
                    let results: Vec<Value> = confirmations
                        .iter()
                        .map(|(owner, signature)| {
                            json!({"owner": owner.to_checksum(None),
                                "submissionDate": "2026-12-07T00:00:00Z",
                                "transactionHash": null, "signature": signature,
                                "signatureType": "EOA"})
                        })
                        .collect();
                    (
                        StatusCode::OK,
                        Json(json!({"count": results.len(), "next": null,
                            "previous": null, "results": results})),
                    )
                },
            )
            .post(
                |State(held): State<Shared>,
                 Path(hash): Path<B256>,
                 headers: HeaderMap,
                 Json(body): Json<Value>| async move {
                    if !authorized(&headers, &held) {
                        return StatusCode::UNAUTHORIZED;
                    }
                    let mut h = held.lock().expect("lock");
                    let signature: Option<Bytes> =
                        body["signature"].as_str().and_then(|s| s.parse().ok());
                    let owner = signature
                        .as_ref()
                        .and_then(|s| safe::tx::recover(hash, s).ok());
                    match (h.txs.get_mut(&hash), owner, signature) {
                        (Some((_, list)), Some(owner), Some(signature)) => {
                            list.push((owner, signature));
                            StatusCode::CREATED
                        }
                        _ => {
                            h.problems.push(format!("bad confirmation {body}"));
                            StatusCode::BAD_REQUEST
                        }
                    }
                },
            ),
        )
        .with_state(held.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!(
        "http://{}/tx-service/local",
        listener.local_addr().expect("addr")
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, held)
}

/// Through the binary, with a proposer key and the service: the proposal is signed by the
/// proposer and proposed on the service; an owner's signature given with `--signature` is added
/// there; a confirmation made in Safe{Wallet} (on the service) is read back, a stranger's
/// ignored; the proposal executes. The API key never shows, and a service that is gone leaves
/// guardian working.
#[tokio::test]
async fn proposals_go_to_the_safe_transaction_service_and_its_confirmations_come_back() {
    let net = testnet().await;
    let (d, owners) = paused_under_a_safe(&net).await;
    let dir = safe_manifest(&net, &d);
    let (url, held) = service().await;
    let path = dir.path().join("guardian.toml");
    let text = std::fs::read_to_string(&path).expect("manifest");
    let text = text.replace("[signers.ops]\n", "[signers.ops]\nproposer = \"owner-a\"\n")
        + &format!("\n[safe]\nservice_url = \"{url}\"\nservice_api_key = \"${{SAFE_API_KEY}}\"\n");
    std::fs::write(&path, text).expect("write");
    let vars = [("SAFE_API_KEY", API_KEY)];
    let run = |args: &'static [&'static str]| crate::support::bin::run(dir.path(), &vars, args);
    let mut printed = String::new();

    let (ok, out, err) = run(&["unpause", "registry"]).await;
    printed += &(out.clone() + &err);
    assert!(ok, "{out}\n{err}");
    assert!(
        out.contains("signed by the proposer `owner-a`")
            && out.contains("proposed on the Safe Transaction Service"),
        "{out}"
    );
    let hash = proposal_hash(dir.path(), &d, 0);
    {
        let mut h = held.lock().expect("lock");
        assert!(h.problems.is_empty(), "{:?}", h.problems);
        let (body, confirmations) = h.txs.get_mut(&hash).expect("proposed there");
        assert_eq!(body["sender"], owners[0].address().to_checksum(None));
        assert_eq!(confirmations.len(), 1);
        // Owner b signs in Safe{Wallet}; a stranger's signature is listed too.
        for who in [&owners[1], &net.outsider] {
            let sig = owner_signature(who, hash);
            confirmations.push((who.address(), sig));
        }
    }

    // Owner c's signature, made elsewhere, is kept and added on the service.
    let sig = owner_signature(&owners[2], hash).to_string();
    let out = crate::support::bin::run(
        dir.path(),
        &vars,
        &["safe", "sign", "1", "--signature", &sig],
    )
    .await;
    printed += &(out.1.clone() + &out.2);
    assert!(out.0, "{}\n{}", out.1, out.2);
    assert!(
        out.1
            .contains("confirmation added on the Safe Transaction Service"),
        "{}",
        out.1
    );
    assert_eq!(held.lock().expect("lock").txs[&hash].1.len(), 4);

    let (ok, out, err) = run(&["safe", "status", "--json"]).await;
    printed += &(out.clone() + &err);
    assert!(ok, "{out}\n{err}");
    let states: Value = serde_json::from_str(&out).expect("json");
    let confirmed: BTreeMap<Address, String> = states[0]["confirmed"]
        .as_array()
        .expect("confirmed")
        .iter()
        .map(|c| {
            (
                c[0].as_str().expect("owner").parse().expect("address"),
                c[1].as_str().expect("via").to_string(),
            )
        })
        .collect();
    let via = |o: &Signer| confirmed.get(&o.address()).cloned();
    assert_eq!(via(&owners[0]).as_deref(), Some("proposer:owner-a"));
    assert_eq!(via(&owners[1]).as_deref(), Some("service"));
    assert_eq!(via(&owners[2]).as_deref(), Some("--signature"));
    assert_eq!(
        confirmed.len(),
        3,
        "the stranger is not kept: {confirmed:?}"
    );

    let (ok, out, err) = run(&["safe", "execute", "1"]).await;
    printed += &(out.clone() + &err);
    assert!(ok, "{out}\n{err}");
    assert!(!is_paused(&net, ContractKind::DocumentRegistry).await);
    assert!(!printed.contains(API_KEY), "the API key was printed");
    assert!(held.lock().expect("lock").problems.is_empty());

    // With the service gone, a new proposal stands in guardian and says why it was not shared.
    let text = std::fs::read_to_string(&path).expect("manifest");
    std::fs::write(
        &path,
        text.replace(&url, "http://127.0.0.1:9/tx-service/local"),
    )
    .expect("write");
    let pauser = DocumentRegistry::new(
        net.addr(ContractKind::DocumentRegistry),
        net.as_signer(&net.pauser),
    );
    send_ok!(pauser.pause());
    let (ok, out, err) = run(&["unpause", "registry"]).await;
    assert!(ok, "{out}\n{err}");
    assert!(
        out.contains("Safe proposal 2")
            && out.contains("not shared with the Safe Transaction Service"),
        "{out}"
    );
    let (ok, out, err) = run(&["safe", "status"]).await;
    assert!(ok, "{out}\n{err}");
    assert!(out.contains("could not be read"), "{out}");
}

fn owner_signature(owner: &Signer, hash: B256) -> Bytes {
    match signed(owner, hash) {
        Confirmation::Signature { signature } => signature,
        Confirmation::ApprovedHash => unreachable!(),
    }
}
