//! The `test` operation: runs the cases of test files (`*.test.yaml`) against the
//! desired state beside them. Each case builds the observed state offline (a snapshot
//! file, or images written inline), plans at its instant and compares the plan with
//! what the case expects. Nothing here opens AWS: the only registry is the in-memory
//! model a snapshot loads into.

pub mod file;

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde_saphyr::Spanned;

use self::file::{Expectation, ImageName, Key, TEST_FILE_SUFFIXES, TEST_FILE_VERSION, TestFile};
use super::Source;
use super::run::RunError;
use crate::config::{ConfigErrors, DesiredState};
use crate::model::{Digest, RepositoryRef, media_type};
use crate::plan::{ActionKind, Plan, RepositoryPlan, RepositoryStatus};
use crate::registry::snapshot::{self, Snapshot, SnapshotError, SnapshotImage};

/// Why the cases could not be run. Nothing is planned against a registry in any case.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum TestError {
    /// A test file or folder could not be read.
    #[error("cannot read {path}: {message}")]
    #[diagnostic(code(test::io))]
    Io {
        /// The path.
        path: String,
        /// Why.
        message: String,
    },
    /// No test file under the paths given.
    #[error("no test files (*.test.yaml, *.test.yml) under {0}")]
    #[diagnostic(
        code(test::no_files),
        help("write the cases in a file named like `payments.test.yaml` beside the desired state")
    )]
    NoFiles(String),
    /// A test file is not valid: where, and what is wrong.
    #[error("{file}:{line}:{column}: {message}")]
    #[diagnostic(code(test::invalid))]
    Invalid {
        /// The test file.
        file: String,
        /// 1-based line.
        line: u64,
        /// 1-based column.
        column: u64,
        /// What is wrong.
        message: String,
    },
    /// The desired-state files a test file names are not valid.
    #[error("{file}: the desired state it tests is not valid ({errors})")]
    #[diagnostic(code(test::desired))]
    Desired {
        /// The test file.
        file: String,
        /// The problems, as `validate` reports them.
        errors: ConfigErrors,
    },
    /// A case's snapshot file could not be read, or its inline registry is not a
    /// valid registry state.
    #[error("{file}:{line}:{column}: {error}")]
    #[diagnostic(code(test::snapshot))]
    Snapshot {
        /// The test file.
        file: String,
        /// The case's line.
        line: u64,
        /// The case's column.
        column: u64,
        /// What is wrong.
        error: Box<SnapshotError>,
    },
    /// A case could not be planned.
    #[error("{file}:{line}:{column}: {error}")]
    #[diagnostic(code(test::plan))]
    Plan {
        /// The test file.
        file: String,
        /// The case's line.
        line: u64,
        /// The case's column.
        column: u64,
        /// Why.
        error: Box<RunError>,
    },
}

/// What a case checks of a repository's plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, strum::IntoStaticStr)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Aspect {
    /// The repository's status.
    Status,
    /// The tags that stay.
    Kept,
    /// The tags removed.
    Removed,
    /// The images deleted.
    Deleted,
    /// The warnings' codes.
    Warnings,
}

impl Aspect {
    /// How the output names it.
    pub fn label(self) -> &'static str {
        match self {
            Aspect::Status => "status",
            Aspect::Kept => "tags kept",
            Aspect::Removed => "tags removed",
            Aspect::Deleted => "images deleted",
            Aspect::Warnings => "warnings",
        }
    }
}

/// One difference between what a case expects and what the plan does.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Mismatch {
    /// The repository, as the case names it.
    pub repository: String,
    /// What differs.
    pub aspect: Aspect,
    /// Expected, but not what the plan does.
    pub missing: Vec<String>,
    /// What the plan does, but not expected.
    pub unexpected: Vec<String>,
}

/// The outcome of one case.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct CaseOutcome {
    /// The test file, as shown.
    pub file: String,
    /// The line of the case in it.
    pub line: u64,
    /// Its column.
    pub column: u64,
    /// The case's name.
    pub name: String,
    /// The differences; none when the case passed.
    pub mismatches: Vec<Mismatch>,
}

impl CaseOutcome {
    /// True when the plan did what the case expects.
    pub fn passed(&self) -> bool {
        self.mismatches.is_empty()
    }
}

/// Every case's outcome, in file and case order.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct TestOutcome {
    /// The cases.
    pub cases: Vec<CaseOutcome>,
}

impl TestOutcome {
    /// How many passed.
    pub fn passed(&self) -> usize {
        self.cases.iter().filter(|c| c.passed()).count()
    }

