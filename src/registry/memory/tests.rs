//! Tests of the in-memory model.

use super::*;
use crate::model::Tag;
use chrono::TimeZone;

fn repo() -> RepositoryRef {
    RepositoryRef::for_tests()
}

fn digest(n: u32) -> Digest {
    Digest::parse(format!("sha256:{n:064x}")).unwrap()
}

fn image(n: u32, tags: &[&str], index_of: &[u32]) -> StoredImage {
    let detail = ImageDetail {
        digest: digest(n),
        tags: tags.iter().map(|t| Tag::parse(*t).unwrap()).collect(),
        pushed_at: chrono::Utc
            .timestamp_opt(1_700_000_000 + i64::from(n), 0)
            .unwrap(),
        manifest_media_type: Some(
            if index_of.is_empty() {
                media_type::OCI_MANIFEST
            } else {
                media_type::OCI_INDEX
            }
            .into(),
        ),
        artifact_media_type: None,
        size_bytes: Some(1000),
        subject: None,
        status: None,
        last_recorded_pull_time: None,
        last_archived_at: None,
        last_activated_at: None,
    };
    StoredImage::new(detail, index_of.iter().map(|&c| digest(c)).collect())
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
}

fn tag(t: &str) -> ImageId {
    ImageId::Tag(Tag::parse(t).unwrap())
}

#[test]
fn pages_and_limits() {
    let reg = InMemoryRegistry::new();
    for n in 0..2500 {
        reg.push(&repo(), image(n, &[], &[]));
    }
    block_on(async {
        let p1 = reg.describe_images(&repo(), None, 1000).await.unwrap();
        assert_eq!(p1.images.len(), 1000);
        let p2 = reg
            .describe_images(&repo(), p1.next_token.as_deref(), 1000)
            .await
            .unwrap();
        let p3 = reg
            .describe_images(&repo(), p2.next_token.as_deref(), 1000)
            .await
            .unwrap();
        assert_eq!(p3.images.len(), 500);
        assert!(p3.next_token.is_none());
        assert!(reg.describe_images(&repo(), None, 1001).await.is_err());
        let ids: Vec<ImageId> = (0..101).map(|n| ImageId::Digest(digest(n))).collect();
        assert!(reg.batch_delete_image(&repo(), &ids).await.is_err());
        assert!(reg.batch_get_image(&repo(), &ids).await.is_err());
        assert!(reg.batch_delete_image(&repo(), &[]).await.is_err());
        // Refused requests are not calls made: the AWS backend never sends them.
        assert_eq!(reg.calls().describe_images, 3);
        assert_eq!(reg.calls().batch_delete_image, 0);
        assert_eq!(reg.calls().batch_get_image, 0);
    });
}

#[test]
fn untag_versus_delete() {
    let reg = InMemoryRegistry::new();
    reg.push(&repo(), image(1, &["a", "b"], &[]));
    block_on(async {
        let r = reg.batch_delete_image(&repo(), &[tag("a")]).await.unwrap();
        assert_eq!(r.removed.len(), 1);
        assert_eq!(reg.images(&repo()).unwrap()[0].detail.tags.len(), 1);
        reg.batch_delete_image(&repo(), &[tag("b")]).await.unwrap();
        assert!(
            reg.images(&repo()).unwrap().is_empty(),
            "last tag deletes the image"
        );
        let r = reg.batch_delete_image(&repo(), &[tag("b")]).await.unwrap();
        assert_eq!(r.failures[0].code, FailureCode::ImageNotFound);
    });
}

