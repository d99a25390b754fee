//! `guardian deploy` and `guardian devnet` against a real anvil: manifests that parse, code at
//! every address, clean refusals of bad input.

use std::process::Command;

use alloy::providers::Provider;
use bindings::DocumentRegistry;
use guardian::{
    anvil::{Anvil, AnvilOptions},
    config::{ContractKind, Manifest},
};

use crate::support::{anvil_path, doc, testnet};

use crate::support::DEV_KEY_0;

fn guardian() -> Command {
    crate::support::bin::command(std::path::Path::new("."))
}

async fn bare_anvil() -> Anvil {
    Anvil::spawn(&AnvilOptions {
        binary: anvil_path(),
        port: 0,
        chain_id: 31337,
        block_time: None,
        hardfork: None,
        pruned: false,
    })
    .await
    .expect("anvil")
}

#[tokio::test]
async fn deploy_writes_a_manifest_whose_addresses_have_code() {
    let anvil = bare_anvil().await;
    let dir = tempfile::tempdir().expect("tmp");
    let out = dir.path().join("guardian.toml");
    let output = guardian()
        .env("DEPLOYER_KEY", format!("0x{DEV_KEY_0}"))
        .args([
            "deploy",
            "--rpc-url",
            anvil.url.expose().as_str(),
            "--private-key-env",
            "DEPLOYER_KEY",
        ])
        .args(["--chain-id", "31337", "--test-token", "--out"])
        .arg(&out)
        .args(["--pauser", "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"])
        .args([
            "--safe-recipient",
            "0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65",
        ])
        .output()
        .expect("run guardian");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "deploy failed: {stderr}");
    assert!(
        stdout.contains("DocumentRegistry") && stdout.contains("GAS"),
        "{stdout}"
    );
    assert!(
        !stdout.contains(DEV_KEY_0) && !stderr.contains(DEV_KEY_0),
        "the key leaked"
    );

    let manifest = Manifest::load(&out).expect("manifest parses");
    assert_eq!(manifest.contracts.len(), 6);
    let text = std::fs::read_to_string(&out).expect("read");
    assert!(
        !text.contains(DEV_KEY_0),
        "the key was written to the manifest"
    );
    let provider = alloy::providers::RootProvider::<alloy::network::Ethereum>::new_http(
        anvil.url.expose().clone(),
    );
    for c in &manifest.contracts {
        let code = provider.get_code_at(c.address).await.expect("code");
        assert!(
            !code.is_empty(),
            "{} at {} has no code",
            c.name(),
            c.address
        );
    }
    let registry = manifest
        .contracts
        .iter()
        .find(|c| c.kind == ContractKind::DocumentRegistry)
        .expect("registry");
    let reg = DocumentRegistry::new(registry.address, &provider);
    let pauser: alloy::primitives::Address = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
        .parse()
        .expect("addr");
    assert!(
        reg.hasRole(guardian::roles::Role::Pauser.id(), pauser)
            .call()
            .await
            .expect("hasRole")
    );
    assert!(guardian::deploy::proxy_init_code(registry.address, Default::default()).len() > 64);
    assert!(
        dir.path().join("guardian.db").exists(),
        "deploy records its transactions"
    );
}

#[tokio::test]
async fn deploy_refuses_bad_input_before_sending_anything() {
    let anvil = bare_anvil().await;
    let url = anvil.url.expose().to_string();
    let dir = tempfile::tempdir().expect("tmp");
    let out = dir.path().join("guardian.toml");
    let provider = alloy::providers::RootProvider::<alloy::network::Ethereum>::new_http(
        anvil.url.expose().clone(),
    );
    let deployer: alloy::primitives::Address = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
        .parse()
        .expect("addr");

    // The key variable is not set.
    let o = guardian()
        .args([
            "deploy",
            "--rpc-url",
            &url,
            "--private-key-env",
            "NOPE",
            "--out",
        ])
        .arg(&out)
        .output()
        .expect("run");
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("NOPE is not set"));

    // The variable holds garbage: named, never echoed.
    let o = guardian()
        .env("K", "0xnot-a-key-SECRETISH")
        .args([
            "deploy",
            "--rpc-url",
            &url,
            "--private-key-env",
            "K",
            "--out",
        ])
        .arg(&out)
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("K does not hold a valid"),
        "{err}"
    );
    assert!(!err.contains("SECRETISH"));

    // Wrong chain id.
    let o = guardian()
        .env("K", DEV_KEY_0)
        .args([
            "deploy",
            "--rpc-url",
            &url,
            "--private-key-env",
            "K",
            "--chain-id",
            "1",
            "--out",
        ])
        .arg(&out)
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("chain id 31337, but 1 was expected"),
        "{err}"
    );

    // Unreachable RPC.
    let o = guardian()
        .env("K", DEV_KEY_0)
        .args([
            "deploy",
            "--rpc-url",
            "http://127.0.0.1:9/",
            "--private-key-env",
            "K",
            "--out",
        ])
        .arg(&out)
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("no RPC endpoint answered"),
        "{err}"
    );

    // An existing manifest is not overwritten without --force.
    std::fs::write(&out, "# mine\n").expect("write");
    let o = guardian()
        .env("K", DEV_KEY_0)
        .args([
            "deploy",
            "--rpc-url",
            &url,
            "--private-key-env",
            "K",
            "--out",
        ])
        .arg(&out)
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("--force"), "{err}");
    assert_eq!(std::fs::read_to_string(&out).expect("read"), "# mine\n");

    // A deployer without funds.
    let o = guardian()
        .env(
            "K",
            "0x0000000000000000000000000000000000000000000000000000000000000001",
        )
        .args([
            "deploy",
            "--rpc-url",
            &url,
            "--private-key-env",
            "K",
            "--force",
            "--out",
        ])
        .arg(&out)
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("fund it first"),
        "{err}"
    );

    assert_eq!(
        provider
            .get_transaction_count(deployer)
            .await
            .expect("nonce"),
        0,
        "nothing was sent"
    );
    assert_eq!(
        provider.get_block_number().await.expect("block"),
        0,
        "no block was mined"
    );
}

