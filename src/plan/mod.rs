//! The plan: a value computed by a pure function of (desired state, observed state,
//! now), then saved, shown and applied as is. Its JSON form is documented in the
//! book (`docs/src/output.md`) and in `schema/plan.schema.json`.

mod engine;
pub mod explain;
pub mod forecast;
pub mod lifecycle;
pub mod quota;
pub mod saved;
pub mod stale;
pub mod storage;
mod waves;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use engine::{PlanOptions, plan_repository, signature_subject, unreadable_repository};

use crate::config::{Origin, UntaggedPolicy};
use crate::in_use::UseSite;
use crate::model::{Digest, MediaType, RepositoryRef, Tag, Usd};
use crate::registry::ImageStatus;

/// The version of the plan's JSON format.
pub const PLAN_FORMAT_VERSION: u32 = 2;

/// A complete plan: a pure value. What it took to make it (the calls) is the run's,
/// carried beside it by the operation's outcome; the checksum of a saved plan is the
/// file's ([`saved`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// Version of this JSON format (2: with the storage figures).
    pub format_version: u32,
    /// The ecr-reconcile version that made the plan.
    pub tool_version: String,
    /// The instant the plan was computed for (`max_age` is measured from it).
    pub created_at: DateTime<Utc>,
    /// SHA-256 over the desired-state files the plan was made from.
    pub desired_state_digest: String,
    /// The desired-state files the plan was made from, by path relative to the folder
    /// that holds them all, with the SHA-256 of each (to say which file differs when a
    /// saved plan is refused).
    #[serde(default)]
    pub desired_files: Vec<crate::config::FileFingerprint>,
    /// Where the observed state came from: `aws`, or `snapshot:<file>`.
    pub source: String,
    /// One entry per declared repository, in declaration order.
    pub repositories: Vec<RepositoryPlan>,
    /// Warnings, each pointing at the line of a desired-state file where possible.
    pub warnings: Vec<Warning>,
    /// Totals.
    pub summary: Summary,
    /// With `plan --forecast`: what the same files would remove as the clock moves on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forecast: Option<forecast::Forecast>,
    /// With `--shard K/N`: which shard of the declared repositories this plan covers
    /// (absent for the whole). `show` puts the N plans of one desired state back
    /// together.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<crate::config::shard::ShardInfo>,
}

/// The state of one repository in the plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RepositoryStatus {
    /// Nothing to do.
    Unchanged,
    /// Tags to remove or images to delete.
    Changes,
    /// The plan would delete every image and `allow_empty` is not set: nothing in this
    /// repository will be applied.
    Refused,
    /// The repository does not exist.
    Missing,
    /// The repository could not be read (access denied, a manifest that could not be
    /// read, ...): nothing is planned for it, the plan exits 1 and apply refuses it.
    Unreadable,
}

