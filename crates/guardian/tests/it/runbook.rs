//! `guardian runbook` against a real devnet whose roles went to a Safe: what slows a response is
//! at the top, naming the contract or Safe; the role holders are listed; every command printed
//! parses; no secret of the contacts appears; the HTML stands alone; the last drill is shown.

use alloy::primitives::Address;
use bindings::interfaces::IAccessControl;
use clap::Parser as _;
use guardian::{
    cli::Cli,
    config::{ChainConfig, ContactConfig, ContractConfig, ContractKind},
    deployment::Deployment,
    roles::Role,
    runbook,
    secret::RpcUrl,
};

use crate::{
    contracts::{escrow, ether, pause, register},
    send_ok,
    support::testnet,
};

/// An endpoint whose path holds an API key, on a port nobody answers.
const RPC_WITH_KEY: &str = "http://127.0.0.1:9/v3/runbook-rpc-key-51b0";

/// The webhook contact's inline URL and the value of its variable: neither may be printed.
const INLINE_URL: &str = "https://hooks.example.net/runbook-inline-secret-4f1e";
const HOOK_VAR: &str = "RUNBOOK_TEST_HOOK";
const HOOK_VALUE: &str = "https://discord.example/api/webhooks/99/runbook-env-secret-7a2c";

/// The contacts: the team on Discord (URL in a variable), partners through a signed webhook with
/// its URL inline; nobody for users or the public.
fn contacts() -> Vec<ContactConfig> {
    let text = format!(
        r#"
[[contacts]]
name = "security-discord"
channel = "discord"
webhook_url_env = "{HOOK_VAR}"

[[contacts]]
name = "partners-hook"
channel = "webhook"
url = "{INLINE_URL}"
secret_env = "RUNBOOK_TEST_HMAC"
audiences = ["partners"]
"#
    );
    #[derive(serde::Deserialize)]
    struct Only {
        contacts: Vec<ContactConfig>,
    }
    toml::from_str::<Only>(&text).expect("contacts").contacts
}

/// Splits a shell line the way the runbook quotes it: single quotes (with `'\''`) and spaces.
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    let mut started = false;
    for c in line.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                started = true;
            }
            ' ' if !quoted => {
                if started {
                    words.push(std::mem::take(&mut word));
                    started = false;
                }
            }
            c => {
                word.push(c);
                started = true;
            }
        }
    }
    assert!(!quoted, "unbalanced quote in {line}");
    if started {
        words.push(word);
    }
    words
}

/// Every `guardian …` command a Markdown runbook prints: the lines of its code blocks and its
/// inline code spans.
fn printed_commands(md: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_block = false;
    for line in md.lines() {
        let t = line.trim();
        if t.starts_with("```") {
            in_block = !in_block;
            continue;
        }
        if in_block {
            out.push(t.to_string());
            continue;
        }
        for (i, span) in t.split('`').enumerate() {
            if i % 2 == 1 && span.starts_with("guardian ") {
                out.push(span.to_string());
            }
        }
    }
    out
}

/// Each printed command, with the incident id set, is one the command line accepts.
fn assert_all_parse(md: &str) -> usize {
    let mut checked = 0;
    for line in printed_commands(md) {
        // Another engineer's command, named as the way to record a drill.
        if line.starts_with("guardian drill") {
            continue;
        }
        let argv = shell_words(&line.replace("$ID", "7"));
        assert_eq!(argv[0], "guardian", "{line}");
        if let Err(e) = Cli::try_parse_from(&argv) {
            panic!("printed command does not parse: {line}\n{e}");
        }
        checked += 1;
    }
    checked
}

