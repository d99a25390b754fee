//! The war room in a real browser: Debian's Chromium, headless, driven through its ChromeDriver
//! (WebDriver) against the real server on a devnet. Each test writes screenshots of the pages it
//! saw to `target/screenshots/`.

use std::{process::Stdio, time::Duration};

use fantoccini::{Client, ClientBuilder, Locator};
use guardian::{bounty::tokens::Role, config::ContractKind};

use super::Room;
use crate::response::is_paused;

/// How long the browser is given to show what is expected.
const PATIENCE: Duration = Duration::from_secs(20);

/// A headless Chromium with its driver; the driver stops when this is dropped.
struct Browser {
    client: Client,
    _driver: tokio::process::Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let driver = tokio::process::Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver (Debian's chromium-driver; `make test` installs it)");
        let url = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        for _ in 0..100 {
            if http.get(format!("{url}/status")).send().await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = tempfile::tempdir().expect("profile");
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    "--window-size=1280,900",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            }),
        );
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&url)
            .await
            .expect("a Chromium session");
        Self {
            client,
            _driver: driver,
            _profile: profile,
        }
    }

    /// Signs in at `base` with `token`, through the form.
    async fn sign_in(&self, base: &str, token: &str) {
        self.client
            .goto(&format!("{base}/signin"))
            .await
            .expect("the sign-in page");
        self.type_into("#token", token).await;
        self.click("form button[type=submit]").await;
        self.client
            .wait()
            .at_most(PATIENCE)
            .for_element(Locator::XPath("//h1[text()='Overview']"))
            .await
            .expect("signed in, the overview shows");
    }

    /// Writes the page as `target/screenshots/NAME.png`.
    async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.expect("screenshot");
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots");
        std::fs::create_dir_all(&dir).expect("screenshots directory");
        std::fs::write(dir.join(format!("{name}.png")), png).expect("write screenshot");
    }

    /// Clicks the element `css` finds.
    async fn click(&self, css: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .click()
            .await
            .unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    /// Types `text` into the field `css` finds.
    async fn type_into(&self, css: &str, text: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .send_keys(text)
            .await
            .unwrap_or_else(|e| panic!("type into {css}: {e}"));
    }

    /// Waits until the page's live feed says it is connected.
    async fn feed_connected(&self) {
        self.client
            .wait()
            .at_most(PATIENCE)
            .for_element(Locator::XPath(
                "//span[@id='feed' and starts-with(text(), 'connected')]",
            ))
            .await
            .expect("the live feed connects");
    }

    /// The controls of the page without a name a screen reader can say (no `<label>`, no
    /// `aria-label`, no text), and whether the page is wider than the window.
    async fn unlabelled_and_overflow(&self) -> (Vec<String>, bool) {
        let found = self
            .client
            .execute(
                r#"
                var bad = [];
                document.querySelectorAll("input:not([type=hidden]), select, textarea, button").forEach(function (el) {
                  var named = (el.labels && el.labels.length > 0) || el.getAttribute("aria-label")
                    || (el.tagName === "BUTTON" && el.textContent.trim() !== "");
                  if (!named) { bad.push(el.outerHTML.slice(0, 120)); }
                });
                return [bad, document.documentElement.scrollWidth > window.innerWidth + 1];
                "#,
                vec![],
            )
            .await
            .expect("inspect the page");
        let bad = found[0]
            .as_array()
            .map(|l| l.iter().map(|v| v.to_string()).collect())
            .unwrap_or_default();
        (bad, found[1].as_bool().unwrap_or(true))
    }

    async fn waits_for(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(PATIENCE)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css} never showed: {e}"))
    }
}

