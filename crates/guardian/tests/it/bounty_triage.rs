//! The team's side of the bug bounty desk, end to end on a devnet: `guardian serve` (the real
//! binary) takes a critical report; the team API refuses it without a team token and a role too
//! low; the triage runs through the API and the CLI alike, each step told to the researcher by
//! e-mail (a local SMTP server) and in their thread; confirming it opens a level-3 incident that
//! pauses everything; paying is capped by the tier; the post-mortem credits the researcher; and
//! the proof of concept is never in the database file in clear.

use std::{process::Stdio, time::Duration};

use age::secrecy::ExposeSecret as _;
use guardian::{bounty::crypto, devnet::Devnet};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt as _, BufReader};

use crate::support::{http_sink::HttpSink, smtp_sink::SmtpSink, start_devnet, testnet};

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
}

async fn guardian(
    t: &Team,
    who: &str,
    secret: Option<&str>,
    args: &[&str],
) -> (bool, String, String) {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_guardian"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("GUARDIAN_OPERATOR", who)
        .env("SMTP_URL", &t.smtp)
        .env("HOOK_KEY", "bounty-test-key")
        .current_dir(&t.dir)
        .args(args);
    if let Some(s) = secret {
        cmd.env("GUARDIAN_BOUNTY_KEY", s);
    }
    let o = cmd.output().await.expect("guardian runs");
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

async fn json_of(t: &Team, who: &str, secret: Option<&str>, args: &[&str]) -> Value {
    let (ok, out, err) = guardian(t, who, secret, args).await;
    assert!(ok, "guardian {args:?} failed:\n{out}\n{err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// `guardian serve` on a free port; returns the child and its base URL.
async fn serve(t: &Team) -> (tokio::process::Child, String) {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_guardian"))
        .env_clear()
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
async fn a_critical_report_goes_from_the_researcher_to_a_paused_suite_and_a_paid_reward() {
    let net = testnet().await;
    let devnet = &net.devnet;
    // 12 ETH in the escrow when the report comes in: $36,000 at risk at $3,000.
    crate::bounty_assess::register(&net).await;
    crate::bounty_assess::deposit(&net, None, crate::bounty_assess::eth(12)).await;
    let smtp = SmtpSink::start().await;
    let hook = HttpSink::start().await;
    let pair = crypto::generate();
    let secret = pair.secret.expose_secret().to_string();
    let dir = manifest_dir(devnet, &pair.public, &hook.url);
    let t = &Team {
        dir: dir.path().to_path_buf(),
        smtp: format!("smtp://127.0.0.1:{}", smtp.port),
    };
    let d = &t.dir;
    let (_server, base) = serve(t).await;
    let api = Api {
        http: reqwest::Client::new(),
        base,
    };

    // The researcher reports; the answer is an id and a follow-up token.
    let (code, created) = api
        .call("POST", "/bounty/reports", None, Some(report("Escrow drained through release", "release() pays before it records the payment, so a contract payee can take everything.")))
        .await;
    assert_eq!(code, 201, "{created}");
    let id = created["id"].as_i64().expect("id");
    let follow_up = created["token"].as_str().expect("token").to_string();

    // The team hears of it at once, from the server: the claim, never the researcher's text.
    let notice = hook.wait_for("/team", 1).await.remove(0).json();
    assert_eq!(notice["bounty"]["report"], id, "{notice}");
    assert_eq!(notice["bounty"]["claimed_severity"], "critical");
    assert!(
        !notice.to_string().contains("Escrow drained"),
        "no free text: {notice}"
    );

    // The team API refuses it without a team token, and a viewer may list but not decide.
    let path = format!("/api/bounty/reports/{id}");
    assert_eq!(api.call("GET", &path, None, None).await.0, 401);
    assert_eq!(api.call("GET", &path, Some(&follow_up), None).await.0, 401);
    let token = |role: &'static str| {
        let t = t.clone();
        async move {
            json_of(
                &t,
                "lead",
                None,
                &["token", "create", "--role", role, "--name", role, "--json"],
            )
            .await["token"]
                .as_str()
                .expect("token")
                .to_string()
        }
    };
    let (viewer, triager, admin) = (
        token("viewer").await,
        token("triager").await,
        token("admin").await,
    );
    let (code, list) = api
        .call("GET", "/api/bounty/reports", Some(&viewer), None)
        .await;
    assert_eq!(code, 200);
    assert_eq!(list["reports"][0]["id"], id);
    assert_eq!(
        api.call("POST", &format!("{path}/ack"), Some(&viewer), None)
            .await
            .0,
        403
    );

    // Acknowledged through the API, under the token's name; the researcher is told by e-mail.
    let (code, acked) = api
        .call("POST", &format!("{path}/ack"), Some(&triager), None)
        .await;
    assert_eq!(code, 200, "{acked}");
    assert_eq!(acked["taken"]["to"], "acknowledged");
    assert_eq!(acked["taken"]["by"], "triager");
    let mail = smtp.wait_for(1).await.remove(0);
    assert_eq!(mail.to, vec![RESEARCHER.to_string()], "{mail:?}");
    assert!(mail.data.contains("acknowledged"), "{}", mail.data);
    assert!(
        !mail.data.contains(POC),
        "the e-mail never carries the proof"
    );

    // Asked for more through the CLI; the researcher answers in the thread.
    let asked = json_of(
        t,
        "bob",
        None,
        &[
            "bounty",
            "ask",
            &id.to_string(),
            "--message",
            "Which block did you fork from?",
            "--json",
        ],
    )
    .await;
    assert_eq!(asked["to"], "needs-info");
    let (code, _) = api
        .call(
            "POST",
            &format!("/bounty/reports/{id}"),
            Some(&follow_up),
            Some(json!({"message": "Any recent block: the bug is in release()."})),
        )
        .await;
    assert_eq!(code, 201);
    let mails = smtp.wait_for(2).await;
    assert!(
        mails[1].data.contains("Which block did you fork from?"),
        "{}",
        mails[1].data
    );

    // A second researcher reports much the same thing later; it is marked a duplicate of the
    // first, and the first can never be the duplicate of the later one.
    let (_, second) = api
        .call(
            "POST",
            "/bounty/reports",
            None,
            Some(report(
                "Escrow drained via release",
                "release() pays before it records the payment so a payee contract takes everything",
            )),
        )
        .await;
    let second = second["id"].as_i64().expect("second id");
    let (ok, _, err) = guardian(
        t,
        "bob",
        None,
        &[
            "bounty",
            "duplicate",
            &id.to_string(),
            "--of",
            &second.to_string(),
        ],
    )
    .await;
    assert!(
        !ok && err.contains("earlier report has precedence"),
        "{err}"
    );
    // The triager sees the earlier report flagged beside the later one, never closed for them.
    let later = json_of(
        t,
        "bob",
        None,
        &["bounty", "show", &second.to_string(), "--json"],
    )
    .await;
    assert_eq!(later["report"]["status"], "reported");
    assert_eq!(later["possible_duplicates"][0]["id"], id, "{later}");
    // The later one's clock runs (48 hours for a critical claim); the first one's stopped.
    let listed = json_of(t, "x", None, &["bounty", "list", "--json"]).await;
    let clock_of = |n: i64| {
        listed["reports"]
            .as_array()
            .expect("reports")
            .iter()
            .find(|r| r["id"] == n)
            .expect("listed")["clock"]
            .clone()
    };
    assert_eq!(clock_of(second)["overdue"], false);
    assert_eq!(
        clock_of(second)["due_at"].as_i64().expect("due"),
        later["report"]["submitted_at"].as_i64().expect("submitted") + 48 * 3_600_000
    );
    assert!(clock_of(id)["acknowledged_at"].is_i64());
    let dup = json_of(
        t,
        "bob",
        None,
        &[
            "bounty",
            "duplicate",
            &second.to_string(),
            "--of",
            &id.to_string(),
            "--json",
        ],
    )
    .await;
    assert_eq!(dup["to"], "duplicate");

    // Paying before it is confirmed and fixed is refused, and nothing changes.
    let (ok, _, err) = guardian(
        t,
        "bob",
        None,
        &[
            "bounty",
            "pay",
            &id.to_string(),
            "--amount-usd",
            "1000",
            "--tx",
            &format!("0x{}", "ab".repeat(32)),
        ],
    )
    .await;
    assert!(
        !ok && err.contains("applies to a report that is fixed"),
        "{err}"
    );

    // Confirmed critical: a level-3 incident, with the report as its first evidence, pauses
    // every contract of the suite.
    let confirmed = json_of(
        t,
        "carol",
        None,
        &[
            "bounty",
            "confirm",
            &id.to_string(),
            "--severity",
            "critical",
            "--impact",
            "direct-theft-of-funds",
            "--json",
        ],
    )
    .await;
    assert_eq!(confirmed["to"], "confirmed", "{confirmed}");
    let incident = confirmed["incident"]["incident"]
        .as_i64()
        .expect("incident");
    assert_eq!(confirmed["incident"]["opened"], true);
    let show = json_of(
        t,
        "x",
        None,
        &["incident", "show", &incident.to_string(), "--json"],
    )
    .await;
    assert_eq!(show["level"], 3);
    let kinds: Vec<&str> = show["timeline"]
        .as_array()
        .expect("timeline")
        .iter()
        .map(|e| e["kind"].as_str().expect("kind"))
        .collect();
    assert_eq!(&kinds[..2], ["opened", "bounty-report"], "{kinds:?}");
    let pausable = paused(t).await;
    assert!(pausable.len() >= 3, "{pausable:?}");
    assert!(
        pausable.iter().all(|(_, p)| *p),
        "everything paused: {pausable:?}"
    );
    assert!(
        !serde_json::to_string(&show).expect("json").contains(POC),
        "the incident never holds the proof"
    );

    // The team reads the proof with its key; the disclosure date is 90 days after confirmation.
    let shown = json_of(
        t,
        "carol",
        Some(&secret),
        &["bounty", "show", &id.to_string(), "--json"],
    )
    .await;
    assert_eq!(shown["proof_of_concept"], POC);
    assert_eq!(shown["incident"], incident);
    let confirmed_at = shown["report"]["confirmed_at"]
        .as_i64()
        .expect("confirmed_at");
    assert_eq!(
        shown["disclosure"]["may_publish_from"],
        confirmed_at + 90 * 86_400_000
    );
    let without_key = json_of(
        t,
        "carol",
        None,
        &["bounty", "show", &id.to_string(), "--json"],
    )
    .await;
    assert!(without_key["proof_of_concept"].is_null());
    assert!(
        without_key["proof_of_concept_error"]
            .as_str()
            .expect("why")
            .contains("GUARDIAN_BOUNTY_KEY")
    );

    // The reward proposed from the chain: 10 % of what the escrow held at submission, in USD.
    let assessed = json_of(
        t,
        "carol",
        None,
        &["bounty", "assess", &id.to_string(), "--json"],
    )
    .await;
    assert_eq!(assessed["severity"], "critical", "{assessed}");
    assert_eq!(
        assessed["at_risk_usd"].as_f64(),
        Some(36_000.0),
        "{assessed}"
    );
    assert_eq!(assessed["cap_usd"].as_f64(), Some(100_000.0), "{assessed}");
    assert_eq!(assessed["reward_usd"].as_f64(), Some(3_600.0), "{assessed}");

    // Fixed, then paid: above the critical tier's cap is refused; paying needs the admin role.
    json_of(
        t,
        "carol",
        None,
        &["bounty", "fixed", &id.to_string(), "--json"],
    )
    .await;
    let tx = format!("0x{}", "cd".repeat(32));
    let (ok, _, err) = guardian(
        t,
        "carol",
        None,
        &[
            "bounty",
            "pay",
            &id.to_string(),
            "--amount-usd",
            "150000",
            "--tx",
            &tx,
        ],
    )
    .await;
    assert!(!ok && err.contains("from 1 to 100000"), "{err}");
    let pay = json!({"amount_usd": 40000, "tx": tx});
    assert_eq!(
        api.call(
            "POST",
            &format!("{path}/pay"),
            Some(&triager),
            Some(pay.clone())
        )
        .await
        .0,
        403
    );
    let (code, paid) = api
        .call("POST", &format!("{path}/pay"), Some(&admin), Some(pay))
        .await;
    assert_eq!(code, 200, "{paid}");
    assert_eq!(paid["taken"]["to"], "paid");

    // The researcher's own view: every step, and the reward; paid now, so they may publish.
    let (code, view) = api
        .call(
            "GET",
            &format!("/bounty/reports/{id}"),
            Some(&follow_up),
            None,
        )
        .await;
    assert_eq!(code, 200);
    assert_eq!(
        statuses(&view["thread"]),
        [
            "reported",
            "acknowledged",
            "needs-info",
            "confirmed",
            "fixed",
            "paid"
        ]
    );
    assert_eq!(view["reward_usd"], 40000);
    let shown = json_of(
        t,
        "carol",
        None,
        &["bounty", "show", &id.to_string(), "--json"],
    )
    .await;
    assert_eq!(shown["disclosure"]["rule"], "fixed and paid");
    assert_eq!(
        shown["disclosure"]["may_publish_from"],
        shown["report"]["paid_at"]
    );
    let mails = smtp.wait_for(6).await;
    assert!(mails.iter().all(|m| m.to == vec![RESEARCHER.to_string()]));

    // Each transition names who took it; a closed step cannot be taken twice.
    let listed = json_of(
        t,
        "x",
        None,
        &["bounty", "list", "--status", "paid", "--json"],
    )
    .await;
    assert_eq!(listed["reports"].as_array().expect("reports").len(), 1);
    let (code, by_api) = api
        .call(
            "GET",
            "/api/bounty/reports?status=paid",
            Some(&viewer),
            None,
        )
        .await;
    assert_eq!(code, 200);
    assert_eq!(by_api["reports"][0]["id"], listed["reports"][0]["id"]);
    assert_eq!(by_api["reports"].as_array().expect("reports").len(), 1);
    let (code, _) = api
        .call(
            "GET",
            "/api/bounty/reports?status=lost",
            Some(&viewer),
            None,
        )
        .await;
    assert_eq!(code, 400);
    let (ok, _, err) = guardian(t, "bob", None, &["bounty", "ack", &id.to_string()]).await;
    assert!(!ok && err.contains("is paid"), "{err}");

    // The post-mortem credits the researcher by the name they gave.
    let (ok, md, err) =
        guardian(t, "x", None, &["incident", "report", &incident.to_string()]).await;
    assert!(ok, "{err}");
    assert!(
        md.contains("Found by Alice Example, through the bug bounty program: report #1"),
        "{md}"
    );

    // The proof of concept is nowhere in the database files in clear.
    for name in ["guardian.db", "guardian.db-wal"] {
        if let Ok(bytes) = std::fs::read(d.join(name)) {
            assert!(
                !bytes.windows(POC.len()).any(|w| w == POC.as_bytes()),
                "{name} holds the proof"
            );
        }
    }
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
    let id = created["id"].as_i64().expect("id").to_string();
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
    let spam_id = spam["id"].as_i64().expect("id").to_string();
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
            &format!("/bounty/reports/{spam_id}"),
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
        .get(format!("{}/bounty/reports/{spam_id}", api.base))
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
