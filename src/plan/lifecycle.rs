//! ECR's own lifecycle policies, evaluated the way ECR documents them, so that a plan
//! can say when a policy still attached to a repository would expire or archive an
//! image the plan keeps (`plan::lifecycle-conflict`).
//!
//! The semantics, from ECR's user guide ("Lifecycle policy properties" and "Examples
//! of lifecycle policies"):
//!
//! - Rules are evaluated in `rulePriority` order, lowest first.
//! - A rule selects images by `tagStatus` (`tagged`, `untagged`, `any`), for tagged
//!   images by `tagPrefixList` (every prefix starts one of the image's tags) or
//!   `tagPatternList` (every pattern matches one of the image's tags; `*` matches any
//!   run of characters, at most four per pattern), and by `storageClass` (`standard`,
//!   the default, or `archive`).
//! - `imageCountMoreThan N` marks the selected images beyond the N most recently
//!   pushed; `sinceImagePushed N` those pushed more than N days ago;
//!   `sinceImagePulled N` those last pulled more than N days ago (never pulled: pushed);
//!   `sinceImageTransitioned N` archived images archived more than N days ago.
//! - An image that a rule selected ("saw") is never marked by a later rule, though a
//!   later rule still counts it among the images it keeps.
//! - The action `expire` deletes, `transition` moves to the archive. `sinceImagePulled`
//!   only transitions; `sinceImageTransitioned` only expires, archived images.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;

use super::{ActionKind, RepositoryPlan, RepositoryStatus, Warning, WarningCode};
use crate::config::{DesiredRepository, UntaggedPolicy};
use crate::model::{Digest, RepositoryRef, Tag};
use crate::registry::{ImageDetail, ImageStatus, LifecycleState, ObservedRepository};

/// At most this many conflicts are named one by one per rule; one more warning
/// counts the rest.
const NAMED_PER_RULE: usize = 20;

/// A lifecycle policy, its rules in evaluation order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LifecyclePolicy {
    /// The rules, by `rulePriority`.
    pub rules: Vec<Rule>,
}

/// One rule of a lifecycle policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    /// `rulePriority`.
    pub priority: u32,
    /// `description`, when given.
    pub description: Option<String>,
    /// Which images it selects.
    pub tag_status: TagStatus,
    /// `tagPrefixList`: every prefix must start one of the image's tags.
    pub tag_prefixes: Vec<String>,
    /// `tagPatternList`: every pattern must match one of the image's tags.
    pub tag_patterns: Vec<String>,
    /// `storageClass`: which storage class it looks at.
    pub storage_class: StorageClass,
    /// `countType` with `countNumber`.
    pub count: Count,
    /// `action.type`.
    pub action: RuleAction,
}

/// `selection.tagStatus`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TagStatus {
    /// Images with at least one tag (and the tag filters).
    Tagged,
    /// Images without tags.
    Untagged,
    /// Every image.
    Any,
}

/// `selection.storageClass`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StorageClass {
    /// Active images (the default).
    Standard,
    /// Archived images.
    Archive,
}

/// `selection.countType` and `countNumber`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Count {
    /// `imageCountMoreThan`: beyond the N most recently pushed.
    MoreThan(u32),
    /// `sinceImagePushed`, in days.
    SincePushed(u32),
    /// `sinceImagePulled`, in days.
    SincePulled(u32),
    /// `sinceImageTransitioned`, in days.
    SinceTransitioned(u32),
}

/// `action.type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleAction {
    /// Delete the image.
    Expire,
    /// Move it to the archive storage class.
    Transition,
}

impl RuleAction {
    /// What the action does, as a verb ("expire", "archive").
    pub fn verb(self) -> &'static str {
        match self {
            RuleAction::Expire => "expire",
            RuleAction::Transition => "archive",
        }
    }
}

impl Rule {
    /// `rule 2 ("Expire old builds")`, or `rule 2` without a description.
    pub fn label(&self) -> String {
        match &self.description {
            Some(d) if !d.is_empty() => format!("rule {} ({d:?})", self.priority),
            _ => format!("rule {}", self.priority),
        }
    }
}

