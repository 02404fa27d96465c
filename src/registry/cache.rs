//! A content-addressed cache of manifests, and a [`Registry`] wrapper that serves
//! BatchGetImage by digest from it.
//!
//! A digest names its manifest for good (it is the SHA-256 of the manifest's bytes),
//! so a manifest read once never needs reading again: plans read index manifests, and
//! apply the manifests it journals, from ECR at most once. That also keeps the tool
//! from counting as a pull of the image more than once (ECR may record BatchGetImage
//! as a pull, in `lastRecordedPullTime`), and keeps an index's children known after
//! the index is archived (ECR does not serve an archived image).
//!
//! An entry is `<dir>/manifests/sha256/<hex>`: the media type on the first line, then
//! the manifest's bytes. Every read checks that the bytes hash to the entry's name; a
//! bad entry is ignored (and replaced once read again from the registry). Entries are
//! written atomically. The cache never fails a run: a folder that cannot be written
//! is reported in the logs, and the registry answers instead.

use std::path::{Path, PathBuf};

use super::{
    BatchDeleteResult, BatchGetResult, FetchedManifest, ImageDetail, ImageId, ImagePage,
    PutManifest, Registry, RegistryError,
};
use crate::model::{AccountId, Digest, Region, RepositoryRef, Tag};

/// The manifests cached in a folder.
#[derive(Clone, Debug)]
pub struct ManifestCache {
    dir: PathBuf,
}

impl ManifestCache {
    /// The cache in `dir` (created when the first entry is written).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn entry(&self, digest: &Digest) -> Option<PathBuf> {
        // Only SHA-256 digests are verified here; others are not cached.
        (digest.algorithm() == "sha256")
            .then(|| self.dir.join("manifests").join("sha256").join(digest.hex()))
    }

    /// The media type and manifest cached for `digest`, when an entry exists and its
    /// manifest hashes to the digest. A bad entry is removed. Only a regular file is
    /// opened: anything else under an entry's name (a FIFO would block the run, a
    /// symlink could lead anywhere) is ignored, and replaced when the entry is written.
    pub fn get(&self, digest: &Digest) -> Option<(String, String)> {
        let path = self.entry(digest)?;
        let meta = std::fs::symlink_metadata(&path).ok()?;
        if !meta.is_file() {
            tracing::warn!(
                "manifest cache: {} is not a regular file; ignored",
                path.display()
            );
            return None;
        }
        let bytes = std::fs::read(&path).ok()?;
        match parse_entry(&bytes, digest) {
            Some(found) => Some(found),
            None => {
                tracing::warn!(
                    "manifest cache: {} does not hold the manifest of {digest}; ignored",
                    path.display()
                );
                let _ = std::fs::remove_file(&path);
                None
            }
        }
    }

    /// Caches `manifest` under `digest` when it hashes to it (anything else is not
    /// the manifest of that digest, and is not kept).
    pub fn put(&self, digest: &Digest, media_type: &str, manifest: &str) {
        let Some(path) = self.entry(digest) else {
            return;
        };
        if crate::hash::sha256(manifest.as_bytes()) != digest.as_str() || media_type.contains('\n')
        {
            tracing::debug!(
                "manifest cache: the manifest read for {digest} does not hash to it; not cached"
            );
            return;
        }
        let written = path
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| {
                crate::files::write_atomically(&path, |w| {
                    use std::io::Write;
                    w.write_all(media_type.as_bytes())?;
                    w.write_all(b"\n")?;
                    w.write_all(manifest.as_bytes())
                })
            });
        if let Err(e) = written {
            tracing::warn!(
                "manifest cache: cannot write {}: {e}; the registry is asked instead",
                path.display()
            );
        }
    }
}

/// An entry's media type and manifest, when the manifest hashes to `digest`. The
/// atomic write ends the file with one newline that is not the manifest's.
fn parse_entry(bytes: &[u8], digest: &Digest) -> Option<(String, String)> {
    let text = std::str::from_utf8(bytes).ok()?;
    let (media_type, rest) = text.split_once('\n')?;
    let manifest = rest.strip_suffix('\n')?;
    (crate::hash::sha256(manifest.as_bytes()) == digest.as_str())
        .then(|| (media_type.to_owned(), manifest.to_owned()))
}

