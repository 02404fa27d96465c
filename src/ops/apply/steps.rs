//! The removal steps of a plan: one per identifier sent, grouped in waves (a wave
//! starts when the previous one is answered) and in requests of at most 100.

use std::collections::BTreeMap;

use crate::model::Digest;
use crate::plan::{ActionKind, RepositoryPlan, signature_subject};
use crate::registry::{ImageId, MAX_IDS_PER_BATCH};

/// One removal request item: the id to send and what it does.
#[derive(Clone, Debug)]
pub(super) struct Step {
    pub(super) id: ImageId,
    pub(super) digest: Digest,
    pub(super) kind: ActionKind,
    pub(super) action: usize,
}

impl Step {
    /// The tag this step removes, when it removes one by tag.
    pub(super) fn tag(&self) -> Option<&crate::model::Tag> {
        match &self.id {
            ImageId::Tag(t) => Some(t),
            ImageId::Digest(_) => None,
        }
    }
}

/// The requests of a repository, wave by wave: untags join the first deletion wave.
pub(super) fn waves(repo: &RepositoryPlan) -> Vec<Vec<Step>> {
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
            // UpdateImageStorageClass, one image a request: not removal requests.
            ActionKind::Archive | ActionKind::Reactivate => continue,
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
pub(super) fn batches(repo: &RepositoryPlan, mut steps: Vec<Step>) -> Vec<Vec<Step>> {
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
