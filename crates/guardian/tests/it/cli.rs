//! The `guardian` binary as an operator runs it: keys from the environment, the journal,
//! exit codes, and devnet processes that end with it.

use guardian::config::{Manifest, SignerConfig};

use crate::support::{anvil_path, testnet};

fn guardian(dir: &std::path::Path) -> std::process::Command {
    crate::support::bin::command(dir)
}

#[tokio::test]
async fn cli_pauses_with_a_key_from_the_environment_and_never_prints_it() {
    let net = testnet().await;
    let key = alloy::hex::encode(net.pauser.key().to_bytes());
    let dir = tempfile::tempdir().expect("tmp");
    let mut m = net.devnet.manifest.clone();
    m.signers.clear();
    m.signers.insert(
        "oncall".into(),
        SignerConfig {
            private_key_env: Some("GUARDIAN_PAUSER_KEY".into()),
            ..Default::default()
        },
    );
    m.write(&dir.path().join("guardian.toml"), true)
        .expect("write");

    // A dry run says what the pause would pay on each chain, and why.
    let o = guardian(dir.path())
        .env("GUARDIAN_PAUSER_KEY", &key)
        .args(["pause", "--all", "--dry-run"])
        .output()
        .expect("run");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success()
            && out.contains("would pay on local (oncall): tip ")
            && out.contains("max fee"),
        "{out}"
    );

    let o = guardian(dir.path())
        .env("GUARDIAN_PAUSER_KEY", &key)
        .env("RUST_LOG", "trace")
        .args(["-vv", "pause", "--all", "--reason", "drill"])
        .output()
        .expect("run");
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.status.success(), "{out}");
    assert!(out.contains("paused by this run"), "{out}");
    assert!(!out.contains(&key), "the key leaked into output or logs");

    let o = guardian(dir.path())
        .env("GUARDIAN_PAUSER_KEY", &key)
        .args(["status", "--json"])
        .output()
        .expect("run");
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert!(
        json["contracts"]
            .as_array()
            .expect("contracts")
            .iter()
            .filter(|c| c["kind"] == "DocumentRegistry")
            .all(|c| c["paused"] == true)
    );
    assert!(!String::from_utf8_lossy(&o.stderr).contains(&key));

    // The journal tells who did what, and why.
    let o = guardian(dir.path())
        .args(["history"])
        .output()
        .expect("run");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success()
            && out.contains("pause")
            && out.contains("drill")
            && out.contains("oncall"),
        "{out}"
    );
    let o = guardian(dir.path())
        .args(["history", "--json"])
        .output()
        .expect("run");
    let actions: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    let id = actions[0]["id"].as_i64().expect("id");
    let o = guardian(dir.path())
        .args(["history", "--action", &id.to_string(), "--json"])
        .output()
        .expect("run");
    let txs: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(
        txs.as_array().map(Vec::len),
        Some(1),
        "one pauseAll through the brake: {txs}"
    );
    assert_eq!(txs[0]["status"], "mined");
    assert!(
        txs[0]["max_fee_per_gas"].as_u64().is_some_and(|f| f > 0),
        "the fees are journalled: {txs}"
    );
    // The human view says why it paid what it paid, and which endpoint took it.
    let o = guardian(dir.path())
        .args(["history", "--action", &id.to_string()])
        .output()
        .expect("run");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("FEES (GWEI)") && out.contains("tip: ") && out.contains("public: accepted"),
        "{out}"
    );

    // Exit code 1 when a target cannot reach the wanted state; a missing key is a clear error.
    let o = guardian(dir.path())
        .args(["unpause", "registry"])
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("GUARDIAN_PAUSER_KEY is not set"),
        "{err}"
    );
}

#[test]
fn devnet_cli_starts_many_chains_and_leaves_no_anvil_behind() {
    use std::os::unix::process::CommandExt;
    // One try more: on a loaded machine anvil was seen (in CI, twice) holding a deployment
    // transaction as queued behind a nonce it never received, and the deployment waited out its
    // receipt. A failed start must leave no anvil behind either; the second must succeed.
    for attempt in 1..=2 {
        let dir = tempfile::tempdir().expect("tmp");
        // Its own process group: every anvil it starts is in it, and none may be left once it
        // exits. (Asking the chains' ports would not do: another test's anvil may be given a
        // freed port.)
        let child = guardian(dir.path())
            .args([
                "devnet", "--port", "0", "--chains", "3", "--copies", "2", "--exit", "--anvil",
            ])
            .arg(anvil_path())
            .process_group(0)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run");
        let group = child.id();
        let o = child.wait_with_output().expect("run");
        let left = processes_in_group(group);
        assert!(left.is_empty(), "anvil outlived guardian: {left:?}");
        let stderr = String::from_utf8_lossy(&o.stderr);
        if !o.status.success() && attempt == 1 && stderr.contains("not mined within") {
            eprintln!("devnet start failed once, trying again: {stderr}");
            continue;
        }
        assert!(o.status.success(), "{stderr}");
        let m = Manifest::load(&dir.path().join("guardian.toml")).expect("manifest");
        let mut ids: Vec<u64> = m.chains.values().map(|c| c.chain_id).collect();
        ids.sort();
        assert_eq!(ids, vec![31337, 31338, 31339]);
        assert_eq!(m.contracts.len(), 3 * 2 * 6);
        return;
    }
}

/// The live (not zombie) processes whose process group is `group`, with their command lines.
fn processes_in_group(group: u32) -> Vec<String> {
    let mut left = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ppid pgrp ...; comm may hold spaces, so split after its ')'.
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.len() > 2 && fields[0] != "Z" && fields[2] == group.to_string() {
            let cmd = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            left.push(String::from_utf8_lossy(&cmd).replace('\0', " "));
        }
    }
    left
}

#[test]
fn help_lists_operator_commands_and_no_benchmark() {
    let dir = tempfile::tempdir().expect("tmp");
    let o = guardian(dir.path()).arg("--help").output().expect("run");
    let help = String::from_utf8_lossy(&o.stdout).to_lowercase();
    assert!(o.status.success(), "{help}");
    for command in [
        "pause", "unpause", "withdraw", "status", "history", "upgrade", "revoke",
    ] {
        // Each as a command of its own line (`unpause` must not stand in for `pause`).
        assert!(
            help.lines()
                .any(|l| l.split_whitespace().next() == Some(command)),
            "{command} missing: {help}"
        );
    }
    assert!(!help.contains("bench"), "{help}");
    let o = guardian(dir.path()).arg("bench").output().expect("run");
    assert!(!o.status.success(), "`guardian bench` is not a command");
}
