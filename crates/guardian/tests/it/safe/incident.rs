//! An incident on a deployment whose rescue and resume roles only a Safe holds, through the
//! binary: the level 2 playbook pauses with the pause key at once and prepares the rescue as a
//! proposal; the rescue executed, the resume waits for solvency; the Safe, as the treasury,
//! returns the funds by proposal; `incident unpause` proposes the unpause; every step is on the
//! incident's timeline.

use super::*;

/// A 2-of-3 Safe (owners: accounts 7, 8, 9) holding `PAUSER_ROLE` and `EMERGENCY_ROLE` on the
/// escrow, which holds `deposit`; the manifest has the pause key, two owners' keys and the
/// Safe, which is also the safe recipient.
pub(crate) async fn escrow_under_a_safe(
    net: &TestNet,
    deposit: U256,
) -> (safe::Deployed, tempfile::TempDir) {
    let url = net.devnet.anvils[0].url.expose().clone();
    crate::support::register_and_deposit(url, &net.devnet.manifest, deposit).await;
    let owners: Vec<Signer> = (7..10).map(|i| net.account(i)).collect();
    let addresses: Vec<Address> = owners.iter().map(|o| o.address()).collect();
    let d = tokio::select! {
        d = safe::deploy(&net.client, &owners[2], &addresses, 2) => d.expect("deploy the Safe"),
        () = guardian::devnet::unstick(&net.client) => unreachable!("unstick never returns"),
    };
    let escrow = DocumentRegistry::new(
        net.addr(ContractKind::PaymentEscrow),
        net.as_signer(&net.admin),
    );
    for role in [Role::Pauser, Role::Emergency] {
        send_ok!(escrow.grantRole(role.id(), d.safe));
    }
    let dir = safe_manifest(net, &d);
    let path = dir.path().join("guardian.toml");
    let mut m = guardian::config::Manifest::load(&path).expect("manifest");
    m.signers.insert(
        "pauser".into(),
        guardian::config::SignerConfig {
            dev_account: Some(guardian::devnet::accounts::PAUSER),
            ..Default::default()
        },
    );
    m.emergency.safe_recipients = vec![d.safe];
    m.write(&path, true).expect("write");
    (d, dir)
}

#[tokio::test]
async fn a_level_two_incident_prepares_the_rescue_and_resumes_through_the_safe() {
    let net = testnet().await;
    let five = U256::from(5_000_000_000_000_000_000u128);
    let (d, dir) = escrow_under_a_safe(&net, five).await;
    let escrow = net.addr(ContractKind::PaymentEscrow);
    let run = |args: Vec<&str>| {
        let args: Vec<String> = args.into_iter().map(String::from).collect();
        let dir = dir.path().to_path_buf();
        async move {
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            crate::support::bin::run(&dir, &[], &refs).await
        }
    };

    // The playbook pauses with the key at once, and prepares the rescue for the owners.
    let (ok, out, err) = run(vec![
        "incident",
        "open",
        "--level",
        "2",
        "--title",
        "escrow drain",
        "--contracts",
        "escrow",
    ])
    .await;
    assert!(ok, "{out}\n{err}");
    assert!(is_paused(&net, ContractKind::PaymentEscrow).await);
    assert!(
        out.contains("rescue prepared for the Safe's owners: proposal 1")
            && out.contains("withdraw 5"),
        "{out}"
    );
    assert_eq!(
        net.balance(escrow).await,
        five,
        "nothing moves before the owners sign"
    );
    let (ok, out, err) = run(vec!["incident", "show", "1"]).await;
    assert!(ok, "{out}\n{err}");
    assert!(out.contains("0 of 2"), "what waits on which signers: {out}");
    let timeline = out.split("\ntimeline").nth(1).expect("the timeline");
    assert!(
        !timeline.contains("{\""),
        "each entry told in words, not as raw JSON: {timeline}"
    );
    super::confirm_and_execute(dir.path(), "1").await;
    assert_eq!(net.balance(escrow).await, U256::ZERO);
    assert_eq!(net.balance(d.safe).await, five);

    // Only the Safe may unpause now; the escrow owes what it no longer holds.
    let admin = DocumentRegistry::new(escrow, net.as_signer(&net.admin));
    send_ok!(admin.revokeRole(Role::Pauser.id(), net.pauser.address()));
    let resume = vec!["incident", "unpause", "1", "--force", "--reason", "drill"];
    let (ok, out, err) = run(resume.clone()).await;
    assert!(
        !ok && (out + &err).contains("replenish"),
        "waits for solvency"
    );

    // The Safe is the treasury: it returns the funds by proposal.
    let (ok, out, err) = run(vec![
        "replenish",
        "--contract",
        "escrow",
        "--native",
        "--amount",
        "5",
        "--signer",
        "ops",
    ])
    .await;
    assert!(ok, "{out}\n{err}");
    assert!(out.contains("Safe proposal 2"), "{out}");
    assert_eq!(net.balance(escrow).await, U256::ZERO);
    super::confirm_and_execute(dir.path(), "2").await;
    assert_eq!(net.balance(escrow).await, five);

    // The resume is proposed to the Safe, and executed.
    let (ok, out, err) = run(resume).await;
    assert!(ok, "{out}\n{err}");
    assert!(
        out.contains("proposed to the Safe's owners") && out.contains("Safe proposal 3"),
        "{out}"
    );
    assert!(is_paused(&net, ContractKind::PaymentEscrow).await);
    super::confirm_and_execute(dir.path(), "3").await;
    assert!(!is_paused(&net, ContractKind::PaymentEscrow).await);

    // The timeline holds each step of the rescue and of the resume.
    let (ok, out, err) = run(vec!["incident", "show", "1", "--json"]).await;
    assert!(ok, "{out}\n{err}");
    let view: serde_json::Value = serde_json::from_str(&out).expect("json");
    let steps: Vec<(i64, String)> = view["timeline"]
        .as_array()
        .expect("timeline")
        .iter()
        .filter(|e| e["kind"] == "safe")
        .map(|e| {
            (
                e["details"]["proposal"].as_i64().expect("proposal"),
                e["details"]["event"].as_str().expect("event").to_string(),
            )
        })
        .collect();
    for id in [1, 3] {
        let of: Vec<&str> = steps
            .iter()
            .filter(|(p, _)| *p == id)
            .map(|(_, e)| e.as_str())
            .collect();
        assert_eq!(
            of,
            ["proposed", "confirmed", "confirmed", "executed"],
            "proposal {id}: {steps:?}"
        );
    }
}
