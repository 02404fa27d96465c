//! The `restore` operation: every decision around the restore protocol
//! ([`protocol`]): reading the journal, choosing repositories, planning against
//! the registry now, whether confirmation is needed and possible, and writing a
//! snapshot back.

use std::path::PathBuf;

use serde::Serialize;

use super::Source;
use super::apply::Gate;
use super::journal::{Journal, JournalError};
use super::pace::{Pacer, TokioClock};
use super::source::SourceError;
use crate::model::RepositoryRef;
use crate::registry::RetryCounts;
use crate::registry::{CallCounts, RegistryError};
pub mod protocol;

pub use protocol::{RestorePlan, RestoreReport};

/// What `restore` was asked for.
#[derive(Clone, Debug, Default)]
pub struct RestoreRequest {
    /// The journal an apply wrote.
    pub journal: PathBuf,
    /// Restore only these repositories (by name); empty: every one in the journal.
    pub repositories: Vec<String>,
}

/// Why a restore did not start. Nothing is pushed in any of these cases.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum RestoreError {
    /// The journal could not be read, or a line of it is damaged.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Journal(#[from] JournalError),
    /// `--repository` names a repository the journal does not mention.
    #[error(
        "--repository {name}: the journal {} records no removal in that repository",
        journal.display()
    )]
    #[diagnostic(code(restore::unknown_repository))]
    UnknownRepository {
        /// The name given.
        name: String,
        /// The journal.
        journal: PathBuf,
    },
    /// A repository could not be read.
    #[error("{repository}: {error}; nothing was restored")]
    #[diagnostic(code(restore::registry))]
    Registry {
        /// The repository.
        repository: RepositoryRef,
        /// What the registry said.
        error: RegistryError,
    },
    /// Confirmation is needed and there is no terminal to ask on.
    #[error(
        "restore needs confirmation, and there is no terminal to ask on; pass --auto-approve (after reviewing the plan) to restore without asking"
    )]
    #[diagnostic(code(restore::no_terminal))]
    NoTerminal,
    /// The answer was not "yes".
    #[error("Restore cancelled; nothing was pushed.")]
    #[diagnostic(code(restore::cancelled))]
    Cancelled,
    /// The snapshot could not be written back.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Source(#[from] SourceError),
}

/// A restore planned against the registry now.
#[derive(Debug)]
pub struct PreparedRestore<'s> {
    source: &'s Source,
    plan: RestorePlan,
    truncated_tail: bool,
}

/// Everything a restore did, as `restore --format json` prints it.
#[derive(Debug, Serialize)]
pub struct RestoreOutcome {
    /// The report format version ([`crate::ops::report::REPORT_VERSION`]).
    pub version: u32,
    /// What was planned.
    pub plan: RestorePlan,
    /// What was done.
    pub report: RestoreReport,
    /// Registry calls, by operation.
    pub api_calls: CallCounts,
    /// Retries and throttling.
    pub retries: RetryCounts,
}

/// Reads the journal and plans the restore of the chosen repositories.
pub fn prepare<'s>(
    source: &'s Source,
    request: &RestoreRequest,
) -> Result<PreparedRestore<'s>, RestoreError> {
    let journal = Journal::read(&request.journal)?;
    for name in &request.repositories {
        if !journal
            .entries
            .iter()
            .any(|e| e.repository.name.as_str() == name)
        {
            return Err(RestoreError::UnknownRepository {
                name: name.clone(),
                journal: request.journal.clone(),
            });
        }
    }
    let entries = protocol::select(&journal.entries, &request.repositories);
    let plan = source.block_on(protocol::plan(&source.backend, &entries))?;
    Ok(PreparedRestore {
        source,
        plan,
        truncated_tail: journal.truncated_tail,
    })
}

impl<'s> PreparedRestore<'s> {
    /// The restore plan.
    pub fn plan(&self) -> &RestorePlan {
        &self.plan
    }

    /// True when the journal's last line was cut short by a crash while it was
    /// written (the removal it announced was never requested).
    pub fn truncated_tail(&self) -> bool {
        self.truncated_tail
    }

    /// Whether to ask first: only when something will be pushed.
    pub fn gate(&self, auto_approve: bool, interactive: bool) -> Result<Gate, RestoreError> {
        match (self.plan.has_work(), auto_approve, interactive) {
            (false, _, _) | (true, true, _) => Ok(Gate::Proceed),
            (true, false, true) => Ok(Gate::Confirm),
            (true, false, false) => Err(RestoreError::NoTerminal),
        }
    }

    /// Pushes what the plan says (with nothing to push, only collects the plan's
    /// problems), then writes a snapshot source back.
    pub fn execute(self) -> Result<RestoreOutcome, RestoreError> {
        let source = self.source;
        let pacer = Pacer::put_image(TokioClock::default());
        let report = source.block_on(protocol::execute(&source.backend, &self.plan, &pacer));
        if self.plan.has_work() {
            source.write_back()?;
        }
        source.log_calls();
        Ok(RestoreOutcome {
            version: crate::ops::report::REPORT_VERSION,
            plan: self.plan,
            report,
            api_calls: source.calls(),
            retries: source.retries(),
        })
    }
}
