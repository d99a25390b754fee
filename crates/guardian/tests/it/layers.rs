//! The layers written in docs/architecture.md, held against every `crate::` path of the library
//! (in `use` items and inline; test-only modules and comments are exempt): an import may only
//! point down. The imports against the layers that are still to be fixed are listed in
//! [`KNOWN`], which may only shrink: a new one fails, and so does one that is gone but still listed.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::Path,
};

/// Imports against the layers that the code still has, as (from module, to module). Each is
/// to be removed, not added to.
const KNOWN: &[(&str, &str)] = &[];

/// One `crate::` path found in a file.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Import {
    file: String,
    line: usize,
    from: String,
    to: String,
}

/// An import that does not point down.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Violation {
    import: Import,
    why: String,
}

/// The layers, top first, from the ```layers block of the architecture document: each line is
/// one layer, its modules separated by spaces.
fn layers(doc: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in doc.lines() {
        let t = line.trim();
        if t == "```layers" {
            inside = true;
            continue;
        }
        if inside && t.starts_with("```") {
            break;
        }
        if inside {
            let t = t.split('#').next().unwrap_or_default();
            let mods: Vec<String> = t.split_whitespace().map(str::to_string).collect();
            if !mods.is_empty() {
                out.push(mods);
            }
        }
    }
    out
}

/// The text without comments and without `#[cfg(test)]` modules written inline.
fn production_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let code = match line.find("//") {
            // A `//` inside a string literal ("http://…") is not a comment.
            Some(i) if line[..i].matches('"').count() % 2 == 0 => &line[..i],
            _ => line,
        };
        out.push_str(code);
        out.push('\n');
    }
    // Blank out every `#[cfg(test)] mod NAME { … }`, keeping the line count.
    let mut s = out;
    while let Some(at) = s.find("#[cfg(test)]") {
        let rest = &s[at..];
        let Some(brace) = rest.find('{') else { break };
        let semi = rest.find(';').unwrap_or(usize::MAX);
        if !rest[..brace.min(semi)].contains("mod ") || semi < brace {
            s.replace_range(at..at + "#[cfg(test)]".len(), &" ".repeat(12));
            continue;
        }
        let mut depth = 0usize;
        let mut end = at + brace;
        for (i, ch) in s[at + brace..].char_indices() {
            match ch {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = at + brace + i + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        let blank: String = s[at..end]
            .chars()
            .map(|c| if c == '\n' { '\n' } else { ' ' })
            .collect();
        s.replace_range(at..end, &blank);
    }
    s
}

/// The first names of the top-level items of a `{ … }` use group.
fn group_heads(group: &str) -> Vec<String> {
    let mut items = Vec::new();
    let mut depth = 0i32;
    let mut current = String::new();
    for ch in group.chars() {
        match ch {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(ch);
    }
    items.push(current);
    items
        .iter()
        .filter_map(|i| {
            let head: String = i
                .trim()
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            (!head.is_empty()).then_some(head)
        })
        .collect()
}

/// Every `crate::` path of one file of module `from`.
fn imports(file: &str, from: &str, text: &str) -> Vec<Import> {
    let text = production_text(text);
    let mut out = Vec::new();
    let mut search = 0;
    while let Some(found) = text[search..].find("crate::") {
        let at = search + found;
        search = at + "crate::".len();
        // `super::crate` cannot occur; `$crate::` (macros) is not this crate's module path.
        if at > 0 && text[..at].ends_with('$') {
            continue;
        }
        let line = text[..at].matches('\n').count() + 1;
        let rest = &text[search..];
        let targets = if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 1;
            let mut end = 0;
            for (i, ch) in group.char_indices() {
                match ch {
                    '{' => depth += 1,
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            end = i;
                            break;
                        }
                    }
                    _ => {}
                }
            }
            group_heads(&group[..end])
        } else {
            group_heads(
                rest.split(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .next()
                    .unwrap_or_default(),
            )
        };
        for to in targets {
            if to != from {
                out.push(Import {
                    file: file.to_string(),
                    line,
                    from: from.to_string(),
                    to,
                });
            }
        }
    }
    out
}

