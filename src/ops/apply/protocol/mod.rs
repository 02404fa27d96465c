//! Applies a plan to a registry under a protocol that never removes an allowed tag,
//! even when the registry changes while it runs.
//!
//! Repositories are applied concurrently, and so are the requests of one wave of a
//! repository; a semaphore holds the requests in flight over the whole apply to
//! `parallelism`. The plan's own listing (fresh, or checked by the saved-plan stale
//! check) is the starting point: there is no second full listing. Per request of at
//! most 100 identifiers:
//! 1. two reads side by side, just before the request: DescribeImages of exactly its
//!    tags and digests (the confirmation: a tag must still name the planned image, an
//!    untag must leave the image a tag, an image to delete must have gained no tag,
//!    one to delete by digest must still be untagged), and BatchGetImage of its
//!    images' manifests, for the journal. A removal whose manifest could not be read
//!    is not made (restore could not undo it) unless `allow_unrestorable`;
//! 2. the removals are re-derived from the confirmed state: an image planned for
//!    deletion that stays (skipped, or its manifest unreadable) keeps what it needs
//!    (its signature and SOCI tags, its referrers, an index's children), in this
//!    request and in every later one; a referrer or signature whose subject is removed
//!    in another request is kept too when a read of that subject shows it now stays;
//! 3. the journal (one owner, shared by all requests) records each removal, durably,
//!    before the request;
//! 4. every identifier BatchDeleteImage reports is compared with the request: an
//!    unplanned one (a tag added in the last round trip, reported for an image deleted
//!    by digest) is a failure, journalled with its tag so that `restore` puts it back;
//!    an identifier answered neither as removed nor as failed is read back, and is a
//!    failure unless the read shows it gone.
//!
//! Tags are removed by tag (an image goes with its last tag) and only images that are
//! untagged in the confirmed state are deleted by digest. Untags share the requests
//! of the first deletion wave; each later wave (the children of an index, the subject
//! of a referrer) starts when the previous one is answered. `ImageNotFound` counts as
//! done, so applying again is harmless.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;

use futures_util::stream::{self, StreamExt};
use tokio::sync::Semaphore;

use super::confirm::{
    Change, Decision, ManifestRead, View, decide, new_tags, read_current, read_manifests, stays,
};
use super::journal::{Journal, JournalEntry};
pub use super::report::{
    ApplyReport, Failure, MANIFEST_NOT_SAVED, Progress, Quiet, Skipped, UNANSWERED,
    UNPLANNED_REMOVAL,
};

use crate::model::{Digest, Tag};
use crate::plan::{Action, ActionKind, Plan, RepositoryPlan, RepositoryStatus, signature_subject};
use crate::registry::observe::index_children;
use crate::registry::{
    BatchDeleteResult, FailureCode, ImageId, MAX_IDS_PER_BATCH, Registry, RegistryError,
};

/// How many times items failed with a per-item upstream throttle are sent again.
const UPSTREAM_RETRIES: u32 = 3;

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

/// How an apply runs.
#[derive(Clone, Copy, Debug)]
pub struct ApplyOptions {
    /// Requests in flight at once, over every repository (`--parallelism`).
    pub parallelism: usize,
    /// Make removals whose manifest could not be saved to the journal (`restore`
    /// cannot undo them); by default they are not made, and reported.
    pub allow_unrestorable: bool,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        Self {
            parallelism: DEFAULT_PARALLELISM,
            allow_unrestorable: false,
        }
    }
}

/// Requests in flight at once by default.
pub const DEFAULT_PARALLELISM: usize = 32;

/// One removal request item: the id to send and what it does.
#[derive(Clone, Debug)]
pub(super) struct Step {
    pub(super) id: ImageId,
    pub(super) digest: Digest,
    pub(super) kind: ActionKind,
    pub(super) action: usize,
}

