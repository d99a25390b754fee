//! The one way the tests run the `guardian` binary: a clean environment (only `PATH`, and what
//! the test passes), in the test's directory.

use std::path::Path;

/// `guardian` with a clean environment, in `dir` (blocking), for tests that set more themselves.
pub fn command(dir: &Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_guardian"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .current_dir(dir);
    cmd
}

/// Runs `guardian ARGS` in `dir` with `vars` set: whether it exited 0, its stdout and stderr.
pub async fn run(dir: &Path, vars: &[(&str, &str)], args: &[&str]) -> (bool, String, String) {
    let o = tokio::process::Command::new(env!("CARGO_BIN_EXE_guardian"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(vars.iter().copied())
        .current_dir(dir)
        .args(args)
        .output()
        .await
        .expect("guardian runs");
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}
