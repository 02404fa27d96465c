//! The registry a run uses, chosen on the command line: a snapshot file (through the
//! in-memory model) or AWS.

use std::path::PathBuf;

use super::aws::AwsRegistry;
use super::cache::Cached;
use super::memory::InMemoryRegistry;
use super::{
    BatchDeleteResult, BatchGetResult, CallCounts, ImageDetail, ImageId, ImagePage,
    PublicRegistryInfo, PutManifest, Registry, RegistryError, RepositoryPage, RetryCounts,
};
use crate::model::{AccountId, Region, RegistryLocation, RepositoryName, RepositoryRef, Tag};

/// A snapshot file or AWS.
#[derive(Debug)]
pub enum Backend {
    /// A snapshot file, loaded into the in-memory model (and written back by `apply`).
    Snapshot {
        /// The model.
        registry: Box<InMemoryRegistry>,
        /// The file.
        path: PathBuf,
        /// The snapshot's `generated_at`, kept when `apply` rewrites it so that plans
        /// against it stay reproducible.
        generated_at: Option<chrono::DateTime<chrono::Utc>>,
    },
    /// Amazon ECR, behind the manifest cache when there is one (boxed: its
    /// configuration is large, and there is one per run).
    Aws(Box<Cached<AwsRegistry>>),
}

impl Backend {
    /// `snapshot:<file>` or `aws`, as shown in plans.
    pub fn label(&self) -> String {
        match self {
            Backend::Snapshot { path, .. } => format!("snapshot:{}", path.display()),
            Backend::Aws(_) => "aws".to_owned(),
        }
    }

    /// True for a registry that enforces no quotas (a snapshot file): nothing
    /// offline waits on pacing.
    pub fn is_offline(&self) -> bool {
        matches!(self, Backend::Snapshot { .. })
    }

    /// Calls so far.
    pub fn calls(&self) -> CallCounts {
        match self {
            Backend::Snapshot { registry, .. } => registry.calls(),
            Backend::Aws(r) => r.inner().calls(),
        }
    }

    /// Retries so far (none for a snapshot).
    pub fn retries(&self) -> RetryCounts {
        match self {
            Backend::Snapshot { .. } => RetryCounts::default(),
            Backend::Aws(r) => r.inner().retries(),
        }
    }
}

impl Registry for Backend {
    fn endpoint(&self, region: &Region) -> Option<super::Endpoint> {
        match self {
            Backend::Snapshot { .. } => None,
            Backend::Aws(r) => r.endpoint(region),
        }
    }

    fn answers_at_once(&self) -> bool {
        match self {
            Backend::Snapshot { registry, .. } => registry.answers_at_once(),
            Backend::Aws(r) => r.answers_at_once(),
        }
    }

    async fn caller_account(&self, region: &Region) -> Result<AccountId, RegistryError> {
        match self {
            Backend::Snapshot { registry, .. } => registry.caller_account(region).await,
            Backend::Aws(r) => r.caller_account(region).await,
        }
    }

    async fn describe_public_registries(&self) -> Result<Vec<PublicRegistryInfo>, RegistryError> {
        match self {
            Backend::Snapshot { registry, .. } => registry.describe_public_registries().await,
            Backend::Aws(r) => r.describe_public_registries().await,
        }
    }

    async fn describe_repositories(
        &self,
        registry: &RegistryLocation,
        next_token: Option<&str>,
    ) -> Result<RepositoryPage, RegistryError> {
        match self {
            Backend::Snapshot { registry: r, .. } => {
                r.describe_repositories(registry, next_token).await
            }
            Backend::Aws(r) => r.describe_repositories(registry, next_token).await,
        }
    }

    async fn describe_images(
        &self,
        repo: &RepositoryRef,
        next_token: Option<&str>,
        max_results: u32,
    ) -> Result<ImagePage, RegistryError> {
        match self {
            Backend::Snapshot { registry, .. } => {
                registry
                    .describe_images(repo, next_token, max_results)
                    .await
            }
            Backend::Aws(r) => r.describe_images(repo, next_token, max_results).await,
        }
    }