/// The plan for one repository.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RepositoryPlan {
    /// Account, region and name.
    pub repository: RepositoryRef,
    /// Where the repository is declared.
    pub declared_at: Origin,
    /// What happens to it.
    pub status: RepositoryStatus,
    /// Why it is refused, when it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused_reason: Option<String>,
    /// Why it could not be read, when it could not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_error: Option<String>,
    /// The policy for untagged images.
    pub untagged: UntaggedPolicy,
    /// Images observed in the repository.
    pub images_observed: usize,
    /// Tags that stay, sorted.
    pub tags_kept: Vec<Tag>,
    /// The removals, in the order they must be applied (`wave`, then push time).
    pub actions: Vec<Action>,
    /// The images kept because an in-use source names them, with where; absent when
    /// none is.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub in_use: Vec<InUseImage>,
    /// Where the registry replicates the repository's pushes (DescribeRegistry's
    /// replication rules): the removals do not reach these copies. Absent when none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replicas: Vec<crate::registry::Replica>,
    /// Bytes of configs and layers the deletions free: those referenced by deleted
    /// images and by no image that stays (see `freed_bytes_exact`).
    #[serde(default)]
    pub freed_bytes: u64,
    /// True when `freed_bytes` is exact (every manifest was read); false when it is
    /// estimated (an image's manifest could not be read: see `manifests_unread`).
    #[serde(default = "exact")]
    pub freed_bytes_exact: bool,
    /// Bytes stored now: each config and layer of the repository once.
    #[serde(default)]
    pub stored_bytes_before: u64,
    /// Bytes stored once the plan is applied.
    #[serde(default)]
    pub stored_bytes_after: u64,
    /// Bytes of configs and layers that only untagged images outside any index
    /// reference (what deleting them all would free).
    #[serde(default)]
    pub untagged_bytes: u64,
    /// Images whose manifest could not be read (absent when none).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub manifests_unread: usize,
    /// What the bytes freed cost a month, in US dollars, at the prices of the run.
    #[serde(default)]
    pub monthly_saving_usd: Usd,
    /// What deleting images archived less than 90 days ago bills once (the rest of the
    /// archive's minimum), in US dollars; absent when nothing.
    #[serde(default, skip_serializing_if = "Usd::is_zero")]
    pub archive_minimum_charge_usd: Usd,
    /// Bytes the archives move out of the standard storage class (configs and layers
    /// no image active after the plan references); absent when none.
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub archived_bytes: u64,
    /// What the archives save a month (the standard price less the archive price),
    /// part of `monthly_saving_usd`; absent when nothing.
    #[serde(default, skip_serializing_if = "Usd::is_zero")]
    pub archive_saving_usd: Usd,
    /// Bytes the reactivations bring back to the standard storage class; absent
    /// when none.
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub reactivated_bytes: u64,
    /// What the reactivations add a month (ECR's restore fee per GB comes on top,
    /// once); absent when nothing.
    #[serde(default, skip_serializing_if = "Usd::is_zero")]
    pub reactivation_cost_usd: Usd,
    /// The repository's `max_delete`, which apply enforces; absent when none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_delete: Option<crate::model::DeleteLimit>,
}

fn exact() -> bool {
    true
}

impl RepositoryPlan {
    /// The plan of `repository`, declared as `desired`, with `status` and nothing
    /// planned yet.
    pub fn empty(
        repository: RepositoryRef,
        desired: &crate::config::DesiredRepository,
        status: RepositoryStatus,
    ) -> Self {
        Self {
            repository,
            declared_at: desired.origin.clone(),
            status,
            refused_reason: None,
            read_error: None,
            untagged: desired.untagged,
            images_observed: 0,
            tags_kept: Vec::new(),
            actions: Vec::new(),
            in_use: Vec::new(),
            replicas: Vec::new(),
            freed_bytes: 0,
            freed_bytes_exact: true,
            stored_bytes_before: 0,
            stored_bytes_after: 0,
            untagged_bytes: 0,
            manifests_unread: 0,
            monthly_saving_usd: crate::model::Usd::ZERO,
            archive_minimum_charge_usd: crate::model::Usd::ZERO,
            archived_bytes: 0,
            archive_saving_usd: crate::model::Usd::ZERO,
            reactivated_bytes: 0,
            reactivation_cost_usd: crate::model::Usd::ZERO,
            max_delete: desired.max_delete,
        }
    }
}

impl RepositoryPlan {
    /// Sets the storage figures.
    pub fn set_storage(&mut self, s: &storage::RepositoryStorage) {
        self.freed_bytes = s.freed_bytes;
        self.freed_bytes_exact = s.freed_bytes_exact;
        self.stored_bytes_before = s.stored_bytes_before;
        self.stored_bytes_after = s.stored_bytes_after;
        self.untagged_bytes = s.untagged_bytes;
        self.manifests_unread = s.manifests_unread;
        self.monthly_saving_usd = s.monthly_saving_usd;
        self.archive_minimum_charge_usd = s.archive_minimum_charge_usd;
        self.archived_bytes = s.archived_bytes;
        self.archive_saving_usd = s.archive_saving_usd;
        self.reactivated_bytes = s.reactivated_bytes;
        self.reactivation_cost_usd = s.reactivation_cost_usd;
    }
}

/// An image kept because it is in use, whatever the allow-list says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InUseImage {
    /// The image.
    pub digest: Digest,
    /// The tags it is referenced by, which stay with it (none when only its digest
    /// is referenced).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<Tag>,
    /// Every place that names it: source, file and line, or pod and container.
    pub uses: Vec<UseSite>,
}

