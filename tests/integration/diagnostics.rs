//! Every broken desired-state file under `tests/fixtures/invalid/` is rejected with the
//! right diagnostics, each with its stable code at the exact line and column, and the
//! rendered report reads well (insta snapshots in `tests/integration/snapshots/`).
//!
//! Paths are relative to the crate root (cargo runs integration tests there), so the
//! rendered reports and their snapshots do not depend on where the checkout lives.
//! Review new or changed reports with
//! `INSTA_UPDATE=always cargo test --test integration diagnostics::` and
//! `git diff tests/integration/snapshots/`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use ecr_reconcile::config::{self, ConfigDiagnostic};

/// Where the broken files live, relative to the crate root.
const FIXTURES: &str = "tests/fixtures/invalid";

/// One expected diagnostic.
#[derive(Clone, Copy, Debug)]
struct Expect {
    /// The file it points into, relative to [`FIXTURES`]; empty for the fixture itself.
    file: &'static str,
    code: &'static str,
    line: u32,
    column: u32,
    /// The related diagnostics, in order.
    related: &'static [Expect],
}

/// A diagnostic in the fixture file itself.
const fn at(code: &'static str, line: u32, column: u32) -> Expect {
    Expect {
        file: "",
        code,
        line,
        column,
        related: &[],
    }
}

impl Expect {
    /// The same diagnostic, in another file (for directory fixtures).
    const fn in_file(self, file: &'static str) -> Self {
        Self { file, ..self }
    }

    /// The same diagnostic, with related diagnostics.
    const fn with_related(self, related: &'static [Expect]) -> Self {
        Self { related, ..self }
    }
}

/// A fixture (a file, or a directory loaded as a whole) and every diagnostic it must
/// produce, in the order the validator reports them.
struct Case {
    fixture: &'static str,
    expect: &'static [Expect],
}