/// Applies every repository with status `changes` with the default options; refused
/// and missing ones are skipped.
pub async fn apply_plan<R: Registry>(
    registry: &R,
    plan: &Plan,
    journal: &mut Journal,
    progress: &dyn Progress,
) -> Result<ApplyReport, ProtocolError> {
    apply_plan_with(registry, plan, journal, progress, ApplyOptions::default()).await
}

/// Applies every repository with status `changes`, concurrently; refused and missing
/// ones are skipped.
pub async fn apply_plan_with<R: Registry>(
    registry: &R,
    plan: &Plan,
    journal: &mut Journal,
    progress: &dyn Progress,
    options: ApplyOptions,
) -> Result<ApplyReport, ProtocolError> {
    let width = options.parallelism.max(1);
    let shared = Shared {
        registry,
        journal: Mutex::new(JournalOwner {
            journal,
            broken: None,
        }),
        permits: Semaphore::new(width),
        progress,
        options,
    };
    let shared = &shared;
    let mut outcomes: Vec<(usize, ApplyReport, Option<ProtocolError>)> = stream::iter(
        plan.repositories
            .iter()
            .filter(|r| r.status == RepositoryStatus::Changes)
            .enumerate(),
    )
    .map(|(i, repo)| async move {
        let (report, error) = apply_repository(shared, repo).await;
        (i, report, error)
    })
    .buffer_unordered(width)
    .collect()
    .await;
    outcomes.sort_by_key(|(i, ..)| *i);
    let mut report = ApplyReport::default();
    let mut journal_error = None;
    for (_, part, error) in outcomes {
        report.merge(part);
        // Registry errors are in the report already; a journal error stops it all.
        journal_error = journal_error.or(error);
    }
    match journal_error {
        Some(e) => Err(e),
        None => Ok(report),
    }
}

/// The journal, written by one owner at a time; once a write failed, every later
/// one fails too, so no request goes out unrecorded.
struct JournalOwner<'j> {
    journal: &'j mut Journal,
    broken: Option<String>,
}

/// What every repository of one apply shares.
struct Shared<'a, R> {
    registry: &'a R,
    journal: Mutex<JournalOwner<'a>>,
    permits: Semaphore,
    progress: &'a dyn Progress,
    options: ApplyOptions,
}

impl<R: Registry> Shared<'_, R> {
    /// Runs one registry exchange when a request slot is free.
    async fn call<T>(&self, f: impl std::future::Future<Output = T>) -> T {
        let _permit = self
            .permits
            .acquire()
            .await
            .expect("the semaphore is never closed");
        f.await
    }

    /// Appends entries and flushes them to disk, one writer at a time.
    fn record(&self, entries: &[JournalEntry]) -> Result<(), ProtocolError> {
        let mut owner = self.journal.lock().unwrap_or_else(|e| e.into_inner());
        let path = owner.journal.path().display().to_string();
        if let Some(message) = &owner.broken {
            return Err(ProtocolError::Journal {
                path,
                message: message.clone(),
            });
        }
        owner.journal.append(entries).map_err(|e| {
            owner.broken = Some(e.to_string());
            ProtocolError::Journal {
                path,
                message: e.to_string(),
            }
        })
    }
}

/// The requests of a repository, wave by wave: untags join the first deletion wave.
fn waves(repo: &RepositoryPlan) -> Vec<Vec<Step>> {
    let first_delete = repo
        .actions
        .iter()
        .filter(|a| a.kind == ActionKind::Delete)
        .map(|a| a.wave)
        .min()
        .unwrap_or(0);
    let mut by_wave: BTreeMap<u32, Vec<Step>> = BTreeMap::new();
    for (index, action) in repo.actions.iter().enumerate() {
        let wave = match action.kind {
            ActionKind::Untag => first_delete,
            ActionKind::Delete => action.wave,
        };
        let step = |id: ImageId| Step {
            id,
            digest: action.digest.clone(),
            kind: action.kind,
            action: index,
        };
        let steps = by_wave.entry(wave).or_default();
        if action.kind == ActionKind::Delete && action.tags.is_empty() {
            steps.push(step(ImageId::Digest(action.digest.clone())));
        } else {
            steps.extend(action.tags.iter().map(|t| step(ImageId::Tag(t.clone()))));
        }
    }
    by_wave.into_values().collect()
}

