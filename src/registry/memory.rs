//! An in-memory registry that behaves like ECR as documented: pages of at most 1000,
//! at most 100 ids per batch, tag removal versus image deletion, the last tag deleting
//! the image, and children of an index refusing deletion while the index exists.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Mutex;

use super::{
    BatchDeleteResult, BatchGetResult, CallCounters, CallCounts, FailureCode, FetchedManifest,
    ImageDetail, ImageId, ImagePage, ImageStatus, ItemFailure, MAX_PAGE_SIZE, Operation,
    PublicRegistryInfo, PutManifest, Registry, RegistryError, RegistrySettings, RemovedId,
    RepositoryPage, ServiceCode, StorageClass, TagMutability,
};
use crate::model::{
    AccountId, Digest, MediaType, Region, RegistryLocation, RepositoryName, RepositoryRef, Tag,
    media_type,
};

/// An image held by the in-memory registry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredImage {
    /// What DescribeImages reports.
    pub detail: ImageDetail,
    /// The raw manifest, when known; otherwise one is synthesized on demand.
    pub manifest: Option<String>,
    /// For an index, the digests of its child manifests (parsed from the manifest).
    pub children: Vec<Digest>,
}

/// DescribeRepositories' page size (its maximum `maxResults`).
const REPOSITORY_PAGE_SIZE: usize = 1000;

impl StoredImage {
    /// An image whose manifest is synthesized when asked for: an index listing
    /// `children`, or an image manifest with no layers.
    pub fn new(detail: ImageDetail, children: Vec<Digest>) -> Self {
        Self {
            detail,
            manifest: None,
            children,
        }
    }

    /// The same image with its raw manifest (which should hash to its digest).
    pub fn with_manifest(mut self, manifest: String) -> Self {
        self.manifest = Some(manifest);
        self
    }

    /// The raw manifest, as BatchGetImage returns it.
    pub fn manifest(&self) -> String {
        if let Some(m) = &self.manifest {
            return m.clone();
        }
        let detail = &self.detail;
        let mt = detail
            .manifest_media_type
            .as_ref()
            .map_or(media_type::OCI_MANIFEST, MediaType::as_str);
        if media_type::is_index(mt) {
            let items: Vec<serde_json::Value> = self
                .children
                .iter()
                .map(|c| {
                    serde_json::json!({
                        "mediaType": media_type::OCI_MANIFEST,
                        "digest": c.as_str(),
                        "size": 0,
                    })
                })
                .collect();
            serde_json::json!({ "schemaVersion": 2, "mediaType": mt, "manifests": items })
                .to_string()
        } else {
            let mut m = serde_json::json!({
                "schemaVersion": 2,
                "mediaType": mt,
                "config": {
                    "mediaType": "application/vnd.oci.image.config.v1+json",
                    "digest": detail.digest.as_str(),
                    "size": 0,
                },
                "layers": [],
            });
            if let Some(s) = &detail.subject {
                m["subject"] = serde_json::json!({ "mediaType": media_type::OCI_MANIFEST, "digest": s.as_str(), "size": 0 });
            }
            m.to_string()
        }
    }
}

#[derive(Debug, Default, Clone)]
struct Repo {
    /// In push order; the listing order.
    images: Vec<StoredImage>,
    /// Its lifecycle policy's text, when it has one.
    lifecycle_policy: Option<String>,
    /// Its tag mutability (PutImageTagMutability).
    tag_mutability: TagMutability,
}

impl Repo {
    fn by_digest(&self, d: &Digest) -> Option<usize> {
        self.images.iter().position(|i| &i.detail.digest == d)
    }

    fn by_tag(&self, t: &str) -> Option<usize> {
        self.images
            .iter()
            .position(|i| i.detail.tags.iter().any(|x| x.as_str() == t))
    }

    /// The image `id` names, looked for from position `from` on, then from the
    /// start (a digest or a tag names one image of a repository, so where the search
    /// starts changes only its length): ids asked in listing order, as observation
    /// asks for manifests, are each found at once instead of after a scan of the
    /// images before them.
    fn by_id_from(&self, id: &ImageId, from: usize) -> Option<usize> {
        let names = |i: &StoredImage| match id {
            ImageId::Tag(t) => i.detail.tags.contains(t),
            ImageId::Digest(d) => i.detail.digest == *d,
        };
        let from = from.min(self.images.len());
        let (before, after) = self.images.split_at(from);
        after
            .iter()
            .position(names)
            .map(|p| from + p)
            .or_else(|| before.iter().position(names))
    }