const CASES: &[Case] = &[
    // The file as a whole.
    Case {
        fixture: "empty-file.yaml",
        expect: &[at("config::wrong-type", 1, 1)],
    },
    Case {
        fixture: "root-sequence.yaml",
        expect: &[at("config::wrong-type", 1, 1)],
    },
    Case {
        fixture: "unknown-key-top.yaml",
        expect: &[at("config::unknown-key", 3, 1)],
    },
    Case {
        fixture: "version-2.yaml",
        expect: &[at("config::unsupported-version", 1, 10)],
    },
    Case {
        // The byte-order mark takes no column.
        fixture: "bom-version-2.yaml",
        expect: &[at("config::unsupported-version", 1, 10)],
    },
    Case {
        fixture: "version-missing.yaml",
        expect: &[at("config::missing-key", 1, 1)],
    },
    Case {
        fixture: "version-string.yaml",
        expect: &[at("config::wrong-type", 1, 10)],
    },
    // `registry`.
    Case {
        fixture: "bad-account.yaml",
        expect: &[at("config::invalid-account", 3, 12)],
    },
    Case {
        fixture: "bad-region.yaml",
        expect: &[at("config::invalid-region", 4, 11)],
    },
    // `registry.role`: the role assumed for the file's account.
    Case {
        fixture: "role-not-a-role.yaml",
        expect: &[at("config::invalid-role", 5, 9)],
    },
    Case {
        fixture: "role-without-account.yaml",
        expect: &[at("config::role-without-account", 4, 9)],
    },
    Case {
        fixture: "role-of-another-account.yaml",
        expect: &[at("config::role-account-mismatch", 5, 9)],
    },
    Case {
        fixture: "role-with-public.yaml",
        expect: &[at("config::public-with-role", 4, 11)],
    },
    Case {
        fixture: "role-bad-external-id.yaml",
        expect: &[at("config::invalid-external-id", 6, 16)],
    },
    Case {
        fixture: "external-id-without-role.yaml",
        expect: &[at("config::role-without-account", 5, 16)],
    },
    // Two files give one account two roles: the second, with the first as related.
    Case {
        fixture: "role-conflict",
        expect: &[at("config::role-conflict", 5, 9)
            .in_file("role-conflict/b.yaml")
            .with_related(&[at("config::role-conflict", 5, 9).in_file("role-conflict/a.yaml")])],
    },
    // `registry.public`: ECR Public.
    Case {
        fixture: "public-with-region.yaml",
        expect: &[at("config::public-with-region", 4, 11)],
    },
    Case {
        fixture: "public-bad-alias.yaml",
        expect: &[at("config::invalid-public-alias", 3, 11)],
    },
    Case {
        fixture: "public-pulled-within.yaml",
        expect: &[at("config::public-pull-time", 10, 9)],
    },
    // `repositories` and repository names.
    Case {
        fixture: "repositories-list.yaml",
        expect: &[at("config::wrong-type", 3, 3)],
    },
    Case {
        fixture: "bad-repo-name-uppercase.yaml",
        expect: &[at("config::invalid-repository-name", 3, 3)],
    },
    Case {
        fixture: "repo-name-too-short.yaml",
        expect: &[at("config::invalid-repository-name", 3, 3)],
    },
    Case {
        fixture: "repository-no-settings.yaml",
        expect: &[at("config::wrong-type", 3, 3)],
    },
    // A repository's settings.
    Case {
        // The misspelling is an unknown key, and it leaves the repository without `tags`.
        fixture: "misspelled-tags.yaml",
        expect: &[
            at("config::missing-key", 4, 3),
            at("config::unknown-key", 5, 5),
        ],
    },
    Case {
        fixture: "missing-tags.yaml",
        expect: &[at("config::missing-key", 3, 3)],
    },
    Case {
        fixture: "tags-null.yaml",
        expect: &[at("config::wrong-type", 4, 5)],
    },
    Case {
        fixture: "empty-tags.yaml",
        expect: &[at("config::empty-allow-list", 4, 11)],
    },
    Case {
        fixture: "bad-untagged.yaml",
        expect: &[at("config::invalid-untagged", 6, 15)],
    },
    Case {
        fixture: "allow-empty-string.yaml",
        expect: &[at("config::wrong-type", 6, 18)],
    },
    // Allow-list entries.
    Case {
        fixture: "bad-exact-tag.yaml",
        expect: &[at("config::invalid-tag", 6, 9)],
    },
    Case {
        fixture: "tag-unquoted-number.yaml",
        expect: &[at("config::wrong-type", 6, 9)],
    },
    Case {
        fixture: "tag-boolean.yaml",
        expect: &[at("config::wrong-type", 6, 9)],
    },
    Case {
        fixture: "allow-empty-yes.yaml",
        expect: &[at("config::wrong-type", 6, 18)],
    },
    Case {
        fixture: "bad-glob.yaml",
        expect: &[at("config::invalid-pattern", 5, 9)],
    },
    Case {
        fixture: "glob-leading-dash.yaml",
        expect: &[at("config::invalid-pattern", 5, 18)],
    },
    Case {
        fixture: "rule-missing-pattern.yaml",
        expect: &[at("config::missing-key", 6, 9)],
    },
    Case {
        fixture: "rule-unknown-key.yaml",
        expect: &[at("config::unknown-key", 6, 9)],
    },
    Case {
        fixture: "pulled-within-bad.yaml",
        expect: &[at("config::invalid-duration", 7, 24)],
    },
    // `in_use`.
    Case {
        fixture: "in-use-unknown-key.yaml",
        expect: &[at("config::unknown-key", 5, 3)],
    },
    Case {
        fixture: "in-use-bad-paths.yaml",
        expect: &[
            at("config::invalid-path", 4, 16),
            at("config::invalid-path", 5, 11),
            at("config::wrong-type", 6, 10),
        ],
    },
    Case {
        fixture: "in-use-ecs-lambda.yaml",
        expect: &[
            at("config::invalid-selector", 6, 22),
            at("config::invalid-revisions", 7, 32),
            at("config::invalid-selector", 9, 16),
        ],
    },
    Case {
        fixture: "in-use-kubernetes.yaml",
        expect: &[
            at("config::missing-key", 7, 7),
            at("config::invalid-selector", 10, 30),
            at("config::invalid-revisions", 11, 35),
            at("config::unknown-key", 13, 7),
            at("config::wrong-type", 15, 35),
            at("config::wrong-type", 16, 7),
        ],
    },
    Case {
        fixture: "keep-latest-zero.yaml",
        expect: &[at("config::invalid-keep-latest", 6, 22)],
    },
    Case {
        fixture: "keep-latest-string.yaml",
        expect: &[at("config::wrong-type", 6, 22)],
    },
    Case {
        fixture: "bad-duration-unit.yaml",
        expect: &[at("config::invalid-duration", 6, 18)],
    },
    Case {
        fixture: "duration-no-unit.yaml",
        expect: &[at("config::invalid-duration", 6, 18)],
    },
    // Several problems in one file: all are reported in one run. Unknown keys are
    // found when a mapping is first read, so they come before the values' problems.
    Case {
        fixture: "many-problems.yaml",
        expect: &[
            at("config::invalid-tag", 7, 9),
            at("config::invalid-keep-latest", 9, 22),
            at("config::unknown-key", 11, 5),
        ],
    },
    // Not YAML, or YAML the reader refuses.
    Case {
        fixture: "yaml-syntax.yaml",
        expect: &[at("config::syntax", 4, 11)],
    },
    Case {
        // The parser notices the missing `]` only at the next key's `:`.
        fixture: "yaml-syntax-unclosed-before-key.yaml",
        expect: &[at("config::syntax", 5, 13)],
    },
    // A key written twice: the first counts, both places are shown, and the rest of
    // the file is still checked.
    Case {
        fixture: "duplicate-key.yaml",
        expect: &[at("config::duplicate-key", 6, 3).with_related(&[at(
            "config::duplicate-key",
            3,
            3,
        )])],
    },
    Case {
        fixture: "duplicate-key-with-other-errors.yaml",
        expect: &[
            at("config::duplicate-key", 2, 1).with_related(&[at("config::duplicate-key", 1, 1)]),
            at("config::duplicate-key", 6, 5).with_related(&[at("config::duplicate-key", 5, 5)]),
            at("config::invalid-untagged", 7, 15),
        ],
    },
    Case {
        fixture: "multiple-documents.yaml",
        expect: &[at("config::syntax", 7, 1)],
    },
    Case {
        // The parser reports the position after the tab.
        fixture: "tab-indentation.yaml",
        expect: &[at("config::syntax", 4, 2)],
    },
    Case {
        fixture: "alias-bomb.yaml",
        expect: &[at("config::syntax", 7, 20)],
    },
    Case {
        fixture: "invalid-utf8.yaml",
        expect: &[at("config::invalid-utf8", 6, 13)],
    },
    // Across files: the second declaration, with the first as related.
    Case {
        fixture: "duplicate-across-files",
        expect: &[at("config::duplicate-repository", 6, 3)
            .in_file("duplicate-across-files/b.yaml")
            .with_related(&[
                at("config::duplicate-repository", 3, 3).in_file("duplicate-across-files/a.yaml")
            ])],
    },
    // A duplicate is reported with the other problems of its file, in the same run
    // (the second declaration is invalid itself: its name still counts).
    Case {
        fixture: "duplicate-with-other-errors",
        expect: &[
            at("config::missing-key", 3, 3).in_file("duplicate-with-other-errors/b.yaml"),
            at("config::unknown-key", 4, 5).in_file("duplicate-with-other-errors/b.yaml"),
            at("config::invalid-untagged", 7, 15).in_file("duplicate-with-other-errors/b.yaml"),
            at("config::duplicate-repository", 6, 3)
                .in_file("duplicate-with-other-errors/b.yaml")
                .with_related(&[at("config::duplicate-repository", 3, 3)
                    .in_file("duplicate-with-other-errors/a.yaml")]),
        ],
    },
];