/// A registry whose BatchGetImage by digest is served from a [`ManifestCache`] when it
/// can be, and fills it. Reads by tag always go to the registry (a tag moves), and so
/// does every other call.
///
/// A manifest served from the cache says nothing of whether the image still exists:
/// callers learn that from a listing. The one read that asks exactly that, apply's
/// read-back of a removal BatchDeleteImage left unanswered, is a BatchGetImage by
/// digest; so every digest this run has sent to BatchDeleteImage is read from the
/// registry from then on, never from the cache.
#[derive(Debug)]
pub struct Cached<R> {
    inner: R,
    cache: Option<ManifestCache>,
    /// Digests sent to BatchDeleteImage: their existence is in question.
    deleted: std::sync::Mutex<std::collections::HashSet<Digest>>,
}

impl<R> Cached<R> {
    /// `inner`, with `cache` (none: every call goes to `inner`).
    pub fn new(inner: R, cache: Option<ManifestCache>) -> Self {
        Self {
            inner,
            cache,
            deleted: Default::default(),
        }
    }

    /// The registry behind the cache.
    pub fn inner(&self) -> &R {
        &self.inner
    }
}

impl<R: Registry> Registry for Cached<R> {
    fn endpoint(&self, region: &Region) -> Option<super::Endpoint> {
        self.inner.endpoint(region)
    }

    fn answers_at_once(&self) -> bool {
        // The cache's own reads and writes are synchronous file operations.
        self.inner.answers_at_once()
    }

    async fn caller_account(&self, region: &Region) -> Result<AccountId, RegistryError> {
        self.inner.caller_account(region).await
    }

    async fn describe_images_of_caller(
        &self,
        region: &Region,
        name: &crate::model::RepositoryName,
        max_results: u32,
    ) -> Result<(ImagePage, Option<AccountId>), RegistryError> {
        self.inner
            .describe_images_of_caller(region, name, max_results)
            .await
    }

    async fn describe_public_registries(
        &self,
    ) -> Result<Vec<super::PublicRegistryInfo>, RegistryError> {
        self.inner.describe_public_registries().await
    }

    async fn describe_repositories(
        &self,
        registry: &crate::model::RegistryLocation,
        next_token: Option<&str>,
    ) -> Result<super::RepositoryPage, RegistryError> {
        self.inner.describe_repositories(registry, next_token).await
    }

    async fn describe_images(
        &self,
        repo: &RepositoryRef,
        next_token: Option<&str>,
        max_results: u32,
    ) -> Result<ImagePage, RegistryError> {
        self.inner
            .describe_images(repo, next_token, max_results)
            .await
    }

    async fn describe_images_by_id(
        &self,
        repo: &RepositoryRef,
        ids: &[ImageId],
    ) -> Result<Vec<ImageDetail>, RegistryError> {
        self.inner.describe_images_by_id(repo, ids).await
    }

    async fn registry_settings(
        &self,
        account: &AccountId,
        region: &Region,
    ) -> Result<super::RegistrySettings, RegistryError> {
        self.inner.registry_settings(account, region).await
    }

    async fn caller_principal(&self) -> Result<Option<String>, RegistryError> {
        self.inner.caller_principal().await
    }

    async fn pull_time_exclusions(
        &self,
        account: &AccountId,
        region: &Region,
    ) -> Result<Option<Vec<String>>, RegistryError> {
        self.inner.pull_time_exclusions(account, region).await
    }

    async fn get_lifecycle_policy(
        &self,
        repo: &RepositoryRef,
    ) -> Result<Option<String>, RegistryError> {
        self.inner.get_lifecycle_policy(repo).await
    }

    async fn tag_mutability(
        &self,
        repo: &RepositoryRef,
    ) -> Result<super::TagMutability, RegistryError> {
        self.inner.tag_mutability(repo).await
    }

