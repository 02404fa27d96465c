//! The loopback ECR Public of the test kit (`testkit::ecr_public`), driven as the
//! binary will drive it: the real aws-sdk-ecrpublic client for the API, plain HTTP for
//! the distribution API. What it answers is what the ECR Public API reference
//! documents, so the tests pin exact values.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;

use futures_util::StreamExt as _;

use testkit::ecr_public::sdk::error::{ProvideErrorMetadata, SdkError};
use testkit::ecr_public::sdk::types::{ImageFailureCode, ImageIdentifier};
use testkit::ecr_public::sdk::{self, Client};
use testkit::ecr_public::{ACCOUNT, ALIAS, EcrPublic};
use testkit::moto::{image_manifest, sha256};
use testkit::proxy::{Faults, Proxy};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// A runtime and an SDK client of `server` (retrying as the SDK's standard mode).
fn client(server: &EcrPublic) -> (tokio::runtime::Runtime, Client) {
    client_with(server.sdk_config())
}

/// A client that tries each request once, to see every answer.
fn client_once(server: &EcrPublic) -> (tokio::runtime::Runtime, Client) {
    let conf = server
        .sdk_config()
        .retry_config(sdk::config::retry::RetryConfig::disabled());
    client_with(conf)
}

fn client_with(conf: sdk::config::Builder) -> (tokio::runtime::Runtime, Client) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = rt.block_on(async { Client::from_conf(conf.build()) });
    (rt, client)
}

/// The error code of a failed request.
fn code<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> String {
    e.code().unwrap_or("<none>").to_owned()
}

fn by_digest(d: &str) -> ImageIdentifier {
    ImageIdentifier::builder().image_digest(d).build()
}

fn by_tag(t: &str) -> ImageIdentifier {
    ImageIdentifier::builder().image_tag(t).build()
}

/// An id as (digest, tag), for comparing.
fn pair(id: &ImageIdentifier) -> (Option<String>, Option<String>) {
    (
        id.image_digest().map(str::to_owned),
        id.image_tag().map(str::to_owned),
    )
}

fn some(digest: &str, tag: Option<&str>) -> (Option<String>, Option<String>) {
    (Some(digest.to_owned()), tag.map(str::to_owned))
}

/// An HTTP answer: status, headers (names in lower case), body.
struct Http {
    status: u16,
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
}

