//! The architecture, checked: the library's modules import only down the chain the
//! book's architecture page draws (helpers, shared AWS plumbing, config, registry,
//! deployments, in-use sources, plan, operations, render, schema), no two sibling
//! modules import each other (directly or through others), no file under `src/` is
//! over 900 lines and no function over 120 lines without a reason written beside it.
//!
//! The checks read the source text: every `crate::…` path (use trees included) and
//! every `super::…` path, resolved to the module it names. A module's edges to its own
//! ancestors and descendants are not counted (a parent declares and re-exports its
//! children, a child uses its parent's types); everything else is. Test code (a
//! `#[cfg(test)]` module, inline or in a file of its own) is not part of the chain and
//! is left out of the import check; the length limits apply to it too.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers of the library, lowest first. A module may import its own layer (no
/// circle) and the layers below it, never one above.
const LAYERS: &[&[&str]] = &[
    &["exit", "files", "hash", "text", "model"],
    &["aws"],
    &["config"],
    &["registry"],
    &["deployed"],
    &["in_use"],
    &["plan"],
    &["ops"],
    &["render"],
    &["schema"],
];

/// Longest file under `src/`, in lines.
const MAX_FILE_LINES: usize = 900;
/// Longest function, in lines, unless a `// Long function: <reason>` comment stands
/// right above it (among its attributes and doc comment).
const MAX_FN_LINES: usize = 120;
const LONG_FN_MARK: &str = "// Long function:";

#[test]
fn imports_run_down_the_chain_without_circles() {
    let sources = library_sources();
    let problems = check_imports(&sources);
    assert!(
        problems.is_empty(),
        "import problems under src/:\n{}",
        problems.join("\n")
    );
}

#[test]
fn no_file_or_function_is_too_long() {
    let sources = library_sources();
    let mut problems = Vec::new();
    for (path, text) in &sources {
        problems.extend(check_lengths(path, text));
    }
    assert!(problems.is_empty(), "too long:\n{}", problems.join("\n"));
}

#[test]
fn the_checker_finds_circles_upward_imports_and_long_code() {
    let sources: BTreeMap<String, String> = [
        ("registry/aws.rs", "use crate::registry::public::x;\n"),
        (
            "registry/public.rs",
            "use crate::{model, registry::{aws::y}};\n",
        ),
        ("registry/mod.rs", "mod aws; mod public; pub use aws::x;\n"),
        ("model.rs", "use crate::text::z;\n"),
        ("text.rs", "fn f() { super::model::q(); }\n"),
        (
            "plan/mod.rs",
            "use crate::ops::Outcome;\n#[cfg(test)]\nmod tests;\n",
        ),
        ("ops/mod.rs", "use crate::plan::Plan;\n"),
        ("ops/child/deep.rs", "use super::super::sibling::A;\n"),
        ("ops/sibling.rs", "use crate::ops::child::B;\n"),
        ("ops/child/mod.rs", "mod deep;\n"),
        ("widget.rs", "use crate::model::m;\n"),
        (
            "plan/engine.rs",
            "fn f() {}\n#[cfg(test)]\nmod tests {\n    use crate::ops::x;\n}\n",
        ),
        ("plan/tests.rs", "use crate::render::y;\n"),
    ]
    .into_iter()
    .map(|(p, t)| (p.to_string(), t.to_string()))
    .collect();
    let problems = check_imports(&sources).join("\n");
    assert!(
        problems.contains("circle: registry::aws -> registry::public -> registry::aws"),
        "{problems}"
    );
    assert!(
        problems.contains("circle: model -> text -> model"),
        "{problems}"
    );
    assert!(
        problems.contains("upward import: plan/mod.rs imports ops"),
        "{problems}"
    );
    assert!(
        problems.contains("circle: ops::child -> ops::sibling -> ops::child"),
        "{problems}"
    );
    assert!(
        problems.contains("widget.rs: module `widget` is in no layer"),
        "{problems}"
    );
    assert!(
        !problems.contains("registry -> registry::aws"),
        "{problems}"
    );

    let body = "    x();\n".repeat(MAX_FN_LINES);
    let long = format!("/// Doc.\npub fn long() {{\n{body}}}\n");
    assert_eq!(check_lengths("a.rs", &long).len(), 1);
    let excused = format!("{LONG_FN_MARK} one table.\n#[inline]\n{long}");
    assert!(check_lengths("a.rs", &excused).is_empty());
    let fine = format!("fn ok() {{\n{}}}\n", "    x();\n".repeat(MAX_FN_LINES - 2));
    assert!(check_lengths("a.rs", &fine).is_empty());
    let big = "//\n".repeat(MAX_FILE_LINES + 1);
    assert_eq!(check_lengths("b.rs", &big).len(), 1);
}

