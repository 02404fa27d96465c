//! Archive instead of delete: what becomes of each image the allow-list does not keep
//! (deleted, archived, or left archived), and which archived images the desired state
//! allows again (reactivated). Pure, like the rest of the engine.
//!
//! ECR's UpdateImageStorageClass moves one image, named by digest or tag; the API
//! reference says nothing of an index's children or of an image's referrers following
//! it. So the plan moves them itself: an image that ends archived (archived now, or
//! left archived) takes with it what depends on it and is not kept (an index's
//! children, OCI referrers, cosign and SOCI tags naming it), archived rather than
//! deleted. Deleting a child while its index exists fails
//! (`ImageReferencedByManifestList`), and a signature deleted while its subject sits in
//! the archive could not be put back with it. Reactivating an image reactivates what
//! it keeps (its children and referrers are kept with it, so they are reactivated too
//! when archived).

use chrono::{DateTime, Utc};
use foldhash::{HashMap, HashMapExt};
use wildmatch::WildMatch;

use foldhash::HashSet;

use super::{Index, Planning, Used, signature_subject};
use crate::config::{DesiredRepository, Removal, UntaggedPolicy};
use crate::model::Digest;
use crate::plan::{Action, ActionKind, RepositoryPlan, Warning, WarningCode};
use crate::registry::{ARCHIVE_MINIMUM_DAYS, ImageDetail, ImageStatus, ObservedRepository};

/// What happens to an image the allow-list does not keep.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Fate {
    /// Deleted, for this reason.
    Delete(String),
    /// Archived, for this reason.
    Archive(String),
    /// Nothing: it is archived (or being reactivated by someone) and stays so.
    Stays,
}

/// What the repository's `removal` and the rules' `then` say for image `img`: a
/// rule whose pattern matches one of its tags and says `then` decides (`archive` when
/// one such rule says so); else the repository's `removal`.
fn removal_of(
    desired: &DesiredRepository,
    globs: &[Option<WildMatch>],
    img: &ImageDetail,
) -> (Removal, Option<String>) {
    let mut said: Option<(Removal, String)> = None;
    for (entry, glob) in desired.allow.iter().zip(globs) {
        let Some(then) = entry.then else { continue };
        let matches = img.tags.iter().any(|t| match (&entry.matcher, glob) {
            (_, Some(g)) => g.matches(t.as_str()),
            (crate::config::Matcher::Exact(e), None) => e == t,
            _ => false,
        });
        if matches && said.as_ref().is_none_or(|(r, _)| *r != Removal::Archive) {
            said = Some((then, entry.matcher.as_str().to_owned()));
        }
    }
    match said {
        Some((r, pattern)) => (r, Some(pattern)),
        None => (desired.removal, None),
    }
}

/// The fate of each image in `removed` (indexes into `images`), in that order.
pub(super) fn fates(
    desired: &DesiredRepository,
    observed: &ObservedRepository,
    images: &[ImageDetail],
    by_digest: &HashMap<&Digest, usize>,
    removed: &[usize],
    now: DateTime<Utc>,
) -> Vec<Fate> {
    let globs: Vec<Option<WildMatch>> = desired
        .allow
        .iter()
        .map(|e| match &e.matcher {
            crate::config::Matcher::Glob(g) => Some(WildMatch::new(g)),
            crate::config::Matcher::Exact(_) => None,
        })
        .collect();
    let mut fates: Vec<Fate> = removed
        .iter()
        .map(|&i| own_fate(desired, &globs, &images[i], now))
        .collect();
    follow_subjects(observed, images, by_digest, removed, &mut fates);
    fates
}

