//! Who is acting: the operator named on every acknowledgement, incident entry and action.

use crate::config::env::EnvLookup;

/// The operator: `--as NAME` when given, else `GUARDIAN_OPERATOR`, else the OS user (`USER`,
/// then `LOGNAME`), else `unknown`. Blank values are skipped.
pub fn operator(flag: Option<&str>, env: EnvLookup<'_>) -> String {
    let given = |v: Option<String>| v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    given(flag.map(str::to_string))
        .or_else(|| given(env("GUARDIAN_OPERATOR")))
        .or_else(|| given(env("USER")))
        .or_else(|| given(env("LOGNAME")))
        .unwrap_or_else(|| "unknown".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_then_variable_then_os_user() {
        let env = |name: &str| match name {
            "GUARDIAN_OPERATOR" => Some("oncall".to_string()),
            "USER" => Some("alice".to_string()),
            _ => None,
        };
        assert_eq!(operator(Some("bob"), &env), "bob");
        assert_eq!(operator(Some("  "), &env), "oncall");
        assert_eq!(operator(None, &env), "oncall");
        let os = |name: &str| (name == "LOGNAME").then(|| "carol".to_string());
        assert_eq!(operator(None, &os), "carol");
        assert_eq!(operator(None, &|_| None), "unknown");
    }
}
