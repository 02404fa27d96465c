//! Survivors: images the plan deletes that stay (a removal of theirs was skipped or
//! withheld, or they gained a tag), and what they keep with them: the tags that sign
//! them, their referrers, and the children of an index (recursively, since what a
//! survivor keeps may be a survivor too).

use std::collections::HashMap;

use super::super::steps::Step;
use super::Skipped;
use crate::model::{Digest, RepositoryRef};
use crate::plan::{Action, RepositoryPlan, signature_subject};

/// The images of a repository that stay although the plan deleted them, with the
/// children of those that are indexes.
pub(super) type Survivors = HashMap<Digest, Vec<Digest>>;

/// The removals of one action that a survivor needs, split off the steps.
pub(super) struct Needed {
    /// The action whose removals are dropped.
    pub(super) action: usize,
    /// Its dropped steps, as skips.
    pub(super) skipped: Vec<Skipped>,
}

/// One step of the survivor closure: takes out of `steps` every removal of the first
/// action that a survivor needs, or returns `None` when no step is needed. The caller
/// decides whether the action's image becomes a survivor in turn (and with which
/// children), then calls again until `None`. `subject` gives the confirmed subject of
/// a referrer, when known.
pub(super) fn take_needed<'v>(
    repo: &RepositoryPlan,
    steps: &mut Vec<Step>,
    subject: impl Fn(&Digest) -> Option<&'v Digest>,
    survivors: &Survivors,
) -> Option<Needed> {
    let (action, by) = steps.iter().find_map(|s| {
        needed_by(&repo.actions[s.action], subject(&s.digest), survivors).map(|by| (s.action, by))
    })?;
    let (dropped, kept): (Vec<Step>, Vec<Step>) = std::mem::take(steps)
        .into_iter()
        .partition(|s| s.action == action);
    *steps = kept;
    Some(Needed {
        action,
        skipped: dropped
            .iter()
            .map(|s| skip_needed(&repo.repository, s, &by))
            .collect(),
    })
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

fn skip_needed(repository: &RepositoryRef, s: &Step, by: &Digest) -> Skipped {
    Skipped::new(
        repository,
        &s.digest,
        s.tag(),
        format!(
            "image {} stays, and needs it (a signature, referrer or child of it); it stays too",
            by.short()
        ),
    )
}