/// What a removal does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    /// Removes tags; the image stays with its other tags.
    Untag,
    /// Deletes the image with all its tags.
    Delete,
    /// Moves the image to ECR's archive storage class (UpdateImageStorageClass to
    /// `ARCHIVE`): it keeps its tags and cannot be pulled until reactivated.
    Archive,
    /// Moves an archived image back to the standard storage class
    /// (UpdateImageStorageClass to `STANDARD`): `ACTIVATING`, then `ACTIVE`, within
    /// about 20 minutes.
    Reactivate,
}

/// One removal, with the image as observed when planning (for stale-plan checks).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Action {
    /// Untag or delete.
    pub kind: ActionKind,
    /// The image's digest.
    pub digest: Digest,
    /// The tags removed (for a delete: every tag it had; possibly none).
    pub tags: Vec<Tag>,
    /// For an untag, the tags the image keeps.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kept_tags: Vec<Tag>,
    /// When the image was pushed.
    pub pushed_at: DateTime<Utc>,
    /// Its size in bytes, as reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<u64>,
    /// Its manifest media type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<MediaType>,
    /// Why it is removed.
    pub reason: String,
    /// Apply order: 0 for untags; deletes from 1 up, an index (or a referrer) in an
    /// earlier wave than the images it references. Each wave is applied in separate
    /// requests after the previous one.
    pub wave: u32,
    /// The image's status as ECR reports it (`active`, `archived`, `activating`);
    /// absent when the registry reports none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ImageStatus>,
    /// The image's last pull as ECR recorded it, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_recorded_pull_time: Option<DateTime<Utc>>,
    /// When the image was last archived, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_archived_at: Option<DateTime<Utc>>,
}

/// Stable warning codes.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    JsonSchema,
    strum::IntoStaticStr,
)]
#[serde(rename_all = "kebab-case")]
// Printed as `plan::<code>`.
#[strum(serialize_all = "kebab-case", prefix = "plan::")]
pub enum WarningCode {
    /// An exact allowed tag is not in the repository (a typo?).
    TagNotFound,
    /// A glob or rule matches no tag.
    PatternMatchedNothing,
    /// A declared repository does not exist.
    RepositoryNotFound,
    /// A tag is kept although not allowed: removing it would delete an image that must stay.
    TagRetained,
    /// The plan would delete every image of the repository; refused.
    RefusedEmpty,
    /// An index's manifest cannot be read (it is archived): its children are unknown.
    IndexUnreadable,
    /// Deleting an image archived less than 90 days ago is billed for the rest of the
    /// archive's 90-day minimum.
    ArchiveMinimumCharge,
    /// A declared repository could not be read.
    RepositoryUnreadable,
    /// A tag in use is not allowed: it stays while it is in use; allow it.
    InUseNotAllowed,
    /// An in-use source names a tag or digest the repository does not have.
    InUseNotFound,
    /// The repository's ECR lifecycle policy would expire or archive an image the plan
    /// keeps.
    LifecycleConflict,
    /// The repository's ECR lifecycle policy could not be read or understood.
    LifecyclePolicyUnreadable,
    /// The repository is a pull-through cache: a removed tag comes back on its next
    /// pull from the upstream registry.
    PullThroughCache,
    /// A registry's replication and pull-through cache rules could not be read.
    RegistrySettingsUnreadable,
    /// `pulled_within` is used, and the tool's principal is not excluded from
    /// pull-time updates (or that could not be checked).
    PullTimeNotExcluded,
    /// A repository is within 10% of ECR's quota of images per repository.
    ImageQuota,
    /// An image is within 10% of ECR's limit of tags per image.
    TagQuota,
}