/// Full requests of at most 100 identifiers, in family order, so that an image and
/// its signatures go in the same request unless they straddle two (then the
/// signature's request reads the subject first).
fn batches(repo: &RepositoryPlan, mut steps: Vec<Step>) -> Vec<Vec<Step>> {
    // The family of a removal: the subject its signature or SOCI tag names, else
    // its own image.
    let key = |s: &Step| -> Digest {
        let action = &repo.actions[s.action];
        action
            .tags
            .iter()
            .find_map(|t| signature_subject(t.as_str()))
            .unwrap_or_else(|| action.digest.clone())
    };
    steps.sort_by_cached_key(|s| (key(s), s.action));
    steps
        .chunks(MAX_IDS_PER_BATCH)
        .map(<[Step]>::to_vec)
        .collect()
}

/// The images of a repository that stay although the plan deleted them, with the
/// children of those that are indexes.
type Survivors = HashMap<Digest, Vec<Digest>>;

/// What one repository's apply did (a call that failed as a whole is a failure in
/// it), and the journal error that stopped it, if one did.
async fn apply_repository<R: Registry>(
    shared: &Shared<'_, R>,
    repo: &RepositoryPlan,
) -> (ApplyReport, Option<ProtocolError>) {
    let label = repo.repository.to_string();
    let mut report = ApplyReport::default();
    let mut survivors: Survivors = HashMap::new();
    let mut deleted: HashSet<Digest> = HashSet::new();
    let width = shared.options.parallelism.max(1);
    for steps in waves(repo) {
        // What an image that stays needs is not removed in a later wave either.
        let steps = match keep_needed_ahead(shared, repo, &label, &mut survivors, steps).await {
            Ok((steps, skipped)) => {
                shared.progress.advance(skipped.len());
                report.skipped.extend(skipped);
                steps
            }
            Err(error) => {
                report.fail(Failure {
                    repository: label,
                    id: "(whole call)".into(),
                    code: error.code().to_owned(),
                    reason: format!(
                        "{error}; the rest of this repository's removals were not attempted: apply again to finish"
                    ),
                });
                return (report, None);
            }
        };
        let ctx = BatchContext {
            shared,
            repo,
            label: &label,
            survivors: &survivors,
        };
        let ctx = &ctx;
        let outcomes: Vec<BatchOutcome> = stream::iter(batches(repo, steps))
            .map(|batch| async move { ctx.run(batch).await })
            .buffered(width)
            .collect()
            .await;
        let mut stopped = false;
        let mut journal_error = None;
        let mut new_survivors = Vec::new();
        for o in outcomes {
            for d in o.deleted {
                if deleted.insert(d) {
                    report.images_deleted += 1;
                }
            }
            new_survivors.extend(o.survivors);
            report.merge(o.report);
            match o.error {
                None => {}
                // A call that failed as a whole (after the SDK's retries) stops this
                // repository before its next wave: a later wave may delete the
                // children of an index whose deletion did not happen. Each such call
                // is reported; the other repositories go on.
                Some(ProtocolError::Registry { repository, error }) => {
                    stopped = true;
                    report.fail(Failure {
                        repository,
                        id: "(whole call)".into(),
                        code: error.code().to_owned(),
                        reason: format!(
                            "{error}; the rest of this repository's removals were not attempted: apply again to finish"
                        ),
                    });
                }
                Some(e @ ProtocolError::Journal { .. }) => {
                    journal_error = journal_error.or(Some(e))
                }
            }
        }
        survivors.extend(new_survivors);
        if journal_error.is_some() || stopped {
            return (report, journal_error);
        }
    }
    (report, None)
}