    async fn describe_images_of_caller(
        &self,
        region: &Region,
        name: &RepositoryName,
        max_results: u32,
    ) -> Result<(ImagePage, Option<AccountId>), RegistryError> {
        match self {
            Backend::Snapshot { registry, .. } => {
                registry
                    .describe_images_of_caller(region, name, max_results)
                    .await
            }
            Backend::Aws(r) => r.describe_images_of_caller(region, name, max_results).await,
        }
    }

    async fn describe_images_by_id(
        &self,
        repo: &RepositoryRef,
        ids: &[ImageId],
    ) -> Result<Vec<ImageDetail>, RegistryError> {
        match self {
            Backend::Snapshot { registry, .. } => registry.describe_images_by_id(repo, ids).await,
            Backend::Aws(r) => r.describe_images_by_id(repo, ids).await,
        }
    }

    async fn registry_settings(
        &self,
        account: &AccountId,
        region: &Region,
    ) -> Result<super::RegistrySettings, RegistryError> {
        match self {
            Backend::Snapshot { registry, .. } => registry.registry_settings(account, region).await,
            Backend::Aws(r) => r.registry_settings(account, region).await,
        }
    }

    async fn caller_principal(&self) -> Result<Option<String>, RegistryError> {
        match self {
            Backend::Snapshot { registry, .. } => registry.caller_principal().await,
            Backend::Aws(r) => r.caller_principal().await,
        }
    }

    async fn pull_time_exclusions(
        &self,
        account: &AccountId,
        region: &Region,
    ) -> Result<Option<Vec<String>>, RegistryError> {
        match self {
            Backend::Snapshot { registry, .. } => {
                registry.pull_time_exclusions(account, region).await
            }
            Backend::Aws(r) => r.pull_time_exclusions(account, region).await,
        }
    }

    async fn get_lifecycle_policy(
        &self,
        repo: &RepositoryRef,
    ) -> Result<Option<String>, RegistryError> {
        match self {
            Backend::Snapshot { registry, .. } => registry.get_lifecycle_policy(repo).await,
            Backend::Aws(r) => r.get_lifecycle_policy(repo).await,
        }
    }

    async fn tag_mutability(
        &self,
        repo: &RepositoryRef,
    ) -> Result<super::TagMutability, RegistryError> {
        match self {
            Backend::Snapshot { registry, .. } => registry.tag_mutability(repo).await,
            Backend::Aws(r) => r.tag_mutability(repo).await,
        }
    }

    async fn batch_get_image(
        &self,
        repo: &RepositoryRef,
        ids: &[ImageId],
    ) -> Result<BatchGetResult, RegistryError> {
        match self {
            Backend::Snapshot { registry, .. } => registry.batch_get_image(repo, ids).await,
            Backend::Aws(r) => r.batch_get_image(repo, ids).await,
        }
    }

    async fn batch_delete_image(
        &self,
        repo: &RepositoryRef,
        ids: &[ImageId],
    ) -> Result<BatchDeleteResult, RegistryError> {
        match self {
            Backend::Snapshot { registry, .. } => registry.batch_delete_image(repo, ids).await,
            Backend::Aws(r) => r.batch_delete_image(repo, ids).await,
        }
    }

    async fn put_image(
        &self,
        repo: &RepositoryRef,
        manifest: &PutManifest<'_>,
        tag: Option<&Tag>,
    ) -> Result<(), RegistryError> {
        match self {
            Backend::Snapshot { registry, .. } => registry.put_image(repo, manifest, tag).await,
            Backend::Aws(r) => r.put_image(repo, manifest, tag).await,
        }
    }

    async fn update_image_storage_class(
        &self,
        repo: &RepositoryRef,
        digest: &crate::model::Digest,
        target: super::StorageClass,
    ) -> Result<super::ImageStatus, RegistryError> {
        match self {
            Backend::Snapshot { registry, .. } => {
                registry
                    .update_image_storage_class(repo, digest, target)
                    .await
            }
            Backend::Aws(r) => r.update_image_storage_class(repo, digest, target).await,
        }
    }
}
