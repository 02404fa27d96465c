//! A repository's ECR lifecycle policy as desired state, for `import`.
//!
//! The rules the allow-list can express become entries, in priority order, each with
//! a comment naming the rule; every other rule becomes a comment saying the rule and
//! why it is not written. The desired state is an allow-list (an image stays when any
//! entry allows one of its tags), so ECR's "an image one rule selects is not seen by
//! later rules" cannot be written: where it matters on the state read, the entry's
//! comment says so, and [`kept_but_removed`] finds the images the policy keeps now and
//! the entries would remove, whose tags `import` then allows as they are. So the plan
//! of the written file, on the state it was imported from, keeps at least every image
//! the policy keeps.

use std::collections::HashSet;

use chrono::{DateTime, Utc};

use super::{Entry, quoted};
use crate::model::{Digest, Tag};
use crate::plan::lifecycle::{
    self, Count, LifecyclePolicy, Rule, RuleAction, StorageClass, TagStatus,
};
use crate::plan::{ActionKind, RepositoryPlan};
use crate::registry::{ImageDetail, LifecycleState};

/// What a repository's lifecycle policy becomes.
#[derive(Clone, Debug, Default)]
pub(super) struct Imported {
    /// Entries of the rules the allow-list can express, in priority order.
    pub(super) entries: Vec<Entry>,
    /// The globs of those rules: the tags they match are theirs; every other tag is
    /// allowed as it is.
    pub(super) globs: Vec<String>,
    /// Comments at the repository: rules written without an entry, rules not
    /// written, and why.
    pub(super) notes: Vec<String>,
    /// An untagged rule expires every untagged image: `untagged: delete`.
    pub(super) untagged_delete: bool,
}

/// How one rule is written.
enum Written {
    /// An allow-list entry (its YAML lines) with the comment that names the rule.
    Entry(Vec<String>, String),
    /// Its tags get no entry (it expires every image it selects), said in a note.
    NoEntry(String),
    /// `untagged: delete`, said in a note.
    UntaggedDelete(String),
    /// Not expressible: why.
    Not(&'static str),
}

/// What the policy `state` of a repository with `images` becomes; `None` when the
/// repository has no policy.
pub(super) fn import(state: &LifecycleState, images: &[ImageDetail]) -> Option<Imported> {
    let text = match state {
        LifecycleState::None => return None,
        LifecycleState::Unreadable(why) => {
            return Some(unread(&format!("it could not be read ({why})")));
        }
        LifecycleState::Text(text) => text,
    };
    let policy = match lifecycle::parse(text) {
        Ok(p) => p,
        Err(why) => return Some(unread(&format!("its text cannot be read ({why})"))),
    };
    let mut out = Imported::default();
    for (j, rule) in policy.rules.iter().enumerate() {
        let glob = single_glob(rule);
        match write(rule, glob.as_deref()) {
            Written::Entry(item, comment) => {
                let shadowed = seen_first(&policy, j, images);
                let comment = if shadowed.is_empty() {
                    comment
                } else {
                    format!(
                        "{comment}; {} of the images it selects here {} seen first by {} in ECR, which decides them there, while here an image stays when any entry allows one of its tags",
                        shadowed.len(),
                        if shadowed.len() == 1 { "is" } else { "are" },
                        labels(&policy, &shadowed)
                    )
                };
                out.entries.push(Entry {
                    comment: Some(comment),
                    item,
                });
                out.globs.extend(glob);
            }
            Written::NoEntry(note) => {
                out.notes.push(note);
                out.globs.extend(glob);
            }
            Written::UntaggedDelete(note) => {
                out.notes.push(note);
                out.untagged_delete = true;
            }
            Written::Not(why) => out.notes.push(format!(
                "lifecycle {} ({}): not written: {why}",
                rule.label(),
                selection(rule)
            )),
        }
    }
    Some(out)
}

/// A policy that cannot be read: nothing of it is written, every tag stays allowed.
fn unread(why: &str) -> Imported {
    Imported {
        notes: vec![format!(
            "the repository's lifecycle policy is not written: {why}; every tag is allowed as it is"
        )],
        ..Imported::default()
    }
}

/// The one glob of a tagged rule with a single filter (`tagPrefixList: [p]` is `p*`),
/// when every character of it can be in a desired-state glob.
fn single_glob(rule: &Rule) -> Option<String> {
    let glob = match (rule.tag_prefixes.as_slice(), rule.tag_patterns.as_slice()) {
        ([prefix], []) => format!("{prefix}*"),
        ([], [pattern]) => pattern.clone(),
        _ => return None,
    };
    let tag_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '*');
    (!glob.is_empty() && glob.chars().all(tag_char)).then_some(glob)
}

