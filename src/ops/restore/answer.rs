//! A PutImage's answer: why one failed, in plain words, and what a lost or unreadable
//! answer means, read back from the registry.

use crate::model::{Digest, RepositoryRef, Tag};
use crate::registry::{ImageId, Registry, RegistryError, ServiceCode};

/// A PutImage's outcome, settled: when its answer was lost or could not be read (cut
/// short, an HTML page, a timeout or a reset after it was sent), the push may have
/// been made, so the image is read back; when it is there (with `tag`), the push
/// counts as made.
pub(super) async fn settle<R: Registry>(
    registry: &R,
    repository: &RepositoryRef,
    digest: &Digest,
    tag: Option<&Tag>,
    pushed: Result<(), RegistryError>,
) -> Result<(), RegistryError> {
    match pushed {
        Err(RegistryError::Surprising(_) | RegistryError::Unreachable(_))
            if landed(registry, repository, digest, tag).await =>
        {
            Ok(())
        }
        other => other,
    }
}

/// Whether the image is in the repository now, with `tag` when one is given.
async fn landed<R: Registry>(
    registry: &R,
    repository: &RepositoryRef,
    digest: &Digest,
    tag: Option<&Tag>,
) -> bool {
    let ids = [ImageId::Digest(digest.clone())];
    match registry.describe_images_by_id(repository, &ids).await {
        Ok(images) => images
            .iter()
            .any(|i| &i.digest == digest && tag.is_none_or(|t| i.tags.contains(t))),
        Err(_) => false,
    }
}

/// Why a PutImage failed, and what the user can do, in plain words.
pub(super) fn explain(e: &RegistryError) -> (String, String) {
    let remedy = match e.service_code() {
        Some(ServiceCode::LayersNotFoundException) => {
            "ECR no longer holds the image's layers (it removes them some time after the image is deleted): push the image again from its source"
        }
        Some(ServiceCode::ReferencedImagesNotFoundException) => {
            "the index lists child manifests that are gone: restore or push them first, then run restore again"
        }
        Some(ServiceCode::ImageTagAlreadyExistsException) => {
            "the repository's tags are immutable and the tag names another image now: choose another tag, or make the repository mutable"
        }
        Some(ServiceCode::ImageDigestDoesNotMatchException) => {
            "the registry computed another digest for the saved manifest: the journal was edited or damaged; push the image from its source"
        }
        Some(ServiceCode::RepositoryNotFoundException) => {
            "create the repository (with its old settings), then run restore again"
        }
        Some(ServiceCode::LimitExceededException) => {
            "the repository holds as many images as ECR allows: free room, then run restore again"
        }
        _ => "run restore again later: it skips what is back already",
    };
    (e.to_string(), remedy.to_owned())
}
