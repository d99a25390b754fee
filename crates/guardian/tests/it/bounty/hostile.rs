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
