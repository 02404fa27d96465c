//! The ECR Public backend: its API over aws-sdk-ecrpublic (DescribeRegistries,
//! DescribeRepositories, DescribeImages, BatchDeleteImage, PutImage), always in
//! us-east-1, and manifest reads over its registry's OCI distribution API ([`oci`]):
//! ECR Public has no BatchGetImage. No SDK type leaves this module.
//!
//! The private backend (`AwsRegistry`) routes every call on a public repository
//! here; the counters of calls and attempts are shared with it, the public calls
//! counted apart.

use aws_sdk_ecrpublic::Client;
use futures_util::stream::{self, StreamExt};

use super::oci::{OciClient, OciEvents};
use super::sdk::{
    Meter, batch_delete_image, describe_images_page, detail_of, identifiers, image_page,
    media_type, put_image, surprising,
};
use super::{
    BatchDeleteResult, BatchGetResult, CallCounters, FailureCode, FetchedManifest, ImageDetail,
    ImageId, ImagePage, ItemFailure, Operation, PublicRegistryInfo, PutManifest, RegistryError,
    RepositoryPage, check_batch,
};
use crate::aws::{AttemptCounter, CountAttempts, all_pages};
use crate::model::{AccountId, PublicAlias, RegistryLocation, RepositoryName, RepositoryRef, Tag};

/// The only region whose ECR Public API endpoint the tool calls (the SDK's rules
/// also know us-west-2, which serves the same registries).
pub const PUBLIC_API_REGION: &str = "us-east-1";

/// Manifest GETs in flight at once for one batch.
const MANIFEST_GETS_IN_FLIGHT: usize = 8;

/// ECR Public, through its API and its registry.
pub struct EcrPublicRegistry {
    client: Client,
    oci: OciClient,
    /// GetAuthorizationToken's credentials for authenticated pulls, asked for once;
    /// none when the call was refused (then pulls are anonymous).
    basic: tokio::sync::OnceCell<Option<String>>,
    meter: Meter,
}

impl std::fmt::Debug for EcrPublicRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EcrPublicRegistry")
            .field("oci", &self.oci)
            .finish_non_exhaustive()
    }
}

/// The counters the OCI client reports to.
struct Events<'a> {
    calls: &'a CallCounters,
    attempts: &'a AttemptCounter,
}

impl OciEvents for Events<'_> {
    fn manifest_get(&self) {
        self.calls.count(Operation::PublicManifestGet);
    }

    fn token_get(&self) {
        self.calls.count(Operation::PublicTokenGet);
    }

    fn attempt(&self) {
        self.attempts.attempt();
    }

    fn throttled(&self) {
        self.attempts.throttled(false);
    }

    fn server_error(&self) {
        self.attempts.server_error();
    }
}

/// The account and alias of a public repository; any other is a bug of the router.
fn public_parts(repo: &RepositoryRef) -> Result<(&AccountId, &PublicAlias), RegistryError> {
    match &repo.registry {
        RegistryLocation::Public { account, alias } => Ok((account, alias)),
        RegistryLocation::Private { .. } => Err(RegistryError::Surprising(format!(
            "{repo} is a private ECR repository, not an ECR Public one"
        ))),
    }
}

/// One image as ECR Public's DescribeImages reports it: no status, no pull time, no
/// subject (it reports none of them).
fn detail(d: &aws_sdk_ecrpublic::types::ImageDetail) -> Result<ImageDetail, RegistryError> {
    let mut out = detail_of(d.image_digest(), d.image_tags(), d.image_pushed_at())?;
    out.manifest_media_type = media_type(d.image_manifest_media_type());
    out.artifact_media_type = media_type(d.artifact_media_type());
    out.size_bytes = d.image_size_in_bytes().and_then(|s| u64::try_from(s).ok());
    Ok(out)
}

impl EcrPublicRegistry {
    /// A client of ECR Public's API (in us-east-1, at `endpoint_url` when given; the
    /// SDK also honours `AWS_ENDPOINT_URL_ECR_PUBLIC`) and of its registry at
    /// `registry_url`.
    pub(super) fn new(
        base: &aws_config::SdkConfig,
        endpoint_url: Option<&str>,
        oci: OciClient,
        meter: Meter,
    ) -> Self {
        let mut conf = aws_sdk_ecrpublic::config::Builder::from(base)
            .region(aws_config::Region::new(PUBLIC_API_REGION))
            .interceptor(CountAttempts(meter.attempts.clone()))
            .retry_classifier(crate::aws::NoRetryForUnknownHost);
        if let Some(url) = endpoint_url {
            conf = conf.endpoint_url(url);
        }
        Self {
            client: Client::from_conf(conf.build()),
            oci,
            basic: tokio::sync::OnceCell::new(),
            meter,
        }
    }

