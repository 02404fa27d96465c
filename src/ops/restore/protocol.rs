//! `restore`: puts back what an apply removed, from the manifests its journal saved.
//!
//! Like `apply`, it is a plan, then an execution. The plan is a pure function of the
//! journal and the registry as it is now: per image, the tags to put back (PutImage
//! with the saved manifest and the tag), whether the image itself must be re-created
//! (it was deleted; ECR accepts the manifest again while it still holds the layers),
//! what is back already, and what cannot be restored, with why and what to do. A tag
//! that names another image now is never moved back: restoring it would take it from
//! an image somebody pushed since.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::RestoreError;
use super::answer::{self, explain};
use crate::model::{Digest, RepositoryRef, Tag, media_type};
use crate::ops::journal::JournalEntry;
use crate::ops::pace::{Clock, Pacer};
use crate::ops::report::ImageRef;
pub use crate::ops::restored::RecreatedImage;
use crate::plan::ActionKind;
use crate::registry::observe::{index_children, list_all};
use crate::registry::{
    ImageDetail, ImageId, ImageStatus, MAX_IDS_PER_BATCH, PutManifest, Registry, RegistryError,
    ServiceCode, StorageClass, TagMutability,
};

/// What cannot be restored, why, and what the user can do.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Problem {
    /// The tag concerned; none for the image as a whole.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<Tag>,
    /// Why it cannot be restored.
    pub reason: String,
    /// What the user can do.
    pub remedy: String,
}

/// The restore of one image.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ImageRestore {
    /// The image's digest.
    pub digest: Digest,
    /// Its manifest media type, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// True when the image is gone and is pushed again (then tagged).
    pub recreate: bool,
    /// True when an apply archived the image and it is archived still: it is
    /// reactivated (UpdateImageStorageClass to `STANDARD`; `ACTIVATING`, then
    /// `ACTIVE` within minutes).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reactivate: bool,
    /// Tags to put back on it.
    pub tags: Vec<Tag>,
    /// Removed tags that are on it again already.
    pub present: Vec<Tag>,
    /// What cannot be restored.
    pub problems: Vec<Problem>,
    /// The manifest to push (from the journal, or read from the registry for an
    /// image that still exists).
    #[serde(skip)]
    manifest: Option<String>,
    /// When the image was first pushed (the journal's record): a re-created image
    /// gets a new push time from the registry, and the restore record keeps this one.
    #[serde(skip)]
    pushed_at: Option<DateTime<Utc>>,
    /// Its size when it was removed, as the journal recorded it.
    #[serde(skip)]
    size_bytes: Option<u64>,
}

impl ImageRestore {
    /// True when the plan changes something for this image.
    pub fn has_work(&self) -> bool {
        self.needs_push() || self.reactivate
    }

    /// True when the plan pushes something for this image.
    pub fn needs_push(&self) -> bool {
        self.recreate || !self.tags.is_empty()
    }

    fn is_index(&self) -> bool {
        self.media_type.as_deref().is_some_and(media_type::is_index)
    }

    fn is_referrer(&self) -> bool {
        self.manifest.as_deref().is_some_and(|m| {
            serde_json::from_str::<serde_json::Value>(m)
                .is_ok_and(|v| v.get("subject").is_some_and(|s| !s.is_null()))
        })
    }

    /// The images its manifest references: an index's children and a referrer's
    /// subject. ECR refuses an index whose children are missing
    /// (`ReferencedImagesNotFoundException`).
    fn references(&self) -> Vec<Digest> {
        let Some(manifest) = self.manifest.as_deref() else {
            return Vec::new();
        };
        let mut out = if self.is_index() {
            index_children(manifest).unwrap_or_default()
        } else {
            Vec::new()
        };
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(manifest)
            && let Some(d) = v["subject"]["digest"].as_str()
            && let Ok(d) = Digest::parse(d)
        {
            out.push(d);
        }
        out
    }
}

/// Orders images so that each comes after every image of the list it references, at
/// any depth (an index nested in an index after the inner one, after its children):
/// by level (0 for an image that references none of the others, else one more than
/// the highest it references), then plain images before referrers, then by digest.
fn push_order(images: &mut [ImageRestore]) {
    let position: HashMap<&Digest, usize> = images
        .iter()
        .enumerate()
        .map(|(i, image)| (&image.digest, i))
        .collect();
    let references: Vec<Vec<usize>> = images
        .iter()
        .map(|image| {
            image
                .references()
                .iter()
                .filter_map(|d| position.get(d).copied())
                .collect()
        })
        .collect();
    let mut levels: Vec<Option<usize>> = vec![None; images.len()];
    for i in 0..images.len() {
        level(i, &references, &mut levels, 0);
    }
    let keys: HashMap<Digest, (usize, bool)> = images
        .iter()
        .zip(&levels)
        .map(|(image, l)| (image.digest.clone(), (l.unwrap_or(0), image.is_referrer())))
        .collect();
    images.sort_by(|a, b| {
        keys[&a.digest]
            .cmp(&keys[&b.digest])
            .then_with(|| a.digest.cmp(&b.digest))
    });
}

