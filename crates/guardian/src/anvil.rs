//! Local dev chains: finding the real `anvil` binary, starting it, and making sure it dies with us.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use tokio::process::{Child, Command};

use crate::{chain::signer::DEV_MNEMONIC, chain::signer::EnvLookup, secret::RpcUrl};

/// Why a dev chain could not be started.
#[derive(Debug, thiserror::Error)]
pub enum AnvilError {
    /// No anvil binary was found anywhere.
    #[error(
        "anvil not found: install it with `npm ci --prefix contracts` (package @foundry-rs/anvil), or pass --anvil PATH / set GUARDIAN_ANVIL"
    )]
    NotFound,
    /// The given path is the npm wrapper script, not the binary.
    #[error(
        "{0} is a script wrapper, not the anvil binary (the npm wrapper always exits 0); point at node_modules/@foundry-rs/anvil-<platform>/bin/anvil"
    )]
    Wrapper(PathBuf),
    /// The process could not be started.
    #[error("cannot start anvil at {path}: {source}")]
    Spawn {
        /// The binary.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Anvil exited or never said where it listens.
    #[error("anvil did not start listening within {0:?}; is the port free? (try --port 0)")]
    NoListen(Duration),
}

/// How to start a dev chain.
#[derive(Debug, Clone)]
pub struct AnvilOptions {
    /// The binary to run.
    pub binary: PathBuf,
    /// Port to listen on; 0 picks a free one.
    pub port: u16,
    /// Chain id.
    pub chain_id: u64,
    /// Seconds between blocks; `None` mines a block per transaction.
    pub block_time: Option<u64>,
    /// The EVM hardfork (`berlin` for a chain without EIP-1559); `None`: anvil's default.
    pub hardfork: Option<String>,
    /// Keep only the latest state, as a pruned (non-archive) node does (`--prune-history 1`).
    pub pruned: bool,
}

/// A running anvil. Dropping it kills the process.
pub struct Anvil {
    child: Child,
    _log: tempfile::NamedTempFile,
    /// The RPC endpoint.
    pub url: RpcUrl,
    /// The port it listens on.
    pub port: u16,
    /// Its chain id.
    pub chain_id: u64,
}

impl Anvil {
    /// Starts anvil with the public dev mnemonic and waits until it listens.
    pub async fn spawn(opts: &AnvilOptions) -> Result<Self, AnvilError> {
        Self::spawn_with_args(opts, &[]).await
    }