    /// A client over an SDK client made elsewhere (the request-shape tests).
    #[cfg(test)]
    pub(super) fn from_client(client: Client, oci: OciClient) -> Self {
        Self {
            client,
            oci,
            basic: tokio::sync::OnceCell::new(),
            meter: Meter::new(4),
        }
    }

    /// DescribeRegistries, every page.
    pub async fn describe_registries(&self) -> Result<Vec<PublicRegistryInfo>, RegistryError> {
        all_pages(|next| async move {
            let request = self
                .client
                .describe_registries()
                .max_results(1000)
                .set_next_token(next)
                .send();
            let page = self
                .meter
                .call(Operation::PublicOther, None, request)
                .await?;
            let registries = page
                .registries()
                .iter()
                .map(|r| {
                    Ok(PublicRegistryInfo {
                        account: AccountId::parse(r.registry_id())
                            .map_err(|e| surprising("registryId", e))?,
                        aliases: r
                            .aliases()
                            .iter()
                            .map(|a| {
                                PublicAlias::parse(a.name())
                                    .map_err(|e| surprising("alias name", e))
                            })
                            .collect::<Result<_, _>>()?,
                    })
                })
                .collect::<Result<Vec<_>, RegistryError>>()?;
            Ok((registries, page.next_token().map(str::to_owned)))
        })
        .await
    }

    /// One page of DescribeRepositories.
    pub async fn describe_repositories(
        &self,
        registry: &RegistryLocation,
        next_token: Option<&str>,
    ) -> Result<RepositoryPage, RegistryError> {
        let request = self
            .client
            .describe_repositories()
            .registry_id(registry.account().as_str())
            .max_results(1000)
            .set_next_token(next_token.map(str::to_owned))
            .send();
        let out = self
            .meter
            .call(Operation::PublicOther, None, request)
            .await?;
        let names = out
            .repositories()
            .iter()
            .map(|r| {
                RepositoryName::parse(r.repository_name().unwrap_or_default())
                    .map_err(|e| surprising("repository name in response", e))
            })
            .collect::<Result<_, _>>()?;
        Ok(RepositoryPage {
            names,
            next_token: out.next_token().map(str::to_owned),
        })
    }

    /// One page of DescribeImages.
    pub async fn describe_images(
        &self,
        repo: &RepositoryRef,
        next_token: Option<&str>,
        max_results: u32,
    ) -> Result<ImagePage, RegistryError> {
        let (account, _) = public_parts(repo)?;
        let request =
            describe_images_page!(self.client, account, repo, next_token, max_results).send();
        let out = self
            .meter
            .call(Operation::PublicDescribeImages, Some(repo), request)
            .await?;
        Ok(image_page!(out, detail))
    }

    /// DescribeImages for up to 100 given images.
    pub async fn describe_images_by_id(
        &self,
        repo: &RepositoryRef,
        ids: &[ImageId],
    ) -> Result<Vec<ImageDetail>, RegistryError> {
        let (account, _) = public_parts(repo)?;
        check_batch(ids)?;
        let request = self
            .client
            .describe_images()
            .registry_id(account.as_str())
            .repository_name(repo.name.as_str())
            .set_image_ids(identifiers(ids))
            .send();
        let out = self
            .meter
            .call(Operation::PublicDescribeImages, Some(repo), request)
            .await?;
        out.image_details().iter().map(detail).collect()
    }