impl Http {
    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// One HTTP/1.1 request on a connection of its own.
fn http(url: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Http {
    let addr = url.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).unwrap();
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap();
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an HTTP answer");
    let head = String::from_utf8(answer[..split].to_vec()).unwrap();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Http {
        status,
        headers,
        body: answer[split + 4..].to_vec(),
    }
}

fn get(url: &str, path: &str, headers: &[(&str, &str)]) -> Http {
    http(url, "GET", path, headers, "")
}

/// A signed-looking API request with a raw body (the server does not check
/// signatures, only that there is one).
fn api(url: &str, target: &str, body: &str) -> Http {
    http(
        url,
        "POST",
        "/",
        &[
            ("X-Amz-Target", target),
            ("Content-Type", "application/x-amz-json-1.1"),
            (
                "Authorization",
                "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/ecr-public/aws4_request, SignedHeaders=host, Signature=00",
            ),
        ],
        body,
    )
}

/// A pull token for `repo` of the server's alias.
fn pull_token(server: &EcrPublic, repo: &str) -> String {
    let answer = get(
        &server.url(),
        &format!(
            "/token?scope=repository:{}/{repo}:pull&service=public.ecr.aws",
            server.alias()
        ),
        &[],
    );
    assert_eq!(answer.status, 200);
    answer.json()["token"].as_str().unwrap().to_owned()
}

#[test]
fn describe_images_pages_of_1000() {
    let server = EcrPublic::start();
    let (rt, client) = client(&server);
    let pushed: Vec<String> = (0..2500)
        .map(|i| server.push_image("big", &format!("s{i}"), &[]))
        .collect();
    server.clear_calls();
    let mut pages = Vec::new();
    let mut next = None;
    loop {
        let out = rt
            .block_on(
                client
                    .describe_images()
                    .repository_name("big")
                    .max_results(1000)
                    .set_next_token(next)
                    .send(),
            )
            .unwrap();
        pages.push(
            out.image_details()
                .iter()
                .map(|d| d.image_digest().unwrap().to_owned())
                .collect::<Vec<_>>(),
        );
        next = out.next_token().map(str::to_owned);
        if next.is_none() {
            break;
        }
    }
    assert_eq!(
        pages.iter().map(Vec::len).collect::<Vec<_>>(),
        [1000, 1000, 500]
    );
    // In push order, each image once.
    assert_eq!(pages.concat(), pushed);
    assert_eq!(server.calls()["DescribeImages"], 3);

    // Without maxResults: pages of 100.
    let first = rt
        .block_on(client.describe_images().repository_name("big").send())
        .unwrap();
    assert_eq!(first.image_details().len(), 100);
    assert!(first.next_token().is_some());
    // The paginator reads them all.
    let all: Vec<_> = rt
        .block_on(
            client
                .describe_images()
                .repository_name("big")
                .max_results(1000)
                .into_paginator()
                .items()
                .send()
                .collect::<Vec<_>>(),
        )
        .into_iter()
        .map(|d| d.unwrap().image_digest().unwrap().to_owned())
        .collect();
    assert_eq!(all, pushed);

    for bad in [0, 1001] {
        let e = rt
            .block_on(
                client
                    .describe_images()
                    .repository_name("big")
                    .max_results(bad)
                    .send(),
            )
            .unwrap_err();
        assert_eq!(code(&e), "InvalidParameterException", "maxResults {bad}");
    }
    let e = rt
        .block_on(
            client
                .describe_images()
                .repository_name("big")
                .next_token("not a token")
                .send(),
        )
        .unwrap_err();
    assert_eq!(code(&e), "InvalidParameterException");
}

#[test]
fn describe_images_fields() {
    let server = EcrPublic::start();
    let (rt, client) = client(&server);
    let image = server.push_image("app", "one", &["v2", "v1"]);
    let untagged = server.push_image("app", "two", &[]);
    let index = server.push_index("app", &[&image, &untagged], &["multi"]);
    let out = rt
        .block_on(client.describe_images().repository_name("app").send())
        .unwrap();
    let details = out.image_details();
    assert_eq!(details.len(), 3);
    let d = &details[0];
    assert_eq!(d.registry_id(), Some(ACCOUNT));
    assert_eq!(d.repository_name(), Some("app"));
    assert_eq!(d.image_digest(), Some(image.as_str()));
    assert_eq!(d.image_tags(), ["v1", "v2"]);
    // The layers of testkit::moto::image_manifest: 1 MB and 2 MB.
    assert_eq!(d.image_size_in_bytes(), Some(3_000_000));
    assert_eq!(d.image_manifest_media_type(), Some(OCI_MANIFEST));
    assert_eq!(
        d.artifact_media_type(),
        Some("application/vnd.oci.image.config.v1+json")
    );
    let pushed = d.image_pushed_at().unwrap().to_millis().unwrap();
    let now = chrono::Utc::now().timestamp_millis();
    assert!(
        (now - 60_000..=now).contains(&pushed),
        "pushed at {pushed}, now {now}"
    );
    assert!(details[1].image_tags().is_empty());
    assert_eq!(details[2].image_digest(), Some(index.as_str()));
    assert_eq!(details[2].image_manifest_media_type(), Some(OCI_INDEX));
    assert_eq!(details[2].artifact_media_type(), None);

    // On the wire: no image status and no pull time (ECR Public has neither), and no
    // imageTags on an untagged image.
    let raw = api(
        &server.url(),
        "SpencerFrontendService.DescribeImages",
        r#"{"repositoryName":"app"}"#,
    );
    assert_eq!(raw.status, 200);
    assert_eq!(raw.headers["content-type"], "application/x-amz-json-1.1");
    let raw = raw.json();
    let keys = |i: usize| {
        raw["imageDetails"][i]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect::<Vec<_>>()
    };
    assert_eq!(
        keys(0),
        [
            "artifactMediaType",
            "imageDigest",
            "imageManifestMediaType",
            "imagePushedAt",
            "imageSizeInBytes",
            "imageTags",
            "registryId",
            "repositoryName"
        ]
    );
    assert!(!keys(1).contains(&"imageTags".to_owned()));
    assert!(raw["imageDetails"][0]["imagePushedAt"].is_f64());
}

#[test]
fn describe_images_by_id() {
    let server = EcrPublic::start();
    let (rt, client) = client(&server);
    let a = server.push_image("app", "a", &["a"]);
    let b = server.push_image("app", "b", &[]);
    let out = rt
        .block_on(
            client
                .describe_images()
                .repository_name("app")
                .image_ids(by_tag("a"))
                .image_ids(by_digest(&b))
                .image_ids(by_digest(&a))
                .send(),
        )
        .unwrap();
    let digests: Vec<_> = out
        .image_details()
        .iter()
        .map(|d| d.image_digest().unwrap())
        .collect();
    assert_eq!(digests, [a.as_str(), b.as_str()]);

    let missing = sha256("missing");
    let e = rt
        .block_on(
            client
                .describe_images()
                .repository_name("app")
                .image_ids(by_digest(&a))
                .image_ids(by_digest(&missing))
                .send(),
        )
        .unwrap_err();
    assert_eq!(code(&e), "ImageNotFoundException");
    assert!(e.as_service_error().unwrap().is_image_not_found_exception());
    let e = rt
        .block_on(
            client
                .describe_images()
                .repository_name("app")
                .image_ids(
                    ImageIdentifier::builder()
                        .image_tag("a")
                        .image_digest(&b)
                        .build(),
                )
                .send(),
        )
        .unwrap_err();
    assert_eq!(code(&e), "ImageNotFoundException");

    let many: Vec<_> = (0..101).map(|i| by_tag(&format!("t{i}"))).collect();
    let e = rt
        .block_on(
            client
                .describe_images()
                .repository_name("app")
                .set_image_ids(Some(many))
                .send(),
        )
        .unwrap_err();
    assert_eq!(code(&e), "InvalidParameterException");
    let e = rt
        .block_on(
            client
                .describe_images()
                .repository_name("app")
                .image_ids(by_tag("a"))
                .max_results(10)
                .send(),
        )
        .unwrap_err();
    assert_eq!(code(&e), "InvalidParameterException");

    let e = rt
        .block_on(client.describe_images().repository_name("nope").send())
        .unwrap_err();
    assert!(
        e.as_service_error()
            .unwrap()
            .is_repository_not_found_exception()
    );
    let e = rt
        .block_on(
            client
                .describe_images()
                .registry_id("999999999999")
                .repository_name("app")
                .send(),
        )
        .unwrap_err();
    assert_eq!(code(&e), "RepositoryNotFoundException");
}

#[test]
fn describe_image_tags_pages() {
    let server = EcrPublic::start();
    let (rt, client) = client(&server);
    let tags: Vec<String> = (0..150).map(|i| format!("v{i}")).collect();
    let refs: Vec<&str> = tags.iter().map(String::as_str).collect();
    let digest = server.push_image("app", "one", &refs);
    server.push_image("app", "untagged", &[]);
    let first = rt
        .block_on(client.describe_image_tags().repository_name("app").send())
        .unwrap();
    assert_eq!(first.image_tag_details().len(), 100);
    let second = rt
        .block_on(
            client
                .describe_image_tags()
                .repository_name("app")
                .set_next_token(first.next_token().map(str::to_owned))
                .send(),
        )
        .unwrap();
    assert_eq!(second.image_tag_details().len(), 50);
    assert_eq!(second.next_token(), None);
    // In tagging order.
    let listed: Vec<&str> = first
        .image_tag_details()
        .iter()
        .chain(second.image_tag_details())
        .map(|t| t.image_tag().unwrap())
        .collect();
    assert_eq!(listed, refs);
    let detail = first.image_tag_details()[0].image_detail().unwrap();
    assert_eq!(detail.image_digest(), Some(digest.as_str()));
    assert_eq!(detail.image_size_in_bytes(), Some(3_000_000));
    assert_eq!(detail.image_manifest_media_type(), Some(OCI_MANIFEST));
    assert_eq!(
        detail.artifact_media_type(),
        Some("application/vnd.oci.image.config.v1+json")
    );
    assert!(first.image_tag_details()[0].created_at().is_some());

    // A token of another listing is refused.
    let images = rt
        .block_on(
            client
                .describe_images()
                .repository_name("app")
                .max_results(1)
                .send(),
        )
        .unwrap();
    let e = rt
        .block_on(
            client
                .describe_image_tags()
                .repository_name("app")
                .set_next_token(images.next_token().map(str::to_owned))
                .send(),
        )
        .unwrap_err();
    assert_eq!(code(&e), "InvalidParameterException");
}

#[test]
fn describe_registries_and_repositories() {
    let server = EcrPublic::start_with("210987654321", "my-alias");
    assert_eq!(server.account(), "210987654321");
    assert_eq!(server.alias(), "my-alias");
    let (rt, client) = client(&server);
    let out = rt.block_on(client.describe_registries().send()).unwrap();
    let registries = out.registries();
    assert_eq!(registries.len(), 1);
    assert_eq!(registries[0].registry_id(), "210987654321");
    assert_eq!(
        registries[0].registry_uri(),
        format!("{}/my-alias", server.host())
    );
    let alias = &registries[0].aliases()[0];
    assert_eq!(alias.name(), "my-alias");
    assert_eq!(alias.status().as_str(), "ACTIVE");
    assert!(alias.primary_registry_alias());
    assert!(alias.default_registry_alias());

    for i in 0..5 {
        server.create_repository(&format!("repo{i}"));
    }
    rt.block_on(
        client
            .create_repository()
            .repository_name("team/app")
            .send(),
    )
    .unwrap();
    let e = rt
        .block_on(client.create_repository().repository_name("repo0").send())
        .unwrap_err();
    assert_eq!(code(&e), "RepositoryAlreadyExistsException");
    let all: Vec<String> = rt
        .block_on(
            client
                .describe_repositories()
                .max_results(2)
                .into_paginator()
                .items()
                .send()
                .collect::<Vec<_>>(),
        )
        .into_iter()
        .map(|r| r.unwrap().repository_name().unwrap().to_owned())
        .collect();
    assert_eq!(
        all,
        ["repo0", "repo1", "repo2", "repo3", "repo4", "team/app"]
    );
    assert_eq!(server.calls()["DescribeRepositories"], 3);

    let named = rt
        .block_on(
            client
                .describe_repositories()
                .repository_names("team/app")
                .send(),
        )
        .unwrap();
    let repo = &named.repositories()[0];
    assert_eq!(repo.registry_id(), Some("210987654321"));
    assert_eq!(
        repo.repository_uri(),
        Some(format!("{}/my-alias/team/app", server.host()).as_str())
    );
    assert_eq!(
        repo.repository_arn(),
        Some("arn:aws:ecr-public::210987654321:repository/team/app")
    );
    let e = rt
        .block_on(
            client
                .describe_repositories()
                .repository_names("repo0")
                .repository_names("gone")
                .send(),
        )
        .unwrap_err();
    assert!(
        e.as_service_error()
            .unwrap()
            .is_repository_not_found_exception()
    );
    let e = rt
        .block_on(client.describe_repositories().registry_id(ACCOUNT).send())
        .unwrap_err();
    assert_eq!(code(&e), "RepositoryNotFoundException");
}

#[test]
fn batch_delete_image_takes_1_to_100_ids() {
    let server = EcrPublic::start();
    let (rt, client) = client(&server);
    server.push_image("app", "keep", &["keep"]);
    let e = rt
        .block_on(client.batch_delete_image().repository_name("app").send())
        .unwrap_err();
    assert_eq!(code(&e), "InvalidParameterException");
    let e = rt
        .block_on(
            client
                .batch_delete_image()
                .repository_name("app")
                .set_image_ids(Some(vec![]))
                .send(),
        )
        .unwrap_err();
    assert_eq!(code(&e), "InvalidParameterException");
    let ids = |n: usize| (0..n).map(|i| by_tag(&format!("t{i}"))).collect::<Vec<_>>();
    let e = rt
        .block_on(
            client
                .batch_delete_image()
                .repository_name("app")
                .set_image_ids(Some(ids(101)))
                .send(),
        )
        .unwrap_err();
    assert_eq!(code(&e), "InvalidParameterException");
    assert!(
        e.as_service_error()
            .unwrap()
            .is_invalid_parameter_exception()
    );
    let out = rt
        .block_on(
            client
                .batch_delete_image()
                .repository_name("app")
                .set_image_ids(Some(ids(100)))
                .send(),
        )
        .unwrap();
    assert!(out.image_ids().is_empty());
    assert_eq!(out.failures().len(), 100);
    assert!(
        out.failures()
            .iter()
            .all(|f| f.failure_code() == Some(&ImageFailureCode::ImageNotFound))
    );
    let e = rt
        .block_on(
            client
                .batch_delete_image()
                .repository_name("nope")
                .image_ids(by_tag("keep"))
                .send(),
        )
        .unwrap_err();
    assert!(
        e.as_service_error()
            .unwrap()
            .is_repository_not_found_exception()
    );
    assert_eq!(server.tags("app").len(), 1);
}

#[test]
fn batch_delete_image_failures() {
    let server = EcrPublic::start();
    let (rt, client) = client(&server);
    let a = server.push_image("app", "a", &["a"]);
    let b = server.push_image("app", "b", &["b"]);
    let before = server.images("app");
    let missing = sha256("missing");
    let out = rt
        .block_on(
            client
                .batch_delete_image()
                .repository_name("app")
                .image_ids(ImageIdentifier::builder().build())
                .image_ids(by_digest("not-a-digest"))
                .image_ids(by_tag(""))
                .image_ids(
                    ImageIdentifier::builder()
                        .image_tag("a")
                        .image_digest(&b)
                        .build(),
                )
                .image_ids(by_tag("nope"))
                .image_ids(by_digest(&missing))
                .send(),
        )
        .unwrap();
    assert!(out.image_ids().is_empty());
    let failures: Vec<_> = out
        .failures()
        .iter()
        .map(|f| {
            (
                pair(f.image_id().unwrap()),
                f.failure_code().unwrap().as_str().to_owned(),
            )
        })
        .collect();
    let s = |x: &str| Some(x.to_owned());
    assert_eq!(
        failures,
        [
            ((None, None), "MissingDigestAndTag".to_owned()),
            ((s("not-a-digest"), None), "InvalidImageDigest".to_owned()),
            ((None, s("")), "InvalidImageTag".to_owned()),
            ((s(&b), s("a")), "ImageTagDoesNotMatchDigest".to_owned()),
            ((None, s("nope")), "ImageNotFound".to_owned()),
            ((s(&missing), None), "ImageNotFound".to_owned()),
        ]
    );
    assert_eq!(
        out.failures()[4].failure_reason(),
        Some("Requested image not found")
    );
    assert_eq!(server.images("app"), before);

    // A tag with the digest it is on removes that tag.
    let out = rt
        .block_on(
            client
                .batch_delete_image()
                .repository_name("app")
                .image_ids(
                    ImageIdentifier::builder()
                        .image_tag("a")
                        .image_digest(&a)
                        .build(),
                )
                .send(),
        )
        .unwrap();
    assert_eq!(
        out.image_ids().iter().map(pair).collect::<Vec<_>>(),
        [some(&a, Some("a"))]
    );
    assert!(out.failures().is_empty());
}

#[test]
fn delete_by_digest_reports_each_tag() {
    let server = EcrPublic::start();
    let (rt, client) = client(&server);
    let tagged = server.push_image("app", "tagged", &["c", "a", "b"]);
    let untagged = server.push_image("app", "untagged", &[]);
    let kept = server.push_image("app", "kept", &["kept"]);
    let out = rt
        .block_on(
            client
                .batch_delete_image()
                .repository_name("app")
                .image_ids(by_digest(&tagged))
                .image_ids(by_digest(&untagged))
                .send(),
        )
        .unwrap();
    assert_eq!(
        out.image_ids().iter().map(pair).collect::<Vec<_>>(),
        [
            some(&tagged, Some("a")),
            some(&tagged, Some("b")),
            some(&tagged, Some("c")),
            some(&untagged, None),
        ]
    );
    assert!(out.failures().is_empty());
    assert_eq!(
        server.images("app"),
        BTreeMap::from([(kept, vec!["kept".to_owned()])])
    );
    // Gone: deleting again finds nothing.
    let again = rt
        .block_on(
            client
                .batch_delete_image()
                .repository_name("app")
                .image_ids(by_digest(&tagged))
                .send(),
        )
        .unwrap();
    assert_eq!(
        again.failures()[0].failure_code(),
        Some(&ImageFailureCode::ImageNotFound)
    );
}

#[test]
fn removing_the_last_tag_deletes_the_image() {
    let server = EcrPublic::start();
    let (rt, client) = client(&server);
    let digest = server.push_image("app", "one", &["a", "b"]);
    let delete = |tag: &str| {
        rt.block_on(
            client
                .batch_delete_image()
                .repository_name("app")
                .image_ids(by_tag(tag))
                .send(),
        )
        .unwrap()
    };
    let out = delete("a");
    assert_eq!(
        out.image_ids().iter().map(pair).collect::<Vec<_>>(),
        [some(&digest, Some("a"))]
    );
    assert_eq!(
        server.images("app"),
        BTreeMap::from([(digest.clone(), vec!["b".to_owned()])])
    );
    let out = delete("b");
    assert_eq!(
        out.image_ids().iter().map(pair).collect::<Vec<_>>(),
        [some(&digest, Some("b"))]
    );
    assert!(server.images("app").is_empty());
}

#[test]
fn index_children_stay_while_the_index_exists() {
    let server = EcrPublic::start();
    let (rt, client) = client(&server);
    let amd = server.push_image("app", "amd64", &[]);
    let arm = server.push_image("app", "arm64", &["arm-only"]);
    let shared = server.push_image("app", "shared", &["s1", "s2"]);
    let index = server.push_index("app", &[&amd, &arm, &shared], &["multi"]);
    let listed: serde_json::Value =
        serde_json::from_str(&server.manifest("app", &index).unwrap()).unwrap();
    assert_eq!(listed["manifests"][1]["digest"], arm.as_str());
    assert_eq!(listed["manifests"][1]["platform"]["architecture"], "arm64");

    let delete = |ids: Vec<ImageIdentifier>| {
        rt.block_on(
            client
                .batch_delete_image()
                .repository_name("app")
                .set_image_ids(Some(ids))
                .send(),
        )
        .unwrap()
    };
    let failures = |out: &sdk::operation::batch_delete_image::BatchDeleteImageOutput| {
        out.failures()
            .iter()
            .map(|f| {
                (
                    pair(f.image_id().unwrap()),
                    f.failure_code().unwrap().as_str().to_owned(),
                )
            })
            .collect::<Vec<_>>()
    };
    // A child by digest, or by its only tag: refused; a tag of a child with another
    // one: removed.
    let out = delete(vec![by_digest(&amd), by_tag("arm-only"), by_tag("s1")]);
    assert_eq!(
        failures(&out),
        [
            (some(&amd, None), "ImageReferencedByManifestList".to_owned()),
            (
                (None, Some("arm-only".to_owned())),
                "ImageReferencedByManifestList".to_owned()
            ),
        ]
    );
    assert_eq!(
        out.image_ids().iter().map(pair).collect::<Vec<_>>(),
        [some(&shared, Some("s1"))]
    );
    // The index and a child in one request: the child is still referenced when the
    // request comes.
    let out = delete(vec![by_tag("multi"), by_digest(&amd)]);
    assert_eq!(
        out.image_ids().iter().map(pair).collect::<Vec<_>>(),
        [some(&index, Some("multi"))]
    );
    assert_eq!(
        failures(&out),
        [(some(&amd, None), "ImageReferencedByManifestList".to_owned())]
    );
    // Once the index is gone, the children go.
    let out = delete(vec![
        by_digest(&amd),
        by_tag("arm-only"),
        by_digest(&shared),
    ]);
    assert!(out.failures().is_empty());
    assert_eq!(
        out.image_ids().iter().map(pair).collect::<Vec<_>>(),
        [
            some(&amd, None),
            some(&arm, Some("arm-only")),
            some(&shared, Some("s2")),
        ]
    );
    assert!(server.images("app").is_empty());
}

#[test]
fn put_image_checks_digest_tags_and_children() {
    let server = EcrPublic::start();
    server.create_repository("app");
    let (rt, client) = client(&server);
    let put = |manifest: &str, tag: Option<&str>, digest: Option<String>| {
        rt.block_on(
            client
                .put_image()
                .repository_name("app")
                .image_manifest(manifest)
                .image_manifest_media_type(if manifest.contains("\"manifests\"") {
                    OCI_INDEX
                } else {
                    OCI_MANIFEST
                })
                .set_image_tag(tag.map(str::to_owned))
                .set_image_digest(digest)
                .send(),
        )
    };
    let one = image_manifest("app", "one");
    let two = image_manifest("app", "two");
    let out = put(&one, Some("v1"), Some(sha256(&one))).unwrap();
    let image = out.image().unwrap();
    assert_eq!(image.registry_id(), Some(ACCOUNT));
    assert_eq!(image.repository_name(), Some("app"));
    assert_eq!(image.image_manifest(), Some(one.as_str()));
    assert_eq!(image.image_manifest_media_type(), Some(OCI_MANIFEST));
    assert_eq!(
        pair(image.image_id().unwrap()),
        some(&sha256(&one), Some("v1"))
    );
    assert_eq!(server.manifest("app", &sha256(&one)), Some(one.clone()));

    let e = put(&two, Some("v2"), Some(sha256(&one))).unwrap_err();
    assert!(
        e.as_service_error()
            .unwrap()
            .is_image_digest_does_not_match_exception()
    );
    let e = put(&one, Some("v1"), None).unwrap_err();
    assert!(
        e.as_service_error()
            .unwrap()
            .is_image_already_exists_exception()
    );
    let e = put(&one, None, None).unwrap_err();
    assert_eq!(code(&e), "ImageAlreadyExistsException");
    // Another tag on the same image.
    put(&one, Some("latest"), None).unwrap();
    // A tag moves; the image it leaves stays.
    put(&two, Some("latest"), None).unwrap();
    assert_eq!(
        server.images("app"),
        BTreeMap::from([
            (sha256(&one), vec!["v1".to_owned()]),
            (sha256(&two), vec!["latest".to_owned()]),
        ])
    );

    let missing = sha256("missing child");
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            {"mediaType": OCI_MANIFEST, "digest": sha256(&one), "size": one.len()},
            {"mediaType": OCI_MANIFEST, "digest": missing, "size": 10}
        ]
    })
    .to_string();
    let e = put(&index, Some("multi"), None).unwrap_err();
    assert!(
        e.as_service_error()
            .unwrap()
            .is_referenced_images_not_found_exception()
    );
    assert_eq!(server.images("app").len(), 2);

    let e = rt
        .block_on(
            client
                .put_image()
                .repository_name("app")
                .image_manifest(&one)
                .image_manifest_media_type(OCI_INDEX)
                .image_tag("x")
                .send(),
        )
        .unwrap_err();
    assert_eq!(code(&e), "InvalidParameterException");
    let e = rt
        .block_on(
            client
                .put_image()
                .repository_name("nope")
                .image_manifest(&one)
                .send(),
        )
        .unwrap_err();
    assert!(
        e.as_service_error()
            .unwrap()
            .is_repository_not_found_exception()
    );
    let e = rt
        .block_on(
            client
                .put_image()
                .registry_id("999999999999")
                .repository_name("app")
                .image_manifest(&two)
                .image_tag("x")
                .send(),
        )
        .unwrap_err();
    assert!(
        e.as_service_error()
            .unwrap()
            .is_registry_not_found_exception()
    );
    // The alias names the registry too.
    rt.block_on(
        client
            .put_image()
            .registry_id(ALIAS)
            .repository_name("app")
            .image_manifest(&two)
            .image_tag("by-alias")
            .send(),
    )
    .unwrap();
    assert_eq!(server.tags("app")["by-alias"], sha256(&two));
}

