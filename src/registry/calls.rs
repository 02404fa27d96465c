//! The calls a registry serves, counted by operation, and the retries its client saw.

use std::sync::atomic::{AtomicU64, Ordering};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How many calls of each operation a registry has served.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CallCounts {
    /// DescribeImages calls.
    pub describe_images: u64,
    /// BatchGetImage calls.
    pub batch_get_image: u64,
    /// BatchDeleteImage calls.
    pub batch_delete_image: u64,
    /// PutImage calls (by `restore`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub put_image: u64,
    /// Other calls (DescribeRegistry, to learn the caller's account).
    #[serde(default)]
    pub other: u64,
    /// GetLifecyclePolicy calls, one per private repository read.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub get_lifecycle_policy: u64,
    /// DescribeRegistry and DescribePullThroughCacheRules calls that read a registry's
    /// replication and pull-through cache rules: two per account and region.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub registry_settings: u64,
    /// DescribeRepositories calls that read one repository's tag mutability (`restore`
    /// and `snapshot`: one per private repository).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub tag_mutability: u64,
    /// UpdateImageStorageClass calls (`apply`'s archives and reactivations, `restore`'s
    /// reactivations: one per image).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub update_image_storage_class: u64,
    /// STS AssumeRole calls: one per account with a `registry.role` (its session),
    /// and one more each time a session's credentials were renewed before expiry;
    /// absent when no file names a role.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub assume_role: u64,
    /// Calls to ECR Public (its API and its registry's OCI distribution API), counted
    /// apart; absent when there were none.
    #[serde(default, skip_serializing_if = "PublicCallCounts::is_zero")]
    pub ecr_public: PublicCallCounts,
}

/// How many calls of each kind ECR Public has served.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PublicCallCounts {
    /// ECR Public DescribeImages calls.
    pub describe_images: u64,
    /// ECR Public BatchDeleteImage calls.
    pub batch_delete_image: u64,
    /// ECR Public PutImage calls (by `restore`).
    #[serde(default)]
    pub put_image: u64,
    /// Manifest reads (`GET /v2/ALIAS/NAME/manifests/DIGEST`) from the public
    /// registry: ECR Public has no BatchGetImage.
    pub manifest_gets: u64,
    /// Pull tokens asked for (`GET /token`), at most one per repository.
    #[serde(default)]
    pub token_gets: u64,
    /// Other calls (DescribeRegistries, DescribeRepositories).
    #[serde(default)]
    pub other: u64,
}

impl PublicCallCounts {
    fn is_zero(&self) -> bool {
        *self == Self::default()
    }

    /// Every call, of every kind.
    pub fn total(&self) -> u64 {
        self.describe_images
            + self.batch_delete_image
            + self.put_image
            + self.manifest_gets
            + self.token_gets
            + self.other
    }
}

