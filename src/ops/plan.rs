//! The `plan` operation: read the declared repositories, run the engine, and save the
//! plan when asked.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Source;
use super::run::{self, RunError, RunSettings};
use crate::config::DesiredState;
use crate::deployed::LiveCalls;
use crate::plan::Plan;
use crate::registry::CallCounts;

/// A plan and the calls it took to make: what `plan` returns, prints as JSON and
/// saves (`--out`), and what `show` reads back. The plan is a pure value; the
/// counters are the run's. In the document they follow the plan's fields, and the
/// checksum of a saved plan follows them.
// The schema is the plan document's, as it was when these fields were the plan's:
// same title, description and closed set of properties.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
#[schemars(
    title = "ecr-reconcile plan",
    description = "A complete plan.",
    deny_unknown_fields
)]
pub struct PlanOutcome {
    /// The plan.
    #[serde(flatten)]
    pub plan: Plan,
    /// Registry calls made to compute the plan.
    #[serde(default)]
    pub api_calls: CallCounts,
    /// Calls made to read the live in-use sources: ECS and Lambda by operation
    /// (`ecs:ListServices`…), Kubernetes list calls by cluster and resource
    /// (`kubernetes:prod-eu:pods`); absent when none was made.
    #[serde(default, skip_serializing_if = "LiveCalls::is_empty")]
    pub in_use_calls: LiveCalls,
    /// In a saved plan: `sha256:<hex>` over the rest of the document in canonical
    /// JSON (keys sorted, no white space). A plan whose checksum is missing or does not
    /// match is refused.
    // Never set in memory: sealing adds it, reading removes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<String>,
}

impl PlanOutcome {
    /// `plan` and the calls it took.
    pub fn new(plan: Plan, api_calls: CallCounts, in_use_calls: LiveCalls) -> Self {
        Self {
            plan,
            api_calls,
            in_use_calls,
            checksum: None,
        }
    }
}

impl std::borrow::Borrow<Plan> for PlanOutcome {
    fn borrow(&self) -> &Plan {
        &self.plan
    }
}

/// The counters and the checksum are taken out of the document first; the rest must
/// be a plan, unknown fields refused.
impl<'de> Deserialize<'de> for PlanOutcome {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let mut document = serde_json::Map::deserialize(deserializer)?;
        let mut field = |key: &str| document.remove(key);
        let api_calls = field("api_calls")
            .map(serde_json::from_value)
            .transpose()
            .map_err(D::Error::custom)?
            .unwrap_or_default();
        let in_use_calls = field("in_use_calls")
            .map(serde_json::from_value)
            .transpose()
            .map_err(D::Error::custom)?
            .unwrap_or_default();
        let checksum = field("checksum")
            .map(serde_json::from_value)
            .transpose()
            .map_err(D::Error::custom)?
            .flatten();
        let plan = serde_json::from_value(serde_json::Value::Object(document))
            .map_err(D::Error::custom)?;
        Ok(Self {
            plan,
            api_calls,
            in_use_calls,
            checksum,
        })
    }
}

/// What `plan` was asked for.
#[derive(Clone, Debug, Default)]
pub struct PlanRequest {
    /// Evaluate `max_age` at this instant (default: see [`Source::now`]).
    pub now: Option<DateTime<Utc>>,
    /// Lift the guard that refuses a plan deleting every image of a repository.
    pub allow_empty: bool,
    /// Also save the plan (sealed) to this file.
    pub out: Option<PathBuf>,
    /// `--forecast`: the horizon as written (`7d`) and in seconds.
    pub forecast: Option<(String, u64)>,
}

/// Why no plan was made (or saved). Nothing is deleted in any of these cases.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum PlanError {
    /// The registry could not be read, or the files could not be resolved against it.
    #[error(transparent)]
    #[diagnostic(code(plan::registry))]
    Run(
        #[from]
        #[diagnostic_source]
        RunError,
    ),
    /// Declared repositories could not be read: the plan of the others is made and
    /// shown, and the run fails.
    #[error(
        "{}; nothing is planned for {}",
        .0.iter().map(|(r, e)| format!("{r} could not be read ({e})")).collect::<Vec<_>>().join("; "),
        if .0.len() == 1 { "it" } else { "them" }
    )]
    #[diagnostic(code(plan::unreadable))]
    Unreadable(Vec<(String, String)>),
    /// `--fail-on-lifecycle-conflict`: an ECR lifecycle policy would expire or archive
    /// images the plan keeps (or could not be read). Nothing is removed.
    #[error(
        "{conflicts} lifecycle {} in {repositories}: an ECR lifecycle policy would remove images this plan keeps, or could not be read (--fail-on-lifecycle-conflict); nothing was removed",
        if *.conflicts == 1 { "conflict" } else { "conflicts" }
    )]
    #[diagnostic(code(plan::lifecycle_conflict))]
    LifecycleConflict {
        /// The `plan::lifecycle-conflict` and `plan::lifecycle-policy-unreadable`
        /// warnings.
        conflicts: usize,
        /// The repositories concerned, named.
        repositories: String,
    },
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

/// Plans every declared repository against `source`, with the calls it took.
pub fn plan(
    source: &Source,
    desired: &DesiredState,
    request: &PlanRequest,
) -> Result<PlanOutcome, PlanError> {
    let started = std::time::Instant::now();
    let mut settings = source.settings(source.now(request.now), request.allow_empty);
    settings.forecast = request.forecast.clone();
    let (plan, in_use) = source.block_on(async {
        let in_use = run::read_in_use(desired, &settings).await?;
        let plan = run::make_plan_in_use(&source.backend, desired, &settings, &in_use).await?;
        Ok::<_, RunError>((plan, in_use))
    })?;
    let outcome = PlanOutcome::new(plan, source.calls(), in_use.calls);
    tracing::info!(elapsed = ?started.elapsed(), "planned {} repositories", outcome.plan.repositories.len());
    source.log_calls();
    if let Some(out) = &request.out {
        save(&outcome, out).map_err(|source| PlanError::Save {
            path: out.clone(),
            source,
        })?;
    }
    Ok(outcome)
}

/// Plans with `settings` (the plan alone: its calls are counted by `source`).
pub(crate) fn plan_with(
    source: &Source,
    desired: &DesiredState,
    settings: &RunSettings,
) -> Result<Plan, RunError> {
    source.block_on(run::make_plan(&source.backend, desired, settings))
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

/// With `--fail-on-lifecycle-conflict`: the error for a plan that an ECR lifecycle
/// policy contradicts (or whose policy could not be read), if it is one.
pub fn lifecycle_conflicts(plan: &Plan) -> Option<PlanError> {
    use crate::plan::WarningCode;
    let found: Vec<&crate::plan::Warning> = plan
        .warnings
        .iter()
        .filter(|w| {
            matches!(
                w.code,
                WarningCode::LifecycleConflict | WarningCode::LifecyclePolicyUnreadable
            )
        })
        .collect();
    let mut repositories: Vec<&str> = found.iter().map(|w| w.repository.as_str()).collect();
    repositories.dedup();
    (!found.is_empty()).then(|| PlanError::LifecycleConflict {
        conflicts: found.len(),
        repositories: repositories.join(", "),
    })
}

/// Writes the plan document as JSON with its checksum, atomically, so a reader never
/// sees half a plan.
pub fn save(plan: &PlanOutcome, path: &Path) -> std::io::Result<()> {
    crate::files::write_json_atomically(path, &crate::plan::saved::seal(plan))
}
