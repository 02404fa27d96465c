//! Stale-plan detection: a saved plan is applied only to the registry it was made
//! against. Any planned image whose digest or tags differ now (a tag added, moved or
//! removed; the image gone), or a plan made for other accounts, regions or
//! repositories, makes it stale. Terraform's "Saved plan is stale", exactly.
//!
//! Pure: the operations layer reads the registry and hands the listings here.

use std::collections::HashMap;
use std::fmt;

use super::{Plan, RepositoryPlan, RepositoryStatus};
use crate::model::{Digest, RepositoryRef, Tag};
use crate::registry::ImageDetail;

/// One way in which the registry (or the files' resolution) differs from the plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StaleProblem {
    /// The files now resolve to other repositories (account, region or set).
    OtherTargets {
        /// What the plan was made for.
        planned: Vec<RepositoryRef>,
        /// What the files resolve to now.
        now: Vec<RepositoryRef>,
    },
    /// A planned image no longer exists.
    Gone {
        /// The repository.
        repository: RepositoryRef,
        /// The image.
        digest: Digest,
        /// Its tags when planned (sorted).
        tags: Vec<Tag>,
    },
    /// A planned image carries other tags than when planned.
    Retagged {
        /// The repository.
        repository: RepositoryRef,
        /// The image.
        digest: Digest,
        /// Its tags when planned (sorted).
        planned: Vec<Tag>,
        /// Its tags now (sorted).
        now: Vec<Tag>,
    },
}

/// The repositories whose images a stale check must list again: those with changes.
pub fn repositories_to_check(saved: &Plan) -> impl Iterator<Item = &RepositoryPlan> {
    saved
        .repositories
        .iter()
        .filter(|r| r.status == RepositoryStatus::Changes)
}

/// The problem when the files resolve to other repositories than the plan's.
pub fn check_targets(saved: &Plan, now: &[RepositoryRef]) -> Option<StaleProblem> {
    let planned: Vec<RepositoryRef> = saved
        .repositories
        .iter()
        .map(|r| r.repository.clone())
        .collect();
    (planned != now).then(|| StaleProblem::OtherTargets {
        planned,
        now: now.to_vec(),
    })
}

/// Compares one planned repository with its listing now.
pub fn check_repository(repo: &RepositoryPlan, images: &[ImageDetail]) -> Vec<StaleProblem> {
    let now: HashMap<&Digest, Vec<&Tag>> = images
        .iter()
        .map(|i| {
            let mut t: Vec<&Tag> = i.tags.iter().collect();
            t.sort();
            (&i.digest, t)
        })
        .collect();
    let mut problems = Vec::new();
    for action in &repo.actions {
        let mut expected: Vec<&Tag> = action.tags.iter().chain(&action.kept_tags).collect();
        expected.sort();
        let owned = |tags: &[&Tag]| tags.iter().map(|t| (*t).clone()).collect::<Vec<Tag>>();
        match now.get(&action.digest) {
            None => problems.push(StaleProblem::Gone {
                repository: repo.repository.clone(),
                digest: action.digest.clone(),
                tags: owned(&expected),
            }),
            Some(current) if *current != expected => problems.push(StaleProblem::Retagged {
                repository: repo.repository.clone(),
                digest: action.digest.clone(),
                planned: owned(&expected),
                now: owned(current),
            }),
            Some(_) => {}
        }
    }
    problems
}

/// How many of a planned repository's removals the registry shows done: an image
/// deleted, or untagged exactly as planned (its other tags still on it). A removal is
/// one identifier of a request: a tag, or an untagged image by digest.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Applied {
    /// Removals the registry shows done.
    pub done: usize,
    /// Removals the plan makes.
    pub total: usize,
}

impl Applied {
    /// Adds another repository's count.
    pub fn add(&mut self, other: Applied) {
        self.done += other.done;
        self.total += other.total;
    }
}

/// How much of `repo`'s plan the listing `images` shows done already.
pub fn applied(repo: &RepositoryPlan, images: &[ImageDetail]) -> Applied {
    let now: HashMap<&Digest, &ImageDetail> = images.iter().map(|i| (&i.digest, i)).collect();
    let mut count = Applied::default();
    for action in &repo.actions {
        let removals = action.tags.len().max(1);
        count.total += removals;
        let done = match (action.kind, now.get(&action.digest)) {
            (super::ActionKind::Delete, None) => true,
            (super::ActionKind::Untag, Some(image)) => {
                let mut left: Vec<&Tag> = image.tags.iter().collect();
                left.sort();
                let mut kept: Vec<&Tag> = action.kept_tags.iter().collect();
                kept.sort();
                left == kept
            }
            _ => false,
        };
        if done {
            count.done += removals;
        }
    }
    count
}

