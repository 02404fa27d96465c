//! The plan engine: a pure function of one repository's desired and observed state
//! and the instant `now`. No client, clock or writer in here.

use chrono::{DateTime, Utc};
use wildmatch::WildMatch;

use super::{Action, ActionKind, RepositoryPlan, RepositoryStatus, Warning, WarningCode};
use crate::config::{DesiredRepository, Matcher, UntaggedPolicy};
use crate::model::{Digest, RepositoryRef, Tag};
use crate::registry::ImageDetail;
use crate::registry::ObservedRepository;

// The maps below are keyed by digests and tags of one repository, built and dropped
// for each plan: foldhash hashes them several times faster than SipHash.
use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};

/// Options that the command line can set for every repository.
#[derive(Clone, Copy, Debug, Default)]
pub struct PlanOptions {
    /// `--allow-empty`: lift the guard against deleting every image.
    pub allow_empty: bool,
}

/// The subject digest named by a signature-style tag: `sha256-<hex>` (SOCI and
/// referrers fallback) or `sha256-<hex>.sig|.att|.sbom` (cosign).
pub fn signature_subject(tag: &str) -> Option<Digest> {
    let rest = tag.strip_prefix("sha256-")?;
    let hex = match rest.split_once('.') {
        Some((hex, "sig" | "att" | "sbom")) => hex,
        Some(_) => return None,
        None => rest,
    };
    Digest::parse(format!("sha256:{hex}")).ok()
}

/// The order in which a rule's images compete for `keep_latest`: newest push first;
/// ties by the image's smallest matching tag, ascending, so the result never depends
/// on listing order.
fn newest_first(
    images: &[ImageDetail],
) -> impl Fn(&(usize, &str), &(usize, &str)) -> std::cmp::Ordering + '_ {
    move |a, b| {
        images[b.0]
            .pushed_at
            .cmp(&images[a.0].pushed_at)
            .then_with(|| a.1.cmp(b.1))
    }
}

/// The plan of a repository that could not be read: nothing planned, and a warning
/// that says why.
pub fn unreadable_repository(
    desired: &DesiredRepository,
    reference: &RepositoryRef,
    error: String,
) -> (RepositoryPlan, Vec<Warning>) {
    let warning = Warning {
        code: WarningCode::RepositoryUnreadable,
        message: format!("repository `{}` could not be read: {error}", desired.name),
        repository: reference.to_string(),
        location: Some(desired.origin.clone()),
        help: Some(
            "nothing is planned for it, and apply refuses to start until every declared repository can be read".into(),
        ),
    };
    let plan = RepositoryPlan {
        repository: reference.clone(),
        declared_at: desired.origin.clone(),
        status: RepositoryStatus::Unreadable,
        refused_reason: None,
        read_error: Some(error),
        untagged: desired.untagged,
        images_observed: 0,
        tags_kept: Vec::new(),
        actions: Vec::new(),
    };
    (plan, vec![warning])
}

/// Plans one repository. Returns its plan and its warnings.
pub fn plan_repository(
    desired: &DesiredRepository,
    observed: &ObservedRepository,
    now: DateTime<Utc>,
    options: PlanOptions,
) -> (RepositoryPlan, Vec<Warning>) {
    let mut out = Planning {
        desired,
        observed,
        label: observed.reference.to_string(),
        warnings: Vec::new(),
        unmatched: Vec::new(),
    };
    let mut plan = RepositoryPlan {
        repository: observed.reference.clone(),
        declared_at: desired.origin.clone(),
        status: RepositoryStatus::Unchanged,
        refused_reason: None,
        read_error: None,
        untagged: desired.untagged,
        images_observed: observed.images.len(),
        tags_kept: Vec::new(),
        actions: Vec::new(),
    };
    if !observed.exists {
        plan.status = RepositoryStatus::Missing;
        out.warn(
            WarningCode::RepositoryNotFound,
            format!(
                "repository `{}` does not exist in {}",
                desired.name, observed.reference.registry
            ),
            Some(desired.origin.clone()),
            "check the name, account and region; nothing is planned for it",
        );
        return (plan, out.warnings);
    }
    let index = Index::new(&observed.images);
    let mut allowed = out.allowed_tags(&index, now);
    let kept = out.kept_images(&index, &mut allowed);
    let deleted = out.untags(&index, &kept, &allowed, &mut plan);
    out.deletions(&index, &deleted, &mut plan);
    out.warn_unmatched(&index, &allowed, &plan);
    plan.status = out.status(
        deleted.len(),
        options,
        &mut plan.refused_reason,
        &plan.actions,
    );
    if plan.status == RepositoryStatus::Refused {
        // Nothing in it is applied: every tag stays. The actions say what the plan
        // would do once allowed.
        let mut all: Vec<Tag> = observed
            .images
            .iter()
            .flat_map(|i| i.tags.clone())
            .collect();
        all.sort();
        plan.tags_kept = all;
    }
    (plan, out.warnings)
}

