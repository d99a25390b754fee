//! Hostile clients against the real server: slow headers, a slow body, idle and bare sockets,
//! one client holding many connections, a declared body far over the limit, and a shutdown with
//! a client still dripping. Each is bounded: a socket the server never closes fails the test
//! after a generous deadline instead of hanging it.

use std::{net::SocketAddr, time::Duration};

use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::{TcpSocket, TcpStream},
};

use super::*;

/// Short limits, so the test sees them act; the defaults are 10 s and 20 s.
const LIMITS: &str = "
[server]
header_timeout_secs = 1
body_timeout_secs = 1
max_connections_per_client = 4
shutdown_secs = 1
";

/// Longer than any limit above; only reached when a limit does not act.
const NEVER: Duration = Duration::from_secs(15);

/// A connection from `from` (another loopback address is another client).
async fn connect_from(from: &str, to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("socket");
    socket
        .bind(format!("{from}:0").parse().expect("addr"))
        .expect("bind");
    socket.connect(to).await.expect("connect")
}

/// Reads until the server closes the connection; what it sent. Panics after [`NEVER`].
async fn until_closed(stream: &mut TcpStream) -> String {
    let mut got = Vec::new();
    let read = tokio::time::timeout(NEVER, async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(read.is_ok(), "the server kept the connection open");
    String::from_utf8_lossy(&got).into_owned()
}

#[tokio::test]
async fn one_slow_or_hostile_client_cannot_hold_the_server() {
    let d = desk_with(100, LIMITS).await;
    let addr = d.server.addr;

    // Half-sent headers, and a bare connection that sends nothing: closed.
    let mut half = connect_from("127.0.0.2", addr).await;
    half.write_all(b"GET /bounty HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("write");
    let mut bare = connect_from("127.0.0.2", addr).await;
    until_closed(&mut half).await;
    until_closed(&mut bare).await;

    // An idle keep-alive connection: answered, then closed once idle.
    let mut idle = connect_from("127.0.0.2", addr).await;
    idle.write_all(b"GET /bounty HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    let answered = until_closed(&mut idle).await;
    assert!(answered.starts_with("HTTP/1.1 200"), "{answered}");

    // A body dripped slowly: 408 in the one error shape.
    let mut drip = connect_from("127.0.0.2", addr).await;
    drip.write_all(
        b"POST /bounty/reports HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"",
    )
    .await
    .expect("write");
    let answer = until_closed(&mut drip).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains(r#""field":"body""#), "{answer}");

    // A 10 MB body declared, two bytes sent: refused at once, not waited for.
    let mut huge = connect_from("127.0.0.2", addr).await;
    huge.write_all(
        b"POST /bounty/reports HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 10000000\r\n\r\n{\"",
    )
    .await
    .expect("write");
    let mut head = [0u8; 12];
    tokio::time::timeout(NEVER, huge.read_exact(&mut head))
        .await
        .expect("answered before the body timeout could matter")
        .expect("read");
    assert_eq!(&head, b"HTTP/1.1 413");

    // Stopping with a client still dripping a body finishes within the shutdown deadline.
    let mut dripping = connect_from("127.0.0.4", addr).await;
    dripping
        .write_all(
            b"POST /bounty/reports HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{",
        )
        .await
        .expect("write");
    tokio::time::timeout(NEVER, d.server.stop())
        .await
        .expect("the server stopped")
        .expect("stopped cleanly");
}

#[tokio::test]
async fn one_client_cannot_take_every_connection() {
    // Headers get long enough here that the held connections outlast the check, however slow
    // the machine.
    let d = desk_with(
        100,
        "[server]\nheader_timeout_secs = 30\nmax_connections_per_client = 4\n",
    )
    .await;
    let addr = d.server.addr;
    // One client at its cap of 4 connections: its fifth is closed at once, while another
    // client is served.
    let mut held = Vec::new();
    for _ in 0..4 {
        let mut s = connect_from("127.0.0.3", addr).await;
        s.write_all(b"GET /bounty HTTP/1.1\r\nHost: x\r\n")
            .await
            .expect("write");
        held.push(s);
    }
    let mut fifth = connect_from("127.0.0.3", addr).await;
    let _ = fifth
        .write_all(b"GET /bounty HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    let refused = until_closed(&mut fifth).await;
    assert!(
        refused.is_empty(),
        "the fifth connection was served: {refused}"
    );
    let page = d
        .http
        .get(format!("{}/bounty", d.base))
        .send()
        .await
        .expect("the page answers another client");
    assert_eq!(page.status().as_u16(), 200);
    // Once the client closes its connections, it may connect again.
    drop(held);
    let deadline = tokio::time::Instant::now() + NEVER;
    loop {
        let mut again = connect_from("127.0.0.3", addr).await;
        let _ = again
            .write_all(b"GET /bounty HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await;
        if until_closed(&mut again).await.starts_with("HTTP/1.1 200") {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the closed connections were never released"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    d.server.stop().await.expect("stopped");
}

#[tokio::test]
async fn a_burst_of_reports_pages_the_team_a_few_times_and_digests_the_rest() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("guardian.toml");
    std::fs::write(
        &path,
        manifest_text_with(
            None,
            100,
            "page_per_minute = 2

[[contacts]]
name = \"team-hook\"
channel = \"webhook\"
url = \"http://127.0.0.1:1/hook\"
secret_env = \"HOOK_SECRET\"
audiences = [\"team\"]
min_severity = \"info\"
",
        ),
    )
    .expect("write");
    let manifest = Manifest::load(&path).expect("manifest");
    let contacts = guardian::notify::Contacts::load(&manifest, &|_| None);
    let store = Store::open(&dir.path().join("guardian.db")).expect("db");
    let claim =
        |severity: guardian::bounty::Severity, impact: &'static str| guardian::bounty::NewReport {
            title: "Escrow pays twice".into(),
            severity,
            impact,
            contracts: vec!["escrow".into()],
            description: "releasePayment can be re-entered.".into(),
            proof_of_concept: None,
            contact: "researcher@example.org".into(),
            payout_address: None,
            credit_as: None,
        };
    let low = || {
        claim(
            guardian::bounty::Severity::Low,
            "fails-to-deliver-promised-returns",
        )
    };
    // Six reports within one minute (the third and later claim more), and one in the next.
    let minute = 1_800_000_000_000_i64; // a whole minute
    let mut ids = Vec::new();
    for (i, report) in [
        low(),
        low(),
        low(),
        claim(
            guardian::bounty::Severity::Critical,
            "direct-theft-of-funds",
        ),
        low(),
        low(),
    ]
    .iter()
    .enumerate()
    {
        let token = crypto::new_token().expect("token");
        ids.push(
            store
                .insert_bounty_report_telling(
                    report,
                    None,
                    &crypto::token_hash(&token),
                    minute + 1_000 * i as i64,
                    Some((&contacts, &manifest.bounty)),
                )
                .expect("insert")
                .id,
        );
    }
    let token = crypto::new_token().expect("token");
    store
        .insert_bounty_report_telling(
            &low(),
            None,
            &crypto::token_hash(&token),
            minute + 60_000,
            Some((&contacts, &manifest.bounty)),
        )
        .expect("insert");

    let deliveries = store.deliveries(None).expect("outbox");
    let topics: Vec<&str> = deliveries.iter().map(|d| d.topic.as_str()).collect();
    // Two pages, one digest for the minute's other four, and the next minute's first page.
    assert_eq!(
        topics,
        [
            "bounty.reported",
            "bounty.reported",
            "bounty.digest",
            "bounty.reported"
        ],
        "{deliveries:#?}"
    );
    let digest = &deliveries[2];
    assert_eq!(
        digest.next_attempt_at,
        Some(minute + 60_000),
        "sent when the minute ends"
    );
    let db = rusqlite::Connection::open(dir.path().join("guardian.db")).expect("db");
    let message: Value = serde_json::from_str(
        &db.query_row(
            "SELECT message FROM outbox WHERE topic = 'bounty.digest'",
            [],
            |r| r.get::<_, String>(0),
        )
        .expect("digest"),
    )
    .expect("json");
    assert_eq!(
        message["body"]["bounty"]["reports"],
        json!(ids[2..].to_vec())
    );
    // As loud as its loudest claim (a claimed critical is announced as high).
    assert_eq!(message["severity"], "high", "{message}");
    assert!(
        message["title"]
            .as_str()
            .expect("title")
            .contains("4 more new reports")
    );
}

#[tokio::test]
async fn only_accepted_posts_count_and_a_form_from_another_site_is_refused() {
    let d = desk(2).await;
    // Refused posts cost the client nothing.
    let mut bad = critical();
    bad["severity"] = json!("catastrophic");
    for _ in 0..3 {
        let (status, answer) = d.post_json("/bounty/reports", &bad, None).await;
        assert_eq!(status, 400, "{answer}");
    }
    let (status, answer) = d.post_json("/bounty/reports", &critical(), None).await;
    assert_eq!(status, 201, "{answer}");
    let token = answer["token"].as_str().expect("token").to_string();
    let reply = format!(
        "/bounty/reports/{}",
        answer["id"].as_str().expect("public id")
    );
    let (status, answer) = d.post_json("/bounty/reports", &critical(), None).await;
    assert_eq!(status, 201, "{answer}");
    let (status, answer) = d.post_json("/bounty/reports", &critical(), None).await;
    assert_eq!(
        status, 429,
        "the third accepted report in the hour: {answer}"
    );
    // Replies have their own limit: the researcher can still answer the team.
    let (status, answer) = d
        .post_json(&reply, &json!({"message": "More detail."}), Some(&token))
        .await;
    assert_eq!(status, 201, "{answer}");

    // A page elsewhere making a visitor's browser post the form here.
    let other = desk(100).await;
    let form = [
        ("title", "Escrow pays twice"),
        ("severity", "low"),
        ("impact", "fails-to-deliver-promised-returns"),
        ("contracts", "escrow"),
        ("description", "d"),
        ("contact", "r@example.org"),
    ];
    let body: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    let post = |origin: Option<&str>, site: Option<&str>| {
        let mut r = other
            .http
            .post(format!("{}/bounty/reports", other.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.clone());
        if let Some(o) = origin {
            r = r.header("origin", o);
        }
        if let Some(s) = site {
            r = r.header("sec-fetch-site", s);
        }
        r.send()
    };
    let refused = post(Some("https://attacker.example"), None)
        .await
        .expect("send");
    assert_eq!(refused.status().as_u16(), 403);
    let refused = post(None, Some("cross-site")).await.expect("send");
    assert_eq!(refused.status().as_u16(), 403);
    // The server's own page posts with its own origin.
    let own = other.base.clone();
    let accepted = post(Some(&own), Some("same-origin")).await.expect("send");
    assert_eq!(
        accepted.status().as_u16(),
        201,
        "{}",
        accepted.text().await.unwrap_or_default()
    );
}

#[tokio::test]
async fn a_burst_from_one_64_or_from_many_addresses_is_held_to_its_limits() {
    // Behind a trusted proxy (this test's own address), clients are named by X-Forwarded-For.
    let d = desk_with(
        2,
        "reports_per_minute = 5\n\n[server]\ntrusted_proxies = [\"127.0.0.1\"]\n",
    )
    .await;
    let post_from = |client: String| {
        d.http
            .post(format!("{}/bounty/reports", d.base))
            .header("content-type", "application/json")
            .header("x-forwarded-for", client)
            .body(serde_json::to_vec(&critical()).expect("json"))
            .send()
    };
    // One /64, a new address each time: the /64 is one client, held to its 2 an hour.
    let mut statuses = Vec::new();
    for n in 1..=6 {
        let r = post_from(format!("2001:db8:0:7::{n:x}"))
            .await
            .expect("send");
        statuses.push(r.status().as_u16());
    }
    assert_eq!(statuses, [201, 201, 429, 429, 429, 429]);
    // Many IPv4 addresses, each within its own limit: the desk as a whole takes 5 a minute, and
    // the /64's two already count.
    let mut statuses = Vec::new();
    for n in 1..=6 {
        let r = post_from(format!("198.51.100.{n}")).await.expect("send");
        statuses.push(r.status().as_u16());
    }
    assert_eq!(statuses, [201, 201, 201, 429, 429, 429]);
    // The page keeps answering.
    assert_eq!(d.get("/bounty", None, "text/html").await.0, 200);
    d.server.stop().await.expect("stop");
}