fn fixture_path(rel: &str) -> String {
    format!("{FIXTURES}/{rel}")
}

/// The name of the insta snapshot of a fixture: its file name without `.yaml`.
fn snapshot_name(fixture: &str) -> &str {
    fixture.strip_suffix(".yaml").unwrap_or(fixture)
}

/// Every file under `dir`, recursively, sorted.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let entries = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e} (run from the crate root)", dir.display()));
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// The column miette prints in its `╭─[file:line:col]` header: it counts bytes from
/// the start of the line (a byte-order mark included), where diagnostics count
/// characters. The two agree on ASCII text.
fn miette_column(file: &str, line: u32, column: u32) -> usize {
    let bytes = std::fs::read(file).unwrap();
    let text = String::from_utf8_lossy(&bytes);
    let bom = if line == 1 && text.starts_with('\u{feff}') {
        '\u{feff}'.len_utf8()
    } else {
        0
    };
    let text = &text[bom..];
    let line_text = text.split('\n').nth(line as usize - 1).unwrap_or("");
    let before: usize = line_text
        .chars()
        .take(column as usize - 1)
        .map(char::len_utf8)
        .sum();
    bom + before + 1
}

/// Describes a diagnostic (and its related ones) the way [`Expect`] does, for messages.
fn describe(d: &ConfigDiagnostic) -> String {
    let (line, column) = d.span.map_or((0, 0), |s| (s.line, s.column));
    let mut out = format!(
        "{} at {}:{line}:{column}",
        d.code,
        d.file.as_deref().unwrap_or("<no file>")
    );
    for r in &d.related {
        out.push_str(&format!(" (related: {})", describe(r)));
    }
    out
}

