//! The observed side: a narrow, async `Registry` trait in ECR's terms (no SDK type
//! crosses it), an in-memory model of documented ECR behaviour, and the snapshot file.

#[cfg(feature = "aws")]
pub mod aws;
#[cfg(feature = "aws")]
pub mod backend;
mod blobs;
pub mod cache;
mod calls;
mod ecr_answers;
pub mod memory;
mod mutability;
pub mod observe;
#[cfg(feature = "aws")]
pub mod oci;
#[cfg(feature = "aws")]
pub mod public;
#[cfg(feature = "aws")]
mod sdk;
mod settings;
pub mod snapshot;

use std::collections::HashMap;
use std::future::Future;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use crate::aws::Unreachable;
use crate::model::{
    AccountId, Digest, MediaType, PublicAlias, Region, RegistryLocation, RepositoryName,
    RepositoryRef, Tag,
};
pub use blobs::{ImageBlobs, ImageBlobsBuilder, manifest_blobs};
pub use calls::{CallCounters, CallCounts, Operation, PublicCallCounts, RetryCounts};
pub use mutability::{TagMutability, TagMutabilitySetting};
pub use settings::{
    LifecycleState, PullThroughCacheRule, RegistrySettings, Replica, ReplicationRule,
};

/// ECR's documented limit on `imageIds` in BatchGetImage and BatchDeleteImage.
pub const MAX_IDS_PER_BATCH: usize = 100;
/// ECR's documented maximum page size for DescribeImages.
pub const MAX_PAGE_SIZE: u32 = 1000;

/// ECR's rule for `imageIds` in BatchGetImage and BatchDeleteImage: 1 to 100 items,
/// else `InvalidParameterException` for the whole call.
pub fn check_batch(ids: &[ImageId]) -> Result<(), RegistryError> {
    if ids.is_empty() || ids.len() > MAX_IDS_PER_BATCH {
        return Err(RegistryError::invalid_parameter(format!(
            "imageIds must hold 1 to {MAX_IDS_PER_BATCH} items, not {}",
            ids.len()
        )));
    }
    Ok(())
}

/// One image as DescribeImages reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ImageDetail {
    /// The manifest digest.
    pub digest: Digest,
    /// The tags on the image (empty for an untagged image).
    #[serde(default)]
    pub tags: Vec<Tag>,
    /// When the image was pushed.
    pub pushed_at: DateTime<Utc>,
    /// The manifest media type (index types mark multi-platform images).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest_media_type: Option<MediaType>,
    /// The artifact media type (signatures, SBOMs, attestations).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_media_type: Option<MediaType>,
    /// The size ECR reports, in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<u64>,
    /// For an OCI 1.1 referrer, the digest of the image it refers to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Digest>,
    /// ECR's `imageStatus`; absent when the registry does not report one (then the
    /// image is active).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ImageStatus>,
    /// ECR's `lastRecordedPullTime`: the last pull ECR recorded, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_recorded_pull_time: Option<DateTime<Utc>>,
    /// ECR's `lastArchivedAt`: when the image was last moved to the archive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_archived_at: Option<DateTime<Utc>>,
    /// ECR's `lastActivatedAt`: when the image was last restored from the archive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_activated_at: Option<DateTime<Utc>>,
}

impl ImageDetail {
    /// An active image with only the fields every listing has.
    pub fn new(digest: Digest, tags: Vec<Tag>, pushed_at: DateTime<Utc>) -> Self {
        Self {
            digest,
            tags,
            pushed_at,
            manifest_media_type: None,
            artifact_media_type: None,
            size_bytes: None,
            subject: None,
            status: None,
            last_recorded_pull_time: None,
            last_archived_at: None,
            last_activated_at: None,
        }
    }

    /// True when the manifest is an index (manifest list) with child manifests.
    pub fn is_index(&self) -> bool {
        self.manifest_media_type
            .as_ref()
            .is_some_and(MediaType::is_index)
    }

