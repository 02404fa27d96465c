//! The confirmation of each request, just before it is sent: what the registry holds
//! now for its identifiers (and the manifests for the journal), and for each planned
//! removal whether it still holds, is done already, or must be skipped, with why.

use std::collections::HashMap;

use crate::model::{Digest, Tag};
use crate::plan::{Action, ActionKind};
use crate::registry::observe::{list_all, subject_of};
use crate::registry::{ImageDetail, ImageId, Registry, RegistryError, ServiceCode};

use super::steps::Step;

/// A manifest read for the journal: its media type and text, or why it could not be
/// read.
pub(super) type ManifestRead = Result<(String, String), String>;

/// Whether an image planned for deletion stays: present now, and it gained a tag
/// (its removals are skipped), or its removals here are withheld. (Its other tags may
/// be removed by another request of the same wave: that alone does not keep it.)
pub(super) fn stays(action: &Action, withheld: bool, view: &View<'_>) -> bool {
    match view.tags.get(&action.digest) {
        None => false,
        Some(tags) => withheld || tags.iter().any(|t| !action.tags.contains(t)),
    }
}

/// The confirmed state of some identifiers: DescribeImages of exactly those (ECR then
/// fails for all when one is gone: the repository is listed instead).
pub(super) async fn read_current<R: Registry>(
    registry: &R,
    reference: &crate::model::RepositoryRef,
    ids: &[ImageId],
) -> Result<Vec<ImageDetail>, RegistryError> {
    match registry.describe_images_by_id(reference, ids).await {
        Ok(images) => Ok(images),
        Err(RegistryError::Service {
            code: ServiceCode::ImageNotFoundException,
            ..
        }) => list_all(registry, reference).await,
        Err(RegistryError::RepositoryNotFound(_)) => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// Gives the confirmed images their subjects from the manifests read for the journal
/// where the registry's answer has none: ECR Public's DescribeImages reports no
/// subject, and without it the confirmation would not see that a referrer's subject
/// stays (the plan saw it: it read the same manifests). A digest names its manifest
/// for good, so the manifest's `subject` is the image's.
pub(super) fn add_subjects(images: &mut [ImageDetail], manifests: &HashMap<Digest, ManifestRead>) {
    for image in images.iter_mut().filter(|i| i.subject.is_none()) {
        if let Some(Ok((_, manifest))) = manifests.get(&image.digest)
            && let Ok(Some(subject)) = subject_of(manifest)
        {
            image.subject = Some(subject);
        }
    }
}

/// The manifests of the images of a request, for the journal (a digest names its
/// manifest for good), or why each could not be read.
pub(super) async fn read_manifests<R: Registry>(
    registry: &R,
    reference: &crate::model::RepositoryRef,
    digests: &[ImageId],
) -> HashMap<Digest, ManifestRead> {
    let mut out = HashMap::with_capacity(digests.len());
    match registry.batch_get_image(reference, digests).await {
        Ok(got) => {
            for m in got.manifests {
                // Only a manifest that hashes to its digest can bring the image back.
                let read = match m.digest.mismatch(m.manifest.as_bytes()) {
                    None => Ok((m.media_type, m.manifest)),
                    Some(computed) => Err(format!(
                        "BatchGetImage returned a manifest that hashes to {computed}, not to the image's digest (a snapshot file without the image's `manifest` returns a stand-in)"
                    )),
                };
                out.insert(m.digest, read);
            }
            for f in got.failures {
                if let ImageId::Digest(d) = f.id {
                    out.insert(d, Err(format!("BatchGetImage: {}: {}", f.code, f.reason)));
                }
            }
        }
        Err(e) => {
            for id in digests {
                if let ImageId::Digest(d) = id {
                    out.insert(d.clone(), Err(format!("BatchGetImage failed: {e}")));
                }
            }
        }
    }
    out
}

/// The confirmed state of a request's images.
pub(super) struct View<'i> {
    pub(super) tags: HashMap<&'i Digest, &'i [Tag]>,
    pub(super) owner: HashMap<&'i Tag, &'i Digest>,
    pub(super) subject: HashMap<&'i Digest, &'i Digest>,
}

impl<'i> View<'i> {
    pub(super) fn new(images: &'i [ImageDetail]) -> Self {
        Self {
            tags: images
                .iter()
                .map(|i| (&i.digest, i.tags.as_slice()))
                .collect(),
            owner: owners(images),
            subject: images
                .iter()
                .filter_map(|i| i.subject.as_ref().map(|s| (&i.digest, s)))
                .collect(),
        }
    }

    pub(super) fn exists(&self, digest: &Digest) -> bool {
        self.tags.contains_key(digest)
    }

    pub(super) fn subject(&self, digest: &Digest) -> Option<&'i Digest> {
        self.subject.get(digest).copied()
    }
}