impl WarningCode {
    /// The code as printed.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// True for the warnings about a registry as a whole (its settings, the tool's
    /// principal there), given once per registry at its first repository concerned;
    /// false for the warnings about one repository.
    pub fn is_registry_wide(self) -> bool {
        match self {
            WarningCode::RegistrySettingsUnreadable | WarningCode::PullTimeNotExcluded => true,
            WarningCode::TagNotFound
            | WarningCode::PatternMatchedNothing
            | WarningCode::RepositoryNotFound
            | WarningCode::TagRetained
            | WarningCode::RefusedEmpty
            | WarningCode::IndexUnreadable
            | WarningCode::ArchiveMinimumCharge
            | WarningCode::RepositoryUnreadable
            | WarningCode::InUseNotAllowed
            | WarningCode::InUseNotFound
            | WarningCode::LifecycleConflict
            | WarningCode::LifecyclePolicyUnreadable
            | WarningCode::PullThroughCache
            | WarningCode::ImageQuota
            | WarningCode::TagQuota => false,
        }
    }
}

/// A warning.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Warning {
    /// Stable code.
    pub code: WarningCode,
    /// What is wrong.
    pub message: String,
    /// The repository concerned (`name` in `account/region`).
    pub repository: String,
    /// Where in the desired-state files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<Origin>,
    /// What to do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
}

/// Totals over the whole plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Summary {
    /// Tags removed, by untag or delete.
    pub tags_to_remove: usize,
    /// Images deleted.
    pub images_to_delete: usize,
    /// Bytes of the images deleted, as reported.
    pub bytes_to_delete: u64,
    /// Tags removed from images that stay.
    pub untags: usize,
    /// Images moved to the archive storage class (absent when none).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub images_to_archive: usize,
    /// Archived images moved back to the standard storage class (absent when none).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub images_to_reactivate: usize,
    /// Repositories with changes (refused ones excluded).
    pub repositories_changed: usize,
    /// Repositories with nothing to do.
    pub repositories_unchanged: usize,
    /// Repositories refused by the allow_empty guard.
    pub repositories_refused: usize,
    /// Declared repositories that do not exist.
    pub repositories_missing: usize,
    /// Declared repositories that could not be read (absent when none).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub repositories_unreadable: usize,
    /// Bytes the deletions free, over every repository (see `freed_bytes_exact`).
    #[serde(default)]
    pub freed_bytes: u64,
    /// True when every repository's `freed_bytes` is exact.
    #[serde(default = "exact")]
    pub freed_bytes_exact: bool,
    /// Bytes stored in the declared repositories now.
    #[serde(default)]
    pub stored_bytes_before: u64,
    /// Bytes stored once the plan is applied.
    #[serde(default)]
    pub stored_bytes_after: u64,
    /// The monthly saving over every repository, in US dollars.
    #[serde(default)]
    pub monthly_saving_usd: Usd,
    /// The one-off archive minimum charge over every repository, in US dollars;
    /// absent when nothing.
    #[serde(default, skip_serializing_if = "Usd::is_zero")]
    pub archive_minimum_charge_usd: Usd,
    /// Bytes the archives move out of the standard storage class; absent when none.
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub archived_bytes: u64,
    /// What the archives save a month (part of `monthly_saving_usd`); absent when
    /// nothing.
    #[serde(default, skip_serializing_if = "Usd::is_zero")]
    pub archive_saving_usd: Usd,
    /// Bytes the reactivations bring back to the standard storage class; absent when
    /// none.
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub reactivated_bytes: u64,
    /// What the reactivations add a month; absent when nothing.
    #[serde(default, skip_serializing_if = "Usd::is_zero")]
    pub reactivation_cost_usd: Usd,
}

impl Default for Summary {
    fn default() -> Self {
        Summary {
            tags_to_remove: 0,
            images_to_delete: 0,
            bytes_to_delete: 0,
            untags: 0,
            images_to_archive: 0,
            images_to_reactivate: 0,
            repositories_changed: 0,
            repositories_unchanged: 0,
            repositories_refused: 0,
            repositories_missing: 0,
            repositories_unreadable: 0,
            freed_bytes: 0,
            freed_bytes_exact: true,
            stored_bytes_before: 0,
            stored_bytes_after: 0,
            monthly_saving_usd: Usd::ZERO,
            archive_minimum_charge_usd: Usd::ZERO,
            archived_bytes: 0,
            archive_saving_usd: Usd::ZERO,
            reactivated_bytes: 0,
            reactivation_cost_usd: Usd::ZERO,
        }
    }
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

fn is_zero_u64(n: &u64) -> bool {
    *n == 0
}

impl Summary {
    /// Totals of a list of repository plans. Refused repositories are not counted in
    /// the removals: nothing of theirs will be applied.
    pub fn of(repos: &[RepositoryPlan]) -> Self {
        let mut s = Summary::default();
        for r in repos {
            s.add(r);
        }
        s
    }

