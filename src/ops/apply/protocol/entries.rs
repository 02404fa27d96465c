//! The journal entries of a request, all built by [`JournalEntry::new`] (which keeps a
//! manifest only when it hashes to its digest), at the apply's time.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::super::confirm::ManifestRead;
use super::super::steps::Step;
use crate::model::{Digest, RepositoryRef, Tag};
use crate::ops::journal::{JournalEntry, Removal};
use crate::plan::{Action, ActionKind, RepositoryPlan};
use crate::registry::RemovedId;

/// The entries of a request's confirmed removals, with their manifests.
pub(super) fn planned_entries(
    repo: &RepositoryPlan,
    steps: &[Step],
    manifests: &HashMap<Digest, ManifestRead>,
    now: DateTime<Utc>,
) -> Vec<JournalEntry> {
    steps
        .iter()
        .map(|s| {
            let action = &repo.actions[s.action];
            let manifest = manifests.get(&s.digest).and_then(|m| m.clone().ok());
            JournalEntry::new(
                &repo.repository,
                Removal::planned(action, &s.id, &s.digest),
                manifest,
                now,
            )
        })
        .collect()
}

/// The entry of something the registry reports removed that the request did not ask
/// for: a deletion of `removed`'s image (with its tag, when it names one), so that
/// restore puts it back. `action` is the plan's deletion of that image, when the
/// request deleted it by digest.
pub(super) fn unplanned_entry(
    repository: &RepositoryRef,
    action: Option<&Action>,
    removed: &RemovedId,
    manifest: Option<(String, String)>,
    now: DateTime<Utc>,
) -> JournalEntry {
    let mut image_tags: Vec<Tag> = action
        .map(|a| a.tags.iter().chain(&a.kept_tags).cloned().collect())
        .unwrap_or_default();
    image_tags.extend(removed.tag.iter().cloned());
    image_tags.sort();
    image_tags.dedup();
    let removal = Removal {
        kind: ActionKind::Delete,
        tag: removed.tag.as_ref(),
        digest: &removed.digest,
        image_tags,
        pushed_at: action.map_or(now, |a| a.pushed_at),
        size_bytes: action.and_then(|a| a.size_bytes),
    };
    JournalEntry::new(repository, removal, manifest, now)
}