/// Drops, before a wave starts, the removals that an image which stays needs: tags
/// that sign it, and its children when it is an index (recursively: a child that
/// stays keeps its own children, read from its manifest).
async fn keep_needed_ahead<R: Registry>(
    shared: &Shared<'_, R>,
    repo: &RepositoryPlan,
    label: &str,
    survivors: &mut Survivors,
    mut steps: Vec<Step>,
) -> Result<(Vec<Step>, Vec<Skipped>), RegistryError> {
    let mut skipped = Vec::new();
    loop {
        let needed: Option<(usize, Digest)> = steps.iter().find_map(|s| {
            let action = &repo.actions[s.action];
            needed_by(action, None, survivors).map(|by| (s.action, by))
        });
        let Some((action_index, by)) = needed else {
            return Ok((steps, skipped));
        };
        let action = &repo.actions[action_index];
        let (dropped, kept): (Vec<Step>, Vec<Step>) =
            steps.into_iter().partition(|s| s.action == action_index);
        steps = kept;
        for s in &dropped {
            skipped.push(skip_needed(label, s, &by));
        }
        if action.kind == ActionKind::Delete {
            let children = if action.media_type.as_ref().is_some_and(|m| m.is_index()) {
                let ids = [ImageId::Digest(action.digest.clone())];
                let got = shared
                    .call(shared.registry.batch_get_image(&repo.repository, &ids))
                    .await?;
                match got.manifests.first() {
                    Some(m) => index_children(&m.manifest).map_err(RegistryError::Surprising)?,
                    None => Vec::new(),
                }
            } else {
                Vec::new()
            };
            survivors.insert(action.digest.clone(), children);
        }
    }
}

/// The image that stays and needs this action's image, if any: a survivor that it
/// signs (a `sha256-<hex>` tag), that it refers to (`subject`), or whose index lists it.
fn needed_by(action: &Action, subject: Option<&Digest>, survivors: &Survivors) -> Option<Digest> {
    if let Some(d) = action
        .tags
        .iter()
        .filter_map(|t| signature_subject(t.as_str()))
        .find(|d| survivors.contains_key(d))
    {
        return Some(d);
    }
    if let Some(s) = subject
        && survivors.contains_key(s)
    {
        return Some(s.clone());
    }
    survivors
        .iter()
        .find(|(_, kids)| kids.contains(&action.digest))
        .map(|(d, _)| d.clone())
}

fn skip_needed(label: &str, s: &Step, by: &Digest) -> Skipped {
    Skipped {
        repository: label.to_owned(),
        digest: s.digest.clone(),
        tag: match &s.id {
            ImageId::Tag(t) => Some(t.clone()),
            ImageId::Digest(_) => None,
        },
        reason: format!(
            "image {} stays, and needs it (a signature, referrer or child of it); it stays too",
            by.short()
        ),
    }
}

/// What a wave's requests share.
struct BatchContext<'c, 'a, R> {
    shared: &'c Shared<'a, R>,
    repo: &'c RepositoryPlan,
    label: &'c str,
    /// Images that stay, from earlier waves.
    survivors: &'c Survivors,
}

/// What one request did.
#[derive(Default)]
struct BatchOutcome {
    report: ApplyReport,
    /// Images deleted (counted once per repository when merged).
    deleted: Vec<Digest>,
    /// Images planned for deletion that stay, with their children.
    survivors: Vec<(Digest, Vec<Digest>)>,
    error: Option<ProtocolError>,
}

impl<R: Registry> BatchContext<'_, '_, R> {
    fn registry_error(&self, error: RegistryError) -> ProtocolError {
        ProtocolError::Registry {
            repository: self.label.to_owned(),
            error,
        }
    }

    fn skip(&self, out: &mut BatchOutcome, s: &Step, change: Change<'_>) {
        out.report.skipped.push(Skipped {
            repository: self.label.to_owned(),
            digest: s.digest.clone(),
            tag: match &s.id {
                ImageId::Tag(t) => Some(t.clone()),
                ImageId::Digest(_) => None,
            },
            reason: change.reason(),
        });
    }