/// One repository being planned: what it is and the warnings so far.
struct Planning<'a> {
    desired: &'a DesiredRepository,
    observed: &'a ObservedRepository,
    label: String,
    warnings: Vec<Warning>,
    /// Allow-list entries that matched no tag.
    unmatched: Vec<&'a crate::config::AllowEntry>,
}

/// Look-ups over one repository's images.
struct Index<'a> {
    images: &'a [ImageDetail],
    by_digest: HashMap<&'a Digest, usize>,
    /// Every (image, tag) pair; a tag is on at most one image.
    all_tags: Vec<(usize, &'a str)>,
    tag_owner: HashMap<&'a str, usize>,
}

impl<'a> Index<'a> {
    fn new(images: &'a [ImageDetail]) -> Self {
        let n = images.len();
        let mut by_digest: HashMap<&Digest, usize> = HashMap::with_capacity(n);
        by_digest.extend(images.iter().enumerate().map(|(i, img)| (&img.digest, i)));
        let mut all_tags: Vec<(usize, &str)> = Vec::with_capacity(n);
        all_tags.extend(
            images
                .iter()
                .enumerate()
                .flat_map(|(i, img)| img.tags.iter().map(move |t| (i, t.as_str()))),
        );
        let mut tag_owner: HashMap<&str, usize> = HashMap::with_capacity(all_tags.len());
        tag_owner.extend(all_tags.iter().map(|&(i, t)| (t, i)));
        Self {
            images,
            by_digest,
            all_tags,
            tag_owner,
        }
    }
}

impl<'a> Planning<'a> {
    fn warn(
        &mut self,
        code: WarningCode,
        message: String,
        location: Option<crate::config::Origin>,
        help: &str,
    ) {
        self.warnings.push(Warning {
            code,
            message,
            repository: self.label.clone(),
            location,
            help: Some(help.to_owned()),
        });
    }