    /// How many failed.
    pub fn failed(&self) -> usize {
        self.cases.len() - self.passed()
    }
}

/// Finds the test files under `paths` (a file as given; a folder searched for
/// `*.test.yaml` and `*.test.yml`, hidden folders skipped), sorted.
pub fn discover(paths: &[PathBuf]) -> Result<Vec<PathBuf>, TestError> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), TestError> {
        let io = |e: std::io::Error| TestError::Io {
            path: dir.display().to_string(),
            message: e.to_string(),
        };
        for entry in std::fs::read_dir(dir).map_err(io)? {
            let entry = entry.map_err(io)?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            if path.is_dir() {
                if !name.starts_with('.') {
                    walk(&path, out)?;
                }
            } else if is_test_file(&name) {
                out.push(path);
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut found = Vec::new();
            walk(p, &mut found)?;
            found.sort();
            out.extend(found);
        } else if p.exists() {
            out.push(p.clone());
        } else {
            return Err(TestError::Io {
                path: p.display().to_string(),
                message: "no such file or directory".into(),
            });
        }
    }
    if out.is_empty() {
        let shown: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        return Err(TestError::NoFiles(shown.join(", ")));
    }
    Ok(out)
}

/// Whether a file name is a test file's.
pub fn is_test_file(name: &str) -> bool {
    TEST_FILE_SUFFIXES.iter().any(|s| name.ends_with(s))
}

/// Reads and checks a test file; `shown` names it in errors.
pub fn parse(shown: &str, text: &str) -> Result<TestFile, TestError> {
    use serde_saphyr::MessageFormatter as _;
    let invalid = |line: u64, column: u64, message: String| TestError::Invalid {
        file: shown.to_owned(),
        line,
        column,
        message,
    };
    let parsed: TestFile =
        serde_saphyr::from_str_with_options(text, crate::config::yaml::options()).map_err(
            |err| {
                let message = serde_saphyr::UserMessageFormatter
                    .format_message(&err)
                    .into_owned();
                let (line, column) = err
                    .location()
                    .map_or((1, 1), |l| (l.line().max(1), l.column().max(1)));
                invalid(line, column, message)
            },
        )?;
    if parsed.version != TEST_FILE_VERSION {
        return Err(invalid(
            1,
            1,
            format!(
                "unsupported version {}: this program reads version {TEST_FILE_VERSION}",
                parsed.version
            ),
        ));
    }
    if parsed.tests.is_empty() {
        return Err(invalid(1, 1, "`tests` lists no case".into()));
    }
    for case in &parsed.tests {
        let at = |s: &Spanned<String>, message: String| {
            invalid(s.referenced.line(), s.referenced.column(), message)
        };
        let (line, column) = (case.referenced.line(), case.referenced.column());
        match (&case.value.snapshot, &case.value.registry) {
            (Some(_), Some(_)) | (None, None) => {
                return Err(invalid(
                    line,
                    column,
                    format!(
                        "case `{}`: give the registry state as `snapshot` (a file) or as `registry` (inline), one of them",
                        case.value.name
                    ),
                ));
            }
            (None, Some(_)) if case.value.now.is_none() => {
                return Err(invalid(
                    line,
                    column,
                    format!(
                        "case `{}`: an inline registry needs `now`, the instant the plan is made for",
                        case.value.name
                    ),
                ));
            }
            _ => {}
        }
        for expect in case.value.expect.values() {
            for entry in expect.deleted.iter().flatten() {
                ImageName::parse(&entry.value).map_err(|e| at(entry, format!("`deleted`: {e}")))?;
            }
            for entry in expect.warnings.iter().flatten() {
                if file::warning_code(&entry.value).is_none() {
                    return Err(at(
                        entry,
                        format!(
                            "`{}` is not a warning code of the plan (they are listed in docs/src/diags/plan.md)",
                            entry.value
                        ),
                    ));
                }
            }
        }
    }
    Ok(parsed)
}

