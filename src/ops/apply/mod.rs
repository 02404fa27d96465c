//! The `apply` operation: every decision between the desired state and the removal
//! protocol ([`protocol`]): which plan is applied (a fresh one, or a saved one
//! once verified), whether there is anything to do, the `--max-delete` guard, whether
//! confirmation is needed and possible, the journal, and writing a snapshot back.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::Source;
use super::plan::plan_with;
use super::run::RunError;
use super::source::SourceError;
use super::verify::{VerifyError, read_saved_plan, verify};
mod confirm;
pub mod protocol;
mod report;
mod steps;
mod wait;

pub use super::cancel::Cancel;
pub use super::journal::{Journal, JournalContents, JournalEntry, JournalError};
use crate::config::DesiredState;
use crate::plan::Plan;
use crate::registry::CallCounts;
use crate::registry::RetryCounts;
use crate::text::human_bytes;
pub use protocol::{
    ApplyOptions, ApplyReport, DEFAULT_PARALLELISM, Failure, Progress, ProtocolError, Quiet,
    Skipped, apply_plan, apply_plan_cancellable, apply_plan_with, planned_deletions, planned_ids,
};
pub use report::ReactivationWait;
pub use wait::{WAIT_INTERVAL, WaitSettings};

/// What `apply` was asked for.
#[derive(Clone, Debug, Default)]
pub struct ApplyRequest {
    /// Apply this saved plan (verified first) instead of planning afresh.
    pub saved_plan: Option<PathBuf>,
    /// Evaluate `max_age` at this instant (default: the saved plan's creation, else
    /// see [`Source::now`]).
    pub now: Option<DateTime<Utc>>,
    /// Lift the guard that refuses a plan deleting every image of a repository.
    pub allow_empty: bool,
    /// Also make removals whose manifest could not be saved to the journal (restore
    /// cannot undo them); by default they are not made, and reported as failures.
    pub allow_unrestorable: bool,
    /// Once the reactivations are made, wait until ECR has made them active again
    /// (`--wait`).
    pub wait: Option<WaitSettings>,
}

/// The guards between a plan and its removals.
#[derive(Clone, Copy, Debug, Default)]
pub struct Guards {
    /// Refuse a run that would delete more than this many images.
    pub max_delete: Option<usize>,
    /// Refuse a run that would free more than this many bytes.
    pub max_delete_bytes: Option<u64>,
    /// Apply without asking.
    pub auto_approve: bool,
    /// There is a terminal to ask on.
    pub interactive: bool,
}

/// What happens next, once the guards have passed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gate {
    /// The plan removes nothing: done.
    NothingToDo,
    /// Ask on the terminal; go on only on "yes".
    Confirm,
    /// Go on.
    Proceed,
}

/// Why an apply did not start, or stopped. Removals already made stay made (and
/// journalled); before the protocol starts, nothing is removed.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ApplyError {
    /// The saved plan was refused.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Verify(#[from] VerifyError),
    /// No plan could be made.
    #[error(transparent)]
    #[diagnostic(code(apply::registry))]
    Plan(
        #[from]
        #[diagnostic_source]
        RunError,
    ),
    /// A declared repository could not be read: apply does not start.
    #[error(
        "apply does not start: {}; nothing was removed",
        .0.iter().map(|(r, e)| format!("{r} could not be read ({e})")).collect::<Vec<_>>().join("; ")
    )]
    #[diagnostic(code(apply::unreadable))]
    Unreadable(Vec<(String, String)>),
    /// The plan deletes more images than `--max-delete` allows.
    #[error(
        "the plan deletes {deletions} images, more than --max-delete {max}; nothing was applied"
    )]
    #[diagnostic(code(apply::max_delete))]
    TooManyDeletions {
        /// Images the plan deletes.
        deletions: usize,
        /// The limit.
        max: usize,
    },
    /// The plan frees more bytes than `--max-delete-bytes` allows.
    #[error(
        "the plan frees {} ({freed} bytes{}) in {deletions} images, more than --max-delete-bytes {} ({max} bytes); nothing was applied",
        human_bytes(*freed),
        if *exact { "" } else { ", estimated" },
        human_bytes(*max)
    )]
    #[diagnostic(code(apply::max_delete_bytes))]
    TooManyBytes {
        /// Bytes the plan frees.
        freed: u64,
        /// Whether that figure is exact.
        exact: bool,
        /// Images the plan deletes.
        deletions: usize,
        /// The limit.
        max: u64,
    },
    /// A repository's plan is over its `max_delete`.
    #[error(
        "{repository}: the plan deletes {deletions} images and frees {}{}, over its `max_delete` ({limit}) declared at {origin}; nothing was applied",
        human_bytes(*freed),
        if *exact { "" } else { " (estimated)" }
    )]
    #[diagnostic(
        code(apply::repository_max_delete),
        help("raise or remove `max_delete` in the desired state if these deletions are intended")
    )]
    RepositoryLimit {
        /// The repository.
        repository: String,
        /// Where it is declared.
        origin: crate::config::Origin,
        /// Images its plan deletes.
        deletions: usize,
        /// Bytes its plan frees.
        freed: u64,
        /// Whether that figure is exact.
        exact: bool,
        /// The limit it exceeds, as written (`images: 10`, `bytes: 2.0 GiB`).
        limit: String,
    },
    /// Confirmation is needed and there is no terminal to ask on.
    #[error(
        "apply needs confirmation, and there is no terminal to ask on; pass --auto-approve (after reviewing the plan) to apply without asking"
    )]
    #[diagnostic(code(apply::no_terminal))]
    NoTerminal,
    /// The answer was not "yes".
    #[error("Apply cancelled; nothing was removed.")]
    #[diagnostic(code(apply::cancelled))]
    Cancelled,
    /// The journal could not be opened: nothing was removed.
    #[error("cannot open the journal {}: {source}", path.display())]
    #[diagnostic(code(apply::journal))]
    Journal {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The protocol stopped (the journal could not be written).
    #[error("{error}; what was removed before is in the journal {}", journal.display())]
    #[diagnostic(code(apply::stopped))]
    Stopped {
        /// What stopped it.
        error: ProtocolError,
        /// The journal.
        journal: PathBuf,
    },
    /// The snapshot could not be written back.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Source(#[from] SourceError),
}

