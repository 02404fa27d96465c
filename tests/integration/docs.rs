//! The book (`docs/`) and the README: every internal link resolves (the file, and the
//! heading its `#anchor` names), every page is in `SUMMARY.md`, and every diagnostic
//! code the tool has is listed on a diagnostics page. `mdbook build docs` (in
//! `scripts/test.sh`) checks that the book builds.

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every file under `dir` whose name ends with `ext`, sorted.
fn files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for entry in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.to_string_lossy().ends_with(ext) {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

/// The book's pages and the README: the markdown whose links are checked.
fn pages() -> Vec<PathBuf> {
    let mut pages = files(&root().join("docs/src"), ".md");
    pages.push(root().join("README.md"));
    pages
}

/// The lines of `text` outside fenced code blocks, with their 1-based numbers.
fn prose(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let mut fenced = false;
    text.lines().enumerate().filter_map(move |(i, line)| {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            return None;
        }
        (!fenced).then_some((i + 1, line))
    })
}

/// `line` without its code spans (`` `...` ``), which hold no links.
fn without_code(line: &str) -> String {
    let mut out = String::new();
    for (i, part) in line.split('`').enumerate() {
        if i % 2 == 0 {
            out.push_str(part);
        }
    }
    out
}

/// The anchor a heading gets, as mdBook (and GitHub) make it: the heading's text
/// (links as their text, no code marks) lowercased, white space as `-`, and every
/// character but letters, digits, `-` and `_` dropped.
fn anchor(heading: &str) -> String {
    let mut text = String::new();
    let mut rest = heading.replace('`', "");
    // `[text](target)` reads as `text`.
    while let Some(open) = rest.find('[') {
        let Some(close) = rest[open..].find("](").map(|c| open + c) else {
            break;
        };
        let Some(end) = rest[close..].find(')').map(|e| close + e) else {
            break;
        };
        text.push_str(&rest[..open]);
        text.push_str(&rest[open + 1..close]);
        rest = rest[end + 1..].to_owned();
    }
    text.push_str(&rest);
    text.trim()
        .chars()
        .filter_map(|c| {
            if c.is_alphanumeric() || c == '-' || c == '_' {
                Some(c.to_ascii_lowercase())
            } else if c.is_whitespace() {
                Some('-')
            } else {
                None
            }
        })
        .collect()
}

/// The anchors of a page's headings; a repeated one gets `-1`, `-2`, ... as mdBook
/// gives it.
fn anchors(text: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    for (_, line) in prose(text) {
        let hashes = line.len() - line.trim_start_matches('#').len();
        if !(1..=6).contains(&hashes) || !line[hashes..].starts_with(' ') {
            continue;
        }
        let base = anchor(&line[hashes..]);
        let mut id = base.clone();
        let mut n = 0;
        while seen.contains(&id) {
            n += 1;
            id = format!("{base}-{n}");
        }
        seen.insert(id);
    }
    seen
}

/// The targets of the inline links of `text` (`[label](target)`), with their lines.
fn links(text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (number, line) in prose(text) {
        let line = without_code(line);
        let mut rest = line.as_str();
        while let Some(at) = rest.find("](") {
            let target = &rest[at + 2..];
            let end = target.find([')', ' ']).unwrap_or(target.len());
            found.push((number, target[..end].to_owned()));
            rest = &target[end..];
        }
    }
    found
}

/// `path` with `.` and `..` resolved, without touching the file system.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out
}

/// What is wrong with the internal links of `page` (whose text is `text`): a file that
/// does not exist, or an anchor that no heading of the page it names has. Links with
/// a scheme (`https:`, `mailto:`) are not followed.
fn broken_links(page: &Path, text: &str) -> Vec<String> {
    let mut broken = Vec::new();
    for (line, target) in links(text) {
        if target.contains(':') {
            continue;
        }
        let (path, fragment) = match target.split_once('#') {
            Some((path, fragment)) => (path, Some(fragment)),
            None => (target.as_str(), None),
        };
        let file = if path.is_empty() {
            page.to_path_buf()
        } else {
            normalize(&page.parent().unwrap().join(path))
        };
        let at = format!("{}:{line}: `{target}`", page.display());
        if !file.exists() {
            broken.push(format!("{at}: no file {}", file.display()));
            continue;
        }
        let Some(fragment) = fragment else { continue };
        let target_text = if file == page {
            text.to_owned()
        } else if file.extension().is_some_and(|e| e == "md") {
            std::fs::read_to_string(&file).unwrap()
        } else {
            broken.push(format!("{at}: an anchor into a file that is not markdown"));
            continue;
        };
        if !anchors(&target_text).contains(fragment) {
            broken.push(format!(
                "{at}: no heading `#{fragment}` in {}",
                file.display()
            ));
        }
    }
    broken
}