/// Runs every case of the test files under `paths`. Every file is read and checked,
/// and every desired state loaded, before the first case runs.
pub fn run(paths: &[PathBuf]) -> Result<TestOutcome, TestError> {
    let files = discover(paths)?;
    let mut loaded = Vec::with_capacity(files.len());
    for path in files {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(&path).map_err(|e| TestError::Io {
            path: shown.clone(),
            message: e.to_string(),
        })?;
        let test = parse(&shown, &text)?;
        let folder = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        let desired_paths: Vec<PathBuf> = if test.desired.is_empty() {
            vec![if folder.as_os_str().is_empty() {
                PathBuf::from(".")
            } else {
                folder.clone()
            }]
        } else {
            test.desired.iter().map(|d| folder.join(d)).collect()
        };
        let desired = crate::config::load(&desired_paths).map_err(|errors| TestError::Desired {
            file: shown.clone(),
            errors,
        })?;
        loaded.push((shown, folder, test, desired));
    }
    let mut outcome = TestOutcome::default();
    for (shown, folder, test, desired) in &loaded {
        for case in &test.tests {
            outcome.cases.push(run_case(shown, folder, case, desired)?);
        }
    }
    Ok(outcome)
}

/// The registry state of a case, as a snapshot (an inline one is checked as a
/// snapshot file is).
fn case_snapshot(
    shown: &str,
    folder: &Path,
    case: &Spanned<file::TestCase>,
) -> Result<(Snapshot, PathBuf), SnapshotError> {
    if let Some(path) = &case.value.snapshot {
        let path = folder.join(path);
        return Ok((snapshot::read(&path)?, path));
    }
    let Some(inline) = &case.value.registry else {
        unreachable!("checked when parsed: a case has a snapshot or a registry")
    };
    let location =
        crate::model::RegistryLocation::private(inline.account.clone(), inline.region.clone());
    let repositories = inline.repositories.iter().map(|(name, images)| {
        let reference = RepositoryRef {
            registry: location.clone(),
            name: name.clone(),
        };
        let images = images
            .iter()
            .enumerate()
            .map(|(n, img)| inline_image(&reference, n, img))
            .collect();
        (reference, images, None)
    });
    let snap = Snapshot::from_repositories(case.value.now, repositories);
    // Checked as a snapshot file is: children in the repository, digests unique...
    let label = format!("{shown}:{}", case.referenced.line());
    let json = serde_json::to_vec(&snap).expect("a snapshot serializes");
    Ok((snapshot::parse(&label, &json)?, PathBuf::from(shown)))
}

/// An inline image as a snapshot image.
fn inline_image(reference: &RepositoryRef, n: usize, img: &file::InlineImage) -> SnapshotImage {
    let digest = img.digest.clone().unwrap_or_else(|| {
        Digest::parse(crate::hash::sha256(format!("{reference}#{n}").as_bytes()))
            .expect("a SHA-256 digest")
    });
    let media = if img.children.is_empty() {
        media_type::OCI_MANIFEST
    } else {
        media_type::OCI_INDEX
    };
    SnapshotImage {
        digest,
        tags: img.tags.clone(),
        pushed_at: img.pushed_at,
        manifest_media_type: Some(crate::model::MediaType::new(media)),
        artifact_media_type: None,
        size_bytes: img.size_bytes,
        subject: img.subject.clone(),
        status: img.status,
        last_recorded_pull_time: img.last_pulled_at,
        last_archived_at: None,
        last_activated_at: None,
        children: img.children.clone(),
        manifest: None,
    }
}

fn run_case(
    shown: &str,
    folder: &Path,
    case: &Spanned<file::TestCase>,
    desired: &DesiredState,
) -> Result<CaseOutcome, TestError> {
    let (line, column) = (case.referenced.line(), case.referenced.column());
    let (snap, path) = case_snapshot(shown, folder, case).map_err(|error| TestError::Snapshot {
        file: shown.to_owned(),
        line,
        column,
        error: Box::new(error),
    })?;
    let plan_error = |error: RunError| TestError::Plan {
        file: shown.to_owned(),
        line,
        column,
        error: Box::new(error),
    };
    let source = Source::offline(snap, path).map_err(|e| TestError::Io {
        path: shown.to_owned(),
        message: e.to_string(),
    })?;
    let now: DateTime<Utc> = source.now(case.value.now);
    let settings = source.settings(now, case.value.allow_empty);
    let plan = super::plan::plan_with(&source, desired, &settings).map_err(plan_error)?;
    let mut mismatches = Vec::new();
    for (key, expect) in &case.value.expect {
        let repo = find_repository(&plan, key).map_err(|message| TestError::Invalid {
            file: shown.to_owned(),
            line: key.0.referenced.line(),
            column: key.0.referenced.column(),
            message,
        })?;
        mismatches.extend(compare(&key.0.value, expect, repo, &plan));
    }
    Ok(CaseOutcome {
        file: shown.to_owned(),
        line,
        column,
        name: case.value.name.clone(),
        mismatches,
    })
}

