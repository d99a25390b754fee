//! A local SMTP server that records every message it is given (envelope, data, the credentials
//! it was sent), advertising AUTH PLAIN and no STARTTLS; or one that refuses every login,
//! quoting the credentials back the way a careless server might.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::{TcpListener, TcpStream},
};

/// One message as received.
#[derive(Debug, Clone, Default)]
pub struct Mail {
    /// `MAIL FROM` address.
    pub from: String,
    /// `RCPT TO` addresses.
    pub to: Vec<String>,
    /// The message (headers and body), dot-unstuffed.
    pub data: String,
    /// The decoded `AUTH PLAIN` credentials of the session, `user\0password`.
    pub auth: Option<String>,
}

impl Mail {
    /// The message as its reader sees it: quoted-printable soft line breaks joined and `=XX`
    /// escapes decoded (a long line is sent quoted-printable, cut every 76 characters).
    pub fn text(&self) -> String {
        let bytes = self.data.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            let rest = &bytes[i..];
            let hex = |b: u8| (b as char).to_digit(16);
            match rest {
                [b'=', b'\r', b'\n', ..] => i += 3,
                [b'=', b'\n', ..] => i += 2,
                [b'=', a, b, ..] if hex(*a).is_some() && hex(*b).is_some() => {
                    out.push((hex(*a).unwrap_or(0) * 16 + hex(*b).unwrap_or(0)) as u8);
                    i += 3;
                }
                [b, ..] => {
                    out.push(*b);
                    i += 1;
                }
                [] => break,
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }
}

#[derive(Default)]
struct State {
    mails: Vec<Mail>,
    refuse_login: bool,
}

/// A running SMTP sink; it stops when dropped.
pub struct SmtpSink {
    /// Its port on 127.0.0.1.
    pub port: u16,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl SmtpSink {
    /// Starts a sink on a free port.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        let task = tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                tokio::spawn(session(socket, shared.clone()));
            }
        });
        Self { port, state, task }
    }

    /// Refuses every login from now on, quoting the credentials in the refusal.
    pub fn refuse_logins(&self) {
        self.state.lock().expect("lock").refuse_login = true;
    }

    /// Every message so far.
    pub fn mails(&self) -> Vec<Mail> {
        self.state.lock().expect("lock").mails.clone()
    }

    /// Waits (polling, up to 20 s) until `n` messages have arrived.
    pub async fn wait_for(&self, n: usize) -> Vec<Mail> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let seen = self.mails();
            if seen.len() >= n {
                return seen;
            }
            assert!(Instant::now() < deadline, "{n} mails never arrived");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

fn decode_base64(s: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let (mut buf, mut bits) = (0u32, 0);
    for c in s.bytes().filter(|c| *c != b'=') {
        let Some(v) = ALPHABET.iter().position(|a| *a == c) else {
            continue;
        };
        buf = (buf << 6) | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buf >> bits) as u8);
        }
    }
    out
}

async fn session(socket: TcpStream, state: Arc<Mutex<State>>) {
    let mut conn = BufReader::new(socket);
    let mut mail = Mail::default();
    let mut out = String::from("220 sink ESMTP ready\r\n");
    loop {
        if conn.get_mut().write_all(out.as_bytes()).await.is_err() {
            return;
        }
        let mut line = String::new();
        if conn.read_line(&mut line).await.unwrap_or(0) == 0 {
            return;
        }
        let command = line.trim_end().to_string();
        let upper = command.to_ascii_uppercase();
        out = if upper.starts_with("EHLO") {
            "250-sink\r\n250-AUTH PLAIN\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n".into()
        } else if upper.starts_with("HELO") {
            "250 sink\r\n".into()
        } else if upper.starts_with("AUTH PLAIN") {
            let given = command["AUTH PLAIN".len()..].trim();
            let decoded = String::from_utf8_lossy(&decode_base64(given)).into_owned();
            let credentials = decoded.trim_start_matches('\0').to_string();
            if state.lock().expect("lock").refuse_login {
                format!("535 5.7.8 authentication failed for {credentials}\r\n")
            } else {
                mail.auth = Some(credentials);
                "235 2.7.0 authenticated\r\n".into()
            }
        } else if upper.starts_with("MAIL FROM:") {
            mail.from = address(&command);
            "250 ok\r\n".into()
        } else if upper.starts_with("RCPT TO:") {
            mail.to.push(address(&command));
            "250 ok\r\n".into()
        } else if upper == "DATA" {
            if conn
                .get_mut()
                .write_all(b"354 end with <CRLF>.<CRLF>\r\n")
                .await
                .is_err()
            {
                return;
            }
            let mut data = String::new();
            loop {
                let mut l = String::new();
                if conn.read_line(&mut l).await.unwrap_or(0) == 0 {
                    return;
                }
                if l == ".\r\n" {
                    break;
                }
                data.push_str(
                    l.strip_prefix('.')
                        .filter(|_| l.starts_with(".."))
                        .unwrap_or(&l),
                );
            }
            mail.data = data;
            let auth = mail.auth.clone();
            state
                .lock()
                .expect("lock")
                .mails
                .push(std::mem::take(&mut mail));
            mail.auth = auth;
            "250 queued\r\n".into()
        } else if upper == "QUIT" {
            let _ = conn.get_mut().write_all(b"221 bye\r\n").await;
            return;
        } else if upper == "RSET" || upper == "NOOP" {
            "250 ok\r\n".into()
        } else {
            "502 not implemented\r\n".into()
        };
    }
}

/// The address in `MAIL FROM:<a>` / `RCPT TO:<a>`.
fn address(command: &str) -> String {
    let start = command.find('<').map_or(0, |i| i + 1);
    let end = command[start..]
        .find('>')
        .map_or(command.len(), |i| start + i);
    command[start..end].to_string()
}