    /// Adds one repository's plan to the totals: the summary of a plan made a
    /// repository at a time, and written as it goes.
    pub fn add(&mut self, r: &RepositoryPlan) {
        let s = self;
        s.freed_bytes += r.freed_bytes;
        s.freed_bytes_exact &= r.freed_bytes_exact;
        s.stored_bytes_before += r.stored_bytes_before;
        s.stored_bytes_after += r.stored_bytes_after;
        s.monthly_saving_usd += r.monthly_saving_usd;
        s.archive_minimum_charge_usd += r.archive_minimum_charge_usd;
        s.archived_bytes += r.archived_bytes;
        s.archive_saving_usd += r.archive_saving_usd;
        s.reactivated_bytes += r.reactivated_bytes;
        s.reactivation_cost_usd += r.reactivation_cost_usd;
        match r.status {
            RepositoryStatus::Unchanged => s.repositories_unchanged += 1,
            RepositoryStatus::Missing => s.repositories_missing += 1,
            RepositoryStatus::Refused => s.repositories_refused += 1,
            RepositoryStatus::Unreadable => s.repositories_unreadable += 1,
            RepositoryStatus::Changes => {
                s.repositories_changed += 1;
                for a in &r.actions {
                    s.tags_to_remove += a.tags.len();
                    match a.kind {
                        ActionKind::Untag => s.untags += a.tags.len(),
                        ActionKind::Delete => {
                            s.images_to_delete += 1;
                            s.bytes_to_delete += a.size_bytes.unwrap_or(0);
                        }
                        ActionKind::Archive => s.images_to_archive += 1,
                        ActionKind::Reactivate => s.images_to_reactivate += 1,
                    }
                }
            }
        }
    }
}

impl Plan {
    /// True when applying the plan would change something.
    pub fn has_changes(&self) -> bool {
        self.summary.repositories_changed + self.summary.repositories_refused > 0
    }

    /// True when the registry does not match the desired state: changes to apply, a
    /// repository refused, or a declared repository that does not exist (what
    /// `--detailed-exitcode` reports as 2).
    pub fn drifted(&self) -> bool {
        self.has_changes() || self.summary.repositories_missing > 0
    }

    /// Puts the warnings in the plan's order: first those of one repository, by the
    /// repository they concern in declaration order (stable: a repository's warnings
    /// keep theirs; a warning of no declared repository after them); then those of a
    /// whole registry, by code, then by repository. A registry's warning (given at its
    /// first repository concerned) is kept once, at the first repository: so the plan
    /// put together from shards, each warning at its own first repository, warns
    /// exactly as the plan of the whole does.
    pub fn order_warnings(&mut self) {
        let position: std::collections::HashMap<String, usize> = self
            .repositories
            .iter()
            .enumerate()
            .map(|(i, r)| (r.repository.to_string(), i))
            .collect();
        order_warnings(&mut self.warnings, &position);
    }

    /// The repositories that could not be read.
    pub fn unreadable(&self) -> impl Iterator<Item = &RepositoryPlan> {
        self.repositories
            .iter()
            .filter(|r| r.status == RepositoryStatus::Unreadable)
    }
}

/// [`Plan::order_warnings`] for a plan whose repositories are given by `position`:
/// each repository's name and its index in declaration order (a plan written as it
/// goes keeps these, not the repositories).
pub fn order_warnings(
    warnings: &mut Vec<Warning>,
    position: &std::collections::HashMap<String, usize>,
) {
    warnings.sort_by_key(|w| {
        let at = position.get(&w.repository).copied().unwrap_or(usize::MAX);
        let wide = w.code.is_registry_wide();
        (wide, if wide { w.code as usize } else { 0 }, at)
    });
    let mut said = std::collections::HashSet::new();
    warnings.retain(|w| {
        !w.code.is_registry_wide() || said.insert((w.code, w.message.clone(), w.help.clone()))
    });
}

#[cfg(test)]
mod tests;
