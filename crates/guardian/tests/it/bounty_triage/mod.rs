//! The team's side of the bug bounty desk, end to end on a devnet through the real binaries
//! (`guardian serve` and the CLI), with a local SMTP server for the researcher's e-mail and a
//! local webhook for the team: the helpers, a confirmed high report pausing only its contracts,
//! and a closed report explaining itself. The critical report's whole lifecycle is in
//! [`lifecycle`].

use std::{process::Stdio, time::Duration};

use guardian::{bounty::crypto, devnet::Devnet};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt as _, BufReader};

mod lifecycle;

use crate::support::{http_sink::HttpSink, smtp_sink::SmtpSink, start_devnet};

const POC: &str = "POC-91c2: call release() from the drainer before the payee's state is written";
const RESEARCHER: &str = "alice@research.example";

/// The devnet's manifest in a temp dir, with the team's key and an e-mail contact that writes
/// to researchers.
fn manifest_dir(devnet: &Devnet, public_key: &str, team_hook: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tmp");
    let manifest = dir.path().join("guardian.toml");
    devnet.manifest.write(&manifest, true).expect("write");
    let mut text = std::fs::read_to_string(&manifest).expect("read");
    text.push_str(&format!(
        r#"
[bounty]
team_public_key = "{public_key}"
native_usd = 3000.0

[[contacts]]
name = "bounty-mail"
channel = "email"
to = ["security@integra.example"]
from = "bounty@integra.example"
smtp_url_env = "SMTP_URL"
audiences = ["researchers"]

[[contacts]]
name = "team-hook"
channel = "webhook"
url = "{team_hook}/team"
secret_env = "HOOK_KEY"
min_severity = "high"
"#
    ));
    std::fs::write(&manifest, text).expect("write bounty");
    dir
}

/// Runs guardian in `dir` as operator `who`, with the team's secret when given.
/// The team's working directory and the SMTP server's URL (the manifest names its variable).
#[derive(Clone)]
struct Team {
    dir: std::path::PathBuf,
    smtp: String,
    /// The PostgreSQL database the records are in (`GUARDIAN_DATABASE_URL`); SQLite without.
    database: Option<String>,
}

async fn guardian(
    t: &Team,
    who: &str,
    secret: Option<&str>,
    args: &[&str],
) -> (bool, String, String) {
    let mut vars = vec![
        ("GUARDIAN_OPERATOR", who),
        ("SMTP_URL", t.smtp.as_str()),
        ("HOOK_KEY", "bounty-test-key"),
    ];
    if let Some(s) = secret {
        vars.push(("GUARDIAN_BOUNTY_KEY", s));
    }
    if let Some(url) = &t.database {
        vars.push(("GUARDIAN_DATABASE_URL", url));
    }
    crate::support::bin::run(&t.dir, &vars, args).await
}