    /// One request: confirm and read manifests, re-derive, journal, remove, check.
    async fn run(&self, batch: Vec<Step>) -> BatchOutcome {
        let mut out = BatchOutcome::default();
        let shared = self.shared;
        let reference = &self.repo.repository;
        let mut ids: Vec<ImageId> = batch.iter().map(|s| s.id.clone()).collect();
        ids.dedup();
        let mut digests: Vec<ImageId> = batch
            .iter()
            .map(|s| ImageId::Digest(s.digest.clone()))
            .collect();
        digests.dedup();
        // Independent reads, side by side.
        let (current, manifests) = tokio::join!(
            shared.call(read_current(shared.registry, reference, &ids)),
            shared.call(read_manifests(shared.registry, reference, &digests)),
        );
        let current = match current {
            Ok(images) => images,
            Err(e) => {
                out.error = Some(self.registry_error(e));
                return out;
            }
        };
        let view = View::new(&current);
        let total = batch.len();
        let mut touched: Vec<usize> = batch.iter().map(|s| s.action).collect();
        touched.dedup();
        let mut kept = Vec::with_capacity(total);
        for s in batch {
            let action = &self.repo.actions[s.action];
            match decide(&s, action, &view) {
                Decision::Send => kept.push(s),
                Decision::Gone => out.report.already_gone += 1,
                Decision::Skip(change) => self.skip(&mut out, &s, change),
            }
        }
        // A removal restore could not undo is not made, unless asked for.
        let mut withheld: Vec<usize> = Vec::new();
        if !shared.options.allow_unrestorable {
            kept.retain(|s| match manifests.get(&s.digest) {
                Some(Ok(_)) => true,
                other => {
                    let why = match other {
                        Some(Err(why)) => why.clone(),
                        _ => "BatchGetImage returned no manifest for it".to_owned(),
                    };
                    out.report.fail(Failure {
                        repository: self.label.to_owned(),
                        id: s.id.to_string(),
                        code: MANIFEST_NOT_SAVED.to_owned(),
                        reason: format!(
                            "its manifest could not be saved to the journal ({why}), so restore could not undo it: not removed (--allow-unrestorable removes it anyway)"
                        ),
                    });
                    withheld.push(s.action);
                    false
                }
            });
        }
        let kept = match self
            .keep_needed(&mut out, kept, &touched, &withheld, &view, &manifests)
            .await
        {
            Ok(kept) => kept,
            Err(e) => {
                out.error = Some(self.registry_error(e));
                return out;
            }
        };
        shared.progress.advance(total - kept.len());
        if kept.is_empty() {
            return out;
        }
        let entries: Vec<JournalEntry> = kept
            .iter()
            .map(|s| {
                let action = &self.repo.actions[s.action];
                let manifest = manifests.get(&s.digest).and_then(|m| m.clone().ok());
                JournalEntry::new(reference, action, &s.id, &s.digest, manifest)
            })
            .collect();
        if let Err(e) = shared.record(&entries) {
            out.error = Some(e);
            return out;
        }
        if let Err(e) = self.remove(&mut out, kept, &manifests).await {
            out.error = Some(e);
        }
        out
    }