impl CallCounts {
    /// Every call, of every kind, to either service.
    pub fn total(&self) -> u64 {
        self.describe_images
            + self.batch_get_image
            + self.batch_delete_image
            + self.put_image
            + self.other
            + self.get_lifecycle_policy
            + self.registry_settings
            + self.tag_mutability
            + self.update_image_storage_class
            + self.assume_role
            + self.ecr_public.total()
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Retries and throttling seen by the client of a registry (the SDK's, for AWS; none
/// for the in-memory model).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RetryCounts {
    /// Attempts beyond the first, over all calls.
    pub retries: u64,
    /// Answers that were throttling (HTTP 429, or 400 with ThrottlingException).
    pub throttled: u64,
    /// Answers that were server errors (HTTP 5xx).
    pub server_errors: u64,
    /// When throttling lowered the number of requests in flight: the fewest it went
    /// down to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width_lowered_to: Option<u64>,
    /// Milliseconds calls waited for a token of their quota's budget before they were
    /// sent, summed over calls (see `--api-rate`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub api_wait_ms: u64,
}

/// Thread-safe call counters.
#[derive(Debug, Default)]
pub struct CallCounters {
    describe_images: AtomicU64,
    batch_get_image: AtomicU64,
    batch_delete_image: AtomicU64,
    put_image: AtomicU64,
    other: AtomicU64,
    get_lifecycle_policy: AtomicU64,
    registry_settings: AtomicU64,
    tag_mutability: AtomicU64,
    update_image_storage_class: AtomicU64,
    // Boxed: the counters live in every registry value, and ECR Public is rarely used.
    public: Box<[AtomicU64; 6]>,
}

/// The operations that are counted.
#[derive(Clone, Copy, Debug)]
pub enum Operation {
    /// DescribeImages.
    DescribeImages,
    /// BatchGetImage.
    BatchGetImage,
    /// BatchDeleteImage.
    BatchDeleteImage,
    /// PutImage.
    PutImage,
    /// Anything else.
    Other,
    /// GetLifecyclePolicy.
    GetLifecyclePolicy,
    /// DescribeRegistry or DescribePullThroughCacheRules, for a registry's settings.
    RegistrySettings,
    /// DescribeRepositories of one repository, for its tag mutability.
    TagMutability,
    /// UpdateImageStorageClass.
    UpdateImageStorageClass,
    /// ECR Public DescribeImages.
    PublicDescribeImages,
    /// ECR Public BatchDeleteImage.
    PublicBatchDeleteImage,
    /// ECR Public PutImage.
    PublicPutImage,
    /// A manifest GET from ECR Public's registry.
    PublicManifestGet,
    /// A pull token from ECR Public's registry.
    PublicTokenGet,
    /// Any other ECR Public call.
    PublicOther,
}

impl Operation {
    /// The request, as an error message names it.
    pub fn asked(self) -> &'static str {
        match self {
            Operation::DescribeImages => "DescribeImages",
            Operation::BatchGetImage => "BatchGetImage",
            Operation::BatchDeleteImage => "BatchDeleteImage",
            Operation::PutImage => "PutImage",
            Operation::Other => "a registry call",
            Operation::GetLifecyclePolicy => "GetLifecyclePolicy",
            Operation::RegistrySettings => "a registry settings read",
            Operation::TagMutability => "DescribeRepositories",
            Operation::UpdateImageStorageClass => "UpdateImageStorageClass",
            Operation::PublicDescribeImages => "ECR Public DescribeImages",
            Operation::PublicBatchDeleteImage => "ECR Public BatchDeleteImage",
            Operation::PublicPutImage => "ECR Public PutImage",
            Operation::PublicManifestGet => "an ECR Public manifest GET",
            Operation::PublicTokenGet => "an ECR Public token GET",
            Operation::PublicOther => "an ECR Public call",
        }
    }
}

impl CallCounters {
    /// Counts one call.
    pub fn count(&self, op: Operation) {
        let c = match op {
            Operation::DescribeImages => &self.describe_images,
            Operation::BatchGetImage => &self.batch_get_image,
            Operation::BatchDeleteImage => &self.batch_delete_image,
            Operation::PutImage => &self.put_image,
            Operation::Other => &self.other,
            Operation::GetLifecyclePolicy => &self.get_lifecycle_policy,
            Operation::RegistrySettings => &self.registry_settings,
            Operation::TagMutability => &self.tag_mutability,
            Operation::UpdateImageStorageClass => &self.update_image_storage_class,
            Operation::PublicDescribeImages => &self.public[0],
            Operation::PublicBatchDeleteImage => &self.public[1],
            Operation::PublicPutImage => &self.public[2],
            Operation::PublicManifestGet => &self.public[3],
            Operation::PublicTokenGet => &self.public[4],
            Operation::PublicOther => &self.public[5],
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// The counts so far.
    pub fn counts(&self) -> CallCounts {
        CallCounts {
            describe_images: self.describe_images.load(Ordering::Relaxed),
            batch_get_image: self.batch_get_image.load(Ordering::Relaxed),
            batch_delete_image: self.batch_delete_image.load(Ordering::Relaxed),
            put_image: self.put_image.load(Ordering::Relaxed),
            other: self.other.load(Ordering::Relaxed),
            get_lifecycle_policy: self.get_lifecycle_policy.load(Ordering::Relaxed),
            registry_settings: self.registry_settings.load(Ordering::Relaxed),
            tag_mutability: self.tag_mutability.load(Ordering::Relaxed),
            update_image_storage_class: self.update_image_storage_class.load(Ordering::Relaxed),
            // Counted by the role sessions (`AwsRegistry::calls`).
            assume_role: 0,
            ecr_public: PublicCallCounts {
                describe_images: self.public[0].load(Ordering::Relaxed),
                batch_delete_image: self.public[1].load(Ordering::Relaxed),
                put_image: self.public[2].load(Ordering::Relaxed),
                manifest_gets: self.public[3].load(Ordering::Relaxed),
                token_gets: self.public[4].load(Ordering::Relaxed),
                other: self.public[5].load(Ordering::Relaxed),
            },
        }
    }
}
