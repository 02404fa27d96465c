//! Request shapes with aws-smithy-mocks: what each call asks ECR Public for (the
//! operation's input as the SDK holds it) and how each answer, typed as the SDK types
//! it, is read back, errors included. The wire form of the same calls is tested with
//! a recording HTTP client in the parent module's tests.

use aws_sdk_ecrpublic::Client;
use aws_sdk_ecrpublic::operation::batch_delete_image::BatchDeleteImageOutput;
use aws_sdk_ecrpublic::operation::describe_images::{DescribeImagesError, DescribeImagesOutput};
use aws_sdk_ecrpublic::operation::describe_registries::DescribeRegistriesOutput;
use aws_sdk_ecrpublic::operation::put_image::PutImageOutput;
use aws_sdk_ecrpublic::primitives::DateTime;
use aws_sdk_ecrpublic::types::error::RepositoryNotFoundException;
use aws_sdk_ecrpublic::types::{
    Image, ImageDetail, ImageFailure, ImageFailureCode, ImageIdentifier, Registry, RegistryAlias,
    RegistryAliasStatus,
};
use aws_smithy_mocks::{RuleMode, mock, mock_client};

use super::*;
use crate::model::Digest;
use crate::registry::FailureCode;

const ACCOUNT: &str = "123456789012";

fn repo() -> RepositoryRef {
    RepositoryRef {
        registry: RegistryLocation::public(
            AccountId::parse(ACCOUNT).unwrap(),
            PublicAlias::parse("my-org").unwrap(),
        ),
        name: RepositoryName::parse("team/app").unwrap(),
    }
}

fn digest(n: u8) -> String {
    format!("sha256:{}", format!("{n:02x}").repeat(32))
}

