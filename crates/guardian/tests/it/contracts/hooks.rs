//! Resolver hooks: a hostile resolver (reverting, gas-burning, return-data bomb, or no code at all)
//! never blocks a registration or a transfer, and each failure is reported by `ResolverHookFailed`
//! from the contract that called the hook; a caller cannot starve a hook by choosing a low gas limit.

use alloy::{
    network::TransactionBuilder,
    primitives::{Address, B256, Bytes, FixedBytes, U256},
    providers::Provider,
    rpc::types::TransactionReceipt,
    rpc::types::TransactionRequest,
    sol_types::{SolCall, SolEvent},
};
use bindings::{
    DocumentRegistry::ResolverHookFailed,
    IDocumentResolver::{
        onDocumentRegisteredCall, onDocumentTransferredCall, onTokenTransferredCall,
    },
    testing::{GasBurningResolver, RevertingResolver},
};
use guardian::config::ContractKind;

use super::{PAUSABLE, audit, mint, pause, register, registry, tokenizer};
use crate::send_ok;
use crate::support::{TestNet, testnet};

/// The `ResolverHookFailed` events `emitter` logged in `receipt`, as (document, resolver, selector).
fn hook_failures(
    receipt: &TransactionReceipt,
    emitter: Address,
) -> Vec<(B256, Address, FixedBytes<4>)> {
    receipt
        .inner
        .logs()
        .iter()
        .filter(|log| log.address() == emitter)
        .filter_map(|log| ResolverHookFailed::decode_log(&log.inner).ok())
        .map(|e| (e.integraHash, e.resolver, e.selector))
        .collect()
}

/// Hostile resolvers: three contracts from `contracts/test` and an address without code.
async fn hostile_resolvers(net: &TestNet) -> Vec<(&'static str, Address)> {
    let p = net.as_signer_uncached(&net.admin);
    vec![
        (
            "reverting",
            *RevertingResolver::deploy(p.clone())
                .await
                .expect("deploy")
                .address(),
        ),
        (
            "gas-burning",
            *GasBurningResolver::deploy(p.clone())
                .await
                .expect("deploy")
                .address(),
        ),
        ("return-bomb", deploy_return_bomb(net).await),
        ("no code", Address::repeat_byte(0xEE)),
    ]
}

/// Deploys `contracts/test/ReturnBombResolver.sol` from its committed artifact (the bindings crate
/// has no `sol!` for it, and it needs none: it is only ever called by the suite).
async fn deploy_return_bomb(net: &TestNet) -> Address {
    let artifact: serde_json::Value = serde_json::from_str(include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../contracts/artifacts/test/ReturnBombResolver.json"
    )))
    .expect("artifact is JSON");
    let code: Bytes = artifact["bin"]
        .as_str()
        .expect("bin")
        .parse()
        .expect("hex bytecode");
    let tx = TransactionRequest::default().with_deploy_code(code);
    let provider = net.as_signer_uncached(&net.admin);
    let pending = provider
        .send_transaction(tx)
        .await
        .expect("deploy return bomb");
    let receipt = pending.get_receipt().await.expect("receipt");
    assert!(receipt.status(), "return bomb deployment reverted");
    receipt.contract_address.expect("created")
}

/// Gas far above a normal transfer but far below a block: the failed hook cost at most its cap.
const GAS_CEILING: u64 = 400_000;

#[tokio::test]
async fn hostile_resolvers_never_block_registration_or_transfers() {
    let net = testnet().await;
    let (alice, bob, carol) = (net.account(6), net.account(7), net.account(8));
    let registry_addr = net.addr(ContractKind::DocumentRegistry);
    let tokenizer_addr = net.addr(ContractKind::OwnershipTokenizer);

    for (n, (name, resolver)) in (1u64..).zip(hostile_resolvers(&net).await) {
        let id = crate::support::doc(n);
        let receipt = send_ok!(
            registry(&net, &alice)
                .registerDocument(id, super::content(n), resolver)
                .value(U256::from(super::FEE))
        );
        let expected = (id, resolver, FixedBytes(onDocumentRegisteredCall::SELECTOR));
        assert_eq!(
            hook_failures(&receipt, registry_addr),
            vec![expected],
            "{name}: register"
        );
        assert!(
            receipt.gas_used < GAS_CEILING,
            "{name}: register used {}",
            receipt.gas_used
        );

        // Mint: the claim's receipt reports the failed token hook.
        send_ok!(tokenizer(&net, &alice).reserveToken(id, bob.address()));
        let receipt = send_ok!(tokenizer(&net, &bob).claimToken(id));
        let token_id = tokenizer(&net, &bob)
            .tokenOfDocument(id)
            .call()
            .await
            .expect("token");
        let expected = (id, resolver, FixedBytes(onTokenTransferredCall::SELECTOR));
        assert_eq!(
            hook_failures(&receipt, tokenizer_addr),
            vec![expected],
            "{name}: claim"
        );

        // ERC-721 transfer.
        let receipt =
            send_ok!(tokenizer(&net, &bob).transferFrom(bob.address(), carol.address(), token_id));
        assert_eq!(
            hook_failures(&receipt, tokenizer_addr),
            vec![expected],
            "{name}: transfer"
        );
        assert!(
            receipt.gas_used < GAS_CEILING,
            "{name}: transfer used {}",
            receipt.gas_used
        );
        let owner = tokenizer(&net, &bob)
            .ownerOf(token_id)
            .call()
            .await
            .expect("owner");
        assert_eq!(owner, carol.address(), "{name}: the token moved");

        // Document ownership transfer.
        let receipt =
            send_ok!(registry(&net, &alice).transferDocumentOwnership(id, carol.address()));
        let expected = (
            id,
            resolver,
            FixedBytes(onDocumentTransferredCall::SELECTOR),
        );
        assert_eq!(
            hook_failures(&receipt, registry_addr),
            vec![expected],
            "{name}: doc transfer"
        );
        assert!(
            receipt.gas_used < GAS_CEILING,
            "{name}: doc transfer used {}",
            receipt.gas_used
        );
        let doc = registry(&net, &alice)
            .getDocument(id)
            .call()
            .await
            .expect("doc");
        assert_eq!(
            (doc.owner, doc.resolver),
            (carol.address(), resolver),
            "{name}: the document moved"
        );
    }
}

