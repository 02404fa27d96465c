//! What an apply reports: removals made, skipped (with why) and failed (by code), and
//! the progress hook.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::model::{Digest, RepositoryRef, Tag};
use crate::ops::report::{FailureKind, ImageRef};

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
    /// The image, by the tag skipped or else by its digest.
    pub image: ImageRef,
    /// The repository, structured.
    pub repository_id: RepositoryRef,
}

impl Skipped {
    /// The skip of `tag` (or of the image as a whole) in `repository`.
    pub fn new(
        repository: &RepositoryRef,
        digest: &Digest,
        tag: Option<&Tag>,
        reason: String,
    ) -> Self {
        Self {
            repository: repository.to_string(),
            digest: digest.clone(),
            tag: tag.cloned(),
            reason,
            image: ImageRef::new(tag, digest),
            repository_id: repository.clone(),
        }
    }
}

/// A removal the registry refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Failure {
    /// The repository.
    pub repository: String,
    /// The identifier sent.
    pub id: String,
    /// ECR's failure code, or one of the protocol's own: `DigestMismatch` (the
    /// registry removed the tag from another image than planned), `UnplannedRemoval`
    /// (it reported removed an identifier the request did not ask for),
    /// `Unanswered` (answered neither way, and not found gone afterwards),
    /// `ManifestNotSaved` (not removed: its manifest could not be saved for restore).
    pub code: FailureKind,
    /// ECR's reason, or the protocol's.
    pub reason: String,
    /// The identifier sent, structured; none for a call that failed as a whole.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<ImageRef>,
    /// The repository, structured.
    pub repository_id: RepositoryRef,
}

impl Failure {
    /// The failure of `id` in `repository` (`None`: a call that failed as a whole).
    pub fn new(
        repository: &RepositoryRef,
        id: Option<&crate::registry::ImageId>,
        code: impl Into<FailureKind>,
        reason: String,
    ) -> Self {
        Self {
            repository: repository.to_string(),
            id: id.map_or_else(|| WHOLE_CALL.to_owned(), ToString::to_string),
            code: code.into(),
            reason,
            image: id.map(ImageRef::from),
            repository_id: repository.clone(),
        }
    }
}

/// The `id` of a failure of a call as a whole.
const WHOLE_CALL: &str = "(whole call)";

/// What an apply did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ApplyReport {
    /// Removals made: the unit of the plan's requests and of the progress display (a
    /// tag, or an untagged image by its digest). Those not made are `already_gone`,
    /// `skipped` or `failures`.
    pub removed: usize,
    /// Tags removed, by untag or with their image.
    pub tags_removed: usize,
    /// Tags removed from images that stay.
    pub untagged: usize,
    /// Images deleted.
    pub images_deleted: usize,
    /// Images archived (UpdateImageStorageClass to `ARCHIVE`); absent when none.
    #[serde(default, skip_serializing_if = "crate::ops::report::is_zero")]
    pub images_archived: usize,
    /// Archived images reactivated (UpdateImageStorageClass to `STANDARD`: they are
    /// `ACTIVATING`, then `ACTIVE` within about 20 minutes); absent when none.
    #[serde(default, skip_serializing_if = "crate::ops::report::is_zero")]
    pub images_reactivated: usize,
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
    /// Removals never sent because the run was cancelled (SIGINT, SIGTERM) first;
    /// applying again makes them.
    #[serde(default, skip_serializing_if = "crate::ops::report::is_zero")]
    pub not_started: usize,
    /// With `--wait`: the reactivated images once waited for (none still ACTIVATING,
    /// or the apply failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reactivation_wait: Option<ReactivationWait>,
}

impl ApplyReport {
    /// True when every planned removal is done, skipped as moved, or already gone,
    /// and (with `--wait`) no reactivated image is still ACTIVATING.
    pub fn succeeded(&self) -> bool {
        self.failures.is_empty()
            && self
                .reactivation_wait
                .as_ref()
                .is_none_or(|w| w.activating == 0)
    }

    /// Adds the counts and lists of `other`, after this report's.
    pub(super) fn merge(&mut self, other: ApplyReport) {
        self.removed += other.removed;
        self.tags_removed += other.tags_removed;
        self.untagged += other.untagged;
        self.images_deleted += other.images_deleted;
        self.images_archived += other.images_archived;
        self.images_reactivated += other.images_reactivated;
        self.already_gone += other.already_gone;
        self.skipped.extend(other.skipped);
        for f in other.failures {
            self.fail(f);
        }
        self.delete_batches.extend(other.delete_batches);
        self.upstream_retries += other.upstream_retries;
        self.not_started += other.not_started;
    }

    /// Records a failure, counted by its code.
    pub(super) fn fail(&mut self, failure: Failure) {
        *self
            .failures_by_code
            .entry(failure.code.to_string())
            .or_default() += 1;
        self.failures.push(failure);
    }
}

/// What `--wait` saw at its end.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ReactivationWait {
    /// Reactivated images active again.
    pub active: usize,
    /// Reactivated images still ACTIVATING when the wait ended (the timeout passed, or
    /// the run was cancelled): a failure of the apply.
    pub activating: usize,
    /// Planned reactivations that are not under way: the image is still ARCHIVED (its
    /// reactivation was skipped or failed, and the report says why) or is gone.
    pub not_reactivated: usize,
    /// How long it waited, in whole seconds.
    pub waited_seconds: u64,
    /// The images still ACTIVATING, `REPOSITORY@DIGEST`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub still_activating: Vec<String>,
}

/// Hooks for progress display; the default does nothing.
pub trait Progress: Send + Sync {
    /// `n` removals (tags, or untagged images by digest) were settled: made, found
    /// already gone, skipped or failed.
    fn advance(&self, _n: usize) {}
    /// `--wait` read the reactivated images: `active` of `total` are active again.
    fn waiting(&self, _active: usize, _total: usize) {}
}

/// No progress display.
pub struct Quiet;
impl Progress for Quiet {}
