//! `${NAME}` references to environment variables in the manifest's strings, so the file itself
//! holds no secret.
//!
//! The rules (documented for users in the README):
//! - `${NAME}` in any string value is replaced by the variable's value; `NAME` is letters,
//!   digits and `_`, not starting with a digit. Keys, numbers and booleans are never expanded.
//! - A variable that is not set, or set to the empty string, is an error naming the variable and
//!   the manifest line; its value (if any) is never printed.
//! - `$${` is a literal `${`. Any other `$` is literal (`$HOME`, `a$b` stay as written).
//! - Expansion is one pass: a value is inserted as is, never expanded again, and references do
//!   not nest (`${A_${B}}` is an error).
//!
//! Expansion runs on the parsed document, after TOML syntax is checked and before values are
//! typed, so a TOML syntax error can never quote an expanded secret, and every string field
//! (addresses, paths, URLs) may use references.

use std::collections::BTreeMap;

use toml::{
    Spanned,
    de::{DeTable, DeValue},
};

use crate::secret;

/// Looks up an environment variable; tests pass their own instead of mutating the process environment.
pub type EnvLookup<'a> = &'a (dyn Fn(&str) -> Option<String> + Sync);

/// The process environment.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Why the references of one string could not be expanded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    /// The variable is not set, or is empty.
    #[error(
        "environment variable {0} is not set (the manifest refers to it as ${{{0}}}): export it before running guardian"
    )]
    Missing(String),
    /// `${` not followed by a valid name and `}`.
    #[error(
        "`${{` must be followed by a variable name (letters, digits and _) and `}}`; write `$${{` for a literal `${{`"
    )]
    Malformed,
}

/// A string with its references expanded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expansion {
    /// The string with every reference replaced.
    pub value: String,
    /// The values that were inserted, in order.
    pub inserted: Vec<String>,
}

/// Expands the references in `template`; `None` when it has no `${` and no `$${` (the string is
/// used as written).
pub fn expand(template: &str, env: EnvLookup<'_>) -> Result<Option<Expansion>, ReferenceError> {
    if !template.contains("${") {
        return Ok(None);
    }
    let mut value = String::with_capacity(template.len());
    let mut inserted = Vec::new();
    let mut rest = template;
    while let Some(at) = rest.find('$') {
        value.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix("${") {
            value.push_str("${");
            rest = tail;
        } else if let Some(tail) = after.strip_prefix('{') {
            let end = tail.find('}').ok_or(ReferenceError::Malformed)?;
            let name = &tail[..end];
            if !is_variable_name(name) {
                return Err(ReferenceError::Malformed);
            }
            let found = env(name)
                .filter(|v| !v.is_empty())
                .ok_or_else(|| ReferenceError::Missing(name.to_string()))?;
            value.push_str(&found);
            inserted.push(found);
            rest = &tail[end + 1..];
        } else {
            value.push('$');
            rest = after;
        }
    }
    value.push_str(rest);
    Ok(Some(Expansion { value, inserted }))
}

/// Whether `name` is a portable environment variable name: letters, digits and `_`, not
/// starting with a digit.
pub fn is_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Where a value sits in the document: table keys and array indices from the root.
pub type KeyPath = Vec<String>;

/// What expanding a whole document found.
#[derive(Debug, Default)]
pub struct DocumentExpansion {
    /// The template of every string that had references, by where it sits.
    pub templates: BTreeMap<KeyPath, String>,
    /// The first failure in the document, with the byte offset of its string.
    pub error: Option<(usize, ReferenceError)>,
}

/// Expands every string value of `document` in place, and registers every inserted value as a
/// secret (the values are what `${VAR}` exists to keep out of the file).
pub fn expand_document(document: &mut DeTable<'_>, env: EnvLookup<'_>) -> DocumentExpansion {
    let mut found = DocumentExpansion::default();
    let mut path = Vec::new();
    expand_table(document, &mut path, env, &mut found);
    found
}

fn expand_table(
    table: &mut DeTable<'_>,
    path: &mut KeyPath,
    env: EnvLookup<'_>,
    found: &mut DocumentExpansion,
) {
    for (key, value) in table.iter_mut() {
        path.push(key.get_ref().to_string());
        expand_value(value, path, env, found);
        path.pop();
    }
}

