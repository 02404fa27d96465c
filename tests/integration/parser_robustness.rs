//! Robustness of desired-state parsing over arbitrary input: whatever the bytes,
//! `load_sources` returns (never panics), a refusal always carries at least one
//! diagnostic, every diagnostic names one of the files given and points inside it, and
//! rendering the diagnostics does not panic either.
//!
//! A bounded complement to the fuzz target in fuzz/ (scripts/fuzz.sh), cheap enough for
//! every test run.

use proptest::prelude::*;

use ecr_reconcile::config::{ConfigDiagnostic, ConfigErrors, load_sources};

const NAMES: [&str; 3] = ["desired/a.yaml", "desired/b.yaml", "team/ünïcode c.yaml"];

const VALID: [&str; 2] = [
    include_str!("../fixtures/valid/unchanged.yaml"),
    include_str!("../fixtures/valid/no-region.yaml"),
];

/// Pieces of desired-state YAML and of YAML syntax, to reach deeper parser and
/// validator states than uniform bytes do.
const FRAGMENTS: &[&str] = &[
    "version: 1",
    "version: 2",
    "version:",
    "registry:",
    "region: eu-west-1",
    "account: \"123456789012\"",
    "repositories:",
    "identity/auth:",
    "Bad_Name:",
    "tags:",
    "allow_empty: true",
    "keep_latest: 3",
    "keep_latest: 99999999999999999999999999999999999999999",
    "max_age: 30d",
    "untagged: delete",
    "pattern: \"v1.*\"",
    "\"v3.*\"",
    "latest",
    "- ",
    "-",
    ": ",
    ":",
    "? ",
    "&a ",
    "&a",
    "*a",
    "*b",
    "<<: *a",
    "!!binary ",
    "!!str ",
    "!!map ",
    "!custom ",
    "%YAML 1.2\n",
    "---\n",
    "...\n",
    "[",
    "]",
    "{",
    "}",
    ", ",
    "\"",
    "'",
    "\\",
    "\\u00e9",
    "|",
    "|-",
    ">",
    ">+",
    "#",
    "~",
    "null",
    "0x1F",
    "1e400",
    ".nan",
    "\n",
    "\r\n",
    "\r",
    "  ",
    "    ",
    "\t",
    "é",
    "日本",
    "😀",
    "\u{feff}",
    "\u{85}",
    "\u{2028}",
    "\u{200b}",
    "\0",
];

fn fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => prop::sample::select(FRAGMENTS).prop_map(str::to_owned),
        1 => "[a-z0-9./*?_-]{1,8}",
        1 => any::<char>().prop_map(String::from),
    ]
}

/// One file of token soup, in lines with block indentation, so that the parser gets
/// past the first line more often than with a flat stream of tokens.
fn soup() -> impl Strategy<Value = Vec<u8>> {
    let line = (
        prop::sample::select(&["", "  ", "    ", "      ", "        ", "\t"][..]),
        prop::collection::vec(fragment(), 1..5),
    )
        .prop_map(|(indent, parts)| format!("{indent}{}\n", parts.concat()));
    prop::collection::vec(line, 0..40).prop_map(|lines| lines.concat().into_bytes())
}

/// A scalar for a generated document: usually plausible, sometimes junk.
fn leaf() -> impl Strategy<Value = String> {
    const PLAUSIBLE: &[&str] = &[
        "1",
        "2",
        "\"1\"",
        "0",
        "-1",
        "3",
        "1.5",
        "true",
        "false",
        "yes",
        "~",
        "\"123456789012\"",
        "123456789012",
        "eu-west-1",
        "us-east-1",
        "EU",
        "v1.2.3",
        "\"v1.*\"",
        "\"-foo\"",
        "\"*\"",
        "\"[\"",
        "latest",
        "30d",
        "12h",
        "1w",
        "0d",
        "d",
        "99999999999999999999d",
        "delete",
        "keep",
        "[]",
        "{}",
        "[a, b]",
        "\"\"",
    ];
    prop_oneof![
        6 => prop::sample::select(PLAUSIBLE).prop_map(str::to_owned),
        2 => fragment(),
        1 => "[ -~]{0,12}",
        1 => ".{0,6}",
    ]
}

/// A repository name: usually plausible, sometimes junk.
fn repo_name() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-z][a-z0-9-]{0,6}(/[a-z0-9._-]{1,8}){0,2}",
        1 => "[ -~]{0,12}",
        1 => leaf(),
    ]
}

/// One entry of an allow-list: a tag, a glob, or a rule with its fields.
fn allow_entry() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => leaf().prop_map(|t| format!("      - {t}\n")),
        1 => (
            leaf(),
            prop::option::of(leaf()),
            prop::option::of(leaf()),
            prop::option::of(repo_name()),
        )
            .prop_map(|(pattern, keep, age, extra)| {
                let mut s = format!("      - pattern: {pattern}\n");
                if let Some(k) = keep {
                    s.push_str(&format!("        keep_latest: {k}\n"));
                }
                if let Some(a) = age {
                    s.push_str(&format!("        max_age: {a}\n"));
                }
                if let Some(x) = extra {
                    s.push_str(&format!("        {x}: 1\n"));
                }
                s
            }),
    ]
}

