//! The bounty desk's secrets: proofs of concept encrypted with age to the team's X25519 key
//! (so the database never holds them in clear), the team's key pair, and researchers'
//! follow-up tokens (random, stored only as their SHA-256).

use std::fmt;

use age::secrecy::ExposeSecret as _;
use sha2::{Digest as _, Sha256};

use super::BountyError;

/// The team's public key (`[bounty] team_public_key`): what proofs of concept are encrypted to.
#[derive(Clone)]
pub struct TeamKey(age::x25519::Recipient);

impl TeamKey {
    /// Parses an age X25519 recipient (`age1...`).
    pub fn parse(text: &str) -> Result<Self, BountyError> {
        text.trim()
            .parse::<age::x25519::Recipient>()
            .map(Self)
            .map_err(|_| BountyError::BadTeamKey)
    }

    /// Encrypts `plaintext` to this key (age's binary format).
    pub fn encrypt(&self, plaintext: &str) -> Result<Vec<u8>, BountyError> {
        age::encrypt(&self.0, plaintext.as_bytes()).map_err(|e| BountyError::Encrypt(e.to_string()))
    }
}

impl fmt::Debug for TeamKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TeamKey({})", self.0)
    }
}

/// A freshly generated team key pair.
pub struct KeyPair {
    /// The public key, for `[bounty] team_public_key`.
    pub public: String,
    /// The secret (`AGE-SECRET-KEY-1...`), for `GUARDIAN_BOUNTY_KEY`; never logged.
    pub secret: age::secrecy::SecretString,
}

/// Generates a new team key pair.
pub fn generate() -> KeyPair {
    let identity = age::x25519::Identity::generate();
    KeyPair {
        public: identity.to_public().to_string(),
        secret: identity.to_string(),
    }
}

/// Decrypts a stored proof of concept with the team's secret key (`GUARDIAN_BOUNTY_KEY`).
pub fn decrypt(secret: &str, ciphertext: &[u8]) -> Result<String, BountyError> {
    let identity = secret
        .trim()
        .parse::<age::x25519::Identity>()
        .map_err(|_| BountyError::Decrypt("the key is not an AGE-SECRET-KEY-1 secret".into()))?;
    let bytes =
        age::decrypt(&identity, ciphertext).map_err(|e| BountyError::Decrypt(e.to_string()))?;
    String::from_utf8(bytes).map_err(|_| BountyError::Decrypt("not UTF-8 text".into()))
}

/// Whether `secret` (a key pair's secret) is well formed; the secret itself is never shown.
pub fn secret_is_valid(secret: &age::secrecy::SecretString) -> bool {
    secret
        .expose_secret()
        .parse::<age::x25519::Identity>()
        .is_ok()
}

/// A new follow-up token: 32 random bytes, hex.
pub fn new_token() -> Result<String, BountyError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| BountyError::Random(e.to_string()))?;
    Ok(alloy::hex::encode(bytes))
}

/// A new public id of a report: 16 random bytes, hex (the shape migration 13 gives the reports
/// stored before it).
pub fn new_public_id() -> Result<String, BountyError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| BountyError::Random(e.to_string()))?;
    Ok(alloy::hex::encode(bytes))
}

/// Whether `text` has the shape of a public id (32 lowercase hex digits); a report number or
/// anything else is not looked up.
pub fn is_public_id(text: &str) -> bool {
    text.len() == 32
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// What is stored of a token: its SHA-256, hex.
pub fn token_hash(token: &str) -> String {
    alloy::hex::encode(Sha256::digest(token.as_bytes()))
}

/// Compares two hashes without stopping at the first difference.
pub fn same_hash(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_proof_of_concept_round_trips_and_is_not_in_clear() {
        let pair = generate();
        assert!(pair.public.starts_with("age1"), "{}", pair.public);
        assert!(secret_is_valid(&pair.secret));
        let key = TeamKey::parse(&pair.public).expect("public key");
        let sealed = key.encrypt("call drain() twice").expect("encrypt");
        assert!(!sealed.windows(5).any(|w| w == b"drain"));
        let opened = decrypt(pair.secret.expose_secret(), &sealed).expect("decrypt");
        assert_eq!(opened, "call drain() twice");
        assert!(TeamKey::parse("age1nope").is_err());
        let other = generate();
        assert!(decrypt(other.secret.expose_secret(), &sealed).is_err());
    }

    #[test]
    fn tokens_are_random_and_hashed() {
        let a = new_token().expect("token");
        let b = new_token().expect("token");
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
        assert!(same_hash(&token_hash(&a), &token_hash(&a)));
        assert!(!same_hash(&token_hash(&a), &token_hash(&b)));
    }

    #[test]
    fn public_ids_are_random_and_recognised() {
        let a = new_public_id().expect("id");
        assert_ne!(a, new_public_id().expect("id"));
        assert!(is_public_id(&a), "{a}");
        for not in [
            "1",
            "42",
            "",
            &a.to_uppercase(),
            &a[1..],
            &format!("{a}0"),
            "../x",
        ] {
            assert!(!is_public_id(not), "{not}");
        }
    }
}