    /// ECR's refusal to push `tag` onto the image `digest` when the tag is immutable
    /// and on another image: it stays there.
    fn immutable_conflict(&self, tag: &Tag, digest: &Digest) -> Option<RegistryError> {
        let i = self.by_tag(tag.as_str())?;
        (self.tag_mutability.is_immutable(tag) && self.images[i].detail.digest != *digest).then(
            || {
                RegistryError::service(
                    ServiceCode::ImageTagAlreadyExistsException,
                    format!(
                        "the image tag '{tag}' already exists in the repository and cannot be overwritten because the tag is immutable ({})",
                        self.tag_mutability.describe()
                    ),
                )
            },
        )
    }

    /// Digests referenced by an index that exists now.
    fn referenced(&self) -> HashSet<Digest> {
        self.images
            .iter()
            .flat_map(|i| i.children.iter().cloned())
            .collect()
    }
}

#[derive(Debug, Default, Clone)]
struct State {
    repos: BTreeMap<RepositoryRef, Repo>,
    /// The registries it holds, with or without repositories.
    registries: BTreeSet<RegistryLocation>,
    /// The replication and pull-through cache rules of private registries.
    settings: BTreeMap<RegistryLocation, RegistrySettings>,
}

impl State {
    /// The repository, created (with its registry) when it does not exist.
    fn repo_mut(&mut self, repo: &RepositoryRef) -> &mut Repo {
        self.registries.insert(repo.registry.clone());
        self.repos.entry(repo.clone()).or_default()
    }
}

/// The in-memory registry. Cheap to build from a snapshot; counts every call.
#[derive(Debug, Default)]
pub struct InMemoryRegistry {
    state: Mutex<State>,
    calls: CallCounters,
    accounts: HashMap<Region, AccountId>,
    default_account: Option<AccountId>,
    /// The snapshot file images are read from when needed, if they are not all held.
    on_demand: Option<on_demand::OnDemand>,
    /// Read as a registry on the network: see [`Self::as_if_on_the_network`].
    on_network: bool,
}

/// An image as DescribeImages reports it: ECR Public gives no subject (a referrer's
/// subject is only in its manifest).
fn reported(detail: &ImageDetail, public: bool) -> ImageDetail {
    let mut d = detail.clone();
    if public {
        d.subject = None;
    }
    d
}

