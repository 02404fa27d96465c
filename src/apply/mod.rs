//! Applies a plan to a registry under a protocol that never removes an allowed tag,
//! even when the registry changes while it runs.
//!
//! Per repository:
//! 1. a fresh DescribeImages listing (full pages of 1000) confirms every planned
//!    removal; one the registry no longer agrees with is skipped and reported: a tag
//!    that moved to another image, an image with a new tag, an untagged image that
//!    got a tag, an untag that would now remove the image's last tag;
//! 2. the manifest of every image touched is read once, by digest (BatchGetImage),
//!    for the journal;
//! 3. then, batch by batch (at most 100 identifiers), just before each request: a
//!    second confirmation of that batch alone (DescribeImages of its tags and
//!    digests: a tag must still name the planned image, an image to delete by digest
//!    must still be untagged), so the window in which another client can change what
//!    a request removes is one round trip;
//! 4. the journal records each removal of the batch, durably, before the request.
//!
//! Tags are removed by tag (an image goes with its last tag) and only images that are
//! untagged in the confirmed state are deleted by digest; untags first, then deletions
//! wave by wave (an index before its children). Every digest the registry reports
//! back is checked against the plan. `ImageNotFound` counts as done, so applying
//! again is harmless.

pub mod journal;

use std::collections::{BTreeMap, HashMap, HashSet};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use journal::{Journal, JournalEntry};

use crate::model::{Digest, Tag};
use crate::plan::{Action, ActionKind, Plan, RepositoryPlan, RepositoryStatus};
use crate::registry::observe::list_all;
use crate::registry::{
    FailureCode, ImageDetail, ImageId, MAX_IDS_PER_BATCH, Registry, RegistryError, ServiceCode,
};

/// A removal that did not happen because the registry changed since the plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Skipped {
    /// The repository.
    pub repository: String,
    /// The image.
    pub digest: Digest,
    /// The tag, when one tag was skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<Tag>,
    /// What changed.
    pub reason: String,
}

/// A removal the registry refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Failure {
    /// The repository.
    pub repository: String,
    /// The identifier sent.
    pub id: String,
    /// ECR's failure code (or `DigestMismatch` when the registry removed another image
    /// than planned).
    pub code: String,
    /// ECR's reason.
    pub reason: String,
}

/// What an apply did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ApplyReport {
    /// Tags removed, by untag or with their image.
    pub tags_removed: usize,
    /// Tags removed from images that stay.
    pub untagged: usize,
    /// Images deleted.
    pub images_deleted: usize,
    /// Removals found already done (ImageNotFound, or gone before confirmation).
    pub already_gone: usize,
    /// Removals skipped because the registry changed since the plan.
    pub skipped: Vec<Skipped>,
    /// Removals the registry refused.
    pub failures: Vec<Failure>,
    /// Failures by code.
    pub failures_by_code: BTreeMap<String, usize>,
    /// Identifiers sent in each BatchDeleteImage request, in order.
    pub delete_batches: Vec<usize>,
    /// Items retried after a per-item `UpstreamTooManyRequests` or `UpstreamUnavailable`.
    pub upstream_retries: usize,
}

/// How many times items failed with a per-item upstream throttle are sent again.
const UPSTREAM_RETRIES: u32 = 3;

impl ApplyReport {
    /// True when every planned removal is done, skipped as moved, or already gone.
    pub fn succeeded(&self) -> bool {
        self.failures.is_empty()
    }
}

/// Hooks for progress display; the default does nothing.
pub trait Progress: Send + Sync {
    /// `n` identifiers were sent and answered.
    fn advance(&self, _n: usize) {}
}

/// No progress display.
pub struct Quiet;
impl Progress for Quiet {}

/// An error that stops an apply. Removals already made stay made (and journalled).
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The registry failed a whole call.
    #[error("{repository}: {error}")]
    Registry {
        /// The repository.
        repository: String,
        /// What the registry said.
        error: RegistryError,
    },
    /// The journal could not be written: nothing more is removed.
    #[error("cannot write the journal {path}: {message}")]
    Journal {
        /// The journal file.
        path: String,
        /// Why.
        message: String,
    },
}