/// The level of image `i` (see [`push_order`]), memoized in `levels`.
fn level(i: usize, references: &[Vec<usize>], levels: &mut [Option<usize>], depth: usize) -> usize {
    if let Some(l) = levels[i] {
        return l;
    }
    // Digests cannot form cycles (each names the hash of a manifest that names the
    // other); the bound only stops a damaged journal from recursing without end.
    let l = if depth > 64 {
        0
    } else {
        references[i]
            .iter()
            .filter(|&&r| r != i)
            .map(|&r| level(r, references, levels, depth + 1) + 1)
            .max()
            .unwrap_or(0)
    };
    levels[i] = Some(l);
    l
}

/// The restore of one repository.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RepositoryRestore {
    /// Account, region and name.
    pub repository: RepositoryRef,
    /// Its tag mutability (DescribeRepositories), when it is not ECR's default (every
    /// tag mutable): which tags ECR refuses to move to another image. Absent too when
    /// it could not be read; then the problems say nothing of immutability.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag_mutability: Option<TagMutability>,
    /// Per image, in the order they are pushed: every image after those it
    /// references (an index after its children, at every depth, since ECR refuses an
    /// index whose children are missing; a referrer after its subject).
    pub images: Vec<ImageRestore>,
}

/// What `restore` will do.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RestorePlan {
    /// Journal entries read.
    pub entries: usize,
    /// One entry per repository in the journal (after `--repository`).
    pub repositories: Vec<RepositoryRestore>,
}

impl RestorePlan {
    /// Tags to put back.
    pub fn tags_to_put(&self) -> usize {
        self.images().map(|i| i.tags.len()).sum()
    }

    /// Images to re-create.
    pub fn images_to_recreate(&self) -> usize {
        self.images().filter(|i| i.recreate).count()
    }

    /// Archived images to reactivate.
    pub fn images_to_reactivate(&self) -> usize {
        self.images().filter(|i| i.reactivate).count()
    }

    /// Removed tags back already.
    pub fn present(&self) -> usize {
        self.images().map(|i| i.present.len()).sum()
    }

    /// Items that cannot be restored.
    pub fn problems(&self) -> usize {
        self.images().map(|i| i.problems.len()).sum()
    }

    /// True when there is something to push.
    pub fn has_work(&self) -> bool {
        self.images().any(ImageRestore::has_work)
    }

    fn images(&self) -> impl Iterator<Item = &ImageRestore> {
        self.repositories.iter().flat_map(|r| r.images.iter())
    }
}

/// What a restore did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RestoreReport {
    /// Tags put back.
    pub tags_restored: usize,
    /// Images pushed again.
    pub images_recreated: usize,
    /// Pushes the registry answered with "already there".
    pub already_present: usize,
    /// What could not be restored: first what the plan found, then what the
    /// registry's answers refused.
    pub problems: Vec<ReportedProblem>,
    /// How many of `problems` (the first ones) the plan had found already.
    pub planned_problems: usize,
    /// The images pushed again, with the push time each had before it was removed:
    /// what the restore record keeps so that the next plan ranks them as before.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recreated: Vec<RecreatedImage>,
    /// Archived images reactivated (`ACTIVATING`: pullable within minutes); absent
    /// when none.
    #[serde(default, skip_serializing_if = "crate::ops::report::is_zero")]
    pub images_reactivated: usize,
    /// PutImage calls never sent because the restore was cancelled first.
    #[serde(default, skip_serializing_if = "crate::ops::report::is_zero")]
    pub not_started: usize,
}

impl RestoreReport {
    /// True when everything planned is back.
    pub fn succeeded(&self) -> bool {
        self.problems.is_empty()
    }
}

/// A problem, with the image it concerns.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ReportedProblem {
    /// The repository.
    pub repository: String,
    /// The image.
    pub digest: Digest,
    /// The problem.
    #[serde(flatten)]
    pub problem: Problem,
    /// The image, by the tag concerned or else by its digest.
    pub image: ImageRef,
    /// The repository, structured.
    pub repository_id: RepositoryRef,
}