#[test]
fn a_delete_by_digest_reports_every_tag_the_image_had() {
    let reg = InMemoryRegistry::new();
    reg.push(&repo(), image(1, &["xenial", "latest"], &[]));
    reg.push(&repo(), image(2, &[], &[]));
    block_on(async {
        let ids = [ImageId::Digest(digest(1)), ImageId::Digest(digest(2))];
        let r = reg.batch_delete_image(&repo(), &ids).await.unwrap();
        let reported: Vec<(Option<String>, Digest)> = r
            .removed
            .into_iter()
            .map(|x| (x.tag.map(|t| t.to_string()), x.digest))
            .collect();
        assert_eq!(
            reported,
            [
                (Some("xenial".to_owned()), digest(1)),
                (Some("latest".to_owned()), digest(1)),
                (None, digest(2)),
            ]
        );
    });
}

#[test]
fn index_children_refuse_deletion_until_the_index_is_gone() {
    let reg = InMemoryRegistry::new();
    reg.push(&repo(), image(1, &[], &[]));
    reg.push(&repo(), image(2, &["only"], &[]));
    reg.push(&repo(), image(3, &["multi"], &[1, 2]));
    block_on(async {
        // Index and child in one request: the child still fails.
        let r = reg
            .batch_delete_image(&repo(), &[tag("multi"), ImageId::Digest(digest(1))])
            .await
            .unwrap();
        assert_eq!(r.removed.len(), 1);
        assert_eq!(
            r.failures[0].code,
            FailureCode::ImageReferencedByManifestList
        );
        let r = reg
            .batch_delete_image(&repo(), &[ImageId::Digest(digest(1)), tag("only")])
            .await
            .unwrap();
        assert_eq!(r.removed.len(), 2);
        assert!(reg.images(&repo()).unwrap().is_empty());
    });
}

#[test]
fn removing_the_only_tag_of_a_child_fails() {
    let reg = InMemoryRegistry::new();
    reg.push(&repo(), image(2, &["only"], &[]));
    reg.push(&repo(), image(3, &["multi"], &[2]));
    block_on(async {
        let r = reg
            .batch_delete_image(&repo(), &[tag("only")])
            .await
            .unwrap();
        assert_eq!(
            r.failures[0].code,
            FailureCode::ImageReferencedByManifestList
        );
        assert_eq!(reg.images(&repo()).unwrap().len(), 2);
    });
}

#[test]
fn archived_images_are_listed_and_found_by_id_but_cannot_be_pulled() {
    let reg = InMemoryRegistry::new();
    let mut archived = image(3, &["old-list"], &[1]);
    archived.detail.status = Some(super::super::ImageStatus::Archived);
    reg.push(&repo(), image(1, &[], &[]));
    reg.push(&repo(), archived);
    block_on(async {
        let listed = reg.describe_images(&repo(), None, 1000).await.unwrap();
        assert_eq!(listed.images.len(), 2, "the listing asks for every status");
        let found = reg
            .describe_images_by_id(&repo(), &[tag("old-list")])
            .await
            .unwrap();
        assert_eq!(found[0].digest, digest(3), "so does a lookup by id");
        let got = reg
            .batch_get_image(
                &repo(),
                &[ImageId::Digest(digest(3)), ImageId::Digest(digest(1))],
            )
            .await
            .unwrap();
        assert_eq!(got.manifests.len(), 1);
        assert_eq!(got.failures[0].id, ImageId::Digest(digest(3)));
        assert_eq!(got.failures[0].code, FailureCode::ImageInaccessible);
        // Deleting it is allowed (and billed for the archive's minimum).
        let r = reg
            .batch_delete_image(&repo(), &[tag("old-list")])
            .await
            .unwrap();
        assert_eq!(r.removed.len(), 1);
    });
}

#[test]
fn observing_an_archived_index_leaves_its_children_unknown_without_failing() {
    use crate::registry::observe::observe;
    let reg = InMemoryRegistry::new();
    let mut archived = image(3, &["old-list"], &[1]);
    archived.detail.status = Some(super::super::ImageStatus::Archived);
    reg.push(&repo(), image(1, &[], &[]));
    reg.push(&repo(), archived);
    reg.push(&repo(), image(4, &["v1"], &[1]));
    let observed = block_on(observe(&reg, &repo())).unwrap();
    assert_eq!(observed.unreadable, [digest(3)]);
    assert_eq!(observed.children[&digest(4)], [digest(1)]);
    assert!(!observed.children.contains_key(&digest(3)));
}

