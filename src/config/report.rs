//! `validate --format json`: every problem of the desired-state files as data, for
//! editors, CI annotations and scripts (schema: `schema/validation.schema.json`).

use schemars::JsonSchema;
use serde::Serialize;

use super::{ConfigDiagnostic, ConfigErrors, DesiredState};

/// The format version of the validation report.
pub const VALIDATION_VERSION: u32 = 1;

/// What `validate --format json` prints.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct ValidationReport {
    /// The format version (1).
    pub version: u32,
    /// True when every file is valid (then `problems` is empty).
    pub valid: bool,
    /// The files read, as shown (empty when the files are invalid).
    pub files: Vec<String>,
    /// How many repositories they declare (0 when the files are invalid).
    pub repositories: usize,
    /// What directory search skipped on purpose (`--exclude`, `.ecr-reconcile-ignore`).
    pub excluded: Vec<ExcludedPath>,
    /// YAML files directory search found that are not desired-state files (no
    /// top-level `version` or `repositories`), skipped; empty when the files are
    /// invalid.
    pub not_desired_state: Vec<String>,
    /// Every problem, in file order.
    pub problems: Vec<Problem>,
}

/// A path directory search skipped, and the pattern that matched.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct ExcludedPath {
    /// The path, as shown.
    pub path: String,
    /// The pattern and where it comes from.
    pub by: String,
}

/// How serious a problem is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The files cannot be used: `plan` and `apply` refuse them.
    Error,
}

/// One problem.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct Problem {
    /// The stable code (`config::unknown-key`, ...), as the book lists them (`docs/src/diags/`).
    pub code: String,
    /// How serious it is.
    pub severity: Severity,
    /// The file, when the problem is in one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// The 1-based line, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    /// The 1-based column (in characters), when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<u32>,
    /// What is wrong.
    pub message: String,
    /// What the position is (the text under the caret in the terminal); may be empty.
    pub label: String,
    /// How to fix it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
    /// Other places involved (the first declaration of a duplicate repository).
    pub related: Vec<Problem>,
}

impl From<&ConfigDiagnostic> for Problem {
    fn from(d: &ConfigDiagnostic) -> Self {
        Problem {
            code: d.code.as_str().to_owned(),
            severity: Severity::Error,
            file: d.file.clone(),
            line: d.span.map(|s| s.line),
            column: d.span.map(|s| s.column),
            message: d.message.clone(),
            label: d.label.clone(),
            help: d.help.clone(),
            related: d.related.iter().map(Problem::from).collect(),
        }
    }
}

impl ValidationReport {
    /// The report of a load: the valid state, or its errors.
    pub fn new(result: &Result<DesiredState, ConfigErrors>) -> Self {
        match result {
            Ok(state) => ValidationReport {
                version: VALIDATION_VERSION,
                valid: true,
                files: state.files.clone(),
                repositories: state.repositories.len(),
                excluded: state
                    .excluded
                    .iter()
                    .map(|x| ExcludedPath {
                        path: x.path.clone(),
                        by: x.by.clone(),
                    })
                    .collect(),
                not_desired_state: state.not_desired.files.clone(),
                problems: Vec::new(),
            },
            Err(errors) => ValidationReport {
                version: VALIDATION_VERSION,
                valid: false,
                files: Vec::new(),
                repositories: 0,
                excluded: Vec::new(),
                not_desired_state: Vec::new(),
                problems: errors.diagnostics.iter().map(Problem::from).collect(),
            },
        }
    }
}