    async fn batch_get_image(
        &self,
        repo: &RepositoryRef,
        ids: &[ImageId],
    ) -> Result<BatchGetResult, RegistryError> {
        let Some(cache) = &self.cache else {
            return self.inner.batch_get_image(repo, ids).await;
        };
        // The same contract with or without the cache.
        super::check_batch(ids)?;
        let mut out = BatchGetResult::default();
        let mut ask: Vec<ImageId> = Vec::new();
        let deleted = self
            .deleted
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        for id in ids {
            let cached = match id {
                ImageId::Digest(d) if !deleted.contains(d) => cache.get(d).map(|m| (d, m)),
                ImageId::Digest(_) | ImageId::Tag(_) => None,
            };
            match cached {
                Some((digest, (media_type, manifest))) => out.manifests.push(FetchedManifest {
                    id: id.clone(),
                    digest: digest.clone(),
                    media_type,
                    manifest,
                }),
                None => ask.push(id.clone()),
            }
        }
        if ask.is_empty() {
            return Ok(out);
        }
        let got = self.inner.batch_get_image(repo, &ask).await?;
        for m in &got.manifests {
            cache.put(&m.digest, &m.media_type, &m.manifest);
        }
        out.manifests.extend(got.manifests);
        out.failures = got.failures;
        Ok(out)
    }

    async fn batch_delete_image(
        &self,
        repo: &RepositoryRef,
        ids: &[ImageId],
    ) -> Result<BatchDeleteResult, RegistryError> {
        self.deleted
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend(ids.iter().filter_map(|id| match id {
                ImageId::Digest(d) => Some(d.clone()),
                ImageId::Tag(_) => None,
            }));
        self.inner.batch_delete_image(repo, ids).await
    }

    async fn put_image(
        &self,
        repo: &RepositoryRef,
        manifest: &PutManifest<'_>,
        tag: Option<&Tag>,
    ) -> Result<(), RegistryError> {
        self.inner.put_image(repo, manifest, tag).await
    }