#[tokio::test]
async fn hostile_resolvers_do_not_block_transfers_while_paused() {
    let net = testnet().await;
    let (alice, bob) = (net.account(6), net.account(7));
    let registry_addr = net.addr(ContractKind::DocumentRegistry);
    let tokenizer_addr = net.addr(ContractKind::OwnershipTokenizer);
    let mut minted = Vec::new();
    for (n, (name, resolver)) in (1u64..).zip(hostile_resolvers(&net).await) {
        let id = register(&net, &alice, n, resolver).await;
        minted.push((name, resolver, id, mint(&net, &alice, &alice, id).await));
    }
    for kind in PAUSABLE {
        pause(&net, kind).await;
    }
    for (name, resolver, id, token_id) in minted {
        let receipt = send_ok!(tokenizer(&net, &alice).safeTransferFrom_0(
            alice.address(),
            bob.address(),
            token_id
        ));
        let expected = (id, resolver, FixedBytes(onTokenTransferredCall::SELECTOR));
        assert_eq!(
            hook_failures(&receipt, tokenizer_addr),
            vec![expected],
            "{name}: paused transfer"
        );
        let receipt = send_ok!(registry(&net, &alice).transferDocumentOwnership(id, bob.address()));
        let expected = (
            id,
            resolver,
            FixedBytes(onDocumentTransferredCall::SELECTOR),
        );
        assert_eq!(
            hook_failures(&receipt, registry_addr),
            vec![expected],
            "{name}: paused doc transfer"
        );
        assert_eq!(
            tokenizer(&net, &bob)
                .ownerOf(token_id)
                .call()
                .await
                .expect("owner"),
            bob.address()
        );
    }
}

#[tokio::test]
async fn a_working_resolver_reports_no_failure_and_counts_every_hook() {
    let net = testnet().await;
    let (alice, bob) = (net.account(6), net.account(7));
    let hooks = net.addr(ContractKind::AuditResolver);
    let id = register(&net, &alice, 1, hooks).await;
    send_ok!(tokenizer(&net, &alice).reserveToken(id, bob.address()));
    let receipt = send_ok!(tokenizer(&net, &bob).claimToken(id));
    assert!(hook_failures(&receipt, net.addr(ContractKind::OwnershipTokenizer)).is_empty());
    let recorded = crate::support::events::<bindings::AuditResolver::HookRecorded>(&receipt);
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].integraHash, id);
    assert_eq!(
        recorded[0].selector,
        FixedBytes(onTokenTransferredCall::SELECTOR)
    );
    let count = audit(&net, &bob).hookCount(id).call().await.expect("count");
    assert_eq!(count, U256::from(2));

    // Pausing the resolver itself does not stop it counting.
    pause(&net, ContractKind::AuditResolver).await;
    let receipt = send_ok!(registry(&net, &alice).transferDocumentOwnership(id, bob.address()));
    assert!(hook_failures(&receipt, net.addr(ContractKind::DocumentRegistry)).is_empty());
    assert_eq!(
        audit(&net, &bob).hookCount(id).call().await.expect("count"),
        U256::from(3)
    );
}

#[tokio::test]
async fn a_caller_cannot_starve_a_hook_with_a_low_gas_limit() {
    let net = testnet().await;
    let (alice, bob) = (net.account(6), net.account(7));
    let burner = *GasBurningResolver::deploy(net.as_signer_uncached(&net.admin))
        .await
        .expect("deploy")
        .address();
    let id = register(&net, &alice, 1, burner).await;
    let token_id = mint(&net, &alice, &alice, id).await;

    // Enough for the transfer itself but not for the hook's full cap: refused, not silently starved.
    let t = tokenizer(&net, &alice);
    let starved = t
        .transferFrom(alice.address(), bob.address(), token_id)
        .gas(120_000)
        .call()
        .await;
    let err = starved.expect_err("a starved hook must revert");
    assert_eq!(crate::support::reason(&err), "InsufficientGasForHook()");
    let r = registry(&net, &alice);
    let starved = r
        .transferDocumentOwnership(id, bob.address())
        .gas(100_000)
        .call()
        .await;
    let err = starved.expect_err("a starved hook must revert");
    assert_eq!(crate::support::reason(&err), "InsufficientGasForHook()");
    assert_eq!(
        t.ownerOf(token_id).call().await.expect("owner"),
        alice.address()
    );
}