/// How many identifiers a plan will send in total (for progress bars).
pub fn planned_ids(plan: &Plan) -> usize {
    plan.repositories
        .iter()
        .filter(|r| r.status == RepositoryStatus::Changes)
        .flat_map(|r| r.actions.iter())
        .map(|a| a.tags.len().max(1))
        .sum()
}

/// Images a plan will delete (for `--max-delete`).
pub fn planned_deletions(plan: &Plan) -> usize {
    plan.repositories
        .iter()
        .filter(|r| r.status == RepositoryStatus::Changes)
        .flat_map(|r| r.actions.iter())
        .filter(|a| a.kind == ActionKind::Delete)
        .count()
}

/// One confirmed removal request: the id to send and what it does.
#[derive(Clone, Debug)]
struct Step {
    id: ImageId,
    digest: Digest,
    kind: ActionKind,
    manifest: Option<(String, String)>,
    action: usize,
}

/// Applies every repository with status `changes`; refused and missing ones are skipped.
pub async fn apply_plan<R: Registry>(
    registry: &R,
    plan: &Plan,
    journal: &mut Journal,
    progress: &dyn Progress,
) -> Result<ApplyReport, ApplyError> {
    let mut report = ApplyReport::default();
    for repo in plan
        .repositories
        .iter()
        .filter(|r| r.status == RepositoryStatus::Changes)
    {
        match apply_repository(registry, repo, journal, progress, &mut report).await {
            Ok(()) => {}
            // A call that failed as a whole (after the SDK's retries) stops this
            // repository, never half a wave: later waves may delete the children of
            // an index whose deletion did not happen. The other repositories go on.
            Err(ApplyError::Registry { repository, error }) => {
                let failure = Failure {
                    repository,
                    id: "(whole call)".into(),
                    code: error.code().to_owned(),
                    reason: format!(
                        "{error}; the rest of this repository's removals were not attempted: apply again to finish"
                    ),
                };
                *report
                    .failures_by_code
                    .entry(failure.code.clone())
                    .or_default() += 1;
                report.failures.push(failure);
            }
            Err(e @ ApplyError::Journal { .. }) => return Err(e),
        }
    }
    Ok(report)
}