#[test]
fn helpers_push_and_read_back() {
    let server = EcrPublic::start();
    let image = server.push_image("app", "one", &["v1"]);
    assert_eq!(image, sha256(&image_manifest("app", "one")));
    let signature = server.push_signature("app", &image);
    let sig_tag = format!("sha256-{}.sig", image.trim_start_matches("sha256:"));
    assert_eq!(
        server.tags("app"),
        BTreeMap::from([
            (sig_tag.clone(), signature.clone()),
            ("v1".to_owned(), image.clone()),
        ])
    );
    let manifest: serde_json::Value =
        serde_json::from_str(&server.manifest("app", &signature).unwrap()).unwrap();
    assert_eq!(
        manifest["layers"][0]["mediaType"],
        "application/vnd.dev.cosign.simplesigning.v1+json"
    );
    let put = server.put(
        "other",
        r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#,
        None,
    );
    assert_eq!(server.images("other"), BTreeMap::from([(put, vec![])]));
    assert_eq!(server.repositories(), ["app", "other"]);
    assert_eq!(server.manifest("app", &sha256("nothing")), None);
    server.reset();
    assert!(server.repositories().is_empty());
    assert!(server.calls().is_empty());
}

#[test]
fn manifests_need_a_pull_token() {
    let server = EcrPublic::start();
    let digest = server.push_image("team/app", "one", &["v1"]);
    server.push_image("other", "two", &["v1"]);
    let url = server.url();
    let path = format!("/v2/{ALIAS}/team/app/manifests/{digest}");

    let denied = get(&url, &path, &[]);
    assert_eq!(denied.status, 401);
    assert_eq!(
        denied.headers["www-authenticate"],
        format!(
            "Bearer realm=\"{url}/token\",service=\"public.ecr.aws\",scope=\"repository:{ALIAS}/team/app:pull\""
        )
    );
    assert_eq!(denied.json()["errors"][0]["code"], "UNAUTHORIZED");
    let base = get(&url, "/v2/", &[]);
    assert_eq!(base.status, 401);
    assert_eq!(
        base.headers["www-authenticate"],
        format!("Bearer realm=\"{url}/token\",service=\"public.ecr.aws\"")
    );

    // The scope of the challenge, percent-encoded as clients send it.
    let token = get(
        &url,
        &format!("/token?scope=repository%3A{ALIAS}%2Fteam%2Fapp%3Apull&service=public.ecr.aws"),
        &[],
    );
    assert_eq!(token.status, 200);
    let token = token.json()["token"].as_str().unwrap().to_owned();
    let bearer = format!("Bearer {token}");
    let auth = [("Authorization", bearer.as_str())];
    assert_eq!(get(&url, "/v2/", &auth).status, 200);

    let ok = get(&url, &path, &auth);
    assert_eq!(ok.status, 200);
    assert_eq!(
        String::from_utf8(ok.body).unwrap(),
        server.manifest("team/app", &digest).unwrap()
    );
    assert_eq!(ok.headers["content-type"], OCI_MANIFEST);
    assert_eq!(ok.headers["docker-content-digest"], digest);
    // By tag, and HEAD.
    let by_tag = get(&url, &format!("/v2/{ALIAS}/team/app/manifests/v1"), &auth);
    assert_eq!(by_tag.status, 200);
    assert_eq!(by_tag.headers["docker-content-digest"], digest);
    let head = http(&url, "HEAD", &path, &auth, "");
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    assert_eq!(
        head.headers["content-length"],
        server
            .manifest("team/app", &digest)
            .unwrap()
            .len()
            .to_string()
    );
    assert_eq!(head.headers["docker-content-digest"], digest);

    // Accept is honoured: no conversion to a type the client did not ask for.
    let docker_only = [
        ("Authorization", bearer.as_str()),
        (
            "Accept",
            "application/vnd.docker.distribution.manifest.v2+json",
        ),
    ];
    let refused = get(&url, &path, &docker_only);
    assert_eq!(refused.status, 404);
    assert_eq!(refused.json()["errors"][0]["code"], "MANIFEST_UNKNOWN");
    let listed = [
        ("Authorization", bearer.as_str()),
        (
            "Accept",
            "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json;q=0.9",
        ),
    ];
    assert_eq!(get(&url, &path, &listed).status, 200);

    // The token is for its scope only.
    let other = get(&url, &format!("/v2/{ALIAS}/other/manifests/v1"), &auth);
    assert_eq!(other.status, 401);
    let forged = get(&url, &path, &[("Authorization", "Bearer forged")]);
    assert_eq!(forged.status, 401);

    let unknown = get(
        &url,
        &format!("/v2/{ALIAS}/team/app/manifests/{}", sha256("nothing")),
        &auth,
    );
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.json()["errors"][0]["code"], "MANIFEST_UNKNOWN");
    assert_eq!(
        get(&url, &format!("/v2/{ALIAS}/team/app/manifests/v9"), &auth).status,
        404
    );
    let token = pull_token(&server, "missing");
    let missing = get(
        &url,
        &format!("/v2/{ALIAS}/missing/manifests/v1"),
        &[("Authorization", &format!("Bearer {token}"))],
    );
    assert_eq!(missing.status, 404);
    assert_eq!(missing.json()["errors"][0]["code"], "NAME_UNKNOWN");
    // Another alias: a token for it is given, the repository is unknown.
    let elsewhere = get(
        &url,
        "/token?scope=repository:someone-else/team/app:pull&service=public.ecr.aws",
        &[],
    )
    .json()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let elsewhere = get(
        &url,
        "/v2/someone-else/team/app/manifests/v1",
        &[("Authorization", &format!("Bearer {elsewhere}"))],
    );
    assert_eq!(elsewhere.json()["errors"][0]["code"], "NAME_UNKNOWN");

    let calls = server.calls();
    assert_eq!(calls["GetToken"], 3);
    assert_eq!(calls["GetManifest"], 12);
    assert_eq!(calls["ApiVersionCheck"], 2);
}