    /// True unless the registry reports the image active (or reports no status):
    /// an archived image cannot be pulled, so its manifest may be unreadable.
    pub fn is_inactive(&self) -> bool {
        self.status.is_some_and(|s| s != ImageStatus::Active)
    }
}

/// ECR's `imageStatus` of an image.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ImageStatus {
    /// Stored in the standard storage class: it can be pulled.
    Active,
    /// Moved to the archive storage class: it cannot be pulled until restored, and
    /// ECR bills its archived storage for at least 90 days.
    Archived,
    /// Being restored from the archive: not pullable yet.
    Activating,
    /// A status this version does not know (treated like an archived one: its
    /// manifest may be unreadable).
    Unknown,
}

impl ImageStatus {
    /// ECR's spelling (`ACTIVE`, `ARCHIVED`, `ACTIVATING`), and `UNKNOWN` for others.
    pub fn as_ecr_str(self) -> &'static str {
        match self {
            ImageStatus::Active => "ACTIVE",
            ImageStatus::Archived => "ARCHIVED",
            ImageStatus::Activating => "ACTIVATING",
            ImageStatus::Unknown => "UNKNOWN",
        }
    }
}

/// The storage class UpdateImageStorageClass moves an image to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StorageClass {
    /// `STANDARD`: pullable (a reactivation: the image is `ACTIVATING`, then `ACTIVE`).
    Standard,
    /// `ARCHIVE`: archived, not pullable.
    Archive,
}

impl StorageClass {
    /// ECR's spelling of the target storage class.
    pub fn as_ecr_str(self) -> &'static str {
        match self {
            StorageClass::Standard => "STANDARD",
            StorageClass::Archive => "ARCHIVE",
        }
    }
}

/// ECR bills archived storage for at least this many days: deleting an image archived
/// more recently bills the rest.
pub const ARCHIVE_MINIMUM_DAYS: i64 = 90;

/// What was observed of one repository.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObservedRepository {
    /// The repository.
    pub reference: RepositoryRef,
    /// False when the registry says the repository does not exist.
    pub exists: bool,
    /// Every image, in listing order.
    pub images: Vec<ImageDetail>,
    /// For each index, the digests of its children.
    pub children: HashMap<Digest, Vec<Digest>>,
    /// Indexes whose manifest could not be read (archived ones: ECR does not serve an
    /// archived image): their children are unknown.
    pub unreadable: Vec<Digest>,
    /// The repository's own lifecycle policy, which ECR applies within 24 hours
    /// whatever the plan says.
    pub lifecycle: LifecycleState,
    /// Where its registry replicates its pushes: the removals do not reach them.
    pub replicas: Vec<Replica>,
    /// The pull-through cache rule it falls under: a removed tag comes back on its
    /// next pull.
    pub pull_through_cache: Option<PullThroughCacheRule>,
    /// The configs and layers of the images that are not indexes, read from their
    /// manifests, for the storage accounting. An image missing here could not be read
    /// (archived, and not in the manifest cache): what it stores is unknown.
    pub blobs: ImageBlobs,
}

impl ObservedRepository {
    /// A repository that exists with `images` and nothing else known of it: no index
    /// children, no blobs, no lifecycle policy, no replicas, no pull-through cache.
    pub fn listed(reference: RepositoryRef, images: Vec<ImageDetail>) -> Self {
        Self {
            reference,
            exists: true,
            images,
            children: HashMap::new(),
            unreadable: Vec::new(),
            lifecycle: LifecycleState::None,
            replicas: Vec::new(),
            pull_through_cache: None,
            blobs: ImageBlobs::default(),
        }
    }
}

/// One page of DescribeImages.
#[derive(Clone, Debug, Default)]
pub struct ImagePage {
    /// The images on this page.
    pub images: Vec<ImageDetail>,
    /// The token for the next page, if any.
    pub next_token: Option<String>,
}

/// One page of DescribeRepositories: repository names.
#[derive(Clone, Debug, Default)]
pub struct RepositoryPage {
    /// The repositories on this page.
    pub names: Vec<RepositoryName>,
    /// The token for the next page, if any.
    pub next_token: Option<String>,
}