async fn apply_repository<R: Registry>(
    registry: &R,
    repo: &RepositoryPlan,
    journal: &mut Journal,
    progress: &dyn Progress,
    report: &mut ApplyReport,
) -> Result<(), ApplyError> {
    let reference = &repo.repository;
    let label = reference.to_string();
    let registry_err = |error: RegistryError| ApplyError::Registry {
        repository: label.clone(),
        error,
    };

    // 1. The confirming listing.
    let current: HashMap<Digest, ImageDetail> = match list_all(registry, reference).await {
        Ok(images) => images.into_iter().map(|i| (i.digest.clone(), i)).collect(),
        Err(RegistryError::RepositoryNotFound(_)) => HashMap::new(),
        Err(e) => return Err(registry_err(e)),
    };
    // The manifest of every image a removal touches, for the journal (a digest names
    // its manifest for good: read once, by digest).
    let mut manifests: HashMap<Digest, (String, String)> = HashMap::new();
    let mut to_read: Vec<ImageId> = repo
        .actions
        .iter()
        .filter(|a| current.contains_key(&a.digest))
        .map(|a| ImageId::Digest(a.digest.clone()))
        .collect();
    to_read.dedup();
    for batch in to_read.chunks(MAX_IDS_PER_BATCH) {
        let got = registry
            .batch_get_image(reference, batch)
            .await
            .map_err(&registry_err)?;
        for m in got.manifests {
            manifests.insert(m.digest, (m.media_type, m.manifest));
        }
    }
    let tag_owner: HashMap<&Tag, &Digest> = current
        .values()
        .flat_map(|i| i.tags.iter().map(move |t| (t, &i.digest)))
        .collect();

    // 2. Decide each removal against the confirmed state.
    let mut steps_by_wave: BTreeMap<u32, Vec<Step>> = BTreeMap::new();
    for (index, action) in repo.actions.iter().enumerate() {
        let confirmed = Confirmed {
            image: current.get(&action.digest),
            tag_owner: &tag_owner,
            manifests: &manifests,
        };
        let steps = confirm(action, index, &confirmed, &label, report);
        steps_by_wave.entry(action.wave).or_default().extend(steps);
    }

    // 3. Per batch: confirm again just before, journal, then remove, wave by wave.
    let mut deleted: HashSet<Digest> = HashSet::new();
    for steps in steps_by_wave.values() {
        for batch in steps.chunks(MAX_IDS_PER_BATCH) {
            let batch = reconfirm(registry, repo, batch, &label, report)
                .await
                .map_err(&registry_err)?;
            progress.advance(batch.gone);
            let batch = batch.steps;
            if batch.is_empty() {
                continue;
            }
            let entries: Vec<JournalEntry> = batch
                .iter()
                .map(|s| {
                    JournalEntry::new(
                        reference,
                        &repo.actions[s.action],
                        &s.id,
                        &s.digest,
                        s.manifest.clone(),
                    )
                })
                .collect();
            journal.append(&entries).map_err(|e| ApplyError::Journal {
                path: journal.path().display().to_string(),
                message: e.to_string(),
            })?;
            let mut pending: Vec<Step> = batch.to_vec();
            for attempt in 0..=UPSTREAM_RETRIES {
                let ids: Vec<ImageId> = pending.iter().map(|s| s.id.clone()).collect();
                let result = registry
                    .batch_delete_image(reference, &ids)
                    .await
                    .map_err(&registry_err)?;
                report.delete_batches.push(ids.len());
                // Per-item throttling by a pull-through cache's upstream: retry those
                // items, after a pause that doubles each time.
                let retry: Vec<Step> = if attempt < UPSTREAM_RETRIES {
                    pending
                        .iter()
                        .filter(|s| {
                            result.failures.iter().any(|f| {
                                f.id == s.id
                                    && matches!(
                                        f.code,
                                        FailureCode::UpstreamTooManyRequests
                                            | FailureCode::UpstreamUnavailable
                                    )
                            })
                        })
                        .cloned()
                        .collect()
                } else {
                    Vec::new()
                };
                let done: Vec<Step> = pending
                    .iter()
                    .filter(|s| !retry.iter().any(|r| r.id == s.id))
                    .cloned()
                    .collect();
                progress.advance(done.len());
                tally(&done, &result, &label, report, &mut deleted);
                if retry.is_empty() {
                    break;
                }
                report.upstream_retries += retry.len();
                tokio::time::sleep(std::time::Duration::from_millis(200 << attempt)).await;
                pending = retry;
            }
        }
    }
    Ok(())
}

/// The steps of one batch still confirmed just before it is sent, and how many were
/// dropped (gone, moved or failed).
struct Reconfirmed {
    steps: Vec<Step>,
    gone: usize,
}

