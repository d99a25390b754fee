//! A real Safe v1.4.1 (the npm package's contracts) on anvil, 2 of 3 owners, holding
//! `PAUSER_ROLE`: guardian's hash is the Safe's own, a batch is simulated as the Safe runs it,
//! confirmations by signature and by `approveHash` execute it, and every refusal sends nothing.

use alloy::{
    primitives::{Address, Bytes, U256},
    providers::Provider,
    signers::SignerSync,
    sol_types::SolCall,
};
use bindings::{DocumentRegistry, safe::Safe};
use guardian::{
    chain::Signer,
    config::ContractKind,
    roles::Role,
    safe::{self, Confirmation, SafeCall, SafeError, SafeTx, SafeTxError},
};

mod actions;
pub(crate) mod incident;
mod service;
mod watch;

use crate::{
    response::is_paused,
    send_ok,
    support::{TestNet, testnet},
};

/// The devnet with a 2-of-3 Safe holding `PAUSER_ROLE` on the registry and the escrow, both
/// paused; the Safe and its three owners.
async fn paused_under_a_safe(net: &TestNet) -> (safe::Deployed, Vec<Signer>) {
    let owners: Vec<Signer> = (7..10).map(|i| net.account(i)).collect();
    let addresses: Vec<Address> = owners.iter().map(|o| o.address()).collect();
    // The Safe's four contracts go out at once; anvil mining on demand may hold one back.
    let deployed = tokio::select! {
        d = safe::deploy(&net.client, &owners[2], &addresses, 2) => d.expect("deploy the Safe"),
        () = guardian::devnet::unstick(&net.client) => unreachable!("unstick never returns"),
    };
    for kind in [ContractKind::DocumentRegistry, ContractKind::PaymentEscrow] {
        let admin = DocumentRegistry::new(net.addr(kind), net.as_signer(&net.admin));
        send_ok!(admin.grantRole(Role::Pauser.id(), deployed.safe));
        let pauser = DocumentRegistry::new(net.addr(kind), net.as_signer(&net.pauser));
        send_ok!(pauser.pause());
    }
    (deployed, owners)
}

fn unpause(net: &TestNet, kind: ContractKind) -> SafeCall {
    SafeCall {
        label: format!("unpause {kind:?}"),
        to: net.addr(kind),
        value: U256::ZERO,
        data: Bytes::from(DocumentRegistry::unpauseCall {}.abi_encode()),
    }
}

fn signed(owner: &Signer, hash: alloy::primitives::B256) -> Confirmation {
    let sig = owner.key().sign_hash_sync(&hash).expect("sign");
    Confirmation::Signature {
        signature: Bytes::from(sig.as_bytes().to_vec()),
    }
}

/// The devnet's manifest with no key holding a role: two owners' keys (`owner-a`, `owner-b`)
/// and the Safe (`ops`).
fn safe_manifest(net: &TestNet, d: &safe::Deployed) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tmp");
    let mut m = net.devnet.manifest.clone();
    m.signers.clear();
    for (name, index) in [("owner-a", 7), ("owner-b", 8)] {
        m.signers.insert(
            name.into(),
            guardian::config::SignerConfig {
                dev_account: Some(index),
                ..Default::default()
            },
        );
    }
    m.signers.insert(
        "ops".into(),
        guardian::config::SignerConfig {
            safe: Some(guardian::config::PerChain::All(d.safe)),
            multisend: Some(d.multisend),
            ..Default::default()
        },
    );
    m.write(&dir.path().join("guardian.toml"), true)
        .expect("write");
    dir
}

/// The `safeTxHash` of the proposal at `nonce`, from guardian's file of it.
fn proposal_hash(dir: &std::path::Path, d: &safe::Deployed, nonce: u64) -> alloy::primitives::B256 {
    let file = dir
        .join("proposals")
        .join(format!("local-{}-{nonce}.json", d.safe));
    let own: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(file).expect("guardian's file"))
            .expect("json");
    own["hashes"]["safe_tx_hash"]
        .as_str()
        .expect("hash")
        .parse()
        .expect("hash")
}

/// Two owners confirm proposal `id` with their keys (`owner-a`, `owner-b`), and it is executed.
async fn confirm_and_execute(dir: &std::path::Path, id: &str) {
    for args in [
        &["safe", "sign", id, "--signer", "owner-a"][..],
        &["safe", "sign", id, "--signer", "owner-b"][..],
        &["safe", "execute", id][..],
    ] {
        let (ok, out, err) = crate::support::bin::run(dir, &[], args).await;
        assert!(ok, "{args:?}: {out}\n{err}");
    }
}