/// A plan ready to apply: fresh, or saved and verified.
#[derive(Debug)]
pub struct Prepared<'s> {
    source: &'s Source,
    plan: Plan,
    allow_unrestorable: bool,
    wait: Option<WaitSettings>,
    /// With in-use sources: the files and settings to plan again just before removing
    /// (a deployment may start while the plan is reviewed).
    recheck: Option<(DesiredState, super::run::RunSettings)>,
}

/// Everything an apply did, as `apply --format json` prints it.
#[derive(Debug, Serialize)]
pub struct ApplyOutcome {
    /// The report format version ([`crate::ops::report::REPORT_VERSION`]).
    pub version: u32,
    /// What was removed, skipped and refused.
    pub report: ApplyReport,
    /// Registry calls, by operation (the plan's included).
    pub api_calls: CallCounts,
    /// Calls made to read the live in-use sources (for the plan, and again before
    /// removing): ECS and Lambda by operation, Kubernetes list calls by cluster and
    /// resource; absent when none was made.
    #[serde(skip_serializing_if = "crate::deployed::LiveCalls::is_empty")]
    pub in_use_calls: crate::deployed::LiveCalls,
    /// Retries and throttling.
    pub retries: RetryCounts,
    /// The journal of every removal.
    pub journal: String,
}

/// The plan to apply: the saved one, verified against the files and the registry,
/// or a fresh one.
pub fn prepare<'s>(
    source: &'s Source,
    desired: &DesiredState,
    request: &ApplyRequest,
) -> Result<Prepared<'s>, ApplyError> {
    let saved = request
        .saved_plan
        .as_deref()
        .map(read_saved_plan)
        .transpose()?;
    let now = source.now(request.now.or(saved.as_ref().map(|p| p.created_at)));
    let settings = source.settings(now, request.allow_empty);
    let plan = match saved {
        Some(saved) => {
            verify(source, desired, &saved, &settings)?;
            saved
        }
        None => plan_with(source, desired, &settings)?,
    };
    if let Some(super::plan::PlanError::Unreadable(unreadable)) = super::plan::unreadable(&plan) {
        return Err(ApplyError::Unreadable(unreadable));
    }
    let recheck = (!desired.in_use.is_empty()).then(|| (desired.clone(), settings));
    Ok(Prepared {
        source,
        plan,
        allow_unrestorable: request.allow_unrestorable,
        wait: request.wait,
        recheck,
    })
}

/// The default journal: `.ecr-reconcile/journal-<UTC time>.jsonl` under the working
/// directory.
pub fn default_journal(now: DateTime<Utc>) -> PathBuf {
    PathBuf::from(".ecr-reconcile").join(format!(
        "journal-{}.jsonl",
        now.format("%Y%m%dT%H%M%S%.3fZ")
    ))
}

impl<'s> Prepared<'s> {
    /// The plan that will be applied.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// How many identifiers the removals send (for progress).
    pub fn removals(&self) -> usize {
        planned_ids(&self.plan)
    }