/// Reads the registry again for one batch, just before removing it, so the window in
/// which another client can change what a request removes is one round trip, not the
/// whole apply: DescribeImages of the batch's identifiers (tags and digests) gives,
/// for each, the image it names now and every tag on it. A tag must still name the
/// planned image (and an untag must leave it a tag); an image to delete by digest
/// must still be untagged.
async fn reconfirm<R: Registry>(
    registry: &R,
    repo: &RepositoryPlan,
    batch: &[Step],
    label: &str,
    report: &mut ApplyReport,
) -> Result<Reconfirmed, RegistryError> {
    let reference = &repo.repository;
    let mut ids: Vec<ImageId> = batch.iter().map(|s| s.id.clone()).collect();
    ids.dedup();
    let images = match registry.describe_images_by_id(reference, &ids).await {
        Ok(images) => images,
        // One of them is gone, and ECR then answers for none: list them all.
        Err(RegistryError::Service {
            code: ServiceCode::ImageNotFoundException,
            ..
        }) => list_all(registry, reference).await?,
        Err(RegistryError::RepositoryNotFound(_)) => Vec::new(),
        Err(e) => return Err(e),
    };
    let tags_now: HashMap<&Digest, &[Tag]> = images
        .iter()
        .map(|i| (&i.digest, i.tags.as_slice()))
        .collect();
    let owner_now: HashMap<&Tag, &Digest> = images
        .iter()
        .flat_map(|i| i.tags.iter().map(move |t| (t, &i.digest)))
        .collect();

    let mut out = Reconfirmed {
        steps: Vec::with_capacity(batch.len()),
        gone: 0,
    };
    for s in batch {
        let action = &repo.actions[s.action];
        match &s.id {
            ImageId::Tag(t) => match owner_now.get(t) {
                None => {
                    report.already_gone += 1;
                    out.gone += 1;
                }
                Some(d) if **d != s.digest => {
                    skip(
                        report,
                        label,
                        &s.digest,
                        Some(t),
                        format!("tag moved to image {} since the plan", d.short()),
                    );
                    out.gone += 1;
                }
                Some(d) => {
                    let stays = tags_now[*d].iter().any(|x| !action.tags.contains(x));
                    let new: Vec<&str> = tags_now[*d]
                        .iter()
                        .filter(|x| !action.tags.contains(x) && !action.kept_tags.contains(x))
                        .map(Tag::as_str)
                        .collect();
                    if s.kind == ActionKind::Untag && !stays {
                        skip(
                            report,
                            label,
                            &s.digest,
                            Some(t),
                            "removing it now would delete the image: the tags it was to keep are gone"
                                .into(),
                        );
                        out.gone += 1;
                    } else if s.kind == ActionKind::Delete && !new.is_empty() {
                        // As at the listing: an image planned for deletion that gained
                        // a tag is left alone (the next plan decides again).
                        skip(
                            report,
                            label,
                            &s.digest,
                            Some(t),
                            format!(
                                "image has new tags since the plan ({}); it stays",
                                new.join(", ")
                            ),
                        );
                        out.gone += 1;
                    } else {
                        out.steps.push(s.clone());
                    }
                }
            },
            ImageId::Digest(d) => match tags_now.get(d) {
                None => {
                    report.already_gone += 1;
                    out.gone += 1;
                }
                Some(tags) if !tags.is_empty() => {
                    let names: Vec<&str> = tags.iter().map(Tag::as_str).collect();
                    skip(
                        report,
                        label,
                        &s.digest,
                        None,
                        format!(
                            "image has new tags since the plan ({}); it stays",
                            names.join(", ")
                        ),
                    );
                    out.gone += 1;
                }
                Some(_) => out.steps.push(s.clone()),
            },
        }
    }
    Ok(out)
}

fn skip(report: &mut ApplyReport, label: &str, digest: &Digest, tag: Option<&Tag>, reason: String) {
    report.skipped.push(Skipped {
        repository: label.to_owned(),
        digest: digest.clone(),
        tag: tag.cloned(),
        reason,
    });
}

/// The state the confirming listing shows.
struct Confirmed<'a> {
    /// The image now, from the listing (absent: gone).
    image: Option<&'a ImageDetail>,
    /// Tag -> image, from the listing.
    tag_owner: &'a HashMap<&'a Tag, &'a Digest>,
    /// Manifests by image read so far (of untagged images to delete).
    manifests: &'a HashMap<Digest, (String, String)>,
}