fn expand_value(
    value: &mut Spanned<DeValue<'_>>,
    path: &mut KeyPath,
    env: EnvLookup<'_>,
    found: &mut DocumentExpansion,
) {
    let offset = value.span().start;
    match value.get_mut() {
        DeValue::String(text) => match expand(text, env) {
            Ok(None) => {}
            Ok(Some(expansion)) => {
                for v in &expansion.inserted {
                    secret::register(v);
                }
                found.templates.insert(path.clone(), text.to_string());
                *text = expansion.value.into();
            }
            Err(e) => {
                if found.error.as_ref().is_none_or(|(at, _)| offset < *at) {
                    found.error = Some((offset, e));
                }
            }
        },
        DeValue::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                path.push(i.to_string());
                expand_value(item, path, env, found);
                path.pop();
            }
        }
        DeValue::Table(table) => expand_table(table, path, env, found),
        DeValue::Integer(_) | DeValue::Float(_) | DeValue::Boolean(_) | DeValue::Datetime(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "KEY" => Some("s3cr3t-key".into()),
            "HOST" => Some("rpc.example.org".into()),
            "EMPTY" => Some(String::new()),
            "REF" => Some("${KEY}".into()),
            _ => None,
        }
    }

    fn expanded(template: &str) -> Result<Option<String>, ReferenceError> {
        expand(template, &env).map(|e| e.map(|e| e.value))
    }

    #[test]
    fn strings_without_references_are_untouched() {
        assert_eq!(expanded("https://rpc.example.org/v2/abc"), Ok(None));
        assert_eq!(expanded("cost: $5, $HOME, a$b"), Ok(None));
    }

    #[test]
    fn expands_several_references_in_one_string() {
        let e = expand("https://${HOST}/v2/${KEY}?again=${KEY}", &env)
            .expect("expands")
            .expect("has references");
        assert_eq!(
            e.value,
            "https://rpc.example.org/v2/s3cr3t-key?again=s3cr3t-key"
        );
        assert_eq!(e.inserted, ["rpc.example.org", "s3cr3t-key", "s3cr3t-key"]);
    }

    #[test]
    fn double_dollar_is_a_literal_reference() {
        assert_eq!(expanded("$${KEY}"), Ok(Some("${KEY}".into())));
        assert_eq!(
            expanded("a $${KEY} b ${KEY} $$x"),
            Ok(Some("a ${KEY} b s3cr3t-key $$x".into()))
        );
    }

    #[test]
    fn values_are_inserted_once_and_never_expanded_again() {
        assert_eq!(expanded("x-${REF}"), Ok(Some("x-${KEY}".into())));
    }

    #[test]
    fn nested_or_malformed_references_are_refused() {
        for bad in [
            "${KEY_${HOST}}",
            "${}",
            "${1ABC}",
            "${KEY",
            "${A-B}",
            "${ KEY }",
        ] {
            assert_eq!(expanded(bad), Err(ReferenceError::Malformed), "{bad}");
        }
    }

    #[test]
    fn a_missing_or_empty_variable_is_named_and_no_value_is_shown() {
        let err = expanded("https://${HOST}/v2/${NOPE}").expect_err("missing");
        assert_eq!(err, ReferenceError::Missing("NOPE".into()));
        let message = err.to_string();
        assert!(message.contains("NOPE is not set"), "{message}");
        assert!(!message.contains("rpc.example.org"), "{message}");
        assert_eq!(
            expanded("${EMPTY}"),
            Err(ReferenceError::Missing("EMPTY".into()))
        );
    }

    #[test]
    fn only_string_values_of_a_document_are_expanded() {
        let text = "[t]\n\"${KEY}\" = \"${KEY}\"\nn = 1\nb = true\nlist = [\"a\", \"${HOST}\"]\n";
        let mut doc = DeTable::parse(text).expect("toml").into_inner();
        let found = expand_document(&mut doc, &env);
        assert!(found.error.is_none());
        let t = doc["t"].get_ref().as_table().expect("table");
        assert_eq!(t["${KEY}"].get_ref().as_str(), Some("s3cr3t-key"));
        assert!(t["n"].get_ref().is_integer() && t["b"].get_ref().as_bool() == Some(true));
        let list = t["list"].get_ref().as_array().expect("array");
        assert_eq!(list[1].get_ref().as_str(), Some("rpc.example.org"));
        let key = |p: &[&str]| p.iter().map(|s| s.to_string()).collect::<KeyPath>();
        assert_eq!(
            found
                .templates
                .get(&key(&["t", "list", "1"]))
                .map(String::as_str),
            Some("${HOST}")
        );
        assert_eq!(found.templates.len(), 2);
    }

    #[test]
    fn the_first_failure_in_the_document_is_reported() {
        let text = "a = \"${FIRST}\"\nb = \"${SECOND}\"\n";
        let mut doc = DeTable::parse(text).expect("toml").into_inner();
        let (at, err) = expand_document(&mut doc, &env).error.expect("fails");
        assert_eq!(err, ReferenceError::Missing("FIRST".into()));
        assert_eq!(&text[at..at + 10], "\"${FIRST}\"");
    }
}
