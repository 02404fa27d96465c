//! The plan engine: a pure function of one repository's desired and observed state
//! and the instant `now`. No client, clock or writer in here.

use chrono::{DateTime, Utc};
use wildmatch::WildMatch;

use self::archive::{Fate, storage_action};
use super::waves::delete_waves;
use super::{
    Action, ActionKind, InUseImage, RepositoryPlan, RepositoryStatus, Warning, WarningCode,
};
use crate::config::{DesiredRepository, Matcher, UntaggedPolicy};
use crate::in_use::{ImageUse, UseSite};
use crate::model::{Digest, RepositoryRef, Tag};
use crate::registry::ObservedRepository;
use crate::registry::{ImageDetail, ImageStatus};

// The maps below are keyed by digests and tags of one repository, built and dropped
// for each plan: foldhash hashes them several times faster than SipHash.
use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};

/// Options that the command line can set for every repository.
#[derive(Clone, Copy, Debug, Default)]
pub struct PlanOptions {
    /// `--allow-empty`: lift the guard against deleting every image.
    pub allow_empty: bool,
    /// `--price-per-gb-month`: the storage price of every repository and storage
    /// class, over the files' `pricing` and ECR's published prices.
    pub price_per_gb_month: Option<crate::model::Price>,
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
pub(super) fn newest_first(
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
        read_error: Some(error),
        ..RepositoryPlan::empty(reference.clone(), desired, RepositoryStatus::Unreadable)
    };
    (plan, vec![warning])
}

