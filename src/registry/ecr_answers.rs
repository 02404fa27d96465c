//! ECR's answers in the registry's terms: the image details of DescribeImages, the
//! replication rules of DescribeRegistry, and the filter that asks for every image.

use aws_sdk_ecr::types::{DescribeImagesFilter, ImageStatusFilter, TagStatus};
use chrono::{DateTime, Utc};

use super::sdk::{self, detail_of, media_type};
use super::{ImageDetail, ImageStatus, RegistryError, Replica, ReplicationRule};
use crate::model::{AccountId, Digest, Region};

/// A replication rule as DescribeRegistry reports it.
pub(super) fn replication_rule(
    r: &aws_sdk_ecr::types::ReplicationRule,
) -> Result<ReplicationRule, RegistryError> {
    let destinations = r
        .destinations()
        .iter()
        .map(|d| {
            Ok(Replica {
                region: Region::parse(d.region())
                    .map_err(|e| RegistryError::Surprising(format!("DescribeRegistry: {e}")))?,
                account: AccountId::parse(d.registry_id())
                    .map_err(|e| RegistryError::Surprising(format!("DescribeRegistry: {e}")))?,
            })
        })
        .collect::<Result<Vec<_>, RegistryError>>()?;
    let prefixes = r
        .repository_filters()
        .iter()
        .map(|f| f.filter().to_owned())
        .collect();
    Ok(ReplicationRule {
        destinations,
        prefixes,
    })
}

/// An optional time of an image (pull, archive, restore), as reported.
fn optional_instant(
    t: Option<&aws_sdk_ecr::primitives::DateTime>,
    field: &str,
) -> Result<Option<DateTime<Utc>>, RegistryError> {
    t.map(|t| sdk::instant(t, field)).transpose()
}

pub(super) fn image_status(s: &aws_sdk_ecr::types::ImageStatus) -> ImageStatus {
    use aws_sdk_ecr::types::ImageStatus as Sdk;
    match s {
        Sdk::Active => ImageStatus::Active,
        Sdk::Archived => ImageStatus::Archived,
        Sdk::Activating => ImageStatus::Activating,
        _ => ImageStatus::Unknown,
    }
}

pub(super) fn detail(d: &aws_sdk_ecr::types::ImageDetail) -> Result<ImageDetail, RegistryError> {
    let mut out = detail_of(d.image_digest(), d.image_tags(), d.image_pushed_at())?;
    out.manifest_media_type = media_type(d.image_manifest_media_type());
    out.artifact_media_type = media_type(d.artifact_media_type());
    out.size_bytes = d.image_size_in_bytes().and_then(|s| u64::try_from(s).ok());
    out.subject = d
        .subject_manifest_digest()
        .map(|s| Digest::parse(s).map_err(|e| sdk::surprising("subjectManifestDigest", e)))
        .transpose()?;
    out.status = d.image_status().map(image_status);
    out.last_recorded_pull_time =
        optional_instant(d.last_recorded_pull_time(), "lastRecordedPullTime")?;
    out.last_archived_at = optional_instant(d.last_archived_at(), "lastArchivedAt")?;
    out.last_activated_at = optional_instant(d.last_activated_at(), "lastActivatedAt")?;
    Ok(out)
}

/// Every tag and image status: without the status filter, only active images are
/// returned, and an archived one would look deleted.
pub(super) fn any_image() -> DescribeImagesFilter {
    DescribeImagesFilter::builder()
        .tag_status(TagStatus::Any)
        .image_status(ImageStatusFilter::Any)
        .build()
}
