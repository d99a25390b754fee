//! The team's API tokens (`guardian token create --role viewer|responder|triager|admin`): printed once,
//! stored only as their SHA-256, each with a role; the team API answers 401 without a valid token
//! and 403 when its role is too low.

use serde::Serialize;

use super::{BountyError, crypto};
use crate::storage::{
    StorageError, Store, now_ms,
    sql::{OptionalExt as _, params},
};

/// What a token may do: a viewer reads; a responder and a triager each do what a viewer does
/// and their own part (incidents and pausing; bounty decisions); an admin does everything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads everything (never a report's proof of concept).
    Viewer,
    /// A viewer who also acts in incidents: notes, tasks, escalation, pausing.
    Responder,
    /// A viewer who also reads reports with their threads, and triages them.
    Triager,
    /// Everything, tokens included.
    Admin,
}

impl Role {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Responder => "responder",
            Self::Triager => "triager",
            Self::Admin => "admin",
        }
    }

    /// Whether this role may do what `needed` may.
    pub fn allows(self, needed: Self) -> bool {
        self == needed || self == Self::Admin || needed == Self::Viewer
    }

    /// The role stored as `s`.
    pub(super) fn parse(s: &str) -> Option<Self> {
        [Self::Viewer, Self::Responder, Self::Triager, Self::Admin]
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

/// A team token that works: its row's number, whose it is, its role, when it was last used and
/// when it expires.
pub(super) struct ValidToken {
    pub(super) id: i64,
    pub(super) name: String,
    pub(super) role: Role,
    last_used: Option<i64>,
    pub(super) expires_at: Option<i64>,
}

/// Token texts start with this, so one found in a log or a paste is recognised.
pub const PREFIX: &str = "gdn_";

/// How often a token's `last_used_at` is written: at most once a minute, so that a busy client
/// does not turn every read into a write.
const LAST_USED_EVERY_MS: i64 = 60_000;

/// A token as `guardian token list` shows it (never the token itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenInfo {
    /// Its number, for `guardian token revoke`.
    pub id: i64,
    /// Whose it is.
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// Who created it, and when (Unix ms).
    pub created_by: String,
    /// When it was created (Unix ms).
    pub created_at: i64,
    /// When it stops working (Unix ms); `None`: never.
    pub expires_at: Option<i64>,
    /// When it was last used, to the minute (Unix ms).
    pub last_used_at: Option<i64>,
    /// When it was revoked (Unix ms), and by whom.
    pub revoked_at: Option<i64>,
    /// Who revoked it.
    pub revoked_by: Option<String>,
    /// `active`, `expired` or `revoked` at the time of listing.
    pub state: &'static str,
}

/// Why a token could not be revoked.
#[derive(Debug, thiserror::Error)]
pub enum RevokeError {
    /// No token has this number.
    #[error("no token {0} (guardian token list shows them)")]
    NotFound(i64),
    /// It was revoked already.
    #[error("token {id} was already revoked by {by}")]
    AlreadyRevoked {
        /// The token.
        id: i64,
        /// Who revoked it.
        by: String,
    },
    /// The database refused.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl Store {
    /// Creates a token named `name` with `role`, valid until `expires_at` (Unix ms; `None`:
    /// until revoked); returns its text, which is not kept.
    pub fn create_api_token(
        &self,
        name: &str,
        role: Role,
        created_by: &str,
        expires_at: Option<i64>,
    ) -> Result<String, BountyError> {
        let token = format!("{PREFIX}{}", crypto::new_token()?);
        let hash = crypto::token_hash(&token);
        self.write(|tx| {
            tx.execute(
                "INSERT INTO api_tokens (name, role, token_hash, created_by, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![name, role.as_str(), hash, created_by, now_ms(), expires_at],
            )
        })?;
        Ok(token)
    }

    /// The holder of `token` at `now` (Unix ms), if it is a team token neither revoked nor
    /// expired; notes its use (at most once a minute).
    pub fn api_token_holder(
        &self,
        token: &str,
        now: i64,
    ) -> Result<Option<TokenHolder>, StorageError> {
        let Some(ValidToken {
            id,
            name,
            role,
            last_used,
            ..
        }) = self.valid_token(token, now)?
        else {
            return Ok(None);
        };
        if last_used.is_none_or(|t| now - t >= LAST_USED_EVERY_MS) {
            self.write(|tx| {
                tx.execute(
                    "UPDATE api_tokens SET last_used_at = ?2 WHERE id = ?1",
                    params![id, now],
                )
            })?;
        }
        Ok(Some(TokenHolder { name, role }))
    }

    /// The team token `token` at `now` (Unix ms), if it is one neither revoked nor expired.
    pub(super) fn valid_token(
        &self,
        token: &str,
        now: i64,
    ) -> Result<Option<ValidToken>, StorageError> {
        if !token.starts_with(PREFIX) {
            return Ok(None);
        }
        let hash = crypto::token_hash(token);
        let row = self.with(|c| {
            c.query_row(
                "SELECT id, name, role, last_used_at, expires_at FROM api_tokens
                 WHERE token_hash = ?1 AND revoked_at IS NULL
                   AND (expires_at IS NULL OR expires_at > ?2)",
                params![hash, now],
                |r| {
                    let role: String = r.get(2)?;
                    let Some(role) = Role::parse(&role) else {
                        return Ok(None);
                    };
                    Ok(Some(ValidToken {
                        id: r.get(0)?,
                        name: r.get(1)?,
                        role,
                        last_used: r.get(3)?,
                        expires_at: r.get(4)?,
                    }))
                },
            )
            .optional()
        })?;
        Ok(row.flatten())
    }

