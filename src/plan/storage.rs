//! What a plan frees and what that saves: a pure function of one repository's
//! observed state (its images and the blobs their manifests reference, numbered
//! within the repository), its plan, the prices and `now`.
//!
//! ECR bills the layers it stores, and stores a layer once however many images of a
//! repository use it. So deleting images frees the configs and layers that the
//! deleted images reference and that no image that stays references: a base layer
//! under fifty releases is freed only with the last of them. An index stores no layer
//! of its own (its children are images of the repository, listed on their own), so
//! only the blobs of the other images are counted here.
//!
//! Layers are counted per repository. ECR's blob mounting lets repositories of one
//! registry reference a layer stored by another, and the documentation does not say
//! how such a layer is billed; a layer shared with another repository is counted in
//! each (so the bytes freed may be fewer than counted when blob mounting is on).
//!
//! A figure is exact when every image's manifest was read. An image whose manifest
//! could not be read (archived, and not in the manifest cache) makes it an estimate:
//! a deleted one counts its reported size (`imageSizeInBytes`), and a kept one may
//! share layers with the deleted images that are counted as freed.

use chrono::{DateTime, Utc};

use super::{ActionKind, RepositoryPlan, RepositoryStatus};
use crate::model::{Digest, Prices, Usd};
use crate::registry::{ARCHIVE_MINIMUM_DAYS, ImageStatus, ObservedRepository};

/// The storage figures of one repository's plan.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RepositoryStorage {
    /// Bytes of configs and layers the deletions free.
    pub freed_bytes: u64,
    /// False when an image's manifest could not be read: `freed_bytes` is estimated.
    pub freed_bytes_exact: bool,
    /// Bytes stored before the plan is applied (configs and layers, each once).
    pub stored_bytes_before: u64,
    /// Bytes stored after (estimated, like `freed_bytes`, when not exact).
    pub stored_bytes_after: u64,
    /// Bytes of configs and layers that only untagged images outside any index
    /// reference: what deleting every such image would free.
    pub untagged_bytes: u64,
    /// Images whose manifest could not be read.
    pub manifests_unread: usize,
    /// The monthly saving at `prices`.
    pub monthly_saving_usd: Usd,
    /// What deleting images archived less than 90 days ago bills once, for the rest of
    /// the archive's minimum.
    pub archive_minimum_charge_usd: Usd,
    /// Bytes of configs and layers the archives move out of the standard storage
    /// class: referenced by an image archived and by no image active after the plan.
    pub archived_bytes: u64,
    /// What the archives save a month: `archived_bytes` at the standard price less
    /// the archive price (part of `monthly_saving_usd`).
    pub archive_saving_usd: Usd,
    /// Bytes the reactivations bring back to the standard storage class: referenced
    /// by an image reactivated and by no image active now.
    pub reactivated_bytes: u64,
    /// What the reactivations add a month (the standard price less the archive
    /// price); ECR's restore fee per GB comes on top, once.
    pub reactivation_cost_usd: Usd,
}

/// One distinct blob of the repository, and who references it.
#[derive(Clone, Copy, Default)]
struct BlobUse {
    /// Referenced by an image listed (and read): the blob is stored.
    stored: bool,
    /// Referenced by an image that stays.
    kept: bool,
    /// Referenced by a tagged image, or by an image an index lists.
    needed: bool,
    /// Referenced by a deleted image that is active (billed at the standard price).
    deleted_active: bool,
    /// Referenced by an image the plan archives.
    archiving: bool,
    /// Referenced by an image the plan reactivates.
    reactivating: bool,
    /// Referenced by an image active now.
    active_before: bool,
    /// Referenced by an image active once the plan is applied.
    active_after: bool,
    /// The most days of archive minimum left among the deleted archived images that
    /// reference it; `None` when no deleted archived image does.
    archived_days_left: Option<i64>,
}

