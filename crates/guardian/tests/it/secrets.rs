//! Secrets through the real binary at trace level (`RUST_LOG=trace -vv`): an RPC URL whose path
//! and query come from `${VAR}` references, keys from the environment, and a URL in
//! `ETH_RPC_URL`. Every command runs, succeeds where it should, and prints none of them.

use std::{path::Path, process::Command};

use alloy::primitives::{Address, U256};
use bindings::DocumentRegistry;
use guardian::{
    config::{ContractKind, SignerConfig},
    secret::RpcUrl,
};

use crate::{
    send_ok,
    support::{
        doc,
        proxy::{self, Batches},
        testnet,
    },
};

/// The secret parts of the endpoint, as set in the environment.
const PATH_SECRET: &str = "pathsecret-3f9a1c5d";
const QUERY_SECRET: &str = "querysecret-7b2e8d41";

/// One `guardian` run at trace level, with only `PATH` and `vars` in its environment.
fn guardian(dir: &Path, vars: &[(&str, &str)], args: &[&str]) -> Command {
    let mut cmd = crate::support::bin::command(dir);
    cmd.env("RUST_LOG", "trace")
        .envs(vars.iter().copied())
        .arg("-vv")
        .args(args);
    cmd
}

/// Runs `cmd`, asserts none of `secrets` is in its stdout or stderr, and returns whether it
/// succeeded with both outputs.
fn run_clean(mut cmd: Command, secrets: &[String]) -> (bool, String, String) {
    let o = cmd.output().expect("guardian runs");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    );
    for secret in secrets {
        for (name, text) in [("stdout", &stdout), ("stderr", &stderr)] {
            if let Some(at) = text.find(secret.as_str()) {
                let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
                let line_end = text[at..].find('\n').map_or(text.len(), |i| at + i);
                panic!(
                    "guardian {:?}: a secret is on {name}, in:\n{}",
                    cmd.get_args().collect::<Vec<_>>(),
                    &text[line_start..line_end]
                );
            }
        }
    }
    (o.status.success(), stdout, stderr)
}