impl ReportedProblem {
    /// `problem`, of the image `digest` in `repository`.
    pub fn new(repository: &RepositoryRef, digest: &Digest, problem: Problem) -> Self {
        Self {
            repository: repository.to_string(),
            digest: digest.clone(),
            image: ImageRef::new(problem.tag.as_ref(), digest),
            problem,
            repository_id: repository.clone(),
        }
    }
}

/// Entries of the repositories to restore: all, or those whose name is in `only`.
pub fn select<'a>(entries: &'a [JournalEntry], only: &[String]) -> Vec<&'a JournalEntry> {
    entries
        .iter()
        .filter(|e| only.is_empty() || only.iter().any(|n| n == e.repository.name.as_str()))
        .collect()
}

/// Plans the restore of `entries` against the registry as it is now (per repository
/// one listing, one DescribeRepositories for its tag mutability, and BatchGetImage
/// for images that exist but whose manifest the journal lacks).
pub async fn plan<R: Registry>(
    registry: &R,
    entries: &[&JournalEntry],
) -> Result<RestorePlan, RestoreError> {
    let mut by_repo: BTreeMap<&RepositoryRef, Vec<&JournalEntry>> = BTreeMap::new();
    for e in entries {
        by_repo.entry(&e.repository).or_default().push(e);
    }
    let mut plan = RestorePlan {
        entries: entries.len(),
        repositories: Vec::new(),
    };
    for (repo, entries) in by_repo {
        let current = match list_all(registry, repo).await {
            Ok(images) => Some(images),
            Err(RegistryError::RepositoryNotFound(_)) => None,
            Err(error) => {
                return Err(RestoreError::Registry {
                    repository: repo.clone(),
                    error,
                });
            }
        };
        // Only the reasons depend on it (restore never moves a tag): a registry that
        // cannot say leaves them general.
        let mutability = match current {
            Some(_) => registry.tag_mutability(repo).await.ok(),
            None => None,
        };
        let mut images = plan_repository(&entries, current.as_deref(), mutability.as_ref());
        // Images that exist but whose manifest the journal lacks: read it now.
        let wanted: Vec<ImageId> = images
            .iter()
            .filter(|i| i.needs_push() && i.manifest.is_none() && !i.recreate)
            .map(|i| ImageId::Digest(i.digest.clone()))
            .collect();
        let mut fetched: HashMap<Digest, (String, String)> = HashMap::new();
        let mut unreadable: HashMap<Digest, String> = HashMap::new();
        for batch in wanted.chunks(MAX_IDS_PER_BATCH) {
            let got = registry
                .batch_get_image(repo, batch)
                .await
                .map_err(|error| RestoreError::Registry {
                    repository: repo.clone(),
                    error,
                })?;
            for m in got.manifests {
                fetched.insert(m.digest, (m.media_type, m.manifest));
            }
            for f in got.failures {
                if let ImageId::Digest(d) = f.id {
                    unreadable.insert(d, f.reason);
                }
            }
        }
        for image in &mut images {
            // The registry's own manifest of an existing image re-tags it; PutImage
            // names the digest, so the registry refuses anything else.
            if image.manifest.is_none()
                && let Some((mt, m)) = fetched.remove(&image.digest)
            {
                image.media_type.get_or_insert(mt);
                image.manifest = Some(m);
            }
            if image.needs_push() && image.manifest.is_none() {
                let reason = if image.recreate {
                    "the image was deleted and the journal holds no manifest for it (the apply could not save one that hashes to its digest; a snapshot file without the image's `manifest` has none)".to_owned()
                } else {
                    let why = unreadable.remove(&image.digest).map_or_else(
                        || "the registry returned no manifest for it".to_owned(),
                        |r| format!("the registry could not return its manifest: {r}"),
                    );
                    format!("the image exists, but it cannot be re-tagged: {why}")
                };
                image.problems.push(Problem {
                    tag: None,
                    reason,
                    remedy: "push the image again from its source (for example with docker push or crane copy), then tag it".to_owned(),
                });
                image.recreate = false;
                image.tags.clear();
            }
        }
        push_order(&mut images);
        plan.repositories.push(RepositoryRestore {
            repository: repo.clone(),
            tag_mutability: mutability.filter(|m| !m.is_default()),
            images,
        });
    }
    Ok(plan)
}

