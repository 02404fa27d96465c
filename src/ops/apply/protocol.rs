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

use std::collections::{BTreeMap, HashMap, HashSet};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::journal::{Journal, JournalEntry};

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

    /// Records a failure, counted by its code.
    fn fail(&mut self, failure: Failure) {
        *self
            .failures_by_code
            .entry(failure.code.clone())
            .or_default() += 1;
        self.failures.push(failure);
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
pub enum ProtocolError {
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
) -> Result<ApplyReport, ProtocolError> {
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
            Err(ProtocolError::Registry { repository, error }) => report.fail(Failure {
                repository,
                id: "(whole call)".into(),
                code: error.code().to_owned(),
                reason: format!(
                    "{error}; the rest of this repository's removals were not attempted: apply again to finish"
                ),
            }),
            Err(e @ ProtocolError::Journal { .. }) => return Err(e),
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
) -> Result<(), ProtocolError> {
    let mut run = RepositoryRun {
        registry,
        repo,
        label: repo.repository.to_string(),
        progress,
        report,
        deleted: HashSet::new(),
    };
    let registry_err = |error: RegistryError| ProtocolError::Registry {
        repository: repo.repository.to_string(),
        error,
    };
    let steps_by_wave = run.confirm_all().await.map_err(registry_err)?;
    // Per batch: confirm again just before, journal, then remove, wave by wave.
    for steps in steps_by_wave.values() {
        for batch in steps.chunks(MAX_IDS_PER_BATCH) {
            let batch = run.reconfirm(batch).await.map_err(registry_err)?;
            if batch.is_empty() {
                continue;
            }
            let entries: Vec<JournalEntry> = batch
                .iter()
                .map(|s| {
                    let action = &repo.actions[s.action];
                    JournalEntry::new(
                        &repo.repository,
                        action,
                        &s.id,
                        &s.digest,
                        s.manifest.clone(),
                    )
                })
                .collect();
            journal
                .append(&entries)
                .map_err(|e| ProtocolError::Journal {
                    path: journal.path().display().to_string(),
                    message: e.to_string(),
                })?;
            run.remove(batch).await.map_err(registry_err)?;
        }
    }
    Ok(())
}

/// Why a planned removal is left alone: the registry changed since the plan. The
/// same rules hold at the confirming listing and just before each request.
enum Change<'a> {
    /// The tag now names another image.
    TagMoved(&'a Digest),
    /// Removing the tag now would remove the image's last tag.
    WouldDelete,
    /// An image planned for deletion has tags the plan did not see.
    NewTags(Vec<&'a Tag>),
}

impl Change<'_> {
    fn reason(&self) -> String {
        match self {
            Change::TagMoved(d) => format!("tag moved to image {} since the plan", d.short()),
            Change::WouldDelete => {
                "removing it now would delete the image: the tags it was to keep are gone".into()
            }
            Change::NewTags(tags) => {
                let names: Vec<&str> = tags.iter().map(|t| t.as_str()).collect();
                format!(
                    "image has new tags since the plan ({}); it stays",
                    names.join(", ")
                )
            }
        }
    }
}

/// Where a planned tag is now.
enum TagNow<'a> {
    /// On no image: its removal is done.
    Gone,
    /// On another image.
    Moved(&'a Digest),
    /// Still on the planned image.
    Here,
}

fn tag_now<'a>(planned: &Digest, owner: Option<&'a Digest>) -> TagNow<'a> {
    match owner {
        None => TagNow::Gone,
        Some(d) if d != planned => TagNow::Moved(d),
        Some(_) => TagNow::Here,
    }
}

/// Tags on an image now that its action neither removes nor keeps.
fn new_tags<'t>(now: &'t [Tag], action: &Action) -> Vec<&'t Tag> {
    now.iter()
        .filter(|t| !action.tags.contains(t) && !action.kept_tags.contains(t))
        .collect()
}

/// Tag -> image, of a set of images.
fn owners(images: &[ImageDetail]) -> HashMap<&Tag, &Digest> {
    images
        .iter()
        .flat_map(|i| i.tags.iter().map(move |t| (t, &i.digest)))
        .collect()
}

/// One repository being applied.
struct RepositoryRun<'a, R> {
    registry: &'a R,
    repo: &'a RepositoryPlan,
    label: String,
    progress: &'a dyn Progress,
    report: &'a mut ApplyReport,
    /// Images deleted so far (each counted once, when it goes).
    deleted: HashSet<Digest>,
}

