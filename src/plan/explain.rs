//! Why one image is kept, untagged or deleted: every rule and source that touched it,
//! in the order the engine applies them, and the verdict. Computed only when asked
//! (`ecr-reconcile explain`), never while planning: the verdict is the plan's own,
//! and the trace follows the engine's phases for that image alone.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::Serialize;

use super::engine::{last_use, newest_first, signature_subject};
use super::{ActionKind, PlanOptions, RepositoryPlan, RepositoryStatus, Warning, plan_repository};
use crate::config::{AllowEntry, DesiredRepository, Matcher, Origin, UntaggedPolicy};
use crate::in_use::ImageUse;
use crate::model::{Digest, RepositoryRef, Tag};
use crate::registry::{ImageDetail, ObservedRepository};

/// What one step did to the image.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Effect {
    /// It keeps the image (and the tags it names).
    Keeps,
    /// It matched, but its limits do not keep the image.
    DoesNotKeep,
    /// It does not concern this image.
    NoMatch,
    /// It says something about the image without deciding (a warning).
    Note,
}

/// One rule or source, and what it did to the image.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Step {
    /// What it is: `allow-list entry`, `in use`, `index`, `referrer`, `signature`,
    /// `untagged`, `warning`.
    pub source: String,
    /// Where it is written, when in a desired-state file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<Origin>,
    /// What it did.
    pub effect: Effect,
    /// Why, in words.
    pub detail: String,
    /// The tags of the image it keeps, when it keeps some.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<Tag>,
}

/// What the plan does with the image.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// It stays with every tag.
    Kept,
    /// It stays; some tags are removed.
    Untagged,
    /// It is deleted.
    Deleted,
    /// It is archived (it stays, with its tags, not pullable until reactivated).
    Archived,
    /// It is archived and comes back to the standard storage class.
    Reactivated,
}

/// The final verdict.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Verdict {
    /// Kept, untagged or deleted.
    pub outcome: Outcome,
    /// The tags removed.
    pub tags_removed: Vec<Tag>,
    /// The tags that stay.
    pub tags_kept: Vec<Tag>,
    /// True when the repository is refused (the plan would delete every image):
    /// nothing in it is applied.
    pub refused: bool,
    /// The verdict in words.
    pub summary: String,
}

/// The explanation of one image.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Explanation {
    /// The repository.
    pub repository: RepositoryRef,
    /// Where it is declared.
    pub declared_at: Origin,
    /// The instant planned for.
    pub now: DateTime<Utc>,
    /// The image's digest.
    pub digest: Digest,
    /// Its tags.
    pub tags: Vec<Tag>,
    /// When it was pushed.
    pub pushed_at: DateTime<Utc>,
    /// Its last recorded pull, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_recorded_pull_time: Option<DateTime<Utc>>,
    /// Every rule and source, in the engine's order.
    pub steps: Vec<Step>,
    /// What the plan does with it.
    pub verdict: Verdict,
}

/// Explains image `target` of `observed` (it must be one of its images): the plan of
/// the repository, and the trace of that image.
pub fn explain_image(
    desired: &DesiredRepository,
    observed: &ObservedRepository,
    now: DateTime<Utc>,
    options: PlanOptions,
    in_use: &[ImageUse],
    target: &Digest,
) -> Option<Explanation> {
    let i = observed
        .images
        .iter()
        .position(|img| img.digest == *target)?;
    let img = &observed.images[i];
    let (plan, warnings) = plan_repository(desired, observed, now, options, in_use);
    let mut steps: Vec<Step> = desired
        .allow
        .iter()
        .map(|entry| allow_step(entry, &observed.images, i, now))
        .collect();
    steps.extend(in_use_step(&plan, img));
    steps.extend(structure_steps(desired, observed, &plan, img));
    steps.extend(warning_steps(&warnings, img));
    let verdict = verdict(&plan, img);
    Some(Explanation {
        repository: plan.repository.clone(),
        declared_at: plan.declared_at.clone(),
        now,
        digest: img.digest.clone(),
        tags: sorted(img.tags.clone()),
        pushed_at: img.pushed_at,
        last_recorded_pull_time: img.last_recorded_pull_time,
        steps,
        verdict,
    })
}

fn sorted(mut tags: Vec<Tag>) -> Vec<Tag> {
    tags.sort();
    tags
}

/// A duration in words: `3d 4h`, `5h`, `12m`.
fn span(seconds: i64) -> String {
    let s = seconds.max(0);
    let (d, h, m) = (s / 86_400, (s % 86_400) / 3600, (s % 3600) / 60);
    match (d, h) {
        (0, 0) => format!("{m}m"),
        (0, h) => format!("{h}h"),
        (d, 0) => format!("{d}d"),
        (d, h) => format!("{d}d {h}h"),
    }
}

