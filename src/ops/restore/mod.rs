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
use super::restored::{self, RECORD_VERSION, RestoreRecord};
use super::source::SourceError;
use crate::model::RepositoryRef;
use crate::registry::RetryCounts;
use crate::registry::{CallCounts, RegistryError};
mod answer;
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
    /// The restore record could not be written: before any push, restore stops; after
    /// the pushes, the images are back but the next plan would rank them as new.
    #[error(
        "restore record in {}: {error}; without it, plans would rank the re-created images as new pushes (restore refuses to start when it cannot write there; once started, `--format json` lists the re-created images under report.recreated)",
        dir.display()
    )]
    #[diagnostic(code(restore::record_not_written))]
    Record {
        /// The folder.
        dir: PathBuf,
        /// Why.
        error: std::io::Error,
    },
}

/// A restore planned against the registry now.
#[derive(Debug)]
pub struct PreparedRestore<'s> {
    source: &'s Source,
    plan: RestorePlan,
    truncated_tail: bool,
    /// Where the restore record goes: beside the journal.
    record_dir: PathBuf,
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
    /// The restore record written (when images were pushed again): the push times
    /// they had before, which the next plans rank them by.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record: Option<PathBuf>,
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
    let record_dir = request
        .journal
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), PathBuf::from);
    Ok(PreparedRestore {
        source,
        plan,
        truncated_tail: journal.truncated_tail,
        record_dir,
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
        self.execute_cancellable(&crate::ops::cancel::Cancel::new())
    }

    /// [`Prepared::execute`], stopped by `cancel`: nothing more is pushed once it is
    /// set, and the report counts what was not started.
    pub fn execute_cancellable(
        self,
        cancel: &crate::ops::cancel::Cancel,
    ) -> Result<RestoreOutcome, RestoreError> {
        let source = self.source;
        // The record must be writable before anything is pushed again.
        let dir = self.record_dir.as_path();
        if self.plan.images_to_recreate() > 0 {
            restored::check_writable(dir).map_err(|error| RestoreError::Record {
                dir: dir.to_owned(),
                error,
            })?;
        }
        // ECR's PutImage quota; a snapshot has none, and an offline restore is instant.
        let pacer = if source.backend.is_offline() {
            Pacer::unlimited(TokioClock::default())
        } else {
            Pacer::put_image(TokioClock::default())
        };
        let started_at = chrono::Utc::now();
        let report = source.block_on(protocol::execute(
            &source.backend,
            &self.plan,
            &pacer,
            cancel,
        ));
        let finished_at = chrono::Utc::now();
        if self.plan.has_work() {
            source.write_back()?;
        }
        // Written even when some pushes failed: every image in it was pushed again.
        let record = if report.recreated.is_empty() {
            None
        } else {
            let record = RestoreRecord {
                version: RECORD_VERSION,
                started_at,
                finished_at,
                images: report.recreated.clone(),
            };
            Some(
                restored::write(dir, &record).map_err(|error| RestoreError::Record {
                    dir: dir.to_owned(),
                    error,
                })?,
            )
        };
        source.log_calls();
        Ok(RestoreOutcome {
            version: crate::ops::report::REPORT_VERSION,
            plan: self.plan,
            report,
            record,
            api_calls: source.calls(),
            retries: source.retries(),
        })
    }
}