/// An image identifier as BatchGetImage and BatchDeleteImage take it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ImageId {
    /// By tag: on delete, removes the tag (and the image with its last tag).
    Tag(Tag),
    /// By digest: on delete, removes the image and every tag on it.
    Digest(Digest),
}

impl std::fmt::Display for ImageId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ImageId::Tag(t) => write!(f, "tag {t}"),
            ImageId::Digest(d) => write!(f, "digest {d}"),
        }
    }
}

/// A manifest as BatchGetImage returns it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchedManifest {
    /// The identifier it was asked for.
    pub id: ImageId,
    /// The image's digest.
    pub digest: Digest,
    /// The manifest media type.
    pub media_type: String,
    /// The raw manifest.
    pub manifest: String,
}

/// ECR's per-item failure codes (the SDK enum is non-exhaustive, hence `Other`).
///
/// The names are ECR's spellings: `FailureCode::from("ImageNotFound")` parses one (an
/// unknown code becomes `Other`), and `as_ref()` and `Display` give it back.
#[derive(
    Clone,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    JsonSchema,
    strum::EnumString,
    strum::AsRefStr,
    strum::Display,
)]
pub enum FailureCode {
    /// The image cannot be accessed.
    ImageInaccessible,
    /// No such image (on a removal: already done).
    ImageNotFound,
    /// A child of an index cannot be deleted while the index exists.
    ImageReferencedByManifestList,
    /// A tag and digest were both given and do not match.
    ImageTagDoesNotMatchDigest,
    /// A malformed digest.
    InvalidImageDigest,
    /// A malformed tag.
    InvalidImageTag,
    /// A KMS error.
    KmsError,
    /// An image id with neither tag nor digest.
    MissingDigestAndTag,
    /// Pull-through cache: upstream refused.
    UpstreamAccessDenied,
    /// Pull-through cache: upstream throttled.
    UpstreamTooManyRequests,
    /// Pull-through cache: upstream unavailable.
    UpstreamUnavailable,
    /// A code this version does not know.
    #[strum(default, transparent)]
    Other(String),
}

/// One item that a batch call did not do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ItemFailure {
    /// The identifier as sent.
    pub id: ImageId,
    /// Why.
    pub code: FailureCode,
    /// ECR's explanation.
    pub reason: String,
}

/// The result of BatchGetImage: per item, a manifest or a failure.
#[derive(Clone, Debug, Default)]
pub struct BatchGetResult {
    /// The manifests found.
    pub manifests: Vec<FetchedManifest>,
    /// The identifiers not found or not readable.
    pub failures: Vec<ItemFailure>,
}

/// One identifier that BatchDeleteImage reports as done.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemovedId {
    /// The tag removed, when the request named one.
    pub tag: Option<Tag>,
    /// The digest of the image the tag was on, or of the image deleted.
    pub digest: Digest,
}

/// The result of BatchDeleteImage: partial success is normal.
#[derive(Clone, Debug, Default)]
pub struct BatchDeleteResult {
    /// What was removed.
    pub removed: Vec<RemovedId>,
    /// What was not, with ECR's code.
    pub failures: Vec<ItemFailure>,
}

