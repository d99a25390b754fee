//! The team's API tokens (`guardian token create --role viewer|triager|admin`): printed once,
//! stored only as their SHA-256, each with a role; the team API answers 401 without a valid token
//! and 403 when its role is too low.

use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use super::{BountyError, crypto};
use crate::storage::{StorageError, Store, now_ms};

/// What a token may do; each role may do what the ones below it may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads reports (never the proof of concept).
    Viewer,
    /// Reads reports with their threads, and triages them.
    Triager,
    /// Everything, tokens included.
    Admin,
}

impl Role {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Triager => "triager",
            Self::Admin => "admin",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [Self::Viewer, Self::Triager, Self::Admin]
            .into_iter()
            .find(|r| r.as_str() == s)
    }
}

/// Who a valid token belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenHolder {
    /// The token's name.
    pub name: String,
    /// Its role.
    pub role: Role,
}

/// Token texts start with this, so one found in a log or a paste is recognised.
pub const PREFIX: &str = "gdn_";

impl Store {
    /// Creates a token named `name` with `role`; returns its text, which is not kept.
    pub fn create_api_token(
        &self,
        name: &str,
        role: Role,
        created_by: &str,
    ) -> Result<String, BountyError> {
        let token = format!("{PREFIX}{}", crypto::new_token()?);
        let hash = crypto::token_hash(&token);
        self.write(|tx| {
            tx.execute(
                "INSERT INTO api_tokens (name, role, token_hash, created_by, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![name, role.as_str(), hash, created_by, now_ms()],
            )
        })?;
        Ok(token)
    }

    /// The holder of `token`, if it is a valid, unrevoked team token.
    pub fn api_token_holder(&self, token: &str) -> Result<Option<TokenHolder>, StorageError> {
        if !token.starts_with(PREFIX) {
            return Ok(None);
        }
        let hash = crypto::token_hash(token);
        let row: Option<(String, String)> = self.with(|c| {
            c.query_row(
                "SELECT name, role FROM api_tokens WHERE token_hash = ?1 AND revoked_at IS NULL",
                params![hash],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
        })?;
        Ok(row.and_then(|(name, role)| Role::parse(&role).map(|role| TokenHolder { name, role })))
    }

    /// Every report, newest first, as the team lists them (never the proof of concept).
    pub fn bounty_reports(&self) -> Result<Vec<super::store::ReportView>, StorageError> {
        let ids: Vec<i64> = self.with(|c| {
            c.prepare("SELECT id FROM bounty_reports ORDER BY id DESC")?
                .query_map([], |r| r.get(0))?
                .collect()
        })?;
        Ok(ids
            .into_iter()
            .filter_map(|id| self.bounty_report(id).ok().flatten())
            .map(|r| r.view)
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_kept_only_as_its_hash_and_carries_its_role() {
        let store = Store::in_memory().expect("db");
        let token = store
            .create_api_token("alice", Role::Triager, "ops")
            .expect("token");
        assert!(token.starts_with(PREFIX));
        let kept: String = store
            .with(|c| c.query_row("SELECT token_hash FROM api_tokens", [], |r| r.get(0)))
            .expect("row");
        assert_ne!(kept, token);
        assert_eq!(
            store.api_token_holder(&token).expect("q"),
            Some(TokenHolder {
                name: "alice".into(),
                role: Role::Triager
            })
        );
        assert_eq!(store.api_token_holder("gdn_nope").expect("q"), None);
        assert!(Role::Admin > Role::Triager && Role::Triager > Role::Viewer);
    }
}
