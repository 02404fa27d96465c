//! Verifying a saved plan before it is applied: it must be a sealed plan of this
//! format, made from these desired-state files, against the registry as it is now.
//! The registry is read here; the comparison is the pure [`crate::plan::stale`].

use std::path::{Path, PathBuf};

use super::Source;
use super::plan::PlanOutcome;
use super::run::{self, RunError, RunSettings};
use crate::config::{DesiredState, FingerprintDiff};
use crate::plan::Plan;
use crate::plan::saved::{self, SavedPlanError};
use crate::plan::stale::{self, StaleProblem};
use crate::registry::observe::list_all;

/// Why a saved plan is not applied. Nothing is deleted in any of these cases.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum VerifyError {
    /// The file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    #[diagnostic(code(saved_plan::io))]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a sealed plan of this format.
    #[error("{}", saved_plan_message(path, error))]
    #[diagnostic(code(saved_plan::invalid))]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        error: SavedPlanError,
    },
    /// The plan was made from other desired-state files.
    #[error(
        "the saved plan was made from other desired-state files than these ({0}); make a new plan"
    )]
    #[diagnostic(code(saved_plan::other_files))]
    OtherDesiredState(FingerprintDiff),
    /// The plan is of another shard than the one asked (`--shard`), or of the whole
    /// when a shard is asked, or the other way round.
    #[error(
        "the saved plan covers {saved}, but this apply was asked for {asked}; nothing was applied. Apply each shard's plan with the --shard and --shard-by it was made with"
    )]
    #[diagnostic(code(saved_plan::other_shard))]
    OtherShard {
        /// What the plan covers (`shard 2/4 by account`, `every repository`).
        saved: String,
        /// What the apply was asked to cover.
        asked: String,
    },
    /// The registry changed since the plan was made.
    #[error(
        "Saved plan is stale: the registry changed since it was made; nothing was applied.\n{}\nMake a new plan.",
        .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n")
    )]
    #[diagnostic(code(saved_plan::stale))]
    Stale(Vec<StaleProblem>),
    /// Every removal of the plan is done already: it was applied.
    #[error(
        "this plan was already applied ({removals} of {removals} removals are gone); nothing was applied again. Make a new plan to see what is left to do."
    )]
    #[diagnostic(code(saved_plan::already_applied))]
    AlreadyApplied {
        /// The plan's removals.
        removals: usize,
    },
    /// Removals the desired state does not ask for (an edited plan, another engine, an
    /// image in use since).
    #[error(
        "the saved plan removes what the desired state does not ask for; nothing was applied:\n{}\nMake a new plan (a saved plan was edited, made by another version, or an image came into use since).",
        .0.join("\n")
    )]
    #[diagnostic(code(saved_plan::unjustified))]
    Unjustified(Vec<String>),
    /// The registry could not be read.
    #[error(transparent)]
    #[diagnostic(code(saved_plan::registry))]
    Run(
        #[from]
        #[diagnostic_source]
        RunError,
    ),
}

fn saved_plan_message(path: &Path, error: &SavedPlanError) -> String {
    match error {
        SavedPlanError::Syntax { line, column, .. } => format!(
            "{}:{line}:{column}: not a saved plan: {} {error}; save one with `plan --out`",
            path.display(),
            path.display()
        ),
        e => format!("the saved plan {} {e}", path.display()),
    }
}

/// Reads a saved plan, refusing other format versions and any edit (checksum).
pub fn read_saved_plan(path: &Path) -> Result<Plan, VerifyError> {
    read_saved(path).map(|outcome| outcome.plan)
}

/// Reads a saved plan document: the plan and the calls it took.
pub fn read_saved(path: &Path) -> Result<PlanOutcome, VerifyError> {
    let bytes = std::fs::read(path).map_err(|source| VerifyError::Read {
        path: path.to_owned(),
        source,
    })?;
    saved::unseal(&bytes).map_err(|error| VerifyError::Invalid {
        path: path.to_owned(),
        error,
    })
}

/// Checks that `saved` still holds for `desired` and the registry now.
pub(crate) fn verify(
    source: &Source,
    desired: &DesiredState,
    saved: &Plan,
    settings: &RunSettings,
) -> Result<(), VerifyError> {
    if saved.desired_state_digest != desired.digest {
        return Err(VerifyError::OtherDesiredState(FingerprintDiff::of(
            &saved.desired_files,
            &desired.fingerprint,
        )));
    }
    if saved.shard != desired.shard_info().cloned() {
        return Err(VerifyError::OtherShard {
            saved: coverage(saved.shard.as_ref()),
            asked: coverage(desired.shard_info()),
        });
    }
    let (problems, applied) = source.block_on(stale_problems(source, desired, saved, settings))?;
    if !problems.is_empty() {
        // Every difference is the plan's own removals, done: it was applied already.
        if applied.total > 0 && applied.done == applied.total {
            return Err(VerifyError::AlreadyApplied {
                removals: applied.total,
            });
        }
        return Err(VerifyError::Stale(problems));
    }
    // Every removal must still follow from the desired state: plan again, at the saved
    // plan's instant (a pure function of the files, their in-use sources and the
    // registry, which the stale check has just found unchanged where it matters).
    let fresh = source.block_on(run::make_plan(&source.backend, desired, settings))?;
    let unjustified = stale::unjustified(saved, &fresh);
    if unjustified.is_empty() {
        Ok(())
    } else {
        Err(VerifyError::Unjustified(unjustified))
    }
}

/// What a plan (or an apply) covers, in words.
fn coverage(shard: Option<&crate::config::shard::ShardInfo>) -> String {
    match shard {
        Some(s) => format!("shard {}/{} by {}", s.index, s.count, s.by),
        None => "every repository".to_owned(),
    }
}

/// What differs from the plan, and how many of its removals are done already.
async fn stale_problems(
    source: &Source,
    desired: &DesiredState,
    saved: &Plan,
    settings: &RunSettings,
) -> Result<(Vec<StaleProblem>, stale::Applied), RunError> {
    let registry = &source.backend;
    let targets = run::resolve(registry, desired, settings.default_region.as_ref()).await?;
    let mut applied = stale::Applied::default();
    if let Some(problem) = stale::check_targets(saved, &targets) {
        return Ok((vec![problem], applied));
    }
    let mut problems = Vec::new();
    for repo in stale::repositories_to_check(saved) {
        let images = list_all(registry, &repo.repository)
            .await
            .map_err(|error| RunError::Registry {
                repository: repo.repository.to_string(),
                error,
            })?;
        problems.extend(stale::check_repository(repo, &images));
        applied.add(stale::applied(repo, &images));
    }
    Ok((problems, applied))
}
