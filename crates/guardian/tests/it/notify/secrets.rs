//! No secret of a contact (token, routing key, password, signing key, URL path) reaches an
//! error, a log line, or the binary's trace output.

use std::sync::{Arc, Mutex};

use guardian::{
    alert::Severity,
    notify::{self, AlertEvent, Contacts, Outbox},
    secret,
    storage::Store,
};

use super::{
    BOT_TOKEN, DISCORD_TOKEN, HMAC_KEY, HOOK_PATH_SECRET, ROUTING_KEY, SLACK_TOKEN, SMTP_PASSWORD,
    alert, env, every_channel, manifest,
};
use crate::support::{http_sink::HttpSink, smtp_sink::SmtpSink};

/// A `tracing` writer into a buffer, redacted as the real log writer redacts.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[tokio::test]
async fn no_secret_of_a_contact_reaches_an_error_or_a_log_line() {
    let sink = HttpSink::start().await;
    sink.echo_path_in_errors();
    for prefix in ["/hook", "/discord/", "/slack/", "/telegram/", "/pd/"] {
        sink.fail_next(prefix, &[500]);
    }
    let smtp = SmtpSink::start().await;
    smtp.refuse_logins();
    let text = every_channel(&sink).replace(
        &format!("url = \"{}/hook\"", sink.url),
        "url_env = \"HOOK_URL\"",
    );
    let vars = env(&sink, &smtp);
    let m = manifest(&text, &vars);
    let contacts = Arc::new(Contacts::load(&m, &move |n: &str| vars.get(n).cloned()));
    let store = Arc::new(Store::in_memory().expect("db"));
    let outbox = Outbox::new(store.clone(), contacts.clone()).expect("outbox");

    let logs = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(logs.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    notify::enqueue_alert(
        &store,
        &contacts,
        &alert(5, Severity::Critical),
        AlertEvent::Raised,
    )
    .expect("enqueue");
    let stats = outbox.deliver_due().await;
    assert_eq!(stats.retrying, 6, "{stats:?}");
    // Each endpoint quoted its secret back: redacted, not absent.
    let echoed = stats
        .failures
        .iter()
        .find(|f| f.contact == "telegram")
        .expect("telegram failed");
    assert!(echoed.error.contains("[redacted]"), "{}", echoed.error);

    let mut texts: Vec<String> = stats.failures.iter().map(|f| f.error.clone()).collect();
    texts.extend(
        store
            .deliveries(None)
            .expect("rows")
            .into_iter()
            .filter_map(|d| d.last_error),
    );
    // A contact whose variable is missing names the variable, never a value.
    let missing = Contacts::load(&m, &|_| None);
    let problem = notify::send_test(missing.get("security-team").expect("contact"))
        .await
        .expect_err("no SMTP URL")
        .to_string();
    assert!(problem.contains("SMTP_URL"), "{problem}");
    texts.push(problem);
    texts
        .push(secret::redact(&String::from_utf8_lossy(&logs.0.lock().expect("lock"))).into_owned());
    let all = texts.join("\n");
    assert!(
        all.contains("notification failed"),
        "the failures were logged: {all}"
    );
    for s in [
        HMAC_KEY,
        DISCORD_TOKEN,
        SLACK_TOKEN,
        BOT_TOKEN,
        ROUTING_KEY,
        SMTP_PASSWORD,
        HOOK_PATH_SECRET,
    ] {
        assert!(!all.contains(s), "{s} appears in:\n{all}");
    }
}

#[tokio::test]
async fn monitor_check_through_the_binary_shows_no_contact_secret_at_trace_level() {
    let net = crate::support::testnet().await;
    let sink = HttpSink::start().await;
    sink.echo_path_in_errors();
    for prefix in ["/hook", "/discord/", "/slack/", "/telegram/", "/pd/"] {
        sink.fail_next(prefix, &[500]);
    }
    let smtp = SmtpSink::start().await;
    smtp.refuse_logins();
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("guardian.toml");
    net.devnet.manifest.write(&path, true).expect("write");
    let contacts = every_channel(&sink).replace(
        &format!("url = \"{}/hook\"", sink.url),
        "url_env = \"HOOK_URL\"",
    );
    let mut text = std::fs::read_to_string(&path).expect("read");
    text.push_str(&contacts);
    std::fs::write(&path, text).expect("write contacts");

    let o = tokio::process::Command::new(env!("CARGO_BIN_EXE_guardian"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RUST_LOG", "trace")
        .envs(env(&sink, &smtp))
        .current_dir(dir.path())
        .args(["-vv", "monitor", "--check"])
        .output()
        .await
        .expect("guardian runs");
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!o.status.success(), "every contact fails: {all}");
    assert!(all.contains("FAILED"), "{all}");
    // The endpoints quoted their secret paths back: redacted, not absent.
    assert!(all.contains("[redacted]"), "{all}");
    for s in [
        HMAC_KEY,
        DISCORD_TOKEN,
        SLACK_TOKEN,
        BOT_TOKEN,
        ROUTING_KEY,
        SMTP_PASSWORD,
        HOOK_PATH_SECRET,
    ] {
        assert!(!all.contains(s), "{s} appears in the output");
    }
}
