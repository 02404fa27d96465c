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
//!
//! Here: the apply as a whole, repository by repository and wave by wave (the steps
//! and waves themselves are in `steps`). One request is `batch`; its answer is counted
//! in `tally`; `survivors` keeps what an image that stays needs; `entries` builds the
//! journal entries, at the time the caller passes in `ApplyOptions::now`.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use futures_util::stream::{self, StreamExt};
use tokio::sync::Semaphore;

pub use super::report::{ApplyReport, Failure, Progress, Quiet, Skipped};
use super::steps::{Step, batches, waves};
use crate::ops::cancel::Cancel;
use crate::ops::journal::{Journal, JournalEntry};
use crate::ops::report::FailureKind;
use survivors::{Survivors, take_needed};

use crate::model::{Digest, RepositoryRef};
use crate::plan::{ActionKind, Plan, RepositoryPlan, RepositoryStatus};
use crate::registry::observe::index_children;
use crate::registry::{ImageId, Registry, RegistryError};

mod batch;
mod entries;
mod storage_class;
mod survivors;
mod tally;

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
    /// The time the journal entries carry (the caller's clock, read once as the
    /// apply starts; the protocol reads none).
    pub now: DateTime<Utc>,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        Self {
            parallelism: DEFAULT_PARALLELISM,
            allow_unrestorable: false,
            now: Utc::now(),
        }
    }
}

/// Requests in flight at once by default.
pub const DEFAULT_PARALLELISM: usize = 32;

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
    apply_plan_cancellable(registry, plan, journal, progress, options, &Cancel::new()).await
}

/// [`apply_plan_with`], stopped by `cancel`: once it is set, nothing new is sent (no
/// confirming read, no removal, no next wave); the requests already sent are
/// answered, checked and journalled as usual, and what was never sent is counted in
/// [`ApplyReport::not_started`].
pub async fn apply_plan_cancellable<R: Registry>(
    registry: &R,
    plan: &Plan,
    journal: &mut Journal,
    progress: &dyn Progress,
    options: ApplyOptions,
    cancel: &Cancel,
) -> Result<ApplyReport, ProtocolError> {
    let width = options.parallelism.max(1);
    let shared = Shared {
        cancel,
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
    cancel: &'a Cancel,
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
    let all = waves(repo);
    let mut left: usize = all.iter().map(Vec::len).sum();
    for steps in all {
        if shared.cancel.is_cancelled() {
            // Nothing new once cancelled: this wave and the later ones wait for
            // the next apply.
            report.not_started += left
                + repo
                    .actions
                    .iter()
                    .filter(|a| matches!(a.kind, ActionKind::Archive | ActionKind::Reactivate))
                    .count();
            return (report, None);
        }
        left -= steps.len();
        // What an image that stays needs is not removed in a later wave either.
        let steps = match keep_needed_ahead(shared, repo, &mut survivors, steps).await {
            Ok((steps, skipped)) => {
                shared.progress.advance(skipped.len());
                report.skipped.extend(skipped);
                steps
            }
            Err(error) => {
                report.fail(whole_call_failed(&repo.repository, &error));
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
                Some(ProtocolError::Registry { error, .. }) => {
                    stopped = true;
                    report.fail(whole_call_failed(&repo.repository, &error));
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
    // Then the changes of storage class, which no removal waits for.
    let (changes, error) = storage_class::change_classes(shared, repo).await;
    report.merge(changes);
    (report, error)
}

/// The failure of a call that failed as a whole: the rest of the repository waits.
fn whole_call_failed(repository: &RepositoryRef, error: &RegistryError) -> Failure {
    Failure::new(
        repository,
        None,
        FailureKind::from(error),
        format!(
            "{error}; the rest of this repository's removals were not attempted: apply again to finish"
        ),
    )
}

/// Drops, before a wave starts, the removals that an image which stays needs: tags
/// that sign it, and its children when it is an index (recursively: a child that
/// stays keeps its own children, read from its manifest).
async fn keep_needed_ahead<R: Registry>(
    shared: &Shared<'_, R>,
    repo: &RepositoryPlan,
    survivors: &mut Survivors,
    mut steps: Vec<Step>,
) -> Result<(Vec<Step>, Vec<Skipped>), RegistryError> {
    let mut skipped = Vec::new();
    while let Some(needed) = take_needed(repo, &mut steps, |_| None, survivors) {
        skipped.extend(needed.skipped);
        let action = &repo.actions[needed.action];
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
    Ok((steps, skipped))
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