#[test]
fn authorization_token_logs_in_to_the_token_service() {
    let server = EcrPublic::start();
    server.push_image("app", "one", &["v1"]);
    let (rt, client) = client(&server);
    let out = rt
        .block_on(client.get_authorization_token().send())
        .unwrap();
    let data = out.authorization_data().unwrap();
    let expires = data.expires_at().unwrap().secs();
    let now = chrono::Utc::now().timestamp();
    assert!((now + 11 * 3600..=now + 12 * 3600).contains(&expires));
    let login = data.authorization_token().unwrap();
    let decoded = String::from_utf8(base64_decode(login)).unwrap();
    let password = decoded.strip_prefix("AWS:").unwrap();
    assert_eq!(password.len(), 64);

    // docker login sends user AWS and the password as basic credentials: the
    // authorization token itself.
    let scope = format!("/token?scope=repository:{ALIAS}/app:pull&service=public.ecr.aws");
    let token = get(
        &server.url(),
        &scope,
        &[("Authorization", &format!("Basic {login}"))],
    );
    assert_eq!(token.status, 200);
    let token = token.json()["token"].as_str().unwrap().to_owned();
    let manifest = get(
        &server.url(),
        &format!("/v2/{ALIAS}/app/manifests/v1"),
        &[("Authorization", &format!("Bearer {token}"))],
    );
    assert_eq!(manifest.status, 200);

    // AWS:wrong
    let refused = get(
        &server.url(),
        &scope,
        &[("Authorization", "Basic QVdTOndyb25n")],
    );
    assert_eq!(refused.status, 401);
}

