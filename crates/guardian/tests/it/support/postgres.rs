//! A throwaway PostgreSQL server for the tests, one per test process: `initdb` into a temporary
//! directory, the server on a free loopback port, a fresh database per test. No system service:
//! the binaries come from Debian's `postgresql` package (`/usr/lib/postgresql/<n>/bin`, which
//! `.ci/run` installs), run as the `postgres` user when the tests run as root (PostgreSQL refuses
//! root). A watcher stops the server when the test process exits, however it exits.
//!
//! Used by the integration tests and, through `#[path]`, by the library's unit tests; it needs
//! nothing but the standard library and `tempfile`.

#![allow(dead_code)]

use std::{
    path::{Path, PathBuf},
    process::Command,
    sync::{
        OnceLock,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

/// The password of the role the tests' URLs log in as (password authentication over TCP, as
/// in production); the superuser connects through the socket only.
pub const PASSWORD: &str = "guardian-test-pw";

/// The running server.
pub struct Cluster {
    _dir: tempfile::TempDir,
    data: PathBuf,
    socket: PathBuf,
    bin: PathBuf,
    /// Its TCP port on 127.0.0.1.
    pub port: u16,
    as_postgres: bool,
}

/// The server of this test process, started on first use.
pub fn cluster() -> &'static Cluster {
    static CLUSTER: OnceLock<Cluster> = OnceLock::new();
    CLUSTER.get_or_init(|| Cluster::start().unwrap_or_else(|e| panic!("{e}")))
}

/// The directory of PostgreSQL's server binaries, the newest installed.
fn server_bin() -> Result<PathBuf, String> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .map_err(|_| {
            "PostgreSQL is not installed: `apt-get install postgresql` (`.ci/run` does it)"
                .to_string()
        })?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let v = e.file_name().to_string_lossy().parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, b)| b).ok_or_else(|| {
        "no initdb under /usr/lib/postgresql/*/bin: install Debian's postgresql".into()
    })
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A server of its own (plain), for a test that stops and restarts it.
pub fn own() -> Cluster {
    Cluster::start().unwrap_or_else(|e| panic!("{e}"))
}

/// A server of its own that accepts TLS connections only, with `cert` and `key` (PEM) as its
/// certificate (the shared one stays plain, so that other tests need no CA).
pub fn tls_only(cert: &str, key: &str) -> Cluster {
    Cluster::start_with(Some((cert, key))).unwrap_or_else(|e| panic!("{e}"))
}

impl Cluster {
    fn start() -> Result<Self, String> {
        Self::start_with(None)
    }

    fn start_with(tls: Option<(&str, &str)>) -> Result<Self, String> {
        let bin = server_bin()?;
        let as_postgres = is_root();
        let dir = tempfile::Builder::new()
            .prefix("guardian-pg-")
            .tempdir()
            .map_err(|e| e.to_string())?;
        let data = dir.path().join("data");
        let socket = dir.path().join("socket");
        std::fs::create_dir_all(&socket).map_err(|e| e.to_string())?;
        if as_postgres {
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .map_err(|e| e.to_string())?;
            if !status.success() {
                return Err("cannot give the cluster's directory to the postgres user".into());
            }
        }
        let pwfile = dir.path().join("pw");
        std::fs::write(&pwfile, "postgres-superuser-pw\n").map_err(|e| e.to_string())?;
        let mut cluster = Cluster {
            _dir: dir,
            data,
            socket,
            bin,
            port: 0,
            as_postgres,
        };
        if as_postgres {
            Command::new("chown")
                .args(["postgres:postgres"])
                .arg(&pwfile)
                .status()
                .map_err(|e| e.to_string())?;
        }
        cluster.run(
            "initdb",
            &[
                "-D",
                &cluster.data.display().to_string(),
                "-U",
                "postgres",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--pwfile",
                &pwfile.display().to_string(),
                "-E",
                "UTF8",
                "--no-sync",
            ],
        )?;
        // Small and fast: the tests' databases are throwaway. A commit is still written out
        // before it is acknowledged (synchronous_commit on; fsync off only skips the flush to
        // disk, which a stopped server does not need): `stop` is a crash as clients see it, and a
        // crash of a real server loses no acknowledged commit. With it off, the last 200 ms of
        // commits vanished at a stop, and the outage tests lost the alerts they had just seen.
        std::fs::OpenOptions::new()
            .append(true)
            .open(cluster.data.join("postgresql.conf"))
            .and_then(|mut f| {
                use std::io::Write as _;
                f.write_all(
                    b"\nfsync = off\nsynchronous_commit = on\nfull_page_writes = off\nmax_connections = 200\nshared_buffers = 32MB\n",
                )
            })
            .map_err(|e| e.to_string())?;
        if let Some((cert, key)) = tls {
            let write = |name: &str, text: &str| -> Result<(), String> {
                use std::os::unix::fs::PermissionsExt as _;
                let path = cluster.data.join(name);
                std::fs::write(&path, text).map_err(|e| e.to_string())?;
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                    .map_err(|e| e.to_string())?;
                if cluster.as_postgres {
                    Command::new("chown")
                        .args(["postgres:postgres"])
                        .arg(&path)
                        .status()
                        .map_err(|e| e.to_string())?;
                }
                Ok(())
            };
            write("server.crt", cert)?;
            write("server.key", key)?;
            std::fs::OpenOptions::new()
                .append(true)
                .open(cluster.data.join("postgresql.conf"))
                .and_then(|mut f| {
                    use std::io::Write as _;
                    f.write_all(
                        b"ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n",
                    )
                })
                .map_err(|e| e.to_string())?;
            // Plain TCP connections are turned away: only TLS gets in.
            let hba = cluster.data.join("pg_hba.conf");
            let old = std::fs::read_to_string(&hba).map_err(|e| e.to_string())?;
            std::fs::write(&hba, format!("hostnossl all all 0.0.0.0/0 reject\n{old}"))
                .map_err(|e| e.to_string())?;
        }
        for _ in 0..5 {
            cluster.port = free_port();
            if cluster.launch().is_ok() {
                cluster.admin("CREATE ROLE guardian LOGIN PASSWORD 'guardian-test-pw' CREATEDB")?;
                return Ok(cluster);
            }
        }
        Err(
            "the PostgreSQL test server did not start (see its log in the temporary directory)"
                .into(),
        )
    }