fn registry(client: Client) -> EcrPublicRegistry {
    let oci = OciClient::new("http://127.0.0.1:9", 1, std::time::Duration::from_secs(1)).unwrap();
    EcrPublicRegistry::from_client(client, oci)
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

#[test]
fn describe_images_asks_for_full_pages_of_the_named_registry() {
    let page = mock!(Client::describe_images)
        .match_requests(|r| {
            r.registry_id() == Some(ACCOUNT)
                && r.repository_name() == Some("team/app")
                && r.max_results() == Some(1000)
                && r.next_token() == Some("t1")
                && r.image_ids().is_empty()
        })
        .then_output(|| {
            DescribeImagesOutput::builder()
                .image_details(
                    ImageDetail::builder()
                        .registry_id(ACCOUNT)
                        .repository_name("team/app")
                        .image_digest(digest(1))
                        .image_tags("v1")
                        .image_tags("latest")
                        .image_pushed_at(DateTime::from_secs(1_700_000_000))
                        .image_manifest_media_type("application/vnd.oci.image.manifest.v1+json")
                        .image_size_in_bytes(42)
                        .build(),
                )
                .next_token("t2")
                .build()
        });
    let client = mock_client!(aws_sdk_ecrpublic, RuleMode::MatchAny, [&page]);
    let reg = registry(client);
    // A page larger than the API allows is asked for as 1000.
    let out = block_on(reg.describe_images(&repo(), Some("t1"), 5_000)).unwrap();
    assert_eq!(page.num_calls(), 1);
    assert_eq!(out.next_token.as_deref(), Some("t2"));
    let image = &out.images[0];
    assert_eq!(image.digest.as_str(), digest(1));
    let tags: Vec<&str> = image.tags.iter().map(|t| t.as_str()).collect();
    assert_eq!(tags, ["v1", "latest"]);
    assert_eq!(image.size_bytes, Some(42));
    assert_eq!(image.status, None, "ECR Public has no image status");
    assert_eq!(image.last_recorded_pull_time, None, "nor pull times");
}

#[test]
fn a_missing_repository_is_typed_with_the_repository() {
    let missing = mock!(Client::describe_images).then_error(|| {
        DescribeImagesError::RepositoryNotFoundException(
            // As deserialized from the wire: the code travels in the error's metadata.
            RepositoryNotFoundException::builder()
                .message("The repository with name 'team/app' does not exist")
                .meta(
                    aws_sdk_ecrpublic::error::ErrorMetadata::builder()
                        .code("RepositoryNotFoundException")
                        .build(),
                )
                .build(),
        )
    });
    let reg = registry(mock_client!(aws_sdk_ecrpublic, [&missing]));
    match block_on(reg.describe_images(&repo(), None, 1000)) {
        Err(RegistryError::RepositoryNotFound(r)) => assert_eq!(r, repo()),
        other => panic!("{other:?}"),
    }
}

#[test]
fn batch_delete_image_sends_tags_and_digests_as_given_and_reads_both_lists() {
    let delete = mock!(Client::batch_delete_image)
        .match_requests(|r| {
            let ids = r.image_ids();
            r.registry_id() == Some(ACCOUNT)
                && r.repository_name() == Some("team/app")
                && ids.len() == 2
                && ids[0].image_tag() == Some("old")
                && ids[0].image_digest().is_none()
                && ids[1].image_digest() == Some(digest(2).as_str())
                && ids[1].image_tag().is_none()
        })
        .then_output(|| {
            BatchDeleteImageOutput::builder()
                .image_ids(
                    ImageIdentifier::builder()
                        .image_tag("old")
                        .image_digest(digest(1))
                        .build(),
                )
                .failures(
                    ImageFailure::builder()
                        .image_id(ImageIdentifier::builder().image_digest(digest(2)).build())
                        .failure_code(ImageFailureCode::ImageReferencedByManifestList)
                        .failure_reason("the index still lists it")
                        .build(),
                )
                .build()
        });
    let reg = registry(mock_client!(aws_sdk_ecrpublic, [&delete]));
    let ids = [
        ImageId::Tag(Tag::parse("old").unwrap()),
        ImageId::Digest(Digest::parse(digest(2)).unwrap()),
    ];
    let out = block_on(reg.batch_delete_image(&repo(), &ids)).unwrap();
    assert_eq!(delete.num_calls(), 1);
    assert_eq!(out.removed.len(), 1);
    assert_eq!(out.removed[0].tag.as_ref().unwrap().as_str(), "old");
    assert_eq!(out.removed[0].digest.as_str(), digest(1));
    assert_eq!(out.failures.len(), 1);
    assert_eq!(
        out.failures[0].code,
        FailureCode::ImageReferencedByManifestList
    );
    assert_eq!(out.failures[0].id, ids[1]);
}

#[test]
fn more_than_100_ids_are_refused_before_any_call() {
    let delete =
        mock!(Client::batch_delete_image).then_output(|| BatchDeleteImageOutput::builder().build());
    let reg = registry(mock_client!(aws_sdk_ecrpublic, [&delete]));
    let ids: Vec<ImageId> = (0..101)
        .map(|i| ImageId::Tag(Tag::parse(format!("t{i}")).unwrap()))
        .collect();
    assert!(block_on(reg.batch_delete_image(&repo(), &ids)).is_err());
    assert_eq!(delete.num_calls(), 0);
}

#[test]
fn put_image_names_the_digest_and_refuses_an_answer_for_another() {
    let manifest = r#"{"schemaVersion":2}"#;
    let d = Digest::parse(digest(3)).unwrap();
    let put = mock!(Client::put_image)
        .match_requests(move |r| {
            r.registry_id() == Some(ACCOUNT)
                && r.repository_name() == Some("team/app")
                && r.image_manifest() == Some(manifest)
                && r.image_manifest_media_type()
                    == Some("application/vnd.oci.image.manifest.v1+json")
                && r.image_digest() == Some(digest(3).as_str())
                && r.image_tag() == Some("v1")
        })
        .sequence()
        .output(|| {
            PutImageOutput::builder()
                .image(
                    Image::builder()
                        .image_id(ImageIdentifier::builder().image_digest(digest(3)).build())
                        .build(),
                )
                .build()
        })
        .output(|| {
            PutImageOutput::builder()
                .image(
                    Image::builder()
                        .image_id(ImageIdentifier::builder().image_digest(digest(4)).build())
                        .build(),
                )
                .build()
        })
        .build();
    let reg = registry(mock_client!(aws_sdk_ecrpublic, [&put]));
    let put_manifest = PutManifest {
        manifest,
        media_type: "application/vnd.oci.image.manifest.v1+json",
        digest: &d,
        size_bytes: None,
    };
    let tag = Tag::parse("v1").unwrap();
    block_on(reg.put_image(&repo(), &put_manifest, Some(&tag))).unwrap();
    match block_on(reg.put_image(&repo(), &put_manifest, Some(&tag))) {
        Err(RegistryError::Surprising(why)) => assert!(why.contains(&digest(4)), "{why}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(put.num_calls(), 2);
}

#[test]
fn describe_registries_reads_every_alias_of_every_page() {
    let registries = mock!(Client::describe_registries)
        .match_requests(|r| r.max_results() == Some(1000))
        .sequence()
        .output(|| {
            DescribeRegistriesOutput::builder()
                .registries(
                    Registry::builder()
                        .registry_id(ACCOUNT)
                        .registry_arn(format!("arn:aws:ecr-public::{ACCOUNT}:registry/{ACCOUNT}"))
                        .registry_uri("public.ecr.aws/my-org")
                        .verified(false)
                        .aliases(
                            RegistryAlias::builder()
                                .name("my-org")
                                .status(RegistryAliasStatus::Active)
                                .primary_registry_alias(true)
                                .default_registry_alias(true)
                                .build()
                                .unwrap(),
                        )
                        .build()
                        .unwrap(),
                )
                .next_token("more")
                .build()
                .unwrap()
        })
        .output(|| {
            DescribeRegistriesOutput::builder()
                .set_registries(Some(Vec::new()))
                .build()
                .unwrap()
        })
        .build();
    let reg = registry(mock_client!(aws_sdk_ecrpublic, [&registries]));
    let found = block_on(reg.describe_registries()).unwrap();
    assert_eq!(registries.num_calls(), 2);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].account.as_str(), ACCOUNT);
    assert_eq!(found[0].aliases[0].as_str(), "my-org");
}