/// The imports that do not point down the layers (or name a module the layers leave out).
fn check(layers: &[Vec<String>], imports: &[Import]) -> Vec<Violation> {
    let level: BTreeMap<&str, usize> = layers
        .iter()
        .enumerate()
        .flat_map(|(i, mods)| mods.iter().map(move |m| (m.as_str(), i)))
        .collect();
    let mut out = Vec::new();
    for i in imports {
        // Names that are not modules of the crate (a re-exported item at the root) are not layered.
        let (Some(from), Some(to)) = (level.get(i.from.as_str()), level.get(i.to.as_str())) else {
            if !level.contains_key(i.from.as_str()) {
                out.push(Violation {
                    import: i.clone(),
                    why: format!("module `{}` is in no layer of docs/architecture.md", i.from),
                });
            }
            continue;
        };
        // Layers are listed top first: a lower layer has a higher index.
        if to < from {
            out.push(Violation {
                import: i.clone(),
                why: format!("`{}` imports `{}`, a layer above it", i.from, i.to),
            });
        } else if to == from {
            out.push(Violation {
                import: i.clone(),
                why: format!("`{}` imports `{}`, on its own layer", i.from, i.to),
            });
        }
    }
    out
}

/// Every `.rs` file under `dir`, but test-only files (`tests.rs`, `testing.rs`).
fn sources(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src").flatten() {
        let path = entry.path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs")
            && !matches!(
                path.file_name().and_then(|n| n.to_str()),
                Some("tests.rs" | "testing.rs")
            )
        {
            out.push(path);
        }
    }
}

fn library_imports() -> Vec<Import> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut all = Vec::new();
    for path in files {
        let rel = path
            .strip_prefix(&src)
            .expect("under src")
            .to_string_lossy()
            .replace('\\', "/");
        if rel == "lib.rs" || rel == "main.rs" {
            continue;
        }
        let module = rel
            .split('/')
            .next()
            .unwrap_or_default()
            .trim_end_matches(".rs")
            .to_string();
        let text = std::fs::read_to_string(&path).expect("read source");
        all.extend(imports(&format!("src/{rel}"), &module, &text));
    }
    all
}

#[test]
fn the_library_imports_only_down_the_layers_of_the_architecture_document() {
    let doc_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/architecture.md");
    let doc = std::fs::read_to_string(&doc_path).expect("docs/architecture.md");
    let layers = layers(&doc);
    assert!(
        layers.len() > 3,
        "no ```layers block in docs/architecture.md"
    );
    let violations = check(&layers, &library_imports());
    let known: BTreeSet<(&str, &str)> = KNOWN.iter().copied().collect();
    let new: Vec<String> = violations
        .iter()
        .filter(|v| !known.contains(&(v.import.from.as_str(), v.import.to.as_str())))
        .map(|v| format!("{}:{}: {}", v.import.file, v.import.line, v.why))
        .collect();
    assert!(
        new.is_empty(),
        "imports against the layers of docs/architecture.md:\n{}",
        new.join("\n")
    );
    let seen: BTreeSet<(&str, &str)> = violations
        .iter()
        .map(|v| (v.import.from.as_str(), v.import.to.as_str()))
        .collect();
    let fixed: Vec<_> = known.difference(&seen).collect();
    assert!(
        fixed.is_empty(),
        "fixed, so remove from KNOWN in tests/it/layers.rs: {fixed:?}"
    );
}

#[test]
fn the_checker_flags_an_import_that_points_up_or_sideways_and_nothing_else() {
    let layers = layers("intro\n```layers\ntop  # the commands\nleft right\nbottom\n```\n");
    assert_eq!(layers.len(), 3);
    let down = "use crate::bottom::Store;\nfn f() { crate::right::g(); }\n";
    let only_down = "use crate::bottom::Store;\n";
    assert!(check(&layers, &imports("src/left/a.rs", "left", only_down)).is_empty());
    let up = "//! doc that names crate::top is no import\nuse crate::{\n    bottom::Store,\n    top::Cli,\n};\n\
              fn f() {\n    let _ = crate::top::run();\n}\n\
              #[cfg(test)]\nmod tests {\n    use crate::top::Fixture;\n}\n";
    let v = check(&layers, &imports("src/left/b.rs", "left", up));
    let at: Vec<(usize, &str)> = v
        .iter()
        .map(|v| (v.import.line, v.import.to.as_str()))
        .collect();
    assert_eq!(at, vec![(2, "top"), (7, "top")], "{v:#?}");
    assert!(v[0].why.contains("a layer above it"));
    let sideways = check(&layers, &imports("src/left/c.rs", "left", down));
    assert_eq!(sideways.len(), 1);
    assert!(sideways[0].why.contains("on its own layer"));
    let unknown = check(&layers, &imports("src/nowhere.rs", "nowhere", only_down));
    assert!(unknown[0].why.contains("in no layer"));
}