    /// Runs one of the server's binaries, as `postgres` when we are root.
    fn command(&self, name: &str) -> Command {
        let path = self.bin.join(name);
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        }
    }

    fn run(&self, name: &str, args: &[&str]) -> Result<(), String> {
        let out = self
            .command(name)
            .args(args)
            .output()
            .map_err(|e| format!("{name}: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{name} failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }

    /// Starts the server in the background with a watcher that stops it (fast shutdown) once
    /// this process is gone; waits until it accepts connections.
    fn launch(&self) -> Result<(), String> {
        let log = self
            .data
            .parent()
            .unwrap_or(Path::new("/tmp"))
            .join("server.log");
        let postgres = self.bin.join("postgres");
        // The watcher polls /proc (not `kill -0`, which the postgres user may not send to a
        // root process); the server stops at once, and its directory goes with it.
        let script = format!(
            "{postgres} -D {data} -p {port} -k {socket} -c listen_addresses=127.0.0.1 >>{log} 2>&1 &
             server=$!
             while [ -d /proc/{parent} ] && [ -d /proc/$server ]; do sleep 1; done
             {pg_ctl} -D {data} -m immediate stop >/dev/null 2>&1 || kill -KILL $server
             wait $server
             [ -d /proc/{parent} ] || rm -rf {dir}",
            postgres = postgres.display(),
            pg_ctl = self.bin.join("pg_ctl").display(),
            data = self.data.display(),
            port = self.port,
            socket = self.socket.display(),
            log = log.display(),
            parent = std::process::id(),
            dir = self.data.parent().unwrap_or(Path::new("/nonexistent")).display(),
        );
        let mut command = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--", "sh", "-c", &script]);
            c
        } else {
            let mut c = Command::new("sh");
            c.args(["-c", &script]);
            c
        };
        command
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start postgres: {e}"))?;
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            let ready = self
                .command("pg_isready")
                .args([
                    "-h",
                    &self.socket.display().to_string(),
                    "-p",
                    &self.port.to_string(),
                ])
                .output()
                .map(|o| o.status.success())
                .unwrap_or(false);
            if ready {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(format!(
            "postgres did not accept connections within 30 s: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        ))
    }

    /// Runs SQL as the superuser, through the socket.
    pub fn admin(&self, sql: &str) -> Result<String, String> {
        let psql = self.bin.join("psql");
        let mut c = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(psql);
            c
        } else {
            Command::new(psql)
        };
        let out = c
            .args([
                "-h",
                &self.socket.display().to_string(),
                "-p",
                &self.port.to_string(),
            ])
            .args([
                "-U",
                "postgres",
                "-d",
                "postgres",
                "-v",
                "ON_ERROR_STOP=1",
                "-At",
                "-c",
                sql,
            ])
            .output()
            .map_err(|e| format!("psql: {e}"))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
        } else {
            Err(format!("psql: {}", String::from_utf8_lossy(&out.stderr)))
        }
    }

    /// A new, empty database owned by the tests' role; its URL (password included).
    pub fn fresh_database(&self) -> String {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "t{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        self.admin(&format!("CREATE DATABASE {name} OWNER guardian"))
            .unwrap_or_else(|e| panic!("{e}"));
        self.url(&name)
    }

    /// The URL of database `name` as the tests' role.
    pub fn url(&self, name: &str) -> String {
        format!(
            "postgres://guardian:{PASSWORD}@127.0.0.1:{}/{name}",
            self.port
        )
    }

    /// Stops the server at once (a crash, as far as clients can tell).
    pub fn stop(&self) -> Result<(), String> {
        self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data.display().to_string(),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
        )
    }

    /// Starts it again on the same port.
    pub fn restart(&self) -> Result<(), String> {
        self.launch()
    }
}