/// Phase 1, for one entry: does it match the image, and do its limits keep it.
fn allow_step(entry: &AllowEntry, images: &[ImageDetail], i: usize, now: DateTime<Utc>) -> Step {
    let img = &images[i];
    let matched: Vec<Tag> = sorted(
        img.tags
            .iter()
            .filter(|t| entry.matcher.matches(t.as_str()))
            .cloned()
            .collect(),
    );
    let kind = match entry.matcher {
        Matcher::Exact(_) if !entry.is_rule => "tag",
        _ => "pattern",
    };
    let source = format!("allow-list {kind} `{}`", entry.matcher.as_str());
    let step = |effect, detail: String, tags: Vec<Tag>| Step {
        source: source.clone(),
        location: Some(entry.origin.clone()),
        effect,
        detail,
        tags,
    };
    if matched.is_empty() {
        let detail = if img.tags.is_empty() {
            "the image has no tag".to_owned()
        } else {
            format!(
                "matches none of its tags ({})",
                sorted(img.tags.clone())
                    .iter()
                    .map(Tag::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        return step(Effect::NoMatch, detail, Vec::new());
    }
    let names = matched
        .iter()
        .map(Tag::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    if entry.keep_latest.is_none()
        && entry.max_age_seconds.is_none()
        && entry.pulled_within_seconds.is_none()
    {
        return step(Effect::Keeps, format!("matches {names}"), matched);
    }
    let mut reasons = vec![format!("matches {names}")];
    let mut limits_keep = true;
    if let Some(keep) = entry.keep_latest {
        // As the engine ranks: each image by its smallest matching tag, newest first.
        let mut ranked: Vec<(usize, &str)> = images
            .iter()
            .enumerate()
            .filter_map(|(j, other)| {
                other
                    .tags
                    .iter()
                    .map(Tag::as_str)
                    .filter(|t| entry.matcher.matches(t))
                    .min()
                    .map(|t| (j, t))
            })
            .collect();
        ranked.sort_by(newest_first(images));
        let rank = ranked
            .iter()
            .position(|&(j, _)| j == i)
            .map_or(0, |r| r + 1);
        let within = rank <= keep as usize;
        limits_keep &= within;
        reasons.push(format!(
            "keep_latest {keep}: newest-push rank {rank} of {} matching images, {}",
            ranked.len(),
            if within { "within" } else { "beyond the limit" }
        ));
    }
    if let Some(max_age) = entry.max_age_seconds {
        let age = (now - img.pushed_at).num_seconds();
        let within = age <= i64::try_from(max_age).unwrap_or(i64::MAX);
        limits_keep &= within;
        reasons.push(format!(
            "max_age {}: pushed {} ago, {}",
            span(i64::try_from(max_age).unwrap_or(i64::MAX)),
            span(age),
            if within { "within" } else { "too old" }
        ));
    }
    let only_pulled = entry.keep_latest.is_none() && entry.max_age_seconds.is_none();
    let mut pulled = false;
    if let Some(window) = entry.pulled_within_seconds {
        let used = last_use(img);
        let ago = (now - used).num_seconds();
        pulled = ago <= i64::try_from(window).unwrap_or(i64::MAX);
        reasons.push(format!(
            "pulled_within {}: last {} {} ago, {}",
            span(i64::try_from(window).unwrap_or(i64::MAX)),
            if img
                .last_recorded_pull_time
                .is_some_and(|p| p >= img.pushed_at)
            {
                "pulled"
            } else {
                "pushed (never pulled since)"
            },
            span(ago),
            if pulled { "within" } else { "not within" }
        ));
    }
    let keeps = pulled || (!only_pulled && limits_keep);
    if keeps {
        step(Effect::Keeps, reasons.join("; "), matched)
    } else {
        step(Effect::DoesNotKeep, reasons.join("; "), Vec::new())
    }
}

/// Phase 1b: the in-use sources that name the image.
fn in_use_step(plan: &RepositoryPlan, img: &ImageDetail) -> Option<Step> {
    let used = plan.in_use.iter().find(|u| u.digest == img.digest)?;
    let sites: Vec<String> = used.uses.iter().map(ToString::to_string).collect();
    Some(Step {
        source: "in use".into(),
        location: None,
        effect: Effect::Keeps,
        detail: format!("named by {}", sites.join("; ")),
        tags: used.tags.clone(),
    })
}

/// Phase 2: what keeps the image for another kept image's sake, and the untagged
/// policy.
fn structure_steps(
    desired: &DesiredRepository,
    observed: &ObservedRepository,
    plan: &RepositoryPlan,
    img: &ImageDetail,
) -> Vec<Step> {
    let deleted = |d: &Digest| {
        plan.actions
            .iter()
            .any(|a| a.kind == ActionKind::Delete && a.digest == *d)
    };
    let kept = |d: &Digest| observed.images.iter().any(|i| i.digest == *d) && !deleted(d);
    let step = |source: &str, effect, detail: String| Step {
        source: source.into(),
        location: None,
        effect,
        detail,
        tags: Vec::new(),
    };
    let mut out = Vec::new();
    let mut parents: Vec<&Digest> = observed
        .children
        .iter()
        .filter(|(_, kids)| kids.contains(&img.digest))
        .map(|(parent, _)| parent)
        .collect();
    parents.sort();
    for parent in parents {
        let (effect, how) = if kept(parent) {
            (Effect::Keeps, "kept, so its images stay")
        } else {
            (Effect::NoMatch, "deleted too, so it does not keep it")
        };
        out.push(step(
            "index",
            effect,
            format!("part of index {}, {how}", parent.short()),
        ));
    }
    if let Some(subject) = &img.subject {
        let (effect, how) = if kept(subject) {
            (Effect::Keeps, "which is kept")
        } else {
            (Effect::NoMatch, "which is deleted")
        };
        out.push(step(
            "referrer",
            effect,
            format!("refers to image {} (OCI subject), {how}", subject.short()),
        ));
    }
    for t in &img.tags {
        if let Some(subject) = signature_subject(t.as_str())
            && observed.images.iter().any(|i| i.digest == subject)
        {
            let (effect, how) = if kept(&subject) {
                (Effect::Keeps, "which is kept")
            } else {
                (Effect::NoMatch, "which is deleted")
            };
            out.push(Step {
                tags: vec![t.clone()],
                ..step(
                    "signature",
                    effect,
                    format!("tag `{t}` signs image {}, {how}", subject.short()),
                )
            });
        }
    }
    let kids = observed.unreadable.iter().filter(|d| kept(d)).count();
    if kids > 0 && !observed.unreadable.contains(&img.digest) {
        out.push(step(
            "index",
            Effect::Keeps,
            "a kept index's manifest cannot be read (archived): every image may be its child, and stays".into(),
        ));
    }
    if img.tags.is_empty() {
        let (effect, detail) = match desired.untagged {
            UntaggedPolicy::Keep => (Effect::Keeps, "untagged: keep (the default)"),
            UntaggedPolicy::Delete => (
                Effect::DoesNotKeep,
                "untagged: delete, unless a kept image needs it",
            ),
        };
        out.push(Step {
            location: Some(desired.origin.clone()),
            ..step("untagged", effect, detail.into())
        });
    }
    out
}

/// The plan's warnings that name the image (by digest or by one of its tags).
fn warning_steps(warnings: &[Warning], img: &ImageDetail) -> Vec<Step> {
    let short = img.digest.short();
    warnings
        .iter()
        .filter(|w| {
            w.message.contains(&short)
                || img
                    .tags
                    .iter()
                    .any(|t| w.message.contains(&format!("`{t}`")))
        })
        .map(|w| Step {
            source: format!("warning {}", w.code.as_str()),
            location: w.location.clone(),
            effect: Effect::Note,
            detail: w.message.clone(),
            tags: Vec::new(),
        })
        .collect()
}

/// What the plan does with the image.
fn verdict(plan: &RepositoryPlan, img: &ImageDetail) -> Verdict {
    let refused = plan.status == RepositoryStatus::Refused;
    let mine = || plan.actions.iter().filter(|a| a.digest == img.digest);
    // A reactivated image may lose tags too: the change of class is the verdict.
    let action = mine()
        .find(|a| a.kind == ActionKind::Reactivate)
        .or_else(|| mine().next());
    let all = sorted(img.tags.clone());
    let (outcome, tags_removed, tags_kept, mut summary) = match action {
        Some(a) if a.kind == ActionKind::Archive => (
            Outcome::Archived,
            Vec::new(),
            all.clone(),
            format!("archived: {}", a.reason),
        ),
        Some(a) if a.kind == ActionKind::Reactivate => (
            Outcome::Reactivated,
            Vec::new(),
            all.clone(),
            format!("reactivated: {}", a.reason),
        ),
        Some(a) if a.kind == ActionKind::Delete => (
            Outcome::Deleted,
            all.clone(),
            Vec::new(),
            format!("deleted: {}", a.reason),
        ),
        Some(a) => (
            Outcome::Untagged,
            a.tags.clone(),
            a.kept_tags.clone(),
            format!(
                "stays; tags removed: {}; it keeps {}",
                a.tags
                    .iter()
                    .map(Tag::as_str)
                    .collect::<Vec<_>>()
                    .join(", "),
                a.kept_tags
                    .iter()
                    .map(Tag::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ),
        None => (
            Outcome::Kept,
            Vec::new(),
            all.clone(),
            if all.is_empty() {
                "stays".to_owned()
            } else {
                "stays with every tag".to_owned()
            },
        ),
    };
    if refused && action.is_some() {
        summary.push_str(
            "; but the repository is refused (the plan would delete every image): nothing in it is applied",
        );
    }
    Verdict {
        outcome,
        tags_removed,
        tags_kept,
        refused,
        summary,
    }
}

#[cfg(test)]
mod tests;
