//! `apply --wait`: after the reactivations are made, waits until ECR has made each
//! reactivated image active again (ACTIVATING becomes ACTIVE within about 20
//! minutes), reading their status with DescribeImages (100 images a call) every
//! [`WaitSettings::interval`], saying how many are active each time, until all are or
//! the timeout passes.

use std::collections::HashMap;
use std::time::Duration;

use super::report::{Progress, ReactivationWait};
use crate::model::{Digest, RepositoryRef};
use crate::ops::cancel::Cancel;
use crate::plan::{ActionKind, Plan, RepositoryStatus};
use crate::registry::{ImageId, ImageStatus, MAX_IDS_PER_BATCH, Registry, RegistryError};

/// How long `--wait` waits, and how often it reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WaitSettings {
    /// At most this long (`--wait-timeout`).
    pub timeout: Duration,
    /// Between two reads of the images' status.
    pub interval: Duration,
}

/// Between two reads of the reactivated images' status by default.
pub const WAIT_INTERVAL: Duration = Duration::from_secs(15);

/// The reactivations `plan` makes, by repository.
fn planned(plan: &Plan) -> Vec<(&RepositoryRef, Vec<&Digest>)> {
    let mut out = Vec::new();
    for r in plan
        .repositories
        .iter()
        .filter(|r| r.status == RepositoryStatus::Changes)
    {
        let digests: Vec<&Digest> = r
            .actions
            .iter()
            .filter(|a| a.kind == ActionKind::Reactivate)
            .map(|a| &a.digest)
            .collect();
        if !digests.is_empty() {
            out.push((&r.repository, digests));
        }
    }
    out
}

/// True when `plan` reactivates any image.
pub fn reactivates(plan: &Plan) -> bool {
    !planned(plan).is_empty()
}

/// The status now of each of `digests` in `repo` (absent: gone), 100 a call; a batch
/// with a gone image is read again one image at a time.
async fn statuses<R: Registry>(
    registry: &R,
    repo: &RepositoryRef,
    digests: &[&Digest],
) -> Result<HashMap<Digest, ImageStatus>, RegistryError> {
    let mut out = HashMap::new();
    for batch in digests.chunks(MAX_IDS_PER_BATCH) {
        let ids: Vec<ImageId> = batch
            .iter()
            .map(|d| ImageId::Digest((*d).clone()))
            .collect();
        let found = match registry.describe_images_by_id(repo, &ids).await {
            Ok(found) => found,
            Err(e) if is_not_found(&e) => {
                let mut found = Vec::new();
                for id in &ids {
                    match registry
                        .describe_images_by_id(repo, std::slice::from_ref(id))
                        .await
                    {
                        Ok(one) => found.extend(one),
                        Err(e) if is_not_found(&e) => {}
                        Err(e) => return Err(e),
                    }
                }
                found
            }
            Err(e) => return Err(e),
        };
        for img in found {
            out.insert(img.digest, img.status.unwrap_or(ImageStatus::Active));
        }
    }
    Ok(out)
}

fn is_not_found(e: &RegistryError) -> bool {
    matches!(
        e.service_code(),
        Some(crate::registry::ServiceCode::ImageNotFoundException)
    )
}

/// Waits until every reactivation of `plan` is active, `settings.timeout` at most
/// (or until `cancel` is set), telling `progress` how many are active after each
/// read. A read that fails ends the wait with its error and repository.
pub async fn until_active<R: Registry>(
    registry: &R,
    plan: &Plan,
    settings: WaitSettings,
    progress: &dyn Progress,
    cancel: &Cancel,
) -> Result<ReactivationWait, (RepositoryRef, RegistryError)> {
    let started = tokio::time::Instant::now();
    let mut pending = planned(plan);
    let total: usize = pending.iter().map(|(_, d)| d.len()).sum();
    let mut out = ReactivationWait::default();
    loop {
        for (repo, digests) in &mut pending {
            let repo: &RepositoryRef = repo;
            let now = statuses(registry, repo, digests)
                .await
                .map_err(|e| (repo.clone(), e))?;
            digests.retain(|d| match now.get(*d) {
                Some(ImageStatus::Activating) => true,
                Some(ImageStatus::Active) => {
                    out.active += 1;
                    false
                }
                // Still archived (not reactivated), or gone.
                _ => {
                    out.not_reactivated += 1;
                    false
                }
            });
        }
        pending.retain(|(_, d)| !d.is_empty());
        let activating: usize = pending.iter().map(|(_, d)| d.len()).sum();
        progress.waiting(out.active, total - out.not_reactivated);
        let elapsed = started.elapsed();
        if activating == 0 || elapsed >= settings.timeout || cancel.is_cancelled() {
            out.activating = activating;
            out.waited_seconds = elapsed.as_secs();
            out.still_activating = pending
                .iter()
                .flat_map(|(r, ds)| ds.iter().map(move |d| format!("{r}@{d}")))
                .collect();
            return Ok(out);
        }
        tokio::time::sleep(settings.interval.min(settings.timeout - elapsed)).await;
    }
}

#[cfg(test)]
mod tests;