/// The repository of the plan a key of `expect` names: by name, or by its full label
/// (`name (account/region)`).
fn find_repository<'p>(plan: &'p Plan, key: &Key) -> Result<&'p RepositoryPlan, String> {
    let wanted = key.0.value.as_str();
    if let Some(r) = plan
        .repositories
        .iter()
        .find(|r| r.repository.to_string() == wanted)
    {
        return Ok(r);
    }
    let by_name: Vec<&RepositoryPlan> = plan
        .repositories
        .iter()
        .filter(|r| r.repository.name.as_str() == wanted)
        .collect();
    match by_name.as_slice() {
        [one] => Ok(one),
        [] => Err(format!(
            "`expect` names `{wanted}`, which the desired state does not declare (it declares {})",
            plan.repositories
                .iter()
                .map(|r| format!("`{}`", r.repository.name))
                .collect::<Vec<_>>()
                .join(", ")
        )),
        many => Err(format!(
            "`{wanted}` is declared {} times; name one as {}",
            many.len(),
            many.iter()
                .map(|r| format!("`{}`", r.repository))
                .collect::<Vec<_>>()
                .join(" or ")
        )),
    }
}

/// The differences between `expect` and the plan of `repo`.
pub fn compare(
    name: &str,
    expect: &Expectation,
    repo: &RepositoryPlan,
    plan: &Plan,
) -> Vec<Mismatch> {
    let mut out = Vec::new();
    let mut check = |aspect: Aspect, expected: Vec<String>, planned: Vec<String>| {
        let (missing, unexpected) = set_diff(expected, planned);
        if !missing.is_empty() || !unexpected.is_empty() {
            out.push(Mismatch {
                repository: name.to_owned(),
                aspect,
                missing,
                unexpected,
            });
        }
    };
    if let Some(status) = expect.status {
        check(
            Aspect::Status,
            vec![status_name(status)],
            vec![status_name(repo.status)],
        );
    }
    if let Some(kept) = &expect.kept {
        check(
            Aspect::Kept,
            kept.iter().map(ToString::to_string).collect(),
            repo.tags_kept.iter().map(ToString::to_string).collect(),
        );
    }
    if let Some(removed) = &expect.removed {
        let planned = repo
            .actions
            .iter()
            .flat_map(|a| a.tags.iter().map(ToString::to_string))
            .collect();
        check(
            Aspect::Removed,
            removed.iter().map(ToString::to_string).collect(),
            planned,
        );
    }
    if let Some(deleted) = &expect.deleted {
        let names: Vec<ImageName> = deleted
            .iter()
            .filter_map(|d| ImageName::parse(&d.value).ok())
            .collect();
        // A deleted image is named as the case names it (its digest, or the tag the
        // case gives), else by its first tag, else by its digest.
        let planned = repo
            .actions
            .iter()
            .filter(|a| a.kind == ActionKind::Delete)
            .map(|a| {
                names
                    .iter()
                    .find_map(|n| match n {
                        ImageName::Digest(d) if *d == a.digest => Some(d.to_string()),
                        ImageName::Tag(t) if a.tags.contains(t) => Some(t.to_string()),
                        _ => None,
                    })
                    .or_else(|| a.tags.first().map(ToString::to_string))
                    .unwrap_or_else(|| a.digest.to_string())
            })
            .collect();
        check(
            Aspect::Deleted,
            deleted.iter().map(|d| d.value.clone()).collect(),
            planned,
        );
    }
    if let Some(warnings) = &expect.warnings {
        let label = repo.repository.to_string();
        let planned = plan
            .warnings
            .iter()
            .filter(|w| w.repository == label)
            .map(|w| w.code.as_str().to_owned())
            .collect();
        let expected = warnings
            .iter()
            .filter_map(|w| file::warning_code(&w.value))
            .map(|c| c.as_str().to_owned())
            .collect();
        check(Aspect::Warnings, expected, planned);
    }
    out
}

fn status_name(status: RepositoryStatus) -> String {
    serde_json::to_value(status)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// What `expected` has that `planned` has not, and the reverse; each sorted, each
/// value once.
fn set_diff(expected: Vec<String>, planned: Vec<String>) -> (Vec<String>, Vec<String>) {
    let expected: std::collections::BTreeSet<String> = expected.into_iter().collect();
    let planned: std::collections::BTreeSet<String> = planned.into_iter().collect();
    (
        expected.difference(&planned).cloned().collect(),
        planned.difference(&expected).cloned().collect(),
    )
}

#[cfg(test)]
mod tests;