pub(super) enum Decision<'a> {
    Send,
    Gone,
    Skip(Change<'a>),
}

/// Whether the confirmed state still allows a removal.
pub(super) fn decide<'v>(s: &Step, action: &Action, view: &View<'v>) -> Decision<'v> {
    match &s.id {
        ImageId::Tag(t) => match tag_now(&s.digest, view.owner.get(t).copied()) {
            TagNow::Gone => Decision::Gone,
            TagNow::Moved(d) => Decision::Skip(Change::TagMoved(d)),
            TagNow::Here => {
                let tags = view.tags[&s.digest];
                let stays = tags.iter().any(|x| !action.tags.contains(x));
                let new = new_tags(tags, action);
                match s.kind {
                    ActionKind::Untag if !stays => Decision::Skip(Change::WouldDelete),
                    // An image planned for deletion that gained a tag is left alone
                    // (the next plan decides again).
                    ActionKind::Delete if !new.is_empty() => Decision::Skip(Change::NewTags(new)),
                    _ => Decision::Send,
                }
            }
        },
        ImageId::Digest(d) => match view.tags.get(d) {
            None => Decision::Gone,
            Some(tags) if !tags.is_empty() => {
                Decision::Skip(Change::NewTags(new_tags(tags, action)))
            }
            Some(_) => Decision::Send,
        },
    }
}

/// Why a planned removal is left alone: the registry changed since the plan. The
/// same rules hold at the confirming listing and just before each request.
pub(super) enum Change<'a> {
    /// The tag now names another image.
    TagMoved(&'a Digest),
    /// Removing the tag now would remove the image's last tag.
    WouldDelete,
    /// An image planned for deletion has tags the plan did not see.
    NewTags(Vec<&'a Tag>),
}

impl Change<'_> {
    pub(super) fn reason(&self) -> String {
        match self {
            Change::TagMoved(d) => format!("tag moved to image {} since the plan", d.short()),
            Change::WouldDelete => {
                "removing it now would delete the image: the tags it was to keep are gone".into()
            }
            Change::NewTags(tags) => {
                let names: Vec<&str> = tags.iter().map(|t| t.as_str()).collect();
                format!(
                    "image has new tags since the plan ({}); it stays",
                    names.join(", ")
                )
            }
        }
    }
}

/// Where a planned tag is now.
pub(super) enum TagNow<'a> {
    /// On no image: its removal is done.
    Gone,
    /// On another image.
    Moved(&'a Digest),
    /// Still on the planned image.
    Here,
}

pub(super) fn tag_now<'a>(planned: &Digest, owner: Option<&'a Digest>) -> TagNow<'a> {
    match owner {
        None => TagNow::Gone,
        Some(d) if d != planned => TagNow::Moved(d),
        Some(_) => TagNow::Here,
    }
}

/// Tags on an image now that its action neither removes nor keeps.
pub(super) fn new_tags<'t>(now: &'t [Tag], action: &Action) -> Vec<&'t Tag> {
    now.iter()
        .filter(|t| !action.tags.contains(t) && !action.kept_tags.contains(t))
        .collect()
}

/// Tag -> image, of a set of images.
pub(super) fn owners(images: &[ImageDetail]) -> HashMap<&Tag, &Digest> {
    images
        .iter()
        .flat_map(|i| i.tags.iter().map(move |t| (t, &i.digest)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_confirmed_image_without_a_subject_takes_its_manifests() {
        let digest = |n: u32| Digest::parse(format!("sha256:{n:064x}")).unwrap();
        let referrer = format!(
            r#"{{"schemaVersion":2,"subject":{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{}","size":1}}}}"#,
            digest(1)
        );
        let mut images = vec![
            ImageDetail::new(digest(2), Vec::new(), chrono::DateTime::UNIX_EPOCH),
            ImageDetail::new(digest(3), Vec::new(), chrono::DateTime::UNIX_EPOCH),
            ImageDetail::new(digest(4), Vec::new(), chrono::DateTime::UNIX_EPOCH),
        ];
        images[2].subject = Some(digest(9));
        let manifests: HashMap<Digest, ManifestRead> = [
            (digest(2), Ok(("m".to_owned(), referrer.clone()))),
            (digest(3), Err("unreadable".to_owned())),
            (digest(4), Ok(("m".to_owned(), referrer))),
        ]
        .into_iter()
        .collect();
        add_subjects(&mut images, &manifests);
        let subjects: Vec<Option<Digest>> = images.into_iter().map(|i| i.subject).collect();
        // From the manifest; unknown without one; the registry's own answer stays.
        assert_eq!(subjects, [Some(digest(1)), None, Some(digest(9))]);
    }
}