#[tokio::test]
async fn a_two_of_three_safe_unpauses_a_batch_with_a_signature_and_an_approved_hash() {
    let net = testnet().await;
    let (d, owners) = paused_under_a_safe(&net).await;
    let info = safe::read(&net.client, d.safe).await.expect("read");
    assert_eq!(
        (info.version.as_str(), info.threshold, info.nonce),
        ("1.4.1", 2, 0)
    );
    assert_eq!(info.owners.len(), 3);
    assert_eq!(
        (info.singleton, info.fallback_handler, info.guard),
        (d.singleton, d.fallback_handler, Address::ZERO)
    );

    let calls = [
        unpause(&net, ContractKind::DocumentRegistry),
        unpause(&net, ContractKind::PaymentEscrow),
    ];
    let tx = SafeTx::batch(&calls, d.multisend, info.nonce).expect("batch");
    let hashes = tx.hashes(31337, d.safe);
    // The hash owners sign is the Safe's own.
    assert_eq!(
        hashes.safe_tx_hash,
        safe::onchain_hash(&net.client, d.safe, &tx)
            .await
            .expect("hash")
    );
    safe::simulate(&net.client, d.safe, d.multisend, &calls)
        .await
        .expect("the batch runs from the Safe");

    // One signature: below the threshold, nothing is sent.
    let first = (owners[0].address(), signed(&owners[0], hashes.safe_tx_hash));
    assert_eq!(
        safe::tx::recover(
            hashes.safe_tx_hash,
            match &first.1 {
                Confirmation::Signature { signature } => signature,
                Confirmation::ApprovedHash => unreachable!(),
            }
        )
        .expect("recover"),
        owners[0].address()
    );
    let payer = &net.outsider;
    let below = safe::execute(
        &net.client,
        payer,
        d.safe,
        d.multisend,
        &tx,
        std::slice::from_ref(&first),
        None,
    )
    .await
    .expect_err("below the threshold");
    assert!(
        matches!(
            below,
            SafeError::BelowThreshold {
                have: 1,
                threshold: 2,
                ..
            }
        ),
        "{below}"
    );
    // A stranger's signature is not an owner's.
    let stranger = (
        net.outsider.address(),
        signed(&net.outsider, hashes.safe_tx_hash),
    );
    let refused = safe::execute(
        &net.client,
        payer,
        d.safe,
        d.multisend,
        &tx,
        &[first.clone(), stranger],
        None,
    )
    .await
    .expect_err("not an owner");
    assert!(matches!(refused, SafeError::NotOwner(a) if a == net.outsider.address()));
    assert!(is_paused(&net, ContractKind::DocumentRegistry).await);

    // The second owner approves the hash on chain, from its own wallet.
    let as_owner = Safe::new(d.safe, net.as_signer(&owners[1]));
    send_ok!(as_owner.approveHash(hashes.safe_tx_hash));
    assert!(
        safe::approved(
            &net.client,
            d.safe,
            owners[1].address(),
            hashes.safe_tx_hash
        )
        .await
        .expect("read")
    );
    let done = safe::execute(
        &net.client,
        payer,
        d.safe,
        d.multisend,
        &tx,
        &[
            first.clone(),
            (owners[1].address(), Confirmation::ApprovedHash),
        ],
        None,
    )
    .await
    .expect("execute");
    assert!(done.block > 0);
    assert!(!is_paused(&net, ContractKind::DocumentRegistry).await);
    assert!(!is_paused(&net, ContractKind::PaymentEscrow).await);
    assert_eq!(
        safe::read(&net.client, d.safe).await.expect("read").nonce,
        1
    );

    // Its nonce is used: executing it again is refused before sending.
    let again = safe::execute(&net.client, payer, d.safe, d.multisend, &tx, &[first], None)
        .await
        .expect_err("used nonce");
    assert!(
        matches!(
            again,
            SafeError::NonceUsed {
                nonce: 0,
                current: 1
            }
        ),
        "{again}"
    );
}

#[tokio::test]
async fn what_would_revert_and_a_foreign_delegatecall_are_refused_before_anything_is_sent() {
    let net = testnet().await;
    let (d, owners) = paused_under_a_safe(&net).await;
    // The tokenizer is not paused, and the Safe holds no role there: the batch would revert,
    // and the simulation says why.
    let calls = [
        unpause(&net, ContractKind::DocumentRegistry),
        unpause(&net, ContractKind::OwnershipTokenizer),
    ];
    let err = safe::simulate(&net.client, d.safe, d.multisend, &calls)
        .await
        .expect_err("reverts");
    let text = err.to_string();
    assert!(
        text.contains("call 2 of 2 (unpause OwnershipTokenizer)") && text.contains("AccessControl"),
        "{text}"
    );

    // A DELEGATECALL to anything but the pinned batch library is never executed.
    let mut tx = SafeTx::batch(&calls, d.multisend, 0).expect("batch");
    tx.to = Address::repeat_byte(0x66);
    let hash = tx.hashes(31337, d.safe).safe_tx_hash;
    let confirmations: Vec<_> = owners[..2]
        .iter()
        .map(|o| (o.address(), signed(o, hash)))
        .collect();
    let refused = safe::execute(
        &net.client,
        &net.outsider,
        d.safe,
        d.multisend,
        &tx,
        &confirmations,
        None,
    )
    .await
    .expect_err("foreign delegatecall");
    assert!(
        matches!(
            refused,
            SafeError::Refused(SafeTxError::Delegatecall { .. })
        ),
        "{refused}"
    );
    assert_eq!(
        safe::read(&net.client, d.safe).await.expect("read").nonce,
        0
    );
    assert!(is_paused(&net, ContractKind::DocumentRegistry).await);
}
