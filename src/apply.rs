//! Applies a plan to a registry, wave by wave, in batches of at most 100 ids.
//!
//! Tags are removed by tag (removing an image's last tag deletes it); only images
//! that are untagged in the plan are deleted by digest. An index is always deleted in
//! an earlier request than its children. `ImageNotFound` for a removal counts as done,
//! so running the same plan twice is harmless.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::model::RepositoryRef;
use crate::plan::{ActionKind, Plan, RepositoryStatus};
use crate::registry::{FailureCode, ImageId, MAX_IDS_PER_BATCH, Registry, RegistryError};

/// One removal that did not happen.
#[derive(Clone, Debug, Serialize)]
pub struct Failure {
    /// The repository.
    pub repository: String,
    /// The identifier sent.
    pub id: String,
    /// ECR's failure code.
    pub code: String,
    /// ECR's reason.
    pub reason: String,
}

/// What an apply did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ApplyReport {
    /// Identifiers removed (tags, and untagged images by digest).
    pub removed: usize,
    /// Identifiers that were already gone.
    pub already_gone: usize,
    /// Removals that failed, with ECR's code.
    pub failures: Vec<Failure>,
    /// Failures by code.
    pub failures_by_code: BTreeMap<String, usize>,
}

/// The ids of one wave of one repository, in plan order.
fn wave_ids(plan: &crate::plan::RepositoryPlan, wave: u32) -> Vec<ImageId> {
    let mut ids = Vec::new();
    for a in plan.actions.iter().filter(|a| a.wave == wave) {
        match a.kind {
            ActionKind::Untag => ids.extend(a.tags.iter().cloned().map(ImageId::Tag)),
            ActionKind::Delete if a.tags.is_empty() => ids.push(ImageId::Digest(a.digest.clone())),
            ActionKind::Delete => ids.extend(a.tags.iter().cloned().map(ImageId::Tag)),
        }
    }
    ids
}

/// Applies every repository with status `changes`; refused and missing ones are skipped.
pub async fn apply_plan<R: Registry>(
    registry: &R,
    plan: &Plan,
) -> Result<ApplyReport, (RepositoryRef, RegistryError)> {
    let mut report = ApplyReport::default();
    for repo in plan
        .repositories
        .iter()
        .filter(|r| r.status == RepositoryStatus::Changes)
    {
        let max_wave = repo.actions.iter().map(|a| a.wave).max().unwrap_or(0);
        for wave in 0..=max_wave {
            let ids = wave_ids(repo, wave);
            for batch in ids.chunks(MAX_IDS_PER_BATCH) {
                let result = registry
                    .batch_delete_image(&repo.repository, batch)
                    .await
                    .map_err(|e| (repo.repository.clone(), e))?;
                report.removed += result.removed.len();
                for f in result.failures {
                    if f.code == FailureCode::ImageNotFound {
                        report.already_gone += 1;
                        continue;
                    }
                    *report
                        .failures_by_code
                        .entry(f.code.as_str().to_owned())
                        .or_default() += 1;
                    report.failures.push(Failure {
                        repository: repo.repository.to_string(),
                        id: f.id.to_string(),
                        code: f.code.as_str().to_owned(),
                        reason: f.reason,
                    });
                }
            }
        }
    }
    Ok(report)
}
