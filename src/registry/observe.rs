//! Reads the observed state of a repository through any [`Registry`], with the
//! fewest calls: full DescribeImages pages, and BatchGetImage in batches of 100 for
//! the manifests: those of indexes (their children, which the plan needs) and those of
//! the other images (their configs and layers, which the storage accounting needs).
//! Behind the manifest cache, a manifest is read from ECR once: a digest names its
//! manifest for good.

use std::collections::{HashMap, HashSet};

use serde::Deserialize;

use super::{
    ImageBlobs, ImageBlobsBuilder, ImageDetail, ImageId, ImagePage, LifecycleState,
    MAX_IDS_PER_BATCH, MAX_PAGE_SIZE, ObservedRepository, Registry, RegistryError,
};
use crate::model::{Digest, RepositoryRef};

/// The child digests listed by an index manifest.
#[derive(Deserialize)]
struct IndexManifest {
    #[serde(default)]
    manifests: Vec<IndexEntry>,
}

#[derive(Deserialize)]
struct IndexEntry {
    digest: String,
}

/// Parses the child digests out of an index manifest.
pub fn index_children(manifest: &str) -> Result<Vec<Digest>, String> {
    let parsed: IndexManifest = serde_json::from_str(manifest)
        .map_err(|e| format!("index manifest does not parse: {e}"))?;
    parsed
        .manifests
        .into_iter()
        .map(|m| Digest::parse(m.digest).map_err(String::from))
        .collect()
}

/// A manifest's `subject` (an OCI 1.1 referrer's), read for what ECR Public's
/// DescribeImages does not say.
#[derive(Deserialize)]
struct WithSubject {
    #[serde(default)]
    subject: Option<IndexEntry>,
}

/// The subject digest of a manifest, if it is a referrer.
pub fn subject_of(manifest: &str) -> Result<Option<Digest>, String> {
    let parsed: WithSubject =
        serde_json::from_str(manifest).map_err(|e| format!("manifest does not parse: {e}"))?;
    parsed
        .subject
        .map(|s| Digest::parse(s.digest).map_err(String::from))
        .transpose()
}

/// ECR Public's DescribeImages gives no subject: the subjects of `repo`'s untagged
/// images (the only ones a plan may delete as "not needed"), read from their manifests
/// (one manifest GET each, once thanks to the manifest cache). A manifest that cannot
/// be read stops the observation: without it a referrer of a kept image could be
/// deleted.
async fn public_subjects<R: Registry>(
    registry: &R,
    repo: &RepositoryRef,
    images: &mut [ImageDetail],
) -> Result<(), RegistryError> {
    let wanted: Vec<ImageId> = images
        .iter()
        .filter(|i| i.tags.is_empty() && i.subject.is_none() && !i.is_index())
        .map(|i| ImageId::Digest(i.digest.clone()))
        .collect();
    let mut found: HashMap<Digest, Digest> = HashMap::new();
    for batch in wanted.chunks(MAX_IDS_PER_BATCH) {
        let result = registry.batch_get_image(repo, batch).await?;
        if let Some(f) = result.failures.first() {
            return Err(RegistryError::Surprising(format!(
                "cannot read the manifest of untagged image {} in {repo} to learn whether it refers to another: {} ({})",
                f.id, f.code, f.reason
            )));
        }
        for m in result.manifests {
            let subject = subject_of(&m.manifest)
                .map_err(|e| RegistryError::Surprising(format!("{repo}: {}: {e}", m.digest)))?;
            if let Some(s) = subject {
                found.insert(m.digest, s);
            }
        }
    }
    for i in images.iter_mut() {
        if let Some(s) = found.remove(&i.digest) {
            i.subject = Some(s);
        }
    }
    Ok(())
}

/// Lists every image of `repo`, a full page (1000) at a time.
pub async fn list_all<R: Registry>(
    registry: &R,
    repo: &RepositoryRef,
) -> Result<Vec<ImageDetail>, RegistryError> {
    list_from(registry, repo, None).await
}

/// Lists every image of `repo`, starting from its first page when it was read already.
pub async fn list_from<R: Registry>(
    registry: &R,
    repo: &RepositoryRef,
    mut first: Option<ImagePage>,
) -> Result<Vec<ImageDetail>, RegistryError> {
    let mut images = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = match first.take() {
            Some(page) => page,
            None => {
                registry
                    .describe_images(repo, token.as_deref(), MAX_PAGE_SIZE)
                    .await?
            }
        };
        if images.is_empty() {
            // The first page (usually the only one) as is, without copying it.
            images = page.images;
        } else {
            images.extend(page.images);
        }
        match page.next_token {
            Some(t) if Some(&t) == token.as_ref() => {
                return Err(RegistryError::Surprising(format!(
                    "DescribeImages returned the same nextToken twice for {repo}"
                )));
            }
            Some(t) => token = Some(t),
            None => return Ok(images),
        }
    }
}