/// An image's fate from its own status and the removal that applies to it.
fn own_fate(
    desired: &DesiredRepository,
    globs: &[Option<WildMatch>],
    img: &ImageDetail,
    now: DateTime<Utc>,
) -> Fate {
    let (removal, rule) = removal_of(desired, globs, img);
    let why = if img.tags.is_empty() {
        "untagged and not needed by a kept image"
    } else {
        "no allowed tag"
    };
    match img.status {
        Some(ImageStatus::Archived) => {
            if let (Some(after), Some(at)) =
                (desired.delete_archived_after_seconds, img.last_archived_at)
            {
                let limit = chrono::Duration::seconds(i64::try_from(after).unwrap_or(i64::MAX));
                if now - at >= limit {
                    return Fate::Delete(format!(
                        "{why}; archived since {} ({} days), over `delete_archived_after`",
                        at.format("%Y-%m-%d"),
                        (now - at).num_days()
                    ));
                }
            }
            match removal {
                Removal::Delete => Fate::Delete(why.to_owned()),
                Removal::Archive => Fate::Stays,
            }
        }
        Some(ImageStatus::Activating) | Some(ImageStatus::Unknown) => match removal {
            Removal::Delete => Fate::Delete(why.to_owned()),
            // Someone is restoring it (or its status is unknown): the next plan decides.
            Removal::Archive => Fate::Stays,
        },
        Some(ImageStatus::Active) | None => match (removal, rule) {
            (Removal::Delete, _) => Fate::Delete(why.to_owned()),
            (Removal::Archive, Some(pattern)) => Fate::Archive(format!(
                "{why}; archived instead of deleted (rule `{pattern}`: `then: archive`)"
            )),
            (Removal::Archive, None) => Fate::Archive(format!(
                "{why}; archived instead of deleted (`removal: archive`)"
            )),
        },
    }
}

/// Images that depend on an image ending archived follow it: archived (or left
/// archived) instead of deleted.
fn follow_subjects(
    observed: &ObservedRepository,
    images: &[ImageDetail],
    by_digest: &HashMap<&Digest, usize>,
    removed: &[usize],
    fates: &mut [Fate],
) {
    // Image index -> its position in `removed`.
    let mut slot: HashMap<usize, usize> = HashMap::with_capacity(removed.len());
    slot.extend(removed.iter().enumerate().map(|(k, &i)| (i, k)));
    // What depends on each image: children, referrers, signature tags.
    let mut dependents: HashMap<usize, Vec<usize>> = HashMap::new();
    for (parent, kids) in &observed.children {
        if let Some(&p) = by_digest.get(parent) {
            let list = dependents.entry(p).or_default();
            list.extend(kids.iter().filter_map(|k| by_digest.get(k).copied()));
        }
    }
    for (j, img) in images.iter().enumerate() {
        let subjects = img.subject.iter().cloned().chain(
            img.tags
                .iter()
                .filter_map(|t| signature_subject(t.as_str())),
        );
        for s in subjects {
            if let Some(&p) = by_digest.get(&s) {
                dependents.entry(p).or_default().push(j);
            }
        }
    }
    if dependents.is_empty() {
        return;
    }
    // Images ending archived: archived now, left archived, or archived and not removed.
    let mut queue: Vec<usize> = Vec::new();
    for (j, img) in images.iter().enumerate() {
        let ends_archived = match slot.get(&j) {
            Some(&k) => matches!(fates[k], Fate::Archive(_) | Fate::Stays),
            None => false,
        };
        if ends_archived {
            queue.push(j);
        }
        let _ = img;
    }
    while let Some(p) = queue.pop() {
        let Some(deps) = dependents.get(&p) else {
            continue;
        };
        for &j in deps {
            let Some(&k) = slot.get(&j) else { continue };
            if !matches!(fates[k], Fate::Delete(_)) {
                continue;
            }
            let parent = images[p].digest.short();
            fates[k] =
                if images[j].status == Some(ImageStatus::Active) || images[j].status.is_none() {
                    Fate::Archive(format!(
                        "follows {parent}, which is archived: archived instead of deleted"
                    ))
                } else {
                    Fate::Stays
                };
            queue.push(j);
        }
    }
}

/// The reason of a reactivation.
pub(super) fn reactivation_reason(img: &ImageDetail) -> String {
    let since = img
        .last_archived_at
        .map(|at| format!(" (archived since {})", at.format("%Y-%m-%d")))
        .unwrap_or_default();
    format!(
        "archived{since} and kept by the desired state: reactivated (ACTIVATING, up to about 20 minutes; ECR charges a restore fee per GB)"
    )
}