    /// Phase 1: the tags the allow-list allows (rules with `keep_latest`, then
    /// `max_age` at `now`).
    fn allowed_tags(&mut self, index: &Index<'a>, now: DateTime<Utc>) -> HashSet<&'a str> {
        let images = index.images;
        let mut allowed: HashSet<&str> = HashSet::new();
        for entry in &self.desired.allow {
            let mut candidates: Vec<(usize, &str)> = match &entry.matcher {
                Matcher::Exact(t) => index
                    .tag_owner
                    .get_key_value(t.as_str())
                    .map(|(&t, &i)| vec![(i, t)])
                    .unwrap_or_default(),
                Matcher::Glob(g) => {
                    let glob = WildMatch::new(g);
                    index
                        .all_tags
                        .iter()
                        .copied()
                        .filter(|(_, t)| glob.matches(t))
                        .collect()
                }
            };
            if candidates.is_empty() {
                // Warned about once the plan is known: a hint says what it does.
                self.unmatched.push(entry);
                continue;
            }
            if let Some(keep) = entry.keep_latest {
                // Counts images, not tags ("keep the last 5 builds", as ECR's
                // imageCountMoreThan does): each image ranks by its smallest matching
                // tag, and every matching tag of a counted image stays allowed.
                let mut smallest: HashMap<usize, &str> = HashMap::new();
                for &(i, t) in &candidates {
                    let s = smallest.entry(i).or_insert(t);
                    if t < *s {
                        *s = t;
                    }
                }
                let mut ranked: Vec<(usize, &str)> = smallest.into_iter().collect();
                ranked.sort_by(newest_first(images));
                ranked.truncate(keep as usize);
                let counted: HashSet<usize> = ranked.into_iter().map(|(i, _)| i).collect();
                candidates.retain(|(i, _)| counted.contains(i));
            }
            if let Some(max_age) = entry.max_age_seconds {
                let cutoff =
                    now - chrono::Duration::seconds(i64::try_from(max_age).unwrap_or(i64::MAX));
                candidates.retain(|&(i, _)| images[i].pushed_at >= cutoff);
            }
            allowed.extend(candidates.into_iter().map(|(_, t)| t));
        }
        allowed
    }

    /// Phase 2: the kept images: those with an allowed tag, then, transitively, the
    /// children of kept indexes, referrers of kept images, images carrying signature
    /// tags of kept images (whose tags become allowed), and every untagged image
    /// under `untagged: keep`.
    fn kept_images(&self, index: &Index<'a>, allowed: &mut HashSet<&'a str>) -> Vec<bool> {
        let images = index.images;
        let mut referrers: HashMap<&Digest, Vec<usize>> = HashMap::new();
        for (i, img) in images.iter().enumerate() {
            if let Some(s) = &img.subject {
                referrers.entry(s).or_default().push(i);
            }
        }
        let mut signatures: HashMap<Digest, Vec<(usize, &str)>> = HashMap::new();
        for &(i, t) in &index.all_tags {
            if let Some(subject) = signature_subject(t) {
                signatures.entry(subject).or_default().push((i, t));
            }
        }
        let mut kept = vec![false; images.len()];
        let keep_untagged = self.desired.untagged == UntaggedPolicy::Keep;
        let mut queue: Vec<usize> = images
            .iter()
            .enumerate()
            .filter(|(_, img)| {
                img.tags.iter().any(|t| allowed.contains(t.as_str()))
                    || (img.tags.is_empty() && keep_untagged)
            })
            .map(|(i, _)| i)
            .collect();
        while let Some(i) = queue.pop() {
            if kept[i] {
                continue;
            }
            kept[i] = true;
            let digest = &images[i].digest;
            if let Some(kids) = self.observed.children.get(digest) {
                queue.extend(kids.iter().filter_map(|k| index.by_digest.get(k).copied()));
            }
            if let Some(r) = referrers.get(digest) {
                queue.extend(r.iter().copied());
            }
            if let Some(sigs) = signatures.get(digest) {
                for &(j, t) in sigs {
                    allowed.insert(t);
                    queue.push(j);
                }
            }
        }
        kept
    }

    /// Phase 3: untags of kept images (one tag retained where removing all would
    /// delete an image that must stay) and the tags kept. Returns the images to
    /// delete.
    fn untags(
        &mut self,
        index: &Index<'a>,
        kept: &[bool],
        allowed: &HashSet<&str>,
        plan: &mut RepositoryPlan,
    ) -> Vec<usize> {
        let images = index.images;
        let mut deleted: Vec<usize> = Vec::new();
        let mut tags_kept: Vec<Tag> = Vec::new();
        for (i, img) in images.iter().enumerate() {
            if !kept[i] {
                deleted.push(i);
                continue;
            }
            let (mut keep, mut remove): (Vec<&Tag>, Vec<&Tag>) =
                img.tags.iter().partition(|t| allowed.contains(t.as_str()));
            if keep.is_empty() && !remove.is_empty() {
                // Kept for another image's sake; removing its last tag would delete it.
                remove.sort();
                let retained = remove.remove(0);
                self.warn(
                    WarningCode::TagRetained,
                    format!(
                        "tag `{retained}` is not allowed but stays: removing it would delete image {}, which {}",
                        img.digest.short(),
                        why_kept(i, images, self.observed)
                    ),
                    Some(self.desired.origin.clone()),
                    "allow the tag, or let the image go with what keeps it",
                );
                keep.push(retained);
            }
            tags_kept.extend(keep.into_iter().cloned());
            if !remove.is_empty() {
                let mut kept_tags: Vec<Tag> = img
                    .tags
                    .iter()
                    .filter(|t| !remove.contains(t))
                    .cloned()
                    .collect();
                kept_tags.sort();
                let mut tags: Vec<Tag> = remove.into_iter().cloned().collect();
                tags.sort();
                plan.actions.push(Action {
                    kind: ActionKind::Untag,
                    digest: img.digest.clone(),
                    tags,
                    kept_tags,
                    pushed_at: img.pushed_at,
                    size_bytes: img.size_bytes,
                    media_type: img.manifest_media_type.clone(),
                    reason: "tags not in the allow-list; the image keeps an allowed tag".into(),
                    wave: 0,
                });
            }
        }
        tags_kept.sort();
        plan.tags_kept = tags_kept;
        deleted
    }

    /// Phase 4: deletions, in waves (an index or a referrer goes before what it
    /// references), then every action in wave and push order.
    fn deletions(&self, index: &Index<'a>, deleted: &[usize], plan: &mut RepositoryPlan) {
        let waves = delete_waves(deleted, index.images, self.observed, &index.by_digest);
        plan.actions.reserve_exact(deleted.len());
        for (&i, wave) in deleted.iter().zip(waves) {
            let img = &index.images[i];
            let mut tags = img.tags.clone();
            tags.sort();
            let reason = if tags.is_empty() {
                "untagged and not needed by a kept image".to_owned()
            } else {
                "no allowed tag".to_owned()
            };
            plan.actions.push(Action {
                kind: ActionKind::Delete,
                digest: img.digest.clone(),
                tags,
                kept_tags: Vec::new(),
                pushed_at: img.pushed_at,
                size_bytes: img.size_bytes,
                media_type: img.manifest_media_type.clone(),
                reason,
                wave,
            });
        }
        plan.actions.sort_by(|a, b| {
            a.wave
                .cmp(&b.wave)
                .then(a.pushed_at.cmp(&b.pushed_at))
                .then_with(|| a.digest.cmp(&b.digest))
        });
    }

    /// The warnings of allow-list entries that matched nothing, first among the
    /// warnings, in declaration order; a did-you-mean hint says what the plan does
    /// with the tag it suggests.
    fn warn_unmatched(
        &mut self,
        index: &Index<'a>,
        allowed: &HashSet<&str>,
        plan: &RepositoryPlan,
    ) {
        let fate = |tag: &str| {
            if plan
                .actions
                .iter()
                .any(|a| a.tags.iter().any(|t| t.as_str() == tag))
            {
                TagFate::Removed
            } else if allowed.contains(tag) {
                TagFate::Allowed
            } else {
                TagFate::Retained
            }
        };
        let warnings: Vec<Warning> = self
            .unmatched
            .iter()
            .map(|entry| {
                unmatched_warning(entry, self.desired, &self.label, &index.all_tags, &fate)
            })
            .collect();
        self.warnings.splice(0..0, warnings);
    }

    /// Phase 5: the status, and the guard against deleting every image.
    fn status(
        &mut self,
        deletions: usize,
        options: PlanOptions,
        refused_reason: &mut Option<String>,
        actions: &[Action],
    ) -> RepositoryStatus {
        let n = self.observed.images.len();
        if actions.is_empty() {
            RepositoryStatus::Unchanged
        } else if n > 0 && deletions == n && !(self.desired.allow_empty || options.allow_empty) {
            let reason = format!("the plan would delete all {n} images of the repository");
            self.warn(
                WarningCode::RefusedEmpty,
                format!("{reason}; refused, nothing in it will be applied"),
                Some(self.desired.origin.clone()),
                "if that is intended, set `allow_empty: true` on the repository or pass --allow-empty",
            );
            *refused_reason = Some(reason);
            RepositoryStatus::Refused
        } else {
            RepositoryStatus::Changes
        }
    }
}

/// Why an image without allowed tags is kept, for the retained-tag warning.
fn why_kept(i: usize, images: &[ImageDetail], observed: &ObservedRepository) -> String {
    let digest = &images[i].digest;
    if let Some((parent, _)) = observed
        .children
        .iter()
        .find(|(_, kids)| kids.contains(digest))
    {
        return format!("is part of the kept index {}", parent.short());
    }
    if let Some(subject) = &images[i].subject {
        return format!("refers to the kept image {}", subject.short());
    }
    "a kept image needs".to_owned()
}

/// The wave of each deleted image: 1 + the length of the longest chain of deleted
/// images that reference it (as index parent or as referrer).
fn delete_waves(
    deleted: &[usize],
    images: &[ImageDetail],
    observed: &ObservedRepository,
    by_digest: &HashMap<&Digest, usize>,
) -> Vec<u32> {
    let mut is_deleted = vec![false; images.len()];
    for &i in deleted {
        is_deleted[i] = true;
    }
    // parents[i]: deleted images that reference image i.
    let mut parents: HashMap<usize, Vec<usize>> = HashMap::new();
    for &p in deleted {
        let img = &images[p];
        if let Some(kids) = observed.children.get(&img.digest) {
            for k in kids {
                if let Some(&c) = by_digest.get(k)
                    && is_deleted[c]
                {
                    parents.entry(c).or_default().push(p);
                }
            }
        }
        if let Some(s) = &img.subject
            && let Some(&c) = by_digest.get(s)
            && is_deleted[c]
        {
            parents.entry(c).or_default().push(p);
        }
    }
    let mut depth: Vec<Option<u32>> = vec![None; images.len()];
    deleted
        .iter()
        .map(|&i| 1 + depth_of(i, &parents, &mut depth, 0))
        .collect()
}

fn depth_of(
    i: usize,
    parents: &HashMap<usize, Vec<usize>>,
    memo: &mut [Option<u32>],
    guard: u32,
) -> u32 {
    if let Some(d) = memo[i] {
        return d;
    }
    // Digests cannot form cycles; the guard only bounds malformed input.
    let d = if guard > 64 {
        0
    } else {
        parents.get(&i).map_or(0, |ps| {
            ps.iter()
                .map(|&p| depth_of(p, parents, memo, guard + 1) + 1)
                .max()
                .unwrap_or(0)
        })
    };
    memo[i] = Some(d);
    d
}

/// Characters people mistype for one another in tags (`l` for `1`, `O` for `0`).
fn unconfuse(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            'l' | 'I' | 'i' => '1',
            'O' | 'o' => '0',
            c => c.to_ascii_lowercase(),
        })
        .collect()
}