/// Standard base64, padded.
fn base64_decode(s: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bits = 0u32;
    let mut count = 0;
    let mut out = Vec::new();
    for c in s.bytes().take_while(|&c| c != b'=') {
        let v = ALPHABET.iter().position(|&a| a == c).expect("base64") as u32;
        bits = bits << 6 | v;
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
        }
    }
    out
}

#[test]
fn faults_answer_the_named_operation() {
    let server = EcrPublic::start();
    server.push_image("app", "one", &["v1"]);
    let (rt, once) = client_once(&server);
    let describe = || rt.block_on(once.describe_images().repository_name("app").send());

    server.fail_next("DescribeImages", "ThrottlingException", 1);
    server.fail_next("BatchDeleteImage", "ServerException", 1);
    let e = describe().unwrap_err();
    assert_eq!(code(&e), "ThrottlingException");
    assert_eq!(e.raw_response().unwrap().status().as_u16(), 400);
    describe().unwrap();
    let e = rt
        .block_on(
            once.batch_delete_image()
                .repository_name("app")
                .image_ids(by_tag("v1"))
                .send(),
        )
        .unwrap_err();
    assert_eq!(code(&e), "ServerException");
    assert_eq!(e.raw_response().unwrap().status().as_u16(), 500);
    assert_eq!(
        server.tags("app").len(),
        1,
        "a failed request changes nothing"
    );

    // The SDK's retries get through two throttles, not three.
    let (rt, retrying) = client(&server);
    server.clear_calls();
    server.fail_next("DescribeImages", "ThrottlingException", 2);
    rt.block_on(retrying.describe_images().repository_name("app").send())
        .unwrap();
    assert_eq!(server.calls()["DescribeImages"], 3);
    server.fail_next("DescribeImages", "ThrottlingException", 3);
    let e = rt
        .block_on(retrying.describe_images().repository_name("app").send())
        .unwrap_err();
    assert_eq!(code(&e), "ThrottlingException");
    assert_eq!(server.calls()["DescribeImages"], 6);

    // The distribution API's own errors.
    let token = pull_token(&server, "app");
    let auth = [("Authorization", format!("Bearer {token}"))];
    let auth: Vec<(&str, &str)> = auth.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let path = format!("/v2/{ALIAS}/app/manifests/v1");
    server.fail_next("GetManifest", "ThrottlingException", 1);
    server.fail_next("GetManifest", "ServerException", 1);
    server.fail_next("GetToken", "ServerException", 1);
    let throttled = get(&server.url(), &path, &auth);
    assert_eq!(throttled.status, 429);
    assert_eq!(throttled.json()["errors"][0]["code"], "TOOMANYREQUESTS");
    assert_eq!(get(&server.url(), &path, &auth).status, 500);
    assert_eq!(get(&server.url(), &path, &auth).status, 200);
    assert_eq!(get(&server.url(), "/token", &[]).status, 500);
}