impl InMemoryRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Says it does not answer at once: a run reads it as it reads ECR, for tests.
    pub fn as_if_on_the_network(self) -> Self {
        Self {
            on_network: true,
            ..self
        }
    }

    /// Sets the caller's account for a region (the first registry of a snapshot).
    pub fn set_caller_account(&mut self, region: Region, account: AccountId) {
        if self.default_account.is_none() {
            self.default_account = Some(account.clone());
        }
        self.accounts.entry(region).or_insert(account);
    }

    /// Adds a registry (an account in a region) with no repository yet.
    pub fn add_registry(&self, location: RegistryLocation) {
        self.lock().registries.insert(location);
    }

    /// The registries it holds, with or without repositories.
    pub fn registries(&self) -> Vec<RegistryLocation> {
        self.lock().registries.iter().cloned().collect()
    }

    /// Creates an empty repository (no-op when it exists).
    pub fn create_repository(&self, repo: RepositoryRef) {
        let mut state = self.lock();
        state.registries.insert(repo.registry.clone());
        state.repos.entry(repo).or_default();
    }

    /// Sets (or, with `None`, deletes) a repository's lifecycle policy, as
    /// PutLifecyclePolicy and DeleteLifecyclePolicy do; creates the repository.
    pub fn set_lifecycle_policy(&self, repo: &RepositoryRef, text: Option<String>) {
        self.lock().repo_mut(repo).lifecycle_policy = text;
    }

    /// Sets a private registry's replication and pull-through cache rules.
    pub fn set_registry_settings(&self, location: RegistryLocation, settings: RegistrySettings) {
        let mut state = self.lock();
        state.registries.insert(location.clone());
        state.settings.insert(location, settings);
    }

    /// A registry's replication and pull-through cache rules (none when never set).
    pub fn registry_settings_of(&self, location: &RegistryLocation) -> RegistrySettings {
        self.lock()
            .settings
            .get(location)
            .cloned()
            .unwrap_or_default()
    }

    /// Sets a repository's tag mutability, as PutImageTagMutability does; creates the
    /// repository.
    pub fn set_tag_mutability(&self, repo: &RepositoryRef, mutability: TagMutability) {
        self.lock().repo_mut(repo).tag_mutability = mutability;
    }

    /// A repository's tag mutability (ECR's default for one it does not hold).
    pub fn tag_mutability_of(&self, repo: &RepositoryRef) -> TagMutability {
        self.lock()
            .repos
            .get(repo)
            .map(|r| r.tag_mutability.clone())
            .unwrap_or_default()
    }

    /// A repository's lifecycle policy's text, when it has one.
    pub fn lifecycle_policy(&self, repo: &RepositoryRef) -> Option<String> {
        self.lock()
            .repos
            .get(repo)
            .and_then(|r| r.lifecycle_policy.clone())
    }

    /// Adds an image as if pushed; replaces an image with the same digest, and moves
    /// its tags off any other image (as a push of a tag does).
    pub fn push(&self, repo: &RepositoryRef, image: StoredImage) {
        let mut state = self.lock();
        let r = state.repo_mut(repo);
        for other in &mut r.images {
            other.detail.tags.retain(|t| !image.detail.tags.contains(t));
        }
        if let Some(i) = r.by_digest(&image.detail.digest) {
            r.images[i] = image;
        } else {
            r.images.push(image);
        }
    }

    /// Appends images to a repository as they are (a snapshot's content, in order).
    pub fn load_images(&self, repo: &RepositoryRef, images: impl IntoIterator<Item = StoredImage>) {
        self.lock().repo_mut(repo).images.extend(images);
    }

    /// The stored images of a repository, in push order.
    pub fn images(&self, repo: &RepositoryRef) -> Option<Vec<StoredImage>> {
        self.lock().repos.get(repo).map(|r| r.images.clone())
    }

    /// Every repository.
    pub fn repositories(&self) -> Vec<RepositoryRef> {
        self.lock().repos.keys().cloned().collect()
    }

    /// Calls served so far.
    pub fn calls(&self) -> CallCounts {
        self.calls.counts()
    }

    /// Counts a call of `private` on a private repository, of `public` on a public one.
    fn count(&self, repo: &RepositoryRef, private: Operation, public: Operation) {
        self.calls.count(if repo.registry.is_public() {
            public
        } else {
            private
        });
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the state half-written in a way
        // that matters to tests; recover the guard.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn describe_sync(
        &self,
        repo: &RepositoryRef,
        next_token: Option<&str>,
        max_results: u32,
    ) -> Result<ImagePage, RegistryError> {
        if !(1..=MAX_PAGE_SIZE).contains(&max_results) {
            return Err(RegistryError::invalid_parameter(format!(
                "maxResults must be between 1 and {MAX_PAGE_SIZE}"
            )));
        }
        self.count(
            repo,
            Operation::DescribeImages,
            Operation::PublicDescribeImages,
        );
        let state = self.lock();
        if !state.registries.contains(&repo.registry) {
            // A snapshot covers only the registries it holds: a repository elsewhere is
            // unknown, not absent.
            return Err(RegistryError::Unreachable(
                super::Unreachable::NotInSnapshot(repo.registry.to_string()),
            ));
        }
        let r = state
            .repos
            .get(repo)
            .ok_or_else(|| RegistryError::RepositoryNotFound(repo.clone()))?;
        let start = match next_token {
            None => 0,
            Some(t) => t
                .strip_prefix("page:")
                .and_then(|n| n.parse::<usize>().ok())
                .filter(|&n| n <= r.images.len())
                .ok_or_else(|| RegistryError::invalid_parameter("invalid nextToken"))?,
        };
        let end = (start + max_results as usize).min(r.images.len());
        let public = repo.registry.is_public();
        Ok(ImagePage {
            images: r.images[start..end]
                .iter()
                .map(|i| reported(&i.detail, public))
                .collect(),
            next_token: (end < r.images.len()).then(|| format!("page:{end}")),
        })
    }

    fn describe_by_id_sync(
        &self,
        repo: &RepositoryRef,
        ids: &[ImageId],
    ) -> Result<Vec<ImageDetail>, RegistryError> {
        // A request ECR refuses for its parameters is refused before it is counted,
        // as the AWS backend refuses it before sending it.
        super::check_batch(ids)?;
        self.count(
            repo,
            Operation::DescribeImages,
            Operation::PublicDescribeImages,
        );
        let state = self.lock();
        let r = state
            .repos
            .get(repo)
            .ok_or_else(|| RegistryError::RepositoryNotFound(repo.clone()))?;
        let mut out: Vec<ImageDetail> = Vec::with_capacity(ids.len());
        let mut next = 0;
        for id in ids {
            let found = r.by_id_from(id, next);
            let Some(i) = found else {
                return Err(RegistryError::service(
                    ServiceCode::ImageNotFoundException,
                    format!("The image with imageId {id} does not exist"),
                ));
            };
            next = i + 1;
            let detail = &r.images[i].detail;
            if !out.iter().any(|d| d.digest == detail.digest) {
                out.push(reported(detail, repo.registry.is_public()));
            }
        }
        Ok(out)
    }

    fn get_sync(
        &self,
        repo: &RepositoryRef,
        ids: &[ImageId],
    ) -> Result<BatchGetResult, RegistryError> {
        // A request ECR refuses for its parameters is refused before it is counted,
        // as the AWS backend refuses it before sending it.
        super::check_batch(ids)?;
        if repo.registry.is_public() {
            // ECR Public has no BatchGetImage: one manifest GET per image.
            for _ in ids {
                self.calls.count(Operation::PublicManifestGet);
            }
        } else {
            self.calls.count(Operation::BatchGetImage);
        }
        let state = self.lock();
        let r = state
            .repos
            .get(repo)
            .ok_or_else(|| RegistryError::RepositoryNotFound(repo.clone()))?;
        let mut out = BatchGetResult::default();
        let mut next = 0;
        for id in ids {
            let found = r.by_id_from(id, next);
            if let Some(i) = found {
                next = i + 1;
            }
            match found {
                // Archived images cannot be pulled (nor while being restored). ECR's
                // per-item code for that is not documented; the model answers
                // ImageInaccessible.
                Some(i) if r.images[i].detail.is_inactive() => out.failures.push(ItemFailure {
                    id: id.clone(),
                    code: FailureCode::ImageInaccessible,
                    reason: "The image is archived; restore it to pull it".into(),
                }),
                Some(i) => {
                    let img = &r.images[i];
                    out.manifests.push(FetchedManifest {
                        id: id.clone(),
                        digest: img.detail.digest.clone(),
                        media_type: img
                            .detail
                            .manifest_media_type
                            .as_ref()
                            .map_or(media_type::OCI_MANIFEST, MediaType::as_str)
                            .to_owned(),
                        manifest: img.manifest(),
                    });
                }
                None => out.failures.push(ItemFailure {
                    id: id.clone(),
                    code: FailureCode::ImageNotFound,
                    reason: "Requested image not found".into(),
                }),
            }
        }
        Ok(out)
    }

    fn delete_sync(
        &self,
        repo: &RepositoryRef,
        ids: &[ImageId],
    ) -> Result<BatchDeleteResult, RegistryError> {
        // A request ECR refuses for its parameters is refused before it is counted,
        // as the AWS backend refuses it before sending it.
        super::check_batch(ids)?;
        self.count(
            repo,
            Operation::BatchDeleteImage,
            Operation::PublicBatchDeleteImage,
        );
        let mut state = self.lock();
        let r = state
            .repos
            .get_mut(repo)
            .ok_or_else(|| RegistryError::RepositoryNotFound(repo.clone()))?;
        // References are those of the indexes that exist when the request arrives: the
        // order of items within one request is not promised, so deleting an index and
        // its child in the same request fails for the child.
        let referenced = r.referenced();
        let mut out = BatchDeleteResult::default();
        for id in ids {
            let fail = |code: FailureCode, reason: &str| ItemFailure {
                id: id.clone(),
                code,
                reason: reason.to_owned(),
            };
            match id {
                ImageId::Tag(t) => {
                    let Some(i) = r.by_tag(t.as_str()) else {
                        out.failures.push(fail(
                            FailureCode::ImageNotFound,
                            "Requested image not found",
                        ));
                        continue;
                    };
                    let img = &mut r.images[i];
                    let digest = img.detail.digest.clone();
                    if img.detail.tags.len() == 1 {
                        if referenced.contains(&digest) {
                            out.failures.push(fail(
                                FailureCode::ImageReferencedByManifestList,
                                "Requested image is referenced by a manifest list",
                            ));
                            continue;
                        }
                        r.images.remove(i);
                    } else {
                        img.detail.tags.retain(|x| x != t);
                    }
                    out.removed.push(RemovedId {
                        tag: Some(t.clone()),
                        digest,
                    });
                }
                ImageId::Digest(d) => {
                    let Some(i) = r.by_digest(d) else {
                        out.failures.push(fail(
                            FailureCode::ImageNotFound,
                            "Requested image not found",
                        ));
                        continue;
                    };
                    if referenced.contains(d) {
                        out.failures.push(fail(
                            FailureCode::ImageReferencedByManifestList,
                            "Requested image is referenced by a manifest list",
                        ));
                        continue;
                    }
                    // As in ECR's documented example: an image deleted by digest is
                    // reported once per tag it had (once, without a tag, if it had none).
                    let gone = r.images.remove(i);
                    if gone.detail.tags.is_empty() {
                        out.removed.push(RemovedId {
                            tag: None,
                            digest: d.clone(),
                        });
                    }
                    out.removed
                        .extend(gone.detail.tags.into_iter().map(|t| RemovedId {
                            tag: Some(t),
                            digest: d.clone(),
                        }));
                }
            }
        }
        Ok(out)
    }

    /// PutImage as ECR documents it. The model keeps no layers, so the one refusal
    /// it cannot make is `LayersNotFoundException`.
    fn put_sync(
        &self,
        repo: &RepositoryRef,
        put: &PutManifest<'_>,
        tag: Option<&Tag>,
    ) -> Result<(), RegistryError> {
        self.count(repo, Operation::PutImage, Operation::PublicPutImage);
        let service = RegistryError::service;
        let parsed: serde_json::Value = serde_json::from_str(put.manifest).map_err(|e| {
            service(
                ServiceCode::InvalidParameterException,
                format!("the manifest is not JSON: {e}"),
            )
        })?;
        let mut state = self.lock();
        let r = state
            .repos
            .get_mut(repo)
            .ok_or_else(|| RegistryError::RepositoryNotFound(repo.clone()))?;
        // ECR computes the digest of what it is given. An image this model holds
        // without its manifest (a snapshot file without `manifest`) is re-tagged when
        // given back the stand-in manifest BatchGetImage returned for it.
        let stand_in = r.by_digest(put.digest).is_some_and(|i| {
            r.images[i].manifest.is_none() && r.images[i].manifest() == put.manifest
        });
        if let Some(computed) = put.digest.mismatch(put.manifest.as_bytes())
            && !stand_in
        {
            return Err(service(
                ServiceCode::ImageDigestDoesNotMatchException,
                format!("the manifest's digest is {computed}, not {}", put.digest),
            ));
        }
        if let Some(i) = r.by_digest(put.digest) {
            let image = &r.images[i];
            match tag {
                None => {
                    return Err(service(
                        ServiceCode::ImageAlreadyExistsException,
                        format!("image {} already exists", put.digest),
                    ));
                }
                Some(t) if image.detail.tags.contains(t) => {
                    return Err(service(
                        ServiceCode::ImageAlreadyExistsException,
                        format!("image {} already has tag {t}", put.digest),
                    ));
                }
                Some(_) => {}
            }
        }
        let children: Vec<Digest> = if media_type::is_index(put.media_type) {
            parsed["manifests"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|m| m["digest"].as_str())
                .map(Digest::parse)
                .collect::<Result<_, _>>()
                .map_err(|e| service(ServiceCode::InvalidParameterException, e.to_string()))?
        } else {
            Vec::new()
        };
        let missing: Vec<&str> = children
            .iter()
            .filter(|c| r.by_digest(c).is_none())
            .map(Digest::as_str)
            .collect();
        if !missing.is_empty() {
            return Err(service(
                ServiceCode::ReferencedImagesNotFoundException,
                format!("referenced images not found: {}", missing.join(", ")),
            ));
        }
        if let Some(refused) = tag.and_then(|t| r.immutable_conflict(t, put.digest)) {
            return Err(refused);
        }
        // A mutable tag moves; the image it leaves stays, untagged if that was its
        // last tag.
        if let Some(t) = tag {
            for other in &mut r.images {
                other.detail.tags.retain(|x| x != t);
            }
        }
        match r.by_digest(put.digest) {
            Some(i) => r.images[i].detail.tags.extend(tag.cloned()),
            None => {
                let subject = parsed["subject"]["digest"]
                    .as_str()
                    .and_then(|d| Digest::parse(d).ok());
                let size = put
                    .size_bytes
                    .unwrap_or_else(|| pushed_size(put, &parsed, &children, r));
                r.images.push(StoredImage {
                    detail: ImageDetail {
                        digest: put.digest.clone(),
                        tags: tag.cloned().into_iter().collect(),
                        pushed_at: chrono::Utc::now(),
                        manifest_media_type: Some(MediaType::from(put.media_type)),
                        artifact_media_type: parsed["config"]["mediaType"]
                            .as_str()
                            .map(MediaType::from),
                        size_bytes: Some(size),
                        subject,
                        status: None,
                        last_recorded_pull_time: None,
                        last_archived_at: None,
                        last_activated_at: None,
                    },
                    manifest: Some(put.manifest.to_owned()),
                    children,
                });
            }
        }
        Ok(())
    }
}