async fn json_of(t: &Team, who: &str, secret: Option<&str>, args: &[&str]) -> Value {
    let (ok, out, err) = guardian(t, who, secret, args).await;
    assert!(ok, "guardian {args:?} failed:\n{out}\n{err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// The number the team knows a report by, from the answer to its submission (whose `id` is the
/// public id the researcher knows it by): `guardian bounty show` finds it by either.
async fn number_of(t: &Team, answer: &Value) -> i64 {
    let public = answer["id"].as_str().expect("a public id");
    assert!(crypto::is_public_id(public), "{answer}");
    let shown = json_of(t, "x", None, &["bounty", "show", public, "--json"]).await;
    assert_eq!(shown["report"]["public_id"], public, "{shown}");
    shown["report"]["id"].as_i64().expect("the team's number")
}

/// `guardian serve` on a free port; returns the child and its base URL.
async fn serve(t: &Team) -> (tokio::process::Child, String) {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_guardian"));
    if let Some(url) = &t.database {
        command.env("GUARDIAN_DATABASE_URL", url);
    }
    let mut child = command
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("SMTP_URL", &t.smtp)
        .env("HOOK_KEY", "bounty-test-key")
        .current_dir(&t.dir)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("serve starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
        .await
        .expect("serve announces itself")
        .expect("read");
    let Some(line) = line else {
        let mut err = String::new();
        if let Some(mut e) = child.stderr.take() {
            let _ = tokio::io::AsyncReadExt::read_to_string(&mut e, &mut err).await;
        }
        panic!("guardian serve stopped: {err}");
    };
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .expect("url")
        .trim_end_matches("/bounty")
        .to_string();
    (child, url)
}

struct Api {
    http: reqwest::Client,
    base: String,
}

impl Api {
    async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let url = format!("{}{path}", self.base);
        let mut req = match method {
            "GET" => self.http.get(url),
            _ => self.http.post(url),
        };
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.expect("send");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }
}

fn report(title: &str, description: &str) -> Value {
    json!({
        "title": title,
        "severity": "critical",
        "impact": "direct-theft-of-funds",
        "contracts": ["escrow"],
        "description": description,
        "proof_of_concept": POC,
        "contact": RESEARCHER,
        "credit_as": "Alice Example",
    })
}

/// Each pausable contract's state on chain, as `guardian status --json` reads it.
async fn paused(t: &Team) -> Vec<(String, bool)> {
    let status = json_of(t, "x", None, &["status", "--json"]).await;
    status["contracts"]
        .as_array()
        .expect("contracts")
        .iter()
        .filter(|c| c["paused"].is_boolean())
        .map(|c| {
            (
                c["name"].as_str().expect("name").to_string(),
                c["paused"] == true,
            )
        })
        .collect()
}

fn statuses(thread: &Value) -> Vec<String> {
    thread
        .as_array()
        .expect("thread")
        .iter()
        .filter_map(|e| e["status"].as_str().map(str::to_string))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_confirmed_high_report_pauses_only_its_contracts_and_a_closed_one_says_why() {
    let devnet = start_devnet(1, 1, None).await;
    let smtp = SmtpSink::start().await;
    let hook = HttpSink::start().await;
    let pair = crypto::generate();
    let dir = manifest_dir(&devnet, &pair.public, &hook.url);
    let t = &Team {
        dir: dir.path().to_path_buf(),
        smtp: format!("smtp://127.0.0.1:{}", smtp.port),
        database: None,
    };
    let (_server, base) = serve(t).await;
    let api = Api {
        http: reqwest::Client::new(),
        base,
    };
    let mut high = report(
        "Payments frozen",
        "A payee can freeze every pending payment for a week.",
    );
    high["severity"] = json!("high");
    high["impact"] = json!("temporary-freezing-of-funds");
    high["contact"] = json!("@alice on the forum");
    let (_, created) = api.call("POST", "/bounty/reports", None, Some(high)).await;
    let id = number_of(t, &created).await.to_string();
    let confirmed = json_of(
        t,
        "carol",
        None,
        &[
            "bounty",
            "confirm",
            &id,
            "--severity",
            "high",
            "--impact",
            "temporary-freezing-of-funds",
            "--json",
        ],
    )
    .await;
    // Not an e-mail address: the researcher reads the thread instead.
    assert!(
        confirmed["researcher_not_emailed"]
            .as_str()
            .expect("why")
            .contains("not an e-mail address")
    );
    let incident = confirmed["incident"]["incident"]
        .as_i64()
        .expect("incident")
        .to_string();
    let show = json_of(t, "x", None, &["incident", "show", &incident, "--json"]).await;
    assert_eq!(show["level"], 2);
    for (name, is_paused) in paused(t).await {
        assert_eq!(
            is_paused,
            name == "escrow",
            "only the escrow is paused: {name}"
        );
    }
    assert!(smtp.mails().is_empty(), "no e-mail to a handle");

    // Closing needs evidence, and the researcher reads the reason and the evidence.
    let (_, spam) = api
        .call(
            "POST",
            "/bounty/reports",
            None,
            Some(json!({
                "title": "hi", "severity": "low", "impact": "fails-to-deliver-promised-returns",
                "contracts": ["registry"], "description": "buy my token", "contact": RESEARCHER,
            })),
        )
        .await;
    let spam_id = number_of(t, &spam).await.to_string();
    let spam_public = spam["id"].as_str().expect("public id").to_string();
    let spam_token = spam["token"].as_str().expect("token").to_string();
    let (ok, _, err) = guardian(
        t,
        "bob",
        None,
        &[
            "bounty",
            "close",
            &spam_id,
            "--reason",
            "spam",
            "--evidence",
            " ",
        ],
    )
    .await;
    assert!(!ok && err.contains("--evidence"), "{err}");
    json_of(
        t,
        "bob",
        None,
        &[
            "bounty",
            "close",
            &spam_id,
            "--reason",
            "spam",
            "--evidence",
            "An advertisement, not a vulnerability: <b>buy</b>",
            "--json",
        ],
    )
    .await;
    let (_, view) = api
        .call(
            "GET",
            &format!("/bounty/reports/{spam_public}"),
            Some(&spam_token),
            None,
        )
        .await;
    assert_eq!(view["status"], "closed");
    assert_eq!(view["close_reason"], "spam");
    let last = view["thread"]
        .as_array()
        .expect("thread")
        .last()
        .cloned()
        .expect("entry");
    assert!(
        last["message"]
            .as_str()
            .expect("message")
            .contains("An advertisement"),
        "{last}"
    );
    assert_eq!(last["author"], "bob");
    // The researcher's page says why, with every text inert.
    let page = api
        .http
        .get(format!("{}/bounty/reports/{spam_public}", api.base))
        .header("accept", "text/html")
        .bearer_auth(&spam_token)
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(
        page.contains("<th>Closed</th><td>spam: An advertisement"),
        "{page}"
    );
    assert!(
        page.contains("&lt;b&gt;buy&lt;/b&gt;") && !page.contains("<b>buy</b>"),
        "{page}"
    );
    assert!(page.contains("not confirmed"), "{page}");
}