/// The error codes of a whole call that ECR (or the SDK's AWS layer in front of it)
/// answers and that this tool knows by name: the modeled errors of the operations it
/// calls (DescribeRegistry, DescribeImages, BatchGetImage, BatchDeleteImage, PutImage)
/// and the service-wide ones every AWS API can answer. Codes this version does not
/// know are kept as `Other`, spelled as the service spelled them.
///
/// The names are the services' spellings: `ServiceCode::from("ServerException")` parses
/// one, and `as_ref()` and `Display` give it back.
#[derive(Clone, Debug, PartialEq, Eq, Hash, strum::EnumString, strum::AsRefStr, strum::Display)]
pub enum ServiceCode {
    /// DescribeImages: an image given by id does not exist (the call fails for all).
    ImageNotFoundException,
    /// The repository does not exist.
    RepositoryNotFoundException,
    /// A parameter is invalid (such as more than 100 image ids).
    InvalidParameterException,
    /// DescribeRegistry: the request failed validation.
    ValidationException,
    /// An internal error of the service.
    ServerException,
    /// Too many requests: the service throttled the call.
    ThrottlingException,
    /// BatchGetImage, PutImage: a limit was reached (such as images per repository).
    LimitExceededException,
    /// BatchGetImage: a pull-through cache could not get the image from upstream.
    UnableToGetUpstreamImageException,
    /// PutImage: the image (or this tag on it) exists already.
    ImageAlreadyExistsException,
    /// PutImage: the digest given is not the manifest's.
    ImageDigestDoesNotMatchException,
    /// PutImage: in an immutable repository, the tag names another image.
    ImageTagAlreadyExistsException,
    /// PutImage: a KMS error (an encrypted repository).
    KmsException,
    /// PutImage: the image's layers are gone.
    LayersNotFoundException,
    /// PutImage: child manifests the index lists are gone.
    ReferencedImagesNotFoundException,
    /// The credentials may not make the call.
    AccessDeniedException,
    /// The access key is not known.
    UnrecognizedClientException,
    /// The credentials (a session token) have expired.
    ExpiredTokenException,
    /// The request's signature does not match (such as a wrong secret key).
    InvalidSignatureException,
    /// ECR Public: the registry does not exist (an account without ECR Public).
    RegistryNotFoundException,
    /// ECR Public: the action is not supported in this release.
    UnsupportedCommandException,
    /// GetLifecyclePolicy: the repository has no lifecycle policy.
    LifecyclePolicyNotFoundException,
    /// UpdateImageStorageClass: the change of storage class is not supported (such
    /// as archiving an image that is being reactivated, or any change in ECR Public,
    /// which has no archive).
    ImageStorageClassUpdateNotSupportedException,
    /// Not an ECR code: the in-memory model's answer when a snapshot holds no registry
    /// to learn the caller's account from.
    RegistryNotFound,
    /// A code this version does not know.
    #[strum(default, transparent)]
    Other(String),
}

/// A call that failed as a whole.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RegistryError {
    /// The service said the repository does not exist.
    #[error("repository {0} does not exist")]
    RepositoryNotFound(RepositoryRef),
    /// The service said no (invalid parameter, access denied, throttled after retries…).
    #[error("{}", describe_refusal(code, message))]
    Service {
        /// The AWS error code.
        code: ServiceCode,
        /// The AWS message.
        message: String,
    },
    /// We could not ask (credentials, network, timeout).
    #[error(transparent)]
    Unreachable(Unreachable),
    /// The response did not make sense (such as an index manifest that does not parse).
    #[error("surprising response: {0}")]
    Surprising(String),
}

/// A service refusal in one line; the credential and permission codes say what to do.
fn describe_refusal(code: &ServiceCode, message: &str) -> String {
    let remedy = match code {
        ServiceCode::AccessDeniedException => {
            "the identity lacks a permission listed under IAM permissions in docs/src/aws.md (or a policy denies it)"
        }
        ServiceCode::ExpiredTokenException => {
            "the AWS credentials have expired: refresh them (`aws sso login`, or a new session) and run again"
        }
        ServiceCode::UnrecognizedClientException => {
            "AWS does not know this access key: check AWS_ACCESS_KEY_ID or the profile"
        }
        ServiceCode::InvalidSignatureException => {
            "the secret key does not match the access key: check AWS_SECRET_ACCESS_KEY or the profile"
        }
        _ => return format!("{code}: {message}"),
    };
    if message.is_empty() {
        format!("{code}: {remedy}")
    } else {
        format!("{code}: {message}; {remedy}")
    }
}