/// The size ECR gives an image pushed with this manifest: the sum of its layers'
/// sizes, and for an index its largest child's size (ImageDetail's
/// `imageSizeInBytes`); the manifest's own length for anything else.
fn pushed_size(
    put: &PutManifest<'_>,
    parsed: &serde_json::Value,
    children: &[Digest],
    r: &Repo,
) -> u64 {
    if let Some(layers) = parsed["layers"].as_array() {
        return layers.iter().filter_map(|l| l["size"].as_u64()).sum();
    }
    if !children.is_empty() {
        return children
            .iter()
            .filter_map(|c| r.by_digest(c))
            .filter_map(|i| r.images[i].detail.size_bytes)
            .max()
            .unwrap_or(0);
    }
    put.manifest.len() as u64
}

impl Registry for InMemoryRegistry {
    fn answers_at_once(&self) -> bool {
        // Every call below does its work under a plain mutex and awaits nothing.
        !self.on_network
    }

    async fn caller_account(&self, region: &Region) -> Result<AccountId, RegistryError> {
        self.accounts
            .get(region)
            .or(self.default_account.as_ref())
            .cloned()
            .ok_or_else(|| {
                RegistryError::service(
                    ServiceCode::RegistryNotFound,
                    format!("no registry for region {region} in this snapshot"),
                )
            })
    }