/// Every `.rs` file of the library (`src/`, the binary left out), by path relative to
/// `src/`.
fn library_sources() -> BTreeMap<String, String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = BTreeMap::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read src/") {
            let path: PathBuf = entry.expect("entry").path();
            let rel = path
                .strip_prefix(&root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            if rel == "bin" {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else if rel.ends_with(".rs") {
                out.insert(rel, std::fs::read_to_string(&path).expect("read source"));
            }
        }
    }
    assert!(out.len() > 20, "src/ not found");
    out
}

/// The module path of a file: `registry/aws.rs` is `registry::aws`, `ops/mod.rs` is
/// `ops`, `lib.rs` is the crate root (empty).
fn module_of(path: &str) -> Vec<String> {
    let trimmed = path.trim_end_matches(".rs");
    let mut parts: Vec<String> = trimmed.split('/').map(str::to_string).collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    parts
}

fn layer(top: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&top))
}

fn check_imports(sources: &BTreeMap<String, String>) -> Vec<String> {
    let mut problems = Vec::new();
    let mut edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    let known: BTreeSet<Vec<String>> = sources.keys().map(|p| module_of(p)).collect();
    // The module a path names: its longest prefix that is a module (`model::Tag` is
    // in `model`).
    let resolve = |path: Vec<String>| -> Vec<String> {
        (1..=path.len())
            .rev()
            .map(|n| path[..n].to_vec())
            .find(|p| known.contains(p))
            .unwrap_or_else(|| path.into_iter().take(1).collect())
    };
    let tests = test_modules(sources);
    for (path, text) in sources {
        let here = module_of(path);
        if tests.iter().any(|t| here.starts_with(t)) {
            continue;
        }
        let text = without_test_modules(&strip_comments_and_strings(text));
        let Some(top) = here.first() else { continue };
        if layer(top).is_none() {
            problems.push(format!("{path}: module `{top}` is in no layer"));
            continue;
        }
        for target in referenced_modules(&here, &text) {
            let to = resolve(target);
            if to.is_empty() || to.starts_with(&here) || here.starts_with(&to) {
                continue;
            }
            if let (Some(a), Some(b)) = (layer(top), layer(&to[0]))
                && b > a
            {
                problems.push(format!("upward import: {path} imports {}", to.join("::")));
            }
            edges.entry(here.clone()).or_default().insert(to);
        }
    }
    // A circle between two subtrees is one too (`a::x` uses `b`, `b::y` uses `a`):
    // look at the graph with modules cut to each depth in turn.
    let depth = known.iter().map(Vec::len).max().unwrap_or(1);
    let mut found = BTreeSet::new();
    for d in 1..=depth {
        let mut cut: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
        for (from, tos) in &edges {
            let from: Vec<String> = from.iter().take(d).cloned().collect();
            for to in tos {
                let to: Vec<String> = to.iter().take(d).cloned().collect();
                if !to.starts_with(&from) && !from.starts_with(&to) {
                    cut.entry(from.clone()).or_default().insert(to);
                }
            }
        }
        found.extend(circles(&cut));
    }
    problems.extend(found);
    problems
}

/// The modules declared `#[cfg(test)] mod NAME;` (in a file of their own).
fn test_modules(sources: &BTreeMap<String, String>) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for (path, text) in sources {
        let lines: Vec<&str> = text.lines().map(str::trim).collect();
        for (i, line) in lines.iter().enumerate() {
            let Some(name) = line
                .strip_prefix("mod ")
                .or_else(|| line.strip_prefix("pub mod "))
                .or_else(|| line.strip_prefix("pub(crate) mod "))
                .and_then(|r| r.strip_suffix(';'))
            else {
                continue;
            };
            let attrs = lines[..i].iter().rev().take_while(|l| l.starts_with("#["));
            if attrs
                .clone()
                .any(|l| l.starts_with("#[cfg(test)]") || l.starts_with("#[cfg(all(test"))
            {
                let mut m = module_of(path);
                m.push(name.to_string());
                out.push(m);
            }
        }
    }
    out
}

