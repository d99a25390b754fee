//! The team's browser sessions: a person signs in by pasting their team token once and gets a
//! session (a random cookie value, stored only as its hash) with a CSRF value every change must
//! carry. A session ends when it expires, when it is ended (sign-out), or at once when its token
//! is revoked or expires: each check joins the token.

use super::{
    BountyError, crypto,
    tokens::{Role, TokenHolder},
};
use crate::storage::{
    StorageError, Store,
    sql::{OptionalExt as _, params},
};

/// How long a session lasts (12 hours: an on-call shift).
pub const SESSION_MS: i64 = 12 * 60 * 60 * 1000;

/// A session just opened: the cookie value (never stored) and its CSRF value.
#[derive(Debug, Clone)]
pub struct Opened {
    /// The cookie's value.
    pub session: String,
    /// The value every change must carry.
    pub csrf: String,
    /// Who signed in.
    pub holder: TokenHolder,
    /// When it ends (Unix ms).
    pub expires_at: i64,
}

/// A live session's holder and CSRF value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Live {
    /// Who, with their token's role.
    pub holder: TokenHolder,
    /// The value every change must carry.
    pub csrf: String,
}

impl Store {
    /// Opens a session for `token` at `now` (Unix ms), if it is a team token neither revoked nor
    /// expired; the session ends at the token's own expiry if that comes first.
    pub fn open_session(&self, token: &str, now: i64) -> Result<Option<Opened>, BountyError> {
        let Some(valid) = self.valid_token(token, now)? else {
            return Ok(None);
        };
        let (token_id, name, role, token_expiry) =
            (valid.id, valid.name, valid.role, valid.expires_at);
        let session = crypto::new_token()?;
        let csrf = crypto::new_token()?;
        let expires_at = token_expiry.map_or(now + SESSION_MS, |t| t.min(now + SESSION_MS));
        let session_hash = crypto::token_hash(&session);
        self.write(|tx| {
            tx.execute(
                "INSERT INTO team_sessions (session_hash, token_id, csrf, created_at, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![session_hash, token_id, csrf, now, expires_at],
            )
        })?;
        Ok(Some(Opened {
            session,
            csrf,
            holder: TokenHolder { name, role },
            expires_at,
        }))
    }

    /// The live session whose cookie is `session` at `now`: not ended, not expired, its token
    /// neither revoked nor expired.
    pub fn live_session(&self, session: &str, now: i64) -> Result<Option<Live>, StorageError> {
        let hash = crypto::token_hash(session);
        let row: Option<(String, String, String)> = self.with(|c| {
            c.query_row(
                "SELECT t.name, t.role, s.csrf FROM team_sessions s
                 JOIN api_tokens t ON t.id = s.token_id
                 WHERE s.session_hash = ?1 AND s.ended_at IS NULL AND s.expires_at > ?2
                   AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > ?2)",
                params![hash, now],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()
        })?;
        Ok(row.and_then(|(name, role, csrf)| {
            Role::parse(&role).map(|role| Live {
                holder: TokenHolder { name, role },
                csrf,
            })
        }))
    }

    /// Ends the session whose cookie is `session` (sign-out).
    pub fn end_session(&self, session: &str, now: i64) -> Result<(), StorageError> {
        let hash = crypto::token_hash(session);
        self.write(|tx| {
            tx.execute(
                "UPDATE team_sessions SET ended_at = ?2 WHERE session_hash = ?1 AND ended_at IS NULL",
                params![hash, now],
            )
        })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_lives_until_it_ends_expires_or_its_token_is_revoked() {
        let dir = tempfile::tempdir().expect("tmp");
        let store = Store::open(&dir.path().join("guardian.db")).expect("store");
        let token = store
            .create_api_token("rita", Role::Responder, "admin", None)
            .expect("token");
        assert!(
            store
                .open_session("gdn_wrong", 1_000)
                .expect("open")
                .is_none()
        );
        let opened = store
            .open_session(&token, 1_000)
            .expect("open")
            .expect("opened");
        assert_eq!(opened.holder.role, Role::Responder);
        assert_eq!(opened.expires_at, 1_000 + SESSION_MS);
        let live = store.live_session(&opened.session, 2_000).expect("read");
        assert_eq!(
            live.as_ref().map(|l| l.csrf.as_str()),
            Some(opened.csrf.as_str())
        );
        assert_eq!(live.map(|l| l.holder.name), Some("rita".to_string()));
        assert!(
            store
                .live_session(&opened.session, 1_000 + SESSION_MS)
                .expect("read")
                .is_none(),
            "expired"
        );
        store.end_session(&opened.session, 3_000).expect("end");
        assert!(
            store
                .live_session(&opened.session, 3_001)
                .expect("read")
                .is_none()
        );

        let again = store
            .open_session(&token, 4_000)
            .expect("open")
            .expect("opened");
        let id = store.api_tokens(4_000).expect("list")[0].id;
        store.revoke_api_token(id, "admin", 5_000).expect("revoke");
        assert!(
            store
                .live_session(&again.session, 5_001)
                .expect("read")
                .is_none(),
            "revoking the token ends its sessions at once"
        );
        assert!(store.open_session(&token, 5_002).expect("open").is_none());
    }
}