impl RegistryError {
    /// A short code for reports: the AWS error code, or what kind of failure it was.
    pub fn code(&self) -> &str {
        match self {
            RegistryError::RepositoryNotFound(_) => {
                ServiceCode::RepositoryNotFoundException.as_ref()
            }
            RegistryError::Service { code, .. } => code.as_ref(),
            RegistryError::Unreachable(_) => "Unreachable",
            RegistryError::Surprising(_) => "SurprisingResponse",
        }
    }

    /// The service's code, when the service answered (a missing repository included).
    pub fn service_code(&self) -> Option<&ServiceCode> {
        match self {
            RegistryError::RepositoryNotFound(_) => Some(&ServiceCode::RepositoryNotFoundException),
            RegistryError::Service { code, .. } => Some(code),
            RegistryError::Unreachable(_) | RegistryError::Surprising(_) => None,
        }
    }

    /// A refusal by the service with this code.
    pub fn service(code: ServiceCode, message: impl Into<String>) -> Self {
        RegistryError::Service {
            code,
            message: message.into(),
        }
    }

    /// An `InvalidParameterException`, as ECR gives for more than 100 ids.
    pub fn invalid_parameter(message: impl Into<String>) -> Self {
        Self::service(ServiceCode::InvalidParameterException, message)
    }
}

/// A registry of container images in ECR's terms. Implementations: the in-memory
/// model (tests, snapshot files) and AWS (`aws`); `backend` picks one per run.
///
/// Calls take fully resolved repository references; an implementation that talks
/// to several accounts or regions routes each call itself.
pub trait Registry: Send + Sync {
    /// The account that owns repositories whose file names no account (the caller's).
    fn caller_account(
        &self,
        region: &Region,
    ) -> impl Future<Output = Result<AccountId, RegistryError>> + Send;

    /// ECR Public's DescribeRegistries: the caller's public registries (one per
    /// account) with their aliases. A registry without ECR Public (a snapshot without
    /// public registries) answers an empty list.
    fn describe_public_registries(
        &self,
    ) -> impl Future<Output = Result<Vec<PublicRegistryInfo>, RegistryError>> + Send;

    /// One page of DescribeRepositories of `registry` (at most 1,000 names).
    fn describe_repositories(
        &self,
        registry: &RegistryLocation,
        next_token: Option<&str>,
    ) -> impl Future<Output = Result<RepositoryPage, RegistryError>> + Send;

    /// One page of DescribeImages (every image status), at most `max_results` images.
    fn describe_images(
        &self,
        repo: &RepositoryRef,
        next_token: Option<&str>,
        max_results: u32,
    ) -> impl Future<Output = Result<ImagePage, RegistryError>> + Send;

    /// One page of DescribeImages of a repository of the caller's own registry in
    /// `region`, without naming the account, with the account that answered (the
    /// `registryId` of its images; `None` for an empty page). It spares the
    /// DescribeRegistry call that [`Registry::caller_account`] makes before the first
    /// listing. By default: the caller's account, then the page.
    fn describe_images_of_caller(
        &self,
        region: &Region,
        name: &RepositoryName,
        max_results: u32,
    ) -> impl Future<Output = Result<(ImagePage, Option<AccountId>), RegistryError>> + Send {
        async move {
            let account = self.caller_account(region).await?;
            let repo = RepositoryRef::private(account.clone(), region.clone(), name.clone());
            let page = self.describe_images(&repo, None, max_results).await?;
            Ok((page, Some(account)))
        }
    }

    /// DescribeImages for up to 100 given images (no paging). Like ECR, it fails as a
    /// whole with `ImageNotFoundException` when one of them does not exist.
    fn describe_images_by_id(
        &self,
        repo: &RepositoryRef,
        ids: &[ImageId],
    ) -> impl Future<Output = Result<Vec<ImageDetail>, RegistryError>> + Send;

    /// BatchGetImage: the manifests of up to 100 images, with every manifest media type accepted.
    fn batch_get_image(
        &self,
        repo: &RepositoryRef,
        ids: &[ImageId],
    ) -> impl Future<Output = Result<BatchGetResult, RegistryError>> + Send;