#[test]
fn unknown_operations_and_unsigned_requests() {
    let server = EcrPublic::start();
    let url = server.url();
    let unknown = api(&url, "SpencerFrontendService.ListImages", "{}");
    assert_eq!(unknown.status, 400);
    assert_eq!(
        unknown.headers["x-amzn-errortype"],
        "UnknownOperationException"
    );
    assert_eq!(unknown.json()["__type"], "UnknownOperationException");
    // Private ECR's target is not this service's.
    let private = api(
        &url,
        "AmazonEC2ContainerRegistry_V20150921.DescribeImages",
        r#"{"repositoryName":"app"}"#,
    );
    assert_eq!(private.json()["__type"], "UnknownOperationException");
    let unsigned = http(
        &url,
        "POST",
        "/",
        &[("X-Amz-Target", "SpencerFrontendService.DescribeRegistries")],
        "{}",
    );
    assert_eq!(unsigned.status, 400);
    assert_eq!(
        unsigned.json()["__type"],
        "MissingAuthenticationTokenException"
    );
    let garbage = api(&url, "SpencerFrontendService.DescribeRegistries", "[1]");
    assert_eq!(garbage.json()["__type"], "SerializationException");
    assert_eq!(
        server.calls(),
        BTreeMap::from([
            (
                "AmazonEC2ContainerRegistry_V20150921.DescribeImages".to_owned(),
                1
            ),
            ("DescribeRegistries".to_owned(), 2),
            ("ListImages".to_owned(), 1),
        ])
    );
}