/// The pure part of the plan for one repository: journal entries against the current
/// images (`None`: the repository is gone) and its tag mutability (`None`: unknown).
fn plan_repository(
    entries: &[&JournalEntry],
    current: Option<&[ImageDetail]>,
    mutability: Option<&TagMutability>,
) -> Vec<ImageRestore> {
    let now: HashMap<&Digest, &ImageDetail> = current
        .unwrap_or_default()
        .iter()
        .map(|i| (&i.digest, i))
        .collect();
    let owner: HashMap<&Tag, &Digest> = current
        .unwrap_or_default()
        .iter()
        .flat_map(|i| i.tags.iter().map(move |t| (t, &i.digest)))
        .collect();
    let mut by_digest: BTreeMap<&Digest, Vec<&JournalEntry>> = BTreeMap::new();
    for e in entries {
        by_digest.entry(&e.digest).or_default().push(e);
    }
    let mut out = Vec::new();
    for (digest, entries) in by_digest {
        let saved = entries.iter().find_map(|e| {
            e.manifest
                .as_ref()
                .map(|m| (m, e.manifest_media_type.clone()))
        });
        let mut image = ImageRestore {
            digest: digest.clone(),
            media_type: saved.as_ref().and_then(|(_, mt)| mt.clone()),
            recreate: false,
            reactivate: false,
            tags: Vec::new(),
            present: Vec::new(),
            problems: Vec::new(),
            manifest: saved.as_ref().map(|(m, _)| (*m).clone()),
            pushed_at: entries.iter().map(|e| e.pushed_at).min(),
            size_bytes: entries.iter().find_map(|e| e.size_bytes),
        };
        if current.is_none() {
            image.problems.push(Problem {
                tag: None,
                reason: "the repository no longer exists".to_owned(),
                remedy: "create the repository (with its old settings), then run restore again"
                    .to_owned(),
            });
            out.push(image);
            continue;
        }
        let exists = now.contains_key(digest);
        if let Some(computed) = image
            .manifest
            .as_ref()
            .and_then(|m| digest.mismatch(m.as_bytes()))
        {
            // An image that still exists is re-tagged with the manifest the registry
            // holds (read in `plan`); a deleted one has nothing else to come back from.
            image.manifest = None;
            if !exists {
                image.problems.push(Problem {
                    tag: None,
                    reason: format!(
                        "the image was deleted and the journal's manifest for it hashes to {computed}, not to its digest: the journal was edited or damaged"
                    ),
                    remedy: "restore from an undamaged copy of the journal, or push the image again from its source".to_owned(),
                });
                out.push(image);
                continue;
            }
        }
        let mut removed: Vec<&Tag> = entries.iter().filter_map(|e| e.tag.as_ref()).collect();
        removed.sort();
        removed.dedup();
        for tag in removed {
            match owner.get(tag) {
                Some(d) if *d == digest => image.present.push(tag.clone()),
                Some(other) => image
                    .problems
                    .push(moved_tag(tag, other, digest, mutability)),
                None => image.tags.push(tag.clone()),
            }
        }
        // An image deleted by digest had no tag: it comes back untagged. One deleted
        // with its last tag comes back with its tags.
        let deleted = entries.iter().any(|e| e.kind == ActionKind::Delete);
        let untagged_delete = entries
            .iter()
            .any(|e| e.kind == ActionKind::Delete && e.tag.is_none());
        // An archive is undone by reactivating the image, while it is archived.
        if entries.iter().any(|e| e.kind == ActionKind::Archive) {
            match now.get(digest).map(|i| i.status) {
                Some(Some(ImageStatus::Archived)) => image.reactivate = true,
                Some(_) => {}
                None if deleted => {}
                None => image.problems.push(Problem {
                    tag: None,
                    reason: "the image was archived, and has been deleted since".to_owned(),
                    remedy: "push the image again from its source (for example with docker push or crane copy)".to_owned(),
                }),
            }
        }
        image.recreate = !exists
            && (!image.tags.is_empty()
                || (deleted && untagged_delete && image.problems.is_empty()));
        out.push(image);
    }
    out
}