/// The removals of one action that the confirmed state still allows.
fn confirm(
    action: &Action,
    index: usize,
    confirmed_state: &Confirmed<'_>,
    label: &str,
    report: &mut ApplyReport,
) -> Vec<Step> {
    let manifest = confirmed_state.manifests.get(&action.digest).cloned();
    let Some(now) = confirmed_state.image else {
        // Gone already: the removal is done.
        report.already_gone += action.tags.len().max(1);
        return Vec::new();
    };
    let mut steps = Vec::new();
    let step = |tag: &Tag| Step {
        id: ImageId::Tag(tag.clone()),
        digest: action.digest.clone(),
        kind: action.kind,
        manifest: manifest.clone(),
        action: index,
    };
    // Tags still on this image by both reads; a tag elsewhere moved, a tag nowhere went.
    let mut confirmed: Vec<&Tag> = Vec::new();
    for t in &action.tags {
        let listed = confirmed_state.tag_owner.get(t).copied();
        let moved_to = listed.filter(|d| **d != action.digest);
        match (moved_to, listed) {
            (Some(d), _) => skip(
                report,
                label,
                &action.digest,
                Some(t),
                format!("tag moved to image {} since the plan", d.short()),
            ),
            (None, Some(_)) => confirmed.push(t),
            (None, None) => report.already_gone += 1,
        }
    }
    match action.kind {
        ActionKind::Untag => {
            let remaining = now.tags.iter().filter(|t| !confirmed.contains(t)).count();
            if remaining == 0 && !confirmed.is_empty() {
                for t in confirmed {
                    skip(
                        report,
                        label,
                        &action.digest,
                        Some(t),
                        "removing it now would delete the image: the tags it was to keep are gone"
                            .into(),
                    );
                }
                return Vec::new();
            }
            steps.extend(confirmed.into_iter().map(step));
        }
        ActionKind::Delete => {
            let new: Vec<&Tag> = now
                .tags
                .iter()
                .filter(|t| !action.tags.contains(t))
                .collect();
            if !new.is_empty() {
                let names: Vec<&str> = new.iter().map(|t| t.as_str()).collect();
                skip(
                    report,
                    label,
                    &action.digest,
                    None,
                    format!(
                        "image has new tags since the plan ({}); it stays",
                        names.join(", ")
                    ),
                );
                return Vec::new();
            }
            if now.tags.is_empty() {
                // Untagged in the confirmed state: the only case deleted by digest.
                steps.push(Step {
                    id: ImageId::Digest(action.digest.clone()),
                    digest: action.digest.clone(),
                    kind: action.kind,
                    manifest: manifest.clone(),
                    action: index,
                });
            } else {
                steps.extend(confirmed.into_iter().map(step));
            }
        }
    }
    steps
}

/// Counts a batch's outcome against the plan (not only the response: some
/// implementations report nothing for an untagged image deleted by digest).
fn tally(
    batch: &[Step],
    result: &crate::registry::BatchDeleteResult,
    label: &str,
    report: &mut ApplyReport,
    deleted: &mut HashSet<Digest>,
) {
    let failed: HashMap<&ImageId, &crate::registry::ItemFailure> =
        result.failures.iter().map(|f| (&f.id, f)).collect();
    for removed in &result.removed {
        let planned = batch.iter().find(|s| match &s.id {
            ImageId::Tag(t) => removed.tag.as_ref() == Some(t),
            ImageId::Digest(d) => removed.tag.is_none() && &removed.digest == d,
        });
        if let Some(s) = planned
            && s.digest != removed.digest
        {
            // The registry removed a tag from another image than planned: a race in
            // the moment between confirmation and removal. Say it loudly.
            let failure = Failure {
                repository: label.to_owned(),
                id: s.id.to_string(),
                code: "DigestMismatch".into(),
                reason: format!(
                    "the registry removed it from {} but the plan named {}",
                    removed.digest, s.digest
                ),
            };
            *report
                .failures_by_code
                .entry(failure.code.clone())
                .or_default() += 1;
            report.failures.push(failure);
        }
    }
    for s in batch {
        match failed.get(&s.id) {
            Some(f) if f.code == FailureCode::ImageNotFound => report.already_gone += 1,
            Some(f) => {
                *report
                    .failures_by_code
                    .entry(f.code.to_string())
                    .or_default() += 1;
                report.failures.push(Failure {
                    repository: label.to_owned(),
                    id: s.id.to_string(),
                    code: f.code.to_string(),
                    reason: f.reason.clone(),
                });
            }
            None => match (&s.id, s.kind) {
                (ImageId::Tag(_), ActionKind::Untag) => {
                    report.tags_removed += 1;
                    report.untagged += 1;
                }
                (ImageId::Tag(_), ActionKind::Delete) => {
                    report.tags_removed += 1;
                    // Counted as it happens, so a later failed call keeps the count.
                    if deleted.insert(s.digest.clone()) {
                        report.images_deleted += 1;
                    }
                }
                (ImageId::Digest(_), _) => {
                    if deleted.insert(s.digest.clone()) {
                        report.images_deleted += 1;
                    }
                }
            },
        }
    }
}
