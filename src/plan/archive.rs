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

use super::engine::signature_subject;
use crate::config::{DesiredRepository, Removal};
use crate::model::Digest;
use crate::registry::{ImageDetail, ImageStatus, ObservedRepository};

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

#[cfg(test)]
mod tests;