    async fn describe_public_registries(&self) -> Result<Vec<PublicRegistryInfo>, RegistryError> {
        self.calls.count(Operation::PublicOther);
        let mut out: Vec<PublicRegistryInfo> = Vec::new();
        for location in &self.lock().registries {
            if let RegistryLocation::Public { account, alias } = location {
                match out.iter_mut().find(|r| r.account == *account) {
                    Some(r) => r.aliases.push(alias.clone()),
                    None => out.push(PublicRegistryInfo {
                        account: account.clone(),
                        aliases: vec![alias.clone()],
                    }),
                }
            }
        }
        Ok(out)
    }

    async fn describe_repositories(
        &self,
        registry: &RegistryLocation,
        next_token: Option<&str>,
    ) -> Result<RepositoryPage, RegistryError> {
        self.calls.count(if registry.is_public() {
            Operation::PublicOther
        } else {
            Operation::Other
        });
        let state = self.lock();
        if !state.registries.contains(registry) {
            return Err(RegistryError::Unreachable(
                super::Unreachable::NotInSnapshot(registry.to_string()),
            ));
        }
        // Names in order; the token is the last name of the previous page.
        let names: Vec<RepositoryName> = state
            .repos
            .keys()
            .filter(|r| r.registry == *registry)
            .filter(|r| next_token.is_none_or(|t| r.name.as_str() > t))
            .map(|r| r.name.clone())
            .take(REPOSITORY_PAGE_SIZE + 1)
            .collect();
        let more = names.len() > REPOSITORY_PAGE_SIZE;
        let names: Vec<RepositoryName> = names.into_iter().take(REPOSITORY_PAGE_SIZE).collect();
        let next_token = more
            .then(|| names.last().map(|n| n.as_str().to_owned()))
            .flatten();
        Ok(RepositoryPage { names, next_token })
    }