    /// As [`Anvil::spawn`], with `extra` arguments after the usual ones (the drill's
    /// `--fork-url` and `--fork-block-number`).
    pub async fn spawn_with_args(
        opts: &AnvilOptions,
        extra: &[String],
    ) -> Result<Self, AnvilError> {
        let mut cmd = Command::new(&opts.binary);
        cmd.arg("--port")
            .arg(opts.port.to_string())
            .arg("--chain-id")
            .arg(opts.chain_id.to_string())
            .arg("--mnemonic")
            .arg(DEV_MNEMONIC)
            .arg("--accounts")
            .arg("20")
            .arg("--balance")
            .arg("10000");
        if let Some(secs) = opts.block_time {
            cmd.arg("--block-time").arg(secs.to_string());
        }
        if let Some(fork) = &opts.hardfork {
            cmd.arg("--hardfork").arg(fork);
        }
        if opts.pruned {
            cmd.arg("--prune-history").arg("1");
        }
        cmd.args(extra);
        // Anvil logs every transaction on stdout (and the dev keys at start). A pipe that nobody
        // drains fills up and stalls the chain, so its output goes to a file nobody shows.
        let log = tempfile::NamedTempFile::new().map_err(|source| AnvilError::Spawn {
            path: opts.binary.clone(),
            source,
        })?;
        let out = log.reopen().map_err(|source| AnvilError::Spawn {
            path: opts.binary.clone(),
            source,
        })?;
        cmd.stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::null())
            .kill_on_drop(true);
        let child = cmd.spawn().map_err(|source| AnvilError::Spawn {
            path: opts.binary.clone(),
            source,
        })?;
        let limit = Duration::from_secs(20);
        let port = tokio::time::timeout(limit, async {
            loop {
                let text = std::fs::read_to_string(log.path()).unwrap_or_default();
                if let Some(port) = text.lines().find_map(|line| {
                    line.trim()
                        .strip_prefix("Listening on ")
                        .and_then(|addr| addr.rsplit(':').next())
                        .and_then(|p| p.parse::<u16>().ok())
                }) {
                    return port;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .map_err(|_| AnvilError::NoListen(limit))?;
        let url = format!("http://127.0.0.1:{port}")
            .parse()
            .map_err(|_| AnvilError::NoListen(limit))?;
        Ok(Self {
            child,
            _log: log,
            url,
            port,
            chain_id: opts.chain_id,
        })
    }

    /// Its process id, while it runs (what a benchmark reads its CPU time and memory by).
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Stops the process and waits for it to exit.
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

impl Drop for Anvil {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
const PLATFORM_PACKAGE: &str = "anvil-linux-amd64";
#[cfg(all(target_os = "linux", target_arch = "aarch64"))]
const PLATFORM_PACKAGE: &str = "anvil-linux-arm64";
#[cfg(all(target_os = "macos", target_arch = "aarch64"))]
const PLATFORM_PACKAGE: &str = "anvil-darwin-arm64";
#[cfg(not(any(
    all(target_os = "linux", target_arch = "x86_64"),
    all(target_os = "linux", target_arch = "aarch64"),
    all(target_os = "macos", target_arch = "aarch64")
)))]
const PLATFORM_PACKAGE: &str = "anvil-darwin-amd64";

/// Finds the anvil binary: the flag, `GUARDIAN_ANVIL`, the npm package's platform binary under
/// `contracts/node_modules` (from the current directory upwards, then this source tree), or `PATH`.
pub fn find_anvil(flag: Option<&Path>, env: EnvLookup<'_>) -> Result<PathBuf, AnvilError> {
    if let Some(path) = flag
        .map(Path::to_path_buf)
        .or_else(|| env("GUARDIAN_ANVIL").map(PathBuf::from))
    {
        return check_binary(path);
    }
    let relative = Path::new("contracts/node_modules/@foundry-rs")
        .join(PLATFORM_PACKAGE)
        .join("bin/anvil");
    let mut roots: Vec<PathBuf> = std::env::current_dir()
        .map(|d| d.ancestors().map(Path::to_path_buf).collect())
        .unwrap_or_default();
    roots.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."));
    if let Some(found) = roots
        .iter()
        .map(|r| r.join(&relative))
        .find(|p| p.is_file())
    {
        return Ok(found);
    }
    let path_var = env("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path_var) {
        let candidate = dir.join("anvil");
        if candidate.is_file() && !is_script(&candidate) {
            return Ok(candidate);
        }
    }
    Err(AnvilError::NotFound)
}

fn check_binary(path: PathBuf) -> Result<PathBuf, AnvilError> {
    if !path.is_file() {
        return Err(AnvilError::NotFound);
    }
    if is_script(&path) {
        return Err(AnvilError::Wrapper(path));
    }
    Ok(path)
}

/// A `#!` script (such as the npm wrapper) rather than a native binary.
fn is_script(path: &Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; 2];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .map(|_| &head == b"#!")
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_the_npm_wrapper_script() {
        let dir = tempfile::tempdir().expect("tmp");
        let wrapper = dir.path().join("anvil");
        std::fs::write(&wrapper, "#!/usr/bin/env node\n").expect("write");
        let none = |_: &str| None;
        let err = find_anvil(Some(&wrapper), &none).expect_err("wrapper");
        assert!(matches!(err, AnvilError::Wrapper(_)));
    }

    #[test]
    fn missing_binary_says_how_to_install() {
        let none = |_: &str| None;
        let err = find_anvil(Some(Path::new("/nonexistent/anvil")), &none).expect_err("missing");
        assert!(err.to_string().contains("npm ci --prefix contracts"));
    }
}