/// The code without its inline `#[cfg(test)] mod NAME { … }` blocks (comments and
/// strings already blanked, so braces balance).
fn without_test_modules(code: &str) -> String {
    let mut out = String::with_capacity(code.len());
    let mut rest = code;
    while let Some(at) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..at]);
        let after = &rest[at..];
        let body = after.find('{');
        let semi = after.find(';');
        match (body, semi) {
            (Some(open), semi)
                if semi.is_none_or(|s| s > open) && after[..open].contains("mod ") =>
            {
                let mut depth = 0usize;
                let mut end = after.len();
                for (i, c) in after[open..].char_indices() {
                    match c {
                        '{' => depth += 1,
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                end = open + i + 1;
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                // Keep the line count.
                out.extend(after[..end].chars().filter(|&c| c == '\n'));
                rest = &after[end..];
            }
            _ => {
                out.push_str("#[cfg(test)]");
                rest = &after["#[cfg(test)]".len()..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Each circle of the graph once, as `circle: a -> b -> a` (starting at its smallest
/// node).
fn circles(edges: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>) -> Vec<String> {
    let mut found = BTreeSet::new();
    for start in edges.keys() {
        // Depth-first search for paths back to `start` through larger nodes only, so
        // each circle is reported from its smallest node.
        let mut stack: Vec<(Vec<String>, Vec<Vec<String>>)> =
            vec![(start.clone(), vec![start.clone()])];
        while let Some((at, trail)) = stack.pop() {
            for next in edges.get(&at).into_iter().flatten() {
                if next == start {
                    let names: Vec<String> =
                        trail.iter().chain([start]).map(|n| n.join("::")).collect();
                    found.insert(format!("circle: {}", names.join(" -> ")));
                } else if next > start && !trail.contains(next) && trail.len() < 8 {
                    let mut longer = trail.clone();
                    longer.push(next.clone());
                    stack.push((next.clone(), longer));
                }
            }
        }
    }
    found.into_iter().collect()
}

/// The modules a source text names through `crate::` and `super::` paths, resolved
/// against the module `here` the file is.
fn referenced_modules(here: &[String], text: &str) -> Vec<Vec<String>> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let rest = &text[i..];
        let boundary = i == 0 || !is_ident(bytes[i - 1]) && bytes[i - 1] != b':';
        if boundary && rest.starts_with("crate::") {
            let (paths, used) = use_tree(&rest["crate::".len()..]);
            out.extend(paths);
            i += "crate::".len() + used.max(1);
        } else if boundary && rest.starts_with("super::") {
            let mut base: Vec<String> = here.to_vec();
            let mut j = 0;
            while text[i + j..].starts_with("super::") {
                base.pop();
                j += "super::".len();
            }
            let (paths, used) = use_tree(&text[i + j..]);
            for p in paths {
                out.push(base.iter().cloned().chain(p).collect());
            }
            i += j + used.max(1);
        } else {
            i += 1;
        }
    }
    out
}

/// The paths of a use tree (`a::b`, `a::{b, c::d}`, `{a, b}`), and how many bytes it
/// took.
fn use_tree(text: &str) -> (Vec<Vec<String>>, usize) {
    let bytes = text.as_bytes();
    let mut i = 0;
    let mut prefix = Vec::new();
    loop {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if i < bytes.len() && bytes[i] == b'{' {
            i += 1;
            let mut paths = Vec::new();
            loop {
                let (inner, used) = use_tree(&text[i..]);
                i += used;
                for p in inner {
                    paths.push(prefix.iter().cloned().chain(p).collect());
                }
                while i < bytes.len() && bytes[i].is_ascii_whitespace() {
                    i += 1;
                }
                match bytes.get(i) {
                    Some(b',') => i += 1,
                    Some(b'}') => {
                        i += 1;
                        break;
                    }
                    _ => break,
                }
            }
            return (paths, i);
        }
        let start = i;
        while i < bytes.len() && is_ident(bytes[i]) {
            i += 1;
        }
        if i == start {
            return (
                if prefix.is_empty() {
                    vec![]
                } else {
                    vec![prefix]
                },
                i,
            );
        }
        prefix.push(text[start..i].to_string());
        if text[i..].starts_with("::") {
            i += 2;
        } else {
            return (vec![prefix], i);
        }
    }
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// The text with comments, string literals (raw ones too) and character literals
/// blanked out (lines kept), so a path in a doc comment or a message is not an import
/// and a `'{'` opens no block.
fn strip_comments_and_strings(text: &str) -> String {
    let c: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    // Skips to the end of a literal or comment, keeping its newlines.
    let skip_to = |out: &mut String, from: usize, to: usize| {
        for &ch in &c[from..to.min(c.len())] {
            if ch == '\n' {
                out.push('\n');
            }
        }
    };
    while i < c.len() {
        let next = c.get(i + 1).copied();
        let ident_before = i > 0 && (c[i - 1].is_alphanumeric() || c[i - 1] == '_');
        if c[i] == '/' && next == Some('/') {
            let end = c[i..]
                .iter()
                .position(|&x| x == '\n')
                .map_or(c.len(), |p| i + p);
            i = end;
        } else if c[i] == '/' && next == Some('*') {
            let mut j = i + 2;
            while j + 1 < c.len() && !(c[j] == '*' && c[j + 1] == '/') {
                j += 1;
            }
            skip_to(&mut out, i, j);
            i = j + 2;
        } else if c[i] == 'r' && !ident_before && matches!(next, Some('#' | '"')) {
            let hashes = c[i + 1..].iter().take_while(|&&x| x == '#').count();
            if c.get(i + 1 + hashes) != Some(&'"') {
                out.push(c[i]);
                i += 1;
                continue;
            }
            let mut j = i + 2 + hashes;
            while j < c.len()
                && !(c[j] == '"'
                    && c[j + 1..]
                        .iter()
                        .take(hashes)
                        .filter(|&&x| x == '#')
                        .count()
                        == hashes)
            {
                j += 1;
            }
            skip_to(&mut out, i, j);
            out.push_str("\"\"");
            i = j + 1 + hashes;
        } else if c[i] == '"' {
            let mut j = i + 1;
            while j < c.len() && c[j] != '"' {
                j += if c[j] == '\\' { 2 } else { 1 };
            }
            skip_to(&mut out, i, j);
            out.push_str("\"\"");
            i = j + 1;
        } else if c[i] == '\'' && next == Some('\\') {
            let end = c[i + 2..]
                .iter()
                .position(|&x| x == '\'')
                .map_or(c.len(), |p| i + 2 + p);
            out.push_str("' '");
            i = end + 1;
        } else if c[i] == '\'' && c.get(i + 2) == Some(&'\'') {
            out.push_str("' '");
            i += 3;
        } else {
            out.push(c[i]);
            i += 1;
        }
    }
    out
}

/// Files over [`MAX_FILE_LINES`] and functions over [`MAX_FN_LINES`] without a reason.
fn check_lengths(path: &str, text: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    if lines.len() > MAX_FILE_LINES {
        problems.push(format!(
            "{path}: {} lines (at most {MAX_FILE_LINES})",
            lines.len()
        ));
    }
    let code: Vec<String> = strip_comments_and_strings(text)
        .lines()
        .map(str::to_string)
        .collect();
    for (start, line) in code.iter().enumerate() {
        let Some(name) = fn_name(line) else { continue };
        let Some(end) = body_end(&code, start) else {
            continue;
        };
        let length = end - start + 1;
        if length > MAX_FN_LINES && !excused(&lines, start) {
            problems.push(format!(
                "{path}:{}: fn {name} is {length} lines (at most {MAX_FN_LINES}, or a `{LONG_FN_MARK} <reason>` comment above it)",
                start + 1
            ));
        }
    }
    problems
}

/// The name of the function a line declares, if it does.
fn fn_name(line: &str) -> Option<&str> {
    let mut words = line.split_whitespace().peekable();
    while let Some(word) = words.next() {
        match word {
            "fn" => {
                let name = words.next()?;
                let end = name.find(|c: char| !(c.is_alphanumeric() || c == '_'))?;
                return Some(&name[..end]);
            }
            w if w == "pub" || w.starts_with("pub(") => {}
            "async" | "const" | "unsafe" | "extern" | "default" => {}
            w if w.starts_with('"') => {}
            _ => return None,
        }
    }
    None
}

/// The line that closes the body of the function declared at `start`; none for a
/// declaration without a body.
fn body_end(code: &[String], start: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut opened = false;
    for (i, line) in code.iter().enumerate().skip(start) {
        for c in line.chars() {
            match c {
                '{' => {
                    depth += 1;
                    opened = true;
                }
                '}' => depth = depth.saturating_sub(1),
                ';' if !opened && depth == 0 => return None,
                _ => {}
            }
            if opened && depth == 0 {
                return Some(i);
            }
        }
    }
    None
}

/// Whether a `// Long function:` comment stands among the attributes and doc comments
/// right above the function at `start`.
fn excused(lines: &[&str], start: usize) -> bool {
    lines[..start]
        .iter()
        .rev()
        .map(|l| l.trim())
        .take_while(|l| l.starts_with("//") || l.starts_with("#["))
        .any(|l| l.starts_with(LONG_FN_MARK))
}
