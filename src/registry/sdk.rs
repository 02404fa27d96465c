//! What the two SDK backends of the registry share, private ECR ([`super::aws`]) and
//! ECR Public ([`super::public`]): a call in the registry's terms (within the width,
//! counted, its error a [`RegistryError`]), and the reading of the answers the two
//! APIs give alike. Their SDKs have types of the same shape but not the same types:
//! the traits below name the shape once.

use std::future::Future;
use std::sync::Arc;

use aws_sdk_ecr::error::{ProvideErrorMetadata, SdkError};
use chrono::{DateTime, Utc};

use super::{
    CallCounters, FailureCode, ImageDetail, ImageId, ItemFailure, Operation, PutManifest,
    RegistryError, RemovedId, ServiceCode,
};
use crate::aws::{AttemptCounter, CallError};
use crate::model::{Digest, MediaType, RepositoryRef, Tag};

/// An SDK error in the registry's terms; `repo` names the repository of a call on one.
pub(super) fn registry_error(err: CallError, repo: Option<&RepositoryRef>) -> RegistryError {
    match err {
        CallError::Service { code, message } => match (ServiceCode::from(code.as_str()), repo) {
            (ServiceCode::RepositoryNotFoundException, Some(r)) => {
                RegistryError::RepositoryNotFound(r.clone())
            }
            (code, _) => RegistryError::Service { code, message },
        },
        CallError::Surprising(why) => RegistryError::Surprising(why),
        CallError::Unreachable(why) => RegistryError::Unreachable(why),
    }
}

/// The counters the calls of a run report to, shared by its two backends: calls by
/// operation, attempts and throttling answers, and the width of requests in flight.
#[derive(Clone, Debug)]
pub(super) struct Meter {
    pub(super) calls: Arc<CallCounters>,
    pub(super) attempts: Arc<AttemptCounter>,
}

impl Meter {
    /// Counters at zero, and a width of `max_in_flight`.
    pub(super) fn new(max_in_flight: usize) -> Self {
        Self {
            calls: Arc::default(),
            attempts: Arc::new(AttemptCounter::new(max_in_flight)),
        }
    }

    /// One registry call: within the width, counted as `op`, its error in the
    /// registry's terms.
    pub(super) async fn call<T, E, R>(
        &self,
        op: Operation,
        repo: Option<&RepositoryRef>,
        request: impl Future<Output = Result<T, SdkError<E, R>>>,
    ) -> Result<T, RegistryError>
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug + 'static,
    {
        self.calls.count(op);
        crate::aws::send(Some(&self.attempts.width), request)
            .await
            .map_err(|e| match registry_error(e, repo) {
                // Say what was asked, and of which repository.
                RegistryError::Surprising(why) => RegistryError::Surprising(match repo {
                    Some(r) => format!("{} of {r} answered {why}", op.asked()),
                    None => format!("{} answered {why}", op.asked()),
                }),
                other => other,
            })
    }
}

pub(super) fn surprising(what: &str, e: impl std::fmt::Display) -> RegistryError {
    RegistryError::Surprising(format!("{what}: {e}"))
}

/// An instant of an answer; `field` names it if it is out of range.
pub(super) fn instant(
    t: &aws_sdk_ecr::primitives::DateTime,
    field: &str,
) -> Result<DateTime<Utc>, RegistryError> {
    crate::aws::instant(t)
        .ok_or_else(|| RegistryError::Surprising(format!("{field} out of range: {}", t.secs())))
}