#[test]
fn every_internal_link_resolves() {
    let mut broken = Vec::new();
    for page in pages() {
        let text = std::fs::read_to_string(&page).unwrap();
        broken.extend(broken_links(&page, &text));
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn the_checker_finds_a_broken_file_and_a_broken_anchor() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("cli")).unwrap();
    let other = dir.path().join("cli/plan.md");
    std::fs::write(
        &other,
        "# plan\n\n## How the plan is made\n\n## Flags\n\n## Flags\n",
    )
    .unwrap();
    let page = dir.path().join("README.md");
    let text = "# Intro\n\n\
        [ok](cli/plan.md) [ok](cli/plan.md#how-the-plan-is-made) [ok](cli/plan.md#flags-1)\n\
        [ok](#intro) [ok](https://example.com/x#y) `[code](not/a/link.md)`\n\
        ```sh\n[fenced](not/a/link.md)\n```\n\
        [gone](cli/apply.md) [typo](cli/plan.md#how-the-plan-is-mad)\n\
        [self](#nothing) [third](cli/plan.md#flags-2)\n";
    std::fs::write(&page, text).unwrap();
    let broken = broken_links(&page, text);
    let targets: Vec<&str> = broken
        .iter()
        .map(|b| b.split('`').nth(1).unwrap())
        .collect();
    assert_eq!(
        targets,
        [
            "cli/apply.md",
            "cli/plan.md#how-the-plan-is-mad",
            "#nothing",
            "cli/plan.md#flags-2"
        ],
        "{broken:#?}"
    );
    assert!(broken[0].contains("README.md:8:"), "{}", broken[0]);
}

#[test]
fn anchors_are_made_as_mdbook_makes_them() {
    for (heading, id) in [
        ("How the plan is made", "how-the-plan-is-made"),
        (
            "The workflow: plan in the pull request, apply after merge",
            "the-workflow-plan-in-the-pull-request-apply-after-merge",
        ),
        ("`config::` diagnostics", "config-diagnostics"),
        ("in_use:: diagnostics", "in_use-diagnostics"),
        ("[ECR Public](ecr-public.md)", "ecr-public"),
    ] {
        assert_eq!(anchor(heading), id, "{heading}");
    }
}

#[test]
fn every_page_is_in_the_summary() {
    let src = root().join("docs/src");
    let summary = std::fs::read_to_string(src.join("SUMMARY.md")).unwrap();
    let listed: BTreeSet<PathBuf> = links(&summary)
        .into_iter()
        .map(|(_, target)| normalize(&src.join(target)))
        .collect();
    let missing: Vec<_> = files(&src, ".md")
        .into_iter()
        .filter(|p| !p.ends_with("SUMMARY.md") && !listed.contains(p))
        .collect();
    assert!(missing.is_empty(), "pages not in SUMMARY.md: {missing:#?}");
}

/// The areas of the tool's diagnostic codes (`AREA::name`).
const AREAS: [&str; 13] = [
    "config",
    "plan",
    "in_use",
    "snapshot",
    "saved_plan",
    "apply",
    "journal",
    "restore",
    "import",
    "run",
    "source",
    "test",
    "explain",
];

/// The codes written in `text`: `code(AREA::name)` (miette) and `"AREA::name"` (the
/// desired-state codes).
fn codes_in(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for area in AREAS {
        for (open, close) in [("code(", ')'), ("\"", '"')] {
            let start = format!("{open}{area}::");
            let mut rest = text;
            while let Some(at) = rest.find(&start) {
                let name = &rest[at + start.len()..];
                let end = name
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
                    .unwrap_or(name.len());
                if name[end..].starts_with(close) && end > 0 {
                    found.insert(format!("{area}::{}", &name[..end]));
                }
                rest = &name[end..];
            }
        }
    }
    found
}

#[test]
fn every_diagnostic_code_is_documented() {
    let mut codes = BTreeSet::new();
    for file in files(&root().join("src"), ".rs") {
        codes.extend(codes_in(&std::fs::read_to_string(file).unwrap()));
    }
    // The plan's warning codes, from the committed schema of the plan document.
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("schema/plan.schema.json")).unwrap(),
    )
    .unwrap();
    let warnings = schema["$defs"]["WarningCode"]["oneOf"].as_array().unwrap();
    codes.extend(
        warnings
            .iter()
            .map(|w| format!("plan::{}", w["const"].as_str().unwrap())),
    );
    assert!(codes.len() > 70, "too few codes found: {codes:?}");
    // The first cells of the tables of the diagnostics pages.
    let mut documented = String::new();
    for page in files(&root().join("docs/src/diags"), ".md") {
        for line in std::fs::read_to_string(page).unwrap().lines() {
            if let Some(cell) = line.strip_prefix("| ").and_then(|l| l.split(" |").next()) {
                documented.push_str(cell);
                documented.push('\n');
            }
        }
    }
    let missing: Vec<_> = codes
        .iter()
        .filter(|code| !documented.contains(&format!("`{code}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "codes not listed in a table of docs/src/diags/: {missing:?}"
    );
}