    async fn describe_images(
        &self,
        repo: &RepositoryRef,
        next_token: Option<&str>,
        max_results: u32,
    ) -> Result<ImagePage, RegistryError> {
        self.ensure(repo)?;
        self.describe_sync(repo, next_token, max_results)
    }

    async fn describe_images_by_id(
        &self,
        repo: &RepositoryRef,
        ids: &[ImageId],
    ) -> Result<Vec<ImageDetail>, RegistryError> {
        self.ensure(repo)?;
        self.describe_by_id_sync(repo, ids)
    }

    async fn batch_get_image(
        &self,
        repo: &RepositoryRef,
        ids: &[ImageId],
    ) -> Result<BatchGetResult, RegistryError> {
        self.ensure(repo)?;
        self.get_sync(repo, ids)
    }

    // As ECR: DescribeRegistry and DescribePullThroughCacheRules (one page).
    async fn registry_settings(
        &self,
        account: &AccountId,
        region: &Region,
    ) -> Result<RegistrySettings, RegistryError> {
        self.calls.count(Operation::RegistrySettings);
        self.calls.count(Operation::RegistrySettings);
        let location = RegistryLocation::private(account.clone(), region.clone());
        if !self.lock().registries.contains(&location) {
            return Err(RegistryError::Unreachable(
                super::Unreachable::NotInSnapshot(location.to_string()),
            ));
        }
        Ok(self.registry_settings_of(&location))
    }