/// An image as both DescribeImages report it: digest, tags, push time. Each backend
/// adds what its API reports besides.
pub(super) fn detail_of(
    digest: Option<&str>,
    tags: &[String],
    pushed_at: Option<&aws_sdk_ecr::primitives::DateTime>,
) -> Result<ImageDetail, RegistryError> {
    let digest =
        Digest::parse(digest.unwrap_or_default()).map_err(|e| surprising("imageDigest", e))?;
    let tags = tags
        .iter()
        .map(|t| Tag::parse(t.as_str()).map_err(|e| surprising("imageTags", e)))
        .collect::<Result<Vec<_>, _>>()?;
    let pushed_at = pushed_at
        .ok_or_else(|| RegistryError::Surprising("an image without imagePushedAt".into()))?;
    Ok(ImageDetail::new(
        digest,
        tags,
        instant(pushed_at, "imagePushedAt")?,
    ))
}

/// The media types of an image, as reported.
pub(super) fn media_type(t: Option<&str>) -> Option<MediaType> {
    t.map(MediaType::from)
}

/// An `ImageIdentifier` of either SDK.
pub(super) trait SdkImageId: Sized {
    /// Its tag.
    fn tag(&self) -> Option<&str>;
    /// Its digest.
    fn digest(&self) -> Option<&str>;
    /// The identifier of `id`, to send.
    fn of(id: &ImageId) -> Self;
}

/// An `ImageFailure` of either SDK.
pub(super) trait SdkImageFailure {
    /// Its identifier type.
    type Id: SdkImageId;
    /// The image it is about.
    fn id(&self) -> Option<&Self::Id>;
    /// Its code.
    fn code(&self) -> Option<&str>;
    /// Its reason.
    fn reason(&self) -> Option<&str>;
}

macro_rules! sdk_image_types {
    ($sdk:ident) => {
        impl SdkImageId for $sdk::types::ImageIdentifier {
            fn tag(&self) -> Option<&str> {
                self.image_tag()
            }

            fn digest(&self) -> Option<&str> {
                self.image_digest()
            }

            fn of(id: &ImageId) -> Self {
                let builder = Self::builder();
                match id {
                    ImageId::Tag(t) => builder.image_tag(t.as_str()).build(),
                    ImageId::Digest(d) => builder.image_digest(d.as_str()).build(),
                }
            }
        }

        impl SdkImageFailure for $sdk::types::ImageFailure {
            type Id = $sdk::types::ImageIdentifier;

            fn id(&self) -> Option<&Self::Id> {
                self.image_id()
            }

            fn code(&self) -> Option<&str> {
                self.failure_code().map(|c| c.as_str())
            }

            fn reason(&self) -> Option<&str> {
                self.failure_reason()
            }
        }
    };
}

sdk_image_types!(aws_sdk_ecr);
sdk_image_types!(aws_sdk_ecrpublic);

/// The identifiers of `ids`, to send.
pub(super) fn identifiers<I: SdkImageId>(ids: &[ImageId]) -> Option<Vec<I>> {
    Some(ids.iter().map(I::of).collect())
}

/// The identifier as sent, recovered from what the service echoes back.
pub(super) fn echoed<I: SdkImageId>(id: Option<&I>) -> Result<ImageId, RegistryError> {
    let id = id.ok_or_else(|| RegistryError::Surprising("a failure without an image id".into()))?;
    if let Some(t) = id.tag() {
        return Tag::parse(t)
            .map(ImageId::Tag)
            .map_err(|e| surprising("tag in response", e));
    }
    match id.digest() {
        Some(d) => Digest::parse(d)
            .map(ImageId::Digest)
            .map_err(|e| surprising("digest in response", e)),
        None => Err(RegistryError::Surprising(
            "an image id with neither tag nor digest".into(),
        )),
    }
}

/// The failures of a batch call, one per image.
pub(super) fn failures<F: SdkImageFailure>(items: &[F]) -> Result<Vec<ItemFailure>, RegistryError> {
    items
        .iter()
        .map(|f| {
            Ok(ItemFailure {
                id: echoed(f.id())?,
                code: f
                    .code()
                    .map_or_else(|| FailureCode::Other("Unknown".into()), FailureCode::from),
                reason: f.reason().unwrap_or("").to_owned(),
            })
        })
        .collect()
}