impl fmt::Display for StaleProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StaleProblem::OtherTargets { planned, now } => {
                let show = |v: &[RepositoryRef]| {
                    v.iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                write!(
                    f,
                    "the plan was made for {}\nbut the files now resolve to {}\n(another account, region or set of repositories)",
                    show(planned),
                    show(now)
                )
            }
            StaleProblem::Gone {
                repository,
                digest,
                tags,
            } => write!(
                f,
                "{repository}: image {digest} ({}) no longer exists",
                if tags.is_empty() {
                    "untagged".to_owned()
                } else {
                    tags.iter().map(Tag::as_str).collect::<Vec<_>>().join(", ")
                }
            ),
            StaleProblem::Retagged {
                repository,
                digest,
                planned,
                now,
            } => {
                let (before, after) = (lines(planned), lines(now));
                let diff = similar::TextDiff::from_lines(&before, &after);
                let mut text = format!(
                    "{repository}: image {digest} has other tags than when planned (- planned, + now):\n"
                );
                for change in diff.iter_all_changes() {
                    let sign = match change.tag() {
                        similar::ChangeTag::Delete => '-',
                        similar::ChangeTag::Insert => '+',
                        similar::ChangeTag::Equal => ' ',
                    };
                    text.push_str(&format!("  {sign}{}", change.value()));
                }
                f.write_str(text.trim_end())
            }
        }
    }
}

fn lines(tags: &[Tag]) -> String {
    if tags.is_empty() {
        return "(untagged)\n".to_owned();
    }
    tags.iter().map(|t| format!("{t}\n")).collect()
}

/// An action as a removal: its kind, image and tags.
type ActionKey = (super::ActionKind, Digest, String);

fn key(a: &super::Action) -> ActionKey {
    let mut tags: Vec<&str> = a.tags.iter().map(Tag::as_str).collect();
    tags.sort_unstable();
    (a.kind, a.digest.clone(), tags.join(","))
}

/// Per repository with changes, the removals `plan` makes.
fn made_by(plan: &Plan) -> HashMap<&RepositoryRef, std::collections::HashSet<ActionKey>> {
    let mut made: HashMap<&RepositoryRef, std::collections::HashSet<ActionKey>> = HashMap::new();
    for r in &plan.repositories {
        if r.status == RepositoryStatus::Changes {
            made.entry(&r.repository)
                .or_default()
                .extend(r.actions.iter().map(key));
        }
    }
    made
}

/// `plan` without the removals `fresh` (the same files planned again, with the
/// in-use sources read again) no longer makes, and those removals with their
/// repository: what apply leaves when a deployment started since the plan.
pub fn restrict(plan: &Plan, fresh: &Plan) -> (Plan, Vec<(RepositoryRef, super::Action)>) {
    let made = made_by(fresh);
    let mut kept = plan.clone();
    let mut dropped = Vec::new();
    for r in kept
        .repositories
        .iter_mut()
        .filter(|r| r.status == RepositoryStatus::Changes)
    {
        let allowed = made.get(&r.repository);
        let (stay, gone): (Vec<_>, Vec<_>) = std::mem::take(&mut r.actions)
            .into_iter()
            .partition(|a| allowed.is_some_and(|m| m.contains(&key(a))));
        r.actions = stay;
        dropped.extend(gone.into_iter().map(|a| (r.repository.clone(), a)));
    }
    (kept, dropped)
}

/// The removals of `saved` that `fresh` (the same desired state planned again, at the
/// saved plan's instant, against the registry now) does not make: a saved plan is
/// applied only as far as the desired state still asks for it. A plan edited by hand
/// (its checksum recomputed: it is no signature), or made by another version of the
/// engine, or one whose images came into use since, names removals nothing justifies.
pub fn unjustified(saved: &Plan, fresh: &Plan) -> Vec<String> {
    let made = made_by(fresh);
    let mut out = Vec::new();
    for r in saved
        .repositories
        .iter()
        .filter(|r| r.status == RepositoryStatus::Changes)
    {
        for a in &r.actions {
            if !made.get(&r.repository).is_some_and(|m| m.contains(&key(a))) {
                let what = if a.tags.is_empty() {
                    "untagged".to_owned()
                } else {
                    a.tags
                        .iter()
                        .map(Tag::as_str)
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                let kind = match a.kind {
                    super::ActionKind::Delete => "delete",
                    super::ActionKind::Untag => "untag",
                    super::ActionKind::Archive => "archive",
                    super::ActionKind::Reactivate => "reactivate",
                };
                out.push(format!(
                    "  {kind} {} ({what}) in {}",
                    a.digest.short(),
                    r.repository
                ));
            }
        }
    }
    out
}