/// Lists every image of `repo` and reads the manifests of its indexes.
///
/// A repository that does not exist is observed as such (the plan warns), not an error.
pub async fn observe<R: Registry>(
    registry: &R,
    repo: &RepositoryRef,
) -> Result<ObservedRepository, RegistryError> {
    observe_from(registry, repo, None).await
}

/// [`observe`], starting from the repository's first page when it was read already.
pub async fn observe_from<R: Registry>(
    registry: &R,
    repo: &RepositoryRef,
    first: Option<ImagePage>,
) -> Result<ObservedRepository, RegistryError> {
    // The policy is read beside the listing: no round trip waits for it.
    let (listed, policy) = futures_util::future::join(
        list_from(registry, repo, first),
        registry.get_lifecycle_policy(repo),
    )
    .await;
    let mut images = match listed {
        Ok(images) => images,
        Err(RegistryError::RepositoryNotFound(_)) => {
            return Ok(ObservedRepository {
                exists: false,
                ..ObservedRepository::listed(repo.clone(), Vec::new())
            });
        }
        Err(e) => return Err(e),
    };
    let lifecycle = match policy {
        Ok(None) => LifecycleState::None,
        Ok(Some(text)) => LifecycleState::Text(text),
        // The credentials may not read it, or the service cannot answer: the plan says
        // it cannot compare, and goes on (the listing was read).
        Err(e @ (RegistryError::Service { .. } | RegistryError::Surprising(_))) => {
            LifecycleState::Unreadable(e.to_string())
        }
        Err(e) => return Err(e),
    };
    if repo.registry.is_public() {
        public_subjects(registry, repo, &mut images).await?;
    }
    let indexes: Vec<ImageId> = images
        .iter()
        .filter(|i| i.is_index())
        .map(|i| ImageId::Digest(i.digest.clone()))
        .collect();
    let inactive: HashSet<&Digest> = images
        .iter()
        .filter(|i| i.is_inactive())
        .map(|i| &i.digest)
        .collect();
    let mut children = HashMap::new();
    let mut unreadable = Vec::new();
    for batch in indexes.chunks(MAX_IDS_PER_BATCH) {
        let result = registry.batch_get_image(repo, batch).await?;
        for f in result.failures {
            match &f.id {
                // An archived image cannot be pulled: its children stay unknown, and
                // the plan keeps whatever such an index may need.
                ImageId::Digest(d) if inactive.contains(d) => unreadable.push(d.clone()),
                // Without an index's manifest its children are unknown, and pruning
                // could then delete a child of a kept index: stop instead.
                _ => {
                    return Err(RegistryError::Surprising(format!(
                        "cannot read the manifest of index {} in {repo}: {} ({})",
                        f.id, f.code, f.reason
                    )));
                }
            }
        }
        for m in result.manifests {
            let kids = index_children(&m.manifest).map_err(|e| {
                RegistryError::Surprising(format!("{repo}: index {}: {e}", m.digest))
            })?;
            children.insert(m.digest, kids);
        }
    }
    let blobs = image_blobs(registry, repo, &images).await;
    if let Some(missing) = images
        .iter()
        .filter(|i| i.is_index())
        .find(|i| !children.contains_key(&i.digest) && !unreadable.contains(&i.digest))
    {
        return Err(RegistryError::Surprising(format!(
            "BatchGetImage returned no manifest for index {} in {repo}",
            missing.digest
        )));
    }
    Ok(ObservedRepository {
        reference: repo.clone(),
        exists: true,
        images,
        children,
        unreadable,
        lifecycle,
        replicas: Vec::new(),
        pull_through_cache: None,
        blobs,
    })
}

/// The configs and layers of the images of `repo` that are not indexes, for the
/// storage accounting, read from their manifests 100 a call. Each manifest is parsed
/// as it arrives and only its blobs are kept. None is needed for the plan itself: a
/// manifest (or a whole batch) that cannot be read, or that does not parse, leaves
/// what its images store unknown, and the accounting says its figures are estimated.
/// ECR Public serves one manifest a request, so its images are not read for this
/// (their figures are estimated from the reported sizes).
async fn image_blobs<R: Registry>(
    registry: &R,
    repo: &RepositoryRef,
    images: &[ImageDetail],
) -> ImageBlobs {
    if repo.registry.is_public() {
        return ImageBlobs::default();
    }
    let ids: Vec<ImageId> = images
        .iter()
        .filter(|i| !i.is_index())
        .map(|i| ImageId::Digest(i.digest.clone()))
        .collect();
    let mut out = ImageBlobsBuilder::with_capacity(ids.len());
    for batch in ids.chunks(MAX_IDS_PER_BATCH) {
        match registry.batch_get_image(repo, batch).await {
            Ok(result) => {
                for m in result.manifests {
                    if let Err(e) = out.add(m.digest, &m.manifest) {
                        tracing::debug!("{repo}: {e}; storage is estimated");
                    }
                }
            }
            Err(e) => {
                tracing::debug!("{repo}: image manifests not read ({e}); storage is estimated");
            }
        }
    }
    out.build()
}