    /// Every token, oldest first, with its state at `now` (Unix ms).
    pub fn api_tokens(&self, now: i64) -> Result<Vec<TokenInfo>, StorageError> {
        self.with(|c| {
            c.query_map(
                "SELECT id, name, role, created_by, created_at, expires_at, last_used_at, revoked_at, revoked_by
                 FROM api_tokens ORDER BY id",
                params![],
                |r| {
                    let role: String = r.get(2)?;
                    let expires_at: Option<i64> = r.get(5)?;
                    let revoked_at: Option<i64> = r.get(7)?;
                    Ok(TokenInfo {
                        id: r.get(0)?,
                        name: r.get(1)?,
                        role: Role::parse(&role).unwrap_or(Role::Viewer),
                        created_by: r.get(3)?,
                        created_at: r.get(4)?,
                        expires_at,
                        last_used_at: r.get(6)?,
                        revoked_at,
                        revoked_by: r.get(8)?,
                        state: if revoked_at.is_some() {
                            "revoked"
                        } else if expires_at.is_some_and(|t| t <= now) {
                            "expired"
                        } else {
                            "active"
                        },
                    })
                },
            )
        })
    }

    /// Revokes token `id` as `by` at `now`: from then on it answers 401.
    pub fn revoke_api_token(&self, id: i64, by: &str, now: i64) -> Result<(), RevokeError> {
        let revoked: Option<Option<String>> = self.write(|tx| {
            let before: Option<Option<String>> = tx
                .query_row(
                    "SELECT revoked_by FROM api_tokens WHERE id = ?1",
                    params![id],
                    |r| r.get(0),
                )
                .optional()?;
            if matches!(before, Some(None)) {
                tx.execute(
                    "UPDATE api_tokens SET revoked_at = ?2, revoked_by = ?3 WHERE id = ?1 AND revoked_at IS NULL",
                    params![id, now, by],
                )?;
            }
            Ok(before)
        })?;
        match revoked {
            None => Err(RevokeError::NotFound(id)),
            Some(Some(by)) => Err(RevokeError::AlreadyRevoked { id, by }),
            Some(None) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_kept_only_as_its_hash_and_carries_its_role() {
        for store in Store::each_backend() {
            let token = store
                .create_api_token("alice", Role::Triager, "ops", None)
                .expect("token");
            assert!(token.starts_with(PREFIX));
            let kept: String = store
                .with(|c| c.query_row("SELECT token_hash FROM api_tokens", params![], |r| r.get(0)))
                .expect("row");
            assert_ne!(kept, token);
            assert_eq!(
                store.api_token_holder(&token, 1).expect("q"),
                Some(TokenHolder {
                    name: "alice".into(),
                    role: Role::Triager
                })
            );
            assert_eq!(store.api_token_holder("gdn_nope", 1).expect("q"), None);
            assert!(Role::Admin > Role::Triager && Role::Triager > Role::Viewer);
        }
    }

    #[test]
    fn a_token_stops_at_its_expiry_or_its_revocation_and_notes_its_use() {
        for store in Store::each_backend() {
            let lasting = store
                .create_api_token("alice", Role::Viewer, "ops", None)
                .expect("token");
            let brief = store
                .create_api_token("bob", Role::Viewer, "ops", Some(1_000))
                .expect("token");
            assert!(store.api_token_holder(&brief, 999).expect("q").is_some());
            assert_eq!(store.api_token_holder(&brief, 1_000).expect("q"), None);
            assert!(store.api_token_holder(&lasting, 500).expect("q").is_some());
            // Used again within the minute: the first use stands.
            assert!(
                store
                    .api_token_holder(&lasting, 30_000)
                    .expect("q")
                    .is_some()
            );
            let listed = store.api_tokens(1_000).expect("list");
            assert_eq!(listed.len(), 2);
            assert_eq!(
                (listed[0].state, listed[0].last_used_at),
                ("active", Some(500))
            );
            assert_eq!(
                (listed[1].state, listed[1].expires_at),
                ("expired", Some(1_000))
            );

            store
                .revoke_api_token(listed[0].id, "lead", 2_000)
                .expect("revoke");
            assert_eq!(store.api_token_holder(&lasting, 2_001).expect("q"), None);
            let listed = store.api_tokens(2_001).expect("list");
            assert_eq!(listed[0].state, "revoked");
            assert_eq!(listed[0].revoked_by.as_deref(), Some("lead"));
            assert!(matches!(
                store.revoke_api_token(listed[0].id, "lead", 3_000),
                Err(RevokeError::AlreadyRevoked { .. })
            ));
            assert!(matches!(
                store.revoke_api_token(99, "lead", 3_000),
                Err(RevokeError::NotFound(99))
            ));
        }
    }
}
