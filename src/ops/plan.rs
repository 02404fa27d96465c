//! The `plan` operation: read the declared repositories, run the engine, and save the
//! plan when asked.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use super::Source;
use super::run::{self, RunError, RunSettings};
use crate::config::DesiredState;
use crate::plan::Plan;

/// What `plan` was asked for.
#[derive(Clone, Debug, Default)]
pub struct PlanRequest {
    /// Evaluate `max_age` at this instant (default: see [`Source::now`]).
    pub now: Option<DateTime<Utc>>,
    /// Lift the guard that refuses a plan deleting every image of a repository.
    pub allow_empty: bool,
    /// Also save the plan (sealed) to this file.
    pub out: Option<PathBuf>,
}

/// Why no plan was made (or saved). Nothing is deleted in any of these cases.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum PlanError {
    /// The registry could not be read, or the files could not be resolved against it.
    #[error(transparent)]
    #[diagnostic(code(plan::registry))]
    Run(#[from] RunError),
    /// Declared repositories could not be read: the plan of the others is made and
    /// shown, and the run fails.
    #[error(
        "{}; nothing is planned for {}",
        .0.iter().map(|(r, e)| format!("{r} could not be read ({e})")).collect::<Vec<_>>().join("; "),
        if .0.len() == 1 { "it" } else { "them" }
    )]
    #[diagnostic(code(plan::unreadable))]
    Unreadable(Vec<(String, String)>),
    /// The plan could not be saved.
    #[error("cannot save the plan to {}: {source}", path.display())]
    #[diagnostic(code(plan::save))]
    Save {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// Plans every declared repository against `source`.
pub fn plan(
    source: &Source,
    desired: &DesiredState,
    request: &PlanRequest,
) -> Result<Plan, PlanError> {
    let started = std::time::Instant::now();
    let settings = source.settings(source.now(request.now), request.allow_empty);
    let plan = plan_with(source, desired, &settings)?;
    tracing::info!(elapsed = ?started.elapsed(), "planned {} repositories", plan.repositories.len());
    source.log_calls();
    if let Some(out) = &request.out {
        save(&plan, out).map_err(|source| PlanError::Save {
            path: out.clone(),
            source,
        })?;
    }
    Ok(plan)
}

/// Plans with `settings`, recording the calls it took in the plan.
pub(crate) fn plan_with(
    source: &Source,
    desired: &DesiredState,
    settings: &RunSettings,
) -> Result<Plan, RunError> {
    let mut plan = source.block_on(run::make_plan(&source.backend, desired, settings))?;
    plan.api_calls = source.calls();
    Ok(plan)
}

/// The repositories of `plan` that could not be read, with why, if any.
pub fn unreadable(plan: &Plan) -> Option<PlanError> {
    let list: Vec<(String, String)> = plan
        .unreadable()
        .map(|r| {
            (
                r.repository.to_string(),
                r.read_error.clone().unwrap_or_default(),
            )
        })
        .collect();
    (!list.is_empty()).then_some(PlanError::Unreadable(list))
}

/// Writes the plan as JSON with its checksum, atomically, so a reader never sees
/// half a plan.
pub fn save(plan: &Plan, path: &Path) -> std::io::Result<()> {
    crate::files::write_json_atomically(path, &crate::plan::saved::seal(plan))
}