    /// Re-derives the request from the confirmed state: an image planned for deletion
    /// that stays (a removal skipped, or not made) keeps what it needs, here and in
    /// later waves (`out.survivors`).
    async fn keep_needed(
        &self,
        out: &mut BatchOutcome,
        mut kept: Vec<Step>,
        touched: &[usize],
        withheld: &[usize],
        view: &View<'_>,
        manifests: &HashMap<Digest, ManifestRead>,
    ) -> Result<Vec<Step>, RegistryError> {
        let mut survivors: Survivors = self.survivors.clone();
        let add_survivor = |survivors: &mut Survivors, out: &mut BatchOutcome, d: &Digest| {
            let children = manifests
                .get(d)
                .and_then(|m| m.as_ref().ok())
                .filter(|(mt, _)| crate::model::media_type::is_index(mt))
                .and_then(|(_, m)| index_children(m).ok())
                .unwrap_or_default();
            out.survivors.push((d.clone(), children.clone()));
            survivors.insert(d.clone(), children);
        };
        // Images planned for deletion that stay: present now, with a tag the plan
        // did not see, or with removals withheld.
        for &a in touched {
            let action = &self.repo.actions[a];
            if action.kind == ActionKind::Delete
                && stays(action, withheld.contains(&a), view)
                && !survivors.contains_key(&action.digest)
            {
                add_survivor(&mut survivors, out, &action.digest);
            }
        }
        // A signature or referrer whose subject is deleted in another request: read
        // the subject now; if it gained a tag, it stays.
        let in_batch: HashSet<&Digest> = kept.iter().map(|s| &s.digest).collect();
        let mut guards: Vec<ImageId> = Vec::new();
        for s in &kept {
            let action = &self.repo.actions[s.action];
            let subjects = action
                .tags
                .iter()
                .filter_map(|t| signature_subject(t.as_str()))
                .chain(view.subject(&s.digest).cloned());
            for subject in subjects {
                let id = ImageId::Digest(subject.clone());
                if !in_batch.contains(&subject)
                    && !survivors.contains_key(&subject)
                    && self.delete_of(&subject).is_some()
                    && !guards.contains(&id)
                {
                    guards.push(id);
                }
            }
        }
        if !guards.is_empty() {
            let reference = &self.repo.repository;
            let mut now = Vec::new();
            for chunk in guards.chunks(MAX_IDS_PER_BATCH) {
                now.extend(
                    self.shared
                        .call(read_current(self.shared.registry, reference, chunk))
                        .await?,
                );
            }
            for image in &now {
                if let Some(action) = self.delete_of(&image.digest)
                    && !new_tags(&image.tags, action).is_empty()
                {
                    out.survivors.push((image.digest.clone(), Vec::new()));
                    survivors.insert(image.digest.clone(), Vec::new());
                }
            }
        }
        // The closure: what a survivor needs stays, and may itself be a survivor.
        loop {
            let needed = kept.iter().find_map(|s| {
                let action = &self.repo.actions[s.action];
                needed_by(action, view.subject(&s.digest), &survivors).map(|by| (s.action, by))
            });
            let Some((a, by)) = needed else {
                return Ok(kept);
            };
            let (dropped, rest): (Vec<Step>, Vec<Step>) =
                kept.into_iter().partition(|s| s.action == a);
            kept = rest;
            for s in &dropped {
                out.report.skipped.push(skip_needed(self.label, s, &by));
            }
            let action = &self.repo.actions[a];
            if action.kind == ActionKind::Delete && view.exists(&action.digest) {
                add_survivor(&mut survivors, out, &action.digest);
            }
        }
    }

    /// The deletion the plan makes of this image, if it deletes it.
    fn delete_of(&self, digest: &Digest) -> Option<&Action> {
        self.repo
            .actions
            .iter()
            .find(|a| a.kind == ActionKind::Delete && &a.digest == digest)
    }

    /// Sends one confirmed, journalled request; items that a pull-through cache's
    /// upstream throttled are sent again, after a pause that doubles each time.
    async fn remove(
        &self,
        out: &mut BatchOutcome,
        batch: Vec<Step>,
        manifests: &HashMap<Digest, ManifestRead>,
    ) -> Result<(), ProtocolError> {
        let shared = self.shared;
        let reference = &self.repo.repository;
        let mut pending = batch;
        for attempt in 0..=UPSTREAM_RETRIES {
            let ids: Vec<ImageId> = pending.iter().map(|s| s.id.clone()).collect();
            let result = shared
                .call(shared.registry.batch_delete_image(reference, &ids))
                .await
                .map_err(|e| self.registry_error(e))?;
            out.report.delete_batches.push(ids.len());
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
            shared.progress.advance(done.len());
            self.tally(out, &done, &result, manifests).await?;
            if retry.is_empty() {
                break;
            }
            out.report.upstream_retries += retry.len();
            tokio::time::sleep(std::time::Duration::from_millis(200 << attempt)).await;
            pending = retry;
        }
        Ok(())
    }

