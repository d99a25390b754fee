//! Setting up the desk: the team's key pair from `guardian bounty keygen`, and a server that
//! refuses to start without a valid one.

use super::*;

#[tokio::test]
async fn serve_refuses_to_start_without_a_valid_team_key() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = Arc::new(Store::in_memory().expect("db"));
    for key in [None, Some("age1notakey")] {
        let path = dir.path().join("guardian.toml");
        std::fs::write(&path, manifest_text(key, 10)).expect("write");
        let manifest = Manifest::load(&path).expect("manifest");
        let err = serve::start(
            manifest,
            store.clone(),
            "127.0.0.1:0".parse().expect("addr"),
        )
        .await
        .err()
        .expect("refused");
        assert!(err.to_string().contains("guardian bounty keygen"), "{err}");
    }
    // The binary says the same and exits non-zero.
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_guardian"))
        .current_dir(dir.path())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .output()
        .expect("run");
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("team_public_key"), "{err}");
    assert!(!dir.path().join("guardian.db").exists(), "no database made");
}

#[test]
fn bounty_keygen_prints_a_usable_key_pair() {
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_guardian"))
        .args(["bounty", "keygen", "--json"])
        .output()
        .expect("run");
    assert!(o.status.success());
    assert!(o.stderr.is_empty(), "nothing on stderr");
    let pair: Value = serde_json::from_slice(&o.stdout).expect("json");
    let public = pair["team_public_key"].as_str().expect("public");
    let secret = pair["secret_key"].as_str().expect("secret");
    assert!(public.starts_with("age1"), "{public}");
    assert!(
        secret.starts_with("AGE-SECRET-KEY-1"),
        "shape of the secret"
    );
    let sealed = crypto::TeamKey::parse(public)
        .expect("public key")
        .encrypt("hello")
        .expect("encrypt");
    assert_eq!(crypto::decrypt(secret, &sealed).expect("pair"), "hello");

    let o = std::process::Command::new(env!("CARGO_BIN_EXE_guardian"))
        .args(["bounty", "keygen"])
        .output()
        .expect("run");
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("[bounty]\nteam_public_key = \"age1"),
        "{text}"
    );
    assert!(
        text.contains("GUARDIAN_BOUNTY_KEY=AGE-SECRET-KEY-1"),
        "shape of the output"
    );
}