    /// What BatchGetImage answers, made of manifest GETs (a few at a time): a missing
    /// manifest is an `ImageNotFound` failure, like BatchGetImage's.
    pub async fn batch_get_image(
        &self,
        repo: &RepositoryRef,
        ids: &[ImageId],
    ) -> Result<BatchGetResult, RegistryError> {
        let (_, alias) = public_parts(repo)?;
        check_batch(ids)?;
        let events = Events {
            calls: &self.meter.calls,
            attempts: &self.meter.attempts,
        };
        let events = &events;
        // The futures are made first: a stream holding the closure that makes them
        // would not be `Send` for every lifetime, as the trait's futures must be.
        let gets: Vec<_> = ids
            .iter()
            .map(|id| self.manifest_of(alias, &repo.name, id, events))
            .collect();
        let answers: Vec<_> = stream::iter(gets)
            .buffered(MANIFEST_GETS_IN_FLIGHT)
            .collect()
            .await;
        let mut result = BatchGetResult::default();
        for (id, got) in answers {
            match got? {
                Some(m) => result.manifests.push(FetchedManifest {
                    id: id.clone(),
                    digest: m.digest,
                    media_type: m.media_type,
                    manifest: m.text,
                }),
                None => result.failures.push(ItemFailure {
                    id: id.clone(),
                    code: FailureCode::ImageNotFound,
                    reason: "the public registry has no such manifest".into(),
                }),
            }
        }
        Ok(result)
    }

    /// The credentials of authenticated pulls (ECR Public allows authenticated
    /// clients more pulls per second than anonymous ones), asked for once per run
    /// with GetAuthorizationToken (which needs `ecr-public:GetAuthorizationToken` and
    /// `sts:GetServiceBearerToken`). Refused or failed, the pulls are anonymous: every
    /// public repository can be read so, only more slowly.
    async fn basic_credentials(&self) -> Option<&str> {
        self.basic
            .get_or_init(|| async {
                let request = self.client.get_authorization_token().send();
                match self.meter.call(Operation::PublicOther, None, request).await {
                    Ok(out) => out
                        .authorization_data()
                        .and_then(|d| d.authorization_token())
                        .map(str::to_owned),
                    Err(e) => {
                        tracing::info!(
                            "ECR Public GetAuthorizationToken failed ({e}): manifests are read with anonymous pulls"
                        );
                        None
                    }
                }
            })
            .await
            .as_deref()
    }

    /// One manifest GET, within the width of requests in flight.
    async fn manifest_of<'a>(
        &self,
        alias: &PublicAlias,
        name: &RepositoryName,
        id: &'a ImageId,
        events: &Events<'_>,
    ) -> (
        &'a ImageId,
        Result<Option<super::oci::Manifest>, RegistryError>,
    ) {
        let basic = self.basic_credentials().await;
        let _slot = self.meter.attempts.width.acquire().await;
        let reference = match id {
            ImageId::Tag(t) => t.as_str(),
            ImageId::Digest(d) => d.as_str(),
        };
        (
            id,
            self.oci
                .manifest(alias, name, reference, basic, events)
                .await,
        )
    }

    /// BatchDeleteImage: up to 100 tags or images.
    pub async fn batch_delete_image(
        &self,
        repo: &RepositoryRef,
        ids: &[ImageId],
    ) -> Result<BatchDeleteResult, RegistryError> {
        let (account, _) = public_parts(repo)?;
        batch_delete_image!(
            self.meter,
            Operation::PublicBatchDeleteImage,
            self.client,
            account,
            repo,
            ids
        )
    }

    /// PutImage: stores `manifest` under `tag`, or untagged.
    pub async fn put_image(
        &self,
        repo: &RepositoryRef,
        manifest: &PutManifest<'_>,
        tag: Option<&Tag>,
    ) -> Result<(), RegistryError> {
        let (account, _) = public_parts(repo)?;
        put_image!(
            self.meter,
            Operation::PublicPutImage,
            self.client,
            account,
            repo,
            manifest,
            tag
        )
    }
}

#[cfg(test)]
mod mocks;

#[cfg(test)]
mod tests {
    //! Request shapes: each call's target and JSON body as ECR Public's API reference
    //! gives them, and each answer read back, through an HTTP client that records the
    //! requests and answers them from a script.

    use std::collections::VecDeque;
    use std::sync::{Arc, Mutex};

    use aws_sdk_ecrpublic::config::{BehaviorVersion, Credentials, Region};
    use aws_smithy_runtime_api::client::http::{
        HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpConnector,
    };
    use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
    use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
    use aws_smithy_types::body::SdkBody;
    use serde_json::{Value, json};

    use super::*;
    use crate::model::Digest;
    use crate::registry::ServiceCode;

    /// Records each request's `X-Amz-Target` and body; answers from `answers`.
    #[derive(Clone, Debug, Default)]
    struct Script {
        requests: Arc<Mutex<Vec<(String, Value)>>>,
        answers: Arc<Mutex<VecDeque<(u16, Value)>>>,
    }