/// The storage figures of `plan` for `observed`: exact from the manifests where they
/// were read. A repository that is refused, missing or unreadable frees nothing.
pub fn account(
    observed: &ObservedRepository,
    plan: &RepositoryPlan,
    prices: &Prices,
    now: DateTime<Utc>,
) -> RepositoryStorage {
    let applies = plan.status == RepositoryStatus::Changes;
    let of_kind = |kind: ActionKind| -> foldhash::HashSet<&Digest> {
        if applies {
            plan.actions
                .iter()
                .filter(|a| a.kind == kind)
                .map(|a| &a.digest)
                .collect()
        } else {
            Default::default()
        }
    };
    let deleted = of_kind(ActionKind::Delete);
    let archiving = of_kind(ActionKind::Archive);
    let reactivating = of_kind(ActionKind::Reactivate);
    // Indexed by blob number: no digest is hashed here.
    let mut blobs: Vec<BlobUse> = vec![BlobUse::default(); observed.blobs.len()];
    let mut out = RepositoryStorage {
        freed_bytes_exact: true,
        ..RepositoryStorage::default()
    };
    // Reported sizes of the deleted images whose blobs are unknown (by class).
    let mut unknown_deleted = (0u64, 0u64);
    let mut unknown_kept = 0u64;
    // Reported sizes of the archived and reactivated images whose blobs are unknown.
    let (mut unknown_archiving, mut unknown_reactivating) = (0u64, 0u64);
    let children: foldhash::HashSet<&Digest> = observed.children.values().flatten().collect();
    for img in observed.images.iter().filter(|i| !i.is_index()) {
        let is_deleted = deleted.contains(&img.digest);
        let archived = img.status == Some(ImageStatus::Archived);
        let is_archiving = archiving.contains(&img.digest);
        let is_reactivating = reactivating.contains(&img.digest);
        let Some(ids) = observed.blobs.of(&img.digest) else {
            out.manifests_unread += 1;
            let size = img.size_bytes.unwrap_or(0);
            if is_archiving {
                unknown_archiving += size;
            } else if is_reactivating {
                unknown_reactivating += size;
            }
            if !is_deleted {
                unknown_kept += size;
            } else if archived {
                unknown_deleted.1 += size;
            } else {
                unknown_deleted.0 += size;
            }
            continue;
        };
        let needed = !img.tags.is_empty() || children.contains(&img.digest);
        let active_before = !img.is_inactive();
        let active_after = !is_deleted && !is_archiving && (active_before || is_reactivating);
        let days_left = if is_deleted && archived {
            // Unknown archiving time: the whole minimum may be left.
            Some(
                img.last_archived_at
                    .map_or(Some(ARCHIVE_MINIMUM_DAYS), |at| {
                        super::engine::archive_days_billed(at, now)
                    })
                    .unwrap_or(0),
            )
        } else {
            None
        };
        for &id in ids {
            let u = &mut blobs[id as usize];
            u.stored = true;
            u.needed |= needed;
            u.archiving |= is_archiving;
            u.reactivating |= is_reactivating;
            u.active_before |= active_before;
            u.active_after |= active_after;
            if !is_deleted {
                u.kept = true;
            } else if archived {
                u.archived_days_left = u.archived_days_left.max(days_left);
            } else {
                u.deleted_active = true;
            }
        }
    }
    let (freed_standard, freed_archive, minimum_charge_byte_days) =
        blob_totals(observed, &blobs, unknown_deleted, &mut out);
    out.stored_bytes_before += unknown_deleted.0 + unknown_deleted.1 + unknown_kept;
    out.freed_bytes = freed_standard + freed_archive;
    out.stored_bytes_after = out.stored_bytes_before - out.freed_bytes;
    out.freed_bytes_exact = out.manifests_unread == 0;
    out.archived_bytes += unknown_archiving;
    out.reactivated_bytes += unknown_reactivating;
    priced(
        &mut out,
        prices,
        freed_standard,
        freed_archive,
        minimum_charge_byte_days,
    );
    out
}

/// The sums over the blobs: bytes freed in the standard and archive classes (from
/// `unknown_deleted`, the deleted images whose blobs are unknown), the byte-days of
/// the archive's minimum still billed; the archived, reactivated, stored and untagged
/// bytes go into `out`.
fn blob_totals(
    observed: &ObservedRepository,
    blobs: &[BlobUse],
    unknown_deleted: (u64, u64),
    out: &mut RepositoryStorage,
) -> (u64, u64, u128) {
    let (mut freed_standard, mut freed_archive) = unknown_deleted;
    let mut minimum_charge_byte_days: u128 = 0;
    for (id, u) in (0u32..).zip(blobs) {
        if !u.stored {
            continue;
        }
        let size = observed.blobs.size(id);
        if u.archiving && !u.active_after {
            out.archived_bytes += size;
        }
        if u.reactivating && !u.active_before {
            out.reactivated_bytes += size;
        }
        out.stored_bytes_before += size;
        if !u.needed {
            out.untagged_bytes += size;
        }
        if u.kept {
            continue;
        }
        if u.deleted_active {
            freed_standard += size;
        } else if let Some(days) = u.archived_days_left {
            freed_archive += size;
            minimum_charge_byte_days += u128::from(size) * days.max(0) as u128;
        }
    }
    (freed_standard, freed_archive, minimum_charge_byte_days)
}

/// The prices of the figures in `out`, and of the bytes freed in each class.
fn priced(
    out: &mut RepositoryStorage,
    prices: &Prices,
    freed_standard: u64,
    freed_archive: u64,
    minimum_charge_byte_days: u128,
) {
    // The difference of the two classes' prices, never below zero.
    let difference = |bytes: u64| {
        let d =
            prices.standard.per_month(bytes).micros() - prices.archive.per_month(bytes).micros();
        Usd::from_micros(d.max(0))
    };
    out.archive_saving_usd = difference(out.archived_bytes);
    out.reactivation_cost_usd = difference(out.reactivated_bytes);
    out.monthly_saving_usd = prices.standard.per_month(freed_standard)
        + prices.archive.per_month(freed_archive)
        + out.archive_saving_usd;
    // A month of the price is 30 days of it.
    out.archive_minimum_charge_usd = prices
        .archive
        .per_month_u128(minimum_charge_byte_days)
        .divided_by(30);
}

#[cfg(test)]
mod tests;