    async fn update_image_storage_class(
        &self,
        repo: &RepositoryRef,
        digest: &Digest,
        target: super::StorageClass,
    ) -> Result<super::ImageStatus, RegistryError> {
        self.inner
            .update_image_storage_class(repo, digest, target)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{MediaType, media_type};
    use crate::registry::memory::{InMemoryRegistry, StoredImage};
    use crate::registry::observe::observe;
    use crate::registry::{ImageStatus, MAX_IDS_PER_BATCH};

    fn repo() -> RepositoryRef {
        RepositoryRef::for_tests()
    }

    /// An image whose manifest hashes to its digest (an index when it has children).
    fn image(seed: &str, tags: &[&str], children: &[&Digest]) -> StoredImage {
        let (mt, manifest) = if children.is_empty() {
            (
                media_type::OCI_MANIFEST,
                format!(
                    r#"{{"schemaVersion":2,"mediaType":"{}","config":{{"digest":"{seed}"}},"layers":[]}}"#,
                    media_type::OCI_MANIFEST
                ),
            )
        } else {
            let items: Vec<String> = children
                .iter()
                .map(|c| format!(r#"{{"digest":"{c}"}}"#))
                .collect();
            (
                media_type::OCI_INDEX,
                format!(
                    r#"{{"schemaVersion":2,"mediaType":"{}","manifests":[{}],"annotations":{{"s":"{seed}"}}}}"#,
                    media_type::OCI_INDEX,
                    items.join(",")
                ),
            )
        };
        let digest = Digest::parse(crate::hash::sha256(manifest.as_bytes())).unwrap();
        let mut detail = ImageDetail::new(
            digest,
            tags.iter().map(|t| Tag::parse(*t).unwrap()).collect(),
            chrono::Utc::now(),
        );
        detail.manifest_media_type = Some(MediaType::from(mt));
        StoredImage {
            detail,
            manifest: Some(manifest),
            children: children.iter().map(|c| (*c).clone()).collect(),
        }
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    /// A repository with two indexes (of one child each) and a plain image.
    fn seeded() -> (InMemoryRegistry, Vec<Digest>) {
        let reg = InMemoryRegistry::new();
        let a = image("a", &[], &[]);
        let b = image("b", &[], &[]);
        let list_a = image("list-a", &["v1"], &[&a.detail.digest]);
        let list_b = image("list-b", &["v2"], &[&b.detail.digest]);
        let digests = [&a, &b, &list_a, &list_b]
            .iter()
            .map(|i| i.detail.digest.clone())
            .collect();
        for i in [a, b, list_a, list_b, image("plain", &["v3"], &[])] {
            reg.push(&repo(), i);
        }
        (reg, digests)
    }

    #[test]
    fn a_second_observation_reads_no_manifest_from_the_registry() {
        let dir = tempfile::tempdir().unwrap();
        let (reg, d) = seeded();
        let cached = Cached::new(reg, Some(ManifestCache::new(dir.path())));
        let first = block_on(observe(&cached, &repo())).unwrap();
        // One call for the indexes, one for the other images' manifests.
        assert_eq!(cached.inner().calls().batch_get_image, 2);
        let second = block_on(observe(&cached, &repo())).unwrap();
        assert_eq!(
            cached.inner().calls().batch_get_image,
            2,
            "every manifest came from the cache"
        );
        assert_eq!(first.blobs, second.blobs);
        assert_eq!(second.blobs.images_read(), 3);
        assert_eq!(first.children, second.children);
        assert_eq!(second.children[&d[2]], [d[0].clone()]);
        // Without a cache, every observation reads them again.
        let uncached = Cached::new(seeded().0, None);
        block_on(observe(&uncached, &repo())).unwrap();
        block_on(observe(&uncached, &repo())).unwrap();
        assert_eq!(uncached.inner().calls().batch_get_image, 4);
    }

    #[test]
    fn a_digest_sent_to_batch_delete_image_is_read_from_the_registry_after() {
        // Apply reads back an unanswered removal with BatchGetImage: the cache must
        // not answer "still there" for an image the registry deleted.
        let dir = tempfile::tempdir().unwrap();
        let (reg, d) = seeded();
        let cached = Cached::new(reg, Some(ManifestCache::new(dir.path())));
        block_on(observe(&cached, &repo())).unwrap();
        let index = ImageId::Digest(d[3].clone());
        let got = block_on(cached.batch_get_image(&repo(), std::slice::from_ref(&index))).unwrap();
        assert_eq!(got.manifests.len(), 1);
        let before = cached.inner().calls().batch_get_image;
        block_on(cached.batch_delete_image(&repo(), std::slice::from_ref(&index))).unwrap();
        let got = block_on(cached.batch_get_image(&repo(), std::slice::from_ref(&index))).unwrap();
        assert!(got.manifests.is_empty(), "{got:?}");
        assert_eq!(
            got.failures[0].code,
            super::super::FailureCode::ImageNotFound
        );
        assert_eq!(cached.inner().calls().batch_get_image, before + 1);
    }

    #[test]
    fn a_bad_entry_is_ignored_and_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let (reg, d) = seeded();
        let cache = ManifestCache::new(dir.path());
        let cached = Cached::new(reg, Some(cache.clone()));
        block_on(observe(&cached, &repo())).unwrap();
        let entry = cache.entry(&d[2]).unwrap();
        let good = std::fs::read(&entry).unwrap();
        // Damaged: another index's manifest under this digest (the children of
        // list-b would be taken for those of list-a).
        let other = std::fs::read(cache.entry(&d[3]).unwrap()).unwrap();
        std::fs::write(&entry, &other).unwrap();
        assert_eq!(cache.get(&d[2]), None);
        assert!(!entry.exists(), "a bad entry is removed");
        std::fs::write(&entry, b"garbage").unwrap();
        let observed = block_on(observe(&cached, &repo())).unwrap();
        assert_eq!(
            observed.children[&d[2]],
            [d[0].clone()],
            "read from the registry"
        );
        assert_eq!(cached.inner().calls().batch_get_image, 3);
        assert_eq!(std::fs::read(&entry).unwrap(), good, "and replaced");
    }

    #[cfg(unix)]
    #[test]
    fn an_entry_that_is_not_a_regular_file_is_never_opened() {
        let dir = tempfile::tempdir().unwrap();
        let (reg, d) = seeded();
        let cache = ManifestCache::new(dir.path());
        let cached = Cached::new(reg, Some(cache.clone()));
        block_on(observe(&cached, &repo())).unwrap();
        let entry = cache.entry(&d[2]).unwrap();
        std::fs::remove_file(&entry).unwrap();
        // A FIFO without a writer: opening it for reading would block for good.
        let made = std::process::Command::new("mkfifo")
            .arg(&entry)
            .status()
            .unwrap();
        assert!(made.success());
        let (send, got) = std::sync::mpsc::channel();
        let reader = cache.clone();
        let digest = d[2].clone();
        std::thread::spawn(move || send.send(reader.get(&digest)).unwrap());
        let found = got
            .recv_timeout(std::time::Duration::from_secs(60))
            .expect("reading a FIFO entry blocked");
        assert_eq!(found, None);
        // Read from the registry instead, and the entry written as a file again.
        block_on(observe(&cached, &repo())).unwrap();
        // The first observation read the index's manifest and the images' (2 calls);
        // this one only the entry that was not a file.
        assert_eq!(cached.inner().calls().batch_get_image, 3);
        assert!(std::fs::symlink_metadata(&entry).unwrap().is_file());
        // A symlink to a good entry is not followed either.
        let good = cache.entry(&d[3]).unwrap();
        std::fs::remove_file(&entry).unwrap();
        std::os::unix::fs::symlink(&good, &entry).unwrap();
        assert_eq!(cache.get(&d[2]), None);
    }

    #[test]
    fn reads_by_tag_and_manifests_that_do_not_hash_to_their_digest_are_not_cached() {
        let dir = tempfile::tempdir().unwrap();
        let (reg, _) = seeded();
        // The model synthesizes a manifest for an image stored without one: it does
        // not hash to the image's digest.
        let mut odd = image("odd", &["odd"], &[]);
        odd.manifest = None;
        let odd_digest = odd.detail.digest.clone();
        reg.push(&repo(), odd);
        let cache = ManifestCache::new(dir.path());
        let cached = Cached::new(reg, Some(cache.clone()));
        let by_tag = [ImageId::Tag(Tag::parse("v3").unwrap())];
        block_on(cached.batch_get_image(&repo(), &by_tag)).unwrap();
        block_on(cached.batch_get_image(&repo(), &by_tag)).unwrap();
        assert_eq!(cached.inner().calls().batch_get_image, 2, "a tag moves");
        let by_digest = [ImageId::Digest(odd_digest.clone())];
        block_on(cached.batch_get_image(&repo(), &by_digest)).unwrap();
        assert_eq!(cache.get(&odd_digest), None);
        // The batch contract holds with every item cached.
        let too_many: Vec<ImageId> = (0..=MAX_IDS_PER_BATCH)
            .map(|_| by_digest[0].clone())
            .collect();
        assert!(block_on(cached.batch_get_image(&repo(), &too_many)).is_err());
    }

    #[test]
    fn an_index_read_while_active_keeps_its_children_once_archived() {
        let dir = tempfile::tempdir().unwrap();
        let reg = InMemoryRegistry::new();
        let child = image("child", &[], &[]);
        let mut list = image("list", &["v1"], &[&child.detail.digest]);
        let list_digest = list.detail.digest.clone();
        let child_digest = child.detail.digest.clone();
        reg.push(&repo(), child);
        reg.push(&repo(), list.clone());
        let cached = Cached::new(reg, Some(ManifestCache::new(dir.path())));
        block_on(observe(&cached, &repo())).unwrap();
        list.detail.status = Some(ImageStatus::Archived);
        cached.inner().push(&repo(), list);
        let observed = block_on(observe(&cached, &repo())).unwrap();
        assert!(observed.unreadable.is_empty());
        assert_eq!(observed.children[&list_digest], [child_digest]);
        // Without the cache, it could not be read.
        let observed = block_on(observe(cached.inner(), &repo())).unwrap();
        assert_eq!(observed.unreadable, [list_digest]);
    }

    #[test]
    fn an_unwritable_folder_only_means_no_cache() {
        let file = tempfile::NamedTempFile::new().unwrap();
        // A folder below a file cannot be created.
        let cached = Cached::new(seeded().0, Some(ManifestCache::new(file.path().join("c"))));
        block_on(observe(&cached, &repo())).unwrap();
        block_on(observe(&cached, &repo())).unwrap();
        assert_eq!(cached.inner().calls().batch_get_image, 4);
    }
}