/// Checks one diagnostic against its expectation, and that the report shows its place.
fn check(case: &Case, want: &Expect, got: &ConfigDiagnostic, rendered: &str) {
    let file = if want.file.is_empty() {
        fixture_path(case.fixture)
    } else {
        fixture_path(want.file)
    };
    let context = format!("{}: got {}", case.fixture, describe(got));
    assert_eq!(got.code.as_str(), want.code, "{context}");
    assert_eq!(got.file.as_deref(), Some(file.as_str()), "{context}");
    let span = got.span.unwrap_or_else(|| panic!("{context}: no span"));
    assert_eq!(
        (span.line, span.column),
        (want.line, want.column),
        "{context}"
    );

    // The message starts with `file:line:col`, and miette's header shows the
    // place its label stands at (so the span's offset agrees with its line and column).
    let location = format!("{file}:{}:{}", want.line, want.column);
    assert!(
        rendered.contains(&location),
        "{}: the report does not show {location}:\n{rendered}",
        case.fixture
    );
    let header = format!(
        "╭─[{file}:{}:{}]",
        want.line,
        miette_column(&file, want.line, want.column)
    );
    assert!(
        rendered.contains(&header),
        "{}: the report has no {header}:\n{rendered}",
        case.fixture
    );

    assert_eq!(
        got.related.len(),
        want.related.len(),
        "{context}: related diagnostics"
    );
    for (w, g) in want.related.iter().zip(&got.related) {
        check(case, w, g, rendered);
    }
}

#[test]
fn every_fixture_reports_its_problems_where_they_are() {
    let mut failures = Vec::new();
    for case in CASES {
        let path = PathBuf::from(fixture_path(case.fixture));
        let errors = match config::load(std::slice::from_ref(&path)) {
            Ok(state) => {
                failures.push(format!(
                    "{}: accepted, with {} repositories",
                    case.fixture,
                    state.repositories.len()
                ));
                continue;
            }
            Err(errors) => errors,
        };
        let rendered = ecr_reconcile::render::config_errors(&errors, false);
        let outcome = std::panic::catch_unwind(|| {
            let got: Vec<String> = errors.diagnostics.iter().map(describe).collect();
            assert_eq!(
                errors.diagnostics.len(),
                case.expect.len(),
                "{}: got {got:#?}",
                case.fixture
            );
            for (want, got) in case.expect.iter().zip(&errors.diagnostics) {
                check(case, want, got, &rendered);
            }
            insta::assert_snapshot!(snapshot_name(case.fixture), rendered);
        });
        if let Err(panic) = outcome {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            failures.push(message);
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} fixtures failed:\n\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n\n")
    );
}

#[test]
fn every_fixture_is_in_the_table() {
    let mut covered = BTreeSet::new();
    let mut names = BTreeSet::new();
    for case in CASES {
        assert!(
            names.insert(case.fixture),
            "{} is in the table twice",
            case.fixture
        );
        let path = PathBuf::from(fixture_path(case.fixture));
        assert!(path.exists(), "{} does not exist", path.display());
        if path.is_dir() {
            covered.extend(files_under(&path));
        } else {
            covered.insert(path);
        }
    }
    let missing: Vec<String> = files_under(Path::new(FIXTURES))
        .into_iter()
        .filter(|f| !covered.contains(f))
        .map(|f| f.display().to_string())
        .collect();
    assert!(
        missing.is_empty(),
        "fixtures without an entry in CASES (tests/integration/diagnostics.rs): {missing:#?}"
    );
}

#[test]
fn the_corpus_is_large_enough() {
    assert!(CASES.len() >= 24, "only {} fixtures", CASES.len());
    assert!(
        CASES.iter().any(|c| c.expect.len() >= 3),
        "no fixture proves that every problem of a file is reported"
    );
}

/// Runs `load_sources` and turns a panic into a test failure that names the input.
fn load_without_panic(
    what: &str,
    inputs: Vec<(String, Vec<u8>)>,
) -> Result<config::DesiredState, config::ConfigErrors> {
    std::panic::catch_unwind(|| config::load_sources(inputs))
        .unwrap_or_else(|_| panic!("load_sources panicked on {what}"))
}