/// How `rule` is written, `glob` being its single glob when it has one.
fn write(rule: &Rule, glob: Option<&str>) -> Written {
    let label = rule.label();
    if rule.action == RuleAction::Transition {
        return Written::Not(
            "it archives images (transition), and the desired state only removes tags and images; ECR goes on archiving as long as the policy stays attached",
        );
    }
    if rule.storage_class == StorageClass::Archive {
        return Written::Not(
            "it acts on archived images (storageClass archive), which the desired state does not tell apart",
        );
    }
    match rule.tag_status {
        TagStatus::Any => Written::Not(
            "it selects tagged and untagged images together (tagStatus any), and the desired state decides tags and untagged images apart",
        ),
        TagStatus::Untagged => match rule.count {
            Count::MoreThan(0) | Count::SincePushed(0) => Written::UntaggedDelete(format!(
                "lifecycle {label} ({}) expires every untagged image: written as `untagged: delete` (the plan still keeps those a kept image needs)",
                selection(rule)
            )),
            _ => Written::Not(
                "the desired state deletes untagged images all or none (`untagged: delete` would also delete those this rule keeps), so they are kept",
            ),
        },
        TagStatus::Tagged => {
            let Some(glob) = glob else {
                return Written::Not(
                    "it selects images by several tag filters together (every one must match a tag), and an allow-list entry takes one glob",
                );
            };
            let g = quoted(glob);
            match rule.count {
                Count::MoreThan(0) | Count::SincePushed(0) => Written::NoEntry(format!(
                    "lifecycle {label} ({}) expires every image tagged {g}: written as no entry allowing these tags",
                    selection(rule)
                )),
                Count::MoreThan(n) => Written::Entry(
                    vec![format!("pattern: {g}"), format!("keep_latest: {n}")],
                    format!(
                        "lifecycle {label}: of the images tagged {g}, those beyond the {n} most recently pushed expire"
                    ),
                ),
                Count::SincePushed(n) => Written::Entry(
                    vec![format!("pattern: {g}"), format!("max_age: {n}d")],
                    format!(
                        "lifecycle {label}: images tagged {g} pushed more than {n} days ago expire"
                    ),
                ),
                Count::SincePulled(_) | Count::SinceTransitioned(_) => Written::Not(
                    "expiry by pull or archive time has no equivalent in the desired state",
                ),
            }
        }
    }
}

/// The rule's selection in ECR's words: `tagged "v*", imageCountMoreThan 10, expire`.
fn selection(rule: &Rule) -> String {
    let status = match rule.tag_status {
        TagStatus::Tagged => {
            let mut filters: Vec<String> = rule
                .tag_prefixes
                .iter()
                .map(|p| format!("prefix {}", quoted(p)))
                .collect();
            filters.extend(
                rule.tag_patterns
                    .iter()
                    .map(|p| format!("pattern {}", quoted(p))),
            );
            format!("tagged {}", filters.join(" and "))
        }
        TagStatus::Untagged => "untagged".to_owned(),
        TagStatus::Any => "any".to_owned(),
    };
    let class = match rule.storage_class {
        StorageClass::Standard => "",
        StorageClass::Archive => ", storageClass archive",
    };
    let action = match rule.action {
        RuleAction::Expire => "expire",
        RuleAction::Transition => "transition",
    };
    format!("{status}{class}, {}, {action}", count(rule.count))
}

fn count(c: Count) -> String {
    match c {
        Count::MoreThan(n) => format!("imageCountMoreThan {n}"),
        Count::SincePushed(n) => format!("sinceImagePushed {n} days"),
        Count::SincePulled(n) => format!("sinceImagePulled {n} days"),
        Count::SinceTransitioned(n) => format!("sinceImageTransitioned {n} days"),
    }
}

/// The rules before rule `j` that select first, of `images`, one that rule `j` selects:
/// in ECR they decide it, and rule `j` never sees it.
fn seen_first(policy: &LifecyclePolicy, j: usize, images: &[ImageDetail]) -> Vec<usize> {
    let rule = &policy.rules[j];
    let mut earlier: Vec<usize> = images
        .iter()
        .filter(|i| lifecycle::selects(rule, i))
        .filter_map(|i| {
            policy.rules[..j]
                .iter()
                .position(|r| lifecycle::selects(r, i))
        })
        .collect();
    // One entry per image: the count says how many, the labels which rules.
    earlier.sort_unstable();
    earlier
}

fn labels(policy: &LifecyclePolicy, rules: &[usize]) -> String {
    let mut distinct: Vec<usize> = rules.to_vec();
    distinct.dedup();
    distinct
        .iter()
        .map(|&r| policy.rules[r].label())
        .collect::<Vec<_>>()
        .join(", ")
}

/// What the plan of the written file removes that the policy keeps, on the state read
/// at `now`: the tags of such tagged images (to allow as they are), and whether an
/// untagged one is among them (then untagged images are kept).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct KeptButRemoved {
    /// Tags of images the policy keeps and the plan deletes, sorted, each once.
    pub(super) tags: Vec<Tag>,
    /// An untagged image the policy keeps is deleted.
    pub(super) untagged: bool,
}

/// See [`KeptButRemoved`]. A policy that cannot be read finds nothing: then every tag
/// is allowed as it is already.
pub(super) fn kept_but_removed(
    state: &LifecycleState,
    images: &[ImageDetail],
    plan: &RepositoryPlan,
    now: DateTime<Utc>,
) -> KeptButRemoved {
    let LifecycleState::Text(text) = state else {
        return KeptButRemoved::default();
    };
    let Ok(policy) = lifecycle::parse(text) else {
        return KeptButRemoved::default();
    };
    let expired: HashSet<usize> = lifecycle::evaluate(&policy, images, now)
        .into_iter()
        .filter(|m| policy.rules[m.rule].action == RuleAction::Expire)
        .map(|m| m.image)
        .collect();
    let deleted: HashSet<&Digest> = plan
        .actions
        .iter()
        .filter(|a| a.kind == ActionKind::Delete)
        .map(|a| &a.digest)
        .collect();
    let mut out = KeptButRemoved::default();
    for (i, image) in images.iter().enumerate() {
        if expired.contains(&i) || !deleted.contains(&image.digest) {
            continue;
        }
        if image.tags.is_empty() {
            out.untagged = true;
        }
        out.tags.extend(image.tags.iter().cloned());
    }
    out.tags.sort();
    out.tags.dedup();
    out
}

#[cfg(test)]
mod tests;