#[tokio::test]
async fn in_chromium_a_viewer_signs_in_and_reads_the_pages_without_a_pause_button() {
    let room = Room::start().await;
    room.open_incident("odd grant", "registry").await;
    let b = Browser::start().await;
    b.sign_in(&room.base, &room.token("vic", Role::Viewer))
        .await;
    let page = b.client.source().await.expect("source");
    assert!(page.contains("odd grant") && page.contains("vic"), "{page}");
    b.screenshot("overview").await;
    b.client
        .goto(&format!("{}/incidents/1", room.base))
        .await
        .expect("incident");
    b.waits_for("#timeline-body").await;
    assert!(
        b.client.find(Locator::Css("#pause-button")).await.is_err(),
        "a viewer has no pause button"
    );
    b.screenshot("incident-viewer").await;
    let _ = b.client.close().await;
}

#[tokio::test]
async fn in_chromium_every_control_has_a_label_and_the_pages_fit_a_phone() {
    let room = Room::start().await;
    room.open_incident("drain", "escrow").await;
    let b = Browser::start().await;
    // An admin sees every control there is.
    b.sign_in(&room.base, &room.token("ada", Role::Admin)).await;
    for (width, height, name) in [(1280, 900, "desktop"), (390, 844, "phone")] {
        b.client
            .set_window_size(width, height)
            .await
            .expect("window size");
        for path in ["/", "/alerts", "/history", "/incidents/1"] {
            b.client
                .goto(&format!("{}{path}", room.base))
                .await
                .expect("page");
            b.waits_for("main h1").await;
            let (unlabelled, overflows) = b.unlabelled_and_overflow().await;
            assert!(unlabelled.is_empty(), "{path}: {unlabelled:?}");
            assert!(!overflows, "{path} is wider than a {width} px window");
        }
        b.screenshot(&format!("incident-{name}")).await;
    }
    let _ = b.client.close().await;
}

#[tokio::test]
async fn in_chromium_a_new_alert_appears_on_the_open_alerts_page_without_a_reload() {
    let room = Room::start().await;
    let b = Browser::start().await;
    b.sign_in(&room.base, &room.token("vic", Role::Viewer))
        .await;
    b.client
        .goto(&format!("{}/alerts", room.base))
        .await
        .expect("alerts");
    // The page's own marker: gone if the page were reloaded.
    b.client
        .execute("window.loadedOnce = 'yes'; return null;", vec![])
        .await
        .expect("mark the page");
    b.feed_connected().await;
    // A monitor (any process writing the records) stores an alert.
    let alert = room.store_alert("PAUSER_ROLE granted to a stranger", "warroom-test:1");
    let row = b.waits_for(&format!("[data-alert='{alert}']")).await;
    let text = row.text().await.expect("text");
    assert!(text.contains("PAUSER_ROLE granted to a stranger"), "{text}");
    let still = b
        .client
        .execute("return window.loadedOnce || 'reloaded';", vec![])
        .await
        .expect("read the mark");
    assert_eq!(still, serde_json::json!("yes"), "no reload");
    b.screenshot("alerts-live").await;
    let _ = b.client.close().await;
}

#[tokio::test]
async fn in_chromium_a_responder_pauses_everything_from_the_incident_page() {
    let room = Room::start().await;
    room.open_incident("drain", "escrow").await;
    let b = Browser::start().await;
    b.sign_in(&room.base, &room.token("rosa", Role::Responder))
        .await;
    b.client
        .goto(&format!("{}/incidents/1", room.base))
        .await
        .expect("incident");
    b.waits_for("#pause-form").await;
    b.screenshot("incident-responder").await;
    b.click("input[name=scope][value=all]").await;
    b.type_into("#pause-reason", "escrow drain in progress")
        .await;
    b.click("input[name=confirm]").await;
    b.click("#pause-button").await;
    b.client
        .wait()
        .at_most(PATIENCE)
        .for_element(Locator::XPath(
            "//tbody[@id='timeline-body']/tr[td[3]='pause']",
        ))
        .await
        .expect("the pause is on the timeline");
    for kind in [ContractKind::DocumentRegistry, ContractKind::PaymentEscrow] {
        assert!(is_paused(&room.net, kind).await, "{kind:?}");
    }
    let page = b.client.source().await.expect("source");
    assert!(page.contains("rosa"), "the timeline names who paused");
    b.screenshot("incident-paused").await;
    let _ = b.client.close().await;
}