/// The policy text as ECR stores it (`lifecyclePolicyText`).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawPolicy {
    rules: Vec<RawRule>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawRule {
    rule_priority: u32,
    #[serde(default)]
    description: Option<String>,
    selection: RawSelection,
    action: RawAction,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawSelection {
    tag_status: String,
    #[serde(default)]
    tag_prefix_list: Vec<String>,
    #[serde(default)]
    tag_pattern_list: Vec<String>,
    #[serde(default)]
    storage_class: Option<String>,
    count_type: String,
    #[serde(default)]
    count_unit: Option<String>,
    count_number: u32,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawAction {
    #[serde(rename = "type")]
    kind: String,
}

/// Reads a policy's text (`lifecyclePolicyText`); what ECR would not accept is an
/// error that says what.
pub fn parse(text: &str) -> Result<LifecyclePolicy, String> {
    let raw: RawPolicy = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let mut rules = raw
        .rules
        .into_iter()
        .map(rule)
        .collect::<Result<Vec<_>, _>>()?;
    rules.sort_by_key(|r| r.priority);
    if let Some(w) = rules.windows(2).find(|w| w[0].priority == w[1].priority) {
        return Err(format!("two rules have rulePriority {}", w[0].priority));
    }
    Ok(LifecyclePolicy { rules })
}

fn rule(r: RawRule) -> Result<Rule, String> {
    let at = |what: String| format!("rule {}: {what}", r.rule_priority);
    let s = r.selection;
    let tag_status = match s.tag_status.as_str() {
        "tagged" => TagStatus::Tagged,
        "untagged" => TagStatus::Untagged,
        "any" => TagStatus::Any,
        other => return Err(at(format!("unknown tagStatus `{other}`"))),
    };
    if tag_status == TagStatus::Tagged
        && s.tag_prefix_list.is_empty()
        && s.tag_pattern_list.is_empty()
    {
        return Err(at(
            "tagStatus `tagged` needs a tagPrefixList or a tagPatternList".into(),
        ));
    }
    if let Some(p) = s
        .tag_pattern_list
        .iter()
        .find(|p| p.matches('*').count() > 4)
    {
        return Err(at(format!("tag pattern `{p}` has more than 4 wildcards")));
    }
    let storage_class = match s.storage_class.as_deref() {
        None | Some("standard") => StorageClass::Standard,
        Some("archive") => StorageClass::Archive,
        Some(other) => return Err(at(format!("unknown storageClass `{other}`"))),
    };
    if let Some(unit) = s.count_unit.as_deref().filter(|u| *u != "days") {
        return Err(at(format!("unknown countUnit `{unit}` (ECR has `days`)")));
    }
    let n = s.count_number;
    let count = match s.count_type.as_str() {
        "imageCountMoreThan" => Count::MoreThan(n),
        "sinceImagePushed" => Count::SincePushed(n),
        "sinceImagePulled" => Count::SincePulled(n),
        "sinceImageTransitioned" => Count::SinceTransitioned(n),
        other => return Err(at(format!("unknown countType `{other}`"))),
    };
    let action = match r.action.kind.as_str() {
        "expire" => RuleAction::Expire,
        "transition" => RuleAction::Transition,
        other => return Err(at(format!("unknown action type `{other}`"))),
    };
    Ok(Rule {
        priority: r.rule_priority,
        description: r.description,
        tag_status,
        tag_prefixes: s.tag_prefix_list,
        tag_patterns: s.tag_pattern_list,
        storage_class,
        count,
        action,
    })
}

/// An image a policy would act on now, and the rule that would.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Marked {
    /// The image's position in the images evaluated.
    pub image: usize,
    /// The rule's position in [`LifecyclePolicy::rules`].
    pub rule: usize,
}

/// What `policy` would do to `images` at `now`: each image marked, with its rule, in
/// image order.
pub fn evaluate(
    policy: &LifecyclePolicy,
    images: &[ImageDetail],
    now: DateTime<Utc>,
) -> Vec<Marked> {
    let mut seen = vec![false; images.len()];
    let mut marked: Vec<Option<usize>> = vec![None; images.len()];
    for (r, rule) in policy.rules.iter().enumerate() {
        let mut selected: Vec<usize> = (0..images.len())
            .filter(|&i| selects(rule, &images[i]))
            .collect();
        let days = |n: u32| now - Duration::days(i64::from(n));
        let hit: Vec<usize> = match rule.count {
            Count::MoreThan(n) => {
                // Newest first; ties by digest, so the outcome never depends on the
                // listing order.
                selected.sort_by(|&a, &b| {
                    images[b]
                        .pushed_at
                        .cmp(&images[a].pushed_at)
                        .then_with(|| images[a].digest.cmp(&images[b].digest))
                });
                selected.iter().copied().skip(n as usize).collect()
            }
            Count::SincePushed(n) => selected
                .iter()
                .copied()
                .filter(|&i| images[i].pushed_at < days(n))
                .collect(),
            Count::SincePulled(n) => selected
                .iter()
                .copied()
                .filter(|&i| {
                    let img = &images[i];
                    img.last_recorded_pull_time.unwrap_or(img.pushed_at) < days(n)
                })
                .collect(),
            Count::SinceTransitioned(n) => selected
                .iter()
                .copied()
                .filter(|&i| images[i].last_archived_at.is_some_and(|t| t < days(n)))
                .collect(),
        };
        for i in hit {
            if !seen[i] && marked[i].is_none() {
                marked[i] = Some(r);
            }
        }
        for i in selected {
            seen[i] = true;
        }
    }
    marked
        .into_iter()
        .enumerate()
        .filter_map(|(image, rule)| rule.map(|rule| Marked { image, rule }))
        .collect()
}

/// Whether `rule`'s selection takes `image`.
pub fn selects(rule: &Rule, image: &ImageDetail) -> bool {
    let class = match image.status {
        None | Some(ImageStatus::Active) => Some(StorageClass::Standard),
        Some(ImageStatus::Archived) => Some(StorageClass::Archive),
        // Being restored, or unknown: neither class's rules act on it.
        Some(ImageStatus::Activating | ImageStatus::Unknown) => None,
    };
    if class != Some(rule.storage_class) {
        return false;
    }
    match rule.tag_status {
        TagStatus::Any => true,
        TagStatus::Untagged => image.tags.is_empty(),
        TagStatus::Tagged => {
            !image.tags.is_empty()
                && rule.tag_prefixes.iter().all(|p| {
                    image
                        .tags
                        .iter()
                        .any(|t| t.as_str().starts_with(p.as_str()))
                })
                && rule.tag_patterns.iter().all(|p| {
                    image
                        .tags
                        .iter()
                        .any(|t| crate::text::wildcard_match(p, t.as_str()))
                })
        }
    }
}

/// The lifecycle warnings of a repository's plan: its policy could not be read, or
/// it would expire or archive, now, images the plan keeps (with the state the plan
/// leaves: deleted images gone, removed tags off).
pub fn check(
    desired: &DesiredRepository,
    observed: &ObservedRepository,
    plan: &RepositoryPlan,
    now: DateTime<Utc>,
) -> Vec<Warning> {
    match &observed.lifecycle {
        LifecycleState::None => Vec::new(),
        LifecycleState::Unreadable(why) => {
            vec![unreadable(desired, &observed.reference, why)]
        }
        LifecycleState::Text(text) => match parse(text) {
            Ok(policy) => conflicts(desired, observed, plan, &policy, now),
            Err(why) => vec![unreadable(
                desired,
                &observed.reference,
                &format!("its text cannot be read: {why}"),
            )],
        },
    }
}

/// The warning for a lifecycle policy that could not be read (or understood).
pub fn unreadable(desired: &DesiredRepository, repo: &RepositoryRef, why: &str) -> Warning {
    Warning {
        code: WarningCode::LifecyclePolicyUnreadable,
        message: format!(
            "the lifecycle policy of `{}` could not be read ({why}): whether ECR would expire images this plan keeps is unknown",
            desired.name
        ),
        repository: repo.to_string(),
        location: Some(desired.origin.clone()),
        help: Some(
            "allow ecr:GetLifecyclePolicy to the tool's role; `--fail-on-lifecycle-conflict` treats this as a conflict".to_owned(),
        ),
    }
}

/// The images that stay after `plan`, as ECR would see them: the deleted ones gone,
/// the removed tags off.
fn after(observed: &ObservedRepository, plan: &RepositoryPlan) -> Vec<ImageDetail> {
    // A refused repository is not applied: everything stays as it is.
    let applied = plan.status != RepositoryStatus::Refused;
    let mut deleted: HashSet<&Digest> = HashSet::new();
    let mut untagged: HashMap<&Digest, HashSet<&Tag>> = HashMap::new();
    for a in plan.actions.iter().filter(|_| applied) {
        match a.kind {
            ActionKind::Delete => {
                deleted.insert(&a.digest);
            }
            ActionKind::Untag => untagged.entry(&a.digest).or_default().extend(&a.tags),
            // The image stays with its tags, in another storage class.
            ActionKind::Archive | ActionKind::Reactivate => {}
        }
    }
    observed
        .images
        .iter()
        .filter(|i| !deleted.contains(&i.digest))
        .map(|i| {
            let mut i = i.clone();
            if let Some(gone) = untagged.get(&i.digest) {
                i.tags.retain(|t| !gone.contains(t));
            }
            i
        })
        .collect()
}

/// Why the plan keeps `image`, and the line of the desired state that says so.
fn why_kept(
    desired: &DesiredRepository,
    plan: &RepositoryPlan,
    image: &ImageDetail,
) -> (String, crate::config::Origin) {
    if let Some(entry) = desired
        .allow
        .iter()
        .find(|e| image.tags.iter().any(|t| e.matcher.matches(t.as_str())))
    {
        return (
            format!("allowed by `{}`", entry.matcher.as_str()),
            entry.origin.clone(),
        );
    }
    if let Some(used) = plan.in_use.iter().find(|u| u.digest == image.digest) {
        let site = used
            .uses
            .first()
            .map_or_else(|| "an in-use source".to_owned(), ToString::to_string);
        return (format!("in use: {site}"), desired.origin.clone());
    }
    let why = if !image.tags.is_empty() {
        "its tags stay while the image must stay"
    } else if desired.untagged == UntaggedPolicy::Keep {
        "untagged images are kept (`untagged: keep`, the default)"
    } else {
        "needed by a kept image (a child of a kept index, or a referrer of one)"
    };
    (why.to_owned(), desired.origin.clone())
}

/// The images the plan keeps that `policy` would expire or archive now, one warning
/// each (at most [`NAMED_PER_RULE`] per rule, then one that counts the rest).
fn conflicts(
    desired: &DesiredRepository,
    observed: &ObservedRepository,
    plan: &RepositoryPlan,
    policy: &LifecyclePolicy,
    now: DateTime<Utc>,
) -> Vec<Warning> {
    let images = after(observed, plan);
    let mut per_rule = vec![0usize; policy.rules.len()];
    let mut out = Vec::new();
    for m in evaluate(policy, &images, now) {
        let rule = &policy.rules[m.rule];
        let image = &images[m.image];
        per_rule[m.rule] += 1;
        if per_rule[m.rule] > NAMED_PER_RULE {
            continue;
        }
        let (why, location) = why_kept(desired, plan, image);
        let tags = if image.tags.is_empty() {
            "untagged".to_owned()
        } else {
            image
                .tags
                .iter()
                .map(Tag::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        };
        out.push(Warning {
            code: WarningCode::LifecycleConflict,
            message: format!(
                "ECR lifecycle {} would {} {} ({tags}), which this plan keeps: {why}",
                rule.label(),
                rule.action.verb(),
                image.digest.short(),
            ),
            repository: observed.reference.to_string(),
            location: Some(location),
            help: Some(conflict_help(desired)),
        });
    }
    for (r, n) in per_rule
        .iter()
        .enumerate()
        .filter(|(_, n)| **n > NAMED_PER_RULE)
    {
        let rule = &policy.rules[r];
        out.push(Warning {
            code: WarningCode::LifecycleConflict,
            message: format!(
                "ECR lifecycle {} would {} {} more images this plan keeps",
                rule.label(),
                rule.action.verb(),
                n - NAMED_PER_RULE
            ),
            repository: observed.reference.to_string(),
            location: Some(desired.origin.clone()),
            help: Some(conflict_help(desired)),
        });
    }
    out
}

fn conflict_help(desired: &DesiredRepository) -> String {
    format!(
        "ECR applies a repository's lifecycle policy within about 24 hours, whatever this plan keeps: change the rule, or delete the policy (`aws ecr delete-lifecycle-policy --repository-name {}`) and let the desired state decide alone",
        desired.name
    )
}

#[cfg(test)]
#[path = "lifecycle_tests.rs"]
mod tests;