    // As ECR: a call per private repository; ECR Public has no lifecycle policies,
    // so no call there.
    async fn get_lifecycle_policy(
        &self,
        repo: &RepositoryRef,
    ) -> Result<Option<String>, RegistryError> {
        if repo.registry.is_public() {
            return Ok(None);
        }
        self.calls.count(Operation::GetLifecyclePolicy);
        let state = self.lock();
        match state.repos.get(repo) {
            Some(r) => Ok(r.lifecycle_policy.clone()),
            None => Err(RegistryError::RepositoryNotFound(repo.clone())),
        }
    }

    // As ECR: DescribeRepositories with the repository's name; ECR Public has no tag
    // immutability, so no call there.
    async fn tag_mutability(&self, repo: &RepositoryRef) -> Result<TagMutability, RegistryError> {
        if repo.registry.is_public() {
            return Ok(TagMutability::default());
        }
        self.calls.count(Operation::TagMutability);
        let state = self.lock();
        match state.repos.get(repo) {
            Some(r) => Ok(r.tag_mutability.clone()),
            None => Err(RegistryError::RepositoryNotFound(repo.clone())),
        }
    }

    // Tag immutability does not change BatchDeleteImage: ECR documents it only for
    // pushes (PutImage of a tag that is on another image).
    async fn batch_delete_image(
        &self,
        repo: &RepositoryRef,
        ids: &[ImageId],
    ) -> Result<BatchDeleteResult, RegistryError> {
        self.delete_sync(repo, ids)
    }

    async fn put_image(
        &self,
        repo: &RepositoryRef,
        manifest: &PutManifest<'_>,
        tag: Option<&Tag>,
    ) -> Result<(), RegistryError> {
        self.put_sync(repo, manifest, tag)
    }

    async fn update_image_storage_class(
        &self,
        repo: &RepositoryRef,
        digest: &Digest,
        target: StorageClass,
    ) -> Result<ImageStatus, RegistryError> {
        self.storage_class_sync(repo, digest, target, chrono::Utc::now())
    }
}

mod on_demand;
mod storage_class;
#[cfg(test)]
mod tests;