#[tokio::test]
async fn in_chromium_a_safe_proposals_second_confirmation_appears_live_on_the_incident_page() {
    use alloy::primitives::{Address, B256};
    let room = Room::start().await;
    room.open_incident("resume", "escrow").await;
    // A proposal of the incident's with one confirmation, as `guardian incident unpause` and
    // `guardian safe sign` (any process) record them.
    let id = room
        .store
        .propose(&guardian::storage::NewProposal {
            chain: "local",
            chain_id: 31337,
            safe: Address::repeat_byte(0x5a),
            nonce: 0,
            title: "unpause: unpause escrow",
            safe_tx: serde_json::json!({}),
            calls: serde_json::json!([{"label": "unpause escrow"}]),
            safe_tx_hash: B256::repeat_byte(0x11),
            created_by: "rosa",
            incident_id: Some(1),
        })
        .expect("propose");
    room.store
        .confirm(id, Address::repeat_byte(0x01), None, "approveHash")
        .expect("first");
    let b = Browser::start().await;
    b.sign_in(&room.base, &room.token("vic", Role::Viewer))
        .await;
    b.client
        .goto(&format!("{}/incidents/1", room.base))
        .await
        .expect("incident");
    let cell = b.waits_for(&format!("[data-proposal='{id}']")).await;
    assert!(cell.text().await.expect("text").starts_with("1:"));
    b.feed_connected().await;
    room.store
        .confirm(id, Address::repeat_byte(0x02), None, "approveHash")
        .expect("second");
    b.client
        .wait()
        .at_most(PATIENCE)
        .for_element(Locator::XPath(&format!(
            "//td[@data-proposal='{id}' and starts-with(text(), '2 confirmation')]"
        )))
        .await
        .expect("the second confirmation shows without a reload");
    b.screenshot("incident-safe-live").await;
    let _ = b.client.close().await;
}

#[tokio::test]
async fn in_chromium_a_form_without_its_csrf_value_is_refused_and_a_revoked_token_cannot_sign_in() {
    let room = Room::start().await;
    room.open_incident("drain", "escrow").await;
    let token = room.token("rosa", Role::Responder);
    let b = Browser::start().await;
    b.sign_in(&room.base, &token).await;
    b.client
        .goto(&format!("{}/incidents/1", room.base))
        .await
        .expect("incident");
    b.waits_for("#pause-form").await;
    // A forged form: the page's own, its CSRF value taken out.
    b.client
        .execute(
            "document.querySelector('#pause-form input[name=csrf]').remove(); return null;",
            vec![],
        )
        .await
        .expect("forge");
    b.click("input[name=scope][value=all]").await;
    b.type_into("#pause-reason", "forged").await;
    b.click("input[name=confirm]").await;
    b.click("#pause-button").await;
    b.client
        .wait()
        .at_most(PATIENCE)
        .for_element(Locator::XPath("//h1[starts-with(text(), 'Refused')]"))
        .await
        .expect("the refusal, as a page");
    let refusal = b.client.source().await.expect("source");
    assert!(
        refusal.contains("CSRF") && refusal.contains("Nothing was changed"),
        "{refusal}"
    );
    assert!(!is_paused(&room.net, ContractKind::DocumentRegistry).await);
    b.screenshot("csrf-refused").await;

    let id = room
        .store
        .api_tokens(guardian::storage::now_ms())
        .expect("tokens")[0]
        .id;
    room.store
        .revoke_api_token(id, "admin", guardian::storage::now_ms())
        .expect("revoke");
    b.client
        .goto(&format!("{}/", room.base))
        .await
        .expect("overview");
    b.waits_for("#token").await;
    b.type_into("#token", &token).await;
    b.click("form button[type=submit]").await;
    b.waits_for("#token").await;
    let page = b.client.source().await.expect("source");
    assert!(
        !page.contains(">Overview</h1>"),
        "signed in with a revoked token"
    );
    b.screenshot("signin-revoked").await;
    let _ = b.client.close().await;
}