    /// Counts a request's outcome against what it asked for. Every identifier
    /// reported removed must be one asked for (else: a failure, journalled so that
    /// restore puts it back); every identifier asked for must be answered (else: read
    /// back, and a failure unless it is gone).
    async fn tally(
        &self,
        out: &mut BatchOutcome,
        batch: &[Step],
        result: &BatchDeleteResult,
        manifests: &HashMap<Digest, ManifestRead>,
    ) -> Result<(), ProtocolError> {
        let failed: HashMap<&ImageId, &crate::registry::ItemFailure> =
            result.failures.iter().map(|f| (&f.id, f)).collect();
        let mut answered: HashSet<&ImageId> = failed.keys().copied().collect();
        let mut unplanned: Vec<JournalEntry> = Vec::new();
        for removed in &result.removed {
            let by_tag = batch.iter().find(|s| match &s.id {
                ImageId::Tag(t) => removed.tag.as_ref() == Some(t),
                ImageId::Digest(_) => false,
            });
            let by_digest = batch
                .iter()
                .find(|s| matches!(&s.id, ImageId::Digest(d) if *d == removed.digest));
            match (by_tag, by_digest, &removed.tag) {
                (Some(s), _, _) => {
                    answered.insert(&s.id);
                    if s.digest != removed.digest {
                        // The registry removed a tag from another image than planned:
                        // a race in the moment between confirmation and removal.
                        out.report.fail(Failure {
                            repository: self.label.to_owned(),
                            id: s.id.to_string(),
                            code: "DigestMismatch".into(),
                            reason: format!(
                                "the registry removed it from {} but the plan named {}",
                                removed.digest, s.digest
                            ),
                        });
                    }
                }
                (None, Some(s), None) => {
                    answered.insert(&s.id);
                }
                (None, by_digest, tag) => {
                    // Not asked for: a tag on an image deleted by digest (added since
                    // the confirming read), or anything else the registry says it
                    // removed.
                    if let Some(s) = by_digest {
                        answered.insert(&s.id);
                    }
                    let id = match tag {
                        Some(t) => ImageId::Tag(t.clone()),
                        None => ImageId::Digest(removed.digest.clone()),
                    };
                    out.report.fail(Failure {
                        repository: self.label.to_owned(),
                        id: id.to_string(),
                        code: UNPLANNED_REMOVAL.into(),
                        reason: format!(
                            "the registry reports it removed from image {} although this request did not ask for it (it changed since the confirming read); it is in the journal: restore puts it back",
                            removed.digest.short()
                        ),
                    });
                    let action = by_digest.map(|s| &self.repo.actions[s.action]);
                    let mut image_tags: Vec<Tag> = action
                        .map(|a| a.tags.iter().chain(&a.kept_tags).cloned().collect())
                        .unwrap_or_default();
                    image_tags.extend(tag.iter().cloned());
                    image_tags.sort();
                    image_tags.dedup();
                    let (manifest_media_type, manifest) =
                        match manifests.get(&removed.digest).and_then(|m| m.as_ref().ok()) {
                            Some((mt, m)) => (Some(mt.clone()), Some(m.clone())),
                            None => (None, None),
                        };
                    unplanned.push(JournalEntry {
                        version: super::journal::JOURNAL_VERSION,
                        time: chrono::Utc::now(),
                        repository: self.repo.repository.clone(),
                        kind: ActionKind::Delete,
                        tag: tag.clone(),
                        digest: removed.digest.clone(),
                        image_tags,
                        pushed_at: action.map_or_else(chrono::Utc::now, |a| a.pushed_at),
                        manifest_media_type,
                        manifest,
                    });
                }
            }
        }
        if !unplanned.is_empty() {
            self.shared.record(&unplanned)?;
        }
        // Identifiers answered neither way: read them back before reporting.
        // BatchGetImage answers per identifier (DescribeImages fails as a whole when
        // one is gone), and says which image a tag names now.
        let silent: Vec<ImageId> = batch
            .iter()
            .filter(|s| !answered.contains(&s.id))
            .map(|s| s.id.clone())
            .collect();
        let resolved = if silent.is_empty() {
            Ok(Default::default())
        } else {
            self.shared
                .call(
                    self.shared
                        .registry
                        .batch_get_image(&self.repo.repository, &silent),
                )
                .await
        };
        // What BatchGetImage left unanswered (some implementations do), or all of
        // them when it failed as a whole, DescribeImages settles.
        let unsettled: Vec<ImageId> = match &resolved {
            Ok(got) => silent
                .iter()
                .filter(|id| {
                    !got.manifests.iter().any(|m| &m.id == *id)
                        && !got.failures.iter().any(|f| &f.id == *id)
                })
                .cloned()
                .collect(),
            Err(_) => silent.clone(),
        };
        let listed = if unsettled.is_empty() {
            Ok(Vec::new())
        } else {
            self.shared
                .call(read_current(
                    self.shared.registry,
                    &self.repo.repository,
                    &unsettled,
                ))
                .await
        };
        let listed_has = |s: &Step| -> Result<bool, String> {
            let images = listed.as_ref().map_err(ToString::to_string)?;
            Ok(match &s.id {
                ImageId::Tag(t) => images
                    .iter()
                    .any(|i| i.digest == s.digest && i.tags.contains(t)),
                ImageId::Digest(d) => images.iter().any(|i| &i.digest == d),
            })
        };
        let still_there = |s: &Step| -> Result<bool, String> {
            let Ok(got) = resolved.as_ref() else {
                return listed_has(s);
            };
            if got.manifests.iter().any(|m| m.id == s.id) {
                return Ok(got
                    .manifests
                    .iter()
                    .any(|m| m.id == s.id && m.digest == s.digest));
            }
            match got.failures.iter().find(|f| f.id == s.id) {
                Some(f) if f.code == FailureCode::ImageNotFound => Ok(false),
                Some(f) => Err(format!("{}: {}", f.code, f.reason)),
                None => listed_has(s),
            }
        };
        for s in batch {
            if let Some(f) = failed.get(&s.id) {
                if f.code == FailureCode::ImageNotFound {
                    out.report.already_gone += 1;
                } else {
                    out.report.fail(Failure {
                        repository: self.label.to_owned(),
                        id: s.id.to_string(),
                        code: f.code.to_string(),
                        reason: f.reason.clone(),
                    });
                }
                continue;
            }
            if !answered.contains(&s.id) {
                let problem = match still_there(s) {
                    Ok(false) => None,
                    Ok(true) => Some("and a read afterwards shows it still there".to_owned()),
                    Err(e) => Some(format!("and it could not be read back: {e}")),
                };
                if let Some(problem) = problem {
                    out.report.fail(Failure {
                        repository: self.label.to_owned(),
                        id: s.id.to_string(),
                        code: UNANSWERED.into(),
                        reason: format!(
                            "BatchDeleteImage answered neither that it was removed nor that it failed, {problem}"
                        ),
                    });
                    continue;
                }
            }
            out.report.removed += 1;
            match (&s.id, s.kind) {
                (ImageId::Tag(_), ActionKind::Untag) => {
                    out.report.tags_removed += 1;
                    out.report.untagged += 1;
                }
                (ImageId::Tag(_), ActionKind::Delete) => {
                    out.report.tags_removed += 1;
                    out.deleted.push(s.digest.clone());
                }
                (ImageId::Digest(_), _) => out.deleted.push(s.digest.clone()),
            }
        }
        Ok(())
    }
}