    /// BatchDeleteImage: removes up to 100 tags or images.
    fn batch_delete_image(
        &self,
        repo: &RepositoryRef,
        ids: &[ImageId],
    ) -> impl Future<Output = Result<BatchDeleteResult, RegistryError>> + Send;

    /// PutImage: stores `manifest` (whose digest must be `digest`) under `tag`, or
    /// untagged. ECR refuses it when layers or child manifests it references are
    /// gone (`LayersNotFoundException`, `ReferencedImagesNotFoundException`), when
    /// the tag is already on this image (`ImageAlreadyExistsException`) and, in an
    /// immutable repository, when the tag is on another image
    /// (`ImageTagAlreadyExistsException`); in a mutable one the tag moves.
    fn put_image(
        &self,
        repo: &RepositoryRef,
        manifest: &PutManifest<'_>,
        tag: Option<&Tag>,
    ) -> impl Future<Output = Result<(), RegistryError>> + Send;

    /// UpdateImageStorageClass: moves the image `digest` to `target`, and answers its
    /// status afterwards (`ARCHIVED`, or `ACTIVATING` on the way back). One image per
    /// call. By default refused without a call
    /// (`ImageStorageClassUpdateNotSupportedException`): ECR Public has no archive.
    fn update_image_storage_class(
        &self,
        repo: &RepositoryRef,
        digest: &Digest,
        target: StorageClass,
    ) -> impl Future<Output = Result<ImageStatus, RegistryError>> + Send {
        let _ = (repo, digest, target);
        async {
            Err(RegistryError::service(
                ServiceCode::ImageStorageClassUpdateNotSupportedException,
                "this registry has no archive storage class",
            ))
        }
    }

    /// DescribeRegistry's replication configuration and DescribePullThroughCacheRules
    /// of the private registry of `account` in `region`. By default: none.
    fn registry_settings(
        &self,
        account: &AccountId,
        region: &Region,
    ) -> impl Future<Output = Result<RegistrySettings, RegistryError>> + Send {
        let _ = (account, region);
        async { Ok(RegistrySettings::default()) }
    }

    /// STS GetCallerIdentity: the principal (ARN) the calls are made as. `None` for a
    /// registry reached without credentials (the in-memory model, a snapshot).
    fn caller_principal(
        &self,
    ) -> impl Future<Output = Result<Option<String>, RegistryError>> + Send {
        async { Ok(None) }
    }

    /// ListPullTimeUpdateExclusions of the private registry of `account` in `region`:
    /// the IAM principals whose pulls do not update `lastRecordedPullTime`. `None` for a
    /// registry that records no pulls (the in-memory model, a snapshot).
    fn pull_time_exclusions(
        &self,
        account: &AccountId,
        region: &Region,
    ) -> impl Future<Output = Result<Option<Vec<String>>, RegistryError>> + Send {
        let _ = (account, region);
        async { Ok(None) }
    }

    /// GetLifecyclePolicy: the text of the repository's lifecycle policy, `None` when it
    /// has none. By default none, without a call: ECR Public has no lifecycle policies.
    fn get_lifecycle_policy(
        &self,
        repo: &RepositoryRef,
    ) -> impl Future<Output = Result<Option<String>, RegistryError>> + Send {
        let _ = repo;
        async { Ok(None) }
    }

    /// DescribeRepositories of one repository: its tag mutability and exclusion
    /// filters. By default ECR's default (every tag mutable), without a call: ECR
    /// Public has no tag immutability.
    fn tag_mutability(
        &self,
        repo: &RepositoryRef,
    ) -> impl Future<Output = Result<TagMutability, RegistryError>> + Send {
        let _ = repo;
        async { Ok(TagMutability::default()) }
    }

    /// Where the private registry of `region` is asked, and how hard, to say so when
    /// it cannot be reached. `None` for a registry that is not reached over a network
    /// (the in-memory model, a snapshot file).
    fn endpoint(&self, region: &Region) -> Option<Endpoint> {
        let _ = region;
        None
    }