/// The problem of a removed tag that names another image now: restore never moves it
/// back, and in a repository where the tag is immutable ECR would refuse to
/// (`ImageTagAlreadyExistsException`), so the way back differs.
fn moved_tag(
    tag: &Tag,
    other: &Digest,
    digest: &Digest,
    mutability: Option<&TagMutability>,
) -> Problem {
    let now = format!(
        "tag {tag} now names image {} (pushed or moved there since the apply)",
        other.short()
    );
    match mutability {
        Some(m) if m.is_immutable(tag) => Problem {
            tag: Some(tag.clone()),
            reason: format!(
                "{now}, and the tag is immutable in this repository ({}): ECR refuses to move it (ImageTagAlreadyExistsException)",
                m.describe()
            ),
            remedy: format!(
                "restore leaves it there; to move it back, remove the tag from image {} first (BatchDeleteImage by tag, which immutability allows; it deletes that image when the tag is its last), then run restore again, or make the tag mutable (an exclusion filter); the old image is {digest}",
                other.short()
            ),
        },
        _ => Problem {
            tag: Some(tag.clone()),
            reason: now,
            remedy: format!(
                "restore leaves it there; to move it back, push the old image under that tag yourself (digest {digest})"
            ),
        },
    }
}

/// Pushes what the plan says, image by image in the plan's order, each PutImage
/// when `pacer` lets it start (ECR's PutImage quota is 10 per second). Once `cancel`
/// is set nothing more is pushed: the rest is counted as not started.
pub async fn execute<R: Registry, C: Clock>(
    registry: &R,
    plan: &RestorePlan,
    pacer: &Pacer<C>,
    cancel: &crate::ops::cancel::Cancel,
) -> RestoreReport {
    let mut report = RestoreReport::default();
    for repo in &plan.repositories {
        for image in &repo.images {
            for problem in &image.problems {
                report.problems.push(ReportedProblem::new(
                    &repo.repository,
                    &image.digest,
                    problem.clone(),
                ));
            }
        }
    }
    report.planned_problems = report.problems.len();
    for repo in &plan.repositories {
        for image in &repo.images {
            if image.reactivate {
                reactivate(registry, &repo.repository, image, cancel, &mut report).await;
            }
            let (Some(manifest), true) = (&image.manifest, image.needs_push()) else {
                continue;
            };
            let put = PutManifest {
                manifest,
                media_type: image
                    .media_type
                    .as_deref()
                    .unwrap_or(media_type::OCI_MANIFEST),
                digest: &image.digest,
                size_bytes: image.size_bytes,
            };
            // A re-created image is pushed with its first tag (or untagged); every
            // further tag is one more PutImage.
            let mut pushes: Vec<Option<&Tag>> = image.tags.iter().map(Some).collect();
            if pushes.is_empty() {
                pushes.push(None);
            }
            let mut created = !image.recreate;
            for tag in pushes {
                pacer.ready().await;
                if cancel.is_cancelled() {
                    report.not_started += 1;
                    continue;
                }
                let pushed = registry.put_image(&repo.repository, &put, tag).await;
                match answer::settle(registry, &repo.repository, &image.digest, tag, pushed).await {
                    Ok(()) => {
                        if tag.is_some() {
                            report.tags_restored += 1;
                        }
                        if !created {
                            created = true;
                            report.images_recreated += 1;
                            if let Some(pushed_at) = image.pushed_at {
                                report.recreated.push(RecreatedImage {
                                    repository: repo.repository.clone(),
                                    digest: image.digest.clone(),
                                    pushed_at,
                                });
                            }
                        }
                    }
                    Err(RegistryError::Service {
                        code: ServiceCode::ImageAlreadyExistsException,
                        ..
                    }) => {
                        report.already_present += 1;
                        created = true;
                    }
                    Err(e) => {
                        let (reason, remedy) = explain(&e);
                        report.problems.push(ReportedProblem::new(
                            &repo.repository,
                            &image.digest,
                            Problem {
                                tag: tag.cloned(),
                                reason,
                                remedy,
                            },
                        ));
                        if !created {
                            // The image could not be pushed: its other tags cannot go on it.
                            break;
                        }
                    }
                }
            }
        }
    }
    report
}

/// Reactivates an archived image (UpdateImageStorageClass to `STANDARD`).
async fn reactivate<R: Registry>(
    registry: &R,
    repository: &RepositoryRef,
    image: &ImageRestore,
    cancel: &crate::ops::cancel::Cancel,
    report: &mut RestoreReport,
) {
    if cancel.is_cancelled() {
        report.not_started += 1;
        return;
    }
    match registry
        .update_image_storage_class(repository, &image.digest, StorageClass::Standard)
        .await
    {
        Ok(_) => report.images_reactivated += 1,
        Err(e) => {
            let (reason, remedy) = explain(&e);
            report.problems.push(ReportedProblem::new(
                repository,
                &image.digest,
                Problem {
                    tag: None,
                    reason: format!("it could not be reactivated: {reason}"),
                    remedy,
                },
            ));
        }
    }
}

#[cfg(test)]
mod tests;