/// The tag in the registry most likely meant by a missing allowed tag: one that
/// differs only by confusable characters first, then the closest by similarity.
fn closest_tag<'a>(wanted: &str, names: &[&'a str]) -> Option<&'a str> {
    let key = unconfuse(wanted);
    let mut confusable: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| unconfuse(n) == key)
        .collect();
    confusable.sort_unstable();
    if let Some(&n) = confusable.first() {
        return Some(n);
    }
    similar::get_close_matches(wanted, names, 1, 0.7)
        .first()
        .copied()
}

/// What the plan does with a tag in the repository.
enum TagFate {
    /// Removed (untagged, or deleted with its image).
    Removed,
    /// Allowed: it stays.
    Allowed,
    /// Not allowed, but it stays: removing it would delete an image that must stay.
    Retained,
}

fn unmatched_warning(
    entry: &crate::config::AllowEntry,
    desired: &DesiredRepository,
    repo_label: &str,
    all_tags: &[(usize, &str)],
    fate: &dyn Fn(&str) -> TagFate,
) -> Warning {
    match &entry.matcher {
        Matcher::Exact(t) if !entry.is_rule => {
            let names: Vec<&str> = all_tags.iter().map(|&(_, t)| t).collect();
            let close = closest_tag(t.as_str(), &names);
            let help = match close.map(|c| (c, fate(c))) {
                Some((c, TagFate::Removed)) => Some(format!(
                    "did you mean `{c}`? It is in the repository and not allowed, so this plan removes it"
                )),
                Some((c, TagFate::Retained)) => Some(format!(
                    "did you mean `{c}`? It is in the repository and not allowed; it stays only because removing it would delete an image that must stay (see plan::tag-retained)"
                )),
                Some((c, TagFate::Allowed)) => Some(format!("did you mean `{c}`?")),
                None => Some("a typo, or an image not pushed yet?".to_owned()),
            };
            Warning {
                code: WarningCode::TagNotFound,
                message: format!("allowed tag `{t}` is not in repository `{}`", desired.name),
                repository: repo_label.to_owned(),
                location: Some(entry.origin.clone()),
                help,
            }
        }
        m => Warning {
            code: WarningCode::PatternMatchedNothing,
            message: format!(
                "`{}` matches no tag in repository `{}`",
                m.as_str(),
                desired.name
            ),
            repository: repo_label.to_owned(),
            location: Some(entry.origin.clone()),
            help: Some("check the pattern; it allows nothing now".to_owned()),
        },
    }
}
