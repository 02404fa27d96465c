//! The registry the server answers from: repositories of images and tags, changed by
//! PutImage and BatchDeleteImage as the ECR Public API reference documents them.

use std::collections::BTreeMap;

use crate::moto::sha256;

/// The OCI image index media type.
pub(super) const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// The OCI image manifest media type.
pub(super) const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// An error of the API: its `__type` and message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct ApiError {
    pub code: String,
    pub message: String,
}

impl ApiError {
    pub fn new(code: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            code: code.to_owned(),
            message: message.into(),
        }
    }

    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new("InvalidParameterException", message)
    }
}

/// One stored image, keyed by its digest in [`Repository::images`].
#[derive(Clone, Debug)]
pub(super) struct Image {
    /// The manifest, byte for byte as pushed.
    pub manifest: String,
    pub media_type: String,
    /// The config's media type (or the manifest's `artifactType`), as ECR reports it.
    pub artifact_media_type: Option<String>,
    pub size: i64,
    /// Milliseconds since the epoch.
    pub pushed_at: i64,
    /// Push order: what DescribeImages pages by.
    pub seq: u64,
    /// The digests an index lists (`manifests[].digest`); empty for other manifests.
    pub children: Vec<String>,
}

/// Where a tag points.
#[derive(Clone, Debug)]
pub(super) struct TagRef {
    pub digest: String,
    /// Milliseconds since the epoch, when the tag was put on this image.
    pub created_at: i64,
    /// Tagging order: what DescribeImageTags pages by.
    pub seq: u64,
}

/// One repository.
#[derive(Clone, Debug, Default)]
pub(super) struct Repository {
    pub created_at: i64,
    pub images: BTreeMap<String, Image>,
    pub tags: BTreeMap<String, TagRef>,
}

impl Repository {
    /// The tags on `digest`, sorted.
    pub fn tags_of(&self, digest: &str) -> Vec<String> {
        self.tags
            .iter()
            .filter(|(_, r)| r.digest == digest)
            .map(|(t, _)| t.clone())
            .collect()
    }

    /// Child digest -> the indexes that list it, among the images stored now.
    fn references(&self) -> BTreeMap<String, Vec<String>> {
        let mut refs: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (digest, image) in &self.images {
            for child in &image.children {
                refs.entry(child.clone()).or_default().push(digest.clone());
            }
        }
        refs
    }

    fn remove_image(&mut self, digest: &str) {
        self.images.remove(digest);
        self.tags.retain(|_, r| r.digest != digest);
    }
}

/// An image identifier as a request carries it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct ImageId {
    pub digest: Option<String>,
    pub tag: Option<String>,
}

/// A BatchDeleteImage failure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Failure {
    pub id: ImageId,
    pub code: &'static str,
    pub reason: String,
}

/// What BatchDeleteImage did.
#[derive(Debug, Default)]
pub(super) struct Deleted {
    /// One entry per tag removed (digest and tag), or the digest alone for an
    /// untagged image deleted.
    pub ids: Vec<ImageId>,
    pub failures: Vec<Failure>,
}

/// What PutImage stored.
#[derive(Debug)]
pub(super) struct Put {
    pub digest: String,
    pub media_type: String,
}

/// Every repository, and the clock and counter of pushes.
#[derive(Debug, Default)]
pub(super) struct Registry {
    pub repos: BTreeMap<String, Repository>,
    seq: u64,
    last_ms: i64,
}

/// `sha256:<hex>` and the like, as ECR's `[a-zA-Z0-9-_+.]+:[a-fA-F0-9]+`.
pub(super) fn valid_digest(d: &str) -> bool {
    let Some((algorithm, hex)) = d.split_once(':') else {
        return false;
    };
    !algorithm.is_empty()
        && algorithm
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_+.".contains(c))
        && !hex.is_empty()
        && hex.chars().all(|c| c.is_ascii_hexdigit())
}

/// A tag the API accepts: 1 to 300 characters (the API's limit; `docker push` keeps
/// to the OCI grammar, 128), none of them space or control.
pub(super) fn valid_tag(t: &str) -> bool {
    (1..=300).contains(&t.chars().count())
        && !t.chars().any(|c| c.is_whitespace() || c.is_control())
}

impl Registry {
    /// Milliseconds since the epoch, strictly increasing from one call to the next,
    /// so that push order and time order agree.
    pub fn now(&mut self) -> i64 {
        let now = chrono::Utc::now().timestamp_millis().max(self.last_ms + 1);
        self.last_ms = now;
        now
    }

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// The repository, or ECR Public's RepositoryNotFoundException.
    pub fn repo(&self, name: &str, account: &str) -> Result<&Repository, ApiError> {
        self.repos
            .get(name)
            .ok_or_else(|| repository_not_found(name, account))
    }