/// Plans one repository, keeping the images `in_use` names (uses of other
/// repositories are ignored). Returns its plan and its warnings.
pub fn plan_repository(
    desired: &DesiredRepository,
    observed: &ObservedRepository,
    now: DateTime<Utc>,
    options: PlanOptions,
    in_use: &[ImageUse],
) -> (RepositoryPlan, Vec<Warning>) {
    let mut out = Planning {
        desired,
        observed,
        now,
        label: observed.reference.to_string(),
        warnings: Vec::new(),
        unmatched: Vec::new(),
    };
    let mut plan = RepositoryPlan {
        images_observed: observed.images.len(),
        ..RepositoryPlan::empty(
            observed.reference.clone(),
            desired,
            RepositoryStatus::Unchanged,
        )
    };
    let in_use: Vec<&ImageUse> = in_use
        .iter()
        .filter(|u| u.image.names(&observed.reference))
        .collect();
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
    let used = out.in_use(&index, &in_use, &mut allowed);
    let kept = out.kept_images(&index, &mut allowed, &used, true);
    out.warn_unreadable(&index, &kept);
    let removed = out.untags(&index, &kept, &allowed, &used, &mut plan);
    let fates = archive::fates(
        desired,
        observed,
        index.images,
        &index.by_digest,
        &removed,
        now,
    );
    let mut deleted: Vec<(usize, String)> = Vec::new();
    for (&i, fate) in removed.iter().zip(fates) {
        match fate {
            Fate::Delete(reason) => deleted.push((i, reason)),
            Fate::Archive(reason) => plan.actions.push(storage_action(
                &index.images[i],
                ActionKind::Archive,
                reason,
            )),
            Fate::Stays => {}
        }
    }
    out.deletions(&index, &deleted, &mut plan);
    out.reactivations(&index, &kept, &mut allowed, &used, &mut plan);
    out.warn_unmatched(&index, &allowed, &plan);
    plan.status = out.status(
        removed.len(),
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
    plan.in_use = in_use_images(&index, used);
    plan.replicas.clone_from(&observed.replicas);
    if let Some(rule) = &observed.pull_through_cache {
        out.warn(
            WarningCode::PullThroughCache,
            format!(
                "`{}` is a pull-through cache of {} (rule `{}`): a tag removed here comes back on its next pull",
                desired.name, rule.upstream, rule.prefix
            ),
            Some(desired.origin.clone()),
            "removals here free storage only until the image is pulled again; to stop a tag coming back, stop pulling it (or remove the pull-through cache rule)",
        );
    }
    let mut warnings = out.warnings;
    warnings.extend(super::lifecycle::check(desired, observed, &plan, now));
    (plan, warnings)
}

/// The images in use, with the tags they are referenced by and where, from
/// [`Planning::in_use`]: by push time, then digest.
type Used<'a> = HashMap<usize, (Vec<&'a str>, Vec<&'a UseSite>)>;

fn in_use_images(index: &Index<'_>, used: Used<'_>) -> Vec<InUseImage> {
    let mut out: Vec<(usize, InUseImage)> = used
        .into_iter()
        .map(|(i, (tags, sites))| {
            let img = &index.images[i];
            let mut tags: Vec<Tag> = img
                .tags
                .iter()
                .filter(|t| tags.contains(&t.as_str()))
                .cloned()
                .collect();
            tags.sort();
            let mut uses: Vec<UseSite> = sites.into_iter().cloned().collect();
            uses.sort();
            uses.dedup();
            (
                i,
                InUseImage {
                    digest: img.digest.clone(),
                    tags,
                    uses,
                },
            )
        })
        .collect();
    out.sort_by(|(a, x), (b, y)| {
        index.images[*a]
            .pushed_at
            .cmp(&index.images[*b].pushed_at)
            .then_with(|| x.digest.cmp(&y.digest))
    });
    out.into_iter().map(|(_, image)| image).collect()
}

/// One repository being planned: what it is and the warnings so far.
struct Planning<'a> {
    desired: &'a DesiredRepository,
    observed: &'a ObservedRepository,
    /// The instant planned for (ages and the archive's minimum charge).
    now: DateTime<Utc>,
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
            // `pulled_within` is another way to stay: what it selects is chosen among
            // every matching tag, before the count and age limits (alone, it is the
            // rule's only limit).
            let recently_pulled: Vec<(usize, &str)> = match entry.pulled_within_seconds {
                Some(secs) => {
                    let cutoff =
                        now - chrono::Duration::seconds(i64::try_from(secs).unwrap_or(i64::MAX));
                    candidates
                        .iter()
                        .copied()
                        .filter(|&(i, _)| last_use(&images[i]) >= cutoff)
                        .collect()
                }
                None => Vec::new(),
            };
            if entry.pulled_within_seconds.is_some()
                && entry.keep_latest.is_none()
                && entry.max_age_seconds.is_none()
            {
                candidates.clear();
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
            allowed.extend(recently_pulled.into_iter().map(|(_, t)| t));
        }
        allowed
    }

    /// Phase 1b: the images in use. A use by digest keeps the image; a use by tag keeps
    /// the tag (it becomes allowed) and its image. Warns of a tag in use that the
    /// allow-list does not allow, and of a use naming what the repository does not
    /// have.
    fn in_use(
        &mut self,
        index: &Index<'a>,
        uses: &[&'a ImageUse],
        allowed: &mut HashSet<&'a str>,
    ) -> Used<'a> {
        let mut used: Used<'a> = HashMap::new();
        let mut not_allowed: Vec<(&'a str, &'a UseSite)> = Vec::new();
        let mut not_found: Vec<(&'a str, Vec<&'a UseSite>)> = Vec::new();
        for u in uses {
            let mut found = false;
            if let Some(d) = &u.image.digest
                && let Some(&i) = index.by_digest.get(d)
            {
                used.entry(i).or_default().1.push(&u.site);
                found = true;
            }
            if let Some(t) = &u.image.tag
                && let Some((&tag, &i)) = index.tag_owner.get_key_value(t.as_str())
            {
                let entry = used.entry(i).or_default();
                if !entry.0.contains(&tag) {
                    entry.0.push(tag);
                }
                if !entry.1.contains(&&u.site) {
                    entry.1.push(&u.site);
                }
                if allowed.insert(tag) && !not_allowed.iter().any(|(t, _)| *t == tag) {
                    not_allowed.push((tag, &u.site));
                }
                found = true;
            }
            // `latest` read into a reference that names no tag is no typo to warn of.
            if !found && !u.image.implicit_latest {
                let text = u.site.reference.as_str();
                match not_found.iter_mut().find(|(r, _)| *r == text) {
                    Some((_, sites)) => sites.push(&u.site),
                    None => not_found.push((text, vec![&u.site])),
                }
            }
        }
        for (tag, site) in not_allowed {
            let others = used
                .values()
                .filter(|(tags, _)| tags.contains(&tag))
                .map(|(_, sites)| sites.len())
                .sum::<usize>()
                .saturating_sub(1);
            self.warn(
                WarningCode::InUseNotAllowed,
                format!(
                    "tag `{tag}` is in use ({site}{}) but not allowed: it stays while it is in use",
                    more(others)
                ),
                Some(self.desired.origin.clone()),
                &format!(
                    "add `{tag}` to the allow-list of `{}`, so the files say what runs",
                    self.desired.name
                ),
            );
        }
        for (reference, sites) in not_found {
            self.warn(
                WarningCode::InUseNotFound,
                format!(
                    "`{reference}` is in use ({}{}) but repository `{}` has no such image",
                    sites[0],
                    more(sites.len() - 1),
                    self.desired.name
                ),
                Some(self.desired.origin.clone()),
                "a deployment that pulls it fails: it was deleted, or never pushed; nothing is planned for it",
            );
        }
        used
    }

    /// Phase 2: the kept images: those with an allowed tag, then, transitively, the
    /// children of kept indexes, referrers of kept images, images carrying signature
    /// tags of kept images (whose tags become allowed), and every untagged image
    /// under `untagged: keep`.
    fn kept_images(
        &self,
        index: &Index<'a>,
        allowed: &mut HashSet<&'a str>,
        used: &Used<'_>,
        all_reasons: bool,
    ) -> Vec<bool> {
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
        let unreadable: HashSet<&Digest> = self.observed.unreadable.iter().collect();
        let mut kept = vec![false; images.len()];
        // Without `all_reasons`, only what the desired state names (allowed tags, uses,
        // and what those need): not untagged images kept by `untagged: keep`, nor
        // what an unreadable index might need.
        let keep_untagged = self.desired.untagged == UntaggedPolicy::Keep && all_reasons;
        let mut queue: Vec<usize> = images
            .iter()
            .enumerate()
            .filter(|(_, img)| {
                img.tags.iter().any(|t| allowed.contains(t.as_str()))
                    || (img.tags.is_empty() && keep_untagged)
            })
            .map(|(i, _)| i)
            .collect();
        queue.extend(used.keys().copied());
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
            if all_reasons && unreadable.contains(digest) {
                // A kept index whose manifest cannot be read (archived) may need any
                // image of the repository: keep them all.
                queue.extend((0..images.len()).filter(|&j| !kept[j]));
            }
        }
        kept
    }

    /// Warns of each index whose manifest could not be read, saying what the plan
    /// does about its unknown children.
    fn warn_unreadable(&mut self, index: &Index<'a>, kept: &[bool]) {
        for digest in &self.observed.unreadable {
            let Some(&i) = index.by_digest.get(digest) else {
                continue;
            };
            let img = &index.images[i];
            let status = img.status.map_or("inactive", |s| match s {
                ImageStatus::Archived => "archived",
                ImageStatus::Activating => "being restored from the archive",
                ImageStatus::Active | ImageStatus::Unknown => "inactive",
            });
            let (message, help) = if kept[i] {
                (
                    format!(
                        "the manifest of index {} ({status}) cannot be read, so its children are unknown: the index stays, and so does every image of the repository it may need (nothing is deleted there)",
                        img.digest.short()
                    ),
                    "restore the index from the archive (or let the manifest cache hold it from an earlier run), then plan again",
                )
            } else if !matches!(
                archive::fates(
                    self.desired,
                    self.observed,
                    index.images,
                    &index.by_digest,
                    &[i],
                    self.now
                )
                .first(),
                Some(Fate::Delete(_))
            ) {
                (
                    format!(
                        "the manifest of index {} ({status}) cannot be read, so its children are unknown: it is not deleted: `removal: archive` (or a rule's `then: archive`) archives it or leaves it archived",
                        img.digest.short()
                    ),
                    "nothing to do; the images it may reference are archived or deleted as their own removal says",
                )
            } else {
                (
                    format!(
                        "the manifest of index {} ({status}) cannot be read, so its children are unknown: it is deleted in a wave before every image it may reference",
                        img.digest.short()
                    ),
                    "nothing to do; images it referenced are deleted only if nothing kept needs them",
                )
            };
            self.warn(
                WarningCode::IndexUnreadable,
                message,
                Some(self.desired.origin.clone()),
                help,
            );
        }
    }

    /// Phase 3: untags of kept images (one tag retained where removing all would
    /// delete an image that must stay) and the tags kept. Returns the images to
    /// delete.
    fn untags(
        &mut self,
        index: &Index<'a>,
        kept: &[bool],
        allowed: &HashSet<&str>,
        used: &Used<'_>,
        plan: &mut RepositoryPlan,
    ) -> Vec<usize> {
        let images = index.images;
        let mut deleted: Vec<usize> = Vec::new();
        let mut tags_kept: Vec<Tag> = Vec::new();
        // A kept index whose children are unknown, which keeps every image.
        let kept_unreadable = self
            .observed
            .unreadable
            .iter()
            .find(|d| index.by_digest.get(d).is_some_and(|&i| kept[i]));
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
                        why_kept(i, images, self.observed, kept_unreadable, used)
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
                    status: img.status,
                    last_recorded_pull_time: img.last_recorded_pull_time,
                    last_archived_at: img.last_archived_at,
                });
            }
        }
        tags_kept.sort();
        plan.tags_kept = tags_kept;
        deleted
    }

    /// Phase 4: deletions, in waves (an index or a referrer goes before what it
    /// references), then every action in wave and push order.
    fn deletions(
        &mut self,
        index: &Index<'a>,
        deleted: &[(usize, String)],
        plan: &mut RepositoryPlan,
    ) {
        let only: Vec<usize> = deleted.iter().map(|(i, _)| *i).collect();
        let waves = delete_waves(&only, index.images, self.observed, &index.by_digest);
        for &i in &only {
            self.warn_archive_charge(&index.images[i]);
        }
        plan.actions.reserve_exact(deleted.len());
        for ((i, reason), wave) in deleted.iter().zip(waves) {
            let img = &index.images[*i];
            let mut tags = img.tags.clone();
            tags.sort();
            let reason = reason.clone();
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
                status: img.status,
                last_recorded_pull_time: img.last_recorded_pull_time,
                last_archived_at: img.last_archived_at,
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

/// `, and N more` places, or nothing.
fn more(n: usize) -> String {
    match n {
        0 => String::new(),
        1 => ", and 1 more place".to_owned(),
        n => format!(", and {n} more places"),
    }
}

/// The last time an image was used as ECR knows it: its last recorded pull, or its
/// push when it was never pulled (or pushed again since).
pub(super) fn last_use(img: &ImageDetail) -> DateTime<Utc> {
    img.last_recorded_pull_time
        .map_or(img.pushed_at, |p| p.max(img.pushed_at))
}

/// Why an image without allowed tags is kept, for the retained-tag warning.
fn why_kept(
    i: usize,
    images: &[ImageDetail],
    observed: &ObservedRepository,
    kept_unreadable: Option<&Digest>,
    used: &Used<'_>,
) -> String {
    if let Some(site) = used.get(&i).and_then(|(_, sites)| sites.first()) {
        return format!("is in use ({site})");
    }
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
    if let Some(unreadable) = kept_unreadable {
        return format!(
            "may be part of a kept index whose manifest cannot be read ({})",
            unreadable.short()
        );
    }
    "a kept image needs".to_owned()
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

mod archive;
pub use archive::archive_days_billed;