/// One repository with its settings, each present or not.
fn repository() -> impl Strategy<Value = String> {
    (
        repo_name(),
        prop::option::of(prop::collection::vec(allow_entry(), 0..5)),
        prop::option::of(leaf()),
        prop::option::of(leaf()),
    )
        .prop_map(|(name, tags, untagged, allow_empty)| {
            let mut s = format!("  {name}:\n");
            if let Some(tags) = tags {
                s.push_str("    tags:\n");
                s.push_str(&tags.concat());
            }
            if let Some(u) = untagged {
                s.push_str(&format!("    untagged: {u}\n"));
            }
            if let Some(a) = allow_empty {
                s.push_str(&format!("    allow_empty: {a}\n"));
            }
            s
        })
}

/// A desired-state document built from the format's grammar with plausible or junk
/// leaves, to reach the validator's checks rather than stop at the YAML syntax.
fn document() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::option::of(leaf()),
        prop::option::of((prop::option::of(leaf()), prop::option::of(leaf()))),
        prop::option::of(prop::collection::vec(repository(), 0..4)),
        prop::option::of(fragment()),
    )
        .prop_map(|(version, registry, repos, noise)| {
            let mut s = String::new();
            if let Some(v) = version {
                s.push_str(&format!("version: {v}\n"));
            }
            if let Some((account, region)) = registry {
                s.push_str("registry:\n");
                if let Some(a) = account {
                    s.push_str(&format!("  account: {a}\n"));
                }
                if let Some(r) = region {
                    s.push_str(&format!("  region: {r}\n"));
                }
            }
            if let Some(repos) = repos {
                s.push_str("repositories:\n");
                s.push_str(&repos.concat());
            }
            if let Some(n) = noise {
                s.push_str(&n);
            }
            s.into_bytes()
        })
}

/// Bytes to splice into a file: mostly UTF-8 text (else nearly every case stops at
/// the UTF-8 check), sometimes raw bytes.
fn junk() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        1 => prop::collection::vec(any::<u8>(), 1..24),
        4 => ".{1,8}".prop_map(String::into_bytes),
        5 => fragment().prop_map(String::into_bytes),
    ]
}

/// A valid fixture with junk inserted or written over it at random places.
fn spliced() -> impl Strategy<Value = Vec<u8>> {
    let edit = (any::<prop::sample::Index>(), any::<bool>(), junk());
    (
        prop::sample::select(&VALID[..]),
        prop::collection::vec(edit, 1..6),
    )
        .prop_map(|(base, edits)| {
            let mut bytes = base.as_bytes().to_vec();
            for (at, insert, junk) in edits {
                let at = at.index(bytes.len() + 1);
                if insert {
                    bytes.splice(at..at, junk);
                } else {
                    let end = (at + junk.len()).min(bytes.len());
                    bytes.splice(at..end, junk);
                }
            }
            bytes
        })
}

/// Loads `files` under the fixed names, renders every diagnostic, and checks the
/// invariants; returns a description of the first broken one.
fn check_load(files: Vec<Vec<u8>>) -> Result<(), TestCaseError> {
    let given: Vec<(String, Vec<u8>)> = files
        .into_iter()
        .zip(NAMES)
        .map(|(bytes, name)| (name.to_owned(), bytes))
        .collect();
    match load_sources(given.clone()) {
        Ok(state) => prop_assert_eq!(state.files.len(), given.len()),
        Err(errors) => {
            prop_assert!(
                !errors.diagnostics.is_empty(),
                "an error without diagnostics"
            );
            for d in &errors.diagnostics {
                check_diagnostic(d, &given)?;
            }
            let rendered = render(&errors);
            prop_assert!(rendered.contains("in the desired-state files"));
        }
    }
    Ok(())
}

/// The diagnostic (and those related to it) names a given file, and its span lies
/// inside that file's text, on character boundaries, where the file is UTF-8.
fn check_diagnostic(
    d: &ConfigDiagnostic,
    given: &[(String, Vec<u8>)],
) -> Result<(), TestCaseError> {
    if let Some(file) = &d.file {
        let bytes = given.iter().find(|(name, _)| name == file).map(|(_, b)| b);
        prop_assert!(bytes.is_some(), "{d}: names a file not given");
        if let (Some(span), Some(Ok(text))) = (d.span, bytes.map(|b| std::str::from_utf8(b))) {
            let end = span.offset.checked_add(span.len);
            prop_assert!(
                end.is_some_and(|end| end <= text.len()
                    && text.is_char_boundary(span.offset)
                    && text.is_char_boundary(end)),
                "{}: span {:?} does not fit the text ({} bytes)",
                d,
                span,
                text.len()
            );
        }
    }
    for r in &d.related {
        check_diagnostic(r, given)?;
    }
    Ok(())
}

fn render(errors: &ConfigErrors) -> String {
    ecr_reconcile::render::config_errors(errors, false)
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 512,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..4096)) {
        check_load(vec![bytes])?;
    }

    #[test]
    fn valid_file_with_junk_spliced_in(
        file in spliced(),
        other in prop::option::of(spliced()),
    ) {
        check_load(std::iter::once(file).chain(other).collect())?;
    }

    #[test]
    fn yaml_token_soup(files in prop::collection::vec(soup(), 1..=3)) {
        check_load(files)?;
    }

    #[test]
    fn generated_documents(files in prop::collection::vec(document(), 1..=3)) {
        check_load(files)?;
    }
}