    /// Runs the guards, in order: nothing to do, `--max-delete`, `--max-delete-bytes`,
    /// the repositories' `max_delete`, confirmation.
    pub fn gate(&self, guards: &Guards) -> Result<Gate, ApplyError> {
        if !self.plan.has_changes() || self.removals() == 0 {
            return Ok(Gate::NothingToDo);
        }
        let deletions = planned_deletions(&self.plan);
        if let Some(max) = guards.max_delete
            && deletions > max
        {
            return Err(ApplyError::TooManyDeletions { deletions, max });
        }
        let summary = &self.plan.summary;
        if let Some(max) = guards.max_delete_bytes
            && summary.freed_bytes > max
        {
            return Err(ApplyError::TooManyBytes {
                freed: summary.freed_bytes,
                exact: summary.freed_bytes_exact,
                deletions,
                max,
            });
        }
        if let Some(e) = over_repository_limit(&self.plan) {
            return Err(e);
        }
        match (guards.auto_approve, guards.interactive) {
            (true, _) => Ok(Gate::Proceed),
            (false, true) => Ok(Gate::Confirm),
            (false, false) => Err(ApplyError::NoTerminal),
        }
    }

    /// Applies the plan under the removal protocol, journalling to `journal`
    /// (default: [`default_journal`]), then writes a snapshot source back.
    pub fn execute(
        self,
        journal: Option<&Path>,
        progress: &dyn Progress,
    ) -> Result<ApplyOutcome, ApplyError> {
        self.execute_cancellable(journal, progress, &Cancel::new())
    }

    /// [`Prepared::execute`], stopped by `cancel` (see [`apply_plan_cancellable`]);
    /// a cancelled apply still returns its report.
    pub fn execute_cancellable(
        self,
        journal: Option<&Path>,
        progress: &dyn Progress,
        cancel: &Cancel,
    ) -> Result<ApplyOutcome, ApplyError> {
        let started = Utc::now();
        let path = journal.map_or_else(|| default_journal(started), Path::to_owned);
        let mut journal = Journal::open(&path).map_err(|source| ApplyError::Journal {
            path: path.clone(),
            source,
        })?;
        let source = self.source;
        // Images that came into use since the plan stay: plan again with the sources
        // read now, and make only the removals both plans make.
        let (plan, dropped) = match &self.recheck {
            Some((desired, settings)) => {
                let fresh =
                    source.block_on(super::run::make_plan(&source.backend, desired, settings))?;
                crate::plan::stale::restrict(&self.plan, &fresh)
            }
            None => (self.plan, Vec::new()),
        };
        let mut report = source
            .block_on(apply_plan_cancellable(
                &source.backend,
                &plan,
                &mut journal,
                progress,
                ApplyOptions {
                    parallelism: source.parallelism(),
                    allow_unrestorable: self.allow_unrestorable,
                    now: started,
                },
                cancel,
            ))
            .map_err(|error| ApplyError::Stopped {
                error,
                journal: path.clone(),
            })?;
        if let Some(settings) = self.wait
            && wait::reactivates(&plan)
            && !cancel.is_cancelled()
        {
            let waited = source.block_on(wait::until_active(
                &source.backend,
                &plan,
                settings,
                progress,
                cancel,
            ));
            match waited {
                Ok(w) => report.reactivation_wait = Some(w),
                // The reactivations are made and journalled: the read that failed is
                // the report's failure, not a stop.
                Err((repository, e)) => report.fail(Failure::new(
                    &repository,
                    None,
                    &e,
                    format!("reading the status of its reactivated images: {e}"),
                )),
            }
        }
        for (repository, action) in dropped {
            let reason = "in use now (a source names it since the plan); it stays".to_owned();
            let skip = |tag: Option<&crate::model::Tag>| {
                Skipped::new(&repository, &action.digest, tag, reason.clone())
            };
            if action.tags.is_empty() {
                report.skipped.push(skip(None));
            }
            report
                .skipped
                .extend(action.tags.iter().map(|t| skip(Some(t))));
        }
        source.write_back()?;
        source.log_calls();
        Ok(ApplyOutcome {
            version: crate::ops::report::REPORT_VERSION,
            report,
            api_calls: source.calls(),
            in_use_calls: source.live_calls(),
            retries: source.retries(),
            journal: path.display().to_string(),
        })
    }
}

/// The first repository whose plan is over its `max_delete`, as the refusal.
fn over_repository_limit(plan: &Plan) -> Option<ApplyError> {
    plan.repositories
        .iter()
        .filter(|r| r.status == crate::plan::RepositoryStatus::Changes)
        .find_map(|r| {
            let limit = r.max_delete?;
            let deletions = r
                .actions
                .iter()
                .filter(|a| a.kind == crate::plan::ActionKind::Delete)
                .count();
            let over = match (limit.images, limit.bytes) {
                (Some(n), _) if deletions as u64 > n => format!("images: {n}"),
                (_, Some(b)) if r.freed_bytes > b => format!("bytes: {}", human_bytes(b)),
                _ => return None,
            };
            Some(ApplyError::RepositoryLimit {
                repository: r.repository.to_string(),
                origin: r.declared_at.clone(),
                deletions,
                freed: r.freed_bytes,
                exact: r.freed_bytes_exact,
                limit: over,
            })
        })
}