#[tokio::test]
async fn the_runbook_puts_what_slows_a_response_first_and_every_command_parses() {
    let mut net = testnet().await;
    let m = net.devnet.manifest.clone();
    let name_of = |kind| {
        m.contracts
            .iter()
            .find(|c| c.kind == kind)
            .expect("in manifest")
            .name()
            .to_string()
    };
    let brake = name_of(ContractKind::EmergencyBrake);

    // The escrow is owed 3 ETH and holds none: paused, rescued, not returned.
    let user = net.account(6);
    let id = register(&net, &user, 1, Address::ZERO).await;
    send_ok!(
        escrow(&net, &user)
            .deposit(id, Address::ZERO, ether(3), net.account(7).address())
            .value(ether(3))
    );
    pause(&net, ContractKind::PaymentEscrow).await;
    send_ok!(escrow(&net, &net.emergency).emergencyWithdraw(
        Address::ZERO,
        net.safe.address(),
        ether(3)
    ));

    // Nobody may pause the tokenizer any more: its pause key and the brake lose PAUSER_ROLE.
    let tokenizer = IAccessControl::new(
        net.addr(ContractKind::OwnershipTokenizer),
        net.as_signer(&net.admin),
    );
    for who in [net.pauser.address(), net.addr(ContractKind::EmergencyBrake)] {
        send_ok!(tokenizer.revokeRole(Role::Pauser.id(), who));
    }
    // The resolver's pause key loses it too, but the brake still pauses the resolver.
    let resolver = IAccessControl::new(
        net.addr(ContractKind::AuditResolver),
        net.as_signer(&net.admin),
    );
    send_ok!(resolver.revokeRole(Role::Pauser.id(), net.pauser.address()));

    // The multisig roles go to a 2-of-3 Safe; the manifest keeps the key of one owner only.
    let d = net
        .devnet
        .hand_roles_to_safe(2, 3)
        .await
        .expect("hand over");
    let mut manifest = net.devnet.manifest.clone();
    manifest.signers.remove("owner-2");
    manifest.signers.remove("owner-3");
    manifest.contacts = contacts();
    // A second chain nobody answers on, with a contract on it.
    manifest.chains.insert(
        "gone".into(),
        ChainConfig::new(4242, vec![RPC_WITH_KEY.parse::<RpcUrl>().expect("url")]),
    );
    let mut far: ContractConfig = manifest.contracts[0].clone();
    far.name = toml::Spanned::new(0..0, "registry-gone".to_string());
    far.chain = toml::Spanned::new(0..0, "gone".to_string());
    manifest.contracts.push(far);
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("guardian.toml");
    manifest.write(&path, true).expect("write");

    let env = |name: &str| match name {
        HOOK_VAR => Some(HOOK_VALUE.to_string()),
        "RUNBOOK_TEST_HMAC" => Some("hmac-runbook-secret".to_string()),
        _ => None,
    };
    let deployment = Deployment::open(&path, None, &env).await.expect("open");

    // Before any drill, the runbook says how to record one.
    let before = runbook::to_markdown(&runbook::read(&deployment).await);
    assert!(
        before.contains("No drill recorded: run `guardian drill --fork`"),
        "{before}"
    );

    let drill = deployment
        .store
        .begin_action(
            "drill",
            "alice@ops-3",
            None,
            &serde_json::json!({"fork": true}),
        )
        .expect("begin");
    deployment
        .store
        .finish_action(
            drill,
            true,
            "level 3 rehearsed on a fork: 5 paused, 3.0 ETH rescued",
        )
        .expect("finish");

    let book = runbook::read(&deployment).await;
    let md = runbook::to_markdown(&book);
    let html = runbook::to_html(&book);
    let json = serde_json::to_string(&book).expect("json");

    // Findings come first and name what they are about.
    let findings_end = md.find("## Contracts").expect("contracts section");
    let top = &md[..findings_end];
    let finding = |kind: &str, subject: &str| {
        book.findings
            .iter()
            .find(|f| f.kind == kind && f.subject == subject)
            .unwrap_or_else(|| panic!("no {kind} finding on {subject}: {:#?}", book.findings))
    };
    let unpausable = finding("unpausable", "tokenizer");
    assert!(unpausable.message.contains("no one can pause tokenizer"));
    let safe = finding("safe-threshold", "multisig (local)");
    assert!(
        safe.message.contains("needs 2 of 3")
            && safe.message.contains("keys for 1 of its owners (owner-1)")
            && safe.message.contains(&d.safe.to_string()),
        "{}",
        safe.message
    );
    let short = finding("insolvent", "escrow");
    assert!(short.message.contains("short 3.0 ETH"), "{}", short.message);
    let fix = short.command.as_ref().expect("a command");
    assert_eq!(
        fix.line(),
        "guardian replenish --contract escrow --native --amount 3.0"
    );
    finding("unreadable", "gone");
    finding("no-contact", "users");
    finding("no-contact", "public");
    assert!(
        !book
            .findings
            .iter()
            .any(|f| f.kind == "no-contact" && f.subject == "team"),
        "the team has a contact"
    );
    for pausable in ["registry", "resolver"] {
        assert!(
            !book.findings.iter().any(|f| f.subject == pausable),
            "{pausable} can be paused (the resolver through the brake): {:#?}",
            book.findings
        );
    }
    for needle in [
        "`tokenizer` (unpausable)",
        "`multisig (local)` (safe-threshold)",
        "`escrow` (insolvent)",
        "`gone` (unreadable)",
        "`public` (no-contact)",
    ] {
        assert!(top.contains(needle), "{needle} not in the findings:\n{top}");
    }
    assert!(!book.ok(), "an unpausable contract is critical");

    // The role holders: the pause key guardian holds, the brake, the Safe with its owners.
    let rest = &md[findings_end..];
    assert!(
        rest.contains(&format!(
            "| registry | PAUSER_ROLE | key `pauser` {} (guardian holds its signer); brake `{brake}`",
            net.pauser.address()
        )),
        "{rest}"
    );
    assert!(
        rest.contains("| tokenizer | PAUSER_ROLE | **nobody** |"),
        "{rest}"
    );
    assert!(
        rest.contains(&format!(
            "| escrow | EMERGENCY_ROLE | Safe `multisig` {} (2 of 3 owners) |",
            d.safe
        )),
        "{rest}"
    );
    let owner = |i| guardian::devnet::dev_address(i).expect("dev");
    let first = guardian::devnet::accounts::FIRST_OWNER;
    assert!(
        rest.contains(&format!(
            "Safe `multisig` {} needs 2 of 3 owners: {} (`owner-1`, guardian holds its key), {} (signs outside guardian)",
            d.safe,
            owner(first),
            owner(first + 1)
        )),
        "{rest}"
    );
    assert!(rest.contains("| escrow | PaymentEscrow |") && rest.contains("PAUSED"));
    assert!(rest.contains("CANNOT BE READ"), "{rest}");
    assert!(
        rest.contains(&format!(
            "| resolver | HOOK_SOURCE_ROLE | contract `registry` {}",
            net.addr(ContractKind::DocumentRegistry)
        )),
        "{rest}"
    );
    assert!(
        rest.contains("| registry-gone | DocumentRegistry |"),
        "{rest}"
    );

    // The levels, with this deployment's names: the first safe recipient, the contracts.
    let recipient = net.safe.address();
    assert!(
        md.contains(&format!(
            "guardian withdraw --everything --to {recipient} --incident $ID"
        )),
        "{md}"
    );
    assert!(md.contains("guardian pause --all"));
    // The id stays a variable the shell expands, inside a word too.
    assert!(md.contains("guardian incident report $ID --format html --out postmortem-$ID.html"));
    assert!(md.contains("guardian incident open --level 3 --title 'active exploit'"));
    assert!(md.contains(
        "guardian incident open --level 2 --title 'exploitable bug' --contracts registry"
    ));
    assert!(md.find("### Level 3").expect("3") < md.find("### Level 1").expect("1"));

    // Every command printed parses, and so does every command of the JSON.
    let checked = assert_all_parse(&md);
    assert!(checked >= 25, "only {checked} commands found");
    for level in &book.levels {
        for step in &level.steps {
            if let Some(c) = &step.command {
                let argv: Vec<String> = c.argv.iter().map(|a| a.replace("$ID", "7")).collect();
                Cli::try_parse_from(&argv).unwrap_or_else(|e| panic!("{argv:?}: {e}"));
            }
        }
    }

    // The contacts by name and channel; no URL, token or secret anywhere.
    assert!(md.contains("| security-discord | discord | team |"), "{md}");
    assert!(
        md.contains("| partners-hook | webhook | partners |"),
        "{md}"
    );
    for text in [&md, &html, &json, &before] {
        for secret in [
            INLINE_URL,
            HOOK_VALUE,
            "hmac-runbook-secret",
            "hooks.example",
        ] {
            assert!(!text.contains(secret), "{secret} printed");
        }
    }

    // The HTML is one file: no script, no external asset, every section there.
    assert!(html.starts_with("<!DOCTYPE html>") && html.contains("<style>"));
    for outside in ["<script", "<link", "src=", "href=", "url(", "@import"] {
        assert!(!html.contains(outside), "{outside} in the HTML");
    }
    assert!(html.contains("no one can pause tokenizer"));
    assert!(html.contains("Safe <code>multisig</code>"));

    // The last drill: who, how it ended, its summary.
    for text in [&md, &html] {
        assert!(text.contains("alice@ops-3"), "{text}");
        assert!(text.contains("succeeded"));
        assert!(text.contains("level 3 rehearsed on a fork: 5 paused, 3.0 ETH rescued"));
        assert!(!text.contains("No drill recorded"));
    }
}