    /// True when every future this registry returns is ready when first polled: it
    /// does its work in the call, waiting on no network, timer or pacing (the
    /// in-memory model, a snapshot file). Observation then reads such a registry's
    /// repositories on every core, as the plan engine plans them, instead of one
    /// task's worth of CPU; the manifests of a million images are parsed in half the
    /// time on two cores.
    fn answers_at_once(&self) -> bool {
        false
    }
}

/// Where a registry is asked, and how hard: what a message about a registry that
/// cannot be reached says was tried.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// The URL requests go to.
    pub url: String,
    /// Attempts per call (the first and the retries).
    pub max_attempts: u32,
    /// How long one attempt may take.
    pub attempt_timeout: std::time::Duration,
}

/// An ECR Public registry as DescribeRegistries reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicRegistryInfo {
    /// The account (`registryId`).
    pub account: AccountId,
    /// Its aliases (`public.ecr.aws/ALIAS`).
    pub aliases: Vec<PublicAlias>,
}

/// A manifest to push back with PutImage.
#[derive(Clone, Copy, Debug)]
pub struct PutManifest<'a> {
    /// The raw manifest, byte for byte as it was read.
    pub manifest: &'a str,
    /// Its media type.
    pub media_type: &'a str,
    /// Its digest (sha256 of the bytes): ECR checks it.
    pub digest: &'a Digest,
    /// The size the image had when it was removed, as the journal recorded it. ECR
    /// computes an image's size itself and ignores this; an offline registry (a
    /// snapshot) keeps it, so a restored image has its recorded size again.
    pub size_bytes: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_codes_keep_ecr_spellings_and_their_serde_form() {
        for (code, name) in [
            (FailureCode::ImageNotFound, "ImageNotFound"),
            (
                FailureCode::ImageReferencedByManifestList,
                "ImageReferencedByManifestList",
            ),
            (
                FailureCode::UpstreamTooManyRequests,
                "UpstreamTooManyRequests",
            ),
            (FailureCode::Other("Brand new".into()), "Brand new"),
        ] {
            assert_eq!(FailureCode::from(name), code);
            assert_eq!(code.as_ref(), name);
            assert_eq!(code.to_string(), name);
        }
        assert_eq!(
            serde_json::to_string(&FailureCode::ImageNotFound).unwrap(),
            r#""ImageNotFound""#
        );
        assert_eq!(
            serde_json::to_string(&FailureCode::Other("X".into())).unwrap(),
            r#"{"Other":"X"}"#
        );
    }

    #[test]
    fn service_codes_keep_the_services_spellings() {
        for (code, name) in [
            (
                ServiceCode::ImageNotFoundException,
                "ImageNotFoundException",
            ),
            (ServiceCode::ThrottlingException, "ThrottlingException"),
            (
                ServiceCode::ReferencedImagesNotFoundException,
                "ReferencedImagesNotFoundException",
            ),
            (ServiceCode::Other("Unknown".into()), "Unknown"),
        ] {
            assert_eq!(ServiceCode::from(name), code);
            assert_eq!(code.as_ref(), name);
            assert_eq!(code.to_string(), name);
        }
        let e = RegistryError::service(ServiceCode::InvalidParameterException, "not so");
        assert_eq!(e.to_string(), "InvalidParameterException: not so");
        assert_eq!(e.code(), "InvalidParameterException");
        // Refusals of the credentials say what to do, after the service's message.
        let e = RegistryError::service(ServiceCode::ExpiredTokenException, "expired");
        assert_eq!(
            e.to_string(),
            "ExpiredTokenException: expired; the AWS credentials have expired: refresh them (`aws sso login`, or a new session) and run again"
        );
        let e = RegistryError::service(ServiceCode::from("SomethingNew"), "hm");
        assert_eq!(e.to_string(), "SomethingNew: hm");
        assert_eq!(e.code(), "SomethingNew");
        assert_eq!(
            RegistryError::Unreachable(Unreachable::Timeout).service_code(),
            None
        );
    }
}