#[tokio::test]
async fn devnet_manifest_drives_the_suite() {
    let net = testnet().await;
    let m = &net.devnet.manifest;
    // Round trip through the file format.
    let text = m.to_toml();
    let again = Manifest::parse(&text, std::path::Path::new("guardian.toml")).expect("parses");
    assert_eq!(again.contracts.len(), 6);
    for c in &again.contracts {
        let code = net
            .client
            .provider()
            .get_code_at(c.address)
            .await
            .expect("code");
        assert!(!code.is_empty(), "{} has no code", c.name());
    }
    // Distinct accounts per role.
    let roles = &again.roles;
    let mut all = vec![
        roles.admin.expect("admin"),
        roles.pauser[0],
        roles.emergency[0],
        roles.upgrader[0],
    ];
    all.extend(&again.emergency.safe_recipients);
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 5);
    let reg = DocumentRegistry::new(net.addr(ContractKind::DocumentRegistry), net.reader());
    let (owner, ..) = reg
        .getDocument(doc(1))
        .call()
        .await
        .map(|d| (d.owner, d.documentHash))
        .expect("read");
    assert!(owner.is_zero());
}

/// The real `cast` binary from the npm package, beside anvil's.
fn cast_path() -> std::path::PathBuf {
    let anvil = anvil_path();
    let platform = anvil
        .parent()
        .and_then(|bin| bin.parent())
        .and_then(|pkg| pkg.file_name())
        .and_then(|n| n.to_str())
        .expect("anvil package dir")
        .replace("anvil-", "cast-");
    anvil
        .ancestors()
        .nth(3)
        .expect("@foundry-rs dir")
        .join(platform)
        .join("bin/cast")
}

/// Cast knows no ABI here, so it shows a custom error by its selector.
fn selector<E: alloy::sol_types::SolError>() -> String {
    format!("0x{}", alloy::hex::encode(E::SELECTOR))
}

fn cast(args: &[&str]) -> (bool, String) {
    let o = Command::new(cast_path())
        .args(args)
        .output()
        .expect("run cast");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    (o.status.success(), text)
}

#[tokio::test]
async fn cast_operates_the_deployed_suite_as_the_pause_matrix_says() {
    let net = testnet().await;
    let rpc = net.devnet.anvils[0].url.expose().to_string();
    let registry = net.addr(ContractKind::DocumentRegistry).to_string();
    let key = |s: &guardian::chain::Signer| format!("0x{}", alloy::hex::encode(s.key().to_bytes()));
    let user = key(&net.account(6));
    let pauser = key(&net.pauser);
    let zero = "0x0000000000000000000000000000000000000000";
    let register = |n: u64, fee: &str| {
        cast(&[
            "send",
            "--rpc-url",
            &rpc,
            "--private-key",
            &user,
            &registry,
            "registerDocument(bytes32,bytes32,address)",
            &doc(n).to_string(),
            &doc(1000 + n).to_string(),
            zero,
            "--value",
            fee,
        ])
    };

    let (ok, out) = register(1, "1000000000000000");
    assert!(ok, "register: {out}");
    let (ok, out) = cast(&[
        "call",
        "--rpc-url",
        &rpc,
        &registry,
        "getDocument(bytes32)(address,bytes32,address,uint64)",
        &doc(1).to_string(),
    ]);
    assert!(
        ok && out
            .to_lowercase()
            .contains(&net.account(6).address().to_string().to_lowercase()),
        "{out}"
    );
    let (ok, out) = register(2, "1");
    assert!(
        !ok && out.contains(&selector::<DocumentRegistry::IncorrectFee>()),
        "wrong fee: {out}"
    );

    let (ok, out) = cast(&[
        "send",
        "--rpc-url",
        &rpc,
        "--private-key",
        &user,
        &registry,
        "pause()",
    ]);
    assert!(
        !ok && out.contains(&selector::<
            DocumentRegistry::AccessControlUnauthorizedAccount,
        >()),
        "{out}"
    );
    let (ok, out) = cast(&[
        "send",
        "--rpc-url",
        &rpc,
        "--private-key",
        &pauser,
        &registry,
        "pause()",
    ]);
    assert!(ok, "pause: {out}");
    let (ok, out) = cast(&["call", "--rpc-url", &rpc, &registry, "paused()(bool)"]);
    assert!(ok && out.trim() == "true", "{out}");

    let (ok, out) = register(3, "1000000000000000");
    assert!(
        !ok && out.contains(&selector::<DocumentRegistry::EnforcedPause>()),
        "registration while paused: {out}"
    );
    let new_owner = net.account(7).address().to_string();
    let (ok, out) = cast(&[
        "send",
        "--rpc-url",
        &rpc,
        "--private-key",
        &user,
        &registry,
        "transferDocumentOwnership(bytes32,address)",
        &doc(1).to_string(),
        &new_owner,
    ]);
    assert!(ok, "ownership transfer keeps working while paused: {out}");
}