impl<R: Registry> RepositoryRun<'_, R> {
    fn skip(&mut self, digest: &Digest, tag: Option<&Tag>, change: Change<'_>) {
        self.report.skipped.push(Skipped {
            repository: self.label.clone(),
            digest: digest.clone(),
            tag: tag.cloned(),
            reason: change.reason(),
        });
    }

    /// The confirming listing, the manifests for the journal, and each action's
    /// removals that the confirmed state still allows, by wave.
    async fn confirm_all(&mut self) -> Result<BTreeMap<u32, Vec<Step>>, RegistryError> {
        let reference = &self.repo.repository;
        let listed = match list_all(self.registry, reference).await {
            Ok(images) => images,
            Err(RegistryError::RepositoryNotFound(_)) => Vec::new(),
            Err(e) => return Err(e),
        };
        let current: HashMap<&Digest, &ImageDetail> =
            listed.iter().map(|i| (&i.digest, i)).collect();
        // The manifest of every image a removal touches, for the journal (a digest
        // names its manifest for good: read once, by digest).
        let mut manifests: HashMap<Digest, (String, String)> = HashMap::new();
        let mut to_read: Vec<ImageId> = self
            .repo
            .actions
            .iter()
            .filter(|a| current.contains_key(&a.digest))
            .map(|a| ImageId::Digest(a.digest.clone()))
            .collect();
        to_read.dedup();
        for batch in to_read.chunks(MAX_IDS_PER_BATCH) {
            let got = self.registry.batch_get_image(reference, batch).await?;
            for m in got.manifests {
                manifests.insert(m.digest, (m.media_type, m.manifest));
            }
        }
        let owner = owners(&listed);
        let mut steps_by_wave: BTreeMap<u32, Vec<Step>> = BTreeMap::new();
        for (index, action) in self.repo.actions.iter().enumerate() {
            let manifest = manifests.get(&action.digest);
            let image = current.get(&action.digest).copied();
            let steps = self.confirm(action, index, image, &owner, manifest);
            steps_by_wave.entry(action.wave).or_default().extend(steps);
        }
        Ok(steps_by_wave)
    }

    /// The removals of one action that the confirming listing still allows.
    fn confirm(
        &mut self,
        action: &Action,
        index: usize,
        image: Option<&ImageDetail>,
        owner: &HashMap<&Tag, &Digest>,
        manifest: Option<&(String, String)>,
    ) -> Vec<Step> {
        let Some(now) = image else {
            // Gone already: the removal is done.
            self.report.already_gone += action.tags.len().max(1);
            return Vec::new();
        };
        let step = |id: ImageId| Step {
            id,
            digest: action.digest.clone(),
            kind: action.kind,
            manifest: manifest.cloned(),
            action: index,
        };
        // Tags still on this image; a tag elsewhere moved, a tag nowhere went.
        let mut confirmed: Vec<&Tag> = Vec::new();
        for t in &action.tags {
            match tag_now(&action.digest, owner.get(t).copied()) {
                TagNow::Moved(d) => self.skip(&action.digest, Some(t), Change::TagMoved(d)),
                TagNow::Here => confirmed.push(t),
                TagNow::Gone => self.report.already_gone += 1,
            }
        }
        match action.kind {
            ActionKind::Untag => {
                let remaining = now.tags.iter().filter(|t| !confirmed.contains(t)).count();
                if remaining == 0 && !confirmed.is_empty() {
                    for t in confirmed {
                        self.skip(&action.digest, Some(t), Change::WouldDelete);
                    }
                    return Vec::new();
                }
                confirmed
                    .into_iter()
                    .map(|t| step(ImageId::Tag(t.clone())))
                    .collect()
            }
            ActionKind::Delete => {
                let new = new_tags(&now.tags, action);
                if !new.is_empty() {
                    self.skip(&action.digest, None, Change::NewTags(new));
                    Vec::new()
                } else if now.tags.is_empty() {
                    // Untagged in the confirmed state: the only case deleted by digest.
                    vec![step(ImageId::Digest(action.digest.clone()))]
                } else {
                    confirmed
                        .into_iter()
                        .map(|t| step(ImageId::Tag(t.clone())))
                        .collect()
                }
            }
        }
    }

    /// Reads the registry again for one batch, just before removing it, so the window
    /// in which another client can change what a request removes is one round trip,
    /// not the whole apply: DescribeImages of the batch's identifiers (tags and
    /// digests) gives, for each, the image it names now and every tag on it. A tag
    /// must still name the planned image (and an untag must leave it a tag); an image
    /// to delete by digest must still be untagged. Returns the steps still confirmed.
    async fn reconfirm(&mut self, batch: &[Step]) -> Result<Vec<Step>, RegistryError> {
        let reference = &self.repo.repository;
        let mut ids: Vec<ImageId> = batch.iter().map(|s| s.id.clone()).collect();
        ids.dedup();
        let images = match self.registry.describe_images_by_id(reference, &ids).await {
            Ok(images) => images,
            // One of them is gone, and ECR then answers for none: list them all.
            Err(RegistryError::Service {
                code: ServiceCode::ImageNotFoundException,
                ..
            }) => list_all(self.registry, reference).await?,
            Err(RegistryError::RepositoryNotFound(_)) => Vec::new(),
            Err(e) => return Err(e),
        };
        let tags_now: HashMap<&Digest, &[Tag]> = images
            .iter()
            .map(|i| (&i.digest, i.tags.as_slice()))
            .collect();
        let owner = owners(&images);
        let mut out = Vec::with_capacity(batch.len());
        let mut dropped = 0;
        for s in batch {
            let action = &self.repo.actions[s.action];
            let change = match &s.id {
                ImageId::Tag(t) => match tag_now(&s.digest, owner.get(t).copied()) {
                    TagNow::Gone => None,
                    TagNow::Moved(d) => Some(Change::TagMoved(d)),
                    TagNow::Here => {
                        let tags = tags_now[&s.digest];
                        let stays = tags.iter().any(|x| !action.tags.contains(x));
                        let new = new_tags(tags, action);
                        match s.kind {
                            ActionKind::Untag if !stays => Some(Change::WouldDelete),
                            // As at the listing: an image planned for deletion that
                            // gained a tag is left alone (the next plan decides again).
                            ActionKind::Delete if !new.is_empty() => Some(Change::NewTags(new)),
                            _ => {
                                out.push(s.clone());
                                continue;
                            }
                        }
                    }
                },
                ImageId::Digest(d) => match tags_now.get(d) {
                    None => None,
                    Some(tags) if !tags.is_empty() => Some(Change::NewTags(new_tags(tags, action))),
                    Some(_) => {
                        out.push(s.clone());
                        continue;
                    }
                },
            };
            match change {
                None => self.report.already_gone += 1,
                Some(change) => {
                    let tag = match &s.id {
                        ImageId::Tag(t) => Some(t),
                        ImageId::Digest(_) => None,
                    };
                    self.skip(&s.digest, tag, change);
                }
            }
            dropped += 1;
        }
        self.progress.advance(dropped);
        Ok(out)
    }

    /// Sends one confirmed, journalled batch; items that a pull-through cache's
    /// upstream throttled are sent again, after a pause that doubles each time.
    async fn remove(&mut self, batch: Vec<Step>) -> Result<(), RegistryError> {
        let mut pending = batch;
        for attempt in 0..=UPSTREAM_RETRIES {
            let ids: Vec<ImageId> = pending.iter().map(|s| s.id.clone()).collect();
            let result = self
                .registry
                .batch_delete_image(&self.repo.repository, &ids)
                .await?;
            self.report.delete_batches.push(ids.len());
            let upstream = |s: &Step| {
                attempt < UPSTREAM_RETRIES
                    && result.failures.iter().any(|f| {
                        f.id == s.id
                            && matches!(
                                f.code,
                                FailureCode::UpstreamTooManyRequests
                                    | FailureCode::UpstreamUnavailable
                            )
                    })
            };
            let (retry, done): (Vec<Step>, Vec<Step>) = pending.into_iter().partition(upstream);
            self.progress.advance(done.len());
            self.tally(&done, &result);
            if retry.is_empty() {
                break;
            }
            self.report.upstream_retries += retry.len();
            tokio::time::sleep(std::time::Duration::from_millis(200 << attempt)).await;
            pending = retry;
        }
        Ok(())
    }

    /// Counts a batch's outcome against the plan (not only the response: some
    /// implementations report nothing for an untagged image deleted by digest).
    fn tally(&mut self, batch: &[Step], result: &crate::registry::BatchDeleteResult) {
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
                self.report.fail(Failure {
                    repository: self.label.clone(),
                    id: s.id.to_string(),
                    code: "DigestMismatch".into(),
                    reason: format!(
                        "the registry removed it from {} but the plan named {}",
                        removed.digest, s.digest
                    ),
                });
            }
        }
        for s in batch {
            match failed.get(&s.id) {
                Some(f) if f.code == FailureCode::ImageNotFound => self.report.already_gone += 1,
                Some(f) => self.report.fail(Failure {
                    repository: self.label.clone(),
                    id: s.id.to_string(),
                    code: f.code.to_string(),
                    reason: f.reason.clone(),
                }),
                None => match (&s.id, s.kind) {
                    (ImageId::Tag(_), ActionKind::Untag) => {
                        self.report.tags_removed += 1;
                        self.report.untagged += 1;
                    }
                    (ImageId::Tag(_), ActionKind::Delete) => {
                        self.report.tags_removed += 1;
                        // Counted as it happens, so a later failed call keeps the count.
                        if self.deleted.insert(s.digest.clone()) {
                            self.report.images_deleted += 1;
                        }
                    }
                    (ImageId::Digest(_), _) => {
                        if self.deleted.insert(s.digest.clone()) {
                            self.report.images_deleted += 1;
                        }
                    }
                },
            }
        }
    }
}