impl<'a> Planning<'a> {
    /// Phase 4b: archived images the desired state itself keeps (an allowed tag, a
    /// use, and what those need; not `untagged: keep` alone, nor what an unreadable
    /// index might need) are reactivated.
    pub(super) fn reactivations(
        &mut self,
        index: &Index<'a>,
        kept: &[bool],
        allowed: &mut HashSet<&'a str>,
        used: &Used<'_>,
        plan: &mut RepositoryPlan,
    ) {
        let images = index.images;
        if !images
            .iter()
            .any(|i| i.status == Some(ImageStatus::Archived))
        {
            return;
        }
        let firm = if self.observed.unreadable.is_empty()
            && self.desired.untagged != UntaggedPolicy::Keep
        {
            kept.to_vec()
        } else {
            self.kept_images(index, allowed, used, false)
        };
        for (i, img) in images.iter().enumerate() {
            if firm[i] && kept[i] && img.status == Some(ImageStatus::Archived) {
                let reason = reactivation_reason(img);
                plan.actions
                    .push(storage_action(img, ActionKind::Reactivate, reason));
            }
        }
        plan.actions.sort_by(|a, b| {
            a.wave
                .cmp(&b.wave)
                .then(a.pushed_at.cmp(&b.pushed_at))
                .then_with(|| a.digest.cmp(&b.digest))
        });
    }

    /// Warns when deleting an archived image is billed for the rest of the archive's
    /// 90-day minimum.
    pub(super) fn warn_archive_charge(&mut self, img: &ImageDetail) {
        if img.status != Some(ImageStatus::Archived) {
            return;
        }
        let what = match img.tags.first() {
            Some(t) => format!("image {} ({t})", img.digest.short()),
            None => format!("image {} (untagged)", img.digest.short()),
        };
        let (message, help) = match img.last_archived_at {
            Some(at) => {
                let Some(days) = archive_days_billed(at, self.now) else {
                    return;
                };
                let free = at + chrono::Duration::days(ARCHIVE_MINIMUM_DAYS);
                (
                    format!(
                        "{what} was archived on {}: deleting it now is billed for the {days} {} left of the archive's {ARCHIVE_MINIMUM_DAYS}-day minimum",
                        at.format("%Y-%m-%d"),
                        if days == 1 { "day" } else { "days" },
                    ),
                    format!(
                        "to avoid that charge, delete it from {} on",
                        free.format("%Y-%m-%d %H:%M UTC")
                    ),
                )
            }
            None => (
                format!(
                    "{what} is archived, and the registry does not say since when: deleting it may be billed for up to {ARCHIVE_MINIMUM_DAYS} days of archived storage"
                ),
                format!(
                    "ECR bills archived storage for at least {ARCHIVE_MINIMUM_DAYS} days from the archiving"
                ),
            ),
        };
        self.warnings.push(Warning {
            code: WarningCode::ArchiveMinimumCharge,
            message,
            repository: self.label.clone(),
            location: Some(self.desired.origin.clone()),
            help: Some(help),
        });
    }
}

/// An archive or a reactivation of `img`: every tag stays with it.
pub(super) fn storage_action(img: &ImageDetail, kind: ActionKind, reason: String) -> Action {
    let mut tags = img.tags.clone();
    tags.sort();
    Action {
        kind,
        digest: img.digest.clone(),
        tags: Vec::new(),
        kept_tags: tags,
        pushed_at: img.pushed_at,
        size_bytes: img.size_bytes,
        media_type: img.manifest_media_type.clone(),
        reason,
        wave: 0,
        status: img.status,
        last_recorded_pull_time: img.last_recorded_pull_time,
        last_archived_at: img.last_archived_at,
    }
}

/// The days of the archive's minimum charge left at `now` for an image archived at
/// `archived_at` (a part of a day counts as a day), or `None` when the minimum has
/// passed.
pub fn archive_days_billed(archived_at: DateTime<Utc>, now: DateTime<Utc>) -> Option<i64> {
    let left = archived_at + chrono::Duration::days(ARCHIVE_MINIMUM_DAYS) - now;
    if left <= chrono::Duration::zero() {
        return None;
    }
    const DAY: i64 = 24 * 60 * 60;
    Some((left.num_seconds() + DAY - 1) / DAY)
}

#[cfg(test)]
mod tests;