// Multi-threaded: the proxy serves on the runtime while the test waits for each command.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_command_shows_a_key_or_an_rpc_path_at_trace_level() {
    let net = testnet().await;
    // Anvil serves only `/`; the proxy forwards whatever path it is asked on.
    let proxy = proxy::start(net.devnet.anvils[0].url.expose().as_str(), Batches::Forward).await;
    let template = format!(
        "{}/v2/${{RPC_PATH_KEY}}?apikey=${{RPC_QUERY_KEY}}",
        proxy.url
    );
    let expanded = format!("{}/v2/{PATH_SECRET}?apikey={QUERY_SECRET}", proxy.url);

    let pauser_key = alloy::hex::encode(net.pauser.key().to_bytes());
    let emergency_key = alloy::hex::encode(net.emergency.key().to_bytes());
    let deployer_key = alloy::hex::encode(net.account(7).key().to_bytes());
    let mut secrets = vec![
        PATH_SECRET.to_string(),
        QUERY_SECRET.to_string(),
        pauser_key.clone(),
        emergency_key.clone(),
        deployer_key.clone(),
    ];

    let dir = tempfile::tempdir().expect("tmp");
    let mut m = net.devnet.manifest.clone();
    let url: RpcUrl = expanded.parse().expect("url");
    for chain in m.chains.values_mut() {
        chain.rpc_urls = vec![url.clone().with_template(template.clone())];
    }
    for (name, var) in [("pauser", "PAUSER_KEY"), ("emergency", "EMERGENCY_KEY")] {
        m.signers.insert(
            name.into(),
            SignerConfig {
                private_key_env: Some(var.into()),
                ..SignerConfig::default()
            },
        );
    }
    let manifest = dir.path().join("guardian.toml");
    m.write(&manifest, true).expect("write manifest");
    let text = std::fs::read_to_string(&manifest).expect("read manifest");
    assert!(text.contains(&template), "{text}");
    assert!(!text.contains(PATH_SECRET) && !text.contains(QUERY_SECRET));

    // Fees for withdraw to rescue.
    let registry_addr = net.addr(ContractKind::DocumentRegistry);
    let registry = DocumentRegistry::new(registry_addr, net.as_signer(&net.account(6)));
    let fee = registry.registrationFee().call().await.expect("fee");
    send_ok!(
        registry
            .registerDocument(doc(1), doc(2), Address::ZERO)
            .value(fee)
    );

    let oxkey = format!("0x{pauser_key}");
    let env: Vec<(&str, &str)> = vec![
        ("RPC_PATH_KEY", PATH_SECRET),
        ("RPC_QUERY_KEY", QUERY_SECRET),
        ("PAUSER_KEY", &oxkey),
        ("EMERGENCY_KEY", &emergency_key),
        ("DEPLOYER_KEY", &deployer_key),
    ];
    let safe = net.safe.address().to_string();
    let ok = |args: &[&str], secrets: &[String]| {
        let (success, stdout, stderr) = run_clean(guardian(dir.path(), &env, args), secrets);
        assert!(success, "guardian {args:?} failed:\n{stdout}\n{stderr}");
        (stdout, stderr)
    };

    let (stdout, stderr) = ok(&["status"], &secrets);
    assert!(stdout.contains("registry"), "{stdout}");
    // alloy's transport span carries the endpoint's full URL at this level: it was redacted,
    // not absent (the test would pass vacuously if nothing tried to log it).
    assert!(
        stderr.contains("ReqwestTransport") && stderr.contains("[redacted]"),
        "{stderr}"
    );
    let (stdout, _) = ok(&["pause", "--all", "--reason", "drill"], &secrets);
    assert!(stdout.contains("paused by this run"), "{stdout}");
    ok(
        &[
            "withdraw",
            "--contract",
            "registry",
            "--native",
            "--all",
            "--to",
            &safe,
            "--reason",
            "drill",
        ],
        &secrets,
    );
    assert_eq!(net.balance(registry_addr).await, U256::ZERO);
    let (stdout, _) = ok(
        &[
            "replenish",
            "--contract",
            "registry",
            "--native",
            "--amount",
            "0.001",
            "--signer",
            "emergency",
        ],
        &secrets,
    );
    assert!(stdout.contains("returned 0.001 ETH"), "{stdout}");
    ok(&["unpause", "--all", "--reason", "drill over"], &secrets);
    let (stdout, _) = ok(&["history"], &secrets);
    assert!(
        stdout.contains("withdraw") && stdout.contains("unpause"),
        "{stdout}"
    );
    ok(&["history", "--action", "1"], &secrets);

    // deploy: the endpoint from ETH_RPC_URL, written back as a reference.
    let mut with_url = env.clone();
    with_url.push(("ETH_RPC_URL", &expanded));
    let (success, stdout, stderr) = run_clean(
        guardian(
            dir.path(),
            &with_url,
            &[
                "deploy",
                "--private-key-env",
                "DEPLOYER_KEY",
                "--out",
                "deployed.toml",
            ],
        ),
        &secrets,
    );
    assert!(success, "deploy failed:\n{stdout}\n{stderr}");
    assert!(!stderr.contains("warning: the --rpc-url"), "{stderr}");
    let written =
        std::fs::read_to_string(dir.path().join("deployed.toml")).expect("deploy wrote a manifest");
    assert!(
        written.contains("rpc_urls = [\"${ETH_RPC_URL}\"]"),
        "{written}"
    );
    assert!(!written.contains(PATH_SECRET) && !written.contains(&deployer_key));
    // ... and the manifest it wrote works, with the same variable set.
    let (success, stdout, stderr) = run_clean(
        guardian(
            dir.path(),
            &with_url,
            &["--config", "deployed.toml", "status"],
        ),
        &secrets,
    );
    assert!(success, "{stdout}\n{stderr}");

    // deploy --rpc-url with a path: a warning that names neither path nor query, and an error
    // (wrong chain id) that does not either.
    let (success, _, stderr) = run_clean(
        guardian(
            dir.path(),
            &env,
            &[
                "deploy",
                "--rpc-url",
                &expanded,
                "--private-key-env",
                "DEPLOYER_KEY",
                "--chain-id",
                "1",
                "--out",
                "other.toml",
            ],
        ),
        &secrets,
    );
    assert!(!success);
    assert!(
        stderr.contains("warning: the --rpc-url endpoint has a path or query"),
        "{stderr}"
    );
    assert!(stderr.contains("chain id"), "{stderr}");
    // clap's own errors never show the value it read from ETH_RPC_URL.
    let (success, _, stderr) = run_clean(
        guardian(dir.path(), &with_url, &["deploy", "--no-such-flag"]),
        &secrets,
    );
    assert!(!success && stderr.contains("--no-such-flag"), "{stderr}");
    let (_, help, _) = run_clean(
        guardian(dir.path(), &with_url, &["deploy", "--help"]),
        &secrets,
    );
    assert!(help.contains("ETH_RPC_URL"), "{help}");

    // Config errors: a missing variable is named with its line, and no value is shown.
    let partial: Vec<(&str, &str)> = env
        .iter()
        .copied()
        .filter(|(k, _)| *k != "RPC_QUERY_KEY")
        .collect();
    let (success, _, stderr) = run_clean(guardian(dir.path(), &partial, &["status"]), &secrets);
    let line = text
        .lines()
        .position(|l| l.contains("RPC_QUERY_KEY"))
        .expect("reference")
        + 1;
    assert!(
        !success
            && stderr.contains(&format!(
                "guardian.toml:{line}: environment variable RPC_QUERY_KEY is not set"
            )),
        "{stderr}"
    );
    // A TOML error on a line holding a literal secret does not quote the line, and a value of
    // the wrong type is not quoted either.
    let literal = "literalsecret-5e4d3c2b";
    secrets.push(literal.to_string());
    for broken in [
        format!("rpc_urls = [\"{}/v2/{literal}\" \"x\"]", proxy.url),
        format!("rpc_urls = \"{}/v2/{literal}\"", proxy.url),
    ] {
        let bad = text.replace(&format!("rpc_urls = [\"{template}\"]"), &broken);
        assert_ne!(bad, text);
        std::fs::write(dir.path().join("bad.toml"), bad).expect("write");
        for args in [
            &["--config", "bad.toml", "status"][..],
            &["--config", "bad.toml", "pause", "--all"],
        ] {
            let (success, _, stderr) = run_clean(guardian(dir.path(), &env, args), &secrets);
            assert!(!success && stderr.contains("bad.toml:"), "{stderr}");
        }
    }
}