#[test]
fn no_fixture_panics_from_memory() {
    for case in CASES {
        let path = PathBuf::from(fixture_path(case.fixture));
        let files = if path.is_dir() {
            files_under(&path)
        } else {
            vec![path.clone()]
        };
        let inputs: Vec<(String, Vec<u8>)> = files
            .iter()
            .map(|f| (f.display().to_string(), std::fs::read(f).unwrap()))
            .collect();

        // Each file of a directory alone (they may be valid one by one).
        if path.is_dir() {
            for (name, bytes) in &inputs {
                let _ = load_without_panic(name, vec![(name.clone(), bytes.clone())]);
            }
        }

        // All together: the same diagnostics as reading them from disk.
        let from_memory = load_without_panic(case.fixture, inputs.clone())
            .expect_err(case.fixture)
            .diagnostics;
        let from_disk = config::load(&[path]).expect_err(case.fixture).diagnostics;
        let describe_all =
            |ds: &[ConfigDiagnostic]| ds.iter().map(describe).collect::<Vec<String>>();
        assert_eq!(
            describe_all(&from_memory),
            describe_all(&from_disk),
            "{}",
            case.fixture
        );

        // Every prefix of every file (cut anywhere, even inside a UTF-8 character).
        if case.fixture != "alias-bomb.yaml" {
            for (name, bytes) in &inputs {
                for end in 0..bytes.len() {
                    let cut = format!("{name} cut at byte {end}");
                    let _ = load_without_panic(&cut, vec![(cut.clone(), bytes[..end].to_vec())]);
                }
            }
        }
    }
}

#[test]
fn unquoted_account_ids_are_read_as_written() {
    // YAML reads 123456789012 as an integer and 012345678901 (a leading zero and an 8
    // or 9 among the digits) as a float; both are the account id as written.
    for account in ["123456789012", "012345678901", "\"012345678901\""] {
        let text = format!(
            "version: 1\nregistry:\n  account: {account}\nrepositories:\n  payments/api:\n    tags: [v1]\n"
        );
        let state = config::load_sources(vec![("a.yaml".into(), text.into_bytes())])
            .unwrap_or_else(|e| {
                panic!(
                    "{account}: {}",
                    ecr_reconcile::render::config_errors(&e, false)
                )
            });
        assert_eq!(
            state.repositories[0].account.as_ref().map(|a| a.as_str()),
            Some(account.trim_matches('"'))
        );
    }
}

/// `expect` as the JSON report states it: code, file (relative to the fixtures),
/// line, column and the related ones.
fn expected_json(case: &Case, e: &Expect) -> String {
    let file = if e.file.is_empty() {
        case.fixture
    } else {
        e.file
    };
    let related: Vec<String> = e.related.iter().map(|r| expected_json(case, r)).collect();
    format!(
        "{} {file}:{}:{} [{}]",
        e.code,
        e.line,
        e.column,
        related.join(", ")
    )
}

fn reported_json(p: &serde_json::Value) -> String {
    let file = p["file"].as_str().unwrap_or_default();
    let file = file.strip_prefix(&format!("{FIXTURES}/")).unwrap_or(file);
    let related: Vec<String> = p["related"]
        .as_array()
        .map(|r| r.iter().map(reported_json).collect())
        .unwrap_or_default();
    format!(
        "{} {file}:{}:{} [{}]",
        p["code"].as_str().unwrap(),
        p["line"],
        p["column"],
        related.join(", ")
    )
}

#[test]
fn validate_json_reports_every_fixture_problem_as_data() {
    let schema: serde_json::Value = serde_json::from_str(&ecr_reconcile::schema::json(
        ecr_reconcile::schema::SchemaKind::Validation,
    ))
    .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    for case in CASES {
        let out = crate::common::hermetic()
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args(["validate", "--format", "json", &fixture_path(case.fixture)])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{}", case.fixture);
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&report)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{}: {errors:?}", case.fixture);
        assert_eq!(report["valid"], false);
        let got: Vec<String> = report["problems"]
            .as_array()
            .unwrap()
            .iter()
            .map(reported_json)
            .collect();
        let want: Vec<String> = case.expect.iter().map(|e| expected_json(case, e)).collect();
        assert_eq!(got, want, "{}", case.fixture);
        for p in report["problems"].as_array().unwrap() {
            assert_eq!(p["severity"], "error");
            assert!(!p["message"].as_str().unwrap().is_empty());
        }
    }
    // Valid files: the files and what was skipped.
    let out = crate::common::hermetic()
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["validate", "--format", "json", "examples/desired"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(validator.is_valid(&report));
    assert_eq!(report["valid"], true);
    assert_eq!(report["files"].as_array().unwrap().len(), 4);
    assert_eq!(report["problems"], serde_json::json!([]));
}