/// A manifest of its own for image `n`, and its digest.
fn pushed(n: u32) -> (String, Digest) {
    let m = format!(
        r#"{{"schemaVersion":2,"mediaType":"{}","config":{{"digest":"sha256:{n:064x}"}},"layers":[]}}"#,
        media_type::OCI_MANIFEST
    );
    let d = Digest::parse(crate::hash::sha256(m.as_bytes())).unwrap();
    (m, d)
}

fn put(reg: &InMemoryRegistry, n: u32, t: &str) -> Result<(), RegistryError> {
    let (m, d) = pushed(n);
    let manifest = PutManifest {
        manifest: &m,
        media_type: media_type::OCI_MANIFEST,
        digest: &d,
        size_bytes: None,
    };
    block_on(reg.put_image(&repo(), &manifest, Some(&Tag::parse(t).unwrap())))
}

fn owner(reg: &InMemoryRegistry, t: &str) -> Option<Digest> {
    reg.images(&repo())
        .unwrap()
        .into_iter()
        .find(|i| i.detail.tags.iter().any(|x| x.as_str() == t))
        .map(|i| i.detail.digest)
}

#[test]
fn immutable_tags_refuse_to_move_but_can_be_removed() {
    use crate::registry::{TagMutability, TagMutabilitySetting};
    let reg = InMemoryRegistry::new();
    reg.set_tag_mutability(
        &repo(),
        TagMutability::with_exclusions(
            TagMutabilitySetting::ImmutableWithExclusion,
            vec!["dev-*".to_owned()],
        ),
    );
    put(&reg, 1, "v1").unwrap();
    put(&reg, 1, "dev-1").unwrap();
    put(&reg, 1, "v1-extra").unwrap();
    // An immutable tag on another image: refused, and it stays where it was.
    let refused = put(&reg, 2, "v1").unwrap_err();
    assert_eq!(
        refused.service_code(),
        Some(&ServiceCode::ImageTagAlreadyExistsException),
        "{refused}"
    );
    assert_eq!(owner(&reg, "v1"), Some(pushed(1).1));
    // An excluded tag moves, as in a mutable repository.
    put(&reg, 2, "dev-1").unwrap();
    assert_eq!(owner(&reg, "dev-1"), Some(pushed(2).1));
    // The same tag on the same image is "already there", not a conflict.
    let again = put(&reg, 1, "v1").unwrap_err();
    assert_eq!(
        again.service_code(),
        Some(&ServiceCode::ImageAlreadyExistsException)
    );
    // BatchDeleteImage is not affected: the tag goes, and then it can be pushed anew.
    let done = block_on(reg.batch_delete_image(&repo(), &[tag("v1")])).unwrap();
    assert!(done.failures.is_empty(), "{:?}", done.failures);
    assert_eq!(owner(&reg, "v1"), None);
    put(&reg, 2, "v1").unwrap();
    assert_eq!(owner(&reg, "v1"), Some(pushed(2).1));
    // Each read of the setting is one DescribeRepositories; ECR Public has none.
    let read = block_on(reg.tag_mutability(&repo())).unwrap();
    assert_eq!(read.setting, TagMutabilitySetting::ImmutableWithExclusion);
    assert_eq!(reg.calls().tag_mutability, 1);
    let public = RepositoryRef {
        registry: RegistryLocation::public(
            AccountId::parse("123456789012").unwrap(),
            crate::model::PublicAlias::parse("example").unwrap(),
        ),
        name: RepositoryName::parse("tools/cli").unwrap(),
    };
    assert!(block_on(reg.tag_mutability(&public)).unwrap().is_default());
    assert_eq!(reg.calls().tag_mutability, 1);
}