#[test]
fn many_requests_at_once() {
    let server = EcrPublic::start();
    let (rt, client) = client(&server);
    let digests: Vec<String> = (0..64)
        .map(|i| server.push_image("app", &format!("s{i}"), &[&format!("t{i}")]))
        .collect();
    server.clear_calls();
    // 32 at a time, as the binary sends them.
    let results: Vec<_> = rt.block_on(
        futures_util::stream::iter(digests.iter().map(|d| {
            client
                .batch_delete_image()
                .repository_name("app")
                .image_ids(by_digest(d))
                .send()
        }))
        .buffered(32)
        .collect(),
    );
    for (i, (r, d)) in results.into_iter().zip(&digests).enumerate() {
        let deleted: Vec<_> = r.unwrap().image_ids().iter().map(pair).collect();
        assert_eq!(deleted, [some(d, Some(&format!("t{i}")))]);
    }
    assert!(server.images("app").is_empty());
    assert_eq!(server.calls()["BatchDeleteImage"], 64);
}

#[test]
fn the_fault_proxy_names_public_operations() {
    let server = EcrPublic::start();
    server.push_image("app", "one", &["v1"]);
    let proxy = Proxy::start(&server.url(), Faults::default());
    let conf = server.sdk_config().endpoint_url(&proxy.url);
    let (rt, client) = client_with(conf);
    rt.block_on(client.describe_images().repository_name("app").send())
        .unwrap();
    let calls = proxy.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].operation, "DescribeImages");
    assert_eq!(calls[0].repository.as_deref(), Some("app"));
    // The distribution API through the proxy: the challenge names the proxy.
    let denied = get(&proxy.url, &format!("/v2/{ALIAS}/app/manifests/v1"), &[]);
    assert_eq!(denied.status, 401);
    assert!(
        denied.headers["www-authenticate"]
            .starts_with(&format!("Bearer realm=\"{}/token\"", proxy.url)),
        "{}",
        denied.headers["www-authenticate"]
    );
}