    impl HttpConnector for Script {
        fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
            let target = request
                .headers()
                .get("x-amz-target")
                .unwrap_or_default()
                .to_owned();
            let body = request
                .body()
                .bytes()
                .and_then(|b| serde_json::from_slice(b).ok())
                .unwrap_or(Value::Null);
            self.requests.lock().unwrap().push((target, body));
            let (status, answer) = self
                .answers
                .lock()
                .unwrap()
                .pop_front()
                .expect("a scripted answer");
            let mut response = HttpResponse::new(
                status.try_into().unwrap(),
                SdkBody::from(answer.to_string()),
            );
            response
                .headers_mut()
                .insert("content-type", "application/x-amz-json-1.1");
            HttpConnectorFuture::ready(Ok(response))
        }
    }

    impl HttpClient for Script {
        fn http_connector(
            &self,
            _: &HttpConnectorSettings,
            _: &RuntimeComponents,
        ) -> SharedHttpConnector {
            SharedHttpConnector::new(self.clone())
        }
    }

    fn public(answers: &[(u16, Value)]) -> (EcrPublicRegistry, Script) {
        let script = Script::default();
        script
            .answers
            .lock()
            .unwrap()
            .extend(answers.iter().cloned());
        let conf = aws_sdk_ecrpublic::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(PUBLIC_API_REGION))
            .credentials_provider(Credentials::new("AKID", "secret", None, None, "test"))
            .http_client(script.clone())
            .build();
        let oci =
            OciClient::new("http://127.0.0.1:9", 1, std::time::Duration::from_secs(1)).unwrap();
        (
            EcrPublicRegistry::from_client(Client::from_conf(conf), oci),
            script,
        )
    }

    fn requests(script: &Script) -> Vec<(String, Value)> {
        script.requests.lock().unwrap().clone()
    }

    fn repo() -> RepositoryRef {
        RepositoryRef {
            registry: RegistryLocation::public(
                AccountId::parse("123456789012").unwrap(),
                PublicAlias::parse("my-org").unwrap(),
            ),
            name: RepositoryName::parse("team/app").unwrap(),
        }
    }

    fn digest(n: u8) -> String {
        format!("sha256:{}", format!("{n:02x}").repeat(32))
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn describe_images_names_the_registry_and_pages_by_1000_and_reads_no_status() {
        let (reg, script) = public(&[(
            200,
            json!({
                "imageDetails": [{
                    "registryId": "123456789012",
                    "repositoryName": "team/app",
                    "imageDigest": digest(1),
                    "imageTags": ["v1"],
                    "imagePushedAt": 1_700_000_000.5,
                    "imageManifestMediaType": "application/vnd.oci.image.index.v1+json",
                    "imageSizeInBytes": 1234,
                }],
                "nextToken": "t2",
            }),
        )]);
        let page = block_on(reg.describe_images(&repo(), Some("t1"), 5000)).unwrap();
        assert_eq!(
            requests(&script),
            vec![(
                "SpencerFrontendService.DescribeImages".to_owned(),
                json!({
                    "registryId": "123456789012",
                    "repositoryName": "team/app",
                    "maxResults": 1000,
                    "nextToken": "t1",
                }),
            )]
        );
        assert_eq!(page.next_token.as_deref(), Some("t2"));
        let image = &page.images[0];
        assert_eq!(image.digest.as_str(), digest(1));
        assert!(image.is_index());
        assert_eq!(image.size_bytes, Some(1234));
        assert_eq!(image.status, None);
        assert_eq!(image.last_recorded_pull_time, None);
        assert_eq!(reg.meter.calls.counts().ecr_public.describe_images, 1);
    }

    #[test]
    fn batch_delete_image_sends_the_ids_and_reads_removals_and_failures() {
        let (reg, script) = public(&[(
            200,
            json!({
                "imageIds": [{"imageDigest": digest(1), "imageTag": "old"}],
                "failures": [{
                    "imageId": {"imageDigest": digest(2)},
                    "failureCode": "ImageReferencedByManifestList",
                    "failureReason": "referenced",
                }],
            }),
        )]);
        let ids = [
            ImageId::Tag(Tag::parse("old").unwrap()),
            ImageId::Digest(Digest::parse(digest(2)).unwrap()),
        ];
        let out = block_on(reg.batch_delete_image(&repo(), &ids)).unwrap();
        assert_eq!(
            requests(&script),
            vec![(
                "SpencerFrontendService.BatchDeleteImage".to_owned(),
                json!({
                    "registryId": "123456789012",
                    "repositoryName": "team/app",
                    "imageIds": [{"imageTag": "old"}, {"imageDigest": digest(2)}],
                }),
            )]
        );
        assert_eq!(out.removed[0].tag.as_ref().unwrap().as_str(), "old");
        assert_eq!(out.removed[0].digest.as_str(), digest(1));
        assert_eq!(
            out.failures[0].code,
            FailureCode::ImageReferencedByManifestList
        );
        assert_eq!(out.failures[0].id, ids[1]);
    }

    #[test]
    fn batches_outside_1_to_100_ids_and_private_repositories_send_nothing() {
        let (reg, script) = public(&[]);
        let many: Vec<ImageId> = (0..101)
            .map(|n| ImageId::Tag(Tag::parse(format!("t{n}")).unwrap()))
            .collect();
        let e = block_on(reg.batch_delete_image(&repo(), &many)).unwrap_err();
        assert_eq!(e.code(), "InvalidParameterException");
        assert!(block_on(reg.batch_delete_image(&repo(), &[])).is_err());
        let private = RepositoryRef::private(
            AccountId::parse("123456789012").unwrap(),
            crate::model::Region::parse("us-east-1").unwrap(),
            RepositoryName::parse("team/app").unwrap(),
        );
        assert!(matches!(
            block_on(reg.describe_images(&private, None, 1000)),
            Err(RegistryError::Surprising(_))
        ));
        assert!(requests(&script).is_empty());
    }

    #[test]
    fn put_image_sends_the_manifest_its_digest_and_tag() {
        let manifest = r#"{"schemaVersion":2}"#;
        let d = Digest::parse(crate::hash::sha256(manifest.as_bytes())).unwrap();
        let (reg, script) = public(&[(
            200,
            json!({"image": {"imageId": {"imageDigest": d.as_str(), "imageTag": "v1"}}}),
        )]);
        let put = PutManifest {
            manifest,
            media_type: crate::model::media_type::OCI_MANIFEST,
            digest: &d,
            size_bytes: None,
        };
        block_on(reg.put_image(&repo(), &put, Some(&Tag::parse("v1").unwrap()))).unwrap();
        assert_eq!(
            requests(&script),
            vec![(
                "SpencerFrontendService.PutImage".to_owned(),
                json!({
                    "registryId": "123456789012",
                    "repositoryName": "team/app",
                    "imageManifest": manifest,
                    "imageManifestMediaType": crate::model::media_type::OCI_MANIFEST,
                    "imageDigest": d.as_str(),
                    "imageTag": "v1",
                }),
            )]
        );
        assert_eq!(reg.meter.calls.counts().ecr_public.put_image, 1);
    }

    #[test]
    fn describe_registries_lists_aliases_and_errors_are_typed() {
        let (reg, script) = public(&[
            (
                200,
                json!({"registries": [{
                    "registryId": "123456789012",
                    "registryArn": "arn:aws:ecr-public::123456789012:registry/123456789012",
                    "registryUri": "public.ecr.aws/my-org",
                    "verified": false,
                    "aliases": [{
                        "name": "my-org",
                        "status": "ACTIVE",
                        "primaryRegistryAlias": true,
                        "defaultRegistryAlias": false,
                    }],
                }]}),
            ),
            (
                400,
                json!({"__type": "RepositoryNotFoundException", "message": "no such repository"}),
            ),
            (
                400,
                json!({"__type": "RegistryNotFoundException", "message": "no registry"}),
            ),
        ]);
        let registries = block_on(reg.describe_registries()).unwrap();
        assert_eq!(registries[0].account.as_str(), "123456789012");
        assert_eq!(registries[0].aliases[0].as_str(), "my-org");
        assert!(matches!(
            block_on(reg.describe_images(&repo(), None, 1000)),
            Err(RegistryError::RepositoryNotFound(r)) if r == repo()
        ));
        let e = block_on(reg.describe_images(&repo(), None, 1000)).unwrap_err();
        assert_eq!(
            e.service_code(),
            Some(&ServiceCode::RegistryNotFoundException)
        );
        let targets: Vec<String> = requests(&script).into_iter().map(|(t, _)| t).collect();
        assert_eq!(targets[0], "SpencerFrontendService.DescribeRegistries");
        assert_eq!(reg.meter.calls.counts().ecr_public.other, 1);
    }
}