/// The command writes the HTML file with `--out` (a chain down does not stop it) and exits 1 on
/// a critical finding; `--json` gives the same contents for programs.
#[tokio::test]
async fn the_command_writes_the_file_and_says_so_in_its_exit_code() {
    let net = testnet().await;
    let dir = tempfile::tempdir().expect("tmp");
    let mut manifest = net.devnet.manifest.clone();
    manifest.contacts = contacts();
    manifest
        .write(&dir.path().join("guardian.toml"), true)
        .expect("write");
    let (ok, out, err) = crate::support::bin::run(
        dir.path(),
        &[(HOOK_VAR, HOOK_VALUE)],
        &["runbook", "--format", "html", "--out", "RUNBOOK.html"],
    )
    .await;
    assert!(ok, "no critical finding on a fresh devnet: {out}\n{err}");
    assert!(out.is_empty(), "with --out nothing goes to stdout: {out}");
    let html = std::fs::read_to_string(dir.path().join("RUNBOOK.html")).expect("written");
    assert!(html.starts_with("<!DOCTYPE html>") && html.ends_with("</body></html>\n"));
    assert!(html.contains("No drill recorded"));
    assert!(!html.contains(HOOK_VALUE));

    let (_, out, err) = crate::support::bin::run(dir.path(), &[], &["runbook", "--json"]).await;
    let v: serde_json::Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}\n{err}"));
    assert_eq!(v["levels"].as_array().map(Vec::len), Some(3), "{v}");
    assert_eq!(
        v["safe_recipients"][0],
        net.safe.address().to_string().to_lowercase(),
        "{v}"
    );
    let kinds: Vec<&str> = v["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter_map(|f| f["kind"].as_str())
        .collect();
    assert!(
        kinds.iter().all(|k| *k == "no-contact"),
        "a fresh devnet lacks only contacts for users and the public: {kinds:?}"
    );
}

