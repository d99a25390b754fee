//! Who is acting: the operator named on every acknowledgement, incident entry and action.
//!
//! In order: `--as NAME`, then `GUARDIAN_OPERATOR`, then the OS account the process runs as
//! (found by its uid in the account database, so a service or a container without `USER` still
//! has a name; `USER` and `LOGNAME` only when the uid has none), with the host: `alice@ops-1`.
//! A uid no account names is only `uid 1000@ops-1`: enough for the emergency pause and the rescue
//! of everything, which never wait, but not a person, so every other action refuses it
//! ([`identified`]). "unknown" is never recorded.

use crate::config::env::EnvLookup;

/// The OS account the process runs as, and the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OsAccount {
    /// The account's name, when the account database (or `USER`/`LOGNAME`) gives one.
    pub name: Option<String>,
    /// The uid, when it can be read.
    pub uid: Option<u32>,
    /// The host's name (`localhost` when it cannot be read).
    pub host: String,
}

impl OsAccount {
    /// The account of this process: the uid from `/proc/self/status`, its name from
    /// `/etc/passwd`, the host from the kernel (`HOSTNAME` otherwise).
    pub fn current(env: EnvLookup<'_>) -> Self {
        let uid = std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("Uid:"))
                    .and_then(|rest| rest.split_whitespace().next())
                    .and_then(|u| u.parse::<u32>().ok())
            });
        let by_uid = uid.and_then(|uid| {
            std::fs::read_to_string("/etc/passwd")
                .ok()
                .and_then(|passwd| name_of(&passwd, uid))
        });
        let given = |v: Option<String>| v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .and_then(|h| given(Some(h)))
            .or_else(|| given(env("HOSTNAME")))
            .unwrap_or_else(|| "localhost".into());
        Self {
            name: by_uid
                .or_else(|| given(env("USER")))
                .or_else(|| given(env("LOGNAME"))),
            uid,
            host,
        }
    }
}

/// The name `passwd` (the account database's text) gives `uid`.
fn name_of(passwd: &str, uid: u32) -> Option<String> {
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let id = fields.nth(1)?.parse::<u32>().ok()?;
        (id == uid && !name.is_empty()).then(|| name.to_string())
    })
}

/// Who is acting, and whether that names a person (false for a bare uid).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// What the records say: `bob`, `alice@ops-1`, `uid 1000@ops-1`.
    pub name: String,
    /// Whether it names someone (`--as`, `GUARDIAN_OPERATOR`, a named account).
    pub named: bool,
}

/// Who is acting, from `flag` (`--as`), the environment and `os`.
pub fn identify(flag: Option<&str>, env: EnvLookup<'_>, os: &OsAccount) -> Identity {
    let given = |v: Option<String>| v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    if let Some(name) = given(flag.map(str::to_string)).or_else(|| given(env("GUARDIAN_OPERATOR")))
    {
        return Identity { name, named: true };
    }
    match (&os.name, os.uid) {
        (Some(name), _) => Identity {
            name: format!("{name}@{}", os.host),
            named: true,
        },
        (None, Some(uid)) => Identity {
            name: format!("uid {uid}@{}", os.host),
            named: false,
        },
        (None, None) => Identity {
            name: format!("a process on {}", os.host),
            named: false,
        },
    }
}

/// The operator's name for the records (a bare uid when nothing names them: what the emergency
/// pause and the rescue of everything record, never waiting for a name).
pub fn operator(flag: Option<&str>, env: EnvLookup<'_>) -> String {
    identify(flag, env, &OsAccount::current(env)).name
}

/// The operator's name, or what to set when nothing names them: every action but the emergency
/// pause and the rescue of everything needs a person behind it.
pub fn identified(flag: Option<&str>, env: EnvLookup<'_>) -> Result<String, Unnamed> {
    let who = identify(flag, env, &OsAccount::current(env));
    if who.named {
        Ok(who.name)
    } else {
        Err(Unnamed(who.name))
    }
}

/// Nothing names the operator.
#[derive(Debug, thiserror::Error)]
#[error(
    "who is acting? this process runs as {0}, which names no one: pass --as NAME or set GUARDIAN_OPERATOR (the emergency pause and the rescue of everything never wait for a name)"
)]
pub struct Unnamed(pub String);

#[cfg(test)]
mod tests {
    use super::*;

    fn os(name: Option<&str>, uid: Option<u32>) -> OsAccount {
        OsAccount {
            name: name.map(str::to_string),
            uid,
            host: "ops-1".into(),
        }
    }

    #[test]
    fn flag_then_variable_then_the_account_with_its_host() {
        let env = |name: &str| (name == "GUARDIAN_OPERATOR").then(|| "oncall".to_string());
        let alice = os(Some("alice"), Some(1000));
        assert_eq!(identify(Some("bob"), &env, &alice).name, "bob");
        assert_eq!(identify(Some("  "), &env, &alice).name, "oncall");
        assert_eq!(identify(None, &env, &alice).name, "oncall");
        let nothing = |_: &str| None;
        let who = identify(None, &nothing, &alice);
        assert_eq!((who.name.as_str(), who.named), ("alice@ops-1", true));
    }

    #[test]
    fn a_uid_no_account_names_is_recorded_but_names_no_one() {
        let nothing = |_: &str| None;
        let who = identify(None, &nothing, &os(None, Some(1000)));
        assert_eq!((who.name.as_str(), who.named), ("uid 1000@ops-1", false));
        let who = identify(None, &nothing, &os(None, None));
        assert!(!who.named && !who.name.contains("unknown"), "{who:?}");
    }

    #[test]
    fn the_account_database_names_a_uid() {
        let passwd = "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/sh\n";
        assert_eq!(name_of(passwd, 1000).as_deref(), Some("alice"));
        assert_eq!(name_of(passwd, 0).as_deref(), Some("root"));
        assert_eq!(name_of(passwd, 4242), None);
    }

    #[test]
    fn this_process_has_a_name_without_user_or_logname() {
        let nothing = |_: &str| None;
        let me = OsAccount::current(&nothing);
        assert!(me.uid.is_some(), "{me:?}");
        assert!(!operator(None, &nothing).contains("unknown"));
    }
}