    /// CreateRepository.
    pub fn create(&mut self, name: &str, account: &str) -> Result<(), ApiError> {
        if self.repos.contains_key(name) {
            return Err(ApiError::new(
                "RepositoryAlreadyExistsException",
                format!(
                    "The repository with name '{name}' already exists in the registry with id '{account}'"
                ),
            ));
        }
        let created_at = self.now();
        self.repos.insert(
            name.to_owned(),
            Repository {
                created_at,
                ..Repository::default()
            },
        );
        Ok(())
    }

    /// PutImage: stores the manifest (unless its digest is there) and puts `tag` on
    /// it, moving the tag from another image if need be (ECR Public repositories are
    /// mutable; the other image stays, without that tag).
    pub fn put(
        &mut self,
        repo: &str,
        account: &str,
        manifest: &str,
        media_type: Option<&str>,
        tag: Option<&str>,
        digest: Option<&str>,
    ) -> Result<Put, ApiError> {
        let repository = self.repo(repo, account)?;
        let json: serde_json::Value = serde_json::from_str(manifest)
            .ok()
            .filter(serde_json::Value::is_object)
            .ok_or_else(|| {
                ApiError::invalid(
                    "Invalid parameter at 'imageManifest' failed to satisfy constraint: 'Invalid JSON syntax'",
                )
            })?;
        let declared = json["mediaType"].as_str();
        let media_type = match (media_type, declared) {
            (Some(given), Some(declared)) if given != declared => {
                return Err(ApiError::invalid(format!(
                    "Invalid parameter at 'imageManifestMediaType' failed to satisfy constraint: '{given}' does not match the manifest's mediaType '{declared}'"
                )));
            }
            (Some(t), _) | (None, Some(t)) => t.to_owned(),
            (None, None) if json["manifests"].is_array() => OCI_INDEX.to_owned(),
            (None, None) => OCI_MANIFEST.to_owned(),
        };
        let computed = sha256(manifest);
        if let Some(d) = digest
            && d != computed
        {
            return Err(ApiError::new(
                "ImageDigestDoesNotMatchException",
                format!(
                    "Invalid parameter at 'imageDigest' failed to satisfy constraint: '{d}' does not match the digest of the manifest, {computed}"
                ),
            ));
        }
        if let Some(t) = tag
            && !valid_tag(t)
        {
            return Err(ApiError::invalid(format!(
                "Invalid parameter at 'imageTag' failed to satisfy constraint: '{t}' must have length between 1 and 300, without spaces"
            )));
        }
        let children: Vec<String> = json["manifests"]
            .as_array()
            .map(|m| {
                m.iter()
                    .filter_map(|c| c["digest"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let missing: Vec<&String> = children
            .iter()
            .filter(|c| !repository.images.contains_key(*c))
            .collect();
        if !missing.is_empty() {
            return Err(ApiError::new(
                "ReferencedImagesNotFoundException",
                format!(
                    "Some of the images referenced by the manifest list were not found in the repository with name '{repo}': {missing:?}"
                ),
            ));
        }
        if repository.images.contains_key(&computed) {
            match tag {
                None => {
                    return Err(ApiError::new(
                        "ImageAlreadyExistsException",
                        format!(
                            "Image with digest '{computed}' already exists in the repository with name '{repo}' in registry with id '{account}'"
                        ),
                    ));
                }
                Some(t) if repository.tags.get(t).is_some_and(|r| r.digest == computed) => {
                    return Err(ApiError::new(
                        "ImageAlreadyExistsException",
                        format!(
                            "Image with digest '{computed}' and tag '{t}' already exists in the repository with name '{repo}' in registry with id '{account}'"
                        ),
                    ));
                }
                Some(_) => {}
            }
        }
        let now = self.now();
        let image_seq = self.next_seq();
        let tag_seq = self.next_seq();
        let repository = self.repos.get_mut(repo).expect("checked above");
        repository
            .images
            .entry(computed.clone())
            .or_insert_with(|| Image {
                manifest: manifest.to_owned(),
                media_type: media_type.clone(),
                artifact_media_type: json["config"]["mediaType"]
                    .as_str()
                    .or(json["artifactType"].as_str())
                    .map(str::to_owned),
                size: image_size(&json, manifest),
                pushed_at: now,
                seq: image_seq,
                children,
            });
        if let Some(t) = tag {
            repository.tags.insert(
                t.to_owned(),
                TagRef {
                    digest: computed.clone(),
                    created_at: now,
                    seq: tag_seq,
                },
            );
        }
        Ok(Put {
            digest: computed,
            media_type,
        })
    }

    /// BatchDeleteImage on an existing repository, the ids already counted (1..=100).
    ///
    /// Per id, in request order: a tag is removed from its image, and removing an
    /// image's last tag deletes the image ("When you remove the last tag from an
    /// image, the image is deleted from your repository"); a digest deletes the image
    /// with every tag on it, reported once per tag. An image that an index of the
    /// repository lists cannot be deleted (ImageReferencedByManifestList); indexes
    /// are those stored when the request came, so an index and its children go in
    /// separate requests. A tag with a digest removes the tag when it is on that
    /// image (whether ECR removes the tag or the whole image then is not documented).
    pub fn delete(&mut self, repo: &str, ids: &[ImageId]) -> Deleted {
        let repository = self.repos.get_mut(repo).expect("the caller checked");
        let references = repository.references();
        let mut out = Deleted::default();
        for id in ids {
            match delete_one(repository, &references, id) {
                Ok(removed) => out.ids.extend(removed),
                Err((code, reason)) => out.failures.push(Failure {
                    id: id.clone(),
                    code,
                    reason,
                }),
            }
        }
        out
    }
}

fn delete_one(
    repository: &mut Repository,
    references: &BTreeMap<String, Vec<String>>,
    id: &ImageId,
) -> Result<Vec<ImageId>, (&'static str, String)> {
    const NOT_FOUND: (&str, &str) = ("ImageNotFound", "Requested image not found");
    let not_found = || (NOT_FOUND.0, NOT_FOUND.1.to_owned());
    let referenced = |digest: &str| {
        references.get(digest).map(|indexes| {
            (
                "ImageReferencedByManifestList",
                format!("Requested image referenced by manifest list: {indexes:?}"),
            )
        })
    };
    if id.digest.is_none() && id.tag.is_none() {
        return Err((
            "MissingDigestAndTag",
            "Invalid request parameters: both tag and digest cannot be null".to_owned(),
        ));
    }
    if let Some(d) = &id.digest
        && !valid_digest(d)
    {
        return Err((
            "InvalidImageDigest",
            "Invalid request parameters: image digest should satisfy the regex '[a-zA-Z0-9-_+.]+:[a-fA-F0-9]+'"
                .to_owned(),
        ));
    }
    if let Some(t) = &id.tag
        && !valid_tag(t)
    {
        return Err((
            "InvalidImageTag",
            "Invalid request parameters: image tag must have length between 1 and 300, without spaces"
                .to_owned(),
        ));
    }
    match (&id.tag, &id.digest) {
        (Some(tag), digest) => {
            let target = repository
                .tags
                .get(tag)
                .ok_or_else(not_found)?
                .digest
                .clone();
            if digest.as_ref().is_some_and(|d| *d != target) {
                return Err((
                    "ImageTagDoesNotMatchDigest",
                    "Invalid request parameters: given tag does not map to the given digest"
                        .to_owned(),
                ));
            }
            if repository.tags_of(&target).len() == 1 {
                // The last tag: the image goes with it.
                if let Some(e) = referenced(&target) {
                    return Err(e);
                }
                repository.remove_image(&target);
            } else {
                repository.tags.remove(tag);
            }
            Ok(vec![ImageId {
                digest: Some(target),
                tag: Some(tag.clone()),
            }])
        }
        (None, Some(digest)) => {
            if !repository.images.contains_key(digest) {
                return Err(not_found());
            }
            if let Some(e) = referenced(digest) {
                return Err(e);
            }
            let tags = repository.tags_of(digest);
            repository.remove_image(digest);
            if tags.is_empty() {
                return Ok(vec![ImageId {
                    digest: Some(digest.clone()),
                    tag: None,
                }]);
            }
            Ok(tags
                .into_iter()
                .map(|t| ImageId {
                    digest: Some(digest.clone()),
                    tag: Some(t),
                })
                .collect())
        }
        (None, None) => unreachable!("checked above"),
    }
}

/// What DescribeImages reports as `imageSizeInBytes`: the sum of the layers (ECR
/// counts compressed layer sizes) for an image, and the manifest's own length for
/// anything without layers (an index).
fn image_size(json: &serde_json::Value, manifest: &str) -> i64 {
    match json["layers"].as_array() {
        Some(layers) => layers.iter().filter_map(|l| l["size"].as_i64()).sum(),
        None => manifest.len() as i64,
    }
}

/// ECR Public's RepositoryNotFoundException.
pub(super) fn repository_not_found(name: &str, account: &str) -> ApiError {
    ApiError::new(
        "RepositoryNotFoundException",
        format!(
            "The repository with name '{name}' does not exist in the registry with id '{account}'"
        ),
    )
}