/// A manifest without the pause key, with a signer whose key is not there and no safe
/// recipient: guardian could pause nothing itself, and the level-3 rescue says it cannot be done.
#[tokio::test]
async fn a_manifest_without_pause_key_or_safe_recipient_says_so_first() {
    let net = testnet().await;
    let mut manifest = net.devnet.manifest.clone();
    manifest.signers.remove("pauser");
    manifest.signers.insert(
        "oncall".into(),
        guardian::config::SignerConfig {
            private_key_env: Some("RUNBOOK_TEST_MISSING_KEY".into()),
            ..Default::default()
        },
    );
    manifest.emergency.safe_recipients.clear();
    let mut all = contacts();
    for c in &mut all {
        c.audiences = vec![
            "team".into(),
            "partners".into(),
            "users".into(),
            "public".into(),
        ];
    }
    manifest.contacts = all;
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("guardian.toml");
    manifest.write(&path, true).expect("write");
    let deployment = Deployment::open(&path, None, &|_| None)
        .await
        .expect("open");
    let book = runbook::read(&deployment).await;
    let kinds = |kind: &str| -> Vec<&str> {
        book.findings
            .iter()
            .filter(|f| f.kind == kind)
            .map(|f| f.subject.as_str())
            .collect()
    };
    assert_eq!(
        kinds("no-pause-key"),
        ["registry", "tokenizer", "escrow", "resolver"],
        "{:#?}",
        book.findings
    );
    assert_eq!(kinds("signer-unloaded"), ["oncall"]);
    assert_eq!(kinds("no-safe-recipient"), ["[emergency]"]);
    assert!(
        kinds("no-contact").is_empty(),
        "every audience has a contact"
    );
    assert!(
        kinds("unpausable").is_empty(),
        "the pause key can, outside guardian"
    );
    let md = runbook::to_markdown(&book);
    assert!(md.contains("Rescue the funds: NOT POSSIBLE"), "{md}");
    assert!(!md.contains("guardian withdraw"), "no recipient to name");
    assert!(md.contains("## Safe recipients\n\nNone"), "{md}");
    assert_all_parse(&md);
}