/// What BatchDeleteImage says it removed.
pub(super) fn removed<I: SdkImageId>(ids: &[I]) -> Result<Vec<RemovedId>, RegistryError> {
    ids.iter()
        .map(|id| {
            let digest = id.digest().ok_or_else(|| {
                RegistryError::Surprising("BatchDeleteImage reported an id without a digest".into())
            })?;
            Ok(RemovedId {
                tag: id
                    .tag()
                    .map(Tag::parse)
                    .transpose()
                    .map_err(|e| RegistryError::Surprising(e.to_string()))?,
                digest: Digest::parse(digest)
                    .map_err(|e| RegistryError::Surprising(e.to_string()))?,
            })
        })
        .collect()
}

/// PutImage's answer: the registry computes the digest itself, and it must be the one
/// pushed.
pub(super) fn check_stored(
    stored: Option<&str>,
    manifest: &PutManifest<'_>,
) -> Result<(), RegistryError> {
    match stored {
        Some(d) if d != manifest.digest.as_str() => Err(RegistryError::Surprising(format!(
            "PutImage stored digest {d}, not {}",
            manifest.digest
        ))),
        _ => Ok(()),
    }
}

/// PutImage of `manifest` under `tag` (or untagged) on either SDK's client, counted
/// as `op`: the builders and answers are alike, not the same types. The registry
/// computes the digest itself: it must be the one pushed.
macro_rules! put_image {
    ($meter:expr, $op:expr, $client:expr, $account:expr, $repo:expr, $manifest:expr, $tag:expr) => {{
        let request = $client
            .put_image()
            .registry_id($account.as_str())
            .repository_name($repo.name.as_str())
            .image_manifest($manifest.manifest)
            .image_manifest_media_type($manifest.media_type)
            .image_digest($manifest.digest.as_str())
            .set_image_tag($tag.map(|t| t.as_str().to_owned()))
            .send();
        let out = $meter.call($op, Some($repo), request).await?;
        let stored = out
            .image()
            .and_then(|i| i.image_id())
            .and_then(|i| i.image_digest());
        super::sdk::check_stored(stored, $manifest)
    }};
}
pub(super) use put_image;

/// BatchDeleteImage of up to 100 `ids` on either SDK's client, counted as `op`.
macro_rules! batch_delete_image {
    ($meter:expr, $op:expr, $client:expr, $account:expr, $repo:expr, $ids:expr) => {{
        // Never send what ECR would refuse (and what moto answers with HTTP 500).
        super::check_batch($ids)?;
        let request = $client
            .batch_delete_image()
            .registry_id($account.as_str())
            .repository_name($repo.name.as_str())
            .set_image_ids(super::sdk::identifiers($ids))
            .send();
        let out = $meter.call($op, Some($repo), request).await?;
        Ok(super::BatchDeleteResult {
            removed: super::sdk::removed(out.image_ids())?,
            failures: super::sdk::failures(out.failures())?,
        })
    }};
}
pub(super) use batch_delete_image;

/// A DescribeImages request on either SDK's client: one page of a repository
/// (`filter` is private ECR's status filter).
macro_rules! describe_images_page {
    ($client:expr, $account:expr, $repo:expr, $next:expr, $max:expr) => {
        $client
            .describe_images()
            .registry_id($account.as_str())
            .repository_name($repo.name.as_str())
            .max_results(i32::try_from($max.min(super::MAX_PAGE_SIZE)).unwrap_or(1000))
            .set_next_token($next.map(str::to_owned))
    };
}
pub(super) use describe_images_page;

/// One page of DescribeImages of either SDK, each image read by `detail`.
macro_rules! image_page {
    ($out:expr, $detail:expr) => {
        super::ImagePage {
            images: $out
                .image_details()
                .iter()
                .map($detail)
                .collect::<Result<_, _>>()?,
            next_token: $out.next_token().map(str::to_owned),
        }
    };
}
pub(super) use image_page;
